package collectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// fileSD holds the target groups read from file_sd_configs files, by path,
// with the modification time and size they were read at. A refresh re-reads
// only the files that changed; a file that no longer parses keeps its last
// good groups, as in Prometheus.
type fileSD struct {
	files map[string]*sdFile
}

type sdFile struct {
	mod    time.Time
	size   int64
	groups []StaticConfig
	err    error // the last read's, when it kept the older groups
}

// maxSDFileBytes bounds one file_sd file: a list of targets, not data.
const maxSDFileBytes = 16 << 20

func newFileSD() *fileSD { return &fileSD{files: map[string]*sdFile{}} }

// refresh returns a new fileSD for the files the patterns match now,
// reusing unchanged files' groups; changed says whether any group differs
// (a file came, went, or was rewritten). errs are the files that failed to
// read or parse this time.
func (f *fileSD) refresh(patterns []string) (next *fileSD, changed bool, errs []error) {
	next = newFileSD()
	for _, p := range patterns {
		paths, err := filepath.Glob(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("file_sd %s: %w", p, err))
			continue
		}
		for _, path := range paths {
			if _, done := next.files[path]; done {
				continue
			}
			st, err := os.Stat(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("file_sd %s: %w", path, err))
				continue
			}
			old := f.files[path]
			if old != nil && old.mod.Equal(st.ModTime()) && old.size == st.Size() {
				next.files[path] = old
				if old.err != nil {
					errs = append(errs, old.err) // still broken: still said
				}
				continue
			}
			groups, err := readSDFile(path, st.Size())
			switch {
			case err != nil && old != nil:
				next.files[path] = &sdFile{mod: st.ModTime(), size: st.Size(), groups: old.groups, err: err}
				errs = append(errs, fmt.Errorf("%w (keeping its previous %d groups)", err, len(old.groups)))
			case err != nil:
				next.files[path] = &sdFile{mod: st.ModTime(), size: st.Size(), err: err}
				errs = append(errs, err)
			default:
				next.files[path] = &sdFile{mod: st.ModTime(), size: st.Size(), groups: groups}
				changed = changed || old == nil || !slices.EqualFunc(old.groups, groups, groupEqual)
			}
		}
	}
	for path := range f.files {
		if _, ok := next.files[path]; !ok {
			changed = true // the file went, and its targets with it
		}
	}
	return next, changed, errs
}

func groupEqual(a, b StaticConfig) bool {
	if !slices.Equal(a.Targets, b.Targets) || len(a.Labels) != len(b.Labels) {
		return false
	}
	for k, v := range a.Labels {
		if w, ok := b.Labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// match lists the known files a pattern matches, sorted.
func (f *fileSD) match(pattern string) []string {
	var out []string
	for path := range f.files {
		if ok, _ := filepath.Match(pattern, path); ok {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

// readSDFile parses one file of target groups: JSON for .json, YAML for
// .yml and .yaml, each a list of {targets: [host:port…], labels: {…}}.
func readSDFile(path string, size int64) ([]StaticConfig, error) {
	if size > maxSDFileBytes {
		return nil, fmt.Errorf("file_sd %s: %d bytes, more than the %d a target list needs", path, size, maxSDFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("file_sd %s: %w", path, err)
	}
	groups, err := parseSDFile(data, strings.HasSuffix(path, ".json"))
	if err != nil {
		return nil, fmt.Errorf("file_sd %s: %w", path, err)
	}
	return groups, nil
}

// parseSDFile decodes a file_sd file's contents strictly (unknown fields are
// errors) and checks every group.
func parseSDFile(data []byte, isJSON bool) ([]StaticConfig, error) {
	var groups []StaticConfig
	if isJSON {
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&groups); err != nil {
			return nil, err
		}
	} else {
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&groups); err != nil && !errors.Is(err, errEOF) {
			return nil, err
		}
	}
	for i, g := range groups {
		if err := g.check(); err != nil {
			return nil, fmt.Errorf("group %d: %w", i, err)
		}
	}
	return groups, nil
}
