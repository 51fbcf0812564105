package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/verify"
)

// notices records the first factors' notices; fail makes every send fail.
type notices struct {
	mu   sync.Mutex
	sent []delivery.Message
	fail bool
}

func (n *notices) Send(_ context.Context, m delivery.Message) error {
	if _, err := delivery.Render(m); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return errors.New("gateway down")
	}
	n.sent = append(n.sent, m)
	return nil
}

func (n *notices) list() []delivery.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]delivery.Message(nil), n.sent...)
}

// newNoticeFixture is a store that sends first factors' notices to n.
func newNoticeFixture(t *testing.T, n *notices) *fixture {
	t.Helper()
	f := newFixture(t)
	WithNotifier(n)(f.store)
	return f
}

const (
	browserA = "binding-hash-of-browser-a"
	browserB = "binding-hash-of-browser-b"
)

func lowProof() *Proof {
	return &Proof{VerificationID: "low", Level: assurance.Low, Binding: browserA,
		Contact: &Contact{Channel: delivery.Email, To: "Alice@Example.com"}}
}

// bound creates an enrollment allowed by p and returns its token.
func (f *fixture) bound(customerID string, kind Kind, p *Proof) (string, *Enrollment, error) {
	f.t.Helper()
	u, e, err := f.store.CreateEnrollment(f.ctx, "platform-b", customerID, kind, "en", p)
	if err != nil {
		return "", nil, err
	}
	return strings.TrimPrefix(u, "https://verify.example.com/e/"), e, nil
}

// confirmTOTP begins and confirms a TOTP enrollment in browser.
func (f *fixture) confirmTOTP(token, browser string) (*Factor, error) {
	f.t.Helper()
	_, secret, err := f.store.BeginTOTP(f.ctx, token, browser)
	if err != nil {
		return nil, err
	}
	return f.store.ConfirmTOTP(f.ctx, token, codeAt(f.t, secret, verify.TOTPStep(f.clock.Now())), "req-"+token[:8], browser)
}

// enrollmentKeys counts the enrollment records in Redis.
func (f *fixture) enrollmentKeys() int {
	f.t.Helper()
	n := 0
	for _, k := range redistest.Keys(f.t, f.rdb) {
		if strings.Contains(k, "}:e:") {
			n++
		}
	}
	return n
}

