package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/redistest"
)

const (
	channelClient = "acme-app"
	ivrClient     = "acme-ivr"
	testChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 appendix B
)

// verified starts an SMS verification and completes it in the browser bound as
// "b1"; it returns the start's result and the page token.
func (f *fixture) verifiedInBrowser() (*StartResult, string) {
	f.t.Helper()
	res := f.start(OTPSMS, phone)
	tok := pageToken(f.t, res)
	r, err := f.svc.SubmitCode(context.Background(), tok, f.code(res.Verification.ID), "n1", "b1")
	if err != nil || r.Outcome != OutcomeVerified {
		f.t.Fatalf("SubmitCode: %v %v", r.Outcome, err)
	}
	return res, tok
}

func (f *fixture) handover(vid string, kind HandoverKind) *Handover {
	f.t.Helper()
	req := HandoverRequest{ClientID: "platform-a", VerificationID: vid, Kind: kind, Channel: "app",
		Redeemer: channelClient, CaseReference: "CASE-1", RequestID: fmt.Sprint("h", int(kind))}
	if kind == HandoverPhone {
		req.Channel, req.Redeemer = "", ivrClient
	}
	h, err := f.svc.CreateHandover(context.Background(), req)
	if err != nil {
		f.t.Fatalf("CreateHandover: %v", err)
	}
	return h
}

func TestSecureChannelHandover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, tok := f.verifiedInBrowser()
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	if again := f.handover(res.Verification.ID, HandoverSecureChannel); again.ID != h.ID {
		t.Fatalf("a retried create made another handover")
	}
	o, err := f.svc.OpenHandover(ctx, tok, "b1")
	if err != nil || o.HandoverID != h.ID || o.Channel != "app" {
		t.Fatalf("OpenHandover = %+v, %v", o, err)
	}
	if _, err := f.svc.OpenHandover(ctx, tok, "b2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another browser sees the offer: %v", err)
	}
	if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b2"), testChallenge, "b2", []string{"app"}); !errors.Is(err, ErrHandoverBrowser) {
		t.Fatalf("bind from another browser: %v", err)
	}
	if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"other"}); !errors.Is(err, ErrHandoverRedirect) {
		t.Fatalf("bind to another channel's URL: %v", err)
	}
	code, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"}); err != nil || again != code {
		t.Fatalf("a reloaded bind: %v", err)
	}
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code, strings.Repeat("A", 43)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("redeem with another verifier's challenge: %v", err)
	}
	if _, err := f.svc.RedeemHandover(ctx, "intruder", code, testChallenge); !errors.Is(err, ErrHandoverClient) {
		t.Fatalf("redeem by another client: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []*Redemption
	var errs []error
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins = append(wins, r)
			} else {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d redemptions succeeded, want 1", len(wins))
	}
	for _, err := range errs {
		if !errors.Is(err, ErrHandoverUsed) {
			t.Fatalf("a losing redemption: %v", err)
		}
	}
	r := wins[0]
	if !r.Verified || r.CustomerID != "cust-42" || r.CaseReference != "CASE-1" || r.AgentID != "agent-7" || r.Assertion == nil {
		t.Fatalf("redemption = %+v", r)
	}
	c, err := f.verifier.Verify(r.Assertion.Token, channelClient)
	if err != nil || c.Handover != assertion.HandoverSecureChannel {
		t.Fatalf("assertion: %+v %v", c, err)
	}
	if err := f.svc.CheckAssertion(ctx, GrantOf(c)); err != nil {
		t.Fatalf("the handed-over assertion does not stand: %v", err)
	}
	if g, err := f.svc.GetHandover(ctx, "platform-a", h.ID); err != nil || g.State != HandoverRedeemed {
		t.Fatalf("GetHandover = %+v, %v", g, err)
	}
}

