package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// TestMain fails the package when any test leaves a goroutine behind: run must
// join everything it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// flow is one verification from the platform's side.
type flow struct {
	method      authsvcv1.Method
	destination *authsvcv1.Destination
	handle      string
	userID      string
	// secret returns what the customer received: a code, or a magic link.
	secret func(t *testing.T) string
}

// verified is what a completed flow returns for the checks that follow.
type verified struct {
	v      *authsvcv1.Verification
	secret string // the code or link the customer received
	token  string // the page token in customer_url, if any
}

// runFlow starts a verification, watches it, lets the customer complete it on
// the page and returns the VERIFIED verification, after checking its assertion
// against the served JWKS with a standard JWT library.
func runFlow(t *testing.T, c *client, f flow, publicURL, issuer string) verified {
	t.Helper()
	conv := "conv-" + f.userID
	res, err := c.api.StartVerification(c.ctx(t), &authsvcv1.StartVerificationRequest{
		Identity:       &authsvcv1.SocialIdentity{Network: "x", UserId: f.userID, Handle: f.handle},
		CustomerId:     "cust-" + f.userID,
		Methods:        []authsvcv1.Method{f.method},
		MinAssurance:   authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW,
		Audience:       "crm-panel",
		Scopes:         []string{"profile:read", "orders:read"},
		AgentId:        "agent-7",
		ConversationId: conv,
		Destination:    f.destination,
		Locale:         "en-US",
		Ttl:            durationpb.New(10 * time.Minute),
		RequestId:      "req-" + f.userID,
	})
	if err != nil {
		t.Fatalf("StartVerification: %v", err)
	}
	id := res.GetVerification().GetVerificationId()
	if res.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
		t.Fatalf("state %v, want PENDING", res.GetVerification().GetState())
	}
	watch, err := c.api.WatchVerification(c.ctx(t), &authsvcv1.WatchVerificationRequest{VerificationId: id})
	if err != nil {
		t.Fatalf("WatchVerification: %v", err)
	}
	first, err := watch.Recv()
	if err != nil || first.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
		t.Fatalf("first watch event %v, %v; want PENDING", first, err)
	}

	out := verified{secret: f.secret(t)}
	switch f.method {
	case authsvcv1.Method_METHOD_MAGIC_LINK:
		if !regexp.MustCompile(`^\d{1,3}$`).MatchString(res.GetMatchNumber()) {
			t.Fatalf("match_number %q", res.GetMatchNumber())
		}
		link := out.secret
		if !strings.HasPrefix(link, publicURL+"/l/") {
			t.Fatalf("link does not start with %s/l/", publicURL)
		}
		out.token = link[strings.LastIndex(link, "/")+1:]
		page := c.get(t, link)
		page2 := c.get(t, link) // a GET changes nothing: a mail scanner may fetch first
		if !strings.Contains(page2, res.GetMatchNumber()) || !strings.Contains(page, res.GetMatchNumber()) {
			t.Fatalf("link page does not offer the match number")
		}
		action, form := mainForm(t, page)
		form.Set("number", res.GetMatchNumber())
		if status, body := c.post(t, absolute(publicURL, action), form); status != http.StatusOK {
			t.Fatalf("POST number: status %d\n%s", status, body)
		}
	default:
		pageURL := res.GetCustomerUrl()
		if !strings.HasPrefix(pageURL, publicURL+"/v/") {
			t.Fatalf("customer_url does not start with %s/v/", publicURL)
		}
		out.token = pageURL[strings.LastIndex(pageURL, "/")+1:]
		page := c.get(t, pageURL)
		action, form := mainForm(t, page)
		form.Set("code", out.secret)
		if status, body := c.post(t, absolute(publicURL, action), form); status != http.StatusOK {
			t.Fatalf("POST code: status %d\n%s", status, body)
		}
	}

	for {
		ev, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			t.Fatal("watch ended before VERIFIED")
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if st := ev.GetVerification().GetState(); st == authsvcv1.State_STATE_VERIFIED {
			out.v = ev.GetVerification()
			break
		} else if st != authsvcv1.State_STATE_PENDING {
			t.Fatalf("watch saw %v, want VERIFIED", st)
		}
	}
	tok := out.v.GetAssertion().GetToken()
	if tok == "" {
		t.Fatal("VERIFIED without an assertion")
	}
	keys := jwksKeys(t, c.get(t, publicURL+"/.well-known/jwks.json"))
	amr := map[authsvcv1.Method][]string{
		authsvcv1.Method_METHOD_OTP_EMAIL:  {assurance.AMROTP, assurance.AMREmail},
		authsvcv1.Method_METHOD_OTP_SMS:    {assurance.AMROTP, assurance.AMRSMS},
		authsvcv1.Method_METHOD_MAGIC_LINK: {assurance.AMROTP, assurance.AMREmail},
	}[f.method]
	checkAssertion(t, tok, keys, wantClaims{
		issuer: issuer, audience: "crm-panel", subject: "cust-" + f.userID, network: "x", userID: f.userID,
		conversation: conv, agent: "agent-7", vid: id, acr: assurance.ACRLow, amr: amr,
		scopes: []string{"profile:read", "orders:read"}, verifiedAt: out.v.GetVerifyTime().AsTime(), ttl: 5 * time.Minute,
	})
	if out.v.GetAssertion().GetExpireTime().AsTime().Sub(out.v.GetVerifyTime().AsTime()) != 5*time.Minute {
		t.Errorf("assertion expire_time is not verify_time + 5m")
	}
	return out
}

