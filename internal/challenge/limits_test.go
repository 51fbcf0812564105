package challenge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/redistest"
)

// newLimitsFixture builds a service with limits l; tests of the identity's limits
// send to one destination from one agent many times, so those windows are widened
// unless set.
func newLimitsFixture(t *testing.T, l Limits) *fixture {
	t.Helper()
	if l.Send.Destination.N == 0 {
		l.Send.Destination.N = 1000
	}
	if l.Send.Agent.N == 0 {
		l.Send.Agent.N = 1000
	}
	srv := redistest.Start(t)
	return newFixtureWith(t, srv, srv.Client(t), Config{Limits: l})
}

// TestIdentityFailureLimitHoldsAcrossVerificationsAndRaces: 1,000 wrong codes spread
// over 40 verifications of one identity, 100 at a time: exactly the identity's limit
// is counted, then the family is locked; the identity's other families still work,
// the customer's authenticator app and passkey included.
func TestIdentityFailureLimitHoldsAcrossVerificationsAndRaces(t *testing.T) {
	t.Parallel()
	ff := newFactorFixtureWith(t, Config{Limits: Limits{Sends: 100, Send: SendLimits{
		Destination: Rate{N: 1000, Per: time.Hour}, Agent: Rate{N: 1000, Per: time.Hour}}}})
	f := ff.fixture
	ff.customer = "cust-42"
	seed := newSeed(t)
	ff.enrollTOTP("cust-42", seed)
	key := newAuthenticator(t)
	ff.enrollPasskey("cust-42", key)
	f.clock.Advance(time.Second)
	ctx := context.Background()
	type target struct{ id, tok, code string }
	targets := make([]target, 40)
	for i := range targets {
		res := f.start(OTPEmail, email)
		targets[i] = target{res.Verification.ID, pageToken(t, res), f.code(res.Verification.ID)}
	}
	var counted, locked atomic.Int32
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i := range 1000 {
		tg := targets[i%len(targets)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := f.svc.SubmitCode(ctx, tg.tok, wrongCode(tg.code), fmt.Sprint("n-", i), "")
			switch {
			case err != nil:
				t.Errorf("SubmitCode: %v", err)
			case r.Outcome == OutcomeVerified:
				t.Error("a wrong code verified")
			case r.Outcome == OutcomeLocked:
				locked.Add(1)
			}
		})
	}
	wg.Wait()
	for _, tg := range targets {
		counted.Add(int32(5 - f.get(tg.id).AttemptsLeft))
	}
	if counted.Load() != 20 {
		t.Fatalf("attempts counted over the identity's verifications: %d, want exactly 20", counted.Load())
	}
	if locked.Load() < 900 {
		t.Fatalf("only %d attempts were refused as locked", locked.Load())
	}
	// Even the right code is refused while locked, and counts nothing.
	var open target
	for _, tg := range targets {
		if f.get(tg.id).State == Pending {
			open = tg
			break
		}
	}
	if open.id == "" {
		t.Fatal("no verification left pending; the test proves less than it should")
	}
	if r, _ := f.svc.SubmitCode(ctx, open.tok, open.code, "right-while-locked", ""); r.Outcome != OutcomeLocked || r.RetryAfter <= 0 || r.RetryAfter > 30*time.Second {
		t.Fatalf("right code while locked: %+v", r)
	}
	// A new verification of the locked family is refused like an unreachable customer.
	var nm *NoMethodError
	if _, err := f.svc.Start(ctx, f.startReq(OTPEmail, email)); !errors.As(err, &nm) {
		t.Fatalf("Start while the family is locked: %v", err)
	}
	// Another family of the same identity still works.
	sms := f.start(OTPSMS, phone)
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, sms), f.code(sms.Verification.ID), "sms", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("OTP_SMS while OTP_EMAIL is locked: %+v, %v", r, err)
	}
	// So do the customer's enrolled factors.
	res := ff.mustStart("cust-42", assurance.Substantial, TOTP)
	if r, err := f.svc.SubmitTOTP(ctx, pageToken(t, res), codeAt(t, seed, f.clock.Now()), "totp", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("TOTP while OTP_EMAIL is locked: %+v, %v", r, err)
	}
	if _, r := ff.passkeyFlow(key, assurance.High); r.Outcome != OutcomeVerified {
		t.Fatalf("passkey while OTP_EMAIL is locked: %+v", r)
	}
	// After the lock, the right code works and clears the family.
	f.clock.Advance(30 * time.Second)
	if r, err := f.svc.SubmitCode(ctx, open.tok, open.code, "after-lock", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("right code after the lock: %+v, %v", r, err)
	}
}

