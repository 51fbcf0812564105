package telemetry

import (
	"context"
	"crypto/sha1" // Redis names a script by its SHA-1; nothing is secured by it here.
	"encoding/hex"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentRedis adds a span for every Redis command and pipeline that rdb
// runs on behalf of a traced request: the span is a child of the request's,
// named for the command ("EVALSHA") and carrying its name, the script's SHA-1
// for EVAL and EVALSHA, and a pipeline's size, never a key or an argument
// (those hold hash tags of identities, codes' MACs and record fields).
// Commands run outside a traced request (the clock's TIME, a start-up PING)
// start no trace of their own. It does nothing when tracing is off.
//
// A script runs as one command, so its span is the span of one decision. The
// span's status is an error for a failed command (not for redis.Nil), with
// error.type the Redis error prefix ("NOSCRIPT", "ERR"), "timeout" or
// "_OTHER", never the error text.
func (t *Tracing) InstrumentRedis(rdb redis.UniversalClient) {
	if !t.Enabled() {
		return
	}
	rdb.AddHook(redisHook{tracer: t.tracerProvider().Tracer(scope)})
}

// redisHook is the go-redis hook InstrumentRedis adds.
type redisHook struct {
	tracer trace.Tracer
}

var redisSystem = attribute.String("db.system.name", "redis")

func (redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmd)
		}
		op := strings.ToUpper(cmd.Name())
		attrs := []attribute.KeyValue{redisSystem, attribute.String("db.operation.name", op)}
		if sha := scriptSHA(cmd); sha != "" {
			attrs = append(attrs, attribute.String("db.redis.script.sha1", sha))
		}
		ctx, span := h.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		defer span.End()
		err := next(ctx, cmd)
		recordRedisError(span, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmds)
		}
		name := "PIPELINE"
		attrs := []attribute.KeyValue{redisSystem, attribute.Int("db.operation.batch.size", len(cmds))}
		if op := commonName(cmds); op != "" {
			name += " " + op
			attrs = append(attrs, attribute.String("db.operation.name", op))
		}
		ctx, span := h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		defer span.End()
		err := next(ctx, cmds)
		recordRedisError(span, err)
		return err
	}
}

// scriptSHA returns the SHA-1 of the script an EVAL or EVALSHA runs, "" for
// any other command.
func scriptSHA(cmd redis.Cmder) string {
	args := cmd.Args()
	if len(args) < 2 {
		return ""
	}
	switch cmd.Name() {
	case "evalsha", "evalsha_ro":
		if s, ok := args[1].(string); ok && len(s) == 40 {
			return strings.ToLower(s)
		}
	case "eval", "eval_ro":
		if s, ok := args[1].(string); ok {
			sum := sha1.Sum([]byte(s))
			return hex.EncodeToString(sum[:])
		}
	}
	return ""
}

// commonName is the upper-cased command name every command of a pipeline
// shares (MULTI and EXEC aside), or "".
func commonName(cmds []redis.Cmder) string {
	var op string
	for _, c := range cmds {
		switch n := c.Name(); {
		case n == "multi" || n == "exec":
		case op == "":
			op = n
		case n != op:
			return ""
		}
	}
	return strings.ToUpper(op)
}

func recordRedisError(span trace.Span, err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	span.SetStatus(codes.Error, "")
	span.SetAttributes(attribute.String("error.type", redisErrorType(err)))
}

// redisErrorType classifies err without its text.
func redisErrorType(err error) string {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		prefix, _, _ := strings.Cut(rerr.Error(), " ")
		if prefix != "" && len(prefix) <= 24 && strings.Trim(prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
			return prefix
		}
		return "_OTHER"
	}
	var nerr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return "timeout"
	}
	return "_OTHER"
}
