package challenge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
)

// Fault tests: the service under lost replies (a proxy that drops 20% of them, so
// go-redis replays commands that already ran) and under a Redis killed mid-load.
// Operations run one at a time through a seeded proxy, so a run is reproducible;
// no assertion depends on which replies were lost, only that some were.

// sink records every message the service hands over, by message id ("<id>.<seq>").
type sink struct {
	mu    sync.Mutex
	sends map[string]int    // message id → times handed over
	codes map[string]string // message id → its code
	links map[string]string // message id → its link
}

func newSink() *sink {
	return &sink{sends: map[string]int{}, codes: map[string]string{}, links: map[string]string{}}
}

func (s *sink) Send(ctx context.Context, m delivery.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends[m.ID]++
	s.codes[m.ID] = m.Code
	s.links[m.ID] = m.Link
	return nil
}

// count returns the messages sent for verification id, and whether any message id
// was handed over twice.
func (s *sink) count(id string) (n int, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for mid, k := range s.sends {
		if strings.HasPrefix(mid, id+".") {
			n += k
			dup = dup || k > 1
		}
	}
	return n, dup
}

// code returns the code of the newest message for id, or "".
func (s *sink) code(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, code := 0, ""
	for mid, c := range s.codes {
		v, seq, _ := strings.Cut(mid, ".")
		if n, _ := strconv.Atoi(seq); v == id && n > best {
			best, code = n, c
		}
	}
	return code
}

type faultFixture struct {
	*fixture
	proxy  *redistest.Proxy
	direct *redis.Client // straight to Redis: reads the checks make, never faulted
	sink   *sink
}

// newFaultFixture builds a service whose go-redis client (default options, so
// default retries) talks to Redis through a fault proxy seeded with seed. The
// send windows are widened: these tests are about replays, not limits.
func newFaultFixture(t *testing.T, cfg Config, seed uint64) *faultFixture {
	t.Helper()
	srv := redistest.Start(t)
	p := redistest.NewProxy(t, srv.Addr())
	p.SetSeed(seed)
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	widen(&cfg.Limits)
	f := newFixtureWith(t, srv, rdb, cfg)
	s := newSink()
	f.svc.sender = s
	return &faultFixture{fixture: f, proxy: p, direct: srv.Client(t), sink: s}
}

func widen(l *Limits) {
	if l.Sends == 0 {
		l.Sends = 100_000
	}
	for _, r := range []*Rate{&l.Send.Destination, &l.Send.Client, &l.Send.Agent} {
		if r.N == 0 {
			r.N, r.Per = 100_000, time.Hour
		}
	}
}

// idOf is the verification id a start request lands on.
func (f *faultFixture) idOf(r StartRequest) string {
	return verificationID(f.svc.keys, tagOf(f.svc.keys, r), r.ClientID, r.RequestID)
}

// rec reads a verification's record straight from Redis.
func (f *faultFixture) rec(id string) record {
	f.t.Helper()
	m, err := f.direct.HGetAll(context.Background(), recordKey(id)).Result()
	if err != nil {
		f.t.Fatalf("HGETALL: %v", err)
	}
	return record(m)
}

// familyFailures reads the consecutive failures of the verification's delivered
// method family at its client: the count that starts the field <ih>k<method><client
// tag> of v:{tag}:i (the tests that read it start with one client).
func (f *faultFixture) familyFailures(id string) int {
	f.t.Helper()
	r := f.rec(id)
	all, err := f.direct.HGetAll(context.Background(), identityKey(id)).Result()
	if err != nil {
		f.t.Fatalf("HGETALL identity counters: %v", err)
	}
	n := 0
	for k, v := range all {
		if strings.HasPrefix(k, r["ih"]+"k"+r["dv"]) {
			count, _, _ := strings.Cut(v, ",")
			c, err := strconv.Atoi(count)
			if err != nil {
				f.t.Fatalf("family failures %q: %v", v, err)
			}
			n += c
		}
	}
	return n
}

