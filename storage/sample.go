package storage

import "github.com/prometheus/prometheus/model/labels"

// Sample is one float value of one series at one instant, the unit the
// collectors append and the query layer reads back.
type Sample struct {
	Labels labels.Labels // includes __name__, job and instance
	T      int64         // milliseconds since the Unix epoch, as in Prometheus
	V      float64
}
