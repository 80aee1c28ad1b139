package telemetry

import (
	"context"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Redis adds a client span for each command (and pipeline) the client sends inside a traced
// request, a child of the request's span; the commands' arguments (session tokens and data) are
// not recorded. Commands outside a traced request (nine in ten requests, the background
// retries, the pub/sub subscription) cost one check and no span: redisotel would start a span,
// and allocate its attributes, for every command, and root one for every background command.
func (t *Telemetry) Redis(client *redis.Client) {
	if t.sdkTracers == nil {
		return
	}
	host, portText, _ := net.SplitHostPort(client.Options().Addr)
	port, _ := strconv.Atoi(portText)
	client.AddHook(redisHook{
		tracer: t.sdkTracers.Tracer(instrumentationScope),
		opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("db.system.name", "redis"),
			attribute.String("server.address", host),
			attribute.Int("server.port", port))},
	})
}

type redisHook struct {
	tracer trace.Tracer
	opts   []trace.SpanStartOption
}

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmd)
		}
		ctx, span := h.tracer.Start(ctx, "redis "+cmd.FullName(), h.opts...)
		defer span.End()
		return ended(span, next(ctx, cmd))
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmds)
		}
		ctx, span := h.tracer.Start(ctx, "redis pipeline", h.opts...)
		span.SetAttributes(attribute.Int("db.operation.batch.size", len(cmds)))
		defer span.End()
		return ended(span, next(ctx, cmds))
	}
}

// ended marks span failed when err is an error (a missing key, redis.Nil, is an answer).
func ended(span trace.Span, err error) error {
	if err != nil && err != redis.Nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
