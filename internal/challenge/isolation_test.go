package challenge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/softauthn"
)

// trustAll trusts every client's enrollments: every client's verification of the
// customer is offered her factors, the setting in which one client could lock
// them for the others.
type trustAll struct{}

func (trustAll) TrustedEnrollers(string) (bool, []string) { return true, nil }

// isolation is one customer, her social identity, her email on file, an
// authenticator app and a passkey, verified by several clients.
type isolation struct {
	*factorFixture
	cust  string
	user  string
	email *Destination
	seed  []byte
	key   *softauthn.Authenticator
}

// newIsolation builds a service on rdb for a customer of its own (name), so that
// cases sharing one Redis share no counters. Only the identity's limits bind: the
// cross-identity send limits are wide.
func newIsolation(t *testing.T, srv *redistest.Server, rdb redis.UniversalClient, sharded bool, name string, cfg Config) *isolation {
	t.Helper()
	cfg.ShardedPubSub = sharded
	cfg.Limits.Send = SendLimits{Destination: Rate{N: 1000, Per: time.Hour}, Agent: Rate{N: 1000, Per: time.Hour}}
	ff := newFactorFixtureOn(t, srv, rdb, cfg)
	ff.svc.factors.Trust = trustAll{}
	f := &isolation{factorFixture: ff, cust: "cust-" + name, user: "user-" + name,
		email: &Destination{Kind: Email, Value: name + "@example.com"}, seed: newSeed(t), key: newAuthenticator(t)}
	f.enrollTOTP(f.cust, f.seed)
	f.enrollPasskey(f.cust, f.key)
	f.clock.Advance(time.Second)
	return f
}

// startAs starts a verification of the customer by client.
func (f *isolation) startAs(client string, dest *Destination, min assurance.Level, methods ...Method) (*StartResult, error) {
	r := f.startReq(methods[0], dest)
	r.ClientID, r.CustomerID, r.Identity.UserID, r.Methods, r.MinAssurance = client, f.cust, f.user, methods, min
	return f.svc.Start(context.Background(), r)
}

func (f *isolation) mustStartAs(client string, dest *Destination, min assurance.Level, methods ...Method) *StartResult {
	f.t.Helper()
	res, err := f.startAs(client, dest, min, methods...)
	if err != nil {
		f.t.Fatalf("Start by %s: %v", client, err)
	}
	return res
}

// wrongTOTP is a code that matches neither the current nor the previous step.
func (f *isolation) wrongTOTP() string {
	now := f.clock.Now()
	for _, c := range []string{"000000", "000001", "000002"} {
		if c != codeAt(f.t, f.seed, now) && c != codeAt(f.t, f.seed, now.Add(-30*time.Second)) {
			return c
		}
	}
	panic("unreachable")
}

// verifyTOTP is client's verification of the customer with her authenticator app.
func (f *isolation) verifyTOTP(client string) {
	f.t.Helper()
	res := f.mustStartAs(client, nil, assurance.Substantial, TOTP)
	r, err := f.svc.SubmitTOTP(context.Background(), pageToken(f.t, res), codeAt(f.t, f.seed, f.clock.Now()), "right", "")
	if err != nil || r.Outcome != OutcomeVerified {
		f.t.Fatalf("%s's TOTP verification: %+v, %v", client, r, err)
	}
}

// passkeyTry begins a ceremony on the page tok and finishes it with a.
func (f *isolation) passkeyTry(tok string, a *softauthn.Authenticator, requestID string) (Result, error) {
	opts, err := f.svc.BeginPasskey(context.Background(), tok)
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return Result{Outcome: OutcomeLocked, RetryAfter: le.RetryAfter}, nil
		}
		return Result{}, err
	}
	body, err := a.Login(opts)
	if err != nil {
		return Result{}, err
	}
	return f.svc.FinishPasskey(context.Background(), tok, body, requestID, "")
}

