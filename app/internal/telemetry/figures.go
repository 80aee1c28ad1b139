package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Figures are the affinity counters of one instance, or summed over several: what the affinity
// lab compares with what its clients saw, and what the production dashboard plots.
type Figures struct {
	CacheHits    int64 `json:"cache_hits"`
	CacheMisses  int64 `json:"cache_misses"`
	Held         int64 `json:"held"`
	Moved        int64 `json:"moved"`
	SocketsNone  int64 `json:"ws_previous_none"`
	SocketsSame  int64 `json:"ws_previous_same"`
	SocketsOther int64 `json:"ws_previous_other"`
}

// Add returns the sum of f and g.
func (f Figures) Add(g Figures) Figures {
	return Figures{f.CacheHits + g.CacheHits, f.CacheMisses + g.CacheMisses, f.Held + g.Held, f.Moved + g.Moved,
		f.SocketsNone + g.SocketsNone, f.SocketsSame + g.SocketsSame, f.SocketsOther + g.SocketsOther}
}

// count adds one counter data point to f.
func (f *Figures) count(metric, key, value string, n int64) {
	var p *int64
	switch {
	case metric == ReportCacheRequests && key == "result" && value == "hit":
		p = &f.CacheHits
	case metric == ReportCacheRequests && key == "result" && value == "miss":
		p = &f.CacheMisses
	case metric == AffinityRequests && key == "outcome" && value == "held":
		p = &f.Held
	case metric == AffinityRequests && key == "outcome" && value == "moved":
		p = &f.Moved
	case metric == WebSocketConnects && key == "previous" && value == "none":
		p = &f.SocketsNone
	case metric == WebSocketConnects && key == "previous" && value == "same":
		p = &f.SocketsSame
	case metric == WebSocketConnects && key == "previous" && value == "other":
		p = &f.SocketsOther
	default:
		return
	}
	*p += n
}

// FiguresOf reads the figures from collected metrics (cumulative, as every reader here is).
func FiguresOf(rm metricdata.ResourceMetrics) Figures {
	var f Figures
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				for _, kv := range dp.Attributes.ToSlice() {
					f.count(m.Name, string(kv.Key), kv.Value.String(), dp.Value)
				}
			}
		}
	}
	return f
}

// stdoutExport is the part of a stdout metric export line (stdoutmetric's JSON of
// metricdata.ResourceMetrics) that Figures need.
type stdoutExport struct {
	ScopeMetrics []struct {
		Metrics []struct {
			Name string
			Data struct {
				DataPoints []struct {
					Attributes []struct {
						Key   string
						Value struct{ Value any }
					}
					Value json.RawMessage
				}
			}
		}
	}
}

// LastStdoutExport reads a process's output (log lines and, with OTEL_EXPORTER=stdout, metric
// export lines) and returns the figures of its last metric export: with cumulative counters,
// the last one, which shutdown flushes, holds the instance's totals. ok is false when the
// output has no export.
func LastStdoutExport(r io.Reader) (f Figures, ok bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var last []byte
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, []byte(`{"Resource":`)) && bytes.Contains(line, []byte(`"ScopeMetrics":`)) {
			last = append(last[:0], line...)
		}
	}
	if err := sc.Err(); err != nil {
		return Figures{}, false, err
	}
	if last == nil {
		return Figures{}, false, nil
	}
	var e stdoutExport
	if err := json.Unmarshal(last, &e); err != nil {
		return Figures{}, false, fmt.Errorf("metric export line: %w", err)
	}
	for _, sm := range e.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.DataPoints {
				var n int64
				if json.Unmarshal(dp.Value, &n) != nil {
					continue // not an integer counter
				}
				for _, kv := range dp.Attributes {
					if s, isString := kv.Value.Value.(string); isString {
						f.count(m.Name, kv.Key, s, n)
					}
				}
			}
		}
	}
	return f, true, nil
}
