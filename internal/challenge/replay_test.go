package challenge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// Replay tests: go-redis resends a command whose reply was lost, so every
// mutating script runs again with the same arguments. Each scenario runs twice:
// through the lost-reply proxy (standalone; 20% of replies lost, the client
// retrying an unavailable answer with the same request) and with a hook that runs
// every command and pipeline twice (standalone and Cluster), which replays every
// script deterministically. Either way, what a scenario counts must come out as if
// nothing had been replayed.

// replayAll is a go-redis hook that runs every command and pipeline twice, as
// go-redis does when the first reply is lost: the caller sees the second reply.
type replayAll struct{}

func (replayAll) DialHook(next redis.DialHook) redis.DialHook { return next }

func (replayAll) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		_ = next(ctx, cmd)
		return next(ctx, cmd)
	}
}

func (replayAll) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		_ = next(ctx, cmds)
		return next(ctx, cmds)
	}
}

// replayFixture is a service whose client replays, a client straight to Redis
// for the checks, and a sink for the messages.
type replayFixture struct {
	*fixture
	ff     *factorFixture
	direct redis.UniversalClient
	sink   *sink
	proxy  *redistest.Proxy // nil unless through the proxy
	perTag bool             // Cluster: an audit stream per tag
}

// replayMode is how a replay fixture's client replays.
type replayMode int

const (
	throughProxy replayMode = iota // standalone, behind the lost-reply proxy
	everyCommand                   // standalone, replayAll
	onCluster                      // Cluster, replayAll
)

func (m replayMode) String() string {
	return [...]string{"lost replies", "every command replayed", "every command replayed on Cluster"}[m]
}

