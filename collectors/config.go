package collectors

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"
)

// Config is the part of a prometheus.yml that archscope reads: global scrape
// settings and scrape_configs with static_configs. LoadConfig reads a whole
// prometheus.yml; what it does not support yet is ignored with a warning per
// field, so an existing file loads without edits.
type Config struct {
	Global        GlobalConfig   `yaml:"global"`
	ScrapeConfigs []ScrapeConfig `yaml:"scrape_configs"`
}

// GlobalConfig holds the defaults of every scrape config.
type GlobalConfig struct {
	ScrapeInterval model.Duration `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration `yaml:"scrape_timeout"`
}

// ScrapeConfig is one job.
type ScrapeConfig struct {
	JobName        string              `yaml:"job_name"`
	ScrapeInterval model.Duration      `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration      `yaml:"scrape_timeout"`
	MetricsPath    string              `yaml:"metrics_path"`
	Scheme         string              `yaml:"scheme"`
	Params         map[string][]string `yaml:"params"`
	StaticConfigs  []StaticConfig      `yaml:"static_configs"`
	// RelabelConfigs rewrite or drop targets before scraping, on the labels
	// Prometheus gives them (__address__, __scheme__, __metrics_path__,
	// __param_<name>, job and the static labels).
	RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
	// MetricRelabelConfigs rewrite or drop scraped series before storage,
	// with Prometheus' own relabel rules.
	MetricRelabelConfigs []*relabel.Config `yaml:"metric_relabel_configs"`
}

// StaticConfig is a list of host:port targets sharing labels.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// Prometheus' own defaults, which a prometheus.yml is written against.
const (
	defaultFileInterval = model.Duration(time.Minute)
	defaultFileTimeout  = model.Duration(10 * time.Second)
)

// The fields archscope reads, per level; the rest of Prometheus' are
// warned about and ignored.
var (
	knownTop    = []string{"global", "scrape_configs"}
	knownGlobal = []string{"scrape_interval", "scrape_timeout"}
	knownScrape = []string{"job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params", "static_configs", "relabel_configs", "metric_relabel_configs"}
	knownStatic = []string{"targets", "labels"}
)

// LoadConfig reads a prometheus.yml and returns its targets, with one
// warning for each field it ignores. A config that is wrong (not YAML, a bad
// duration, a timeout longer than its interval, a duplicate job) is an error
// naming the field and the reason.
func LoadConfig(file string) ([]Target, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	targets, warnings, err := ParseConfig(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("config %s: %w", file, err)
	}
	return targets, warnings, nil
}

// ParseConfig is LoadConfig on bytes.
func ParseConfig(data []byte) ([]Target, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, err
	}
	var warnings []string
	if len(root.Content) > 0 {
		warnings = unsupported(root.Content[0])
	}
	var cfg Config
	if err := root.Decode(&cfg); err != nil {
		return nil, warnings, err
	}
	targets, err := cfg.targets()
	if err == nil && len(targets) == 0 {
		warnings = append(warnings, "no targets: archscope reads static_configs, and this file has none")
	}
	return targets, warnings, err
}

// unsupported walks the document and names every field archscope ignores.
func unsupported(doc *yaml.Node) []string {
	var out []string
	check := func(n *yaml.Node, where string, known []string) {
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !slices.Contains(known, k.Value) {
				out = append(out, fmt.Sprintf("line %d: %s%s is not supported yet; ignored", k.Line, where, k.Value))
			}
		}
	}
	check(doc, "", knownTop)
	check(child(doc, "global"), "global.", knownGlobal)
	if sc := child(doc, "scrape_configs"); sc != nil && sc.Kind == yaml.SequenceNode {
		for i, job := range sc.Content {
			where := fmt.Sprintf("scrape_configs[%d].", i)
			check(job, where, knownScrape)
			if st := child(job, "static_configs"); st != nil && st.Kind == yaml.SequenceNode {
				for j, s := range st.Content {
					check(s, fmt.Sprintf("%sstatic_configs[%d].", where, j), knownStatic)
				}
			}
		}
	}
	return out
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// targetFor builds one target from the labels Prometheus gives a discovered
// target, after the job's relabel_configs: keep is false if they dropped it.
func targetFor(sc ScrapeConfig, scheme, metricsPath, host string, static map[string]string) (t Target, keep bool, err error) {
	lb := labels.NewBuilder(labels.EmptyLabels())
	lb.Set(model.AddressLabel, host)
	lb.Set(model.SchemeLabel, scheme)
	lb.Set(model.MetricsPathLabel, metricsPath)
	for k, v := range sc.Params {
		if len(v) > 0 {
			lb.Set(model.ParamLabelPrefix+k, v[0])
		}
	}
	lb.Set(model.JobLabel, sc.JobName)
	for k, v := range static {
		lb.Set(k, v)
	}
	if len(sc.RelabelConfigs) > 0 && !relabel.ProcessBuilder(lb, sc.RelabelConfigs...) {
		return t, false, nil
	}
	lset := lb.Labels()
	addr := lset.Get(model.AddressLabel)
	if addr == "" || strings.Contains(addr, "/") {
		return t, false, fmt.Errorf("target %q: __address__ %q after relabelling is not host:port", host, addr)
	}
	params := url.Values{}
	for k, v := range sc.Params {
		params[k] = append([]string(nil), v...)
	}
	t = Target{Job: lset.Get(model.JobLabel), Instance: lset.Get(model.InstanceLabel), Labels: map[string]string{}}
	lset.Range(func(l labels.Label) {
		switch {
		case strings.HasPrefix(l.Name, model.ParamLabelPrefix):
			params.Set(strings.TrimPrefix(l.Name, model.ParamLabelPrefix), l.Value)
		case strings.HasPrefix(l.Name, model.ReservedLabelPrefix), l.Name == model.JobLabel, l.Name == model.InstanceLabel:
		default:
			t.Labels[l.Name] = l.Value
		}
	})
	if t.Instance == "" {
		t.Instance = addr
	}
	u := url.URL{Scheme: lset.Get(model.SchemeLabel), Host: addr, Path: path.Clean(lset.Get(model.MetricsPathLabel)), RawQuery: params.Encode()}
	t.URL = u.String()
	return t, true, nil
}

