package challenge

import (
	"context"
	"testing"
	"time"
)

// Issue 18 review: a start that names no
// customer, accepts an enrolled method and a code, and finds the customer through
// the identity's link lives on the customer's tag with ln=1 and a code. code.lua
// calls link_stands(rec, nil): for ln=1 that is always false, so the RIGHT email
// code cancels the verification ("gone") although the link stands.
func TestLinkedStartCompletesByCode(t *testing.T) {
	f := newFactorFixture(t)
	f.enrollTOTP("cust-9", newSeed(t))
	f.link("cust-9", "x", "1234567")
	f.clock.Advance(time.Second)
	req := f.startReq(TOTP, email)
	req.CustomerID, req.Methods = "", []Method{TOTP, OTPEmail}
	res, err := f.svc.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verification.CustomerID != "cust-9" {
		t.Fatalf("customer %q", res.Verification.CustomerID)
	}
	r, err := f.svc.SubmitCode(context.Background(), pageToken(t, res), f.code(res.Verification.ID), "n", "")
	if err != nil || r.Outcome != OutcomeVerified {
		t.Errorf("the right email code of a linked start (link still standing): %+v, %v; want verified", r, err)
	}
}

// Issue 18 review (fixed): unlinking revokes nothing already VERIFIED through the link.
// standing.lua/get.lua's stands() does not call link_stands, so the assertion whose
// subject came from the link keeps passing VerifyAssertion, and the verification
// keeps proving the customer (LinkIdentity / CreateEnrollmentLink) after the unlink.
func TestUnlinkRevokesWhatTheLinkGranted(t *testing.T) {
	f := newFactorFixture(t)
	f.link("cust-9", "x", "1234567")
	req := f.startReq(OTPEmail, email)
	req.CustomerID = ""
	res, err := f.svc.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Verification.ID
	if r, err := f.svc.SubmitCode(context.Background(), pageToken(t, res), f.code(id), "n", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("%+v %v", r, err)
	}
	f.unlink("cust-9", "x", "1234567")
	if err := f.svc.CheckAssertion(context.Background(), f.grant(id)); err == nil {
		t.Errorf("assertion with subject cust-9 (from the link) still stands after the unlink")
	}
	if p, err := f.svc.Proof(context.Background(), "platform-a", id, nil); err == nil {
		t.Errorf("still a proof for %s after the unlink", p.CustomerID)
	}
}
