package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/redistest"
)

func TestCodeFlowVerifiesOnceWithAnHonestAssertion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method Method
		dest   *Destination
		amr    []string
	}{
		{OTPEmail, email, []string{"otp", "email"}},
		{OTPSMS, phone, []string{"otp", "sms"}},
	} {
		t.Run(tc.method.String(), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			res := f.start(tc.method, tc.dest)
			v := res.Verification
			if v.State != Pending || v.Delivery != DeliverySent || res.PageURL == "" || res.MatchNumber != "" {
				t.Fatalf("after Start: %+v, page %q", v, res.PageURL)
			}
			if strings.Contains(res.DMText, f.code(v.ID)) {
				t.Fatal("the DM text contains the code")
			}
			if !strings.Contains(res.DMText, res.PageURL) {
				t.Errorf("the DM text lacks the page link: %q", res.DMText)
			}
			tok := pageToken(t, res)
			ctx := context.Background()
			r, err := f.svc.SubmitCode(ctx, tok, wrongCode(f.code(v.ID)), "n1", "")
			if err != nil || r.Outcome != OutcomeWrongCode || r.AttemptsLeft != 4 {
				t.Fatalf("wrong code: %+v, %v", r, err)
			}
			f.clock.Advance(30 * time.Second)
			r, err = f.svc.SubmitCode(ctx, tok, f.code(v.ID), "n2", "")
			if err != nil || r.Outcome != OutcomeVerified {
				t.Fatalf("right code: %+v, %v", r, err)
			}
			got := f.get(v.ID)
			if got.State != Verified || got.Method != tc.method || got.Level != assurance.Low || got.Assertion == nil {
				t.Fatalf("after verify: %+v", got)
			}
			claims, err := f.verifier.Verify(got.Assertion.Token, "crm")
			if err != nil {
				t.Fatalf("assertion does not verify: %v", err)
			}
			if claims.Subject != "cust-42" || claims.Level != assurance.Low || fmt.Sprint(claims.AMR) != fmt.Sprint(tc.amr) ||
				claims.Network != "x" || claims.UserID != "1234567" || claims.AgentID != "agent-7" ||
				claims.ConversationID != v.ConversationID || claims.VerificationID != v.ID ||
				fmt.Sprint(claims.Scopes) != "[orders:read]" || !claims.AuthTime.Equal(got.VerifiedAt) ||
				claims.Expiry.Sub(claims.IssuedAt) != 5*time.Minute || claims.ID != got.Assertion.ID {
				t.Errorf("claims: %+v", claims)
			}
			// Every read re-mints the same token: nothing secret is stored, and it is one assertion.
			if again := f.get(v.ID); again.Assertion.Token != got.Assertion.Token {
				t.Error("a second read minted a different token")
			}
			// Once its lifetime is over, Get stops returning it.
			f.clock.Advance(5*time.Minute + time.Second)
			if f.get(v.ID).Assertion != nil {
				t.Error("an expired assertion is still returned")
			}
		})
	}
}

func TestParallelCorrectCompletionsVerifyExactlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	tok, code := pageToken(t, res), f.code(res.Verification.ID)
	var verified, gone atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			r, err := f.svc.SubmitCode(context.Background(), tok, code, fmt.Sprint("nonce-", i), "")
			switch {
			case err != nil:
				t.Errorf("SubmitCode: %v", err)
			case r.Outcome == OutcomeVerified:
				verified.Add(1)
			case r.Outcome == OutcomeGone:
				gone.Add(1)
			default:
				t.Errorf("unexpected outcome %+v", r)
			}
		})
	}
	wg.Wait()
	if verified.Load() != 1 || gone.Load() != 49 {
		t.Fatalf("verified %d, gone %d; want 1 and 49", verified.Load(), gone.Load())
	}
	v := f.get(res.Verification.ID)
	if v.State != Verified || v.Assertion == nil {
		t.Fatalf("state %v", v.State)
	}
}

func TestParallelWrongCodesCountExactlyTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	tok, code := pageToken(t, res), f.code(res.Verification.ID)
	var wrong, failed, gone atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			r, err := f.svc.SubmitCode(context.Background(), tok, wrongCode(code), fmt.Sprint("nonce-", i), "")
			switch {
			case err != nil:
				t.Errorf("SubmitCode: %v", err)
			case r.Outcome == OutcomeWrongCode:
				wrong.Add(1)
			case r.Outcome == OutcomeFailed:
				failed.Add(1)
			case r.Outcome == OutcomeGone:
				gone.Add(1)
			default:
				t.Errorf("unexpected outcome %+v", r)
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 4 || failed.Load() != 1 || gone.Load() != 195 {
		t.Fatalf("wrong %d, failed %d, gone %d; want 4, 1, 195", wrong.Load(), failed.Load(), gone.Load())
	}
	v := f.get(res.Verification.ID)
	if v.State != Failed || v.Reason != ReasonAttemptsExhausted || v.AttemptsLeft != 0 || v.Assertion != nil {
		t.Fatalf("after the limit: %+v", v)
	}
	// The right code can no longer complete it.
	if r, _ := f.svc.SubmitCode(context.Background(), tok, code, "late", ""); r.Outcome != OutcomeGone {
		t.Fatalf("right code after failure: %+v", r)
	}
}

func TestRepeatedRequestIDCountsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	tok, code := pageToken(t, res), f.code(res.Verification.ID)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r, err := f.svc.SubmitCode(context.Background(), tok, wrongCode(code), "same-nonce", "")
			if err != nil || r.Outcome != OutcomeWrongCode || r.AttemptsLeft != 4 {
				t.Errorf("repeat: %+v, %v", r, err)
			}
		})
	}
	wg.Wait()
	if left := f.get(res.Verification.ID).AttemptsLeft; left != 4 {
		t.Fatalf("attempts left %d after one logical attempt; want 4", left)
	}
	// A repeated successful request answers verified again and changes nothing.
	for range 3 {
		if r, err := f.svc.SubmitCode(context.Background(), tok, code, "ok-nonce", ""); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("repeat of the right code: %+v, %v", r, err)
		}
	}
}

func TestMalformedCodesCountNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	tok := pageToken(t, res)
	for i, in := range []string{"", "12345", "abcdef", "1234567", strings.Repeat("9", 100)} {
		if _, err := f.svc.SubmitCode(context.Background(), tok, in, fmt.Sprint(i), ""); !errors.Is(err, ErrCodeFormat) {
			t.Errorf("SubmitCode(%q) = %v, want ErrCodeFormat", in, err)
		}
	}
	if left := f.get(res.Verification.ID).AttemptsLeft; left != 5 {
		t.Fatalf("attempts left %d, want 5", left)
	}
}

func TestBadPageTokensAreNeutral(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	tok := pageToken(t, res)
	id, _, _ := strings.Cut(tok, ".")
	other := f.start(MagicLink, email)
	for _, bad := range []string{"", "x", tok + "A", id + ".AAAAAAAAAAAAAAAAAAAAAA", tok[:len(tok)-1] + "B",
		f.linkToken(other.Verification.ID)} {
		if _, err := f.svc.OpenCodePage(context.Background(), bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenCodePage(%q) = %v", bad, err)
		}
		if _, err := f.svc.SubmitCode(context.Background(), bad, "123456", "n", ""); !errors.Is(err, ErrNotFound) &&
			!strings.HasPrefix(bad, other.Verification.ID) {
			t.Errorf("SubmitCode(%q) = %v", bad, err)
		}
	}
	if left := f.get(res.Verification.ID).AttemptsLeft; left != 5 {
		t.Fatalf("a bad token counted an attempt: %d left", left)
	}
}

func TestExpiryFollowsTheStoredExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := f.startReq(OTPEmail, email)
	req.TTL = 2 * time.Minute
	res, err := f.svc.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	id, tok, code := res.Verification.ID, pageToken(t, res), f.code(res.Verification.ID)
	f.clock.Advance(2*time.Minute - time.Second)
	if _, err := f.svc.OpenCodePage(context.Background(), tok); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	// The key is still in Redis (its TTL adds retention): only the stored expiry decides.
	if n, _ := f.rdb.Exists(context.Background(), recordKey(id)).Result(); n != 1 {
		t.Fatal("record gone; the test would prove nothing")
	}
	if v := f.get(id); v.State != Expired {
		t.Fatalf("state at expiry %v", v.State)
	}
	if _, err := f.svc.OpenCodePage(context.Background(), tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("page of an expired verification: %v", err)
	}
	if r, err := f.svc.SubmitCode(context.Background(), tok, code, "n", ""); err != nil || r.Outcome != OutcomeGone {
		t.Fatalf("right code after expiry: %+v, %v", r, err)
	}
	if st, _ := f.rdb.HGet(context.Background(), recordKey(id), "st").Result(); st != "4" {
		t.Fatalf("stored state %q; the script should have made the expiry durable", st)
	}
	if _, err := f.svc.Cancel(context.Background(), "platform-a", id, "c1"); !errors.Is(err, ErrNotPending) {
		t.Fatalf("cancel after expiry: %v", err)
	}
}

func TestTerminalVerificationsCannotBeCompleted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	canceled := f.start(OTPEmail, email)
	if v, err := f.svc.Cancel(ctx, "platform-a", canceled.Verification.ID, "c1"); err != nil || v.State != Canceled {
		t.Fatalf("Cancel: %+v, %v", v, err)
	}
	if r, _ := f.svc.SubmitCode(ctx, pageToken(t, canceled), f.code(canceled.Verification.ID), "n", ""); r.Outcome != OutcomeGone {
		t.Fatalf("canceled then right code: %+v", r)
	}
	// A repeat of the same cancel returns the first answer; a new one finds it terminal.
	if _, err := f.svc.Cancel(ctx, "platform-a", canceled.Verification.ID, "c1"); err != nil {
		t.Fatalf("repeated cancel: %v", err)
	}
	if _, err := f.svc.Cancel(ctx, "platform-a", canceled.Verification.ID, "c2"); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second cancel: %v", err)
	}

	req := f.startReq(MagicLink, email)
	req.RequestID, req.ConversationID = "reported", "conv-reported"
	reported, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	link := f.linkToken(reported.Verification.ID)
	if r, err := f.svc.ReportLink(ctx, link, "r1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("report: %+v, %v", r, err)
	}
	n := atoi(reported.MatchNumber)
	if r, _ := f.svc.ConfirmLink(ctx, link, n, "r2", ""); r.Outcome != OutcomeGone {
		t.Fatalf("right number after report: %+v", r)
	}
	if v := f.get(reported.Verification.ID); v.State != Failed || v.Reason != ReasonReported {
		t.Fatalf("reported: %+v", v)
	}
}

func atoi(s string) int {
	var n int
	_, _ = fmt.Sscan(s, &n)
	return n
}

