package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exportedKeys are the only span, event and link attributes that are exported.
// Each names a method, a route template, a status, a size, a protocol or a
// server of ours: none can carry a handle, a contact, a code, a token, a
// customer id or message text. Deliberately absent: url.path, url.full and
// url.query (page tokens, webhook credentials), client.address and
// network.peer.* (the customer's IP address on the pages),
// user_agent.original, http.request.method_original (free text from the
// client), db.statement and db.query.text (Redis keys and arguments),
// exception.message and exception.stacktrace (error text).
var exportedKeys = map[attribute.Key]bool{
	// gRPC server (otelgrpc; both the current and the rpc/old conventions).
	"rpc.system":               true,
	"rpc.system.name":          true,
	"rpc.service":              true,
	"rpc.method":               true,
	"rpc.grpc.status_code":     true,
	"rpc.response.status_code": true,
	// HTTP server and client (otelhttp) with the route set by HTTPHandler.
	"http.request.method":       true,
	"http.response.status_code": true,
	"http.route":                true,
	"http.request.body.size":    true,
	"http.response.body.size":   true,
	"url.scheme":                true,
	"network.protocol.name":     true,
	"network.protocol.version":  true,
	"error.type":                true,
	// Where a span's server listens or is reached: authsvc's own listeners,
	// the webhook host, Redis.
	"server.address": true,
	"server.port":    true,
	// Redis (redis.go).
	"db.system.name":          true,
	"db.operation.name":       true,
	"db.operation.batch.size": true,
	"db.redis.script.sha1":    true,
	// Events: exceptions by type only.
	"exception.type": true,
}

// redactingExporter hands next the spans with only exportedKeys attributes on
// the span, its events and its links, and no status description (a gRPC or
// Redis error message).
type redactingExporter struct {
	next sdktrace.SpanExporter
}

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactedSpan{s}
	}
	return e.next.ExportSpans(ctx, out)
}

func (e redactingExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

// redactedSpan is a span as exported: every other method is the span's own.
type redactedSpan struct {
	sdktrace.ReadOnlySpan
}

func (s redactedSpan) Attributes() []attribute.KeyValue { return keep(s.ReadOnlySpan.Attributes()) }

func (s redactedSpan) Events() []sdktrace.Event {
	events := s.ReadOnlySpan.Events()
	out := make([]sdktrace.Event, len(events))
	for i, ev := range events {
		ev.Attributes = keep(ev.Attributes)
		out[i] = ev
	}
	return out
}

func (s redactedSpan) Links() []sdktrace.Link {
	links := s.ReadOnlySpan.Links()
	out := make([]sdktrace.Link, len(links))
	for i, l := range links {
		l.Attributes = keep(l.Attributes)
		out[i] = l
	}
	return out
}

func (s redactedSpan) Status() sdktrace.Status {
	return sdktrace.Status{Code: s.ReadOnlySpan.Status().Code}
}

// keep returns the attributes whose keys are in exportedKeys.
func keep(attrs []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		if exportedKeys[a.Key] {
			out = append(out, a)
		}
	}
	return out
}
