//go:build !desktop

package main

import "errors"

// desktopBuild is false in the headless build: no webkit, no cgo.
const desktopBuild = false

func runDesktop() error {
	return errors.New("this archscope was built without the desktop window: build it with `make desktop`, or run `archscope serve`")
}