// TestBindingRule is the table of docs/security.md "Binding a factor": which
// proof binds which factor, and what a refusal leaves behind (nothing).
func TestBindingRule(t *testing.T) {
	t.Parallel()
	substantial := &Proof{VerificationID: "app", Level: assurance.Substantial, Binding: browserA}
	high := &Proof{VerificationID: "key", Level: assurance.High, Binding: browserA}
	noContact := lowProof()
	noContact.Contact = nil
	unbound := lowProof()
	unbound.Binding = ""
	for _, tc := range []struct {
		name       string
		hasFactor  bool
		kind       Kind
		proof      *Proof
		wantErr    func(error) bool
		wantFirst  bool
		wantCapped bool
	}{
		{name: "first factor after a LOW proof", kind: KindTOTP, proof: lowProof(), wantFirst: true},
		{name: "first passkey after a LOW proof", kind: KindPasskey, proof: lowProof(), wantFirst: true},
		{name: "LOW proof while the customer holds a factor", hasFactor: true, kind: KindTOTP, proof: lowProof(),
			wantErr: func(err error) bool {
				pe, ok := errors.AsType[*ProofError](err)
				return ok && pe.Need == assurance.Substantial
			}},
		{name: "LOW proof for a passkey while the customer holds a factor", hasFactor: true, kind: KindPasskey, proof: lowProof(),
			wantErr: func(err error) bool { _, ok := errors.AsType[*ProofError](err); return ok }},
		{name: "LOW proof without its contact", kind: KindTOTP, proof: noContact,
			wantErr: func(err error) bool {
				ve, ok := errors.AsType[*ValidationError](err)
				return ok && ve.Field == "destination"
			}},
		{name: "LOW proof without its contact, customer holds a factor", hasFactor: true, kind: KindTOTP, proof: noContact,
			wantErr: func(err error) bool { _, ok := errors.AsType[*ProofError](err); return ok }},
		{name: "proof from no browser", kind: KindTOTP, proof: unbound,
			wantErr: func(err error) bool { return errors.Is(err, ErrProofUnbound) }},
		{name: "SUBSTANTIAL proof binds an app", hasFactor: true, kind: KindTOTP, proof: substantial},
		{name: "SUBSTANTIAL proof binds a capped passkey", hasFactor: true, kind: KindPasskey, proof: substantial, wantCapped: true},
		{name: "HIGH proof binds a passkey", hasFactor: true, kind: KindPasskey, proof: high},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newNoticeFixture(t, &notices{})
			if tc.hasFactor {
				// A factor of the enrolling client itself (bound by may_enroll).
				tok, err := f.boundBy("platform-b", "cust-7", KindTOTP, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.confirmTOTP(tok, ""); err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(30e9)
			}
			before := f.enrollmentKeys()
			token, e, err := f.bound("cust-7", tc.kind, tc.proof)
			if tc.wantErr != nil {
				if !tc.wantErr(err) {
					t.Fatalf("CreateEnrollment = %v", err)
				}
				if n := f.enrollmentKeys(); n != before {
					t.Fatalf("a refused enrollment left %d enrollment records, want %d", n, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateEnrollment: %v", err)
			}
			if !e.Bound || e.FirstFactor != tc.wantFirst {
				t.Fatalf("enrollment bound %v first %v, want bound, first %v", e.Bound, e.FirstFactor, tc.wantFirst)
			}
			if _, err := f.store.OpenEnrollment(f.ctx, token, browserA); err != nil {
				t.Fatalf("OpenEnrollment in its browser: %v", err)
			}
			if tc.kind != KindPasskey {
				return
			}
			a := newAuthenticator(t)
			cc, err := f.store.BeginPasskey(f.ctx, token, browserA)
			if err != nil {
				t.Fatal(err)
			}
			fac, err := f.store.FinishPasskey(f.ctx, token, bytes.NewReader(register(t, a, cc)), browserA)
			if err != nil {
				t.Fatalf("FinishPasskey: %v", err)
			}
			want := assurance.Level(0)
			if tc.wantCapped {
				want = assurance.Substantial
			}
			if fac.Passkey.MaxLevel != want || fac.Client != "platform-b" {
				t.Fatalf("passkey cap %v client %q, want %v platform-b", fac.Passkey.MaxLevel, fac.Client, want)
			}
			stored := f.factors("cust-7")
			if got := stored[len(stored)-1]; got.Passkey == nil || got.Passkey.MaxLevel != want || got.Client != "platform-b" {
				t.Fatalf("stored passkey %+v", got)
			}
		})
	}
}

// TestBoundEnrollmentWorksOnlyInItsBrowser: a link that a verification allowed is
// worthless anywhere but the browser that completed it: nothing shown, no key
// drawn, nothing enrolled, and its own browser can still use it afterwards.
func TestBoundEnrollmentWorksOnlyInItsBrowser(t *testing.T) {
	t.Parallel()
	f := newNoticeFixture(t, &notices{})
	token, _, err := f.bound("cust-8", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	for _, browser := range []string{"", browserB} {
		if _, err := f.store.OpenEnrollment(f.ctx, token, browser); !errors.Is(err, ErrWrongBrowser) {
			t.Fatalf("OpenEnrollment from %q: %v, want ErrWrongBrowser", browser, err)
		}
		if uri, secret, err := f.store.BeginTOTP(f.ctx, token, browser); !errors.Is(err, ErrWrongBrowser) || uri != "" || secret != nil {
			t.Fatalf("BeginTOTP from %q = %q, %v, want ErrWrongBrowser and no key", browser, uri, err)
		}
	}
	if sd, _ := f.rdb.HGet(f.ctx, EnrollmentKey(enrollmentID(token)), "sd").Result(); sd != "" {
		t.Fatal("another browser's begin drew a key")
	}
	_, secret, err := f.store.BeginTOTP(f.ctx, token, browserA)
	if err != nil {
		t.Fatalf("BeginTOTP in its browser: %v", err)
	}
	code := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))
	if _, err := f.store.ConfirmTOTP(f.ctx, token, code, "r1", browserB); !errors.Is(err, ErrWrongBrowser) {
		t.Fatalf("ConfirmTOTP from another browser: %v", err)
	}
	if len(f.factors("cust-8")) != 0 {
		t.Fatal("another browser enrolled a factor")
	}
	if _, err := f.store.ConfirmTOTP(f.ctx, token, code, "r2", browserA); err != nil {
		t.Fatalf("ConfirmTOTP in its browser: %v", err)
	}
	// A passkey link likewise: no ceremony for another browser.
	ptoken, _, err := f.bound("cust-9", KindPasskey, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.BeginPasskey(f.ctx, ptoken, browserB); !errors.Is(err, ErrWrongBrowser) {
		t.Fatalf("BeginPasskey from another browser: %v", err)
	}
	cc, err := f.store.BeginPasskey(f.ctx, ptoken, browserA)
	if err != nil {
		t.Fatal(err)
	}
	body := register(t, newAuthenticator(t), cc)
	if _, err := f.store.FinishPasskey(f.ctx, ptoken, bytes.NewReader(body), browserB); !errors.Is(err, ErrWrongBrowser) {
		t.Fatalf("FinishPasskey from another browser: %v", err)
	}
	if _, err := f.store.FinishPasskey(f.ctx, ptoken, bytes.NewReader(body), browserA); err != nil {
		t.Fatalf("FinishPasskey in its browser (the other browser's try consumed nothing): %v", err)
	}
}

// TestFirstFactorNotice: a first factor after a LOW proof is told to the proven
// contact before it is stored, through the notice's report link the customer
// removes it, and without its notice there is no factor.
func TestFirstFactorNotice(t *testing.T) {
	t.Parallel()
	n := &notices{}
	f := newNoticeFixture(t, n)
	token, _, err := f.bound("cust-10", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := f.store.BeginTOTP(f.ctx, token, browserA)
	if err != nil {
		t.Fatal(err)
	}
	code := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))

	// The notice cannot leave: nothing is stored and nothing is counted.
	n.fail = true
	if _, err := f.store.ConfirmTOTP(f.ctx, token, code, "try-1", browserA); !errors.Is(err, ErrNotice) {
		t.Fatalf("ConfirmTOTP with the notice failing: %v, want ErrNotice", err)
	}
	if len(f.factors("cust-10")) != 0 {
		t.Fatal("a first factor was stored without its notice")
	}
	n.fail = false
	fac, err := f.store.ConfirmTOTP(f.ctx, token, code, "try-2", browserA)
	if err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	sent := n.list()
	if len(sent) != 1 {
		t.Fatalf("%d notices, want 1", len(sent))
	}
	m := sent[0]
	if m.To != "Alice@Example.com" || m.Kind != delivery.KindFactorAdded || m.Factor != delivery.FactorTOTP ||
		!strings.HasPrefix(m.Link, "https://verify.example.com/r/") {
		t.Fatalf("notice %+v", m)
	}
	// A double-submitted confirmation answers as the first and sends nothing more.
	if again, err := f.store.ConfirmTOTP(f.ctx, token, code, "try-2", browserA); err != nil || again.ID != fac.ID {
		t.Fatalf("repeated ConfirmTOTP = %v, %v", again, err)
	}
	if len(n.list()) != 1 || len(f.factors("cust-10")) != 1 {
		t.Fatal("a repeated confirmation sent or stored again")
	}
	// The contact lives only sealed, and only until the factor is added.
	for k, parts := range redistest.Dump(t, f.rdb) {
		if strings.Contains(strings.ToLower(strings.Join(append(parts, k), " ")), "alice@example.com") {
			t.Fatalf("%s holds the contact in clear", k)
		}
	}

	report := strings.TrimPrefix(m.Link, "https://verify.example.com/r/")
	r, err := f.store.OpenReport(f.ctx, report)
	if err != nil || r.Kind != KindTOTP || !r.Added.Equal(fac.Created) {
		t.Fatalf("OpenReport = %+v, %v", r, err)
	}
	if err := f.store.Report(f.ctx, report); err != nil {
		t.Fatalf("Report: %v", err)
	}
	if len(f.factors("cust-10")) != 0 {
		t.Fatal("the reported factor is still enrolled")
	}
	if err := f.store.Report(f.ctx, report); err != nil {
		t.Fatalf("a repeated report: %v", err)
	}
	if _, err := f.store.OpenReport(f.ctx, report); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenReport after the report: %v", err)
	}
	if !strings.Contains(f.auditLogs.String(), `"factor_reported"`) {
		t.Fatalf("no factor_reported in the audit log:\n%s", f.auditLogs)
	}
	if _, err := f.store.OpenReport(f.ctx, report[:len(report)-1]+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a forged report link: %v", err)
	}
}

