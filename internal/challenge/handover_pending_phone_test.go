package challenge

import (
	"context"
	"testing"
)

// A call code shown on the pending page (which needs no browser binding: whoever holds the
// link, a forwarded one or a link unfurler, sees it) must not turn into a verified identity
// once the customer verifies in her own browser: it hands over the case alone. A phone
// handover offered after she verified, shown only to the browser that verified, carries her
// identity and an assertion.
func TestPendingPageCallCodeNeverHandsOverIdentity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(OTPSMS, phone)
	f.handover(res.Verification.ID, HandoverPhone)
	tok := pageToken(t, res)
	page, err := f.svc.OpenCodePage(ctx, tok)
	if err != nil || page.Phone == nil {
		t.Fatalf("page = %+v, %v", page, err)
	}
	seen := page.Phone.CallCode
	if r, err := f.svc.SubmitCode(ctx, tok, f.code(res.Verification.ID), "n1", "b1"); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode: %v %v", r, err)
	}
	r, err := f.svc.RedeemCallCode(ctx, ivrClient, seen, "")
	if err != nil {
		t.Fatalf("redeem the pending page's code: %v", err)
	}
	if r.Verified || r.Assertion != nil || r.UserID != "" {
		t.Errorf("the pending page's call code handed over verified=%v assertion=%v user=%q; want the case alone",
			r.Verified, r.Assertion != nil, r.UserID)
	}

	// Offered again now that she has verified: the new code carries her identity.
	if _, err := f.svc.CreateHandover(ctx, HandoverRequest{ClientID: "platform-a", VerificationID: res.Verification.ID,
		Kind: HandoverPhone, Redeemer: ivrClient, CaseReference: "CASE-1", RequestID: "after-verifying"}); err != nil {
		t.Fatalf("CreateHandover after verifying: %v", err)
	}
	o, err := f.svc.OpenHandover(ctx, tok, "b1")
	if err != nil || o.Kind != HandoverPhone || o.CallCode == seen {
		t.Fatalf("OpenHandover = %+v, %v; want a new phone offer for the verifying browser", o, err)
	}
	r, err = f.svc.RedeemCallCode(ctx, ivrClient, o.CallCode, "")
	if err != nil || !r.Verified || r.Assertion == nil {
		t.Fatalf("redeem a phone handover offered after verifying: %+v, %v; want verified with an assertion", r, err)
	}
}
