package telemetry

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"
)

// GRPCServerHandler returns the stats handler that gives every gRPC call a
// server span, continuing the caller's trace from its traceparent metadata
// (W3C trace context; baggage is not read). Health checks and reflection are
// not traced: probes would drown the rest. Messages are never recorded. It
// returns nil when tracing is off.
func (t *Tracing) GRPCServerHandler() stats.Handler {
	if !t.Enabled() {
		return nil
	}
	return otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.tracerProvider()),
		otelgrpc.WithPropagators(t.propagator),
		otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
			return !strings.HasPrefix(info.FullMethodName, "/grpc.health.") &&
				!strings.HasPrefix(info.FullMethodName, "/grpc.reflection.")
		}),
	)
}

// HTTPHandler returns h with a server span per request. The pages are public:
// a traceparent a browser sends is linked, not continued. The span is named
// for the method and the route pattern ("GET /v/{token}") and carries the
// route as http.route, never the path, which holds the page token; the
// customer's address and user agent are not exported (see redact.go).
// /healthz and /readyz are not traced. It returns h when tracing is off.
func (t *Tracing) HTTPHandler(h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(routed(h), "http",
		otelhttp.WithTracerProvider(t.tracerProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if route := routeOf(r.Pattern); route != "" {
				return methodOf(r) + " " + route
			}
			return methodOf(r)
		}),
		otelhttp.WithFilter(func(r *http.Request) bool {
			return !strings.HasSuffix(r.URL.Path, "/healthz") && !strings.HasSuffix(r.URL.Path, "/readyz")
		}),
	)
}

// routed sets http.route on the request's span once h has routed it: the
// ServeMux records the pattern it matched in the request.
func routed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if route := routeOf(r.Pattern); route != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
		}
	})
}

// routeOf returns the path template of a ServeMux pattern ("GET /v/{token}" →
// "/v/{token}").
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // a host in the pattern
	}
	return pattern
}

// methodOf returns the request method when it is a standard one, else "HTTP":
// a method is free text from the client.
func methodOf(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return r.Method
	}
	return "HTTP"
}

// HTTPTransport returns rt (http.DefaultTransport when nil) with a client span
// per request, named for the method, and the trace context sent on in a
// traceparent header. The URL is not exported (a webhook URL may carry a
// credential); server.address names the host. It returns rt when tracing is
// off.
func (t *Tracing) HTTPTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !t.Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.tracerProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return methodOf(r) }),
	)
}