func TestMagicLinkNumberMatching(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("right number", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		res := f.start(MagicLink, phone)
		if res.PageURL != "" || res.MatchNumber == "" || !strings.Contains(res.DMText, res.MatchNumber) {
			t.Fatalf("start: page %q, number %q, dm %q", res.PageURL, res.MatchNumber, res.DMText)
		}
		link := f.linkToken(res.Verification.ID)
		// Unfurlers and scanners: ten reads change nothing.
		for range 10 {
			p, err := f.svc.OpenLinkPage(ctx, link)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, c := range p.Choices {
				found = found || fmt.Sprint(c) == res.MatchNumber
			}
			if !found || p.HandleMask != "@al**e" || p.DestinationMask != "+1******0100" {
				t.Fatalf("page %+v", p)
			}
		}
		if v := f.get(res.Verification.ID); v.State != Pending || v.AttemptsLeft != 5 {
			t.Fatalf("reads changed state: %+v", v)
		}
		r, err := f.svc.ConfirmLink(ctx, link, atoi(res.MatchNumber), "n1", "")
		if err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("confirm: %+v, %v", r, err)
		}
		v := f.get(res.Verification.ID)
		if v.State != Verified || v.Method != MagicLink || fmt.Sprint(v.AMR) != "[otp sms]" || v.Assertion == nil {
			t.Fatalf("verified: %+v", v)
		}
		// The link is consumed.
		if _, err := f.svc.OpenLinkPage(ctx, link); !errors.Is(err, ErrNotFound) {
			t.Fatalf("used link page: %v", err)
		}
	})
	t.Run("wrong number fails", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		res := f.start(MagicLink, email)
		link := f.linkToken(res.Verification.ID)
		wrong := atoi(res.MatchNumber)%89 + 10
		if wrong == atoi(res.MatchNumber) {
			wrong++
		}
		if r, _ := f.svc.ConfirmLink(ctx, link, wrong, "n1", ""); r.Outcome != OutcomeFailed {
			t.Fatalf("wrong number: %+v", r)
		}
		if v := f.get(res.Verification.ID); v.State != Failed || v.Reason != ReasonNumberMismatch {
			t.Fatalf("after wrong number: %+v", v)
		}
	})
	t.Run("a wrong token counts nothing", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		res := f.start(MagicLink, email)
		bad := res.Verification.ID + ".AAAAAAAAAAAAAAAAAAAAAA"
		for i := range 10 {
			if r, _ := f.svc.ConfirmLink(ctx, bad, atoi(res.MatchNumber), fmt.Sprint(i), ""); r.Outcome != OutcomeGone {
				t.Fatalf("bad token: %+v", r)
			}
		}
		if v := f.get(res.Verification.ID); v.State != Pending {
			t.Fatalf("state %v", v.State)
		}
	})
}

func TestStartIsIdempotentByRequestID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := f.startReq(OTPEmail, email)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	urls := make([]string, 20)
	for i := range ids {
		wg.Go(func() {
			res, err := f.svc.Start(context.Background(), req)
			if err != nil {
				// A repeat that lands while the first call is still sending may be told to retry.
				if !errors.Is(err, ErrSendInProgress) {
					t.Errorf("Start: %v", err)
				}
				return
			}
			ids[i], urls[i] = res.Verification.ID, res.PageURL
		})
	}
	wg.Wait()
	var id, url string
	for i := range ids {
		if ids[i] == "" {
			continue
		}
		if id == "" {
			id, url = ids[i], urls[i]
		}
		if ids[i] != id || urls[i] != url {
			t.Fatalf("repeats gave different verifications: %s %s vs %s %s", ids[i], urls[i], id, url)
		}
	}
	if n := f.sentCount(id); n != 1 {
		t.Fatalf("%d messages sent for one logical start", n)
	}
	// The same id with other parameters is a client bug, not a second verification.
	req.Audience = "billing"
	if _, err := f.svc.Start(context.Background(), req); !errors.Is(err, ErrRequestReused) {
		t.Fatalf("reused request id: %v", err)
	}
}

