//go:build !race

// The race detector multiplies memory use, so the RSS target is measured only without it.

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// One instance holds 1,000 idle WebSockets in under 100 MB RSS. Measured on the app running
// as its own process (memory stores, so only the app is in the number).
func TestThousandIdleWebSocketsFitIn100MB(t *testing.T) {
	t.Parallel()
	m := holdIdleSockets(t, 1000)
	t.Logf("RSS with %d idle WebSockets: %.1f MB (baseline %.1f MB, %.1f KB per socket)",
		m.n, float64(m.rssKB)/1024, float64(m.baselineKB)/1024, float64(m.rssKB-m.baselineKB)/float64(m.n))
	if m.rssKB > 100*1024 {
		t.Fatalf("RSS %d KB with %d idle sockets, target < 100 MB", m.rssKB, m.n)
	}
}

// BenchmarkWebSocketWith1000Idle reports the app's RSS holding 1,000 idle sockets; each
// operation opens one more socket, waits for its hello and closes it.
func BenchmarkWebSocketWith1000Idle(b *testing.B) {
	m := holdIdleSockets(b, 1000)
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(ctx, "ws://"+m.p.Host+"/ws", &websocket.DialOptions{HTTPClient: m.b.http})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.Read(ctx); err != nil {
			b.Fatal(err)
		}
		ws.Close(websocket.StatusNormalClosure, "")
		cancel()
	}
	b.StopTimer()
	b.ReportMetric(float64(m.rssKB)/1024, "MB-RSS")
	b.ReportMetric(float64(m.rssKB-m.baselineKB)/float64(m.n), "KB/socket")
	if m.rssKB > 100*1024 {
		b.Errorf("RSS %d KB with %d idle sockets, target < 100 MB", m.rssKB, m.n)
	}
}

type idleSockets struct {
	p                 *appProcess
	b                 *browser
	n                 int
	rssKB, baselineKB int64
}

func holdIdleSockets(t testing.TB, n int) idleSockets {
	p := startAppProcess(t, "INSTANCE_ID=i-rss")
	p.waitServing(t)
	b := newBrowser(t)
	b.mustDo("POST", p.URL+"/api/login", `{"user":"idle"}`, nil)
	baseline := rssKB(t, p.cmd.Process.Pid)

	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, "ws://"+p.Host+"/ws", &websocket.DialOptions{HTTPClient: b.http})
			if err != nil {
				errs <- err
				return
			}
			if _, _, err := ws.Read(ctx); err != nil { // hello: the socket is fully served
				errs <- err
				return
			}
			conns[i] = ws
		})
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, ws := range conns {
			if ws != nil {
				ws.CloseNow()
			}
		}
	})
	for err := range errs {
		t.Fatalf("open socket: %v", err)
	}
	var stats struct{ WebSockets int }
	b.mustDo("GET", p.URL+"/api/stats", "", &stats)
	if stats.WebSockets != n {
		t.Fatalf("server holds %d sockets, want %d", stats.WebSockets, n)
	}
	return idleSockets{p: p, b: b, n: n, rssKB: rssKB(t, p.cmd.Process.Pid), baselineKB: baseline}
}

func rssKB(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil || n <= 0 { // 0 would pass every "under the target" check
				t.Fatalf("VmRSS of pid %d: %q (%v)", pid, line, err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