func TestLocksGrowAndASuccessResetsOnlyItsFamily(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Failures: 3, Sends: 100})
	ctx := context.Background()
	fresh := func(m Method, d *Destination) (string, string) {
		res := f.start(m, d)
		return pageToken(t, res), f.code(res.Verification.ID)
	}
	tok, code := fresh(OTPEmail, email)
	// A new verification does not reset the identity's count.
	for i := range 2 {
		if r, _ := f.svc.SubmitCode(ctx, tok, wrongCode(code), fmt.Sprint("a", i), ""); r.Outcome != OutcomeWrongCode {
			t.Fatalf("wrong %d: %+v", i, r)
		}
	}
	tok, code = fresh(OTPEmail, email)
	r, _ := f.svc.SubmitCode(ctx, tok, wrongCode(code), "third", "")
	if r.Outcome != OutcomeLocked || r.RetryAfter != 30*time.Second {
		t.Fatalf("third failure: %+v, want a 30 s lock", r)
	}
	f.clock.Advance(30 * time.Second)
	tok, code = fresh(OTPEmail, email)
	if r, _ := f.svc.SubmitCode(ctx, tok, wrongCode(code), "fourth", ""); r.Outcome != OutcomeLocked || r.RetryAfter != time.Minute {
		t.Fatalf("failure after the first lock: %+v, want 1 min", r)
	}
	// An SMS success leaves the email family locked.
	stok, scode := fresh(OTPSMS, phone)
	if r, _ := f.svc.SubmitCode(ctx, stok, scode, "sms-ok", ""); r.Outcome != OutcomeVerified {
		t.Fatalf("sms: %+v", r)
	}
	if r, _ := f.svc.SubmitCode(ctx, tok, code, "still-locked", ""); r.Outcome != OutcomeLocked {
		t.Fatalf("email after an sms success: %+v", r)
	}
	// The lock never exceeds the longest lock.
	for i := range 10 {
		f.clock.Advance(time.Hour)
		tok, code = fresh(OTPEmail, email)
		r, _ := f.svc.SubmitCode(ctx, tok, wrongCode(code), fmt.Sprint("grow", i), "")
		if r.RetryAfter > time.Hour {
			t.Fatalf("lock %v beyond the longest", r.RetryAfter)
		}
	}
	f.clock.Advance(time.Hour)
	tok, code = fresh(OTPEmail, email)
	if r, _ := f.svc.SubmitCode(ctx, tok, code, "ok", ""); r.Outcome != OutcomeVerified {
		t.Fatalf("right code after the lock: %+v", r)
	}
	// The success cleared the family: one failure no longer locks it.
	tok, code = fresh(OTPEmail, email)
	if r, _ := f.svc.SubmitCode(ctx, tok, wrongCode(code), "after-reset", ""); r.Outcome != OutcomeWrongCode {
		t.Fatalf("first failure after a success: %+v", r)
	}
}

func TestWrongNumbersCountTowardTheIdentity(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Failures: 2, Sends: 100})
	ctx := context.Background()
	var links []string
	var numbers []int
	for range 3 {
		res := f.start(MagicLink, email)
		links = append(links, f.linkToken(res.Verification.ID))
		numbers = append(numbers, atoi(res.MatchNumber))
	}
	for i := range 2 {
		wrong := numbers[i]%89 + 10
		if wrong == numbers[i] {
			wrong++
		}
		if r, _ := f.svc.ConfirmLink(ctx, links[i], wrong, fmt.Sprint("w", i), ""); r.Outcome != OutcomeFailed {
			t.Fatalf("wrong number %d: %+v", i, r)
		}
	}
	// Two wrong numbers locked the family: even the right number waits.
	if r, _ := f.svc.ConfirmLink(ctx, links[2], numbers[2], "right", ""); r.Outcome != OutcomeLocked {
		t.Fatalf("right number while locked: %+v", r)
	}
	// A locked identity can still say "this wasn't me".
	if r, _ := f.svc.ReportLink(ctx, links[2], "report"); r.Outcome != OutcomeReported {
		t.Fatalf("report while locked: %+v", r)
	}
	var nm *NoMethodError
	if _, err := f.svc.Start(ctx, f.startReq(MagicLink, email)); !errors.As(err, &nm) {
		t.Fatalf("Start of a locked family: %v", err)
	}
}

