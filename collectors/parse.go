package collectors

import (
	"errors"
	"fmt"
	"io"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/archscope/archscope/storage"
)

// parser turns one exposition body into samples. It keeps its buffers
// between scrapes of the same target.
type parser struct {
	symbols *labels.SymbolTable
	builder labels.ScratchBuilder
	scraped labels.Labels

	relabel         []*relabel.Config // metric_relabel_configs
	rb              *labels.Builder   // for relabel
	limits          Limits            // with defaults applied
	honorLabels     bool
	honorTimestamps bool

	seen int // series in the last body, before relabelling

	cache  map[string]*cacheEntry // series text → labels, for the series of the last scrape
	iter   uint64                 // parses so far
	target labels.Labels          // the cache's

	meta *metadataStore // the families' # TYPE, # HELP and # UNIT
}

func newParser() *parser {
	return &parser{
		symbols: labels.NewSymbolTable(), builder: labels.NewScratchBuilder(16), rb: labels.NewBuilder(labels.EmptyLabels()),
		limits: Limits{}.withDefaults(), cache: map[string]*cacheEntry{}, meta: newMetadataStore(),
	}
}

// maxSeriesBytes is the longest series text parsed into labels: 16 MiB is
// the most one string in Prometheus' labels can hold.
const maxSeriesBytes = 1 << 24

// parserOptions: storage keeps floats only, so a native histogram is read
// as its classic series (buckets, _sum, _count; a histogram with no classic
// buckets still gives its +Inf bucket, _sum and _count), which Prometheus'
// protobuf parser does when told to ignore the native parts.
var parserOptions = textparse.ParserOptions{FallbackContentType: "text/plain", IgnoreNativeHistograms: true}

// parse appends to out one sample per series in body, stamped ts (or the
// sample's own timestamp with honorTimestamps) and labelled with target's
// labels. On an error (a parse error, a limit exceeded) it returns out
// unchanged: a scrape is stored whole or not at all.
func (p *parser) parse(out []storage.Sample, body []byte, contentType string, ts int64, target labels.Labels) (_ []storage.Sample, err error) {
	start := len(out)
	p.iter++
	p.meta.begin(p.limits)
	defer func() {
		// The body is the network's: a parser bug it trips must fail this
		// scrape, not the process.
		if r := recover(); r != nil {
			out, err = out[:start], fmt.Errorf("parse: the parser failed on this body: %v", r)
		}
		p.sweep(err == nil)
		p.meta.end(err == nil)
	}()
	if !labels.Equal(target, p.target) {
		clear(p.cache) // the cached label sets include the target's
		p.target = target
	}
	tp, err := textparse.New(body, contentType, p.symbols, parserOptions)
	if tp == nil {
		return out, fmt.Errorf("content type: %w", err)
	}
	p.seen = 0
	for {
		entry, err := tp.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out[:start], fmt.Errorf("parse: %w", err)
		}
		switch entry {
		case textparse.EntrySeries:
		case textparse.EntryType:
			p.meta.setType(tp.Type())
			continue
		case textparse.EntryHelp:
			p.meta.setHelp(tp.Help())
			continue
		case textparse.EntryUnit:
			p.meta.setUnit(tp.Unit())
			continue
		default:
			continue // comments; exemplars are not asked for
		}
		series, explicit, v := tp.Series()
		e := p.cache[string(series)] // no allocation: the compiler sees through string(b) in a map index
		if e == nil {
			if e, err = p.entry(tp, series, target); err != nil {
				return out[:start], err
			}
		}
		e.iter = p.iter
		p.seen++
		if e.dropped {
			continue
		}
		if n := len(out) - start; n >= p.limits.SampleLimit {
			return out[:start], fmt.Errorf("%w: more than %d samples; raise sample_limit or drop series with metric_relabel_configs", errSampleLimit, p.limits.SampleLimit)
		}
		t := ts
		if p.honorTimestamps && explicit != nil {
			t = *explicit
		}
		out = append(out, storage.Sample{Labels: e.lset, T: t, V: v})
	}
}

// cacheEntry is what a series' text became: its labels after the target's
// and metric_relabel_configs, or dropped.
type cacheEntry struct {
	lset          labels.Labels
	dropped       bool
	iter, created uint64 // the last parse that saw it, the one that made it
}