// absolute resolves a form action against the public URL.
func absolute(publicURL, action string) string {
	base, _ := url.Parse(publicURL + "/")
	ref, _ := url.Parse(action)
	return base.ResolveReference(ref).String()
}

func TestDevModeEndToEnd(t *testing.T) {
	// Dev mode's events go to the dev client's endpoint (authctl events tail in real use).
	events := startEventReceiver(t, devEventsSecret)
	in := startService(t, []string{"-dev"}, map[string]string{
		"AUTHSVC_GRPC_ADDR": "127.0.0.1:0", "AUTHSVC_HTTP_ADDR": "127.0.0.1:0", "AUTHSVC_METRICS_ADDR": "127.0.0.1:0",
		"AUTHSVC_DEV_EVENTS_URL": events.srv.URL + "/events",
	})
	banner := in.stdout.String()
	for _, want := range []string{"DEV MODE", "NOTHING PERSISTS", "NOTHING IS SENT", in.addrs.GRPC, in.addrs.HTTP,
		in.addrs.Metrics, in.addrs.PublicURL + "/dev/outbox", devAPIKey, "authctl"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	_, port, _ := strings.Cut(in.addrs.HTTP, "127.0.0.1:")
	if in.addrs.PublicURL != "http://localhost:"+port {
		t.Errorf("dev public URL %q, want http://localhost:%s", in.addrs.PublicURL, port)
	}

	c := newClient(t, in, devAPIKey, nil)
	const email = "alice.dev@example.com"
	got := runFlow(t, c, flow{
		method:      authsvcv1.Method_METHOD_OTP_EMAIL,
		destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}},
		handle:      "@alice_dev", userID: "1001",
		secret: func(t *testing.T) string {
			outbox := c.get(t, in.addrs.PublicURL+"/dev/outbox")
			code, err := extract(codeLine, htmlText(outbox))
			if err != nil {
				t.Fatalf("no code in the dev outbox:\n%s", outbox)
			}
			return code
		},
	}, in.addrs.PublicURL, in.addrs.PublicURL)

	// The audit exporter works on the embedded server too: the default sink is
	// JSON lines on stdout.
	id := got.v.GetVerificationId()
	// So do the events, and the dev outbox page lists their deliveries.
	pollUntil(t, "the verified event delivered and on the dev outbox", func() error {
		if got := events.byVerification(id); len(got) != 1 || got[0] != "com.authsvc.verification.verified" {
			return fmt.Errorf("events %v", got)
		}
		if page := c.get(t, in.addrs.PublicURL+"/dev/outbox"); !strings.Contains(page, "com.authsvc.verification.verified") ||
			!strings.Contains(page, "HTTP 204") {
			return errors.New("the dev outbox does not list the delivery")
		}
		return nil
	})
	pollUntil(t, "the verified event on stdout", func() error {
		if !regexp.MustCompile(`"stream":"audit:events","id":"\d+-\d+","kind":"verified","client_id":"dev"[^\n]*"verification_id":"` +
			regexp.QuoteMeta(id) + `"`).MatchString(in.stdout.String()) {
			return errors.New("not exported yet")
		}
		return nil
	})

	// The verification proves a link and an enrollment link: the identity store,
	// the relying party and the enrollment window are wired.
	ec := authsvcv1.NewEnrollmentServiceClient(c.conn)
	if _, err := ec.LinkIdentity(c.ctx(t), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-1001",
		Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: "1001"}, VerificationId: id}); err != nil {
		t.Errorf("LinkIdentity: %v", err)
	}
	if ids, err := ec.ListIdentities(c.ctx(t), &authsvcv1.ListIdentitiesRequest{CustomerId: "cust-1001", VerificationId: id}); err != nil ||
		len(ids.GetIdentities()) != 1 {
		t.Errorf("ListIdentities = %v, %v", ids, err)
	}
	enroll, err := ec.CreateEnrollmentLink(c.ctx(t), &authsvcv1.CreateEnrollmentLinkRequest{CustomerId: "cust-1001",
		Method: authsvcv1.Method_METHOD_WEBAUTHN, VerificationId: id,
		Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}}})
	if err != nil || !strings.HasPrefix(enroll.GetEnrollmentUrl(), in.addrs.PublicURL+"/e/") ||
		!strings.Contains(enroll.GetDmText(), enroll.GetEnrollmentUrl()) {
		t.Errorf("CreateEnrollmentLink = %v, %v", enroll, err)
	}

	// A wrong API key is refused.
	bad := newClient(t, in, "not-the-key", nil)
	if _, err := bad.api.GetVerification(bad.ctx(t), &authsvcv1.GetVerificationRequest{VerificationId: got.v.GetVerificationId()}); err == nil {
		t.Error("GetVerification with a wrong API key succeeded")
	}
	metrics := c.get(t, "http://"+in.addrs.Metrics+"/metrics")
	if !strings.Contains(metrics, "go_goroutines") || !strings.Contains(metrics, "process_") {
		t.Error("metrics lack the Go and process collectors")
	}
	if resp, err := c.http.Get("http://" + in.addrs.Metrics + "/debug/pprof/"); err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics listener serves /debug/pprof/: %d", resp.StatusCode)
		}
	}

	in.stop(t)
	assertLogsClean(t, in.logs.String(), got.secret, got.token, email, "alice.dev", enroll.GetEnrollmentUrl())
}