func TestIdentitySendLimit(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{})
	ctx := context.Background()
	var ids []string
	for range 3 {
		ids = append(ids, f.start(OTPEmail, email).Verification.ID)
	}
	before := len(f.sender.List())
	_, err := f.svc.Start(ctx, f.startReq(OTPEmail, email))
	var le *LimitError
	if !errors.As(err, &le) || le.Scope != "identity" || le.RetryAfter <= 0 || le.RetryAfter > 10*time.Minute {
		t.Fatalf("fourth start: %v", err)
	}
	if len(f.sender.List()) != before {
		t.Fatal("a refused start sent a message")
	}
	// A resend is a send too.
	if _, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: ids[2], Destination: email, RequestID: "r"}); !errors.As(err, &le) {
		t.Fatalf("resend past the limit: %v", err)
	}
	// Another client has its own 3 sends, but the identity's sends of all clients
	// together are limited too (5): it gets what is left of those, not a fresh budget.
	for i := range 3 {
		req := f.startReq(OTPEmail, email)
		req.ClientID = "platform-b"
		_, err := f.svc.Start(ctx, req)
		if i < 2 && err != nil {
			t.Fatalf("another client's send %d: %v", i+1, err)
		}
		if i == 2 && (!errors.As(err, &le) || le.Scope != "identity") {
			t.Fatalf("another client past the identity's shared sends: %v", err)
		}
	}
	f.clock.Advance(10 * time.Minute)
	if _, err := f.svc.Start(ctx, f.startReq(OTPEmail, email)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestParallelStartsRespectTheIdentitySendLimit(t *testing.T) {
	t.Parallel()
	// Only the identity's limit may bind: 50 concurrent starts to one number would
	// otherwise also meet the prefix limit (20), whose counts are taken back only
	// after the refusals, and a send the identity allowed could be refused by it.
	f := newLimitsFixture(t, Limits{Send: SendLimits{Prefix: Rate{N: 1000, Per: time.Hour}}})
	var sent, limited atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := f.svc.Start(context.Background(), f.startReq(OTPSMS, phone))
			var le *LimitError
			switch {
			case err == nil:
				sent.Add(1)
			case errors.As(err, &le):
				limited.Add(1)
			default:
				t.Errorf("Start: %v", err)
			}
		})
	}
	wg.Wait()
	if sent.Load() != 3 || limited.Load() != 47 || len(f.sender.List()) != 3 {
		t.Fatalf("sent %d, limited %d, messages %d; want 3, 47, 3", sent.Load(), limited.Load(), len(f.sender.List()))
	}
	_ = assurance.Low
}

func TestSendLimitsRefuseBeforeAnythingLeavesAndCountExactly(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Sends: 100, Send: SendLimits{Destination: Rate{N: 2, Per: time.Hour}, Agent: Rate{N: 3, Per: time.Hour}}})
	ctx := context.Background()
	for range 2 {
		f.start(OTPEmail, email)
	}
	var le *LimitError
	req := f.startReq(OTPEmail, email)
	if _, err := f.svc.Start(ctx, req); !errors.As(err, &le) || le.Scope != "destination" || le.RetryAfter != 30*time.Minute {
		t.Fatalf("third start to one address: %v", err)
	}
	if len(f.sender.List()) != 2 {
		t.Fatalf("%d messages sent", len(f.sender.List()))
	}
	// The refused start left no record, and took back what it had counted elsewhere:
	// the agent's window holds the two real sends only, so one more is allowed.
	if n, _ := f.rdb.Exists(ctx, recordKey(verificationID(f.svc.keys, tagOf(f.svc.keys, req), req.ClientID, req.RequestID))).Result(); n != 0 {
		t.Fatal("a refused start left its record")
	}
	other := &Destination{Kind: Email, Value: "alice.other@example.com"}
	f.start(OTPEmail, other)
	if _, err := f.svc.Start(ctx, f.startReq(OTPEmail, &Destination{Kind: Email, Value: "third@example.com"})); !errors.As(err, &le) || le.Scope != "agent" {
		t.Fatalf("fourth send of one agent: %v", err)
	}
	// A repeat of a counted start is not counted again.
	f.clock.Advance(time.Hour)
	first := f.startReq(OTPEmail, email)
	for range 3 {
		if _, err := f.svc.Start(ctx, first); err != nil {
			t.Fatalf("repeat: %v", err)
		}
	}
	if _, err := f.svc.Start(ctx, f.startReq(OTPEmail, email)); err != nil {
		t.Fatalf("second send in the new hour, after repeats of the first: %v", err)
	}
}

