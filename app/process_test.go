package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

// appProcess is this test binary re-executed as the app: a real process with a real PID
// that receives real signals, as on Cloud Run.
type appProcess struct {
	cmd            *exec.Cmd
	URL            string
	Host           string
	out            *localdeps.Buffer // stdout and stderr, as they came
	stdout, stderr *localdeps.Buffer
	done           chan error
}

func startAppProcess(t testing.TB, env ...string) *appProcess {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "PORT="+port)
	cmd.Env = append(cmd.Env, env...)
	p := &appProcess{cmd: cmd, URL: "http://127.0.0.1:" + port, Host: "127.0.0.1:" + port,
		out: &localdeps.Buffer{}, stdout: &localdeps.Buffer{}, stderr: &localdeps.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(p.out, p.stdout), io.MultiWriter(p.out, p.stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.done <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	})
	return p
}

// waitServing returns once the app answers /healthz, which it does before its stores answer.
func (p *appProcess) waitServing(t testing.TB) {
	t.Helper()
	p.waitAnswer(t, "/healthz", 0, 15*time.Second)
}

// waitAnswer polls path until it answers with status want (0: any status) and returns the
// body; it fails the test if the app exits or limit passes first.
func (p *appProcess) waitAnswer(t testing.TB, path string, want int, limit time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("app exited while waiting for %s: %v\n%s", path, err, p.out)
		default:
		}
		if resp, err := http.Get(p.URL + path); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				return body
			}
			last = fmt.Sprintf("%s %s", resp.Status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within %v (last: %s)\n%s", path, want, limit, last, p.out)
	return nil
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func TestSIGTERMClosesWebSocketsWith1001AndExitsInTime(t *testing.T) {
	t.Parallel()
	p := startAppProcess(t, "INSTANCE_ID=i-sig", "COOKIE_SECURE=false")
	p.waitServing(t)
	if !strings.Contains(p.out.String(), "in-memory stores") {
		t.Fatalf("memory mode not logged:\n%s", p.out)
	}
	b := newBrowser(t)
	b.mustDo("POST", p.URL+"/api/login", `{"user":"alice"}`, nil)
	in := &instanceUnderTest{URL: p.URL, Host: p.Host}
	var sockets []*websocket.Conn
	for range 3 {
		ws := b.dialWS(in)
		if m, err := readWS(t, ws, 5*time.Second); err != nil || m.Instance != "i-sig" {
			t.Fatalf("hello: %+v %v", m, err)
		}
		sockets = append(sockets, ws)
	}

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, ws := range sockets {
		_, err := readWS(t, ws, 5*time.Second)
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Fatalf("socket closed with %v (%v), want 1001", code, err)
		}
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM (Cloud Run would SIGKILL it)\n%s", p.out)
	}
	t.Logf("SIGTERM to exit: %v", time.Since(sent))
	if !strings.Contains(p.out.String(), `"message":"stopped"`) {
		t.Fatalf("no shutdown log:\n%s", p.out)
	}
}

func TestBadEnvironmentStopsStartupNamingTheVariable(t *testing.T) {
	t.Parallel()
	p := startAppProcess(t, "SESSION_TTL=forever", "CACHE_SIZE=-5")
	select {
	case err := <-p.done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want status 2\n%s", err, p.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("app started with a bad environment")
	}
	out := p.out.String()
	if !strings.Contains(out, "SESSION_TTL") || !strings.Contains(out, "CACHE_SIZE") ||
		!strings.Contains(out, `"severity":"ERROR"`) {
		t.Fatalf("log does not name the variables:\n%s", out)
	}
}

// Log lines are one JSON object each, in Cloud Logging's shape, with the request's trace.
func TestLogsCarryTheCloudTrace(t *testing.T) {
	t.Parallel()
	p := startAppProcess(t, "INSTANCE_ID=i-log", "GOOGLE_CLOUD_PROJECT=proj")
	p.waitServing(t)
	// A report abandoned by its client fails on the server, which logs it with the trace.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	b := newBrowser(t)
	b.mustDo("POST", p.URL+"/api/login", `{"user":"alice"}`, nil)
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+"/api/report?q=slow", nil)
	req.Header.Set("X-Cloud-Trace-Context", "0123456789abcdef0123456789abcdef/42;o=1")
	if resp, err := b.http.Do(req); err == nil {
		resp.Body.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out.String(), `"logging.googleapis.com/trace":"projects/proj/traces/0123456789abcdef0123456789abcdef"`) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"severity":`) || !strings.Contains(line, `"message":`) {
			t.Errorf("not a Cloud Logging JSON line: %s", line)
		}
		if strings.Contains(line, `"logging.googleapis.com/trace":"projects/proj/traces/0123456789abcdef0123456789abcdef"`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no log line with the trace:\n%s", p.out)
	}
}