func TestHandoverExpiresAndRevokes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, _ := f.verifiedInBrowser()
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	code, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2*time.Minute + time.Second)
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge); !errors.Is(err, ErrHandoverExpired) {
		t.Fatalf("late redemption: %v", err)
	}
	res2, _ := f.verifiedInBrowser()
	h2 := f.handover(res2.Verification.ID, HandoverSecureChannel)
	code2, err := f.svc.BindHandover(ctx, h2.ID, f.svc.BindState(h2.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Cancel(ctx, "platform-a", res2.Verification.ID, "cancel-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code2, testChallenge); !errors.Is(err, ErrHandoverRevoked) {
		t.Fatalf("redemption after the conversation ended: %v", err)
	}
	if _, err := f.svc.CreateHandover(ctx, HandoverRequest{ClientID: "platform-b", VerificationID: res2.Verification.ID,
		Kind: HandoverSecureChannel, Channel: "app", Redeemer: channelClient}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client's verification: %v", err)
	}
	if _, err := f.svc.CreateHandover(ctx, HandoverRequest{ClientID: "platform-a", VerificationID: res2.Verification.ID,
		Kind: HandoverSecureChannel, Channel: "app", Redeemer: channelClient}); !errors.Is(err, ErrHandoverState) {
		t.Fatalf("a revoked verification: %v", err)
	}
}

func TestPhoneHandover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Never verified: the pending page shows the call code; the IVR gets the case only.
	res := f.start(OTPSMS, phone)
	h := f.handover(res.Verification.ID, HandoverPhone)
	if again := f.handover(res.Verification.ID, HandoverPhone); again.ID != h.ID {
		t.Fatalf("a retried phone create made another handover")
	}
	page, err := f.svc.OpenCodePage(ctx, pageToken(t, res))
	if err != nil || page.Phone == nil || len(page.Phone.CallCode) != 10 {
		t.Fatalf("page = %+v, %v", page, err)
	}
	if _, err := f.svc.RedeemCallCode(ctx, "someone-else", page.Phone.CallCode, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client's redemption: %v", err)
	}
	r, err := f.svc.RedeemCallCode(ctx, ivrClient, page.Phone.CallCode, "")
	if err != nil || r.Verified || r.Assertion != nil || r.CaseReference != "CASE-1" || r.HandoverID != h.ID {
		t.Fatalf("unverified redemption = %+v, %v", r, err)
	}
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, page.Phone.CallCode, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second redemption: %v", err)
	}
	// Verified: the verified page shows it to the bound browser; the IVR gets an assertion.
	res2, tok2 := f.verifiedInBrowser()
	f.handover(res2.Verification.ID, HandoverPhone)
	o, err := f.svc.OpenHandover(ctx, tok2, "b1")
	if err != nil || o.Kind != HandoverPhone {
		t.Fatalf("OpenHandover = %+v, %v", o, err)
	}
	r, err = f.svc.RedeemCallCode(ctx, ivrClient, o.CallCode, "")
	if err != nil || !r.Verified || r.Assertion == nil {
		t.Fatalf("verified redemption = %+v, %v", r, err)
	}
	if c, err := f.verifier.Verify(r.Assertion.Token, ivrClient); err != nil || c.Handover != assertion.HandoverPhone {
		t.Fatalf("assertion: %+v %v", c, err)
	}
}

func TestCallCodeGuessing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(OTPSMS, phone)
	f.handover(res.Verification.ID, HandoverPhone)
	page, err := f.svc.OpenCodePage(ctx, pageToken(t, res))
	if err != nil || page.Phone == nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := fmt.Sprintf("%010d", i*7919)
			if code == page.Phone.CallCode {
				code = fmt.Sprintf("%010d", i*7919+1)
			}
			_, err := f.svc.RedeemCallCode(ctx, ivrClient, code, "")
			var le *CallLimitError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &le):
				counts["limited"]++
			case errors.Is(err, ErrNotFound):
				counts["wrong"]++
			default:
				counts[fmt.Sprint(err)]++
			}
		}()
	}
	wg.Wait()
	if counts["wrong"] != 20 || counts["limited"] != 180 {
		t.Fatalf("outcomes = %v, want 20 wrong and 180 limited", counts)
	}
	// The limit holds for the right code too, until the window ends; the code is untouched.
	var le *CallLimitError
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, page.Phone.CallCode, ""); !errors.As(err, &le) {
		t.Fatalf("the right code past the limit: %v", err)
	}
	if g, err := f.svc.GetHandover(ctx, "platform-a", page.Phone.HandoverID); err != nil || g.State != HandoverOffered {
		t.Fatalf("the customer's handover after the guesses: %+v %v", g, err)
	}
	f.clock.Advance(le.RetryAfter)
	res2 := f.start(OTPSMS, phone)
	f.handover(res2.Verification.ID, HandoverPhone)
	page2, err := f.svc.OpenCodePage(ctx, pageToken(t, res2))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.svc.RedeemCallCode(ctx, ivrClient, page2.Phone.CallCode, ""); err != nil || r.CaseReference != "CASE-1" {
		t.Fatalf("a right code in the next window: %+v %v", r, err)
	}
}

// TestHandoverOnCluster runs every handover script on a three-node Cluster: each
// touches one slot (the verification's tag, or the phone client's).
func TestHandoverOnCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	f := newFixtureOn(t, nil, cluster.Client(t), true)
	ctx := context.Background()
	res, tok := f.verifiedInBrowser()
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	code, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge); err != nil || !r.Verified {
		t.Fatalf("RedeemHandover = %+v, %v", r, err)
	}
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge); !errors.Is(err, ErrHandoverUsed) {
		t.Fatalf("second redemption: %v", err)
	}
	if g, err := f.svc.GetHandover(ctx, "platform-a", h.ID); err != nil || g.State != HandoverRedeemed {
		t.Fatalf("GetHandover = %+v, %v", g, err)
	}
	f.handover(res.Verification.ID, HandoverPhone)
	o, err := f.svc.OpenHandover(ctx, tok, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, "0000000000", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong call code: %v", err)
	}
	if r, err := f.svc.RedeemCallCode(ctx, ivrClient, o.CallCode, ""); err != nil || !r.Verified {
		t.Fatalf("RedeemCallCode = %+v, %v", r, err)
	}
}

