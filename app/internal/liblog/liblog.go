// Package liblog sends what libraries log on their own (the standard library's log package,
// go-redis, gRPC under the Firestore client, OpenTelemetry's exporters) through the app's slog
// logger, so that every line
// the process writes is Cloud Logging JSON with a severity, not plain text on stderr.
package liblog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"google.golang.org/grpc/grpclog"
)

// Route makes l the destination of the standard log package (at WARNING: a library that logs
// without a level is usually complaining), of go-redis (WARNING: it logs failed dials and
// broken connections), of gRPC (its own levels) and of OpenTelemetry (errors, such as a failed
// export, at WARNING). gRPC requires this before any gRPC call,
// so call it first thing in main. It changes process-wide state.
func Route(l *slog.Logger) {
	slog.SetDefault(l)
	slog.SetLogLoggerLevel(slog.LevelWarn)
	redis.SetLogger(redisLogger{l.With("library", "go-redis")})
	grpclog.SetLoggerV2(grpcLogger{l.With("library", "grpc")})
	// OpenTelemetry reports failed exports through its error handler, which would otherwise
	// print to stderr with a logger of its own.
	otelLog := l.With("library", "opentelemetry")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { otelLog.Warn("opentelemetry: " + err.Error()) }))
	otel.SetLogger(logr.FromSlogHandler(otelLog.Handler()))
}

// redisLogger is go-redis's logging interface over slog.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// grpcLogger is grpclog.LoggerV2 over slog. gRPC's default prints only errors; its info
// lines (connection state changes) go to DEBUG, so they show only when the app logs at that
// level, and verbose logging (V) stays off.
type grpcLogger struct{ l *slog.Logger }

const grpcInfo, grpcWarn, grpcError = slog.LevelDebug, slog.LevelWarn, slog.LevelError

func (g grpcLogger) Info(a ...any)                    { g.out(grpcInfo, fmt.Sprint, a) }
func (g grpcLogger) Infoln(a ...any)                  { g.out(grpcInfo, sprintln, a) }
func (g grpcLogger) Infof(format string, a ...any)    { g.out(grpcInfo, sprintf(format), a) }
func (g grpcLogger) Warning(a ...any)                 { g.out(grpcWarn, fmt.Sprint, a) }
func (g grpcLogger) Warningln(a ...any)               { g.out(grpcWarn, sprintln, a) }
func (g grpcLogger) Warningf(format string, a ...any) { g.out(grpcWarn, sprintf(format), a) }
func (g grpcLogger) Error(a ...any)                   { g.out(grpcError, fmt.Sprint, a) }
func (g grpcLogger) Errorln(a ...any)                 { g.out(grpcError, sprintln, a) }
func (g grpcLogger) Errorf(format string, a ...any)   { g.out(grpcError, sprintf(format), a) }
func (g grpcLogger) V(level int) bool                 { return level <= 0 }

// Fatal and its variants log and exit, as grpclog.LoggerV2 requires.
func (g grpcLogger) Fatal(a ...any)                 { g.out(grpcError, fmt.Sprint, a); os.Exit(1) }
func (g grpcLogger) Fatalln(a ...any)               { g.out(grpcError, sprintln, a); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, a ...any) { g.out(grpcError, sprintf(format), a); os.Exit(1) }

// out formats only what the logger will write: gRPC's info lines are many.
func (g grpcLogger) out(level slog.Level, sprint func(...any) string, a []any) {
	if ctx := context.Background(); g.l.Enabled(ctx, level) {
		g.l.Log(ctx, level, sprint(a...))
	}
}

func sprintf(format string) func(...any) string {
	return func(a ...any) string { return fmt.Sprintf(format, a...) }
}

// sprintln is fmt.Sprintln without the newline, which a JSON message does not need.
func sprintln(a ...any) string { return strings.TrimSuffix(fmt.Sprintln(a...), "\n") }
