package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func logLine(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	return m
}

func TestLogsUseCloudLoggingKeys(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, slog.LevelInfo).Warn("disk almost full", "pct", 93)
	m := logLine(t, &buf)
	if m["severity"] != "WARNING" || m["message"] != "disk almost full" || m["pct"] != 93.0 {
		t.Fatalf("got %v", m)
	}
	if _, ok := m["level"]; ok {
		t.Fatalf("level key left in: %v", m)
	}
}

func TestTraceFromCloudTraceHeaderReachesTheLog(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	h := Trace("proj", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.ErrorContext(r.Context(), "boom")
	}))
	req := httptest.NewRequest("GET", "/", nil)
	// The header's span id is decimal; Cloud Logging's spanId is 16 hex digits.
	req.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/18446744073709551615;o=1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	m := logLine(t, &buf)
	if m[TraceKey] != "projects/proj/traces/105445aa7843bc8bf206b12000100000" || m[SpanKey] != "ffffffffffffffff" ||
		m[SampledKey] != true || m["severity"] != "ERROR" {
		t.Fatalf("got %v", m)
	}
}

func TestTraceIgnoresMalformedHeaderAndMissingProject(t *testing.T) {
	for _, tc := range []struct{ project, header string }{
		{"proj", "not-a-trace"},
		{"", "105445aa7843bc8bf206b12000100000/1;o=1"},
	} {
		var buf bytes.Buffer
		log := New(&buf, slog.LevelInfo)
		h := Trace(tc.project, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			log.InfoContext(r.Context(), "hi")
		}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Cloud-Trace-Context", tc.header)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if m := logLine(t, &buf); m[TraceKey] != nil {
			t.Errorf("%+v: unexpected trace %v", tc, m[TraceKey])
		}
	}
}
