package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// On Cloud Run, Direct VPC egress can take a minute to connect after the instance starts. The
// app must not exit meanwhile (a crash loop): it serves /healthz at once, refuses what needs
// Redis with 503, and /startupz turns 200 when Redis answers, without a restart.
func TestUnreachableRedisAtStartKeepsTheInstanceUpUntilItAnswers(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	r.Stop()
	p := startAppProcess(t, "INSTANCE_ID=i-late", "COOKIE_SECURE=false",
		"REDIS_ADDR="+r.Addr, "REDIS_PASSWORD="+r.Password, "REDIS_TLS_CA="+r.CAPEM)
	p.waitServing(t)

	if code, body := request(t, "GET", p.URL+"/healthz", nil); code != 200 {
		t.Fatalf("healthz with Redis down: %d %s", code, body)
	}
	if code, body := request(t, "GET", p.URL+"/startupz", nil); code != 503 || !strings.Contains(jsonError(t, body), "redis") {
		t.Fatalf("startupz with Redis down: %d %s, want 503 naming redis", code, body)
	}
	// What needs Redis says so, and nothing is half done.
	login := map[string]string{"Content-Type": "application/json"}
	if code, body := requestBody(t, "POST", p.URL+"/api/login", `{"user":"alice"}`, login); code != 503 || jsonError(t, body) == "" {
		t.Fatalf("login with Redis down: %d %s, want 503 with a reason", code, body)
	}
	ws := map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Cookie": "sid=planted"}
	if code, body := request(t, "GET", p.URL+"/ws", ws); code != 503 || jsonError(t, body) == "" {
		t.Fatalf("WebSocket with Redis down: %d %s, want 503 with a reason", code, body)
	}

	if err := r.Restart(testenv.Context(t)); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	p.waitAnswer(t, "/startupz", 200, 20*time.Second)
	t.Logf("/startupz 200 %v after Redis came up", time.Since(started))
	b := newBrowser(t)
	b.mustDo("POST", p.URL+"/api/login", `{"user":"alice"}`, nil)
	if m, err := readWS(t, b.dialWS(&instanceUnderTest{URL: p.URL, Host: p.Host}), 5*time.Second); err != nil || m.Type != "hello" {
		t.Fatalf("WebSocket after Redis came up: %+v %v", m, err)
	}
	if !strings.Contains(p.out.String(), `"severity":"WARNING","message":"redis not answering yet; retrying"`) {
		t.Fatalf("no warning while Redis was down:\n%s", p.out)
	}
}

// A password Redis refuses does not get better by waiting: exit, naming the variable to fix.
func TestWrongRedisPasswordStopsTheProcessNamingIt(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	p := startAppProcess(t, "REDIS_ADDR="+r.Addr, "REDIS_PASSWORD=wrong", "REDIS_TLS_CA="+r.CAPEM)
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
			t.Fatalf("exit %v, want a non-zero status\n%s", err, p.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after Redis refused the password\n%s", p.out)
	}
	if out := p.out.String(); !strings.Contains(out, `"severity":"ERROR","message":"cannot start: redis at`) ||
		!strings.Contains(out, "REDIS_PASSWORD") {
		t.Fatalf("the exit does not name REDIS_PASSWORD:\n%s", out)
	}
}

// Cloud Logging files a plain line as text without a severity: everything the process
// writes, go-redis's own complaints included, must be one JSON object per line.
func TestEveryLogLineIsCloudLoggingJSONWhileRedisIsUnreachable(t *testing.T) {
	t.Parallel()
	p := startAppProcess(t, "INSTANCE_ID=i-json", "REDIS_ADDR=127.0.0.1:"+freePort(t))
	p.waitServing(t)
	const dialFailure = "redis: connection pool: failed to dial"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.out.String(), dialFailure) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // a few more retries, whatever they print
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done: // all output is in
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM\n%s", p.out)
	}
	dialLogged := false
	for name, out := range map[string]string{"stdout": p.stdout.String(), "stderr": p.stderr.String()} {
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var line map[string]any
			err := json.Unmarshal(sc.Bytes(), &line)
			severity, _ := line["severity"].(string)
			message, _ := line["message"].(string)
			if err != nil || severity == "" || message == "" {
				t.Errorf("%s: not one JSON object with severity and message: %s", name, sc.Text())
				continue
			}
			if strings.Contains(message, dialFailure) {
				dialLogged = severity == "WARNING" || dialLogged
			}
		}
	}
	if !dialLogged {
		t.Fatalf("no WARNING line with go-redis's %q:\n%s", dialFailure, p.out)
	}
}

func request(t *testing.T, method, url string, headers map[string]string) (int, []byte) {
	t.Helper()
	return requestBody(t, method, url, "", headers)
}

func requestBody(t *testing.T, method, url, body string, headers map[string]string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// jsonError is the "error" of a JSON error body, or "" when the body is not one.
func jsonError(t *testing.T, body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}