// newReplayFixture builds a service with cfg (and enrolled methods) on a client
// that replays as mode says. Through the proxy, drops are off until the test
// turns them on.
func newReplayFixture(t *testing.T, mode replayMode, cfg Config) *replayFixture {
	t.Helper()
	var (
		srv    *redistest.Server
		rdb    redis.UniversalClient
		direct redis.UniversalClient
		proxy  *redistest.Proxy
	)
	switch mode {
	case throughProxy:
		srv = redistest.Start(t)
		proxy = redistest.NewProxy(t, srv.Addr())
		proxy.SetSeed(18)
		c := redis.NewClient(&redis.Options{Addr: proxy.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		rdb, direct = c, srv.Client(t)
	case everyCommand:
		srv = redistest.Start(t)
		c := srv.Client(t)
		c.AddHook(replayAll{})
		rdb, direct = c, srv.Client(t)
	case onCluster:
		cl := redistest.StartCluster(t, 3)
		c := cl.Client(t)
		c.AddHook(replayAll{})
		rdb, direct = c, cl.Client(t)
		cfg.ShardedPubSub = true
	}
	ff := newFactorFixtureOn(t, srv, rdb, cfg)
	s := newSink()
	ff.svc.sender = s
	return &replayFixture{fixture: ff.fixture, ff: ff, direct: direct, sink: s, proxy: proxy, perTag: mode == onCluster}
}

// faults turns the proxy's lost replies on (a no-op for the hooks, which replay
// everything all along).
func (f *replayFixture) faults(on bool) {
	if f.proxy == nil {
		return
	}
	if on {
		f.proxy.DropReplies(dropRate)
	} else {
		f.proxy.DropReplies(0)
	}
}

func (f *replayFixture) proved(t *testing.T) {
	t.Helper()
	if f.proxy != nil {
		mustHaveDropped(t, f.proxy)
	}
}

// auditOf reads the audit events of the verifications ids, from their tags'
// streams on Cluster.
func (f *replayFixture) auditOf(t *testing.T, ids []string) []redis.XMessage {
	t.Helper()
	if !f.perTag {
		return auditEntries(t, f.direct, audit.StreamKey("", false))
	}
	var out []redis.XMessage
	seen := map[string]bool{}
	for _, id := range ids {
		tag := id[:tagLen]
		if !seen[tag] {
			seen[tag] = true
			out = append(out, auditEntries(t, f.direct, audit.StreamKey(tag, true))...)
		}
	}
	return out
}

// cellCount is how many sends window l holds at now, in whole emissions, read
// straight from its cell; it fails the test when the cell holds a fraction.
func cellCount(t *testing.T, rdb redis.UniversalClient, l limit, now time.Time) int {
	t.Helper()
	var v string
	var err error
	if l.field == "" {
		v, err = rdb.Get(context.Background(), l.key).Result()
	} else {
		v, err = rdb.HGet(context.Background(), l.key, l.field).Result()
	}
	if errors.Is(err, redis.Nil) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	digits, _, _ := strings.Cut(v, ":")
	tat, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		t.Fatalf("cell %s %s holds %q", l.key, l.field, v)
	}
	over := tat - now.UnixMilli()
	if over <= 0 {
		return 0
	}
	emission := l.rate.Per.Milliseconds() / int64(l.rate.N)
	if over%emission != 0 {
		t.Fatalf("%s window holds %d ms, not a whole number of %d ms sends", l.scope, over, emission)
	}
	return int(over / emission)
}

// exactLimits: every window lets one send in per 100 s after its burst, so a
// window's count is its time ahead of the (fixed) clock in 100 s, and no cell
// drains (its TTL runs on Redis's clock) while a test runs. A destination takes 3
// at once, an identity 3 per 10 minutes; the rest never refuse here.
func exactLimits() Config {
	return Config{Limits: Limits{Sends: 3, Send: SendLimits{
		Destination: Rate{N: 3, Per: 300 * time.Second},
		Client:      Rate{N: 100_000, Per: 10_000_000 * time.Second},
		Agent:       Rate{N: 100_000, Per: 10_000_000 * time.Second},
		ClientDaily: 864,
	}}}
}

// runSendLimitScenario: starts of one client and agent to 20 addresses, four
// rounds (the fourth refused by each address's limit), five starts of one identity
// (the last two refused by the identity's limit), ten starts each resent once, and
// every start and resend repeated by the client. Every window then holds exactly
// the messages that left through it, and each refused call wrote one audit event.
func runSendLimitScenario(t *testing.T, f *replayFixture) {
	ctx := context.Background()
	byDest := map[string][]string{} // address → verification ids
	var ids []string
	refusals := 0
	start := func(user, to string) {
		t.Helper()
		req := f.startReq(OTPEmail, &Destination{Kind: Email, Value: to})
		req.CustomerID, req.Identity.UserID = "", user
		id := verificationID(f.svc.keys, tagOf(f.svc.keys, req), req.ClientID, req.RequestID)
		byDest[to] = append(byDest[to], id)
		ids = append(ids, id)
		for range 2 { // the call, and the client's repeat of it
			_, err := answered(t, "Start", func() (*StartResult, error) { return f.svc.Start(ctx, req) })
			var le *LimitError
			switch {
			case errors.As(err, &le):
				refusals++
			case err != nil:
				t.Fatalf("Start for %s to %s: %v", user, to, err)
			}
		}
	}
	f.faults(true)
	for i := range 80 {
		start(fmt.Sprint("user-", i), fmt.Sprintf("dest-%d@example.com", i%20))
	}
	for i := range 5 {
		start("hammered", fmt.Sprintf("hammered-%d@example.com", i))
	}
	for i := range 10 {
		to := fmt.Sprintf("resent-%d@example.com", i)
		start(fmt.Sprint("resent-", i), to)
		req := ResendRequest{ClientID: "platform-a", ID: byDest[to][0], Destination: &Destination{Kind: Email, Value: to},
			RequestID: fmt.Sprint("resend-", i)}
		for range 2 {
			if _, err := answered(t, "Resend", func() (resendAnswer, error) {
				v, m, err := f.svc.Resend(ctx, req)
				return resendAnswer{v, m}, err
			}); err != nil {
				t.Fatalf("Resend %d: %v", i, err)
			}
		}
	}
	f.faults(false)
	f.proved(t)

	now := f.clock.Now()
	total := 0
	for to, vids := range byDest {
		sent := 0
		for _, id := range vids {
			n, dup := f.sink.count(id)
			if dup {
				t.Errorf("a message to %s was handed over twice", to)
			}
			sent += n
		}
		total += sent
		dest, _ := Destination{Kind: Email, Value: to}.check(f.svc.cfg.EmailRules)
		l := f.svc.sendLimits("platform-a", "agent-7", dest)[0]
		if got := cellCount(t, f.direct, l, now); got != sent {
			t.Errorf("the window of %s counts %d sends; %d messages left", to, got, sent)
		}
	}
	// 60 of the 80 first starts, 3 of the identity's 5, 10 starts and 10 resends.
	if total != 83 {
		t.Errorf("%d messages left, want 83", total)
	}
	for _, l := range f.svc.sendLimits("platform-a", "agent-7", contact{Destination: Destination{Kind: Email}, key: "any@example.com"})[1:] {
		if got := cellCount(t, f.direct, l, now); got != total {
			t.Errorf("the %s window counts %d sends; %d messages left", l.scope, got, total)
		}
	}
	events := 0
	for _, m := range f.auditOf(t, ids) {
		if m.Values["k"] == "send_failed" && m.Values["o"] == "limited" {
			events++
		}
	}
	// 20 refused fourth starts and 2 refused by the identity's limit, each repeated.
	if refusals != 44 || events != refusals {
		t.Errorf("%d calls refused (want 44), %d refusals audited", refusals, events)
	}
}

func TestSendLimitsCountOnceUnderReplays(t *testing.T) {
	t.Parallel()
	for _, mode := range []replayMode{throughProxy, everyCommand, onCluster} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			runSendLimitScenario(t, newReplayFixture(t, mode, exactLimits()))
		})
	}
}

