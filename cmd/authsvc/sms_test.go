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
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/delivery"
)

const testRiskSecret = "risk-secret-never-logged-0123456789abcdef"

// TestProductionSMSFraud runs the SMS defences as deployed, against a real
// redis-server, the SMS webhook sink and a risk hook: numbers that cannot keep a
// code are refused, the risk hook's SIM swap refuses SMS (email still works), and
// a pumped prefix is held with DESTINATION_BLOCKED while email keeps working.
func TestProductionSMSFraud(t *testing.T) {
	p := newProduction(t)
	swapped := "+14155550199"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := delivery.VerifySignature([]byte(testRiskSecret), r.Header.Get(delivery.HeaderTimestamp),
			r.Header.Get(delivery.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("risk hook signature: %v", err)
		}
		var req struct {
			PhoneNumber string `json:"phone_number"`
		}
		_ = json.Unmarshal(body, &req)
		if req.PhoneNumber == swapped {
			fmt.Fprintf(w, `{"line_type":"mobile","sim_swap":{"last_sim_swap":%q}}`, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
			return
		}
		_, _ = io.WriteString(w, `{"line_type":"mobile","sim_swap":{"last_sim_swap":null},"call_forwarding":{"active":false}}`)
	}))
	t.Cleanup(hook.Close)
	secret := filepath.Join(t.TempDir(), "risk-secret")
	if err := os.WriteFile(secret, []byte(testRiskSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := with(p.env, "AUTHSVC_SMS_RISK_HOOK_URL", hook.URL, "AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", secret,
		"AUTHSVC_LIMIT_AGENT", "1000/1h")
	in := startService(t, nil, env)
	c := newClient(t, in, testAPIKey, p.roots)
	n := 0
	start := func(dest *authsvcv1.Destination, methods ...authsvcv1.Method) (*authsvcv1.StartVerificationResponse, error) {
		n++
		id := fmt.Sprint(3000 + n)
		return c.api.StartVerification(c.ctx(t), &authsvcv1.StartVerificationRequest{
			Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: id, Handle: "@fraud" + id},
			Methods:  methods, Audience: "crm-panel", AgentId: "agent-" + id, ConversationId: "conv-" + id,
			Destination: dest, Locale: "en-US", RequestId: "req-" + id,
		})
	}
	sms := func(number string) *authsvcv1.Destination {
		return &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: number}}
	}
	email := &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: "dave@mail.example"}}

	// Premium-rate and toll-free: a field violation about the number alone.
	for _, number := range []string{"+19005550100", "+18005550100"} {
		_, err := start(sms(number), authsvcv1.Method_METHOD_OTP_SMS)
		st := status.Convert(err)
		var desc string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 &&
				br.GetFieldViolations()[0].GetField() == "destination.phone" {
				desc = br.GetFieldViolations()[0].GetDescription()
			}
		}
		if st.Code() != codes.InvalidArgument || desc != "this number cannot receive verification codes" {
			t.Fatalf("%s: %v", number, err)
		}
	}

	// A SIM swap an hour ago: no SMS, and the platform is told why.
	_, err := start(sms(swapped), authsvcv1.Method_METHOD_OTP_SMS)
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || reasonOf(st) != "SMS_REFUSED" {
		t.Fatalf("SIM-swapped number: %v", err)
	}
	// A clean number reaches the SMS webhook sink.
	if _, err := start(sms("+14155550123"), authsvcv1.Method_METHOD_OTP_SMS); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-p.sms:
		if m.To != "+14155550123" {
			t.Fatalf("the SMS went to %q", m.To)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no SMS reached the webhook")
	}

	// Pumping a prefix: codes that nobody enters. The breaker holds it.
	var blocked *status.Status
	for i := range 30 {
		_, err := start(sms(fmt.Sprintf("+44791133%04d", i)), authsvcv1.Method_METHOD_OTP_SMS)
		if err != nil {
			blocked = status.Convert(err)
			break
		}
		<-p.sms
	}
	if blocked == nil || blocked.Code() != codes.ResourceExhausted || reasonOf(blocked) != "DESTINATION_BLOCKED" || retryOf(blocked) <= 0 {
		t.Fatalf("pumping a prefix: %v", blocked)
	}
	// Email is not held.
	if _, err := start(email, authsvcv1.Method_METHOD_OTP_EMAIL); err != nil {
		t.Fatalf("email while SMS is held: %v", err)
	}
	in.stop(t)
	assertLogsClean(t, in.logs.String(), swapped, "4155550199", "44791133", testRiskSecret)
	if !strings.Contains(in.logs.String(), "risk hook refused sms") {
		t.Error("the risk refusal was not logged")
	}
}

func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}

func retryOf(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}
