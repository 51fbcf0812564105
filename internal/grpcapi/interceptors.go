package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callInfo is what the log line of one call may say besides method, code and
// duration. The observing interceptor puts it in the context first; the auth
// interceptor and the handlers fill it in. It never holds request contents.
type callInfo struct {
	mu             sync.Mutex
	clientID       string
	verificationID string
}

type callInfoKey struct{}

func callInfoFrom(ctx context.Context) *callInfo {
	ci, _ := ctx.Value(callInfoKey{}).(*callInfo)
	return ci
}

func setClientID(ctx context.Context, id string) {
	if ci := callInfoFrom(ctx); ci != nil {
		ci.mu.Lock()
		ci.clientID = id
		ci.mu.Unlock()
	}
}

// setVerificationID records the verification a call is about, for the log line.
// Only an id the domain produced or accepted should be recorded: ids are safe to
// log, arbitrary request text is not.
func setVerificationID(ctx context.Context, id string) {
	if ci := callInfoFrom(ctx); ci != nil && id != "" {
		ci.mu.Lock()
		ci.verificationID = id
		ci.mu.Unlock()
	}
}

// metrics are the RED metrics of the API and the calls the per-client limits
// refused. Labels: the registered full method name (or "other") and the status
// code name; never a client id.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	overloaded *prometheus.CounterVec
	known      map[string]bool // written once in New, before serving
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_grpc_requests_total",
			Help: "gRPC calls handled, by full method name and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authsvc_grpc_request_duration_seconds",
			Help:    "Time to handle a gRPC call (a stream: its whole life), by full method name.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 600, 3600},
		}, []string{"method"}),
		overloaded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_grpc_overloaded_total",
			Help: "gRPC calls refused because their client had too many calls in flight or watches open, or the server too many health watches open, by full method name.",
		}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.overloaded} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("grpcapi: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) label(fullMethod string) string {
	if m.known[fullMethod] {
		return fullMethod
	}
	return "other"
}

// observer logs one line per call and records its metrics. It is the outermost
// interceptor, so it sees authentication failures and recovered panics too.
type observer struct {
	log     *slog.Logger
	metrics *metrics
}

func (o *observer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ci := &callInfo{}
	start := time.Now()
	resp, err := handler(context.WithValue(ctx, callInfoKey{}, ci), req)
	o.done(ctx, info.FullMethod, ci, start, err)
	return resp, err
}

func (o *observer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ci := &callInfo{}
	start := time.Now()
	ctx := context.WithValue(ss.Context(), callInfoKey{}, ci)
	err := handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	o.done(ss.Context(), info.FullMethod, ci, start, err)
	return err
}

func (o *observer) done(ctx context.Context, method string, ci *callInfo, start time.Time, err error) {
	d := time.Since(start)
	code := status.Code(err)
	label := o.metrics.label(method)
	o.metrics.requests.WithLabelValues(label, code.String()).Inc()
	o.metrics.latency.WithLabelValues(label).Observe(d.Seconds())

	ci.mu.Lock()
	attrs := []slog.Attr{
		slog.String("method", label), slog.String("code", code.String()), slog.Duration("duration", d),
	}
	if ci.clientID != "" {
		attrs = append(attrs, slog.String("client_id", ci.clientID))
	}
	if ci.verificationID != "" {
		attrs = append(attrs, slog.String("verification_id", ci.verificationID))
	}
	ci.mu.Unlock()
	level := slog.LevelInfo
	var ce *causeError
	if errors.As(err, &ce) && ce.cause != nil {
		// The caller saw only the fixed message; the cause is for operators.
		attrs = append(attrs, slog.String("cause", ce.cause.Error()))
	}
	switch {
	case code == codes.Internal || code == codes.Unknown || code == codes.DataLoss:
		level = slog.LevelError
	case code == codes.Unavailable:
		level = slog.LevelWarn
	case code == codes.OK && exempt(method):
		level = slog.LevelDebug // probes every few seconds
	}
	o.log.LogAttrs(ctx, level, "grpc call", attrs...)
}

// errInternal is the one answer for anything unexpected.
var errInternal = status.Error(codes.Internal, "internal error")

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logPanic(ctx, log, info.FullMethod, p)
				resp, err = nil, errInternal
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				logPanic(ss.Context(), log, info.FullMethod, p)
				err = errInternal
			}
		}()
		return handler(srv, ss)
	}
}

// logPanic logs where a handler panicked. Only a runtime error's text is logged
// (index out of range, nil dereference); any other panic value by its type alone,
// since its text could quote request data.
func logPanic(ctx context.Context, log *slog.Logger, method string, p any) {
	what := fmt.Sprintf("%T", p)
	if re, ok := p.(runtime.Error); ok {
		what = re.Error()
	}
	log.ErrorContext(ctx, "panic in grpc handler", "method", method, "panic", what, "stack", string(debug.Stack()))
}

// deadlineUnary bounds a unary call by d unless the caller's deadline is earlier.
func deadlineUnary(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return handler(ctx, req)
	}
}