// TestUnavailableCallsTakeBackWhatTheyCounted: a start, then a resend, whose
// pipeline ran but whose replies were lost on every try answer unavailable; the
// platform retries each and the retry sends. Every window counts each message
// once: the unavailable call took back what it had counted.
func TestUnavailableCallsTakeBackWhatTheyCounted(t *testing.T) {
	t.Parallel()
	h := &replayHook{}
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	rdb.AddHook(h)
	cfg := exactLimits()
	cfg.Limits.Sends = 100 // the identity's own limit is not what this is about
	f := newFixtureWith(t, srv, rdb, cfg)
	s := newSink()
	f.svc.sender = s
	ctx := context.Background()
	// Warm the script cache (the hook acts on EVALSHA) with a start and a resend
	// to another address.
	other := &Destination{Kind: Email, Value: "warm@example.com"}
	warm, err := f.svc.Start(ctx, f.startReq(OTPEmail, other))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: warm.Verification.ID,
		Destination: other, RequestID: "warm"}); err != nil {
		t.Fatal(err)
	}
	req := f.startReq(OTPEmail, email)
	h.arm(startScript, true, 0)
	if _, err := f.svc.Start(ctx, req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start with every reply lost: %v, want ErrUnavailable", err)
	}
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatalf("the platform's retry: %v", err)
	}
	resend := ResendRequest{ClientID: "platform-a", ID: res.Verification.ID, Destination: email, RequestID: "lost"}
	h.arm(limitsScript, true, 0) // the cells run in one script on one node
	if _, _, err := f.svc.Resend(ctx, resend); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Resend with every limit reply lost: %v, want ErrUnavailable", err)
	}
	if _, _, err := f.svc.Resend(ctx, resend); err != nil {
		t.Fatalf("the platform's retry: %v", err)
	}
	// Two messages to the address, four in all with the warm-up's.
	dest, _ := email.check(f.svc.cfg.EmailRules)
	for i, l := range f.svc.sendLimits("platform-a", "agent-7", dest) {
		want := 4
		if i == 0 {
			want = 2 // the address's own window
		}
		if got := cellCount(t, srv.Client(t), l, f.clock.Now()); got != want {
			t.Errorf("the %s window counts %d sends, want %d", l.scope, got, want)
		}
	}
}

