package collectors

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"
)

// Config is the part of a prometheus.yml that archscope reads: global scrape
// settings and scrape_configs with static_configs and file_sd_configs.
// LoadConfig reads a whole prometheus.yml; what it does not support is
// ignored with a warning per field, so an existing file loads without edits.
type Config struct {
	Global        GlobalConfig   `yaml:"global"`
	ScrapeConfigs []ScrapeConfig `yaml:"scrape_configs"`

	dir string // relative file names (file_sd, ca_file, credentials_file) start here
}

// GlobalConfig holds the defaults of every scrape config.
type GlobalConfig struct {
	ScrapeInterval model.Duration `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration `yaml:"scrape_timeout"`
}

// ScrapeConfig is one job, with Prometheus' field names and meanings.
type ScrapeConfig struct {
	JobName        string              `yaml:"job_name"`
	ScrapeInterval model.Duration      `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration      `yaml:"scrape_timeout"`
	MetricsPath    string              `yaml:"metrics_path"`
	Scheme         string              `yaml:"scheme"`
	Params         map[string][]string `yaml:"params"`
	HonorLabels    bool                `yaml:"honor_labels"`
	// HonorTimestamps defaults to false, unlike Prometheus: samples are
	// stamped with the scrape's start unless the job asks for the target's.
	HonorTimestamps *bool `yaml:"honor_timestamps"`
	// The limits; zero takes archscope's default (see Limits), not "none".
	SampleLimit           int      `yaml:"sample_limit"`
	LabelLimit            int      `yaml:"label_limit"`
	LabelNameLengthLimit  int      `yaml:"label_name_length_limit"`
	LabelValueLengthLimit int      `yaml:"label_value_length_limit"`
	BodySizeLimit         ByteSize `yaml:"body_size_limit"`
	ScrapeProtocols       []string `yaml:"scrape_protocols"`

	StaticConfigs []StaticConfig `yaml:"static_configs"`
	FileSDConfigs []FileSDConfig `yaml:"file_sd_configs"`
	// RelabelConfigs rewrite or drop targets before scraping, on the labels
	// Prometheus gives them (__address__, __scheme__, __metrics_path__,
	// __param_<name>, __meta_filepath, job and the group's labels).
	RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
	// MetricRelabelConfigs rewrite or drop scraped series before storage,
	// with Prometheus' own relabel rules.
	MetricRelabelConfigs []*relabel.Config `yaml:"metric_relabel_configs"`

	// HTTPClientConfig is Prometheus' own: basic_auth, authorization,
	// tls_config, follow_redirects, enable_http2, proxy_url, oauth2, ….
	HTTPClientConfig config_util.HTTPClientConfig `yaml:",inline"`
}

// UnmarshalYAML sets Prometheus' HTTP defaults (follow redirects, HTTP/2)
// before the job's own fields.
func (sc *ScrapeConfig) UnmarshalYAML(node *yaml.Node) error {
	type plain ScrapeConfig
	*sc = ScrapeConfig{HTTPClientConfig: config_util.DefaultHTTPClientConfig}
	return node.Decode((*plain)(sc))
}

// StaticConfig is a group of host:port targets sharing labels, as written
// in static_configs and in file_sd files (JSON or YAML).
type StaticConfig struct {
	Targets []string          `yaml:"targets" json:"targets"`
	Labels  map[string]string `yaml:"labels" json:"labels"`
}

// FileSDConfig names files of target groups. archscope checks them for
// changes every few seconds (Reloader), so refresh_interval is accepted
// but not needed.
type FileSDConfig struct {
	Files           []string       `yaml:"files"`
	RefreshInterval model.Duration `yaml:"refresh_interval"`
}

// ByteSize is a body_size_limit: a number of bytes, or a number with B,
// KB, MB, GB or KiB, MiB, GiB, all powers of 1024 as in Prometheus.
type ByteSize int64

