package challenge

import (
	"context"
	"errors"
	"testing"

	"github.com/authsvc/authsvc/internal/audit"
)

// /handover/bind is a GET that whoever knows a handover id (it is in the channel's landing
// URL) can repeat without the customer's browser: each refusal reason is audited once per
// handover, so repeating it cannot flood the audit trail or the platform's events, and the
// customer's own browser still binds afterwards.
func TestBindRefusalsAuditedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, _ := f.verifiedInBrowser()
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	for range 20 {
		if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "elsewhere"), testChallenge, "elsewhere", []string{"app"}); !errors.Is(err, ErrHandoverBrowser) {
			t.Fatalf("bind from another browser: %v", err)
		}
		if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"other"}); !errors.Is(err, ErrHandoverRedirect) {
			t.Fatalf("bind for another channel: %v", err)
		}
	}
	count := func() int {
		n := 0
		for _, k := range kindsOf(auditEntries(t, f.rdb, audit.StreamKey("", false)), res.Verification.ID) {
			if k == audit.HandoverRefused {
				n++
			}
		}
		return n
	}
	if n := count(); n != 2 {
		t.Errorf("40 refused binds wrote %d handover_refused entries, want 2 (one per reason)", n)
	}
	if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"}); err != nil {
		t.Fatalf("the customer's browser, after the refusals: %v", err)
	}
	for range 5 {
		if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "elsewhere"), testChallenge, "elsewhere", []string{"app"}); err == nil {
			t.Fatal("a bound handover bound again from another browser")
		}
	}
	if n := count(); n != 3 {
		t.Errorf("after binding, 5 more refusals left %d handover_refused entries, want 3 (used, once)", n)
	}
}
