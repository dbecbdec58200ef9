package collectors

import (
	"cmp"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// MetricMetadata is what a target's exposition says about one metric family:
// its # TYPE, # HELP and # UNIT lines, or a protobuf family's fields.
type MetricMetadata struct {
	// Metric is the family's name as exposed. In OpenMetrics a counter's
	// family has no _total suffix (its samples do), and Prometheus reports
	// it so; archscope does the same.
	Metric string
	// Type is counter, gauge, histogram, gaugehistogram, summary, info,
	// stateset or unknown (a family with no type, or "untyped").
	Type model.MetricType
	Help string
	Unit string
}

// TargetMetadata is the metric metadata one target exposed lately.
type TargetMetadata struct {
	Job, ScrapeURL string
	Labels         labels.Labels    // job, instance and the target's extra labels
	Metadata       []MetricMetadata // sorted by family name
}

// Bounds on one target's metadata. Limits are never off, so a hostile body
// (a million distinct # HELP lines fit in 20 MB of body) costs bounded
// memory: at most SampleLimit families, each name no longer than
// LabelValueLengthLimit (no series of a longer name could be stored), each
// help and unit text cut to maxMetadataText, and all of it within
// metadataBytesLimit. What does not fit is counted in
// archscope_scrape_metadata_dropped_total, and the scrape goes on: metadata
// is a convenience, not data.
const (
	// metadataBytesLimit is some 40 000 families with a line of help each,
	// a hundred times a node_exporter's.
	metadataBytesLimit = 8 << 20
	// maxMetadataText is the longest help or unit text kept; a longer one
	// is cut at a character boundary.
	maxMetadataText = 4 << 10
	// metaEntryCost is what a family costs besides its texts: its map slot,
	// its entry and the rounding of their allocations (TestMetadataBounded
	// checks the heap against the account).
	metaEntryCost = 144
	// metadataKeepScrapes: a family is forgotten once it has been missing
	// from more than this many parses in a row, as in Prometheus' scrape
	// cache.
	metadataKeepScrapes = 10
)

// metadataStore is one target's metric metadata, by family name, as
// Prometheus keeps it in its scrape cache: set from the metadata lines of
// every parse, read by the API at any time.
//
// The scrape loop is its only writer. It reads the map and the entries
// without the lock (no one else writes them) and takes the lock only to
// change them, which a steady target never does: a metadata line that says
// what it said last time costs a map lookup and a comparison. Readers take
// the lock.
type metadataStore struct {
	mu      sync.Mutex
	entries map[string]*metaEntry

	// The scrape loop's alone.
	iter        uint64 // parses so far
	bytes       int    // what the entries cost, by the account above
	dropped     int    // metadata lines refused by the bounds since takeDropped
	maxEntries  int
	maxName     int
	seen, added int        // families this parse mentioned, and added
	last        *metaEntry // the family of the parse's last metadata line
}

type metaEntry struct {
	name       string // its key in entries
	typ        model.MetricType
	help, unit string
	// The scrape loop's alone: the last parse that mentioned the family,
	// and the one that added it.
	lastIter, created uint64
}

func newMetadataStore() *metadataStore {
	return &metadataStore{entries: map[string]*metaEntry{}}
}

// begin starts a parse under lim (with defaults applied).
func (s *metadataStore) begin(lim Limits) {
	s.iter++
	s.maxEntries, s.maxName = lim.SampleLimit, lim.LabelValueLengthLimit
	s.seen, s.added, s.last = 0, 0, nil
}

// family is name's entry, added if the bounds allow; nil if they do not.
func (s *metadataStore) family(name []byte) *metaEntry {
	// A family's lines come together (# HELP, then # TYPE): the second
	// needs no map lookup.
	if s.last != nil && s.last.name == string(name) {
		return s.last
	}
	if e := s.entries[string(name)]; e != nil { // no allocation: string(b) in a map index
		if e.lastIter != s.iter {
			e.lastIter = s.iter
			s.seen++
		}
		s.last = e
		return e
	}
	cost := len(name) + metaEntryCost
	if len(s.entries) >= s.maxEntries || len(name) > s.maxName || s.bytes+cost > metadataBytesLimit {
		s.dropped++
		return nil
	}
	e := &metaEntry{name: string(name), typ: model.MetricTypeUnknown, lastIter: s.iter, created: s.iter}
	s.mu.Lock()
	s.entries[e.name] = e
	s.mu.Unlock()
	s.bytes += cost
	s.seen++
	s.added++
	s.last = e
	return e
}

func (s *metadataStore) setType(name []byte, t model.MetricType) {
	if e := s.family(name); e != nil && e.typ != t {
		s.mu.Lock()
		e.typ = t
		s.mu.Unlock()
	}
}

func (s *metadataStore) setHelp(name, help []byte) {
	if e := s.family(name); e != nil {
		s.setText(e, &e.help, help)
	}
}

func (s *metadataStore) setUnit(name, unit []byte) {
	if e := s.family(name); e != nil {
		s.setText(e, &e.unit, unit)
	}
}

// setText sets one of e's texts to text, cut to maxMetadataText, if it
// changed and the bytes allow.
func (s *metadataStore) setText(e *metaEntry, field *string, text []byte) {
	text = clipText(text)
	if *field == string(text) { // no allocation
		return
	}
	grow := len(text) - len(*field)
	if s.bytes+grow > metadataBytesLimit {
		s.dropped++
		return
	}
	v := string(text)
	s.mu.Lock()
	*field = v
	s.mu.Unlock()
	s.bytes += grow
}

// clipText cuts b to maxMetadataText bytes without splitting a character.
func clipText(b []byte) []byte {
	if len(b) <= maxMetadataText {
		return b
	}
	b = b[:maxMetadataText]
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return b
}

// end finishes a parse. After a success, families no parse has mentioned
// for more than metadataKeepScrapes parses are forgotten; after a failure, the ones
// this parse added (the body may be junk), as the series cache does.
// Changes a failed parse made to known families stay, as in Prometheus.
func (s *metadataStore) end(ok bool) {
	if (ok && s.seen == len(s.entries)) || (!ok && s.added == 0) {
		return // a steady target: nothing to forget, and no need to look
	}
	for name, e := range s.entries {
		if (ok && s.iter-e.lastIter > metadataKeepScrapes) || (!ok && e.created == s.iter) {
			s.mu.Lock()
			delete(s.entries, name)
			s.mu.Unlock()
			s.bytes -= len(name) + metaEntryCost + len(e.help) + len(e.unit)
		}
	}
}

// takeDropped returns how many metadata lines the bounds refused since it
// was last called.
func (s *metadataStore) takeDropped() int {
	d := s.dropped
	s.dropped = 0
	return d
}

// list returns the families, sorted by name; with metric set, only that
// one (nil when the target never exposed it). Safe to call at any time.
func (s *metadataStore) list(metric string) []MetricMetadata {
	s.mu.Lock()
	if metric != "" {
		defer s.mu.Unlock()
		if e := s.entries[metric]; e != nil {
			return []MetricMetadata{{Metric: metric, Type: e.typ, Help: e.help, Unit: e.unit}}
		}
		return nil
	}
	out := make([]MetricMetadata, 0, len(s.entries))
	for name, e := range s.entries {
		out = append(out, MetricMetadata{Metric: name, Type: e.typ, Help: e.help, Unit: e.unit})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b MetricMetadata) int { return cmp.Compare(a.Metric, b.Metric) })
	return out
}
