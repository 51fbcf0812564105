package challenge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/redistest"
)

// verifiedIn starts a verification of a named customer in its own conversation
// conv, completes it in browser "b1" and returns its id and page token.
func (f *fixture) verifiedIn(conv string) (string, string) {
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
	return vid, pageToken(f.t, res)
}

// boundCode starts a verification in its own conversation conv, completes it in
// browser "b1", offers a secure-channel handover on it and binds it: it returns the
// verification id, the handover and the code the channel redeems.
func (f *fixture) boundCode(conv string) (string, *Handover, string) {
	f.t.Helper()
	ctx := context.Background()
	vid, _ := f.verifiedIn(conv)
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
	r, err := f.svc.redeemWith(ctx, channelClient, id, HandoverSecureChannel, testChallenge, "call-1", nil)
	if err != nil || r.Assertion == nil {
		t.Fatalf("redeem = %+v, %v", r, err)
	}
	if r.Assertion.ID == own.ID {
		t.Fatalf("the handed-over assertion reuses the verification's jti %q", own.ID)
	}
	again, err := f.svc.redeemWith(ctx, channelClient, id, HandoverSecureChannel, testChallenge, "call-1", nil)
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

// takeConversation moves conversation conv's pointer to verification newer, as the
// first round trip of a newer start does before its second ends the old record
// (supersede.lua): what a start that crashed, or whose second round trip is still
// on its way, leaves.
func (f *fixture) takeConversation(conv, newer string) {
	f.t.Helper()
	p := f.svc.conversation("platform-a", conv)
	now := f.clock.Now()
	if err := conversationScript.Run(context.Background(), f.rdb, []string{p.key}, ms(now), p.field, newer,
		ms(now.Add(time.Hour))).Err(); err != nil {
		f.t.Fatal(err)
	}
}

// TestRedemptionNeedsTheConversation: a verification that no longer holds its
// conversation (a newer start took it; its record not yet revoked) hands over no
// identity, exactly as VerifyAssertion already finds its assertions revoked: a
// secure-channel code is refused (ErrHandoverRevoked: FAILED_PRECONDITION,
// HANDOVER_REVOKED), a call code hands over the case alone. Each redemption takes
// at most two round trips (DESIGN.md), the pointer read in the phone's second, and
// a phone create, which now records where the pointer is, still two.
func TestRedemptionNeedsTheConversation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	rtt := redistest.RoundTrips(f.rdb)

	// Secure channel: the pointer is read after the script, in the second round
	// trip. The first redemption loads the scripts into Redis's cache.
	var warm string
	for i := range 2 {
		id, _, c := f.boundCode(fmt.Sprint("conv-seal-warm-", i))
		rtt.Reset()
		if r, err := f.svc.RedeemHandover(ctx, channelClient, c, testChallenge); err != nil || !r.Verified {
			t.Fatalf("a standing verification's redemption = %+v, %v", r, err)
		}
		if n := rtt.Load(); i > 0 && n > 2 {
			t.Errorf("a secure-channel redemption took %d round trips, want at most 2", n)
		}
		warm = id
	}
	vid, h, code := f.boundCode("conv-seal-sc")
	f.takeConversation("conv-seal-sc", warm)
	if err := f.svc.CheckAssertion(ctx, f.grant(vid)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("VerifyAssertion's verdict on the displaced verification: %v, want ErrRevoked", err)
	}
	if r, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge); !errors.Is(err, ErrHandoverRevoked) {
		t.Fatalf("redeeming a displaced verification's handover = %+v, %v; want ErrHandoverRevoked", r, err)
	}
	if g, err := f.svc.GetHandover(ctx, "platform-a", h.ID); err != nil || g.State != HandoverRedeemed {
		t.Errorf("the refused handover: %+v, %v; want it spent", g, err)
	}

	// Phone, offered once verified (it would hand over the identity): the case only.
	for i, displaced := range []bool{false, false, true} {
		conv := fmt.Sprint("conv-seal-phone-", i)
		pid, tok := f.verifiedIn(conv)
		rtt.Reset()
		f.handover(pid, HandoverPhone)
		if n := rtt.Load(); i > 0 && n > 2 {
			t.Errorf("creating a phone handover took %d round trips, want at most 2", n)
		}
		o, err := f.svc.OpenHandover(ctx, tok, "b1")
		if err != nil || o.Kind != HandoverPhone {
			t.Fatalf("OpenHandover = %+v, %v", o, err)
		}
		if displaced {
			f.takeConversation(conv, warm)
		}
		rtt.Reset()
		r, err := f.svc.RedeemCallCode(ctx, ivrClient, o.CallCode, "")
		if err != nil {
			t.Fatal(err)
		}
		if n := rtt.Load(); i > 0 && n > 2 {
			t.Errorf("displaced=%v: a call-code redemption took %d round trips, want at most 2", displaced, n)
		}
		if displaced && (r.Verified || r.Assertion != nil || r.CustomerID != "" || r.CaseReference != "CASE-1") {
			t.Errorf("a displaced verification's call code handed over %+v; want the case alone", r)
		}
		if !displaced && (!r.Verified || r.Assertion == nil) {
			t.Errorf("a standing verification's call code handed over %+v; want the identity", r)
		}
	}
}

// TestOldCallCodeEntryStillReadsThePointer: a call code reserved before index
// entries named the conversation's pointer (its entry the handover id alone) is
// redeemed as any other: the pointer is read after the script (a third round
// trip, for such entries only), and a displaced verification hands over the case
// alone.
func TestOldCallCodeEntryStillReadsThePointer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, displaced := range []bool{false, true} {
		conv := fmt.Sprint("conv-seal-old-", displaced)
		pid, tok := f.verifiedIn(conv)
		h := f.handover(pid, HandoverPhone)
		o, err := f.svc.OpenHandover(ctx, tok, "b1")
		if err != nil {
			t.Fatal(err)
		}
		cur, _, _ := f.svc.callKeys(ivrClient, f.clock.Now())
		if err := f.rdb.HSet(ctx, cur, f.svc.callField(o.CallCode), h.ID).Err(); err != nil {
			t.Fatal(err)
		}
		if displaced {
			f.takeConversation(conv, "m5p-aaaaaaaaaaaaaaaa")
		}
		r, err := f.svc.RedeemCallCode(ctx, ivrClient, o.CallCode, "")
		if err != nil || r.HandoverID != h.ID {
			t.Fatalf("RedeemCallCode = %+v, %v", r, err)
		}
		if r.Verified == displaced || (r.Assertion == nil) != displaced {
			t.Errorf("displaced=%v: verified %v, assertion %v", displaced, r.Verified, r.Assertion != nil)
		}
	}
}