// runFullAnswerScenario: starts of customers with an authenticator app (a code or
// a magic link, and TOTP) and of identities linked to a customer, each called and
// repeated by the client. Every answer, the first call's replayed included, lists
// the enrolled method with a page to use it on, or names the linked customer.
func runFullAnswerScenario(t *testing.T, f *replayFixture) {
	ctx := context.Background()
	keys := f.svc.keys
	for i := range 10 {
		f.ff.enrollTOTP(fmt.Sprint("cust-app-", i), newSeed(t))
		user := fmt.Sprint("linked-", i)
		link := identity.LinkKey(identity.IdentityTag(keys, "x", user), identity.IdentityHash(keys, "x", user))
		if err := f.direct.Set(ctx, link, identity.LinkValue(fmt.Sprint("cust-linked-", i), "platform-a"), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(time.Second) // the factors predate the verifications
	f.faults(true)
	for i := range 20 {
		sent := []Method{OTPEmail, MagicLink}[i%2]
		req := f.startReq(sent, &Destination{Kind: Email, Value: fmt.Sprintf("full-%d@example.com", i)})
		req.Identity.UserID = fmt.Sprint("user-", i)
		want := func(res *StartResult) string {
			v := res.Verification
			if !slices.Equal(v.Methods, []Method{sent, TOTP}) || res.PageURL == "" || v.CustomerID != req.CustomerID {
				return fmt.Sprintf("methods %v, page %q, customer %q", v.Methods, res.PageURL, v.CustomerID)
			}
			return ""
		}
		if i >= 10 {
			// An identity linked to a customer, in a start that names none.
			req.Identity.UserID, req.CustomerID = fmt.Sprint("linked-", i-10), ""
			want = func(res *StartResult) string {
				if v := res.Verification; v.CustomerID != fmt.Sprint("cust-linked-", i-10) || !slices.Equal(v.Methods, []Method{sent}) {
					return fmt.Sprintf("customer %q, methods %v", v.CustomerID, v.Methods)
				}
				return ""
			}
		} else {
			req.CustomerID = fmt.Sprint("cust-app-", i)
			req.Methods = []Method{sent, TOTP}
		}
		for try := range 2 { // the call, and the client's repeat of it
			res, err := answered(t, "Start", func() (*StartResult, error) { return f.svc.Start(ctx, req) })
			if err != nil {
				t.Fatalf("start %d: %v", i, err)
			}
			if problem := want(res); problem != "" {
				t.Errorf("start %d, answer %d: %s", i, try+1, problem)
			}
		}
	}
	f.faults(false)
	f.proved(t)
}

func TestReplayedStartAnswersInFull(t *testing.T) {
	t.Parallel()
	for _, mode := range []replayMode{throughProxy, everyCommand, onCluster} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			runFullAnswerScenario(t, newReplayFixture(t, mode, Config{}))
		})
	}
}

// lock locks method family fam for the identity of verification id for an hour,
// as its failures would.
func (f *replayFixture) lock(t *testing.T, id string, fam Method) {
	t.Helper()
	ctx := context.Background()
	rec, err := f.direct.HMGet(ctx, recordKey(id), "ih", "ck").Result()
	if err != nil {
		t.Fatal(err)
	}
	// An enrolled family of a known customer counts against the customer.
	subject, _ := rec[0].(string)
	if ck, _ := rec[1].(string); ck != "" && (fam == TOTP || fam == WebAuthn) {
		subject = ck
	}
	until := ms(f.clock.Now().Add(time.Hour))
	if err := f.direct.HSet(ctx, identityKey(id), subject+"l"+strconv.Itoa(int(fam)), until).Err(); err != nil {
		t.Fatal(err)
	}
}

