package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/authsvc/authsvc/internal/redistest"
)

func TestExporterFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		env            map[string]string
		want, protocol string
		err            string
	}{
		{name: "nothing set: off", env: nil},
		{name: "endpoint: otlp over http", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: "otlp", protocol: "http/protobuf"},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
			want: "otlp", protocol: "http/protobuf"},
		{name: "exporter otlp without endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			want: "otlp", protocol: "http/protobuf"},
		{name: "grpc", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: "otlp", protocol: "grpc"},
		{name: "traces protocol wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			want: "otlp", protocol: "http/protobuf"},
		{name: "none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "sdk disabled false", env: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"},
			want: "otlp", protocol: "http/protobuf"},
		{name: "console refused", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, err: "OTEL_TRACES_EXPORTER"},
		{name: "http/json", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			want: "otlp", protocol: "http/json"},
		{name: "unknown protocol refused", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"},
			err: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name, protocol, err := exporterFromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || name != tc.want || protocol != tc.protocol {
				t.Fatalf("= %q %q %v, want %q %q", name, protocol, err, tc.want, tc.protocol)
			}
		})
	}
}

// TestOffByDefault: with no OTEL_* variable set, nothing is instrumented.
func TestOffByDefault(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "")
	}
	tr, err := New(t.Context(), Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.Exporter() != "" || tr.GRPCServerHandler() != nil {
		t.Fatal("tracing is on with no OTEL_* variable set")
	}
	h := http.NotFoundHandler()
	if got := tr.HTTPHandler(h); got == nil {
		t.Fatal("HTTPHandler returned nil")
	}
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// recorder is tracing on, exporting into memory.
type recorder struct {
	*Tracing
	spans *tracetest.InMemoryExporter
	logs  *bytes.Buffer
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	logs := &bytes.Buffer{}
	tr, err := New(t.Context(), Config{Version: "test", Exporter: exp}, slog.New(slog.NewJSONHandler(logs, nil)),
		prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return &recorder{Tracing: tr, spans: exp, logs: logs}
}

// ended flushes the batch processor and returns what was exported.
func (r *recorder) ended(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	if err := r.provider.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r.spans.GetSpans()
}

func TestRedactedExport(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	tracer := r.provider.Tracer("test")
	_, span := tracer.Start(t.Context(), "GET /v/{token}", trace.WithAttributes(
		attribute.String("url.path", "/v/tok-secret"),
		attribute.String("client.address", "203.0.113.9"),
		attribute.String("user_agent.original", "Mozilla/5.0 alice"),
		attribute.String("http.route", "/v/{token}"),
		attribute.Int("http.response.status_code", 200),
	), trace.WithLinks(trace.Link{SpanContext: remoteParent(t), Attributes: []attribute.KeyValue{
		attribute.String("enduser.id", "cust-42"),
	}}))
	span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.type", "*errors.errorString"),
		attribute.String("exception.message", "code 123456 for alice@example.com")))
	span.SetStatus(codes.Error, "no verification for @alice")
	span.End()

	spans := r.ended(t)
	if len(spans) != 1 {
		t.Fatalf("%d spans exported, want 1", len(spans))
	}
	s := spans[0]
	got := map[attribute.Key]string{}
	for _, a := range s.Attributes {
		got[a.Key] = a.Value.String()
	}
	if len(got) != 2 || got["http.route"] != "/v/{token}" || got["http.response.status_code"] != "200" {
		t.Errorf("exported attributes %v, want only http.route and http.response.status_code", got)
	}
	if len(s.Events) != 1 || len(s.Events[0].Attributes) != 1 || s.Events[0].Attributes[0].Key != "exception.type" {
		t.Errorf("exported event %+v, want exception.type alone", s.Events)
	}
	if len(s.Links) != 1 || len(s.Links[0].Attributes) != 0 {
		t.Errorf("exported links %+v, want one without attributes", s.Links)
	}
	if s.Status.Code != codes.Error || s.Status.Description != "" {
		t.Errorf("exported status %+v, want Error without its description", s.Status)
	}
	if b, _ := json.Marshal(s); strings.Contains(string(b), "alice") || strings.Contains(string(b), "secret") {
		t.Errorf("exported span holds personal data: %s", b)
	}
}

func remoteParent(t *testing.T) trace.SpanContext {
	t.Helper()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	if !sc.IsValid() {
		t.Fatal("invalid span context")
	}
	return sc
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	sc := remoteParent(t)
	log.InfoContext(trace.ContextWithSpanContext(t.Context(), sc), "with span")
	log.InfoContext(t.Context(), "without span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines logged", len(lines))
	}
	var with, without map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &with)
	_ = json.Unmarshal([]byte(lines[1]), &without)
	if with["trace_id"] != sc.TraceID().String() || with["span_id"] != sc.SpanID().String() || with["component"] != "x" {
		t.Errorf("line with a span: %s", lines[0])
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("line without a span has a trace_id: %s", lines[1])
	}
}

