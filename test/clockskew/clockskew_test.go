// Package clockskew_test holds issue 18's "one clock for decisions" test: two
// replicas of authsvc's domain (package challenge's Service and package identity's
// Store, wired as cmd/authsvc wires them) on one real redis-server, one of them with
// its own clock 2 s ahead. Through the Redis-disciplined clock (package redisclock)
// they decide as one: a factor enrolled through one replica just after a
// verification started on the other cannot complete it, and expiry and locks are
// the same whichever replica judges them. A control runs the same scenes with each
// replica on its own clock, as before the clock existed, and sees each rule broken,
// so that the scenes are known to test something.
//
// It sits apart from both packages it drives: package challenge imports package
// identity.
package clockskew_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redisclock"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/softauthn"
)

const (
	publicURL = "https://verify.example.com"
	rpID      = "verify.example.com"
	client    = "platform-a"
	// skew is how far ahead of the other replica's (and Redis's) the skewed replica's
	// own clock is.
	skew = 2 * time.Second
	// failures in a row lock a method family for an identity, for firstLock.
	failures  = 3
	firstLock = 30 * time.Second
)

// replica is one authsvc replica's domain: its clock, verifications and customers.
type replica struct {
	now func() time.Time
	svc *challenge.Service
	ids *identity.Store
}

// world is two replicas on one Redis: ahead's own clock is skew ahead of right's.
type world struct {
	t            *testing.T
	ctx          context.Context
	outbox       *delivery.Outbox
	ahead, right *replica
	n            int
}

// newWorld builds the two replicas on rdb; disciplined gives each the Redis clock
// over its own, as cmd/authsvc does, and otherwise each decides by its own clock.
func newWorld(t *testing.T, rdb redis.UniversalClient, disciplined bool) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), outbox: delivery.NewOutbox(100)}
	keys, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	seals, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Acme", RPOrigins: []string{publicURL}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := assertion.NewKeyring([]crypto.Signer{signer}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse(publicURL)
	log := slog.New(slog.DiscardHandler)
	build := func(local func() time.Time) *replica {
		now := local
		if disciplined {
			c, err := redisclock.New(w.ctx, redisclock.TimeOf(rdb), local, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			now = c.Now
		}
		ids, err := identity.New(identity.Config{PublicURL: pub, Brand: "Acme"}, rdb, keys, seals, wa, now, rand.Reader, log)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := challenge.New(challenge.Config{PublicURL: pub, Brand: "Acme", MinTTL: time.Second,
			Limits: challenge.Limits{Failures: failures, FirstLock: firstLock}},
			rdb, w.outbox, assertion.NewMinter(kr, publicURL, 5*time.Minute), keys, now, rand.Reader, log,
			challenge.NewMetrics(prometheus.NewRegistry()),
			challenge.WithFactors(challenge.Factors{Links: ids, Seeds: seals, WebAuthn: wa}))
		if err != nil {
			t.Fatal(err)
		}
		return &replica{now: now, svc: svc, ids: ids}
	}
	w.ahead = build(func() time.Time { return time.Now().Add(skew) })
	w.right = build(time.Now)
	return w
}