// TestHandoverAudit: every step is audited with the kind and the acting client,
// refusals with their reason, and no event carries a code, a verifier or the
// case reference.
func TestHandoverAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, _ := f.verifiedInBrowser()
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	code, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge); err != nil {
		t.Fatal(err)
	}
	_, _ = f.svc.RedeemHandover(ctx, channelClient, code, testChallenge)
	_, _ = f.svc.RedeemHandover(ctx, "intruder", code, testChallenge)
	msgs, err := f.rdb.XRange(ctx, "audit:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		k, _ := m.Values["k"].(string)
		if !strings.HasPrefix(k, "handover_") {
			continue
		}
		got = append(got, fmt.Sprint(k, "/", m.Values["c"], "/", m.Values["m"], "/", m.Values["r"]))
		if m.Values["v"] != res.Verification.ID {
			t.Errorf("%s names verification %v", k, m.Values["v"])
		}
		for _, v := range m.Values {
			if s, _ := v.(string); strings.Contains(s, code[len(h.ID)+1:]) || strings.Contains(s, "CASE-1") || strings.Contains(s, testChallenge) {
				t.Errorf("%s carries a secret or the case: %v", k, m.Values)
			}
		}
	}
	want := []string{
		"handover_created/platform-a/secure_channel/<nil>",
		"handover_bound/acme-app/secure_channel/<nil>",
		"handover_redeemed/acme-app/secure_channel/<nil>",
		"handover_refused/acme-app/secure_channel/used",
		"handover_refused/intruder/secure_channel/client",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("handover events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHandoverFollowsItsVerification: a newer verification of the same
// conversation, or the record's erasure, leaves the bound code nothing to hand over.
func TestHandoverFollowsItsVerification(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := f.startReq(OTPSMS, phone)
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(res.Verification.ID), "n1", "b1"); err != nil ||
		r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode = %+v, %v", r, err)
	}
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	code, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	// The agent starts again in the same conversation: the first verification is superseded.
	again := req
	again.RequestID += "-again"
	if _, err := f.svc.Start(ctx, again); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge); !errors.Is(err, ErrHandoverRevoked) {
		t.Fatalf("redemption after a newer verification: %v", err)
	}

	// Erased: the record is gone, and so is everything the handover would hand over.
	res2, _ := f.verifiedInBrowser()
	h2 := f.handover(res2.Verification.ID, HandoverSecureChannel)
	code2, err := f.svc.BindHandover(ctx, h2.ID, f.svc.BindState(h2.ID, "b1"), testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.Del(ctx, recordKey(res2.Verification.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RedeemHandover(ctx, channelClient, code2, testChallenge); !errors.Is(err, ErrNotFound) {
		t.Fatalf("redemption after erasure: %v", err)
	}
}

// TestCodeAnswerSaysWhetherAnOfferWaits: the code page looks for a handover offer
// after a verified code only when the code's answer says there may be one
// (Result.NoOffer false). It must never say "none" while the verification holds
// one: not for a handover made while pending, nor on a replayed answer after a
// handover was made since; and a replay must never credit the SMS breakers again.
func TestCodeAnswerSaysWhetherAnOfferWaits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// No handover: the answer says so, first time and replayed.
	res := f.start(OTPSMS, phone)
	tok := pageToken(t, res)
	for i := range 2 {
		r, err := f.svc.SubmitCode(ctx, tok, f.code(res.Verification.ID), "n1", "b1")
		if err != nil || r.Outcome != OutcomeVerified || !r.NoOffer {
			t.Fatalf("answer %d without a handover = %+v, %v", i, r, err)
		}
	}
	// A handover made since: the replayed answer no longer says "none", and the
	// offer is there to show.
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	r, err := f.svc.SubmitCode(ctx, tok, f.code(res.Verification.ID), "n1", "b1")
	if err != nil || r.Outcome != OutcomeVerified || r.NoOffer {
		t.Fatalf("replayed answer after a handover = %+v, %v", r, err)
	}
	if o, err := f.svc.OpenHandover(ctx, tok, "b1"); err != nil || o.HandoverID != h.ID {
		t.Fatalf("OpenHandover = %+v, %v", o, err)
	}

	// A handover made while pending (a phone offer): the verifying answer says
	// there may be one.
	res2 := f.start(OTPSMS, phone)
	h2 := f.handover(res2.Verification.ID, HandoverPhone)
	tok2 := pageToken(t, res2)
	r, err = f.svc.SubmitCode(ctx, tok2, f.code(res2.Verification.ID), "n9", "b1")
	if err != nil || r.Outcome != OutcomeVerified || r.NoOffer {
		t.Fatalf("answer with a pending handover = %+v, %v", r, err)
	}
	if o, err := f.svc.OpenHandover(ctx, tok2, "b1"); err != nil || o.HandoverID != h2.ID {
		t.Fatalf("OpenHandover = %+v, %v", o, err)
	}

	// A wrong code says nothing of offers.
	res3 := f.start(OTPSMS, phone)
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res3), "000000", "n1", "b1"); err != nil || r.Outcome != OutcomeWrongCode || r.NoOffer {
		t.Fatalf("wrong code = %+v, %v", r, err)
	}
}