// UnmarshalYAML reads "10MB" or 10485760.
func (b *ByteSize) UnmarshalYAML(node *yaml.Node) error {
	s := strings.TrimSpace(node.Value)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(s[len(num):])
	mult, ok := map[string]int64{"": 1, "B": 1, "KB": 1 << 10, "KiB": 1 << 10, "MB": 1 << 20, "MiB": 1 << 20, "GB": 1 << 30, "GiB": 1 << 30}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n > (1<<62)/mult {
		return fmt.Errorf("body_size_limit %q: want a size such as 10MB or 512KiB", s)
	}
	*b = ByteSize(n * mult)
	return nil
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
	knownScrape = []string{"job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params",
		"honor_labels", "honor_timestamps", "sample_limit", "label_limit", "label_name_length_limit",
		"label_value_length_limit", "body_size_limit", "scrape_protocols",
		"static_configs", "file_sd_configs", "relabel_configs", "metric_relabel_configs",
		// Prometheus' HTTP client settings, handled by its common/config.
		"basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config",
		"follow_redirects", "enable_http2", "proxy_url", "no_proxy", "proxy_from_environment",
		"proxy_connect_header", "http_headers"}
	knownStatic = []string{"targets", "labels"}
	knownFileSD = []string{"files", "refresh_interval"}
)

// LoadConfig reads a prometheus.yml and the file_sd files it names, and
// returns its targets, with one warning for each field it ignores. A config
// that is wrong (not YAML, a bad duration, a timeout longer than its
// interval, a duplicate job) is an error naming the field and the reason.
func LoadConfig(file string) ([]Target, []string, error) {
	cfg, warnings, err := readConfig(file)
	if err != nil {
		return nil, warnings, err
	}
	sd, _, sdErrs := newFileSD().refresh(cfg.patterns())
	for _, err := range sdErrs {
		warnings = append(warnings, err.Error())
	}
	targets, err := cfg.targets(sd)
	if err != nil {
		return nil, warnings, fmt.Errorf("config %s: %w", file, err)
	}
	return targets, warnings, nil
}

// readConfig reads and checks a prometheus.yml, file names relative to it.
func readConfig(file string) (*Config, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	cfg, warnings, err := parseConfig(data, filepath.Dir(file))
	if err != nil {
		return nil, warnings, fmt.Errorf("config %s: %w", file, err)
	}
	return cfg, warnings, nil
}

// ParseConfig is LoadConfig on bytes, file names relative to the working
// directory.
func ParseConfig(data []byte) ([]Target, []string, error) {
	cfg, warnings, err := parseConfig(data, ".")
	if err != nil {
		return nil, warnings, err
	}
	sd, _, _ := newFileSD().refresh(cfg.patterns())
	targets, err := cfg.targets(sd)
	if err == nil && len(targets) == 0 {
		warnings = append(warnings, "no targets: archscope reads static_configs and file_sd_configs, and this file has none")
	}
	return targets, warnings, err
}

