package liblog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"google.golang.org/grpc/grpclog"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/liblog"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/logging"
)

// What the standard log package, go-redis and gRPC log comes out as the app's JSON lines,
// with a severity that says how bad it is. (Route is process-wide: this package tests only it.)
func TestLibrariesLogThroughTheAppsHandler(t *testing.T) {
	var out localdeps.Buffer
	liblog.Route(logging.New(&out, slog.LevelInfo))

	log.Printf("std %s", "line")
	grpclog.Warningf("grpc %s", "warning")
	grpclog.Errorln("grpc", "error")
	grpclog.Info("grpc info, hidden at INFO")
	otel.Handle(errors.New("export failed"))
	port, err := localdeps.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.Ping(ctx).Err() == nil {
		t.Fatal("PING to a closed port succeeded")
	}

	want := map[string]string{ // message prefix -> severity
		"std line":                               "WARNING",
		"grpc warning":                           "WARNING",
		"grpc error":                             "ERROR",
		"redis: connection pool: failed to dial": "WARNING",
		"opentelemetry: export failed":           "WARNING",
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var line struct{ Severity, Message string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Severity == "" || line.Message == "" {
			t.Errorf("not a Cloud Logging JSON line: %q", sc.Text())
			continue
		}
		if strings.Contains(line.Message, "hidden") {
			t.Errorf("gRPC info line written at INFO: %s", sc.Text())
		}
		for prefix, severity := range want {
			if strings.HasPrefix(line.Message, prefix) {
				if line.Severity != severity {
					t.Errorf("%q logged at %s, want %s", line.Message, line.Severity, severity)
				}
				delete(want, prefix)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("missing %v in:\n%s", want, out.String())
	}
}
