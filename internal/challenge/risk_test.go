package challenge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
)

var riskSecret = []byte(strings.Repeat("r", 32))

// riskServer answers every lookup with answer after delay, checking the
// signature first.
func riskServer(t *testing.T, delay time.Duration, answer string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if err := delivery.VerifySignature(riskSecret, r.Header.Get(delivery.HeaderTimestamp),
			r.Header.Get(delivery.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("risk hook request signature: %v", err)
		}
		if !strings.Contains(string(body), `"phone_number":"+14155550100"`) {
			t.Errorf("risk hook request %s", body)
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func riskFixture(t *testing.T, srv *redistest.Server, hookURL string, p RiskPolicy) *factorFixture {
	t.Helper()
	hook, err := delivery.NewRiskHook(delivery.RiskHookConfig{URL: hookURL, Secret: riskSecret, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return newFactorFixtureOn(t, srv, srv.Client(t), Config{}, WithRiskHook(hook, p))
}

// A SIM swap, active call forwarding or a line that cannot keep a code refuses
// the SMS; the verification offers the customer's other methods and says why, in
// its view and its audit trail; without another method the start is refused with
// the reason. The hook's timeout, garbage and errors follow the fail mode. A clean
// answer sends.
func TestRiskHook(t *testing.T) {
	// The fixture's clock starts at 2026-11-28 12:00 UTC.
	swapped, old := "2026-11-26T12:00:00Z", "2026-08-01T00:00:00Z"
	cases := []struct {
		name   string
		delay  time.Duration
		answer string
		policy RiskPolicy
		want   string // the refusal's reason, "" when the SMS goes
	}{
		{"clean", 0, `{"line_type":"mobile","carrier":{"name":"Verizon"},"sim_swap":{"last_sim_swap":"` + old + `"},"call_forwarding":{"active":false}}`, RiskPolicy{}, ""},
		{"nothing known", 0, `{}`, RiskPolicy{}, ""},
		{"sim swap", 0, `{"line_type":"mobile","sim_swap":{"last_sim_swap":"` + swapped + `"}}`, RiskPolicy{}, RiskSIMSwap},
		{"sim swap outside the window", 0, `{"sim_swap":{"last_sim_swap":"` + swapped + `"}}`, RiskPolicy{SIMSwapWithin: 24 * time.Hour}, ""},
		{"call forwarding", 0, `{"call_forwarding":{"active":true}}`, RiskPolicy{}, RiskCallForwarding},
		{"call forwarding allowed", 0, `{"call_forwarding":{"active":true}}`, RiskPolicy{AllowForwarding: true}, ""},
		{"premium line", 0, `{"line_type":"premium"}`, RiskPolicy{}, RiskLineType},
		{"timeout, fail closed", time.Second, `{}`, RiskPolicy{}, RiskUnavailable},
		{"timeout, fail open", time.Second, `{}`, RiskPolicy{FailOpen: true}, ""},
		{"garbage, fail closed", 0, `<html>oops</html>`, RiskPolicy{}, RiskUnavailable},
		{"wrong types, fail closed", 0, `{"sim_swap":{"last_sim_swap":"yesterday"}}`, RiskPolicy{}, RiskUnavailable},
		{"garbage, fail open", 0, `[1,2]`, RiskPolicy{FailOpen: true}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := redistest.Start(t)
			hook, calls := riskServer(t, tc.delay, tc.answer)
			f := riskFixture(t, rs, hook.URL, tc.policy)
			customer := "cust-" + strings.ReplaceAll(tc.name, " ", "-")
			f.enrollTOTP(customer, newSeed(t))
			f.clock.Advance(time.Second)

			// With an authenticator app to fall back on.
			req := f.startReq(OTPSMS, phone)
			req.Methods, req.CustomerID = []Method{OTPSMS, TOTP}, customer
			res, err := f.svc.Start(context.Background(), req)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			v := res.Verification
			if calls.Load() != 1 {
				t.Fatalf("%d hook calls", calls.Load())
			}
			if tc.want == "" {
				if v.DeliveredMethod != OTPSMS || f.sentCount(v.ID) != 1 || v.SMSRefused != "" {
					t.Fatalf("clean number: %+v, %d sent", v, f.sentCount(v.ID))
				}
				return
			}
			if v.DeliveredMethod != 0 || f.sentCount(v.ID) != 0 || v.SMSRefused != tc.want || !slices.Contains(v.Methods, TOTP) {
				t.Fatalf("refused SMS: %+v, %d sent", v, f.sentCount(v.ID))
			}
			if got := f.get(v.ID); got.SMSRefused != tc.want {
				t.Fatalf("Get: SMSRefused %q", got.SMSRefused)
			}
			var started map[string]any
			for _, m := range auditEntries(t, rs.Client(t), audit.StreamKey("", false)) {
				if m.Values["v"] == v.ID && m.Values["k"] == audit.Started {
					started = m.Values
				}
			}
			if started["r"] != "sms_refused:"+tc.want {
				t.Fatalf("started event %v", started)
			}

			// Without one: refused, with the reason; nothing recorded.
			req = f.startReq(OTPSMS, phone)
			req.CustomerID = customer
			_, err = f.svc.Start(context.Background(), req)
			var sr *SMSRefusedError
			if !errors.As(err, &sr) || sr.Reason != tc.want {
				t.Fatalf("SMS only: %v", err)
			}
			// Email and the app do not ask the hook at all.
			before := calls.Load()
			if _, err := f.startFactors(customer, assurance.Low, TOTP); err != nil {
				t.Fatalf("TOTP start: %v", err)
			}
			req = f.startReq(OTPEmail, email)
			req.CustomerID = customer
			if _, err := f.svc.Start(context.Background(), req); err != nil || calls.Load() != before {
				t.Fatalf("email start: %v, %d hook calls", err, calls.Load()-before)
			}
			if strings.Contains(f.logs.String(), "4155550100") {
				t.Fatalf("the log shows the number: %s", f.logs.String())
			}
		})
	}
}

// An unreachable hook follows the fail mode too.
func TestRiskHookUnreachable(t *testing.T) {
	hook, _ := riskServer(t, 0, `{}`)
	url := hook.URL
	hook.Close()
	for _, p := range []RiskPolicy{{}, {FailOpen: true}} {
		rs := redistest.Start(t)
		f := riskFixture(t, rs, url, p)
		_, err := f.svc.Start(context.Background(), f.startReq(OTPSMS, phone))
		var sr *SMSRefusedError
		switch {
		case p.FailOpen && err != nil:
			t.Fatalf("fail open: %v", err)
		case !p.FailOpen && (!errors.As(err, &sr) || sr.Reason != RiskUnavailable):
			t.Fatalf("fail closed: %v", err)
		}
	}
}

// A resend asks the hook again: a number swapped since the first code gets no
// second one.
func TestRiskHookOnResend(t *testing.T) {
	var swapped atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if swapped.Load() {
			_, _ = io.WriteString(w, `{"sim_swap":{"last_sim_swap":"2026-11-28T11:00:00Z"}}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	f := riskFixture(t, redistest.Start(t), srv.URL, RiskPolicy{})
	res := f.start(OTPSMS, phone)
	swapped.Store(true)
	_, _, err := f.svc.Resend(context.Background(), ResendRequest{ClientID: "platform-a", ID: res.Verification.ID,
		Destination: phone, RequestID: "again"})
	var sr *SMSRefusedError
	if !errors.As(err, &sr) || sr.Reason != RiskSIMSwap || f.sentCount(res.Verification.ID) != 1 {
		t.Fatalf("resend to a swapped number: %v, %d sent", err, f.sentCount(res.Verification.ID))
	}
}