// TestFirstFactorRace: two first-factor links made while the customer held none;
// the first one used adds the factor, the second then binds nothing.
func TestFirstFactorRace(t *testing.T) {
	t.Parallel()
	f := newNoticeFixture(t, &notices{})
	one, _, err := f.bound("cust-11", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	two, _, err := f.bound("cust-11", KindPasskey, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.confirmTOTP(one, browserA); err != nil {
		t.Fatal(err)
	}
	cc, err := f.store.BeginPasskey(f.ctx, two, browserA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.store.FinishPasskey(f.ctx, two, bytes.NewReader(register(t, newAuthenticator(t), cc)), browserA)
	if _, ok := errors.AsType[*ProofError](err); !ok {
		t.Fatalf("the second first factor: %v, want *ProofError", err)
	}
	if n := len(f.factors("cust-11")); n != 1 {
		t.Fatalf("%d factors, want 1", n)
	}
}

// TestEnrollmentAndReportFailClosed: with Redis unreachable a confirmation, a
// passkey registration and a report answer ErrUnavailable and add (or remove)
// nothing; once Redis is back the same link still works.
func TestEnrollmentAndReportFailClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: 1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	n := &notices{}
	f := newFixtureOn(t, srv, rdb, Config{})
	WithNotifier(n)(f.store)

	token, _, err := f.bound("cust-12", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := f.store.BeginTOTP(f.ctx, token, browserA)
	if err != nil {
		t.Fatal(err)
	}
	code := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))
	proxy.Cut()
	if _, err := f.store.ConfirmTOTP(f.ctx, token, code, "down-1", browserA); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ConfirmTOTP with Redis down: %v, want ErrUnavailable", err)
	}
	proxy.Restore()
	if len(f.factors("cust-12")) != 0 || len(n.list()) != 0 {
		t.Fatal("a confirmation with Redis down added a factor or sent a notice")
	}
	if _, err := f.store.ConfirmTOTP(f.ctx, token, code, "up-1", browserA); err != nil {
		t.Fatalf("ConfirmTOTP once Redis is back: %v", err)
	}
	report := strings.TrimPrefix(n.list()[0].Link, "https://verify.example.com/r/")
	proxy.Cut()
	if err := f.store.Report(f.ctx, report); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Report with Redis down: %v, want ErrUnavailable", err)
	}
	proxy.Restore()
	if len(f.factors("cust-12")) != 1 {
		t.Fatal("a report with Redis down removed the factor")
	}
	if err := f.store.Report(f.ctx, report); err != nil || len(f.factors("cust-12")) != 0 {
		t.Fatalf("Report once Redis is back: %v", err)
	}
}

