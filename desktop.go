//go:build desktop

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"

	"github.com/archscope/archscope/app"
)

// desktopBuild is true when built with -tags desktop (Wails, webkit, cgo).
const desktopBuild = true

// runDesktop opens the desktop window over the same App the web mode runs.
// Websockets do not pass through the Wails asset server, so the App also
// listens on a loopback port and /api/config tells the page where /ws is.
func runDesktop() error {
	assets, err := frontendAssets()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	useLanguageWebKitAccepts()
	a, err := app.New(app.Options{
		Addr:          "127.0.0.1:0",
		Assets:        assets,
		Logger:        logger,
		AbsoluteWSURL: true,
		ExtraOrigins:  []string{"wails://wails", "wails://localhost"},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	fmt.Fprintf(os.Stderr, "archscope %s desktop: serving %s/\n", app.Version, a.URL())

	werr := wails.Run(&options.App{
		Title:            "archscope",
		Width:            1400,
		Height:           900,
		MinWidth:         800,
		MinHeight:        600,
		BackgroundColour: &options.RGBA{R: 15, G: 18, B: 24, A: 255},
		AssetServer:      &assetserver.Options{Assets: assets, Handler: a.Handler()},
		OnShutdown:       func(context.Context) { cancel() },
	})
	cancel()
	if werr != nil {
		werr = fmt.Errorf("desktop window: %w", werr)
	}
	return errors.Join(werr, <-done)
}

// useLanguageWebKitAccepts: WebKit derives navigator.language from the
// LC_CTYPE locale, and under C.UTF-8 (the usual locale of servers, containers
// and CI) it reports "C", which Intl rejects with a RangeError, so the page's
// charts never start. Plain "C" makes WebKit fall back to en-US. GTK keeps
// working (it is UTF-8 inside whatever the locale), and a real locale such as
// de_DE.UTF-8 is left alone.
func useLanguageWebKitAccepts() {
	locale := os.Getenv("LC_ALL")
	if locale == "" {
		locale = os.Getenv("LC_CTYPE")
	}
	if locale == "" {
		locale = os.Getenv("LANG")
	}
	if base, _, _ := strings.Cut(locale, "."); base == "" || base == "C" || base == "POSIX" {
		os.Unsetenv("LC_ALL")
		os.Setenv("LC_CTYPE", "C")
	}
}