func TestFailedSendIsReportedAndARetrySendsAFreshCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sender.fails = 1
	req := f.startReq(OTPEmail, email)
	_, err := f.svc.Start(context.Background(), req)
	var se *SendError
	if !errors.As(err, &se) || se.VerificationID == "" {
		t.Fatalf("Start with a failing sender: %v", err)
	}
	if strings.Contains(err.Error(), "alice") {
		t.Fatal("the error names the destination")
	}
	if v := f.get(se.VerificationID); v.State != Pending || v.Delivery != DeliveryFailed {
		t.Fatalf("after a failed send: %+v", v)
	}
	res, err := f.svc.Start(context.Background(), req)
	if err != nil || res.Verification.ID != se.VerificationID {
		t.Fatalf("retry: %v", err)
	}
	if n := f.sentCount(se.VerificationID); n != 1 {
		t.Fatalf("sent %d", n)
	}
	if r, _ := f.svc.SubmitCode(context.Background(), pageToken(t, res), f.code(se.VerificationID), "n", ""); r.Outcome != OutcomeVerified {
		t.Fatalf("code from the retry: %+v", r)
	}
	// A repeat after success sends nothing more.
	if _, err := f.svc.Start(context.Background(), req); err != nil || f.sentCount(se.VerificationID) != 1 {
		t.Fatalf("repeat after success: %v, sent %d", err, f.sentCount(se.VerificationID))
	}
}

func TestResendReplacesTheCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(OTPEmail, email)
	id, tok := res.Verification.ID, pageToken(t, res)
	old := f.code(id)
	if _, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: id, Destination: &Destination{Kind: Email, Value: "mallory@example.com"}, RequestID: "r0"}); !errors.Is(err, ErrDestinationMismatch) {
		t.Fatalf("resend elsewhere: %v", err)
	}
	for range 3 { // one logical resend, repeated
		if _, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: id, Destination: email, RequestID: "r1"}); err != nil {
			t.Fatalf("Resend: %v", err)
		}
	}
	if n := f.sentCount(id); n != 2 {
		t.Fatalf("sent %d messages, want 2 (start + one resend)", n)
	}
	fresh := f.code(id)
	if old != fresh {
		if r, _ := f.svc.SubmitCode(ctx, tok, old, "n1", ""); r.Outcome != OutcomeWrongCode {
			t.Fatalf("old code after resend: %+v", r)
		}
	}
	if r, _ := f.svc.SubmitCode(ctx, tok, fresh, "n2", ""); r.Outcome != OutcomeVerified {
		t.Fatalf("new code: %+v", r)
	}
	if _, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: id, Destination: email, RequestID: "r2"}); !errors.Is(err, ErrNotPending) {
		t.Fatalf("resend after verify: %v", err)
	}
}

func TestOtherClientsSeeNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	ctx := context.Background()
	_, errUnknown := f.svc.Get(ctx, "platform-b", "aaa-aaaaaaaaaaaaaaaa")
	_, errOther := f.svc.Get(ctx, "platform-b", res.Verification.ID)
	if !errors.Is(errOther, ErrNotFound) || errOther.Error() != errUnknown.Error() {
		t.Fatalf("other client's id: %v vs unknown: %v", errOther, errUnknown)
	}
	if _, err := f.svc.Cancel(ctx, "platform-b", res.Verification.ID, "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel by another client: %v", err)
	}
	if f.get(res.Verification.ID).State != Pending {
		t.Fatal("another client changed the verification")
	}
}

func TestNewVerificationForTheConversationEndsThePrevious(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first := f.start(OTPEmail, email)
	req := f.startReq(OTPEmail, email)
	req.RequestID, req.ConversationID = "second", first.Verification.ConversationID
	second, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.get(first.Verification.ID); v.State != Canceled {
		t.Fatalf("first after second: %v", v.State)
	}
	if r, _ := f.svc.SubmitCode(ctx, pageToken(t, second), f.code(second.Verification.ID), "n", ""); r.Outcome != OutcomeVerified {
		t.Fatal("second did not verify")
	}
	req.RequestID = "third"
	if _, err := f.svc.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	v := f.get(second.Verification.ID)
	if !v.Revoked || v.Assertion != nil {
		t.Fatalf("a new verification of the conversation must revoke the previous grant: %+v", v)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(second.Verification.ID)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("CheckAssertion: %v", err)
	}
}

func TestCancelRevokesAVerifiedGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(OTPEmail, email)
	id := res.Verification.ID
	if r, _ := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(id), "n", ""); r.Outcome != OutcomeVerified {
		t.Fatal("not verified")
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(id)); err != nil {
		t.Fatalf("CheckAssertion before cancel: %v", err)
	}
	v, err := f.svc.Cancel(ctx, "platform-a", id, "end")
	if err != nil || v.State != Verified || !v.Revoked || v.Assertion != nil {
		t.Fatalf("cancel of verified: %+v, %v", v, err)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(id)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("CheckAssertion after cancel: %v", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name  string
		edit  func(*StartRequest)
		field string
	}{
		{"no network", func(r *StartRequest) { r.Identity.Network = "" }, "identity.network"},
		{"bad network", func(r *StartRequest) { r.Identity.Network = "X!" }, "identity.network"},
		{"long user id", func(r *StartRequest) { r.Identity.UserID = strings.Repeat("1", 129) }, "identity.user_id"},
		{"no methods", func(r *StartRequest) { r.Methods = nil }, "methods"},
		{"unknown method", func(r *StartRequest) { r.Methods = []Method{9} }, "methods[0]"},
		{"bad email", func(r *StartRequest) { r.Destination = &Destination{Kind: Email, Value: "alice@"} }, "destination.email"},
		{"named email", func(r *StartRequest) { r.Destination = &Destination{Kind: Email, Value: "Alice <a@example.com>"} }, "destination.email"},
		{"not E.164", func(r *StartRequest) { r.Destination = &Destination{Kind: Phone, Value: "0415555555"} }, "destination.phone"},
		{"impossible number", func(r *StartRequest) { r.Destination = &Destination{Kind: Phone, Value: "+1555"} }, "destination.phone"},
		{"ttl too short", func(r *StartRequest) { r.TTL = time.Second }, "ttl"},
		{"ttl too long", func(r *StartRequest) { r.TTL = 2 * time.Hour }, "ttl"},
		{"missing destination", func(r *StartRequest) { r.Destination = nil }, "destination"},
		{"phone for email code", func(r *StartRequest) { r.Destination = phone }, "destination"},
		{"no request id", func(r *StartRequest) { r.RequestID = "" }, "request_id"},
		{"no audience", func(r *StartRequest) { r.Audience = "" }, "audience"},
		{"bad scope", func(r *StartRequest) { r.Scopes = []string{"Orders Read"} }, "scopes[0]"},
		{"control chars", func(r *StartRequest) { r.AgentID = "a\nb" }, "agent_id"},
		{"right-to-left override in the handle", func(r *StartRequest) { r.Identity.Handle = "@\u202eevil😀" }, "identity.handle"},
		{"zero-width space in the agent", func(r *StartRequest) { r.AgentID = "agent\u200b7" }, "agent_id"},
		{"right-to-left mark in the email", func(r *StartRequest) { r.Destination = &Destination{Kind: Email, Value: "a\u200fb@example.com"} }, "destination.email"},
		{"handle over 64 bytes", func(r *StartRequest) { r.Identity.Handle = "@" + strings.Repeat("é", 32) }, "identity.handle"},
		{"bad locale", func(r *StartRequest) { r.Locale = "english please" }, "locale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.startReq(OTPEmail, email)
			tt.edit(&req)
			_, err := f.svc.Start(context.Background(), req)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			found := false
			for _, v := range ve.Violations {
				found = found || v.Field == tt.field
			}
			if !found {
				t.Fatalf("violations %+v lack %s", ve.Violations, tt.field)
			}
		})
	}
	req := f.startReq(OTPEmail, email)
	req.MinAssurance = assurance.High
	var nm *NoMethodError
	if _, err := f.svc.Start(context.Background(), req); !errors.As(err, &nm) || nm.Level != assurance.High {
		t.Fatalf("min assurance HIGH with a LOW method: %v", err)
	}
	if len(f.sender.List()) != 0 {
		t.Fatal("a refused request sent a message")
	}
}

func TestStoreFailureFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(OTPEmail, email)
	tok, code := pageToken(t, res), f.code(res.Verification.ID)
	grant := f.grant(res.Verification.ID)
	f.srv.Kill()
	req := f.startReq(OTPEmail, email)
	req.RequestID = "during-outage"
	if _, err := f.svc.Start(ctx, req); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Start: %v", err)
	}
	if _, err := f.svc.Get(ctx, "platform-a", res.Verification.ID); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get: %v", err)
	}
	if r, err := f.svc.SubmitCode(ctx, tok, code, "n", ""); !errors.Is(err, ErrUnavailable) || r.Outcome == OutcomeVerified {
		t.Errorf("SubmitCode: %+v, %v", r, err)
	}
	if err := f.svc.CheckAssertion(ctx, grant); !errors.Is(err, ErrUnavailable) {
		t.Errorf("CheckAssertion: %v", err)
	}
	if n := f.sentCount("during"); n != 0 {
		t.Error("a message left during the outage")
	}
	f.srv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := f.svc.Start(ctx, req)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRoundTripBudgets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	counter := redistest.RoundTrips(f.rdb)
	warm := f.start(OTPEmail, email) // loads the scripts
	_, _ = f.svc.SubmitCode(ctx, pageToken(t, warm), "000000", "warm", "")
	f.get(warm.Verification.ID)
	req := f.startReq(OTPEmail, email)
	req.RequestID, req.ConversationID = "measured", "conv-measured"
	counter.Reset()
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := counter.Load(); n > 2 {
		t.Errorf("Start took %d round trips, budget 2", n)
	}
	code := f.code(res.Verification.ID)
	counter.Reset()
	if r, _ := f.svc.SubmitCode(ctx, pageToken(t, res), code, "n", ""); r.Outcome != OutcomeVerified {
		t.Fatal("not verified")
	}
	if n := counter.Load(); n > 2 {
		t.Errorf("completing a code took %d round trips, budget 2", n)
	}
	counter.Reset()
	f.get(res.Verification.ID)
	if n := counter.Load(); n != 1 {
		t.Errorf("Get took %d round trips, budget 1", n)
	}
}

func TestNoSecretInRedisOrLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(OTPEmail, email)
	code := f.code(res.Verification.ID)
	_, _ = f.svc.SubmitCode(ctx, pageToken(t, res), wrongCode(code), "n1", "")
	ml := f.start(MagicLink, phone)
	token := f.linkToken(ml.Verification.ID)
	forbidden := []string{code, token, "alice@example.com", "+14155550100", "14155550100", "@alice", pageToken(t, res)}
	keys, err := f.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump := k
		if typ, _ := f.rdb.Type(ctx, k).Result(); typ == "hash" {
			m, _ := f.rdb.HGetAll(ctx, k).Result()
			for fk, fv := range m {
				dump += " " + fk + "=" + fv
			}
		}
		for _, s := range forbidden {
			if strings.Contains(dump, s) {
				t.Errorf("Redis key %s holds %q in clear", k, s)
			}
		}
		if ttl, _ := f.rdb.PTTL(ctx, k).Result(); ttl <= 0 {
			t.Errorf("key %s has no TTL", k)
		}
	}
	f.sender.fails = 1
	req := f.startReq(OTPSMS, phone)
	req.RequestID = "fails"
	_, _ = f.svc.Start(ctx, req)
	for _, s := range forbidden {
		if strings.Contains(f.logs.String(), s) {
			t.Errorf("logs hold %q", s)
		}
	}
}

func TestWatchWakesOnTransitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	testWatch(t, f)
}

