package localdeps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// FirestoreEmulatorJar is where the Debian google-cloud-sdk package puts the official emulator.
// The environment variable FIRESTORE_EMULATOR_JAR names another place.
const FirestoreEmulatorJar = "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"

const firestoreInstall = "apt-get install google-cloud-cli-firestore-emulator (Google Cloud CLI apt repository; the jar lands at " +
	FirestoreEmulatorJar + "), or set FIRESTORE_EMULATOR_JAR to the jar"

// firestoreEmulatorJar is the jar to run: FIRESTORE_EMULATOR_JAR when set, else the package's place.
func firestoreEmulatorJar() string {
	if jar := os.Getenv("FIRESTORE_EMULATOR_JAR"); jar != "" {
		return jar
	}
	return FirestoreEmulatorJar
}

// Firestore is the official Firestore emulator running as a JVM in its own process group.
// Point clients at it with FIRESTORE_EMULATOR_HOST=Host and project Project.
type Firestore struct {
	Host    string // 127.0.0.1:PORT
	Project string
	proc    *process
}

// StartFirestore starts the emulator on a free loopback port and returns once it answers HTTP.
func StartFirestore(ctx context.Context) (*Firestore, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errMissing("java", "apt-get install default-jre-headless", err)
	}
	jar := firestoreEmulatorJar()
	if _, err := os.Stat(jar); err != nil {
		return nil, errMissing("Firestore emulator", firestoreInstall, err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		// C1 only (TieredStopAtLevel=1): the JVM starts in half the time and CPU, and for the
		// short lives of tests and lab runs C2's compiling costs more than it gains (the cart
		// write benchmark runs faster without it on 2 cores).
		p, err := startProcess(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", jar,
			"com.google.cloud.datastore.emulator.firestore.CloudFirestore", "start",
			"--host=127.0.0.1", "--port="+strconv.Itoa(port))
		if err != nil {
			return nil, errMissing("java", "apt-get install default-jre-headless", err)
		}
		f := &Firestore{Host: "127.0.0.1:" + strconv.Itoa(port), Project: "demo-local", proc: p}
		lastErr = f.waitReady(ctx)
		if lastErr == nil {
			return f, nil
		}
		p.stop()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("firestore emulator did not become ready: %w", lastErr)
}

func (f *Firestore) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if f.proc.exited() {
			return fmt.Errorf("emulator exited: %s", f.proc.tail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.Host+"/", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET / answered %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err, errors.New(f.proc.tail()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reset deletes every document of the given database (e.g. "(default)" or a named one).
func (f *Firestore) Reset(ctx context.Context, database string) error {
	url := fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/%s/documents", f.Host, f.Project, database)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset firestore emulator: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset firestore emulator: DELETE %s: %s %s", url, resp.Status, body)
	}
	return nil
}

// Stop kills the emulator's process group. Safe to call more than once.
func (f *Firestore) Stop() {
	if f != nil && f.proc != nil {
		f.proc.stop()
	}
}
