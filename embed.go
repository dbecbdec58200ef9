package main

import "embed"

// frontendDist is the Vite build of frontend/. The .keep file keeps the
// pattern matching in a fresh clone, before the first build.
//
//go:embed all:frontend/dist
var frontendDist embed.FS