// startClean starts a verification with no faults, for tests whose faults come later.
func (f *faultFixture) startClean(r StartRequest) *StartResult {
	f.t.Helper()
	f.proxy.DropReplies(0)
	res, err := f.svc.Start(context.Background(), r)
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	if n, _ := f.sink.count(res.Verification.ID); n != 1 {
		f.t.Fatalf("Start sent %d messages", n)
	}
	return res
}

// answered repeats op with the same request (a client retrying an unavailable
// answer) until it answers anything but ErrUnavailable; tries is bounded.
func answered[T any](t *testing.T, what string, op func() (T, error)) (T, error) {
	t.Helper()
	const tries = 20
	for i := 1; ; i++ {
		v, err := op()
		if !errors.Is(err, ErrUnavailable) {
			return v, err
		}
		if i == tries {
			t.Fatalf("%s: still unavailable after %d tries: %v", what, tries, err)
		}
	}
}

func mustHaveDropped(t *testing.T, p *redistest.Proxy) {
	t.Helper()
	if p.Dropped() == 0 {
		t.Fatal("the proxy dropped no reply: the test proved nothing")
	}
	t.Logf("%d replies dropped", p.Dropped())
}

const dropRate = 0.2

// TestStartUnderLostRepliesSendsOncePerSuccess: 200 starts, each one call, with
// 20% of replies lost. Every start that answered success sent exactly one message
// and its record says SENT; every start that answered an error sent nothing.
func TestStartUnderLostRepliesSendsOncePerSuccess(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t, Config{}, 11)
	ctx := context.Background()
	type outcome struct {
		id  string
		res *StartResult
		err error
	}
	outs := make([]outcome, 200)
	f.proxy.DropReplies(dropRate)
	for i := range outs {
		r := f.startReq(OTPEmail, email)
		res, err := f.svc.Start(ctx, r)
		outs[i] = outcome{f.idOf(r), res, err}
	}
	f.proxy.DropReplies(0)
	mustHaveDropped(t, f.proxy)
	var ok, unavailable int
	for i, o := range outs {
		n, dup := f.sink.count(o.id)
		if dup {
			t.Errorf("start %d: one message handed over twice", i)
		}
		if o.err != nil {
			unavailable++
			if !errors.Is(o.err, ErrUnavailable) {
				t.Errorf("start %d: %v, want ErrUnavailable", i, o.err)
			}
			if n != 0 {
				t.Errorf("start %d answered %v but sent %d messages", i, o.err, n)
			}
			continue
		}
		ok++
		if o.res.Verification.ID != o.id {
			t.Fatalf("start %d landed on %s, want %s", i, o.res.Verification.ID, o.id)
		}
		if n != 1 {
			t.Errorf("start %d answered success and sent %d messages", i, n)
		}
		if dl := f.rec(o.id)["dl"]; dl != strconv.Itoa(int(DeliverySent)) {
			t.Errorf("start %d answered success but its record says delivery %s (2 is SENDING)", i, dl)
		}
		if v := f.get(o.id); v.Delivery != DeliverySent || v.State != Pending {
			t.Errorf("start %d: Get says %v / %v", i, v.State, v.Delivery)
		}
	}
	t.Logf("%d starts succeeded, %d answered unavailable", ok, unavailable)
}