// hammer is the attack of issue 18: a second client makes wrong tries at the
// customer's family until that is locked (20), then keeps it locked with one more
// wrong try each time the lock ends, five times (the lock doubles from 30 s). check
// runs, as the first client, once the second is locked and after each of its locks
// (15.5 min in all: the verifications live an hour).
func (f *isolation) hammer(wrong func(i int) (Result, error), check func(round int)) {
	f.t.Helper()
	try := func(i int) Result {
		f.t.Helper()
		r, err := wrong(i)
		if err != nil {
			f.t.Fatalf("second client's try %d: %v", i, err)
		}
		return r
	}
	for i := range 19 {
		if r := try(i); r.Outcome != OutcomeWrongCode {
			f.t.Fatalf("second client's wrong try %d: %+v", i+1, r)
		}
	}
	r := try(19)
	if r.Outcome != OutcomeLocked || r.RetryAfter != 30*time.Second {
		f.t.Fatalf("second client's 20th wrong try: %+v, want its own 30 s lock", r)
	}
	check(0)
	for round := 1; round <= 5; round++ {
		// While locked, the second client's tries count nothing.
		if again := try(100 + round); again.Outcome != OutcomeLocked || again.RetryAfter != r.RetryAfter {
			f.t.Fatalf("round %d: a try while locked: %+v", round, again)
		}
		f.clock.Advance(r.RetryAfter)
		want := 2 * r.RetryAfter
		if r = try(200 + round); r.Outcome != OutcomeLocked || r.RetryAfter != want {
			f.t.Fatalf("round %d: the try after the lock: %+v, want a lock of %v", round, r, want)
		}
		check(round)
	}
}

// TestClientIsolation is issue 18's "client isolation for limits and locks", on a
// standalone Redis and on a Cluster: a second client can neither exhaust the
// customer's send window nor lock her email codes, authenticator app or passkey
// for the first client, however long it keeps at it, and its silent starts fill
// only its own share; while 200 wrong guesses spread over ten clients still count
// only up to the shared limit, and after it one or two per lock period.
func TestClientIsolation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, f *isolation)
	}{
		{"send window", Config{}, testIsolatedSendWindow},
		{"email codes", Config{MaxAttempts: 100, DefaultTTL: time.Hour}, testIsolatedEmailCodes},
		{"totp", Config{MaxAttempts: 100, DefaultTTL: time.Hour}, testIsolatedTOTP},
		{"passkey", Config{MaxAttempts: 100, DefaultTTL: time.Hour}, testIsolatedPasskey},
		{"silent starts", Config{}, testIsolatedQuietStarts},
		{"spread guesses", Config{MaxAttempts: 100}, testSpreadGuessesBounded},
	}
	for _, topology := range []string{"standalone", "cluster"} {
		t.Run(topology, func(t *testing.T) {
			t.Parallel()
			var srv *redistest.Server
			var rdb redis.UniversalClient
			if topology == "cluster" {
				rdb = redistest.StartCluster(t, 3).Client(t)
			} else {
				srv = redistest.Start(t)
				rdb = srv.Client(t)
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newIsolation(t, srv, rdb, topology == "cluster", fmt.Sprint(topology, i), tc.cfg))
				})
			}
		})
	}
}

// The identity's send window (3 per client, 5 for all clients per 10 min): a second
// client sending to addresses of its own choosing fills only its own share.
func testIsolatedSendWindow(t *testing.T, f *isolation) {
	ctx := context.Background()
	var le *LimitError
	for i := range 3 {
		f.mustStartAs("platform-b", &Destination{Kind: Email, Value: fmt.Sprintf("b%d@example.net", i)}, 0, OTPEmail)
	}
	if _, err := f.startAs("platform-b", &Destination{Kind: Email, Value: "b3@example.net"}, 0, OTPEmail); !errors.As(err, &le) || le.Scope != "identity" {
		t.Fatalf("the second client's 4th send: %v, want its share of the identity's window used up", err)
	}
	res := f.mustStartAs("platform-a", f.email, 0, OTPEmail)
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(res.Verification.ID), "a", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("the first client's verification: %+v, %v", r, err)
	}
	// All clients together are still bounded: the fifth send fills the window.
	f.mustStartAs("platform-a", f.email, 0, OTPEmail)
	if _, err := f.startAs("platform-a", f.email, 0, OTPEmail); !errors.As(err, &le) || le.Scope != "identity" || le.RetryAfter > 10*time.Minute {
		t.Fatalf("a sixth send to the identity: %v", err)
	}
}

