package main

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// withSpanExporter sends the service's spans to e, whatever OTEL_* says.
func withSpanExporter(e sdktrace.SpanExporter) runOption {
	return func(o *runOptions) { o.spanExporter = e }
}

// keptSpans is an in-memory exporter that keeps its spans when the service
// shuts it down, so that the test reads them once the service has stopped and
// the batch processor has exported the last of them.
type keptSpans struct{ *tracetest.InMemoryExporter }

func (keptSpans) Shutdown(context.Context) error { return nil }

// platformSpan starts the care platform's own span, in its own tracer provider,
// and returns it with the traceparent the platform sends along.
func platformSpan(t *testing.T) (trace.Span, string) {
	t.Helper()
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("care-platform").Start(t.Context(), "verify customer")
	h := http.Header{}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	if h.Get("traceparent") == "" {
		t.Fatal("no traceparent")
	}
	return span, h.Get("traceparent")
}

// smsFlow is a verification by a code sent by SMS, completed on the page.
func smsFlow(p *production, handle, userID, phone string) flow {
	return flow{
		method:      authsvcv1.Method_METHOD_OTP_SMS,
		destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: phone}},
		handle:      handle, userID: userID,
		secret: func(t *testing.T) string {
			t.Helper()
			select {
			case m := <-p.sms:
				code, err := extract(regexp.MustCompile(`\b(\d{6})\b`), m.Text)
				if err != nil {
					t.Fatalf("no code in the SMS: %s", m.Text)
				}
				return code
			case <-time.After(15 * time.Second):
				t.Fatal("no SMS reached the webhook")
			}
			return ""
		},
	}
}

// TestTraceOfAFlow is issue 12's acceptance test for tracing: with a care
// platform's trace context on every call, a production instance (real
// redis-server, SMTP, SMS webhook) runs an SMS code flow and a magic-link flow
// through the pages and a VerifyAssertion, and the exported trace is connected
// (platform span → authsvc RPC → Redis script, and the webhook it sent) while no
// span name, attribute, event, link, status or resource holds a handle, an
// email, a phone number, a code, a link token, an assertion, a customer id or
// the API key. Each instrumentation point is checked, so removing one fails.
func TestTraceOfAFlow(t *testing.T) {
	t.Parallel()
	p := newProduction(t)
	exported := keptSpans{tracetest.NewInMemoryExporter()}
	in := startService(t, nil, p.env, withSpanExporter(exported))
	c := newClient(t, in, testAPIKey, p.roots)
	platform, traceparent := platformSpan(t)
	c.md = []string{"traceparent", traceparent}

	const phone, email = "+14155550142", "erin.trace@mail.example"
	sms := runFlow(t, c, smsFlow(p, "@dana_trace", "7001", phone), prodPublicURL, prodIssuer)
	link := runFlow(t, c, flow{
		method:      authsvcv1.Method_METHOD_MAGIC_LINK,
		destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}},
		handle:      "@erin_trace", userID: "7002",
		secret: func(t *testing.T) string {
			l, err := extract(magicLink, p.mail.next(t).body)
			if err != nil {
				t.Fatal("no link in the email")
			}
			return l
		},
	}, prodPublicURL, prodIssuer)
	jwt := sms.v.GetAssertion().GetToken()
	if _, err := authsvcv1.NewAssertionServiceClient(c.conn).VerifyAssertion(c.ctx(t),
		&authsvcv1.VerifyAssertionRequest{Assertion: jwt, Audience: "crm-panel"}); err != nil {
		t.Fatalf("VerifyAssertion: %v", err)
	}
	platform.End()
	in.stop(t) // exports the last spans
	spans := exported.GetSpans()
	if len(spans) == 0 {
		t.Fatal("no span exported")
	}

	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	// descends tells whether s is below the span with id.
	descends := func(s tracetest.SpanStub, id trace.SpanID) bool {
		for range len(spans) {
			if !s.Parent.IsValid() {
				return false
			}
			if s.Parent.SpanID() == id {
				return true
			}
			var ok bool
			if s, ok = byID[s.Parent.SpanID()]; !ok {
				return false
			}
		}
		return false
	}
	below := func(id trace.SpanID, match func(tracetest.SpanStub) bool) int {
		n := 0
		for _, s := range spans {
			if match(s) && descends(s, id) {
				n++
			}
		}
		return n
	}
	// A script runs as EVALSHA (EVAL the first time), alone or in a pipeline.
	isRedis := func(s tracetest.SpanStub) bool {
		return s.InstrumentationScope.Name == "github.com/authsvc/authsvc/internal/telemetry" &&
			(strings.HasPrefix(s.Name, "EVAL") || strings.HasPrefix(s.Name, "PIPELINE EVAL"))
	}

	// The platform's span is the parent of every call it made.
	pc := platform.SpanContext()
	calls := map[string]int{}
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindServer || !strings.HasPrefix(s.Name, "authsvc.v1.") {
			continue
		}
		calls[s.Name]++
		if s.SpanContext.TraceID() != pc.TraceID() || s.Parent.SpanID() != pc.SpanID() || !s.Parent.IsRemote() {
			t.Errorf("%s: trace %s parent %s, want a child of the platform's span %s in trace %s",
				s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), pc.SpanID(), pc.TraceID())
		}
		if s.Name == "authsvc.v1.VerificationService/StartVerification" {
			// A script recorded the verification, and the SMS went out through the
			// webhook, in the call's trace.
			if below(s.SpanContext.SpanID(), isRedis) == 0 {
				t.Errorf("StartVerification has no Redis script span below it")
			}
		}
	}
	for _, m := range []string{"authsvc.v1.VerificationService/StartVerification", "authsvc.v1.VerificationService/WatchVerification",
		"authsvc.v1.AssertionService/VerifyAssertion"} {
		if calls[m] == 0 {
			t.Errorf("no server span for %s; server spans: %v", m, calls)
		}
	}
	webhook := 0
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient && s.Name == "POST" && s.SpanContext.TraceID() == pc.TraceID() {
			webhook++
		}
	}
	if webhook == 0 {
		t.Error("the SMS webhook call has no client span in the platform's trace")
	}

	// The pages: spans named by route, each deciding through a Redis script.
	pages := map[string]int{}
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindServer && strings.Contains(s.Name, " /") {
			pages[s.Name]++
			if strings.HasPrefix(s.Name, "POST ") && below(s.SpanContext.SpanID(), isRedis) == 0 {
				t.Errorf("%s has no Redis script span below it", s.Name)
			}
		}
	}
	for _, want := range []string{"GET /v/{token}", "POST /v/{token}", "GET /l/{token}", "POST /l/{token}",
		"GET /.well-known/jwks.json"} {
		if pages[want] == 0 {
			t.Errorf("no page span %q; page spans: %v", want, pages)
		}
	}

	// No personal data and no secret anywhere in what was exported.
	secrets := map[string]string{
		"handle": "dana_trace", "handle 2": "erin_trace", "email": email, "email local part": "erin.trace",
		"phone": phone, "national number": phone[2:], "code": sms.secret, "code page token": sms.token,
		"magic link": link.secret, "link token": link.token, "assertion": jwt, "assertion 2": link.v.GetAssertion().GetToken(),
		"customer id": "cust-7001", "customer id 2": "cust-7002", "conversation id": "conv-7001", "API key": testAPIKey,
	}
	for i, part := range strings.Split(jwt, ".") {
		secrets["assertion part "+strconv.Itoa(i)] = part
	}
	check := func(where, text string) {
		for what, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("%s holds the %s", where, what)
			}
		}
	}
	for _, s := range spans {
		where := "span " + s.Name
		check(where+" name", s.Name)
		check(where+" status", s.Status.Description)
		for _, a := range s.Attributes {
			check(where+" attribute "+string(a.Key), string(a.Key)+"="+a.Value.String())
		}
		for _, ev := range s.Events {
			check(where+" event", ev.Name)
			for _, a := range ev.Attributes {
				check(where+" event attribute "+string(a.Key), string(a.Key)+"="+a.Value.String())
			}
		}
		for _, l := range s.Links {
			for _, a := range l.Attributes {
				check(where+" link attribute "+string(a.Key), string(a.Key)+"="+a.Value.String())
			}
		}
		if s.Resource != nil {
			for _, a := range s.Resource.Attributes() {
				check(where+" resource "+string(a.Key), string(a.Key)+"="+a.Value.String())
			}
		}
	}
	if svc, ok := spans[0].Resource.Set().Value("service.name"); !ok || svc.AsString() != "authsvc" {
		t.Errorf("service.name %v", svc)
	}

	// The log lines of the platform's calls carry its trace id.
	logs := in.logs.String()
	if !regexp.MustCompile(`"msg":"grpc call".*"trace_id":"` + pc.TraceID().String() + `"`).MatchString(logs) {
		t.Error("no grpc call log line carries the platform's trace id")
	}
	assertLogsClean(t, logs, sms.secret, sms.token, link.secret, link.token, jwt, phone, email, testAPIKey)
}