// TestWrongCodesUnderLostRepliesCountOncePerAttempt: 200 wrong codes over four
// identities, each attempt its own request id, with 20% of replies lost. After every
// logical attempt (retried by the client with the same request id while it answers
// unavailable) the verification's attempts and the identity's family failures have
// risen by exactly one, and the answer's attempts left agree with the record.
func TestWrongCodesUnderLostRepliesCountOncePerAttempt(t *testing.T) {
	t.Parallel()
	const perIdentity = 50
	f := newFaultFixture(t, Config{MaxAttempts: perIdentity, Limits: Limits{Failures: 100}}, 12)
	ctx := context.Background()
	for k := range 4 {
		r := f.startReq(OTPEmail, email)
		r.Identity.UserID = fmt.Sprint("user-", k)
		res := f.startClean(r)
		id, tok, code := res.Verification.ID, pageToken(t, res), f.sink.code(res.Verification.ID)
		f.proxy.DropReplies(dropRate)
		for i := 1; i <= perIdentity; i++ {
			nonce := fmt.Sprintf("wrong-%d-%d", k, i)
			got, err := answered(t, "SubmitCode", func() (Result, error) {
				return f.svc.SubmitCode(ctx, tok, wrongCode(code), nonce, "")
			})
			want := Result{Outcome: OutcomeWrongCode, AttemptsLeft: perIdentity - i}
			if i == perIdentity {
				want = Result{Outcome: OutcomeFailed}
			}
			if err != nil || got != want {
				t.Fatalf("identity %d attempt %d: %+v, %v; want %+v", k, i, got, err, want)
			}
			if at := f.rec(id).int("at"); at != i {
				t.Fatalf("identity %d: %d attempts recorded after %d logical attempts", k, at, i)
			}
			if fam := f.familyFailures(id); fam != i {
				t.Fatalf("identity %d: family failures %d after %d logical attempts", k, fam, i)
			}
			// A client's repeat of the same request answers the same and counts nothing.
			again, err := answered(t, "SubmitCode repeat", func() (Result, error) {
				return f.svc.SubmitCode(ctx, tok, wrongCode(code), nonce, "")
			})
			if err != nil || again != got || f.rec(id).int("at") != i || f.familyFailures(id) != i {
				t.Fatalf("identity %d attempt %d repeated: %+v, %v; attempts %d", k, i, again, err, f.rec(id).int("at"))
			}
		}
		f.proxy.DropReplies(0)
		if v := f.get(id); v.State != Failed || v.Reason != ReasonAttemptsExhausted {
			t.Fatalf("identity %d after the limit: %v %v", k, v.State, v.Reason)
		}
	}
	mustHaveDropped(t, f.proxy)
}

// TestRightCodeUnderLostRepliesVerifiesOnce: 50 verifications completed with the
// right code, 20% of replies lost. The completion answers verified, and so do its
// repeats; no attempt is counted; another request id finds it gone; every Get
// returns the same assertion.
func TestRightCodeUnderLostRepliesVerifiesOnce(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t, Config{}, 13)
	ctx := context.Background()
	for i := range 50 {
		res := f.startClean(f.startReq(OTPEmail, email))
		id, tok, code := res.Verification.ID, pageToken(t, res), f.sink.code(res.Verification.ID)
		f.proxy.DropReplies(dropRate)
		nonce := fmt.Sprint("right-", i)
		for j := range 3 {
			r, err := answered(t, "SubmitCode", func() (Result, error) { return f.svc.SubmitCode(ctx, tok, code, nonce, "") })
			if err != nil || r.Outcome != OutcomeVerified {
				t.Fatalf("verification %d, try %d of the same request: %+v, %v", i, j, r, err)
			}
		}
		r, err := answered(t, "SubmitCode", func() (Result, error) { return f.svc.SubmitCode(ctx, tok, code, nonce+"-other", "") })
		if err != nil || r.Outcome != OutcomeGone {
			t.Fatalf("verification %d, another request id: %+v, %v", i, r, err)
		}
		var jti, token string
		for j := range 3 {
			v, err := answered(t, "Get", func() (*Verification, error) { return f.svc.Get(ctx, "platform-a", id) })
			if err != nil || v.State != Verified || v.Assertion == nil {
				t.Fatalf("verification %d, Get %d: %+v, %v", i, j, v, err)
			}
			if j == 0 {
				jti, token = v.Assertion.ID, v.Assertion.Token
			} else if v.Assertion.ID != jti || v.Assertion.Token != token {
				t.Fatalf("verification %d, Get %d: another assertion (jti %s, was %s)", i, j, v.Assertion.ID, jti)
			}
		}
		f.proxy.DropReplies(0)
		if rec := f.rec(id); rec.int("at") != 0 || rec["st"] != "2" {
			t.Fatalf("verification %d: attempts %d, state %s", i, rec.int("at"), rec["st"])
		}
		if fam := f.familyFailures(id); fam != 0 {
			t.Fatalf("verification %d: family failures %d after a success", i, fam)
		}
	}
	mustHaveDropped(t, f.proxy)
}