// Email codes: the second client's wrong codes lock the family for it alone.
func testIsolatedEmailCodes(t *testing.T, f *isolation) {
	ctx := context.Background()
	b := f.mustStartAs("platform-b", &Destination{Kind: Email, Value: "b@example.net"}, 0, OTPEmail)
	tok, code := pageToken(t, b), f.code(b.Verification.ID)
	f.hammer(func(i int) (Result, error) {
		return f.svc.SubmitCode(ctx, tok, wrongCode(code), fmt.Sprint("b-", i), "")
	}, func(round int) {
		if round == 0 {
			var nm *NoMethodError
			if _, err := f.startAs("platform-b", &Destination{Kind: Email, Value: "b2@example.net"}, 0, OTPEmail); !errors.As(err, &nm) {
				t.Fatalf("the second client's start while its email codes are locked: %v", err)
			}
		}
		// The first client sends at most 3 per 10 min: it checks at the start and the end.
		if round != 0 && round != 5 {
			return
		}
		res := f.mustStartAs("platform-a", f.email, 0, OTPEmail)
		if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(res.Verification.ID), fmt.Sprint("a-", round), ""); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("round %d: the first client's code: %+v, %v", round, r, err)
		}
	})
}

// Authenticator app: a start that sends nothing, then wrong codes.
func testIsolatedTOTP(t *testing.T, f *isolation) {
	ctx := context.Background()
	b := f.mustStartAs("platform-b", nil, assurance.Substantial, TOTP)
	tok := pageToken(t, b)
	f.hammer(func(i int) (Result, error) {
		return f.svc.SubmitTOTP(ctx, tok, f.wrongTOTP(), fmt.Sprint("b-", i), "")
	}, func(round int) {
		if round == 0 {
			var nm *NoMethodError
			if _, err := f.startAs("platform-b", nil, assurance.Substantial, TOTP); !errors.As(err, &nm) {
				t.Fatalf("the second client's start while its app is locked: %v", err)
			}
		}
		f.verifyTOTP("platform-a")
	})
}

// Passkey: answers that do not check out (an authenticator the customer never
// enrolled), each after its own ceremony.
func testIsolatedPasskey(t *testing.T, f *isolation) {
	b := f.mustStartAs("platform-b", nil, assurance.High, WebAuthn)
	tok, stranger := pageToken(t, b), newAuthenticator(t)
	f.hammer(func(i int) (Result, error) {
		return f.passkeyTry(tok, stranger, fmt.Sprint("b-", i))
	}, func(round int) {
		res := f.mustStartAs("platform-a", nil, assurance.High, WebAuthn)
		if r, err := f.passkeyTry(pageToken(t, res), f.key, "a"); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("round %d: the first client's passkey: %+v, %v", round, r, err)
		}
	})
}

// Starts that send nothing: 10 per client and 15 for all clients per 10 min (one
// more every minute, or 40 s, after the burst). Past them the answer is the one a
// customer without an enrolled factor gets.
func testIsolatedQuietStarts(t *testing.T, f *isolation) {
	var nm *NoMethodError
	for range 10 {
		f.mustStartAs("platform-b", nil, assurance.Substantial, TOTP)
	}
	_, err := f.startAs("platform-b", nil, assurance.Substantial, TOTP)
	if !errors.As(err, &nm) {
		t.Fatalf("the second client's 11th silent start: %v", err)
	}
	other := *f
	other.cust = f.cust + "-without-factors"
	if _, none := other.startAs("platform-b", nil, assurance.Substantial, TOTP); none == nil || none.Error() != err.Error() {
		t.Fatalf("a refused silent start answers %v, a customer without factors %v", err, none)
	}
	f.mustStartAs("platform-a", nil, assurance.Substantial, TOTP)
	// A third client takes what is left of the identity's starts; then none is left
	// for anyone, until the identity's cell lets one more through.
	for range 4 {
		f.mustStartAs("platform-c", nil, assurance.Substantial, TOTP)
	}
	if _, err := f.startAs("platform-a", nil, assurance.Substantial, TOTP); !errors.As(err, &nm) {
		t.Fatalf("a 16th silent start of the identity: %v", err)
	}
	f.clock.Advance(40 * time.Second)
	if _, err := f.startAs("platform-b", nil, assurance.Substantial, TOTP); !errors.As(err, &nm) {
		t.Fatalf("the second client 40 s on, before its own cell refills: %v", err)
	}
	f.verifyTOTP("platform-a")
}

