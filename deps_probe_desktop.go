//go:build desktop

package main

import (
	_ "github.com/wailsapp/wails/v2"
	_ "github.com/wailsapp/wails/v2/pkg/options"
	_ "github.com/wailsapp/wails/v2/pkg/options/assetserver"
)