// TestResendUnderLostRepliesSendsOncePerRequest: 20 verifications, each resent 9
// times (up to MaxSends) with 20% of replies lost. Each logical resend request sends
// exactly one message however often its call or the client's repeat is replayed;
// a repeat of a request that sent sends nothing; the newest code is the one that works.
func TestResendUnderLostRepliesSendsOncePerRequest(t *testing.T) {
	t.Parallel()
	const resends = 9
	f := newFaultFixture(t, Config{MaxSends: resends + 1, SendTimeout: 5 * time.Second}, 14)
	ctx := context.Background()
	for i := range 20 {
		res := f.startClean(f.startReq(OTPEmail, email))
		id := res.Verification.ID
		f.proxy.DropReplies(dropRate)
		for j := 1; j <= resends; j++ {
			req := ResendRequest{ClientID: "platform-a", ID: id, Destination: email, RequestID: fmt.Sprintf("resend-%d-%d", i, j)}
			before, _ := f.sink.count(id)
			_, err := answered(t, "Resend", func() (resendAnswer, error) {
				v, m, err := f.svc.Resend(ctx, req)
				return resendAnswer{v, m}, err
			})
			after, dup := f.sink.count(id)
			if err != nil || dup || after != before+1 {
				t.Fatalf("verification %d resend %d: %v; messages %d → %d, duplicate %v", i, j, err, before, after, dup)
			}
			// A client's repeat of a request that sent sends nothing.
			if _, err := answered(t, "Resend repeat", func() (resendAnswer, error) {
				v, m, err := f.svc.Resend(ctx, req)
				return resendAnswer{v, m}, err
			}); err != nil {
				t.Fatalf("verification %d resend %d repeated: %v", i, j, err)
			}
			if n, _ := f.sink.count(id); n != after {
				t.Fatalf("verification %d resend %d: a repeat sent (%d → %d)", i, j, after, n)
			}
		}
		// One more is over MaxSends, drops or not.
		_, err := answered(t, "Resend over the limit", func() (resendAnswer, error) {
			v, m, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: id, Destination: email, RequestID: fmt.Sprint("over-", i)})
			return resendAnswer{v, m}, err
		})
		if !errors.Is(err, ErrResendLimit) {
			t.Fatalf("verification %d: resend past MaxSends: %v", i, err)
		}
		f.proxy.DropReplies(0)
		if rec := f.rec(id); rec.int("sq") != resends+1 || rec["dl"] != strconv.Itoa(int(DeliverySent)) {
			t.Fatalf("verification %d: send count %s, delivery %s", i, rec["sq"], rec["dl"])
		}
		if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.sink.code(id), "n", ""); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("verification %d: the newest code: %+v, %v", i, r, err)
		}
	}
	mustHaveDropped(t, f.proxy)
}

type resendAnswer struct {
	v     *Verification
	match string
}

// TestCancelUnderLostRepliesKeepsItsMeaning: 50 pending verifications canceled and
// 50 verified ones revoked, 20% of replies lost. A cancel answers CANCELED (or the
// verified one, revoked) and so do its repeats; another request id answers
// ErrNotPending for the canceled ones; a canceled one cannot be completed and a
// revoked one returns no assertion.
func TestCancelUnderLostRepliesKeepsItsMeaning(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t, Config{}, 15)
	ctx := context.Background()
	for i := range 100 {
		verified := i%2 == 1
		res := f.startClean(f.startReq(OTPEmail, email))
		id, tok, code := res.Verification.ID, pageToken(t, res), f.sink.code(res.Verification.ID)
		if verified {
			if r, err := f.svc.SubmitCode(ctx, tok, code, "ok", ""); err != nil || r.Outcome != OutcomeVerified {
				t.Fatalf("SubmitCode: %+v, %v", r, err)
			}
		}
		f.proxy.DropReplies(dropRate)
		reqID := fmt.Sprint("cancel-", i)
		for j := range 3 {
			v, err := answered(t, "Cancel", func() (*Verification, error) { return f.svc.Cancel(ctx, "platform-a", id, reqID) })
			switch {
			case err != nil:
				t.Fatalf("cancel %d try %d: %v", i, j, err)
			case verified && (v.State != Verified || !v.Revoked || v.Assertion != nil):
				t.Fatalf("cancel %d of a verified one, try %d: %v revoked %v assertion %v", i, j, v.State, v.Revoked, v.Assertion != nil)
			case !verified && v.State != Canceled:
				t.Fatalf("cancel %d try %d: %v", i, j, v.State)
			}
		}
		if !verified {
			if _, err := answered(t, "Cancel", func() (*Verification, error) {
				return f.svc.Cancel(ctx, "platform-a", id, reqID+"-other")
			}); !errors.Is(err, ErrNotPending) {
				t.Fatalf("cancel %d with another request id: %v", i, err)
			}
			if r, err := answered(t, "SubmitCode", func() (Result, error) { return f.svc.SubmitCode(ctx, tok, code, "late", "") }); err != nil || r.Outcome != OutcomeGone {
				t.Fatalf("cancel %d: the code afterwards: %+v, %v", i, r, err)
			}
		}
		f.proxy.DropReplies(0)
		if err := f.svc.CheckAssertion(ctx, f.grant(id)); !errors.Is(err, ErrRevoked) {
			t.Fatalf("cancel %d: CheckAssertion = %v", i, err)
		}
	}
	mustHaveDropped(t, f.proxy)
}