// parseConfig decodes and validates a config without reading other files.
func parseConfig(data []byte, dir string) (*Config, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, err
	}
	var warnings []string
	if len(root.Content) > 0 {
		warnings = unsupported(root.Content[0])
	}
	cfg := &Config{dir: dir}
	if err := root.Decode(cfg); err != nil {
		return nil, warnings, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
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
			for _, sub := range []struct {
				field string
				known []string
			}{{"static_configs", knownStatic}, {"file_sd_configs", knownFileSD}} {
				if st := child(job, sub.field); st != nil && st.Kind == yaml.SequenceNode {
					for j, s := range st.Content {
						check(s, fmt.Sprintf("%s%s[%d].", where, sub.field, j), sub.known)
					}
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

// applyDefaults fills what a prometheus.yml leaves out, as Prometheus does:
// the global interval and timeout, then each job's from them.
func (c *Config) applyDefaults() {
	g := &c.Global
	if g.ScrapeInterval == 0 {
		g.ScrapeInterval = defaultFileInterval
	}
	if g.ScrapeTimeout == 0 {
		g.ScrapeTimeout = min(defaultFileTimeout, g.ScrapeInterval)
	}
	for i := range c.ScrapeConfigs {
		sc := &c.ScrapeConfigs[i]
		if sc.ScrapeInterval == 0 {
			sc.ScrapeInterval = g.ScrapeInterval
		}
		if sc.ScrapeTimeout == 0 {
			sc.ScrapeTimeout = min(g.ScrapeTimeout, sc.ScrapeInterval)
		}
		if sc.Scheme == "" {
			sc.Scheme = "http"
		}
		if sc.MetricsPath == "" {
			sc.MetricsPath = "/metrics"
		}
		sc.HTTPClientConfig.SetDirectory(c.dir)
	}
}

// Validate checks every job, naming the job, the field and the reason.
func (c *Config) Validate() error {
	g := c.Global
	if g.ScrapeTimeout > g.ScrapeInterval {
		return fmt.Errorf("global: scrape_timeout %v exceeds scrape_interval %v", g.ScrapeTimeout, g.ScrapeInterval)
	}
	seen := map[string]bool{}
	for i := range c.ScrapeConfigs {
		sc := &c.ScrapeConfigs[i]
		where := fmt.Sprintf("scrape_configs[%d]", i)
		if sc.JobName == "" {
			return fmt.Errorf("%s: job_name is empty", where)
		}
		where = fmt.Sprintf("%s (job %q)", where, sc.JobName)
		if err := sc.validate(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if seen[sc.JobName] {
			return fmt.Errorf("%s: job_name is used twice", where)
		}
		seen[sc.JobName] = true
	}
	return nil
}

func (sc *ScrapeConfig) validate() error {
	if sc.ScrapeTimeout > sc.ScrapeInterval {
		return fmt.Errorf("scrape_timeout %v exceeds scrape_interval %v", sc.ScrapeTimeout, sc.ScrapeInterval)
	}
	if sc.Scheme != "http" && sc.Scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", sc.Scheme)
	}
	if !strings.HasPrefix(sc.MetricsPath, "/") {
		return fmt.Errorf("metrics_path %q must start with /", sc.MetricsPath)
	}
	for name, v := range map[string]int64{"sample_limit": int64(sc.SampleLimit), "label_limit": int64(sc.LabelLimit),
		"label_name_length_limit": int64(sc.LabelNameLengthLimit), "label_value_length_limit": int64(sc.LabelValueLengthLimit),
		"body_size_limit": int64(sc.BodySizeLimit)} {
		if v < 0 {
			return fmt.Errorf("%s %d must not be negative", name, v)
		}
	}
	for _, p := range sc.ScrapeProtocols {
		if _, ok := protocolHeaders[p]; !ok {
			return fmt.Errorf("scrape_protocols: unknown protocol %q; want one of %s", p, strings.Join(DefaultProtocols, ", ")+", PrometheusProto")
		}
	}
	if err := sc.HTTPClientConfig.Validate(); err != nil {
		return err // Prometheus' own message names the fields
	}
	for name, rcs := range map[string][]*relabel.Config{"relabel_configs": sc.RelabelConfigs, "metric_relabel_configs": sc.MetricRelabelConfigs} {
		for k, rc := range rcs {
			if rc == nil {
				return fmt.Errorf("%s[%d] is empty", name, k)
			}
			if err := rc.Validate(model.UTF8Validation); err != nil {
				return fmt.Errorf("%s[%d]: %w", name, k, err)
			}
		}
	}
	for j, st := range sc.StaticConfigs {
		if err := st.check(); err != nil {
			return fmt.Errorf("static_configs[%d]: %w", j, err)
		}
	}
	for j, fsd := range sc.FileSDConfigs {
		if len(fsd.Files) == 0 {
			return fmt.Errorf("file_sd_configs[%d]: files is empty; list file names or globs such as targets/*.json", j)
		}
		for _, f := range fsd.Files {
			if _, err := filepath.Match(filepath.Base(f), ""); err != nil {
				return fmt.Errorf("file_sd_configs[%d]: files: %q: %w", j, f, err)
			}
			if !slices.ContainsFunc([]string{".json", ".yml", ".yaml"}, func(ext string) bool { return strings.HasSuffix(f, ext) }) {
				return fmt.Errorf("file_sd_configs[%d]: files: %q must end in .json, .yml or .yaml", j, f)
			}
		}
	}
	return nil
}

// check refuses targets that are not host:port.
func (st StaticConfig) check() error {
	for _, host := range st.Targets {
		if strings.Contains(host, "/") || host == "" {
			return fmt.Errorf("target %q must be host:port, without a scheme or path", host)
		}
	}
	for name := range st.Labels {
		if !model.LabelName(name).IsValid() {
			return fmt.Errorf("label %q is not a valid label name", name)
		}
	}
	return nil
}

// patterns is every file_sd glob of the config, as paths.
func (c *Config) patterns() []string {
	var out []string
	for _, sc := range c.ScrapeConfigs {
		for _, fsd := range sc.FileSDConfigs {
			for _, f := range fsd.Files {
				out = append(out, c.path(f))
			}
		}
	}
	return out
}

func (c *Config) path(f string) string {
	if filepath.IsAbs(f) || c.dir == "" {
		return f
	}
	return filepath.Join(c.dir, f)
}

// DroppedTarget is a discovered target that relabel_configs dropped, as
// /api/v1/targets lists it.
type DroppedTarget struct {
	Job              string
	DiscoveredLabels map[string]string // before relabelling: __address__, __scheme__, …
}

// targets builds every job's targets from its static groups and the file_sd
// groups in sd.
func (c *Config) targets(sd *fileSD) ([]Target, error) {
	out, _, err := c.discover(sd)
	return out, err
}

// discover is targets, with the targets relabel_configs dropped.
func (c *Config) discover(sd *fileSD) ([]Target, []DroppedTarget, error) {
	var out []Target
	var dropped []DroppedTarget
	for i, sc := range c.ScrapeConfigs {
		where := fmt.Sprintf("scrape_configs[%d] (job %q)", i, sc.JobName)
		add := func(from string, st StaticConfig, meta map[string]string) error {
			for _, host := range st.Targets {
				t, keep, err := sc.targetFor(host, st.Labels, meta)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", where, from, err)
				}
				if !keep { // dropped by relabel_configs
					dropped = append(dropped, DroppedTarget{Job: sc.JobName, DiscoveredLabels: sc.discovered(host, st.Labels, meta).Map()})
					continue
				}
				if _, err := t.withDefaults(); err != nil {
					return fmt.Errorf("%s: %s: %w", where, from, err)
				}
				out = append(out, t)
			}
			return nil
		}
		for j, st := range sc.StaticConfigs {
			if err := add(fmt.Sprintf("static_configs[%d]", j), st, nil); err != nil {
				return nil, nil, err
			}
		}
		for _, fsd := range sc.FileSDConfigs {
			for _, f := range fsd.Files {
				for _, file := range sd.match(c.path(f)) {
					for k, st := range sd.files[file].groups {
						if err := add(fmt.Sprintf("%s[%d]", file, k), st, map[string]string{"__meta_filepath": file}); err != nil {
							return nil, nil, err
						}
					}
				}
			}
		}
	}
	return out, dropped, nil
}

// targetFor builds one target from the labels Prometheus gives a discovered
// target, after the job's relabel_configs: keep is false if they dropped it.
func (sc *ScrapeConfig) targetFor(host string, group, meta map[string]string) (t Target, keep bool, err error) {
	lb := labels.NewBuilder(sc.discovered(host, group, meta))
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
	t.Interval, t.Timeout = time.Duration(sc.ScrapeInterval), time.Duration(sc.ScrapeTimeout)
	t.MetricRelabel = sc.MetricRelabelConfigs
	t.HonorLabels = sc.HonorLabels
	t.HonorTimestamps = sc.HonorTimestamps != nil && *sc.HonorTimestamps
	t.Limits = Limits{
		SampleLimit: sc.SampleLimit, LabelLimit: sc.LabelLimit,
		LabelNameLengthLimit: sc.LabelNameLengthLimit, LabelValueLengthLimit: sc.LabelValueLengthLimit,
		BodySizeLimit: int64(sc.BodySizeLimit),
	}
	t.Protocols = sc.ScrapeProtocols
	if !isPlainHTTP(sc.HTTPClientConfig) {
		hc := sc.HTTPClientConfig
		t.HTTP = &hc
	}
	return t, true, nil
}

// discovered is the label set Prometheus gives a discovered target, before
// relabel_configs.
func (sc *ScrapeConfig) discovered(host string, group, meta map[string]string) labels.Labels {
	lb := labels.NewBuilder(labels.EmptyLabels())
	lb.Set(model.AddressLabel, host)
	lb.Set(model.SchemeLabel, sc.Scheme)
	lb.Set(model.MetricsPathLabel, sc.MetricsPath)
	for k, v := range sc.Params {
		if len(v) > 0 {
			lb.Set(model.ParamLabelPrefix+k, v[0])
		}
	}
	lb.Set(model.JobLabel, sc.JobName)
	for k, v := range meta {
		lb.Set(k, v)
	}
	for k, v := range group {
		lb.Set(k, v)
	}
	return lb.Labels()
}

// isPlainHTTP: the job sets nothing the Manager's shared client lacks.
func isPlainHTTP(c config_util.HTTPClientConfig) bool {
	d := config_util.DefaultHTTPClientConfig
	return c.BasicAuth == nil && c.Authorization == nil && c.OAuth2 == nil && c.BearerToken == "" && c.BearerTokenFile == "" &&
		c.TLSConfig == d.TLSConfig && c.FollowRedirects && c.ProxyConfig.ProxyURL.URL == nil && !c.ProxyFromEnvironment && c.HTTPHeaders == nil
}

// errNoConfig is what Reload says when there is no file to reload.
var errNoConfig = errors.New("no --config file to reload")