// htmlText unescapes an HTML page enough to search its text.
func htmlText(page string) string {
	return strings.NewReplacer("&#43;", "+", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'").Replace(page)
}

// TestProductionEndToEnd is the acceptance test: a production configuration from
// files, a real redis-server, a real SMTP server with STARTTLS and AUTH, a signed
// SMS webhook and TLS on the service's own listeners. Each method runs the whole
// flow through the page, and the assertion verifies against the served JWKS.
func TestProductionEndToEnd(t *testing.T) {
	p := newProduction(t)
	mailSrv, smsCh, roots, env := p.mail, p.sms, p.roots, p.env
	const publicURL, issuer = prodPublicURL, prodIssuer
	in := startService(t, nil, env)
	if in.stdout.String() != "" {
		t.Errorf("production mode printed to stdout:\n%s", in.stdout)
	}
	if in.addrs.PublicURL != publicURL {
		t.Errorf("public URL %q", in.addrs.PublicURL)
	}
	c := newClient(t, in, testAPIKey, roots)

	// Plain-text gRPC is refused: the listener speaks TLS.
	plain := newClient(t, in, testAPIKey, nil)
	if _, err := plain.api.GetVerification(plain.ctx(t), &authsvcv1.GetVerificationRequest{VerificationId: "x"}); err == nil {
		t.Error("a plaintext gRPC call succeeded against the TLS listener")
	}

	var secrets []string
	t.Run("otp_email", func(t *testing.T) {
		const email = "alice.prod@mail.example"
		got := runFlow(t, c, flow{
			method:      authsvcv1.Method_METHOD_OTP_EMAIL,
			destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}},
			handle:      "@alice_prod", userID: "2001",
			secret: func(t *testing.T) string {
				m := mailSrv.next(t)
				if len(m.to) != 1 || m.to[0] != email {
					t.Errorf("email sent to %v", m.to)
				}
				code, err := extract(codeLine, m.body)
				if err != nil {
					t.Fatalf("no code in the email:\n%s", m.body)
				}
				return code
			},
		}, publicURL, issuer)
		secrets = append(secrets, got.secret, got.token, email, "alice.prod")
	})
	t.Run("otp_sms", func(t *testing.T) {
		const phone = "+14155550123"
		got := runFlow(t, c, flow{
			method:      authsvcv1.Method_METHOD_OTP_SMS,
			destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: phone}},
			handle:      "@bob_prod", userID: "2002",
			secret: func(t *testing.T) string {
				var m webhookMessage
				select {
				case m = <-smsCh:
				case <-time.After(15 * time.Second):
					t.Fatal("no SMS reached the webhook")
				}
				if m.Channel != "sms" || m.To != phone || m.Kind != "code" {
					t.Errorf("webhook message channel %q kind %q", m.Channel, m.Kind)
				}
				code, err := extract(regexp.MustCompile(`\b(\d{6})\b`), m.Text)
				if err != nil {
					t.Fatalf("no code in the SMS: %s", m.Text)
				}
				return code
			},
		}, publicURL, issuer)
		secrets = append(secrets, got.secret, got.token, phone, "4155550123", "bob_prod")
	})
	t.Run("magic_link", func(t *testing.T) {
		const email = "carol.prod@mail.example"
		got := runFlow(t, c, flow{
			method:      authsvcv1.Method_METHOD_MAGIC_LINK,
			destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}},
			handle:      "@carol_prod", userID: "2003",
			secret: func(t *testing.T) string {
				m := mailSrv.next(t)
				link, err := extract(magicLink, m.body)
				if err != nil {
					t.Fatalf("no link in the email:\n%s", m.body)
				}
				return link
			},
		}, publicURL, issuer)
		secrets = append(secrets, got.secret, got.token, email, "carol.prod")
	})

	// The served JWKS lists both keys of the ring.
	if keys := jwksKeys(t, c.get(t, publicURL+"/.well-known/jwks.json")); len(keys) != 2 {
		t.Errorf("JWKS has %d keys, want 2", len(keys))
	}
	if body := c.get(t, publicURL+"/readyz"); body == "" {
		t.Log("readyz answered with an empty body")
	}

	// Shutdown: during the drain delay both health signals say "not serving"
	// while the listeners still answer.
	in.cancel()
	health := healthpb.NewHealthClient(c.conn)
	deadline := time.Now().Add(900 * time.Millisecond)
	var grpcDrained, httpDrained bool
	for time.Now().Before(deadline) && (!grpcDrained || !httpDrained) {
		if r, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{}); err == nil && r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			grpcDrained = true
		}
		if resp, err := c.http.Get(publicURL + "/readyz"); err == nil {
			_ = resp.Body.Close()
			httpDrained = resp.StatusCode == http.StatusServiceUnavailable
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !grpcDrained || !httpDrained {
		t.Errorf("during the drain: gRPC health NOT_SERVING %v, /readyz 503 %v", grpcDrained, httpDrained)
	}
	in.stop(t)
	logs := in.logs.String()
	assertLogsClean(t, logs, append(secrets, testAPIKey, testSMTPPassword, testWebhookSecret)...)
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("JSON logs lack the stop line:\n%s", logs)
	}
}