func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	f := newFixtureOn(t, nil, cluster.Client(t), true)
	// Several identities land on different slots and nodes; each flow is one slot.
	for i := range 4 {
		req := f.startReq(OTPEmail, email)
		req.Identity.UserID = fmt.Sprint("user-", i)
		req.RequestID = fmt.Sprint("req-", i)
		if i%2 == 1 {
			req.CustomerID = "" // under the identity's tag
		} else {
			req.CustomerID = fmt.Sprint("cust-", i) // under the customer's tag
		}
		res, err := f.svc.Start(context.Background(), req)
		if err != nil {
			t.Fatalf("Start on cluster: %v", err)
		}
		if r, err := f.svc.SubmitCode(context.Background(), pageToken(t, res), f.code(res.Verification.ID), "n", ""); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("SubmitCode on cluster: %+v, %v", r, err)
		}
	}
	testWatch(t, f)
}

// testWatch checks that a watcher sees PENDING, then the transition, woken by pub/sub.
func testWatch(t *testing.T, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := f.startReq(OTPEmail, email)
	req.RequestID, req.ConversationID = "watched", "conv-watched"
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan *Verification, 10)
	done := make(chan error, 1)
	go func() {
		done <- f.svc.Watch(ctx, "platform-a", res.Verification.ID, func(v *Verification) error {
			states <- v
			return nil
		})
	}()
	if v := <-states; v.State != Pending {
		t.Fatalf("first watch event %v", v.State)
	}
	if r, _ := f.svc.SubmitCode(ctx, pageToken(t, res), wrongCode(f.code(res.Verification.ID)), "w", ""); r.Outcome != OutcomeWrongCode {
		t.Fatal("wrong code not counted")
	}
	select {
	case v := <-states:
		if v.State != Pending || v.AttemptsLeft != 4 {
			t.Fatalf("after a wrong code: %+v", v)
		}
	case err := <-done:
		t.Fatalf("Watch ended early: %v", err)
	}
	if r, _ := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(res.Verification.ID), "r", ""); r.Outcome != OutcomeVerified {
		t.Fatal("not verified")
	}
	v := <-states
	if v.State != Verified || v.Assertion == nil {
		t.Fatalf("final watch event: %+v", v)
	}
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v", err)
	}
}

func TestLongValuesKeepTheRecordCompact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	req := f.startReq(OTPEmail, email)
	req.ConversationID = "urn:care:conversation:" + strings.Repeat("c", 256-len("urn:care:conversation:"))
	req.Identity.UserID = strings.Repeat("7", 128)
	req.AgentID = strings.Repeat("a", 128)
	req.Audience = strings.Repeat("b", 128)
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A value over 64 bytes would turn the hash into a hash table, three times the size.
	if enc, _ := f.rdb.ObjectEncoding(ctx, recordKey(res.Verification.ID)).Result(); enc != "listpack" {
		t.Fatalf("record encoding %q, want listpack", enc)
	}
	v := f.get(res.Verification.ID)
	if v.ConversationID != req.ConversationID || v.UserID != req.Identity.UserID || v.AgentID != req.AgentID ||
		v.Audience != req.Audience || v.CustomerID != "cust-42" || fmt.Sprint(v.Scopes) != "[orders:read]" ||
		v.Locale != "en" || v.DestinationMask != "a***@example.com" || v.HandleMask != "@al**e" {
		t.Fatalf("packed fields did not round-trip: %+v", v)
	}
	if dt, _ := f.rdb.HExists(ctx, recordKey(res.Verification.ID), "dt").Result(); dt {
		t.Error("the send claim time outlived the send")
	}
}

// TestNewRefusesABrandThatHides: the brand is shown on every page and in every
// message; New refuses one with a direction override.
func TestNewRefusesABrandThatHides(t *testing.T) {
	t.Parallel()
	pub, _ := url.Parse("https://verify.example.com")
	if _, err := New(Config{PublicURL: pub, Brand: "Acme\u202e"}, nil, nil, nil, nil, nil, nil, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "Brand must not contain U+202E, a bidirectional control character") {
		t.Errorf("New with U+202E in the brand: %v", err)
	}
}
