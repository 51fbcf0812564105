package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/protobuf/types/known/durationpb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/redistest"
)

// eventReceiver is a care platform's event endpoint: a real HTTP server that checks every
// delivery with the Standard Webhooks reference library and keeps the events by id.
type eventReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events map[string]map[string]any
	count  map[string]int
	bodies []string
	bad    []string
}

func startEventReceiver(t *testing.T, secret string) *eventReceiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &eventReceiver{events: map[string]map[string]any{}, count: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := wh.Verify(body, req.Header); err != nil {
			r.bad = append(r.bad, err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			r.bad = append(r.bad, err.Error())
			return
		}
		id, _ := ev["id"].(string)
		r.events[id] = ev
		r.count[id]++
		r.bodies = append(r.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// byVerification returns the types of the events received about verification id.
func (r *eventReceiver) byVerification(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev["subject"] == id {
			out = append(out, ev["type"].(string))
		}
	}
	return out
}

// Production mode with event endpoints: each transition of real flows (verified, canceled,
// failed, reported) reaches the platform's receiver as one signed CloudEvent of its type (duplicates only with the same id), and no
// event, log line or Redis value holds the handle, the email address, the code or the page
// token in clear.
func TestEventsEndToEnd(t *testing.T) {
	t.Parallel()
	p := newProduction(t)
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	rcv := startEventReceiver(t, secret)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "platform-a"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.env["AUTHSVC_EVENTS_ENDPOINTS"] = "platform-a=" + rcv.srv.URL + "/authsvc/events"
	p.env["AUTHSVC_EVENTS_SECRETS_DIR"] = dir
	p.env["AUTHSVC_EVENTS_MAX_BACKOFF"] = "1s"
	in := startService(t, nil, p.env)
	c := newClient(t, in, testAPIKey, p.roots)
	code := func(t *testing.T) string {
		code, err := extract(codeLine, p.mail.next(t).body)
		if err != nil {
			t.Fatal("no code in the email")
		}
		return code
	}

	// Verified.
	got := runFlow(t, c, flow{method: authsvcv1.Method_METHOD_OTP_EMAIL,
		destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: "ev.one@mail.example"}},
		handle:      "@ev_one", userID: "4001", secret: code}, prodPublicURL, prodIssuer)
	verifiedID := got.v.GetVerificationId()

	start := func(user, addr string) *authsvcv1.StartVerificationResponse {
		res, err := c.api.StartVerification(c.ctx(t), &authsvcv1.StartVerificationRequest{
			Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: user, Handle: "@ev_" + user},
			Methods:  []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_EMAIL}, Audience: "crm-panel", AgentId: "agent-7",
			ConversationId: "conv-" + user, Locale: "en", Ttl: durationpb.New(10 * time.Minute), RequestId: "req-" + user,
			Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: addr}},
		})
		if err != nil {
			t.Fatalf("StartVerification: %v", err)
		}
		return res
	}
	// Canceled.
	canceled := start("4002", "ev.two@mail.example")
	secrets := []string{got.secret, got.token, code(t)}
	if _, err := c.api.CancelVerification(c.ctx(t), &authsvcv1.CancelVerificationRequest{
		VerificationId: canceled.GetVerification().GetVerificationId(), RequestId: "cancel-1"}); err != nil {
		t.Fatal(err)
	}
	// Failed: five wrong codes on the page.
	failed := start("4003", "ev.three@mail.example")
	right := code(t)
	secrets = append(secrets, right)
	page := failed.GetCustomerUrl()
	for i := range 5 {
		action, form := mainForm(t, c.get(t, page))
		wrong := fmt.Sprintf("%06d", (mustAtoi(right)+1+i)%1000000)
		form.Set("code", wrong)
		c.post(t, absolute(prodPublicURL, action), form)
	}

	// Reported: "this wasn't me" on the page.
	reported := start("4004", "ev.four@mail.example")
	secrets = append(secrets, code(t))
	page = c.get(t, reported.GetCustomerUrl())
	at := strings.Index(page, `name="action" value="report"`)
	if at < 0 {
		t.Fatal("no report form on the code page")
	}
	// The report form is the page's second form; read it as mainForm reads the first.
	report := page[strings.LastIndex(page[:at], "<form"):]
	action, form := mainForm(t, strings.Replace(report, `class="report">`, `class="stack">`, 1))
	if status, body := c.post(t, absolute(prodPublicURL, action), form); status != http.StatusOK {
		t.Fatalf("report: status %d\n%s", status, body)
	}

	want := map[string]string{
		reported.GetVerification().GetVerificationId(): "com.authsvc.verification.reported",
		verifiedID: "com.authsvc.verification.verified",
		canceled.GetVerification().GetVerificationId(): "com.authsvc.verification.canceled",
		failed.GetVerification().GetVerificationId():   "com.authsvc.verification.failed",
	}
	pollUntil(t, "one event per transition", func() error {
		for id, typ := range want {
			if got := rcv.byVerification(id); len(got) != 1 || got[0] != typ {
				return fmt.Errorf("%s: events %v, want [%s]", id, got, typ)
			}
		}
		return nil
	})
	rcv.mu.Lock()
	for id, ev := range rcv.events {
		data, _ := ev["data"].(map[string]any)
		if ev["specversion"] != "1.0" || ev["source"] != prodIssuer || data["client_id"] != "platform-a" ||
			data["agent_id"] != "agent-7" || !strings.HasPrefix(id, "audit:events/") {
			t.Errorf("event %s: %v", id, ev)
		}
		if ev["type"] == "com.authsvc.verification.failed" && data["reason"] != "attempts_exhausted" {
			t.Errorf("failed without its reason: %v", ev)
		}
	}
	if len(rcv.bad) > 0 {
		t.Errorf("bad deliveries: %v", rcv.bad)
	}
	bodies := strings.Join(rcv.bodies, "\n")
	rcv.mu.Unlock()
	never := append([]string{"@ev_one", "ev_4002", "ev_4003", "ev_4004", "ev.one@mail.example", "ev.two", "ev.three", "ev.four"}, secrets...)
	// Not even the masked address (the audit trail keeps a mask; events do not).
	for _, s := range append([]string{"mail.example", "***"}, never...) {
		if s != "" && strings.Contains(bodies, s) {
			t.Errorf("an event carries %q", s)
		}
	}
	dump := redistest.Dump(t, p.redis.Client(t))
	for k, vals := range dump {
		for _, s := range never {
			if s != "" && (strings.Contains(k, s) || strings.Contains(strings.Join(vals, "\x00"), s)) {
				t.Errorf("Redis key %s holds %q in clear", k, s)
			}
		}
	}
	metrics := c.get(t, "http://"+in.addrs.Metrics+"/metrics")
	if !strings.Contains(metrics, `authsvc_events_total{outcome="delivered"}`) {
		t.Errorf("no delivery metric")
	}
	in.stop(t)
	assertLogsClean(t, in.logs.String(), never...)
}

func mustAtoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