// 200 wrong authenticator-app codes spread over ten clients, 20 each, 20 at a time:
// each client's count toward the shared limit stops at its own limit (20), so the
// shared limit (30) is reached only with a second client's help, and then binds
// every client. Exactly 30 count; after the lock, at most two per lock period (one
// toward the shared limit, one of the pace of the clients past their own).
func testSpreadGuessesBounded(t *testing.T, f *isolation) {
	ctx := context.Background()
	type guesser struct{ client, id, tok string }
	gs := make([]guesser, 10)
	for i := range gs {
		c := fmt.Sprint("spread-", i)
		res := f.mustStartAs(c, nil, assurance.Substantial, TOTP)
		gs[i] = guesser{c, res.Verification.ID, pageToken(t, res)}
	}
	counted := func() int {
		n := 0
		for _, g := range gs {
			v, err := f.svc.Get(ctx, g.client, g.id)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			n += 100 - v.AttemptsLeft
		}
		return n
	}
	guess := func(n int, round string) {
		wrong := f.wrongTOTP()
		sem := make(chan struct{}, 20)
		var wg sync.WaitGroup
		for i := range n {
			g := gs[i%len(gs)]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				r, err := f.svc.SubmitTOTP(ctx, g.tok, wrong, fmt.Sprint(round, "-", i), "")
				if err != nil || (r.Outcome != OutcomeWrongCode && r.Outcome != OutcomeLocked) {
					t.Errorf("guess %d: %+v, %v", i, r, err)
				}
			})
		}
		wg.Wait()
	}
	guess(200, "first")
	if n := counted(); n != 30 {
		t.Fatalf("200 spread guesses counted %d, want the shared limit, 30", n)
	}
	// The shared lock binds a client that never failed too.
	var nm *NoMethodError
	if _, err := f.startAs("platform-a", nil, assurance.Substantial, TOTP); !errors.As(err, &nm) {
		t.Fatalf("a start by another client under the shared lock: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	guess(200, "second")
	if n := counted(); n < 31 || n > 32 {
		t.Fatalf("200 more guesses after the lock: %d counted in all, want one or two more than 30", n)
	}
	// Once the guessing stops and the locks end, the customer verifies.
	f.clock.Advance(time.Minute)
	f.verifyTOTP("platform-a")
}

// TestClientsPastTheirLimitShareOnePace: with a per-client limit of 3 and a shared
// one of 5. Failures past a client's own limit never set the shared lock, so once
// it ends the second client cannot keep it going for the first; and the clients
// past their own limit share one pace, so a guesser gains nothing by spreading
// over more of them. A success clears only its own client's count.
func TestClientsPastTheirLimitShareOnePace(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newIsolation(t, srv, srv.Client(t), false, "pace", Config{MaxAttempts: 100, DefaultTTL: time.Hour,
		Limits: Limits{Failures: 3, SharedFailures: 5}})
	ctx := context.Background()
	toks := map[string]string{}
	for _, c := range []string{"platform-a", "platform-b", "platform-c"} {
		toks[c] = pageToken(t, f.mustStartAs(c, nil, assurance.Substantial, TOTP))
	}
	n := 0
	try := func(client string, want Outcome, wait time.Duration) {
		t.Helper()
		n++
		r, err := f.svc.SubmitTOTP(ctx, toks[client], f.wrongTOTP(), fmt.Sprint("w-", n), "")
		if err != nil || r.Outcome != want || r.RetryAfter != wait {
			t.Fatalf("try %d by %s: %+v, %v; want %v, %v", n, client, r, err, want, wait)
		}
	}
	// The first client's two wrong codes are cleared by its own success, not by another's.
	try("platform-a", OutcomeWrongCode, 0)
	try("platform-b", OutcomeWrongCode, 0)
	try("platform-b", OutcomeWrongCode, 0)
	f.verifyTOTP("platform-a")
	try("platform-b", OutcomeLocked, 30*time.Second) // its third: locked for itself
	try("platform-a", OutcomeWrongCode, 0)           // counted: 3 of b's, 1 of a's
	try("platform-c", OutcomeLocked, 30*time.Second) // the fifth: the shared lock
	try("platform-a", OutcomeLocked, 30*time.Second)
	f.clock.Advance(30 * time.Second)
	// b, past its own limit, is locked again (1 min) and sets the pace (30 s) but
	// not the shared lock: a is free, and its failure, counted toward the shared
	// limit (6 ≥ 5), locks every client again (1 min).
	try("platform-b", OutcomeLocked, time.Minute)
	try("platform-a", OutcomeLocked, time.Minute)
	f.clock.Advance(time.Minute)
	try("platform-c", OutcomeLocked, 2*time.Minute) // c's second: the shared lock's third
	f.clock.Advance(2 * time.Minute)
	try("platform-c", OutcomeLocked, 4*time.Minute) // c's third: its own lock (30 s) and the shared one's fourth
	f.clock.Advance(4 * time.Minute)
	// b and c are both past their limits: the first of them to try sets the pace of both.
	try("platform-b", OutcomeLocked, 2*time.Minute) // b's own third lock; the pace's second (1 min)
	try("platform-c", OutcomeLocked, time.Minute)   // c's own lock has ended, the pace has not
	// Their tries set no shared lock: a, below its limit, still tries (and locks all).
	try("platform-a", OutcomeLocked, 8*time.Minute)
}

// TestRefusedStartGivesItsIdentitySendBack: a start another send limit refuses
// takes its send back out of the identity's window, so the client's share counts
// real sends only.
func TestRefusedStartGivesItsIdentitySendBack(t *testing.T) {
	t.Parallel()
	f := newLimitsFixture(t, Limits{Send: SendLimits{Destination: Rate{N: 1, Per: time.Hour}}})
	ctx := context.Background()
	var le *LimitError
	f.start(OTPEmail, email)
	if _, err := f.svc.Start(ctx, f.startReq(OTPEmail, email)); !errors.As(err, &le) || le.Scope != "destination" {
		t.Fatalf("a second send to one address: %v", err)
	}
	for i := range 2 {
		f.start(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("alice%d@example.com", i)})
	}
	if _, err := f.svc.Start(ctx, f.startReq(OTPEmail, &Destination{Kind: Email, Value: "alice9@example.com"})); !errors.As(err, &le) || le.Scope != "identity" {
		t.Fatalf("a fourth send of the client: %v", err)
	}
}

