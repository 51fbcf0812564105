package grpcapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
)

func TestVerifiedFlowAssertionAndRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	start := f.start(t, keyA, "flow-1")
	id := start.GetVerification().GetVerificationId()
	code := f.codeFor(t, id)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.svc.SubmitCode(ctx, pageToken(t, start.GetCustomerUrl()), code, "nonce-1", "")
	if err != nil || res.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SubmitCode = %v, %v; want verified", res, err)
	}

	get, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil {
		t.Fatal(err)
	}
	v := get.GetVerification()
	if v.GetState() != authsvcv1.State_STATE_VERIFIED || v.GetVerifiedMethod() != authsvcv1.Method_METHOD_OTP_EMAIL ||
		v.GetAssuranceLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW || v.GetVerifyTime() == nil {
		t.Fatalf("Get after the code = %v", v)
	}
	a := v.GetAssertion()
	if a.GetToken() == "" || a.GetAssertionId() == "" || !a.GetExpireTime().AsTime().After(time.Now()) {
		t.Fatalf("assertion = %v", a)
	}

	ok, err := f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: a.GetToken(), Audience: audience})
	if err != nil {
		t.Fatalf("VerifyAssertion: %v", err)
	}
	c := ok.GetClaims()
	if c.GetVerificationId() != id || c.GetSubject() != "cust-42" || c.GetCustomerId() != "cust-42" ||
		c.GetIssuer() != issuer || c.GetAssertionId() != a.GetAssertionId() ||
		c.GetAssuranceLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW ||
		c.GetIdentity().GetNetwork() != "x" || c.GetIdentity().GetUserId() != "1234567890" ||
		c.GetAgentId() != "agent-7" || c.GetConversationId() != "conv-flow-1" ||
		len(c.GetAudience()) != 1 || c.GetAudience()[0] != audience || len(c.GetAmr()) == 0 ||
		len(c.GetScopes()) != 1 || c.GetScopes()[0] != "orders:read" {
		t.Errorf("claims = %v", c)
	}

	_, err = f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: a.GetToken(), Audience: "billing"})
	st := wantCode(t, err, codes.InvalidArgument)
	if ei := errorInfo(t, st); ei.GetReason() != "ASSERTION_INVALID" || ei.GetMetadata()["check"] != "audience" {
		t.Errorf("wrong audience: ErrorInfo = %v", ei)
	}

	// Ending the conversation revokes what the verification granted.
	canceled, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: id, RequestId: "end"})
	if err != nil {
		t.Fatal(err)
	}
	if cv := canceled.GetVerification(); cv.GetState() != authsvcv1.State_STATE_VERIFIED || !cv.GetRevoked() || cv.GetAssertion() != nil {
		t.Errorf("after cancel: state %v revoked %v assertion %v", cv.GetState(), cv.GetRevoked(), cv.GetAssertion())
	}
	_, err = f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: a.GetToken(), Audience: audience})
	st = wantCode(t, err, codes.FailedPrecondition)
	if ei := errorInfo(t, st); ei.GetReason() != "ASSERTION_REVOKED" {
		t.Errorf("revoked: ErrorInfo = %v", ei)
	}
	if strings.Contains(f.logs.String(), a.GetToken()) {
		t.Error("the assertion token reached the log")
	}
}

func TestVerifyAssertionRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		name      string
		token     string
		wantCheck string // ErrorInfo check; "" for a BadRequest on assertion
	}{
		{"garbage", "not a jwt", "format"},
		{"three garbage segments", "aaa.bbb.ccc", "format"},
		{"oversize", strings.Repeat("a", 9<<10), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.ac.VerifyAssertion(as(t, keyA), &authsvcv1.VerifyAssertionRequest{Assertion: tt.token, Audience: audience})
			st := wantCode(t, err, codes.InvalidArgument)
			if strings.Contains(st.Message(), tt.token) {
				t.Errorf("message %q quotes the token", st.Message())
			}
			if tt.wantCheck == "" {
				if got := fields(t, st); len(got) != 1 || got[0] != "assertion" {
					t.Errorf("field violations = %v, want [assertion]", got)
				}
				return
			}
			ei := errorInfo(t, st)
			if ei.GetReason() != "ASSERTION_INVALID" || ei.GetMetadata()["check"] != tt.wantCheck {
				t.Errorf("ErrorInfo = %v, want ASSERTION_INVALID check=%s", ei, tt.wantCheck)
			}
		})
	}
}

func TestGetJwks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	res, err := f.ac.GetJwks(as(t, keyA), &authsvcv1.GetJwksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := f.keyring.PublicKeys()
	if len(res.GetKeys()) != len(want) {
		t.Fatalf("%d keys, want %d", len(res.GetKeys()), len(want))
	}
	for i, k := range res.GetKeys() {
		w := want[i]
		if k.GetKid() != w.KeyID || k.GetKty() != w.KeyType || k.GetCrv() != w.Curve || k.GetX() != w.X ||
			k.GetY() != w.Y || k.GetAlg() != w.Algorithm || k.GetUse() != w.Use {
			t.Errorf("key %d = %v, want %+v", i, k, w)
		}
	}
	if res.GetJwksJson() != string(f.keyring.JWKS()) {
		t.Errorf("jwks_json = %s, want %s", res.GetJwksJson(), f.keyring.JWKS())
	}
}
