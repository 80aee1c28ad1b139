package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/config"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/logging"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// runMainEnv makes the test binary act as the app itself, so tests can run it as a real
// process and send it real signals.
const runMainEnv = "APP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	testenv.Main(m)
}

// sharedConfig is an app configuration on real Redis (TLS + AUTH) and a fresh emulator database.
func sharedConfig(t testing.TB, r *localdeps.Redis, f *localdeps.Firestore, id string) config.Config {
	cfg := memoryConfig(id)
	cfg.RedisAddr, cfg.RedisPassword, cfg.RedisTLSCA = r.Addr, r.Password, r.CAPEM
	cfg.Project, cfg.FirestoreDatabase, cfg.FirestoreEmulatorHost = f.Project, testDatabase(t, f), f.Host
	return cfg
}

var databases sync.Map // testing.TB -> database name, so instances of one test share it

func testDatabase(t testing.TB, f *localdeps.Firestore) string {
	if db, ok := databases.Load(t); ok {
		return db.(string)
	}
	db := testenv.Database(t, f)
	databases.Store(t, db)
	return db
}

func memoryConfig(id string) config.Config {
	return config.Config{
		SessionTTL:       time.Hour,
		SlowBackendDelay: 300 * time.Millisecond,
		CacheSize:        1000,
		CacheTTL:         time.Minute,
		InstanceID:       id,
	}
}

// instanceUnderTest is one app instance served by run, as main would, on a loopback port.
type instanceUnderTest struct {
	URL    string
	Host   string
	logs   *localdeps.Buffer
	cancel context.CancelFunc // the SIGTERM of an in-process instance
	done   chan error
}

// startInstance starts an instance and returns once /startupz says 200: like Cloud Run, tests
// send traffic only to an instance that has started. tune adjusts its telemetry.
func startInstance(t testing.TB, cfg config.Config, tune ...func(*telemetry.Options)) *instanceUnderTest {
	t.Helper()
	return startInstanceUntil(t, cfg, "/startupz", tune...)
}

// startInstanceUntil starts an instance and returns once path answers 200.
func startInstanceUntil(t testing.TB, cfg config.Config, path string, tune ...func(*telemetry.Options)) *instanceUnderTest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instanceUnderTest{URL: "http://" + ln.Addr().String(), Host: ln.Addr().String(),
		logs: &localdeps.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- run(ctx, cfg, ln, logging.New(in.logs, slog.LevelInfo), tune...) }()
	t.Cleanup(func() { in.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-in.done:
			ln.Close()
			in.done <- err
			t.Fatalf("instance %s did not start: %v\n%s", cfg.InstanceID, err, in.logs)
		default:
		}
		resp, err := http.Get(in.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: %s not 200 after 15s (%v)\n%s", cfg.InstanceID, path, err, in.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop is SIGTERM for an in-process instance: it returns run's result.
func (in *instanceUnderTest) stop(t testing.TB) error {
	in.cancel()
	select {
	case err := <-in.done:
		in.done <- err // later callers see the same result
		return err
	case <-time.After(10 * time.Second):
		t.Errorf("instance did not stop within Cloud Run's 10s\n%s", in.logs)
		return nil
	}
}

// browser is a client with a cookie jar. Cookies ignore ports, so one browser's session
// cookie goes to every instance on 127.0.0.1, like one site behind a load balancer.
type browser struct {
	t    testing.TB
	http *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, http: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
}

func (b *browser) do(method, url, body string, out any) *http.Response {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	if resp.StatusCode >= 300 {
		b.t.Logf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	return resp
}

func (b *browser) mustDo(method, url, body string, out any) *http.Response {
	b.t.Helper()
	resp := b.do(method, url, body, out)
	if resp.StatusCode >= 300 {
		b.t.Fatalf("%s %s: status %d", method, url, resp.StatusCode)
	}
	return resp
}

func (b *browser) dialWS(in *instanceUnderTest) *websocket.Conn {
	b.t.Helper()
	return b.dialWSAfter(in, "")
}

// dialWSAfter opens a socket the way the page reconnects: naming the instance its previous
// socket was on ("" for none).
func (b *browser) dialWSAfter(in *instanceUnderTest, previous string) *websocket.Conn {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws://" + in.Host + "/ws"
	if previous != "" {
		u += "?previous=" + url.QueryEscape(previous)
	}
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: b.http})
	if err != nil {
		b.t.Fatalf("dial %s/ws: %v", in.URL, err)
	}
	b.t.Cleanup(func() { ws.CloseNow() })
	return ws
}

type wsMessage struct {
	Type     string          `json:"type"`
	Instance string          `json:"instance"`
	Cart     json.RawMessage `json:"cart"`
}

func readWS(t testing.TB, ws *websocket.Conn, timeout time.Duration) (wsMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, data, err := ws.Read(ctx)
	if err != nil {
		return wsMessage{}, err
	}
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return m, nil
}