// TestTracingCollectorDown: with the OTLP exporter pointed at a closed port (over
// HTTP and gRPC), or at a collector that never answers, a whole verification
// succeeds, the failed
// exports are logged and counted, and the service stops cleanly. Not parallel:
// the exporter reads its endpoint from the process environment.
func TestTracingCollectorDown(t *testing.T) {
	for _, tc := range []struct {
		name, protocol string
		endpoint       func(t *testing.T) string
	}{
		{"closed port", "http/protobuf", closedPort},
		{"closed port grpc", "grpc", closedPort},
		{"never answers", "http/protobuf", silentCollector},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tc.endpoint(t))
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.protocol)
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			// Export while the flow runs, and give up on a batch after a second
			// (the exporter retries a silent collector until the batch's timeout).
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
			t.Setenv("OTEL_BSP_EXPORT_TIMEOUT", "1000")
			t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
			p := newProduction(t)
			in := startService(t, nil, p.env)
			c := newClient(t, in, testAPIKey, p.roots)
			got := runFlow(t, c, smsFlow(p, "@fay_trace", "7101", "+14155550177"), prodPublicURL, prodIssuer)
			if got.v.GetState() != authsvcv1.State_STATE_VERIFIED {
				t.Fatalf("state %v", got.v.GetState())
			}

			// The failures show in the metrics (exports go on in the background).
			counted := regexp.MustCompile(`(?m)^authsvc_tracing_errors_total ([1-9][0-9.e+]*)$`)
			deadline := time.Now().Add(20 * time.Second)
			for !counted.MatchString(c.get(t, "http://"+in.addrs.Metrics+"/metrics")) {
				if time.Now().After(deadline) {
					t.Fatal("authsvc_tracing_errors_total never counted a failed export")
				}
				time.Sleep(50 * time.Millisecond)
			}
			in.stop(t)
			logs := in.logs.String()
			for _, want := range []string{`"msg":"tracing on","exporter":"otlp ` + tc.protocol + `"`, `span export failed`} {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %s", want)
				}
			}
		})
	}
}

// closedPort returns an OTLP endpoint on a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

// silentCollector returns an OTLP endpoint that accepts connections and never
// answers.
func silentCollector(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}