// targets applies the defaults and checks every job, as Prometheus does.
func (c Config) targets() ([]Target, error) {
	g := c.Global
	if g.ScrapeInterval == 0 {
		g.ScrapeInterval = defaultFileInterval
	}
	if g.ScrapeTimeout == 0 {
		g.ScrapeTimeout = min(defaultFileTimeout, g.ScrapeInterval)
	}
	if g.ScrapeTimeout > g.ScrapeInterval {
		return nil, fmt.Errorf("global: scrape_timeout %v exceeds scrape_interval %v", g.ScrapeTimeout, g.ScrapeInterval)
	}
	var out []Target
	seen := map[string]bool{}
	for i, sc := range c.ScrapeConfigs {
		where := fmt.Sprintf("scrape_configs[%d]", i)
		if sc.JobName == "" {
			return nil, fmt.Errorf("%s: job_name is empty", where)
		}
		where = fmt.Sprintf("%s (job %q)", where, sc.JobName)
		if seen[sc.JobName] {
			return nil, fmt.Errorf("%s: job_name is used twice", where)
		}
		seen[sc.JobName] = true
		interval, timeout := sc.ScrapeInterval, sc.ScrapeTimeout
		if interval == 0 {
			interval = g.ScrapeInterval
		}
		if timeout == 0 {
			timeout = min(g.ScrapeTimeout, interval)
		}
		if timeout > interval {
			return nil, fmt.Errorf("%s: scrape_timeout %v exceeds scrape_interval %v", where, timeout, interval)
		}
		scheme := sc.Scheme
		if scheme == "" {
			scheme = "http"
		}
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("%s: scheme %q: want http or https", where, scheme)
		}
		metricsPath := sc.MetricsPath
		if metricsPath == "" {
			metricsPath = "/metrics"
		}
		if !strings.HasPrefix(metricsPath, "/") {
			return nil, fmt.Errorf("%s: metrics_path %q must start with /", where, metricsPath)
		}
		for name, rcs := range map[string][]*relabel.Config{"relabel_configs": sc.RelabelConfigs, "metric_relabel_configs": sc.MetricRelabelConfigs} {
			for k, rc := range rcs {
				if rc == nil {
					return nil, fmt.Errorf("%s: %s[%d] is empty", where, name, k)
				}
				if err := rc.Validate(model.UTF8Validation); err != nil {
					return nil, fmt.Errorf("%s: %s[%d]: %w", where, name, k, err)
				}
			}
		}
		for j, st := range sc.StaticConfigs {
			for _, host := range st.Targets {
				if strings.Contains(host, "/") || host == "" {
					return nil, fmt.Errorf("%s: static_configs[%d]: target %q must be host:port, without a scheme or path", where, j, host)
				}
				t, keep, err := targetFor(sc, scheme, metricsPath, host, st.Labels)
				if err != nil {
					return nil, fmt.Errorf("%s: static_configs[%d]: %w", where, j, err)
				}
				if !keep {
					continue // dropped by relabel_configs
				}
				t.Interval, t.Timeout = time.Duration(interval), time.Duration(timeout)
				t.MetricRelabel = sc.MetricRelabelConfigs
				if _, err := t.withDefaults(); err != nil {
					return nil, fmt.Errorf("%s: static_configs[%d]: %w", where, j, err)
				}
				out = append(out, t)
			}
		}
	}
	return out, nil
}