// TestProductionRedisDown checks that start-up fails fast, naming Redis.
func TestProductionRedisDown(t *testing.T) {
	t.Parallel()
	env := with(prodFiles(t),
		"AUTHSVC_REDIS_URL", "redis://127.0.0.1:1/0",
		"AUTHSVC_GRPC_ADDR", "127.0.0.1:0", "AUTHSVC_HTTP_ADDR", "127.0.0.1:0", "AUTHSVC_METRICS_ADDR", "127.0.0.1:0")
	var out, logs syncbuf.Buffer
	start := time.Now()
	err := run(t.Context(), nil, getenvFrom(env), &out, &logs, func(Addrs) { t.Error("served without Redis") })
	if err == nil || !strings.Contains(err.Error(), "open redis") {
		t.Fatalf("run = %v, want an open redis error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to fail", d)
	}
}

// TestDevModeRefusesRemoteListen checks the loopback rule end to end.
func TestDevModeRefusesRemoteListen(t *testing.T) {
	t.Parallel()
	var out, logs syncbuf.Buffer
	err := run(t.Context(), []string{"-dev"}, getenvFrom(map[string]string{"AUTHSVC_GRPC_ADDR": "0.0.0.0:0"}), &out, &logs, nil)
	if err == nil || !strings.Contains(err.Error(), "AUTHSVC_DEV_ALLOW_REMOTE") {
		t.Fatalf("run = %v, want a refusal naming AUTHSVC_DEV_ALLOW_REMOTE", err)
	}
}
