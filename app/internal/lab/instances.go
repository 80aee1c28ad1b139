package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
)

// AppPackage is the import path of the app that the lab runs.
const AppPackage = "github.com/cloudrun-affinity/cloudrun-affinity/app"

// BuildApp compiles the app once into dir and returns the binary's path. It must run inside
// the module (go resolves AppPackage from the working directory's go.mod).
func BuildApp(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, AppPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s (run the lab from inside the repository): %v\n%s", AppPackage, err, out)
	}
	return bin, nil
}

// Backing is what every instance of a region shares: Redis like Memorystore, Firestore, and
// the app's tuning.
type Backing struct {
	RedisAddr, RedisPassword, RedisCAPEM string
	Project, Database, EmulatorHost      string
	SlowBackendDelay                     time.Duration
	CacheSize                            int
	SessionsFirestore                    bool // SESSIONS_FIRESTORE, as multi-region stacks set it
}

// Instance is one app process, like one Cloud Run instance.
type Instance struct {
	ID   string
	URL  *url.URL
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// StartInstance runs the app binary on a free loopback port and returns once /readyz says 200.
func StartInstance(ctx context.Context, bin, id string, b Backing, logDir string) (*Instance, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the app binds it
		inst, err := startOnce(ctx, bin, id, b, logDir)
		if err == nil {
			return inst, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, bin, id string, b Backing, logDir string) (*Instance, error) {
	port, err := localdeps.FreePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, id+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"INSTANCE_ID="+id,
		"PORT="+strconv.Itoa(port),
		"COOKIE_SECURE=false",
		"REDIS_ADDR="+b.RedisAddr,
		"REDIS_PASSWORD="+b.RedisPassword,
		"REDIS_TLS_CA="+b.RedisCAPEM,
		"GOOGLE_CLOUD_PROJECT="+b.Project,
		"FIRESTORE_DATABASE="+b.Database,
		"FIRESTORE_EMULATOR_HOST="+b.EmulatorHost,
		"SLOW_BACKEND_DELAY="+b.SlowBackendDelay.String(),
		"CACHE_SIZE="+strconv.Itoa(b.CacheSize),
		"SESSIONS_FIRESTORE="+strconv.FormatBool(b.SessionsFirestore),
		// Fixed so that the caller's environment cannot change a run: nothing expires within one.
		"CACHE_TTL=15m",
		"SESSION_TTL=1h",
		// Metrics as JSON lines in the log: the flush at shutdown holds the instance's totals,
		// which Figures reads back. No spans: they would only fill the log.
		"OTEL_EXPORTER=stdout",
		"OTEL_TRACES_SAMPLER_ARG=0",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group so a signal reaches only this instance; Pdeathsig so that it dies
	// with the lab even if the lab is killed before it can clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	inst := &Instance{ID: id, URL: &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)},
		cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		close(inst.done)
	}()
	if err := inst.waitReady(ctx, 20*time.Second); err != nil {
		inst.Kill()
		return nil, fmt.Errorf("instance %s: %w\n%s", id, err, inst.LogTail())
	}
	return inst, nil
}

func (i *Instance) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		select {
		case <-i.done:
			return fmt.Errorf("exited before it was ready (%v)", i.cmd.ProcessState)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, i.URL.String()+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s %s", resp.Status, body)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", errors.Join(ctx.Err(), last))
		case <-i.done:
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Terminate does what Cloud Run does on scale-in: SIGTERM, then SIGKILL after grace.
// It reports whether the process ended by itself within grace.
func (i *Instance) Terminate(grace time.Duration) bool {
	_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-i.done:
		return true
	case <-time.After(grace):
		i.Kill()
		return false
	}
}

// Kill ends the instance's process group at once and waits for it.
func (i *Instance) Kill() {
	_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-i.done:
	case <-time.After(5 * time.Second):
	}
}

// Done is closed when the process has exited.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Figures are what the instance's own instruments counted, from the last metric export in its
// log: once the process has exited, the one its shutdown flushed. ok is false when there is
// none (it was killed, or has not exported yet).
func (i *Instance) Figures() (f telemetry.Figures, ok bool, err error) {
	file, err := os.Open(i.log)
	if err != nil {
		return telemetry.Figures{}, false, err
	}
	defer file.Close()
	return telemetry.LastStdoutExport(file)
}

// LogTail returns the end of the instance's log, for error messages.
func (i *Instance) LogTail() string {
	data, _ := os.ReadFile(i.log)
	s := strings.TrimSpace(string(data))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