// trustTable is an EnrollmentTrust for the tests.
type trustTable map[string][]string

func (tt trustTable) TrustedEnrollers(client string) (bool, []string) { return false, tt[client] }

// boundBy creates an enrollment for client, allowed by p.
func (f *fixture) boundBy(client, customerID string, kind Kind, p *Proof) (string, error) {
	f.t.Helper()
	u, _, err := f.store.CreateEnrollment(f.ctx, client, customerID, kind, "en", p)
	return strings.TrimPrefix(u, "https://verify.example.com/e/"), err
}

// TestReportRemovesTheChainAndHolds (review finding): with the first factor's
// help a SUBSTANTIAL proof binds a second factor without a notice; the report of
// the first removes both, and for the hold no LOW proof binds a first factor again.
func TestReportRemovesTheChainAndHolds(t *testing.T) {
	t.Parallel()
	n := &notices{}
	f := newNoticeFixture(t, n)
	first, _, err := f.bound("cust-13", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.confirmTOTP(first, browserA); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	second, _, err := f.bound("cust-13", KindTOTP, &Proof{Level: assurance.Substantial, Binding: browserA, FactorClient: "platform-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.confirmTOTP(second, browserA); err != nil {
		t.Fatal(err)
	}
	if len(f.factors("cust-13")) != 2 || len(n.list()) != 1 {
		t.Fatalf("%d factors, %d notices; want 2 and 1", len(f.factors("cust-13")), len(n.list()))
	}
	if err := f.store.Report(f.ctx, strings.TrimPrefix(n.list()[0].Link, "https://verify.example.com/r/")); err != nil {
		t.Fatal(err)
	}
	if got := f.factors("cust-13"); len(got) != 0 {
		t.Fatalf("after the report of the first factor %d factors remain", len(got))
	}
	if _, _, err := f.bound("cust-13", KindTOTP, lowProof()); !errors.Is(err, ErrFirstFactorHold) {
		t.Fatalf("a LOW proof during the hold: %v, want ErrFirstFactorHold", err)
	}
	if _, err := f.boundBy("platform-b", "cust-13", KindTOTP, nil); err != nil {
		t.Fatalf("a may_enroll client during the hold: %v", err)
	}
	f.clock.Advance(30*24*time.Hour + time.Second)
	if _, _, err := f.bound("cust-13", KindTOTP, lowProof()); err != nil {
		t.Fatalf("a LOW proof after the hold: %v", err)
	}
}

// TestUntrustedFactorNeitherBlocksNorCounts (review finding): a first factor that
// an untrusted client bound does not make the customer's first factor, for a client
// that does not trust it, a second one; for a client that trusts it, it does.
func TestUntrustedFactorNeitherBlocksNorCounts(t *testing.T) {
	t.Parallel()
	f := newNoticeFixture(t, &notices{})
	WithTrust(trustTable{"platform-t": {"platform-x"}})(f.store)
	tok, err := f.boundBy("platform-x", "cust-14", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.confirmTOTP(tok, browserA); err != nil {
		t.Fatal(err)
	}
	if _, err := f.boundBy("platform-a", "cust-14", KindTOTP, lowProof()); err != nil {
		t.Fatalf("a client that does not trust platform-x: %v", err)
	}
	if _, err := f.boundBy("platform-t", "cust-14", KindTOTP, lowProof()); !errors.As(err, new(*ProofError)) {
		t.Fatalf("a client that trusts platform-x: %v, want *ProofError", err)
	}
}

// TestFactorRecordsTheProvingFactorsClient (review finding): a factor bound on a
// proof made with another client's factor records that client, not the one that
// asked: trust does not launder.
func TestFactorRecordsTheProvingFactorsClient(t *testing.T) {
	t.Parallel()
	f := newNoticeFixture(t, &notices{})
	tok, err := f.boundBy("platform-t", "cust-15", KindTOTP,
		&Proof{Level: assurance.Substantial, Binding: browserA, FactorClient: "platform-x"})
	if err != nil {
		t.Fatal(err)
	}
	fac, err := f.confirmTOTP(tok, browserA)
	if err != nil {
		t.Fatal(err)
	}
	if fac.Client != "platform-x" || f.factors("cust-15")[0].Client != "platform-x" {
		t.Fatalf("factor client %q (stored %q), want platform-x", fac.Client, f.factors("cust-15")[0].Client)
	}
}

// TestUsedBoundLinkLooksTheSameElsewhere (review finding): to another browser a
// bound link answers the same open or used.
func TestUsedBoundLinkLooksTheSameElsewhere(t *testing.T) {
	t.Parallel()
	f := newNoticeFixture(t, &notices{})
	tok, _, err := f.bound("cust-16", KindTOTP, lowProof())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.confirmTOTP(tok, browserA); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.OpenEnrollment(f.ctx, tok, browserB); !errors.Is(err, ErrWrongBrowser) {
		t.Fatalf("a used link from another browser: %v, want ErrWrongBrowser", err)
	}
	if _, _, err := f.store.BeginTOTP(f.ctx, tok, browserB); !errors.Is(err, ErrWrongBrowser) {
		t.Fatalf("begin on a used link from another browser: %v, want ErrWrongBrowser", err)
	}
	if _, err := f.store.OpenEnrollment(f.ctx, tok, browserA); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a used link in its browser: %v, want ErrNotFound", err)
	}
}

// TestBeginTOTPLostReply (review finding): go-redis resends a begin whose reply was
// lost; the resent call is the same call and shows its key, never "already shown".
func TestBeginTOTPLostReply(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	f := newFixtureOn(t, srv, rdb, Config{})
	shown := 0
	for seed := range uint64(30) {
		tok := f.enroll(fmt.Sprint("cust-lost-", seed), KindTOTP)
		proxy.SetSeed(seed + 1)
		proxy.DropReplies(0.5)
		_, secret, err := f.store.BeginTOTP(f.ctx, tok, "")
		proxy.DropReplies(0)
		switch {
		case errors.Is(err, ErrSeedShown):
			t.Fatalf("seed %d: a lost reply's resend answered 'already shown'", seed)
		case err == nil && len(secret) == 20:
			shown++
		case err != nil && !errors.Is(err, ErrUnavailable):
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	if proxy.Dropped() == 0 || shown == 0 {
		t.Fatalf("%d replies dropped, %d keys shown: the test did not exercise a resend", proxy.Dropped(), shown)
	}
}