// entry works out a series' labels (the slow path: most series come again
// in the next scrape and are found in the cache, as in Prometheus' scrape
// cache) and caches them; it checks the label limits once, here.
func (p *parser) entry(tp textparse.Parser, series []byte, target labels.Labels) (*cacheEntry, error) {
	if len(series) > maxSeriesBytes {
		// Prometheus' labels cannot hold a string this long (they panic),
		// and no limit would let it through. (fmt would copy all of
		// series to quote 40 bytes of it.)
		return nil, fmt.Errorf("%w: a series of %d bytes (%q…); labels hold at most %d", errLabelValueLength, len(series), series[:40], maxSeriesBytes)
	}
	tp.Labels(&p.scraped)
	if len(p.relabel) == 0 {
		// Without relabelling every scraped value is stored: refuse a huge
		// one before copying it again.
		if err := p.checkValues(p.scraped); err != nil {
			return nil, err
		}
	}
	p.builder.Reset()
	if p.honorLabels {
		// The scraped labels win; target labels fill in the rest.
		p.scraped.Range(func(l labels.Label) { p.builder.Add(l.Name, l.Value) })
		target.Range(func(l labels.Label) {
			if !p.scraped.Has(l.Name) {
				p.builder.Add(l.Name, l.Value)
			}
		})
	} else {
		// Target labels win; a clashing scraped label is kept as
		// exported_<name>.
		p.scraped.Range(func(l labels.Label) {
			if target.Has(l.Name) {
				l.Name = "exported_" + l.Name
			}
			p.builder.Add(l.Name, l.Value)
		})
		target.Range(func(l labels.Label) { p.builder.Add(l.Name, l.Value) })
	}
	p.builder.Sort()
	e := &cacheEntry{lset: p.builder.Labels(), created: p.iter}
	if len(p.relabel) > 0 {
		p.rb.Reset(e.lset)
		if !relabel.ProcessBuilder(p.rb, p.relabel...) {
			e.dropped = true // by metric_relabel_configs
		} else if e.lset = p.rb.Labels(); e.lset.Get(labels.MetricName) == "" {
			e.dropped = true // relabelled to no name: nothing to store it as
		}
	}
	if !e.dropped {
		if err := p.checkLabels(e.lset); err != nil {
			return nil, err
		}
	}
	if len(p.cache) < 2*p.limits.SampleLimit {
		p.cache[string(series)] = e
	}
	return e, nil
}

// sweep forgets the series the last parse did not see, after a success;
// after a failure, only the ones it added (the body may be junk).
func (p *parser) sweep(ok bool) {
	for k, e := range p.cache {
		if (ok && e.iter != p.iter) || (!ok && e.created == p.iter) {
			delete(p.cache, k)
		}
	}
}

// checkValues applies label_value_length_limit.
func (p *parser) checkValues(lset labels.Labels) error {
	return lset.Validate(func(l labels.Label) error {
		if len(l.Value) > p.limits.LabelValueLengthLimit {
			return fmt.Errorf("%w: label %q of %s has a %d-byte value, limit %d", errLabelValueLength, l.Name, lset.Get(labels.MetricName), len(l.Value), p.limits.LabelValueLengthLimit)
		}
		return nil
	})
}

// checkLabels applies the label limits to a series about to be stored, as
// Prometheus does after relabelling.
func (p *parser) checkLabels(lset labels.Labels) error {
	lim := p.limits
	if lim.LabelLimit > 0 && lset.Len() > lim.LabelLimit {
		return fmt.Errorf("%w: %s has %d labels, limit %d", errLabelLimit, lset.Get(labels.MetricName), lset.Len(), lim.LabelLimit)
	}
	if lim.LabelNameLengthLimit > 0 {
		if err := lset.Validate(func(l labels.Label) error {
			if len(l.Name) > lim.LabelNameLengthLimit {
				return fmt.Errorf("%w: label name %.64q… of %s is %d bytes, limit %d", errLabelNameLength, l.Name, lset.Get(labels.MetricName), len(l.Name), lim.LabelNameLengthLimit)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return p.checkValues(lset)
}
