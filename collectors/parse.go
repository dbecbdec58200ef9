package collectors

import (
	"errors"
	"fmt"
	"io"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/archscope/archscope/storage"
)

// parser turns one exposition body into samples. It keeps its buffers
// between scrapes of the same target.
type parser struct {
	symbols *labels.SymbolTable
	builder *labels.Builder
	scraped labels.Labels
}

func newParser() *parser {
	return &parser{symbols: labels.NewSymbolTable(), builder: labels.NewBuilder(labels.EmptyLabels())}
}

// parse appends to out one sample per series in body, stamped ts and
// labelled with target's labels. On a parse error it returns out unchanged:
// a scrape is stored whole or not at all.
func (p *parser) parse(out []storage.Sample, body []byte, contentType string, ts int64, target labels.Labels) ([]storage.Sample, error) {
	tp, err := textparse.New(body, contentType, p.symbols, textparse.ParserOptions{FallbackContentType: "text/plain"})
	if tp == nil {
		return out, fmt.Errorf("content type: %w", err)
	}
	start := len(out)
	for {
		entry, err := tp.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out[:start], fmt.Errorf("parse: %w", err)
		}
		if entry != textparse.EntrySeries {
			continue // metadata; native histograms come with the protobuf format, later
		}
		_, _, v := tp.Series()
		tp.Labels(&p.scraped)
		p.builder.Reset(p.scraped)
		// Target labels win; a clashing scraped label is kept as exported_<name>.
		target.Range(func(l labels.Label) {
			if sv := p.scraped.Get(l.Name); sv != "" {
				p.builder.Set("exported_"+l.Name, sv)
			}
			p.builder.Set(l.Name, l.Value)
		})
		out = append(out, storage.Sample{Labels: p.builder.Labels(), T: ts, V: v})
	}
}