// replayHook replays script calls the way go-redis does when a reply is lost:
// the command runs again with the same arguments (so with the same call token).
// It acts once, on the first command or pipeline whose first command runs the
// script armed for; it is a no-op otherwise.
type replayHook struct {
	mu sync.Mutex
	// script to act on, and what to do: lose every attempt's reply (the call sees
	// a network error after go-redis's 1+MaxRetries tries), or run concurrent
	// replays beside the call, whose replies are kept in replays.
	script     *redis.Script
	loseAll    bool
	concurrent int
	replays    [][]redis.Cmder
	armed      bool
}

const goRedisTries = 4 // 1 + the default MaxRetries

func (h *replayHook) arm(script *redis.Script, loseAll bool, concurrent int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.script, h.loseAll, h.concurrent, h.armed = script, loseAll, concurrent, true
}

// take reports whether cmds run the armed script, disarming the hook if so.
func (h *replayHook) take(cmds []redis.Cmder) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.armed || len(cmds) == 0 {
		return false
	}
	a := cmds[0].Args()
	if len(a) < 2 || !strings.EqualFold(fmt.Sprint(a[0]), "evalsha") || a[1] != h.script.Hash() {
		return false
	}
	h.armed = false
	return true
}

func (h *replayHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *replayHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !h.take([]redis.Cmder{cmd}) {
			return next(ctx, cmd)
		}
		return h.act(ctx, []redis.Cmder{cmd}, func(ctx context.Context, cmds []redis.Cmder) error {
			return next(ctx, cmds[0])
		})
	}
}

func (h *replayHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.take(cmds) {
			return next(ctx, cmds)
		}
		return h.act(ctx, cmds, next)
	}
}

func (h *replayHook) act(ctx context.Context, cmds []redis.Cmder, next func(context.Context, []redis.Cmder) error) error {
	if h.loseAll {
		for range goRedisTries {
			_ = next(ctx, cmds)
		}
		for _, c := range cmds {
			c.SetErr(io.EOF)
		}
		return io.EOF
	}
	// Replays of the same call racing each other (and the call) on other connections.
	var wg sync.WaitGroup
	replays := make([][]redis.Cmder, h.concurrent)
	for i := range replays {
		replays[i] = cloneCmds(ctx, cmds)
		wg.Go(func() { _ = next(ctx, replays[i]) })
	}
	err := next(ctx, cmds)
	wg.Wait()
	h.mu.Lock()
	h.replays = append(h.replays, replays...)
	h.mu.Unlock()
	return err
}

func cloneCmds(ctx context.Context, cmds []redis.Cmder) []redis.Cmder {
	out := make([]redis.Cmder, len(cmds))
	for i, c := range cmds {
		out[i] = redis.NewCmd(ctx, c.Args()...)
	}
	return out
}

