package challenge

import (
	"context"
	"errors"
	"testing"

	"github.com/authsvc/authsvc/internal/assertion"
)

// boundCode starts a verification in its own conversation conv, completes it in
// browser "b1", offers a secure-channel handover on it and binds it: it returns the
// verification id, the handover and the code the channel redeems.
func (f *fixture) boundCode(conv string) (string, *Handover, string) {
	f.t.Helper()
	ctx := context.Background()
	res, err := f.svc.Start(ctx, f.inConversation(conv, true))
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	vid := res.Verification.ID
	if out, err := f.svc.SubmitCode(ctx, pageToken(f.t, res), f.code(vid), "n-"+vid, "b1"); err != nil ||
		out.Outcome != OutcomeVerified {
		f.t.Fatalf("SubmitCode = %+v, %v", out, err)
	}
	h := f.handover(vid, HandoverSecureChannel)
	code, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		f.t.Fatalf("BindHandover: %v", err)
	}
	return vid, h, code
}

// TestHandedOverAssertionHasItsOwnJTI: the assertion a redemption mints for the
// channel carries a jti of its own, never the verification's (whose assertion the
// platform holds), the same in every answer of that one redemption (go-redis
// resends a script whose reply was lost: same call token), and it stands exactly as
// long as the verification does: a cancel revokes it, and a jti moved to another
// audience or handover kind does not stand.
func TestHandedOverAssertionHasItsOwnJTI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	vid, h, code := f.boundCode("conv-hov-jti")
	own := f.get(vid).Assertion
	if own == nil {
		t.Fatal("the verification has no assertion")
	}
	id, _, _ := SplitHandoverCode(code)
	r, err := f.svc.redeemWith(ctx, channelClient, id, HandoverSecureChannel, testChallenge, "call-1")
	if err != nil || r.Assertion == nil {
		t.Fatalf("redeem = %+v, %v", r, err)
	}
	if r.Assertion.ID == own.ID {
		t.Fatalf("the handed-over assertion reuses the verification's jti %q", own.ID)
	}
	again, err := f.svc.redeemWith(ctx, channelClient, id, HandoverSecureChannel, testChallenge, "call-1")
	if err != nil || again.Assertion == nil || again.Assertion.ID != r.Assertion.ID {
		t.Fatalf("the replayed redemption = %+v, %v; want jti %q", again, err, r.Assertion.ID)
	}
	c, err := f.verifier.Verify(r.Assertion.Token, channelClient)
	if err != nil || c.ID != r.Assertion.ID || c.Handover != assertion.HandoverSecureChannel {
		t.Fatalf("claims = %+v, %v", c, err)
	}
	if err := f.svc.CheckAssertion(ctx, GrantOf(c)); err != nil {
		t.Fatalf("the handed-over assertion does not stand: %v", err)
	}
	// A jti is good only with the claims it was minted with.
	for name, g := range map[string]Grant{
		"another audience": func() Grant { g := GrantOf(c); g.Audience = "platform-a"; return g }(),
		"another kind":     func() Grant { g := GrantOf(c); g.Handover = assertion.HandoverPhone; return g }(),
		"the platform's jti as a handover's": func() Grant {
			g := GrantOf(c)
			g.AssertionID = own.ID
			return g
		}(),
		"no handover": func() Grant { g := GrantOf(c); g.Handover, g.Audience = "", ""; return g }(),
	} {
		if err := f.svc.CheckAssertion(ctx, g); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: CheckAssertion = %v, want ErrRevoked", name, err)
		}
	}
	if _, err := f.svc.Cancel(ctx, "platform-a", vid, "cancel-"+h.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckAssertion(ctx, GrantOf(c)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the cancel, the handed-over assertion: %v, want ErrRevoked", err)
	}
}