// TestSMSPumpingUnderOnePrefix: 1,000 starts to random numbers of one block, 100 at
// a time: at most the prefix limit is sent, the rest are refused with a wait.
func TestSMSPumpingUnderOnePrefix(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Sends: 10_000, Send: SendLimits{Agent: Rate{N: 10_000, Per: time.Hour}, Client: Rate{N: 10_000, Per: time.Minute}}})
	// The static limit alone: the conversion-aware breakers (breaker_test.go)
	// would hold this burst sooner.
	f.svc.cfg.Breakers.Mode = BreakerOff
	ctx := context.Background()
	var sent, refused atomic.Int32
	sem := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i := range 1000 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req := f.startReq(OTPSMS, &Destination{Kind: Phone, Value: fmt.Sprintf("+1415555%04d", i)})
			req.Identity.UserID = fmt.Sprint("pump-", i)
			_, err := f.svc.Start(ctx, req)
			var le *LimitError
			switch {
			case err == nil:
				sent.Add(1)
			case errors.As(err, &le) && le.Scope == "prefix" && le.RetryAfter > 0:
				refused.Add(1)
			default:
				t.Errorf("Start: %v", err)
			}
		})
	}
	wg.Wait()
	if sent.Load() != 20 || refused.Load() != 980 || len(f.sender.List()) != 20 {
		t.Fatalf("sent %d, refused %d, messages %d; want 20, 980, 20", sent.Load(), refused.Load(), len(f.sender.List()))
	}
}

func TestCountryAllowList(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Send: SendLimits{Countries: []int{1, 44}}})
	var ve *ValidationError
	if _, err := f.svc.Start(context.Background(), f.startReq(OTPSMS, &Destination{Kind: Phone, Value: "+34612345678"})); !errors.As(err, &ve) || ve.Violations[0].Field != "destination.phone" {
		t.Fatalf("SMS to a country not allowed: %v", err)
	}
	f.start(OTPSMS, &Destination{Kind: Phone, Value: "+447700900123"})
	f.start(OTPEmail, email) // email is not subject to the SMS country list
	if len(f.sender.List()) != 2 {
		t.Fatalf("%d messages", len(f.sender.List()))
	}
}

// TestRetryAfterAFailedSendRespectsTheLimits: a repeated start after a failed send
// makes a new send, so a send limit can refuse it, and then nothing is sent.
func TestRetryAfterAFailedSendRespectsTheLimits(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Sends: 100, Send: SendLimits{Destination: Rate{N: 1, Per: 5 * time.Minute}}})
	ctx := context.Background()
	f.sender.fails = 1
	req := f.startReq(OTPEmail, email)
	var se *SendError
	if _, err := f.svc.Start(ctx, req); !errors.As(err, &se) {
		t.Fatalf("first start: %v", err)
	}
	var le *LimitError
	if _, err := f.svc.Start(ctx, req); !errors.As(err, &le) || le.Scope != "destination" {
		t.Fatalf("retry past the destination limit: %v", err)
	}
	if len(f.sender.List()) != 0 {
		t.Fatal("a refused retry sent a message")
	}
	v := f.get(se.VerificationID)
	if v.State != Pending || v.Delivery != DeliveryFailed {
		t.Fatalf("after the refused retry: %+v; want pending with a failed send, so a later retry can send", v)
	}
	f.clock.Advance(5 * time.Minute) // the next window, still within the verification's 10 minutes
	if _, err := f.svc.Start(ctx, req); err != nil || len(f.sender.List()) != 1 {
		t.Fatalf("retry in the next window: %v, %d sent", err, len(f.sender.List()))
	}
}