// newHookedFixture builds a service whose client (straight to Redis) carries h,
// and warms the script cache so that scripts run as EVALSHA.
func newHookedFixture(t *testing.T, h *replayHook) *faultFixture {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	rdb.AddHook(h)
	cfg := Config{}
	widen(&cfg.Limits)
	f := newFixtureWith(t, srv, rdb, cfg)
	s := newSink()
	f.svc.sender = s
	ff := &faultFixture{fixture: f, direct: srv.Client(t), sink: s}
	res, err := f.svc.Start(context.Background(), f.startReq(OTPEmail, email))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Resend(context.Background(), ResendRequest{ClientID: "platform-a", ID: res.Verification.ID,
		Destination: email, RequestID: "warm"}); err != nil {
		t.Fatal(err)
	}
	return ff
}

// TestStartRetriedAfterEveryReplyWasLostSends: a start whose pipeline ran but
// whose reply was lost on every go-redis try answers unavailable, having claimed
// the send. The platform retries the same request, as UNAVAILABLE tells it to:
// that retry must send the code (and only once), not answer success with a
// message that never leaves.
func TestStartRetriedAfterEveryReplyWasLostSends(t *testing.T) {
	t.Parallel()
	h := &replayHook{}
	f := newHookedFixture(t, h)
	ctx := context.Background()
	req := f.startReq(OTPEmail, email)
	id := f.idOf(req)
	h.arm(startScript, true, 0)
	if _, err := f.svc.Start(ctx, req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start with every reply lost: %v, want ErrUnavailable", err)
	}
	if n, _ := f.sink.count(id); n != 0 {
		t.Fatalf("a start that answered unavailable sent %d messages", n)
	}
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatalf("the platform's retry: %v", err)
	}
	n, dup := f.sink.count(id)
	if n != 1 || dup {
		t.Fatalf("the retry answered success (delivery %v) and %d messages were sent; want exactly 1",
			res.Verification.Delivery, n)
	}
	if res.Verification.Delivery != DeliverySent || f.rec(id)["dl"] != strconv.Itoa(int(DeliverySent)) {
		t.Fatalf("after the retry: delivery %v, record %s", res.Verification.Delivery, f.rec(id)["dl"])
	}
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.sink.code(id), "n", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("the code sent by the retry: %+v, %v", r, err)
	}
	// Another repeat sends nothing more.
	if _, err := f.svc.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.sink.count(id); n != 1 {
		t.Fatalf("%d messages after a further repeat", n)
	}
}

// TestResendRetriedAfterEveryReplyWasLostSends: the same for a resend, whose claim
// also replaces the code: the customer must end up with a working code.
func TestResendRetriedAfterEveryReplyWasLostSends(t *testing.T) {
	t.Parallel()
	h := &replayHook{}
	f := newHookedFixture(t, h)
	ctx := context.Background()
	res, err := f.svc.Start(ctx, f.startReq(OTPEmail, email))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Verification.ID
	req := ResendRequest{ClientID: "platform-a", ID: id, Destination: email, RequestID: "resend-1"}
	h.arm(resendScript, true, 0)
	if _, _, err := f.svc.Resend(ctx, req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Resend with every reply lost: %v, want ErrUnavailable", err)
	}
	if n, _ := f.sink.count(id); n != 1 {
		t.Fatalf("a resend that answered unavailable sent: %d messages", n)
	}
	v, _, err := f.svc.Resend(ctx, req)
	if err != nil {
		t.Fatalf("the platform's retry: %v", err)
	}
	if n, dup := f.sink.count(id); n != 2 || dup {
		t.Fatalf("the retry answered success (delivery %v) and the verification has %d messages; want 2", v.Delivery, n)
	}
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.sink.code(id), "n", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("the newest code sent: %+v, %v", r, err)
	}
}

