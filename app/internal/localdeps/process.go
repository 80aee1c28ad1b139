// Package localdeps starts real backing services on loopback, shaped like the cloud ones the
// app uses: Redis with TLS and AUTH (like Memorystore) and the official Firestore emulator.
// It is used by the app's tests and by the affinity lab, so it takes no *testing.T.
package localdeps

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// FreePort asks the kernel for a free loopback TCP port. Another process may take it before
// the server binds; callers retry on a bind failure.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a server started in its own process group, so Stop ends it and every child it
// spawned (the emulator's JVM threads, for one) without touching anything else.
type process struct {
	cmd    *exec.Cmd
	output *Buffer
	done   chan struct{}
	once   sync.Once
}

func startProcess(name string, args ...string) (*process, error) {
	cmd := exec.Command(name, args...)
	out := &Buffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	// Own process group: Stop kills the group. Pdeathsig: the server dies with its parent even
	// when the parent is killed before it can call Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop kills the whole process group and waits for the leader to be reaped.
func (p *process) stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	})
}

// tail returns the last part of the server's output, for error messages.
func (p *process) tail() string {
	s := p.output.String()
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// Buffer collects what a child process or code under test writes, from any goroutine. It
// keeps at most about 1 MiB: a chatty server must not grow it forever.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Bound memory: a chatty server must not grow this forever.
	if b.buf.Len() > 1<<20 {
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

// String is what was written (since the last reset at 1 MiB).
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func errMissing(what, install string, err error) error {
	return fmt.Errorf("%s not found (%v): install it with: %s", what, err, install)
}
