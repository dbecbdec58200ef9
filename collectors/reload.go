package collectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// errEOF is an empty YAML document.
var errEOF = io.EOF

// SourceConfig is the source of the targets a Reloader sets.
const SourceConfig = "config"

// DefaultPollInterval is how often a Reloader looks at the file_sd files.
const DefaultPollInterval = 5 * time.Second

// Reloader keeps a Manager's config targets in step with a prometheus.yml
// and its file_sd files: Reload re-reads the config (SIGHUP, POST
// /-/reload), Run re-reads file_sd files when they change. A config or file
// that fails to load leaves the previous good one in force; the error is
// logged and kept in Status.
type Reloader struct {
	file   string
	m      *Manager
	logger *slog.Logger
	poll   time.Duration

	mu      sync.Mutex // one reload or refresh at a time
	cfg     *Config    // the last good config
	sd      *fileSD
	dropped []DroppedTarget
	status  ReloadStatus
}

// ReloadStatus says how the last reload went, as Prometheus'
// /api/v1/status/runtimeinfo does.
type ReloadStatus struct {
	File        string
	Success     bool      // the last reload succeeded
	LastSuccess time.Time // when the config now in force was loaded
	LastError   string    // the last reload's error, empty after a success
	Warnings    []string  // ignored fields of the config in force
	FileSDError string    // the last file_sd refresh's errors, if any
}

// ReloaderOptions configure a Reloader.
type ReloaderOptions struct {
	File       string   // the prometheus.yml
	Manager    *Manager // receives the targets, as source SourceConfig
	Logger     *slog.Logger
	Registerer prometheus.Registerer // for archscope_config_last_reload_*; may be nil
	// PollInterval is how often the file_sd files are looked at; default
	// DefaultPollInterval.
	PollInterval time.Duration
}

// NewReloader loads the file and hands its targets to the Manager. A
// config that fails to load is an error: there is no previous one to keep.
func NewReloader(opts ReloaderOptions) (*Reloader, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	r := &Reloader{file: opts.File, m: opts.Manager, logger: opts.Logger, poll: opts.PollInterval, sd: newFileSD(), status: ReloadStatus{File: opts.File}}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "archscope_config_last_reload_successful", Help: "Whether the last reload of --config succeeded (1) or kept the previous config (0).",
			}, func() float64 {
				if r.Status().Success {
					return 1
				}
				return 0
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "archscope_config_last_reload_success_timestamp_seconds", Help: "When the config in force was loaded.",
			}, func() float64 { return float64(r.Status().LastSuccess.UnixMilli()) / 1000 }),
		)
	}
	return r, nil
}

// Reload re-reads the config and its file_sd files and applies them; on an
// error the previous config stays in force and the error is returned,
// logged and kept in Status.
func (r *Reloader) Reload() error {
	if r == nil {
		return errNoConfig
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.reload()
	if err != nil {
		r.status.Success, r.status.LastError = false, err.Error()
		r.logger.Error("config reload failed; the previous config stays in force", "file", r.file, "err", err)
		return err
	}
	r.status.Success, r.status.LastError, r.status.LastSuccess = true, "", time.Now()
	return nil
}

func (r *Reloader) reload() error {
	cfg, warnings, err := readConfig(r.file)
	if err != nil {
		return err
	}
	sd, _, sdErrs := r.sd.refresh(cfg.patterns())
	targets, dropped, err := cfg.discover(sd)
	if err != nil {
		return fmt.Errorf("config %s: %w", r.file, err)
	}
	if err := r.m.SetTargets(SourceConfig, targets); err != nil {
		return fmt.Errorf("config %s: %w", r.file, err)
	}
	for _, w := range warnings {
		r.logger.Warn("config: "+w, "file", r.file)
	}
	r.cfg, r.sd, r.dropped, r.status.Warnings = cfg, sd, dropped, warnings
	r.noteSD(sdErrs)
	r.logger.Info("config loaded", "file", r.file, "targets", len(targets))
	return nil
}

func (r *Reloader) noteSD(errs []error) {
	if len(errs) == 0 {
		r.status.FileSDError = ""
		return
	}
	err := errors.Join(errs...)
	if r.status.FileSDError != err.Error() {
		r.logger.Error("file_sd", "err", err)
	}
	r.status.FileSDError = err.Error()
}

// Run looks at the file_sd files every poll interval until ctx is done, and
// applies the targets when a file came, went or changed.
func (r *Reloader) Run(ctx context.Context) error {
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			r.refresh()
		}
	}
}

func (r *Reloader) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	sd, changed, errs := r.sd.refresh(r.cfg.patterns())
	r.noteSD(errs)
	if !changed {
		r.sd = sd // new modification times of files whose groups did not change
		return
	}
	targets, dropped, err := r.cfg.discover(sd)
	if err == nil {
		err = r.m.SetTargets(SourceConfig, targets)
	}
	if err != nil {
		r.status.FileSDError = err.Error()
		r.logger.Error("file_sd: targets refused; the previous ones stay", "err", err)
		return
	}
	r.sd, r.dropped = sd, dropped
	r.logger.Info("file_sd: targets changed", "targets", len(targets))
}

// Status is how the last reload and file_sd refresh went.
func (r *Reloader) Status() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Warnings = append([]string(nil), s.Warnings...)
	return s
}

// Dropped is the targets the config in force discovered and its
// relabel_configs dropped.
func (r *Reloader) Dropped() []DroppedTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]DroppedTarget(nil), r.dropped...)
}