// TestConcurrentReplaysOfOneStartSendOnce: the start pipeline of one call runs
// three times at once with the same call token (the call and two replays on other
// connections, as go-redis would after lost replies). Every run answers 'created',
// the call succeeds, exactly one message leaves, and a replay arriving after the
// call has finished changes nothing.
func TestConcurrentReplaysOfOneStartSendOnce(t *testing.T) {
	t.Parallel()
	h := &replayHook{}
	f := newHookedFixture(t, h)
	ctx := context.Background()
	req := f.startReq(OTPEmail, email)
	id := f.idOf(req)
	h.arm(startScript, false, 2)
	res, err := f.svc.Start(ctx, req)
	if err != nil || res.Verification.ID != id {
		t.Fatalf("Start: %v", err)
	}
	if n, dup := f.sink.count(id); n != 1 || dup {
		t.Fatalf("%d messages for one call replayed concurrently", n)
	}
	h.mu.Lock()
	replays := h.replays
	h.mu.Unlock()
	if len(replays) != 2 {
		t.Fatalf("%d replays ran", len(replays))
	}
	for i, r := range replays {
		// Whichever run came first created the record (and wrote its audit event);
		// every run answers 'created'.
		reply, _ := r[0].(*redis.Cmd).Val().([]any)
		if r[0].Err() != nil || status(reply) != "created" {
			t.Errorf("replay %d answered %v, %v; want created", i, r[0].(*redis.Cmd).Val(), r[0].Err())
		}
	}
	if rec := f.rec(id); rec["sq"] != "1" || rec["dl"] != strconv.Itoa(int(DeliverySent)) {
		t.Fatalf("record: send count %s, delivery %s", rec["sq"], rec["dl"])
	}
	// A replay that lands after the call has recorded its send answers as a repeat
	// and changes nothing.
	before := f.rec(id)
	late := cloneCmds(ctx, replays[0])
	if _, err := f.direct.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range late {
			_ = p.Process(ctx, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(late[0].(*redis.Cmd).Val()); got != "[exists]" {
		t.Errorf("a late replay answered %s, want [exists]", got)
	}
	if after := f.rec(id); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a late replay changed the record:\n%v\n%v", before, after)
	}
	if n, _ := f.sink.count(id); n != 1 {
		t.Fatalf("%d messages", n)
	}
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.sink.code(id), "n", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("the code: %+v, %v", r, err)
	}
}

// loadOp is one call of the load, with the phases it began and ended in.
type loadOp struct {
	kind       string // start, submit, get
	id         string
	began, end int32
	took       time.Duration
	err        error
	verified   bool // a submit that answered verified, or a Get with an assertion
}

// Phases of TestRedisKilledMidLoad.
const (
	phaseUp int32 = iota
	phaseDown
	phaseRestarting
	phaseRestarted
)