// Per-destination cells share bucket hashes: a bucket holds its live cells, drops
// stale ones once it grows, and expires with its last cell.
func TestBucketedCellsPruneAndExpire(t *testing.T) {
	f := newLimitsFixture(t, Limits{})
	ctx := context.Background()
	rate := Rate{N: 5, Per: time.Hour}
	t0 := f.clock.Now()
	var cells []limit
	for i := range 100 {
		cells = append(cells, limit{scope: "destination", key: "l:{d7}", field: fmt.Sprint("f", i), rate: rate})
	}
	// One call per destination, each with its own token.
	var calls []scriptCall
	for i := range cells {
		calls = append(calls, limitCalls(cells[i:i+1], ms(t0), fmt.Sprintf("tok%03d", i))...)
	}
	replies, err := f.svc.store.pipelined(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	if d, added := limitOutcome(cells, replies); d != nil || len(added) != 100 {
		t.Fatalf("first sends: denied %v, %d counted", d, len(added))
	}
	// The cells, and '#', the tokens of the bucket's last calls (limit.lua).
	if n := f.rdb.HLen(ctx, "l:{d7}").Val(); n != 101 {
		t.Fatalf("bucket holds %d fields, want 100 cells and '#'", n)
	}
	if ttl := f.rdb.PTTL(ctx, "l:{d7}").Val(); ttl <= 0 || ttl > rate.Per/5+time.Second {
		t.Fatalf("bucket TTL %v", ttl)
	}
	// Each cell still limits its own destination: five sends, then a refusal.
	one := cells[:1]
	for i := range 4 {
		if r, _ := f.svc.store.pipelined(ctx, limitCalls(one, ms(t0), fmt.Sprint("token", i))); intAt(r[0], 0) != 1 {
			t.Fatalf("send %d refused", i+2)
		}
	}
	if r, _ := f.svc.store.pipelined(ctx, limitCalls(one, ms(t0), "token9")); intAt(r[0], 0) != 0 {
		t.Fatal("a sixth send to one destination was allowed")
	}
	// An hour on, every cell is stale: the next write prunes them.
	later := t0.Add(time.Hour + time.Minute)
	fresh := []limit{{scope: "destination", key: "l:{d7}", field: "new", rate: rate}}
	if _, err := f.svc.store.pipelined(ctx, limitCalls(fresh, ms(later), "tokenZ")); err != nil {
		t.Fatal(err)
	}
	if n := f.rdb.HLen(ctx, "l:{d7}").Val(); n != 2 {
		t.Fatalf("after pruning the bucket holds %d fields, want 1 cell and '#'", n)
	}
}

// A client's cell drains in one emission (100 ms by default), sooner than go-redis
// may resend a call whose reply was lost: it keeps its calls' tokens for the
// replay window, so a replay of a drained call counts nothing.
func TestStringCellKeepsItsTokensForReplays(t *testing.T) {
	f := newLimitsFixture(t, Limits{})
	ctx := context.Background()
	cell := []limit{{scope: "client", key: "l:{c:test}", rate: Rate{N: 600, Per: time.Minute}}}
	now := ms(f.clock.Now())
	if r, err := f.svc.store.pipelined(ctx, limitCalls(cell, now, "tokenA")); err != nil || intAt(r[0], 2) != 1 {
		t.Fatalf("first call: %v, %v", r, err)
	}
	if ttl := f.rdb.PTTL(ctx, "l:{c:test}").Val(); ttl < replayWindow-time.Second {
		t.Fatalf("the cell lives %v after a call, want the replay window", ttl)
	}
	// The same call resent (the same arguments): answered as counted, unchanged.
	before := f.rdb.Get(ctx, "l:{c:test}").Val()
	if r, err := f.svc.store.pipelined(ctx, limitCalls(cell, now, "tokenA")); err != nil || intAt(r[0], 2) != 1 {
		t.Fatalf("replay: %v, %v", r, err)
	}
	if after := f.rdb.Get(ctx, "l:{c:test}").Val(); after != before {
		t.Fatalf("a replay changed the cell: %q -> %q", before, after)
	}
}