// enrollPasskey registers a software passkey for cust on the customer's page
// served by r.
func (w *world) enrollPasskey(r *replica, cust string) *softauthn.Authenticator {
	w.t.Helper()
	a, err := softauthn.New(rpID, publicURL)
	if err != nil {
		w.t.Fatal(err)
	}
	u, _, err := r.ids.CreateEnrollment(w.ctx, client, cust, identity.KindPasskey, "en", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	tok := strings.TrimPrefix(u, publicURL+"/e/")
	cc, err := r.ids.BeginPasskey(w.ctx, tok, "")
	if err != nil {
		w.t.Fatal(err)
	}
	opts, err := json.Marshal(cc)
	if err != nil {
		w.t.Fatal(err)
	}
	body, err := a.Register(opts)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := r.ids.FinishPasskey(w.ctx, tok, bytes.NewReader(body), ""); err != nil {
		w.t.Fatalf("FinishPasskey: %v", err)
	}
	return a
}

// start starts a verification on r of the user userID, for cust ("" names none).
func (w *world) start(r *replica, userID, cust string, ttl time.Duration, dest *challenge.Destination,
	min assurance.Level, methods ...challenge.Method) *challenge.StartResult {
	w.t.Helper()
	w.n++
	res, err := r.svc.Start(w.ctx, challenge.StartRequest{
		ClientID: client, Identity: challenge.Identity{Network: "x", UserID: userID, Handle: "@" + userID},
		CustomerID: cust, Methods: methods, MinAssurance: min, Audience: "crm", AgentID: "agent-7",
		ConversationID: fmt.Sprint("conv-", w.n), Destination: dest, Locale: "en", RequestID: fmt.Sprint("req-", w.n), TTL: ttl,
	})
	if err != nil {
		w.t.Fatalf("Start: %v", err)
	}
	return res
}

func pageToken(t *testing.T, res *challenge.StartResult) string {
	t.Helper()
	tok, ok := strings.CutPrefix(res.PageURL, publicURL+"/v/")
	if !ok {
		t.Fatalf("page URL %q", res.PageURL)
	}
	return tok
}

// passkey completes the page's passkey ceremony on r with a.
func (w *world) passkey(r *replica, res *challenge.StartResult, a *softauthn.Authenticator) challenge.Result {
	w.t.Helper()
	tok := pageToken(w.t, res)
	opts, err := r.svc.BeginPasskey(w.ctx, tok)
	if err != nil {
		w.t.Fatalf("BeginPasskey: %v", err)
	}
	body, err := a.Login(opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.n++
	out, err := r.svc.FinishPasskey(w.ctx, tok, body, fmt.Sprint("pk-", w.n), "")
	if err != nil {
		w.t.Fatalf("FinishPasskey: %v", err)
	}
	return out
}

var codeLine = regexp.MustCompile(`\b\d{6}\b`)

// code is the code last sent for a verification.
func (w *world) code(id string) string {
	w.t.Helper()
	for _, e := range w.outbox.List() {
		if strings.HasPrefix(e.ID, id+".") {
			if c := codeLine.FindString(e.Text); c != "" {
				return c
			}
		}
	}
	w.t.Fatalf("no code sent for %s", id)
	return ""
}

// submit types code on the page of res, served by r.
func (w *world) submit(r *replica, res *challenge.StartResult, code string) challenge.Result {
	w.t.Helper()
	w.n++
	out, err := r.svc.SubmitCode(w.ctx, pageToken(w.t, res), code, fmt.Sprint("nonce-", w.n), "")
	if err != nil {
		w.t.Fatalf("SubmitCode: %v", err)
	}
	return out
}

func email(user string) *challenge.Destination {
	return &challenge.Destination{Kind: challenge.Email, Value: user + "@example.com"}
}

// TestOneClockForDecisions runs each scene through the Redis clock, where every
// rule must hold, and, as a control, with each replica on its own clock, where the
// 2 s skew must break it.
func TestOneClockForDecisions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		disciplined bool
	}{
		{"through the Redis clock", true},
		{"control: each replica on its own clock", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			w := newWorld(t, srv.Client(t), tc.disciplined)
			// Each scene is a rule and whether it held.
			held := map[string]bool{
				"a factor enrolled after the start cannot complete it": w.lateFactor(),
				"expiry does not depend on the replica":                w.expiry(),
				"a lock lasts as long on every replica":                w.lock(),
			}
			for rule, ok := range held {
				if tc.disciplined && !ok {
					t.Errorf("with a replica's clock %v ahead, through the Redis clock: broken: %s", skew, rule)
				}
				if !tc.disciplined && ok {
					t.Errorf("control: %s held with a replica's clock %v ahead on its own clock: the scene tests nothing", rule, skew)
				}
			}
		})
	}
}

// lateFactor: the customer holds a passkey; a verification starts on the replica
// whose clock is ahead; a second passkey is enrolled through the other replica
// just after, and used on the page. It must not complete the verification; the
// first passkey then must (the page works). It reports whether the rule held.
func (w *world) lateFactor() bool {
	const cust = "cust-late-factor"
	held := w.enrollPasskey(w.right, cust)
	time.Sleep(10 * time.Millisecond) // enrolled strictly before the start, in milliseconds
	started := time.Now()
	res := w.start(w.ahead, "alice", cust, 0, nil, assurance.High, challenge.WebAuthn)
	late := w.enrollPasskey(w.right, cust)
	if since := time.Since(started); since > skew/2 {
		w.t.Fatalf("the late passkey was enrolled %v after the start: not inside the skew", since)
	}
	for _, r := range []*replica{w.right, w.ahead} {
		if got := w.passkey(r, res, late); got.Outcome == challenge.OutcomeVerified {
			return false
		}
	}
	if got := w.passkey(w.ahead, res, held); got.Outcome != challenge.OutcomeVerified {
		w.t.Fatalf("the passkey enrolled before the start: %+v, want verified", got)
	}
	return true
}

// expiry: a verification of 3 s starts on the right replica; 1.5 s later the
// replica whose clock is ahead serves its page. It must still be pending there and
// complete. It reports whether the rule held.
func (w *world) expiry() bool {
	res := w.start(w.right, "bob", "", 3*time.Second, email("bob"), assurance.Low, challenge.OTPEmail)
	time.Sleep(1500 * time.Millisecond)
	v, err := w.ahead.svc.Get(w.ctx, client, res.Verification.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if v.State != challenge.Pending {
		return false
	}
	if got := w.submit(w.ahead, res, w.code(res.Verification.ID)); got.Outcome != challenge.OutcomeVerified {
		w.t.Fatalf("code on a pending verification: %+v", got)
	}
	return true
}

// lock: three wrong codes on the replica whose clock is ahead lock the identity's
// email codes for 30 s; the other replica, asked at once, must say the lock has
// 30 s to run (not 32). It reports whether the rule held.
func (w *world) lock() bool {
	res := w.start(w.right, "carol", "", 0, email("carol"), assurance.Low, challenge.OTPEmail)
	right := w.code(res.Verification.ID)
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	for range failures {
		w.submit(w.ahead, res, wrong)
	}
	got := w.submit(w.right, res, right)
	if got.Outcome != challenge.OutcomeLocked {
		w.t.Fatalf("after %d failures: %+v, want locked", failures, got)
	}
	return got.RetryAfter > firstLock-time.Second && got.RetryAfter <= firstLock
}