// TestCountersWrittenBeforeClientsStillCount: across the upgrade that made the
// identity's counters per client, a send logged before (a bare time) still counts
// toward the identity's shared window, and a family locked before stays locked for
// every client until its lock ends.
func TestCountersWrittenBeforeClientsStillCount(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newIsolation(t, srv, srv.Client(t), false, "upgrade", Config{})
	ctx := context.Background()
	ih := identity.IdentityHash(f.svc.keys, "x", f.user)
	ikey := "v:{" + identity.CustomerTag(f.svc.keys, f.cust) + "}:i"
	now := f.clock.Now().UnixMilli()
	if err := f.udb.HSet(ctx, ikey, ih+"s", fmt.Sprint(now-2000, ",", now-1000), ih+"t4", now-1000, ih+"n4", 1,
		ih+"l4", now+60_000, ih+"f4", 20).Err(); err != nil {
		t.Fatal(err)
	}
	var nm *NoMethodError
	if _, err := f.startAs("platform-a", nil, assurance.Substantial, TOTP); !errors.As(err, &nm) {
		t.Fatalf("a start while the family is locked from before: %v", err)
	}
	for i := range 3 {
		f.mustStartAs("platform-a", &Destination{Kind: Email, Value: fmt.Sprintf("a%d@example.com", i)}, 0, OTPEmail)
	}
	var le *LimitError
	if _, err := f.startAs("platform-b", &Destination{Kind: Email, Value: "b@example.com"}, 0, OTPEmail); !errors.As(err, &le) || le.Scope != "identity" {
		t.Fatalf("a sixth send, two of them logged before: %v", err)
	}
	f.clock.Advance(time.Minute)
	f.verifyTOTP("platform-b")
}
