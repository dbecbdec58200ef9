// Command archscope is an observability dashboard with a simulated shop.
//
//	archscope serve [--addr 127.0.0.1:7777] [--data DIR] [--no-demo] [--token T]
//	                [--retention 15d] [--retention-size 2GB]
//	archscope version
//
// Built with -tags desktop, running it without arguments opens the desktop window.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/common/model"

	"github.com/archscope/archscope/app"
	"github.com/archscope/archscope/storage"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "archscope:", err)
		os.Exit(1)
	}
}

const usage = `archscope — see how architecture changes latency and throughput

Usage:
  archscope serve [flags]   run the headless web mode (flags: archscope serve -h)
  archscope version         print the version
`

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		if desktopBuild {
			return runDesktop()
		}
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "version", "--version":
		fmt.Fprintln(stderr, "archscope", app.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:7777", "listen address; beyond loopback, changes need --token")
	data := flags.String("data", "", "data directory for the history (default: per-user data directory)")
	noDemo := flags.Bool("no-demo", false, "do not run the demo shop")
	token := flags.String("token", "", "bearer token required for changes (generated when listening beyond loopback)")
	config := flags.String("config", "", "a prometheus.yml whose scrape_configs (static_configs, file_sd_configs) to scrape besides the demo; reloaded on SIGHUP and POST /-/reload")
	retention := model.Duration(app.DefaultRetention)
	flags.Var(&retention, "retention", "delete history older than this, e.g. 15d, 12h (0 keeps everything)")
	var retentionSize sizeFlag
	flags.Var(&retentionSize, "retention-size", "delete the oldest history while it holds more than this, e.g. 2GB (0: no bound)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", flags.Arg(0))
	}
	assets, err := frontendAssets()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	a, err := app.New(app.Options{
		Addr: *addr, DataDir: *data, NoDemo: *noDemo, Token: *token, Assets: assets, Logger: logger,
		ConfigFile: *config,
		Retention:  time.Duration(retention), RetentionSize: int64(retentionSize),
	})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after stop, below, has ended the SIGHUP watcher
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads --config, as it does Prometheus'; a bad file is logged
	// and the previous config keeps running.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if *config == "" {
					logger.Warn("SIGHUP: no --config file to reload")
					continue
				}
				_ = a.ReloadConfig() // logged by the reloader
			}
		}
	})
	fmt.Fprintf(stderr, "archscope %s: open %s/\n", app.Version, a.URL())
	if tok := a.Token(); tok != "" {
		// Viewers need no token; whoever changes the shop opens this link.
		fmt.Fprintf(stderr, "to change the shop from a browser, open %s/?token=%s\n", a.URL(), tok)
	}
	return a.Run(ctx)
}

// frontendAssets is the built frontend. A binary built before the frontend
// still serves the API, but says plainly why there is no page.
func frontendAssets() (fs.FS, error) {
	sub, err := fs.Sub(frontendDist, "frontend/dist")
	if err != nil {
		return nil, err
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil, errors.New("this binary was built without the frontend: run `make build` (it builds frontend/dist first)")
	}
	return sub, nil
}

// sizeFlag is a byte count given as storage.ParseSize reads it.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := storage.ParseSize(v)
	*s = sizeFlag(n)
	return err
}
