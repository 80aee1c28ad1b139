// Package logging writes log/slog JSON in the shape Cloud Logging reads from stdout:
// "severity" and "message" keys, and the request's trace so log lines group under it.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Keys Cloud Logging lifts out of a JSON log line.
const (
	TraceKey   = "logging.googleapis.com/trace"
	SpanKey    = "logging.googleapis.com/spanId"
	SampledKey = "logging.googleapis.com/trace_sampled"
)

// New returns a JSON logger writing Cloud Logging's keys to w.
func New(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	})
	return slog.New(traceHandler{h})
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

type traceKey struct{}

type trace struct {
	name    string // projects/P/traces/T
	span    string
	sampled bool
}

// traceHandler adds the request's trace, if the context carries one, to every record.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if t, ok := ctx.Value(traceKey{}).(trace); ok {
		r.AddAttrs(slog.String(TraceKey, t.name))
		if t.span != "" {
			r.AddAttrs(slog.String(SpanKey, t.span))
		}
		r.AddAttrs(slog.Bool(SampledKey, t.sampled))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// Trace puts the trace of X-Cloud-Trace-Context ("TRACE_ID/SPAN_ID;o=1") into the request
// context so that logs written with it carry the trace. Without a project there is no valid
// trace name, so it does nothing.
func Trace(project string, next http.Handler) http.Handler {
	if project == "" {
		return next
	}
	prefix := "projects/" + project + "/traces/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := parseCloudTrace(r.Header.Get("X-Cloud-Trace-Context")); ok {
			t.name = prefix + t.name
			r = r.WithContext(context.WithValue(r.Context(), traceKey{}, t))
		}
		next.ServeHTTP(w, r)
	})
}

func parseCloudTrace(h string) (trace, bool) {
	if h == "" {
		return trace{}, false
	}
	id, rest, _ := strings.Cut(h, "/")
	if len(id) != 32 || strings.Trim(id, "0123456789abcdefABCDEF") != "" {
		return trace{}, false
	}
	span, opts, _ := strings.Cut(rest, ";")
	// The header's span id is decimal; Cloud Logging wants the 16 hex digits of Trace API v2.
	if n, err := strconv.ParseUint(span, 10, 64); err == nil && n != 0 {
		span = fmt.Sprintf("%016x", n)
	} else {
		span = ""
	}
	return trace{name: id, span: span, sampled: opts == "o=1"}, true
}