// TestRedisSpans runs a script and a pipeline against a real redis-server: each
// gets a child span of the request's, named for the command, with the script's
// SHA-1 and never a key or an argument; a command outside a request gets none.
func TestRedisSpans(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	rdb := redistest.Start(t).Client(t)
	r.InstrumentRedis(rdb)
	const key, arg = "v:{alice-tag}:rec", "123456-alice@example.com"
	script := redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])`)

	if err := rdb.Ping(t.Context()).Err(); err != nil { // no request: no span
		t.Fatal(err)
	}
	ctx, parent := r.provider.Tracer("test").Start(t.Context(), "request")
	if err := script.Run(ctx, rdb, []string{key}, arg).Err(); err != nil { // NOSCRIPT, then EVAL
		t.Fatal(err)
	}
	if err := script.Run(ctx, rdb, []string{key}, arg).Err(); err != nil { // EVALSHA
		t.Fatal(err)
	}
	pipe := rdb.Pipeline()
	script.EvalSha(ctx, pipe, []string{key}, arg)
	script.EvalSha(ctx, pipe, []string{key}, arg)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, "NOSUCHCOMMAND", arg).Err(); err == nil {
		t.Fatal("unknown command succeeded")
	}
	parent.End()

	var names []string
	for _, s := range r.ended(t) {
		if s.Name == "request" {
			continue
		}
		if s.Parent.TraceID() != parent.SpanContext().TraceID() || s.SpanKind != trace.SpanKindClient {
			t.Errorf("span %s: parent %v kind %v, want a client span in the request's trace", s.Name, s.Parent, s.SpanKind)
		}
		switch s.Name {
		case "HELLO", "PIPELINE CLIENT": // a new connection's set-up, when the pool opens one
		default:
			names = append(names, s.Name)
			if s.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %s: parent %v, want the request", s.Name, s.Parent.SpanID())
			}
		}
		attrs := map[attribute.Key]string{}
		for _, a := range s.Attributes {
			attrs[a.Key] = a.Value.String()
		}
		if strings.HasPrefix(s.Name, "EVAL") && attrs["db.redis.script.sha1"] != script.Hash() {
			t.Errorf("span %s: script sha %q, want %s", s.Name, attrs["db.redis.script.sha1"], script.Hash())
		}
		if s.Name == "NOSUCHCOMMAND" && (s.Status.Code != codes.Error || attrs["error.type"] != "ERR") {
			t.Errorf("failed command: status %v error.type %q", s.Status, attrs["error.type"])
		}
		if b, _ := json.Marshal(s); strings.Contains(string(b), "alice") || strings.Contains(string(b), "123456") {
			t.Errorf("span %s holds a key or an argument: %s", s.Name, b)
		}
	}
	want := "EVALSHA EVAL EVALSHA PIPELINE EVALSHA NOSUCHCOMMAND"
	if strings.Join(names, " ") != want {
		t.Errorf("spans %q, want %q", strings.Join(names, " "), want)
	}
}

// TestHTTPSpans: a page request is named and routed by its pattern; the path,
// which holds the token, is nowhere in what is exported; a traceparent from a
// browser is linked, not continued; health probes are not traced.
func TestHTTPSpans(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v/{token}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "page") })
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(r.HTTPHandler(mux))
	t.Cleanup(srv.Close)

	const token = "tok-Zm9vYmFyYmF6cXV4"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v/"+token+"?code=123456", nil)
	req.Header.Set("User-Agent", "alice-phone")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("traceparent", "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01")
	for _, u := range []*http.Request{req, mustGet(t, srv.URL+"/healthz")} {
		resp, err := http.DefaultClient.Do(u)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}

	spans := r.ended(t)
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 (the page; not the probe)", len(spans))
	}
	s := spans[0]
	if s.Name != "GET /v/{token}" || s.SpanKind != trace.SpanKindServer {
		t.Errorf("span %q kind %v", s.Name, s.SpanKind)
	}
	if s.Parent.IsValid() || len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("browser traceparent: parent %v links %v, want a new root linked to it", s.Parent, s.Links)
	}
	var route string
	for _, a := range s.Attributes {
		if a.Key == "http.route" {
			route = a.Value.AsString()
		}
	}
	if route != "/v/{token}" {
		t.Errorf("http.route %q", route)
	}
	b, _ := json.Marshal(s)
	for _, secret := range []string{token, "123456", "alice", "203.0.113.9"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("exported span holds %q: %s", secret, b)
		}
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestHTTPTransport: a webhook call is a client span of the request that made
// it, the trace context travels on, and the URL (which may carry a credential)
// is not exported.
func TestHTTPTransport(t *testing.T) {
	t.Parallel()
	r := newRecorder(t)
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got <- req.Header.Get("traceparent")
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: r.HTTPTransport(nil)}

	ctx, parent := r.provider.Tracer("test").Start(t.Context(), "request")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/sms?api_key=hook-credential", strings.NewReader("{}"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	parent.End()

	if tp := <-got; !strings.Contains(tp, parent.SpanContext().TraceID().String()) {
		t.Errorf("traceparent %q does not carry the trace", tp)
	}
	var client0 *tracetest.SpanStub
	spans := r.ended(t)
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindClient {
			client0 = &spans[i]
		}
	}
	if client0 == nil || client0.Name != "POST" || client0.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("client span %+v, want POST under the request", client0)
	}
	if b, _ := json.Marshal(client0); strings.Contains(string(b), "hook-credential") || strings.Contains(string(b), "/sms") {
		t.Errorf("exported client span holds the URL: %s", b)
	}
}

// TestExportErrorsCounted: the SDK's errors reach the log and the counter. Not
// parallel: the SDK's error handler is global, and the last New sets it.
func TestExportErrorsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	tr, err := New(t.Context(), Config{Exporter: failing{}}, slog.New(slog.NewJSONHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.provider.Tracer("test").Start(t.Context(), "x")
	span.End()
	_ = tr.Shutdown(t.Context()) // the last batch's failure goes to the error handler
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count float64
	for _, mf := range mfs {
		if mf.GetName() == "authsvc_tracing_errors_total" {
			count = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if count < 1 {
		t.Errorf("authsvc_tracing_errors_total = %v, want at least 1", count)
	}
	if !strings.Contains(logs.String(), "span export failed") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
}

type failing struct{}

func (failing) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector unreachable")
}
func (failing) Shutdown(context.Context) error { return nil }