// TestRedisKilledMidLoadFailsClosedAndRecovers: 8 goroutines run start → code →
// get against the service; Redis is killed with SIGKILL. Every call that began and
// ended while Redis was down answers ErrUnavailable within a bound, and no call
// that began while it was down verified anything or returned an assertion.
// Redis is restarted (empty): success resumes, every VERIFIED record in the new
// Redis was answered verified to its caller (nothing verified silently), and once
// the load stops no goroutine is left behind. Not parallel: the leak check wants
// the process to itself.
func TestRedisKilledMidLoadFailsClosedAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	cfg := Config{}
	widen(&cfg.Limits)
	f := newFixtureWith(t, srv, rdb, cfg)
	s := newSink()
	f.svc.sender = s
	direct := srv.Client(t)
	leakOpts := []goleak.Option{goleak.IgnoreCurrent(),
		// The harness's wait on the restarted redis-server process, ended in cleanup.
		goleak.IgnoreAnyFunction("github.com/authsvc/authsvc/internal/redistest.(*node).start.func1")}

	const workers, callTimeout, bound = 8, 15 * time.Second, 10 * time.Second
	var phase atomic.Int32
	var mu sync.Mutex
	var ops []loadOp
	var upVerified, downOps, restartedVerified atomic.Int32
	stop := make(chan struct{})
	run := func(kind, id string, call func(ctx context.Context) (bool, error)) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		op := loadOp{kind: kind, id: id, began: phase.Load()}
		t0 := time.Now()
		op.verified, op.err = call(ctx)
		op.took, op.end = time.Since(t0), phase.Load()
		switch {
		case op.began == phaseDown && op.end == phaseDown:
			downOps.Add(1)
		case op.verified && op.began == phaseUp && op.end == phaseUp:
			upVerified.Add(1)
		case op.verified && op.began == phaseRestarted:
			restartedVerified.Add(1)
		}
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
		return op.verified, op.err
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := f.startReq(OTPEmail, email)
				id := verificationID(f.svc.keys, tagOf(f.svc.keys, req), req.ClientID, req.RequestID)
				var res *StartResult
				_, err := run("start", id, func(ctx context.Context) (bool, error) {
					var err error
					res, err = f.svc.Start(ctx, req)
					return false, err
				})
				if err != nil {
					time.Sleep(5 * time.Millisecond) // no hot loop while Redis is down
					continue
				}
				ok, _ := run("submit", id, func(ctx context.Context) (bool, error) {
					_, tok, _ := strings.Cut(res.PageURL, "/v/") // not pageToken: no t.Fatal off the test goroutine
					r, err := f.svc.SubmitCode(ctx, tok, s.code(id), "n-"+id, "")
					return r.Outcome == OutcomeVerified, err
				})
				if ok {
					_, _ = run("get", id, func(ctx context.Context) (bool, error) {
						v, err := f.svc.Get(ctx, "platform-a", id)
						return v != nil && v.Assertion != nil, err
					})
				}
			}
		})
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		t0 := time.Now()
		for !cond() {
			if time.Since(t0) > bound {
				t.Fatalf("%s: not within %v", what, bound)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(t0)
	}

	waitFor("verifications under load", func() bool { return upVerified.Load() >= 20 })
	srv.Kill()
	phase.Store(phaseDown)
	waitFor("calls while Redis is down", func() bool { return downOps.Load() >= 4*workers })
	phase.Store(phaseRestarting)
	srv.Restart(t)
	phase.Store(phaseRestarted)
	resumed := waitFor("success after the restart", func() bool { return restartedVerified.Load() >= 1 })
	stopLoad()

	answeredVerified := map[string]bool{}
	var down int
	var downMax time.Duration
	for _, op := range ops {
		if op.kind == "submit" && op.verified && op.err == nil {
			answeredVerified[op.id] = true
		}
		// Any error is a store error, or a record the restart wiped.
		if op.err != nil && !errors.Is(op.err, ErrUnavailable) && !errors.Is(op.err, ErrNotFound) {
			t.Errorf("%s %s: %v, want ErrUnavailable", op.kind, op.id, op.err)
		}
		if op.began == phaseDown && op.verified {
			t.Errorf("%s %s began while Redis was down and answered verified", op.kind, op.id)
		}
		if op.began != phaseDown || op.end != phaseDown {
			continue
		}
		down++
		if !errors.Is(op.err, ErrUnavailable) {
			t.Errorf("%s %s while Redis was down: %v, want ErrUnavailable", op.kind, op.id, op.err)
		}
		downMax = max(downMax, op.took)
		if op.took > bound {
			t.Errorf("%s %s while Redis was down took %v", op.kind, op.id, op.took)
		}
	}
	// Whatever the new Redis holds as VERIFIED was told to a caller as verified.
	var cursor uint64
	var verifiedInRedis int
	for i := 0; ; i++ {
		keys, next, err := direct.Scan(context.Background(), cursor, "v:*", 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, ":i") {
				continue
			}
			st, err := direct.HGet(context.Background(), k, "st").Result()
			if err != nil || st != strconv.Itoa(int(Verified)) {
				continue
			}
			verifiedInRedis++
			id := k[strings.LastIndex(k, ":")+1:]
			if !answeredVerified[id] {
				t.Errorf("%s is VERIFIED in Redis but no caller was told so", id)
			}
		}
		if cursor = next; cursor == 0 || i > 10_000 {
			break
		}
	}
	if verifiedInRedis == 0 {
		t.Error("nothing verified after the restart")
	}
	t.Logf("%d calls; %d while Redis was down (slowest %v); success resumed %v after the restart; %d verified in the new Redis",
		len(ops), down, downMax.Round(time.Millisecond), resumed.Round(time.Millisecond), verifiedInRedis)

	_ = rdb.Close()
	// go-redis's dial probe (pool.tryDial) sleeps a second between probes and exits
	// when it sees the pool closed: wait it out rather than ignore it.
	for settle := time.Now(); goleak.Find(leakOpts...) != nil && time.Since(settle) < 5*time.Second; {
		time.Sleep(50 * time.Millisecond)
	}
	goleak.VerifyNone(t, leakOpts...)
}