// runLockedScenario: attempts on verifications whose method family is locked for
// the identity: ten forms each for a code, a magic link's number and an
// authenticator code, each submitted twice, and the one attempt of a passkey
// whose ceremony began before the lock. Every attempt answers locked, and each
// request writes one attempt_failed event.
func runLockedScenario(t *testing.T, f *replayFixture) {
	ctx := context.Background()
	f.ff.enrollTOTP("cust-1", newSeed(t))
	key := newAuthenticator(t)
	f.ff.enrollPasskey("cust-1", key)
	f.clock.Advance(time.Second)

	code, err := f.svc.Start(ctx, f.startReq(OTPEmail, email))
	if err != nil {
		t.Fatal(err)
	}
	link, err := f.svc.Start(ctx, f.startReq(MagicLink, email))
	if err != nil {
		t.Fatal(err)
	}
	number, _ := strconv.Atoi(link.MatchNumber)
	_, linkToken, _ := strings.Cut(f.sink.links[link.Verification.ID+".1"], "/l/")
	app := f.ff.mustStart("cust-1", assurance.Substantial, TOTP)
	pk := f.ff.mustStart("cust-1", assurance.High, WebAuthn)
	opts, err := f.svc.BeginPasskey(ctx, pageToken(t, pk))
	if err != nil {
		t.Fatal(err)
	}
	body, err := key.Login(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.lock(t, code.Verification.ID, OTPEmail)
	f.lock(t, link.Verification.ID, MagicLink)
	f.lock(t, app.Verification.ID, TOTP)
	f.lock(t, pk.Verification.ID, WebAuthn)

	attempts := map[string]func(nonce string) (Result, error){
		code.Verification.ID: func(nonce string) (Result, error) {
			return f.svc.SubmitCode(ctx, pageToken(t, code), "123456", nonce, "")
		},
		link.Verification.ID: func(nonce string) (Result, error) {
			return f.svc.ConfirmLink(ctx, linkToken, number, nonce, "")
		},
		app.Verification.ID: func(nonce string) (Result, error) {
			return f.svc.SubmitTOTP(ctx, pageToken(t, app), "123456", nonce, "")
		},
		pk.Verification.ID: func(nonce string) (Result, error) {
			return f.svc.FinishPasskey(ctx, pageToken(t, pk), body, nonce, "")
		},
	}
	f.faults(true)
	for id, attempt := range attempts {
		var nonces []string
		for i := range 10 {
			nonces = append(nonces, fmt.Sprint("n", i), fmt.Sprint("n", i))
		}
		if id == pk.Verification.ID {
			// A ceremony has one attempt: a second finds it consumed, before any script.
			nonces = nonces[:1]
		}
		for _, nonce := range nonces {
			r, err := answered(t, "attempt", func() (Result, error) { return attempt(nonce) })
			if err != nil || r.Outcome != OutcomeLocked {
				t.Errorf("%s, request %s: %+v, %v; want locked", id, nonce, r, err)
			}
		}
	}
	f.faults(false)
	f.proved(t)
	msgs := f.auditOf(t, []string{code.Verification.ID, link.Verification.ID, app.Verification.ID, pk.Verification.ID})
	for id, want := range map[string]int{code.Verification.ID: 10, link.Verification.ID: 10, app.Verification.ID: 10,
		pk.Verification.ID: 1} {
		got := 0
		for _, m := range msgs {
			if m.Values["v"] == id && m.Values["k"] == "attempt_failed" && m.Values["o"] == "locked" {
				got++
			}
		}
		if got != want {
			t.Errorf("%s: %d locked attempts audited, want %d", id, got, want)
		}
	}
}

func TestLockedAttemptsAuditedOncePerRequest(t *testing.T) {
	t.Parallel()
	for _, mode := range []replayMode{throughProxy, everyCommand} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			runLockedScenario(t, newReplayFixture(t, mode, Config{}))
		})
	}
}

// TestUnavailableStartGivesTheIdentitysSendBack: a start whose pipeline ran but
// whose replies were lost on every try answers unavailable and releases its claim;
// the identity's send log must give the claim's send back too. With one send a
// window for the identity, the platform's retry then sends (it was refused as
// limited while the log kept the send no message used), and the log holds one send.
func TestUnavailableStartGivesTheIdentitysSendBack(t *testing.T) {
	t.Parallel()
	h := &replayHook{}
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	rdb.AddHook(h)
	cfg := exactLimits()
	cfg.Limits.Sends = 1
	f := newFixtureWith(t, srv, rdb, cfg)
	s := newSink()
	f.svc.sender = s
	ctx := context.Background()
	// Warm the script cache (the hook acts on EVALSHA) with another identity's start.
	warm := f.startReq(OTPEmail, &Destination{Kind: Email, Value: "warm@example.com"})
	warm.Identity.UserID, warm.CustomerID = "warm-user", ""
	if _, err := f.svc.Start(ctx, warm); err != nil {
		t.Fatal(err)
	}
	req := f.startReq(OTPEmail, email)
	req.CustomerID = ""
	h.arm(startScript, true, 0)
	if _, err := f.svc.Start(ctx, req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start with every reply lost: %v, want ErrUnavailable", err)
	}
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatalf("the platform's retry: %v", err)
	}
	if n, _ := s.count(res.Verification.ID); n != 1 {
		t.Fatalf("%d messages sent, want 1", n)
	}
	id := res.Verification.ID
	ih := identity.IdentityHash(f.svc.keys, req.Identity.Network, req.Identity.UserID)
	log, err := srv.Client(t).HGet(ctx, identityKey(id), ih+"s").Result()
	if err != nil {
		t.Fatalf("the identity's send log: %v", err)
	}
	if got := len(strings.Split(log, ",")); got != 1 {
		t.Fatalf("the identity's send log holds %d sends (%q) for one message", got, log)
	}
}
