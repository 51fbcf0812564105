// Package telemetry provides authsvc's OpenTelemetry tracing: a tracer provider
// configured by the standard OTEL_* environment variables and off unless they
// ask for an exporter; the W3C trace-context propagation that continues a care
// platform's trace; the instrumentation of the gRPC server, the HTTP pages, the
// outgoing webhooks and Redis built on them; and a log/slog handler that stamps
// log lines with the trace and span id.
//
// Its contract is that no personal data leaves in a span. The instrumentation
// is configured not to record it (page routes instead of paths, Redis commands
// without keys or arguments), and every exported span passes an allow-list
// (redact.go): attributes and event attributes not on it, and status
// descriptions, are dropped before the exporter sees them. A new attribute is
// exported only once it is added to that list, after checking that it can
// carry no handle, contact, code, token, customer id or message text.
//
// Exporting never holds up a request: spans are queued (bounded, dropped when
// full) and sent in batches by a background goroutine; a bad or unreachable
// collector costs a warning in the log and a count in
// authsvc_tracing_errors_total.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of the spans unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES names another.
const ServiceName = "authsvc"

// scope is the instrumentation scope of the spans this package starts itself
// (the Redis commands).
const scope = "github.com/authsvc/authsvc/internal/telemetry"

// Config configures New.
type Config struct {
	// Version is the service.version of the spans.
	Version string
	// Exporter, when set, receives the spans instead of the exporter the
	// environment names, and tracing is on whatever the environment says.
	// Tests use it to see what would be exported.
	Exporter sdktrace.SpanExporter
}

// Tracing is the service's tracing: when on, an SDK tracer provider with a
// batch span processor in front of the exporter; when off, nothing, and every
// method that instruments returns what it was given. Its methods are safe for
// concurrent use.
type Tracing struct {
	provider   *sdktrace.TracerProvider // nil when off
	propagator propagation.TextMapPropagator
	exporter   string
}

// New builds the tracing the process environment asks for: the OTEL_*
// variables are read from it, by New and by the SDK itself (endpoint, headers,
// timeout, batch sizes, sampler, resource), as every OpenTelemetry SDK does.
// Tracing is on when
// OTEL_TRACES_EXPORTER is "otlp", or is unset while an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set;
// it is off when OTEL_SDK_DISABLED is "true", OTEL_TRACES_EXPORTER is "none",
// or nothing is set. The OTLP protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (the default), "http/json" or
// "grpc". Any
// other exporter or protocol is an error naming the variable.
//
// When on, New points the OpenTelemetry SDK's global error handler and logger
// at log (one process, one SDK: the last New wins) and counts the errors the
// SDK reports, failed exports above all, in authsvc_tracing_errors_total,
// registered with reg. Nothing is sent until a span ends; the exporter
// connects lazily.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Tracing, error) {
	t := &Tracing{propagator: propagation.TraceContext{}}
	exp := cfg.Exporter
	if exp == nil {
		name, protocol, err := exporterFromEnv(os.Getenv)
		if err != nil || name == "" {
			return t, err
		}
		if protocol == "grpc" {
			exp, err = otlptracegrpc.New(ctx)
		} else { // the HTTP exporter reads its encoding from the same variables
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		t.exporter = name + " " + protocol
	} else {
		t.exporter = "custom"
	}

	errs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authsvc_tracing_errors_total",
		Help: "Errors the OpenTelemetry SDK reported, such as a batch of spans the collector did not take. Requests are not affected.",
	})
	if err := reg.Register(errs); err != nil {
		return nil, fmt.Errorf("register tracing metrics: %w", err)
	}
	otel.SetLogger(logr.FromSlogHandler(log.Handler()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		errs.Inc()
		log.Warn("tracing: span export failed; requests are not affected", "err", err)
	}))

	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName), attribute.String("service.version", cfg.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	// The batch span processor queues ended spans (OTEL_BSP_MAX_QUEUE_SIZE, 2048)
	// and drops them when the queue is full rather than wait: a slow or
	// unreachable collector never holds up a request.
	t.provider = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(redactingExporter{next: exp}),
	)
	return t, nil
}

// CheckEnv reports what New would refuse in the process environment's OTEL_*
// variables: an exporter or OTLP protocol it does not support.
func CheckEnv() error {
	_, _, err := exporterFromEnv(os.Getenv)
	return err
}

// exporterFromEnv returns the exporter and OTLP protocol the environment asks
// for: "otlp" and "http/protobuf", "http/json" or "grpc", or "" when tracing is
// off.
func exporterFromEnv(getenv func(string) string) (name, protocol string, err error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", "", nil
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); v {
	case "none":
		return "", "", nil
	case "otlp":
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return "", "", nil
		}
	default:
		return "", "", fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported: want otlp or none", v)
	}
	protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	variable := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	if protocol == "" {
		protocol, variable = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL")), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	switch protocol {
	case "":
		protocol = "http/protobuf"
	case "http/protobuf", "http/json", "grpc":
	default:
		return "", "", fmt.Errorf("%s: %q is not supported: want http/protobuf, http/json or grpc", variable, protocol)
	}
	return "otlp", protocol, nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.provider != nil }

// Exporter names the exporter in use ("otlp http/protobuf", "otlp grpc", …,
// "custom"), or "" when tracing is off: for the start-up log line.
func (t *Tracing) Exporter() string { return t.exporter }

// tracerProvider returns the provider to instrument with; only called when on.
func (t *Tracing) tracerProvider() trace.TracerProvider { return t.provider }

// Shutdown exports the spans still queued and stops the exporter, within ctx.
// It is a no-op when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
