package challenge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/softauthn"
)

const (
	rpID     = "localhost"
	rpOrigin = "http://localhost:8080"
)

// linksInRedis resolves links by reading the link pointer identity writes
// (identity.LinkKey): the same key the identity store keeps.
type linksInRedis struct {
	rdb redis.UniversalClient
	svc *Service
}

func (l *linksInRedis) Resolve(ctx context.Context, network, userID string) (string, string, bool, error) {
	key := identity.LinkKey(identity.IdentityTag(l.svc.keys, network, userID), identity.IdentityHash(l.svc.keys, network, userID))
	v, err := l.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", false, nil
	}
	customer, client := identity.ParseLinkValue(v)
	return customer, client, err == nil, err
}

type factorFixture struct {
	*fixture
	udb redis.UniversalClient
	// customer is the customer passkeyFlow verifies.
	customer string
	seals    *seal.Ring
	wa       *webauthn.WebAuthn
	links    *linksInRedis
}

func newFactorFixture(t *testing.T) *factorFixture {
	t.Helper()
	return newFactorFixtureWith(t, Config{})
}

func newFactorFixtureWith(t *testing.T, cfg Config) *factorFixture {
	t.Helper()
	srv := redistest.Start(t)
	return newFactorFixtureOn(t, srv, srv.Client(t), cfg)
}

func newFactorFixtureOn(t *testing.T, srv *redistest.Server, rdb redis.UniversalClient, cfg Config, opts ...Option) *factorFixture {
	t.Helper()
	seals, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Acme", RPOrigins: []string{rpOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	links := &linksInRedis{rdb: rdb}
	f := newFixtureWith(t, srv, rdb, cfg, append([]Option{WithFactors(Factors{Links: links, Seeds: seals, WebAuthn: wa})}, opts...)...)
	links.svc = f.svc
	return &factorFixture{fixture: f, udb: rdb, customer: "cust-1", seals: seals, wa: wa, links: links}
}

// enroll writes a factor the way the identity store does, enrolled at the
// fixture clock's current time, and returns its id.
func (f *factorFixture) enroll(customer string, fac identity.Factor) string {
	f.t.Helper()
	keys := f.svc.keys
	fac.ID = fmt.Sprintf("f%09d", f.starts.Add(1))
	fac.Created = f.clock.Now()
	if fac.Client == "" {
		// Enrolled through the client the fixture's verifications start with.
		fac.Client = "platform-a"
	}
	ch := identity.CustomerHash(keys, customer)
	if fac.Kind == identity.KindTOTP {
		sealed, err := f.seals.Seal(rand.Reader, []byte(fac.SealedSeed), []byte(ch+fac.ID))
		if err != nil {
			f.t.Fatal(err)
		}
		fac.SealedSeed = sealed
	}
	v, err := fac.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	fields := []any{"F" + fac.ID, v, "cu", customer}
	if fac.Passkey != nil {
		fields = append(fields, "c"+fac.ID, fac.Passkey.SignCount)
	}
	if err := f.udb.HSet(context.Background(), identity.CustomerKeyFor(keys, customer), fields...).Err(); err != nil {
		f.t.Fatal(err)
	}
	return fac.ID
}

// link links the identity to customer as package identity does, as a link made
// by the client the fixture's verifications start with: the identity's pointer,
// and the entry in the customer's hash.
func (f *factorFixture) link(customer, network, userID string) {
	f.t.Helper()
	f.linkBy("platform-a", customer, network, userID)
}

// linkBy is link as a link made by client ("": a link made before links recorded
// their client).
func (f *factorFixture) linkBy(client, customer, network, userID string) {
	f.t.Helper()
	keys, ctx := f.svc.keys, context.Background()
	ih := identity.IdentityHash(keys, network, userID)
	value, entry := identity.LinkValue(customer, client), network+"\x1f"+userID+"\x1f"+client+"\x1f"+ms(f.clock.Now())
	if client == "" {
		value, entry = customer, network+"\x1f"+userID+"\x1f"+ms(f.clock.Now())
	}
	if err := f.udb.Set(ctx, identity.LinkKey(identity.IdentityTag(keys, network, userID), ih), value, 0).Err(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.udb.HSet(ctx, identity.CustomerKeyFor(keys, customer), "L"+ih, entry).Err(); err != nil {
		f.t.Fatal(err)
	}
}

// unlink removes what link wrote.
func (f *factorFixture) unlink(customer, network, userID string) {
	f.t.Helper()
	keys, ctx := f.svc.keys, context.Background()
	ih := identity.IdentityHash(keys, network, userID)
	if err := f.udb.Del(ctx, identity.LinkKey(identity.IdentityTag(keys, network, userID), ih)).Err(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.udb.HDel(ctx, identity.CustomerKeyFor(keys, customer), "L"+ih).Err(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *factorFixture) enrollTOTP(customer string, seed []byte) string {
	return f.enroll(customer, identity.Factor{Kind: identity.KindTOTP, Label: "Authenticator app", SealedSeed: string(seed)})
}

func (f *factorFixture) enrollPasskey(customer string, a *softauthn.Authenticator) string {
	f.t.Helper()
	pk, err := a.PublicKey()
	if err != nil {
		f.t.Fatal(err)
	}
	a.SetUserHandle(identity.NewPasskeyUser(f.svc.keys, customer, "", nil).WebAuthnID())
	return f.enroll(customer, identity.Factor{Kind: identity.KindPasskey, Label: "Passkey", Passkey: &identity.Passkey{
		CredentialID: a.ID(), PublicKey: pk, UserVerified: a.UV, BackupEligible: a.BE, BackupState: a.BS, SignCount: a.Counter,
	}})
}

func (f *factorFixture) startFactors(customer string, min assurance.Level, methods ...Method) (*StartResult, error) {
	req := f.startReq(methods[0], nil)
	req.Methods, req.MinAssurance, req.CustomerID = methods, min, customer
	return f.svc.Start(context.Background(), req)
}

func (f *factorFixture) mustStart(customer string, min assurance.Level, methods ...Method) *StartResult {
	f.t.Helper()
	res, err := f.startFactors(customer, min, methods...)
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	return res
}

func codeAt(t *testing.T, seed []byte, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed), at,
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newSeed(t *testing.T) []byte {
	t.Helper()
	seed := make([]byte, 20)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	return seed
}

func TestTOTPCompletesAtSubstantialAndSendsNothing(t *testing.T) {
	f := newFactorFixture(t)
	seed := newSeed(t)
	f.enrollTOTP("cust-1", seed)
	f.clock.Advance(time.Second)
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	if got := fmt.Sprint(res.Verification.Methods); got != fmt.Sprint([]Method{TOTP}) {
		t.Fatalf("offered %s", got)
	}
	if len(f.sender.List()) != 0 || res.Verification.Delivery != DeliveryNotNeeded {
		t.Fatalf("a TOTP verification sent %d messages (delivery %d)", len(f.sender.List()), res.Verification.Delivery)
	}
	if !strings.Contains(res.DMText, res.PageURL) || !strings.Contains(res.DMText, "authenticator app") {
		t.Fatalf("DM text %q", res.DMText)
	}
	tok := pageToken(t, res)
	page, err := f.svc.OpenCodePage(context.Background(), tok)
	if err != nil || fmt.Sprint(page.Methods) != fmt.Sprint([]Method{TOTP}) {
		t.Fatalf("page: %+v, %v", page, err)
	}
	r, err := f.svc.SubmitTOTP(context.Background(), tok, codeAt(t, seed, f.clock.Now()), "n1", "")
	if err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitTOTP = %+v, %v", r, err)
	}
	v := f.get(res.Verification.ID)
	if v.State != Verified || v.Level != assurance.Substantial || v.Method != TOTP || fmt.Sprint(v.AMR) != "[otp]" {
		t.Fatalf("verified as %+v", v)
	}
	claims, err := f.verifier.Verify(v.Assertion.Token, "crm")
	if err != nil || claims.Level != assurance.Substantial || claims.Subject != "cust-1" {
		t.Fatalf("assertion: %+v, %v", claims, err)
	}
}

func TestTOTPStepWindowAndReplay(t *testing.T) {
	f := newFactorFixture(t)
	seed := newSeed(t)
	f.enrollTOTP("cust-1", seed)
	f.clock.Advance(5 * time.Minute)
	submit := func(code string) Outcome {
		t.Helper()
		res := f.mustStart("cust-1", assurance.Substantial, TOTP)
		r, err := f.svc.SubmitTOTP(context.Background(), pageToken(t, res), code, "n", "")
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	now := f.clock.Now()
	if o := submit(codeAt(t, seed, now.Add(30*time.Second))); o != OutcomeWrongCode {
		t.Fatalf("next step's code: %v", o)
	}
	if o := submit(codeAt(t, seed, now.Add(-60*time.Second))); o != OutcomeWrongCode {
		t.Fatalf("code from two steps back: %v", o)
	}
	if o := submit(codeAt(t, seed, now.Add(-30*time.Second))); o != OutcomeVerified {
		t.Fatalf("previous step's code: %v", o)
	}
	// The previous step is now the customer's last: neither it nor any older step
	// is accepted again, in any verification.
	if o := submit(codeAt(t, seed, now.Add(-30*time.Second))); o != OutcomeWrongCode {
		t.Fatalf("the same code twice: %v", o)
	}
	if o := submit(codeAt(t, seed, now)); o != OutcomeVerified {
		t.Fatalf("current step's code: %v", o)
	}
	if o := submit(codeAt(t, seed, now)); o != OutcomeWrongCode {
		t.Fatalf("current code replayed: %v", o)
	}
	if _, err := f.svc.SubmitTOTP(context.Background(), "x", "12345", "n", ""); !errors.Is(err, ErrCodeFormat) {
		t.Fatalf("5 digits: %v", err)
	}
}

// One valid code typed into 50 verifications of the customer at once (through
// several identities): exactly one is accepted.
func TestTOTPParallelCopiesOfOneCode(t *testing.T) {
	// 50 starts that send nothing, for one customer: past the default rate of such
	// starts per customer (10 per client), which this test is not about.
	f := newFactorFixtureWith(t, Config{Limits: Limits{QuietStarts: 100}})
	seed := newSeed(t)
	f.enrollTOTP("cust-1", seed)
	f.clock.Advance(time.Second)
	var toks []string
	for i := range 50 {
		req := f.startReq(TOTP, nil)
		req.Methods, req.MinAssurance, req.CustomerID = []Method{TOTP}, assurance.Substantial, "cust-1"
		req.Identity.UserID = fmt.Sprint("user-", i%5)
		res, err := f.svc.Start(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, pageToken(t, res))
	}
	code := codeAt(t, seed, f.clock.Now())
	var mu sync.Mutex
	outcomes := map[Outcome]int{}
	var wg sync.WaitGroup
	for i, tok := range toks {
		wg.Go(func() {
			r, err := f.svc.SubmitTOTP(context.Background(), tok, code, fmt.Sprint("n", i), "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			outcomes[r.Outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// The copies that lost count as the customer's failures (whatever identity each
	// verification was started for): past 20 of them, her app is locked for this
	// client, and the rest answer locked.
	if outcomes[OutcomeVerified] != 1 || outcomes[OutcomeWrongCode]+outcomes[OutcomeLocked] != 49 ||
		outcomes[OutcomeWrongCode] > 20 {
		t.Fatalf("outcomes %v, want 1 verified and 49 wrong or locked, at most 20 wrong", outcomes)
	}
}

func TestTOTPConfirmationCodeCannotComplete(t *testing.T) {
	f := newFactorFixture(t)
	seed := newSeed(t)
	f.enrollTOTP("cust-1", seed)
	// Enrollment accepted this step's code as its confirmation: it recorded the step.
	step := f.clock.Now().Unix() / 30
	if err := f.rdb.HSet(context.Background(), identity.CustomerKeyFor(f.svc.keys, "cust-1"), "ts", step).Err(); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if f.clock.Now().Unix()/30 != step {
		t.Skip("crossed a step boundary")
	}
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	r, err := f.svc.SubmitTOTP(context.Background(), pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n", "")
	if err != nil || r.Outcome != OutcomeWrongCode {
		t.Fatalf("confirmation code: %+v, %v", r, err)
	}
}

func TestFactorEnrolledAfterStartOrRemovedCannotComplete(t *testing.T) {
	f := newFactorFixture(t)
	old, late := newSeed(t), newSeed(t)
	oldID := f.enrollTOTP("cust-1", old)
	f.clock.Advance(time.Second)
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	tok := pageToken(t, res)
	f.clock.Advance(time.Second)
	f.enrollTOTP("cust-1", late)
	r, err := f.svc.SubmitTOTP(context.Background(), tok, codeAt(t, late, f.clock.Now()), "n1", "")
	if err != nil || r.Outcome != OutcomeWrongCode {
		t.Fatalf("a factor enrolled after the start: %+v, %v", r, err)
	}
	// Removing the old factor makes it unusable at once.
	if err := f.rdb.HDel(context.Background(), identity.CustomerKeyFor(f.svc.keys, "cust-1"), "F"+oldID).Err(); err != nil {
		t.Fatal(err)
	}
	r, err = f.svc.SubmitTOTP(context.Background(), tok, codeAt(t, old, f.clock.Now()), "n2", "")
	if err != nil || r.Outcome != OutcomeWrongCode {
		t.Fatalf("a removed factor: %+v, %v", r, err)
	}
}

// Unknown customer, no factor, a factor too weak and a locked family answer the
// same error, with the same text.
func TestNoUsableFactorAnswersAlike(t *testing.T) {
	f := newFactorFixture(t)
	f.enrollTOTP("cust-totp", newSeed(t))
	f.clock.Advance(time.Second)
	var msgs []string
	for _, c := range []struct {
		customer string
		min      assurance.Level
		methods  []Method
	}{
		{"cust-unknown", assurance.High, []Method{WebAuthn, TOTP}},
		{"cust-totp", assurance.High, []Method{WebAuthn, TOTP}},
		{"cust-totp", assurance.High, []Method{TOTP, WebAuthn}},
	} {
		_, err := f.startFactors(c.customer, c.min, c.methods...)
		var nm *NoMethodError
		if !errors.As(err, &nm) {
			t.Fatalf("%s: %v, want NoMethodError", c.customer, err)
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
		t.Fatalf("answers differ: %q", msgs)
	}
	if strings.Contains(msgs[0], "cust-") {
		t.Fatalf("the answer names the customer: %q", msgs[0])
	}
}

func TestStartUsesTheLinkedCustomer(t *testing.T) {
	f := newFactorFixture(t)
	seed := newSeed(t)
	f.enrollTOTP("cust-9", seed)
	f.link("cust-9", "x", "1234567")
	f.clock.Advance(time.Second)
	res := f.mustStart("", assurance.Substantial, TOTP)
	if res.Verification.CustomerID != "cust-9" {
		t.Fatalf("customer %q", res.Verification.CustomerID)
	}
	r, err := f.svc.SubmitTOTP(context.Background(), pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n", "")
	if err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitTOTP = %+v, %v", r, err)
	}
	// A start that only sends a code stays on the identity's slot (no extra read)
	// and still names the linked customer as the subject.
	req := f.startReq(OTPEmail, email)
	req.CustomerID = ""
	otp, err := f.svc.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if otp.Verification.CustomerID != "cust-9" || !strings.HasPrefix(otp.Verification.ID, identity.IdentityTag(f.svc.keys, "x", "1234567")) {
		t.Fatalf("OTP start: customer %q, id %s", otp.Verification.CustomerID, otp.Verification.ID)
	}
	if r, err := f.svc.SubmitCode(context.Background(), pageToken(t, otp), f.code(otp.Verification.ID), "n", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode = %+v, %v", r, err)
	}
	v := f.get(otp.Verification.ID)
	claims, err := f.verifier.Verify(v.Assertion.Token, "crm")
	if err != nil || claims.Subject != "cust-9" {
		t.Fatalf("assertion subject: %+v, %v", claims, err)
	}
}

// TestUnlinkedCustomerIsNeverMinted (issue 18, item 2): a verification whose
// customer came through the identity's link — a code start that named none (on the
// identity's slot) or a factor start (on the customer's) — cannot be completed once
// the identity is unlinked: it ends, and no assertion names the customer.
func TestUnlinkedCustomerIsNeverMinted(t *testing.T) {
	f := newFactorFixture(t)
	ctx := context.Background()
	seed := newSeed(t)
	f.enrollTOTP("cust-9", seed)
	f.link("cust-9", "x", "1234567")
	f.clock.Advance(time.Second)
	viaFactor := f.mustStart("", assurance.Substantial, TOTP)
	req := f.startReq(OTPEmail, email)
	req.CustomerID = ""
	viaCode, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	code := f.code(viaCode.Verification.ID)
	f.unlink("cust-9", "x", "1234567")
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, viaCode), code, "late", ""); err != nil || r.Outcome != OutcomeGone {
		t.Fatalf("the right code after the unlink: %+v, %v; want gone", r, err)
	}
	if r, err := f.svc.SubmitTOTP(ctx, pageToken(t, viaFactor), codeAt(t, seed, f.clock.Now()), "late", ""); err != nil ||
		r.Outcome != OutcomeGone {
		t.Fatalf("the right app code after the unlink: %+v, %v; want gone", r, err)
	}
	for _, id := range []string{viaCode.Verification.ID, viaFactor.Verification.ID} {
		if v := f.get(id); v.State != Canceled || v.Assertion != nil {
			t.Fatalf("%s after the unlink: %v, assertion %v", id, v.State, v.Assertion != nil)
		}
	}
	// A start that names the customer itself is the platform's word, not the link's.
	named := f.mustStart("cust-9", assurance.Substantial, TOTP)
	f.clock.Advance(30 * time.Second)
	if r, err := f.svc.SubmitTOTP(ctx, pageToken(t, named), codeAt(t, seed, f.clock.Now()), "named", ""); err != nil ||
		r.Outcome != OutcomeVerified {
		t.Fatalf("a start naming the customer: %+v, %v", r, err)
	}
}

func TestRedisHoldsNoSeedInClear(t *testing.T) {
	f := newFactorFixture(t)
	seed := newSeed(t)
	f.enrollTOTP("cust-1", seed)
	f.clock.Advance(time.Second)
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	if _, err := f.svc.SubmitTOTP(context.Background(), pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n", ""); err != nil {
		t.Fatal(err)
	}
	forms := [][]byte{seed, []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)),
		[]byte(base64.StdEncoding.EncodeToString(seed)), []byte(base64.RawURLEncoding.EncodeToString(seed))}
	for _, v := range dumpRedis(t, f.rdb) {
		for _, form := range forms {
			if bytes.Contains([]byte(v), form) {
				t.Fatalf("Redis holds the seed in clear: %q", v)
			}
		}
	}
}

// dumpRedis returns every key, field and value in the database.
func dumpRedis(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	var out []string
	for k, parts := range redistest.Dump(t, rdb) {
		out = append(append(out, k), parts...)
	}
	return out
}

func (f *factorFixture) passkeyFlow(a *softauthn.Authenticator, min assurance.Level) (*StartResult, Result) {
	f.t.Helper()
	res := f.mustStart(f.customer, min, WebAuthn)
	tok := pageToken(f.t, res)
	opts, err := f.svc.BeginPasskey(context.Background(), tok)
	if err != nil {
		f.t.Fatalf("BeginPasskey: %v", err)
	}
	body, err := a.Login(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := f.svc.FinishPasskey(context.Background(), tok, body, "n", "")
	if err != nil {
		f.t.Fatalf("FinishPasskey: %v", err)
	}
	return res, r
}

func newAuthenticator(t *testing.T) *softauthn.Authenticator {
	t.Helper()
	a, err := softauthn.New(rpID, rpOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPasskeyWithUserVerificationIsHigh(t *testing.T) {
	f := newFactorFixture(t)
	a := newAuthenticator(t)
	f.enrollPasskey("cust-1", a)
	f.clock.Advance(time.Second)
	res, r := f.passkeyFlow(a, assurance.High)
	if r.Outcome != OutcomeVerified {
		t.Fatalf("outcome %v", r.Outcome)
	}
	v := f.get(res.Verification.ID)
	if v.Level != assurance.High || v.Method != WebAuthn || fmt.Sprint(v.AMR) != "[hwk user]" {
		t.Fatalf("verified as level %v method %v amr %v", v.Level, v.Method, v.AMR)
	}
	if n, _ := f.rdb.Exists(context.Background(), ceremonyKey(res.Verification.ID)).Result(); n != 0 {
		t.Fatal("the ceremony outlived its finish")
	}
	if c := f.rdb.HGet(context.Background(), identity.CustomerKeyFor(f.svc.keys, "cust-1"), "c"+firstFactor(t, f)).Val(); c != "1" {
		t.Fatalf("stored sign count %q, want 1", c)
	}
}

func firstFactor(t *testing.T, f *factorFixture) string {
	t.Helper()
	m := f.rdb.HGetAll(context.Background(), identity.CustomerKeyFor(f.svc.keys, "cust-1")).Val()
	fs, err := identity.ParseFactors(m)
	if err != nil || len(fs) == 0 {
		t.Fatalf("factors %v, %v", fs, err)
	}
	return fs[0].ID
}

func TestPasskeyWithoutUserVerificationIsNotHigh(t *testing.T) {
	f := newFactorFixture(t)
	a := newAuthenticator(t)
	a.UV, a.BE, a.BS = false, true, true
	f.enrollPasskey("cust-1", a)
	f.clock.Advance(time.Second)
	res, r := f.passkeyFlow(a, assurance.Substantial)
	if r.Outcome != OutcomeVerified {
		t.Fatalf("outcome %v", r.Outcome)
	}
	v := f.get(res.Verification.ID)
	if v.Level != assurance.Substantial || fmt.Sprint(v.AMR) != "[swk]" {
		t.Fatalf("UV=false verified as %v %v", v.Level, v.AMR)
	}
	// A verification that needs HIGH is not completed by it.
	res, r = f.passkeyFlow(a, assurance.High)
	if r.Outcome != OutcomeWrongCode {
		t.Fatalf("UV=false against HIGH: %v", r.Outcome)
	}
	if v := f.get(res.Verification.ID); v.State != Pending {
		t.Fatalf("state %v", v.State)
	}
}

func TestPasskeyCeremonyIsConsumedOnceAndTimesOut(t *testing.T) {
	f := newFactorFixture(t)
	a := newAuthenticator(t)
	f.enrollPasskey("cust-1", a)
	f.clock.Advance(time.Second)
	ctx := context.Background()

	res := f.mustStart("cust-1", assurance.High, WebAuthn)
	tok := pageToken(t, res)
	opts, err := f.svc.BeginPasskey(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := a.Login(opts)
	// 20 parallel finishes of one response: one verifies, the rest find no ceremony.
	var mu sync.Mutex
	outcomes := map[Outcome]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r, err := f.svc.FinishPasskey(ctx, tok, body, fmt.Sprint("n", i), "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			outcomes[r.Outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if outcomes[OutcomeVerified] != 1 || outcomes[OutcomeCeremony] != 19 {
		t.Fatalf("parallel finishes: %v", outcomes)
	}

	// A replayed response against a new ceremony (another challenge) is refused.
	res2 := f.mustStart("cust-1", assurance.High, WebAuthn)
	tok2 := pageToken(t, res2)
	if _, err := f.svc.BeginPasskey(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.svc.FinishPasskey(ctx, tok2, body, "n", ""); r.Outcome != OutcomeWrongCode {
		t.Fatalf("replayed response: %v", r.Outcome)
	}

	// A ceremony past its timeout is refused, and counts nothing.
	res3 := f.mustStart("cust-1", assurance.High, WebAuthn)
	tok3 := pageToken(t, res3)
	opts, err = f.svc.BeginPasskey(ctx, tok3)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = a.Login(opts)
	f.clock.Advance(2*time.Minute + time.Second)
	if r, _ := f.svc.FinishPasskey(ctx, tok3, body, "n", ""); r.Outcome != OutcomeCeremony {
		t.Fatalf("late finish: %v", r.Outcome)
	}
	if v := f.get(res3.Verification.ID); v.State != Pending || v.AttemptsLeft != 5 {
		t.Fatalf("late finish changed %v, %d left", v.State, v.AttemptsLeft)
	}

	// Garbage is not a response: nothing to check, nothing counted.
	if _, err := f.svc.BeginPasskey(ctx, tok3); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.svc.FinishPasskey(ctx, tok3, []byte(`{"id":`), "n", ""); r.Outcome != OutcomeCeremony {
		t.Fatalf("garbage: %v", r.Outcome)
	}
}

func TestPasskeyWrongOriginAndClonedCounterAreRefused(t *testing.T) {
	f := newFactorFixture(t)
	a := newAuthenticator(t)
	f.enrollPasskey("cust-1", a)
	f.clock.Advance(time.Second)
	a.Origin = "https://evil.example"
	if _, r := f.passkeyFlow(a, assurance.High); r.Outcome != OutcomeWrongCode {
		t.Fatalf("wrong origin: %v", r.Outcome)
	}
	a.Origin = rpOrigin
	if _, r := f.passkeyFlow(a, assurance.High); r.Outcome != OutcomeVerified {
		t.Fatalf("right origin: %v", r.Outcome)
	}
	// A clone answers with a counter that did not grow.
	res := f.mustStart("cust-1", assurance.High, WebAuthn)
	tok := pageToken(t, res)
	opts, _ := f.svc.BeginPasskey(context.Background(), tok)
	body, _ := a.LoginAgain(opts)
	r, err := f.svc.FinishPasskey(context.Background(), tok, body, "n", "")
	if err != nil || r.Outcome != OutcomeWrongCode {
		t.Fatalf("cloned counter: %+v, %v", r, err)
	}
	if !strings.Contains(f.logs.String(), "sign counter did not grow") {
		t.Fatal("a counter regression was not logged")
	}
}

func TestPasskeyEnrolledAfterStartCannotComplete(t *testing.T) {
	f := newFactorFixture(t)
	first, late := newAuthenticator(t), newAuthenticator(t)
	f.enrollPasskey("cust-1", first)
	f.clock.Advance(time.Second)
	res := f.mustStart("cust-1", assurance.High, WebAuthn)
	tok := pageToken(t, res)
	f.clock.Advance(time.Second)
	f.enrollPasskey("cust-1", late)
	opts, err := f.svc.BeginPasskey(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(opts, []byte(base64.RawURLEncoding.EncodeToString(late.ID()))) {
		t.Fatal("the late passkey is allowed")
	}
	body, _ := late.Login(opts)
	if r, _ := f.svc.FinishPasskey(context.Background(), tok, body, "n", ""); r.Outcome != OutcomeWrongCode {
		t.Fatalf("late passkey: %v", r.Outcome)
	}
}

// On a cluster, each customer's verifications and factors share one slot, and the
// read script finds the customer's hash beside the record.
func TestFactorsOnCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	f := newFactorFixtureOn(t, nil, cluster.Client(t), Config{ShardedPubSub: true})
	for i := range 4 {
		customer := fmt.Sprint("cust-", i)
		seed := newSeed(t)
		f.enrollTOTP(customer, seed)
		a := newAuthenticator(t)
		f.enrollPasskey(customer, a)
		f.clock.Advance(time.Second)
		res := f.mustStart(customer, assurance.Substantial, TOTP)
		if r, err := f.svc.SubmitTOTP(context.Background(), pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n", ""); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("TOTP on cluster: %+v, %v", r, err)
		}
		res = f.mustStart(customer, assurance.High, WebAuthn)
		tok := pageToken(t, res)
		opts, err := f.svc.BeginPasskey(context.Background(), tok)
		if err != nil {
			t.Fatalf("BeginPasskey on cluster: %v", err)
		}
		body, _ := a.Login(opts)
		if r, err := f.svc.FinishPasskey(context.Background(), tok, body, "n", ""); err != nil || r.Outcome != OutcomeVerified {
			t.Fatalf("FinishPasskey on cluster: %+v, %v", r, err)
		}
	}
}

// The code that confirmed an enrollment (through the real identity store) cannot
// complete a verification, even one started in the same 30-second step.
func TestEnrollmentConfirmationCodeCannotComplete(t *testing.T) {
	f := newFactorFixture(t)
	ctx := context.Background()
	ids, err := identity.New(identity.Config{PublicURL: f.svc.cfg.PublicURL, Brand: "Acme"}, f.udb, f.svc.keys,
		f.seals, f.wa, f.clock.Now, rand.Reader, f.svc.log)
	if err != nil {
		t.Fatal(err)
	}
	url, _, err := ids.CreateEnrollment(ctx, "platform-a", "cust-1", identity.KindTOTP, "en", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, tok, _ := strings.Cut(url, "/e/")
	_, seed, err := ids.BeginTOTP(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	code := codeAt(t, seed, f.clock.Now())
	if _, err := ids.ConfirmTOTP(ctx, tok, code, "", ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second) // the factor predates the verification; still the same step
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	r, err := f.svc.SubmitTOTP(ctx, pageToken(t, res), code, "n", "")
	if err != nil || r.Outcome != OutcomeWrongCode {
		t.Fatalf("the confirmation code: %+v, %v", r, err)
	}
	f.clock.Advance(30 * time.Second)
	r, err = f.svc.SubmitTOTP(ctx, pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n2", "")
	if err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("the next code: %+v, %v", r, err)
	}
}

// An HMAC key rotation (a new key first in the ring) leaves a customer's link and
// factors reachable: they are named with the ring's naming key, not the current.
func TestRotationKeepsCustomersReachable(t *testing.T) {
	f := newFactorFixture(t)
	seed := newSeed(t)
	f.enrollTOTP("cust-9", seed)
	f.link("cust-9", "x", "1234567")
	f.clock.Advance(time.Second)

	// The same service with a rotated ring: k2 is current, k1 still in the file.
	rotated, err := keyedhash.NewRing(keyedhash.Key{ID: "k2", Secret: bytes.Repeat([]byte{7}, 32)},
		keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{42}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	svc := *f.svc
	svc.keys = rotated
	f.links.svc = &svc
	req := f.startReq(TOTP, nil)
	req.CustomerID, req.MinAssurance = "", assurance.Substantial
	res, err := svc.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start after a rotation: %v", err)
	}
	if res.Verification.CustomerID != "cust-9" || fmt.Sprint(res.Verification.Methods) != fmt.Sprint([]Method{TOTP}) {
		t.Fatalf("after a rotation: customer %q, methods %v", res.Verification.CustomerID, res.Verification.Methods)
	}
	r, err := svc.SubmitTOTP(context.Background(), pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n", "")
	if err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitTOTP after a rotation: %+v, %v", r, err)
	}
}

// A locked code family does not block the customer's enrolled methods even in one
// verification: a start that accepts [OTP_EMAIL, TOTP] while the identity's email
// family is locked offers the authenticator app alone and sends nothing.
func TestLockedFamilyStillOffersEnrolledMethods(t *testing.T) {
	f := newFactorFixtureWith(t, Config{Limits: Limits{Failures: 5, Send: SendLimits{
		Destination: Rate{N: 1000, Per: time.Hour}, Agent: Rate{N: 1000, Per: time.Hour}}}})
	seed := newSeed(t)
	f.enrollTOTP("cust-42", seed)
	f.clock.Advance(time.Second)
	ctx := context.Background()
	// Five wrong email codes lock the identity's email family.
	res := f.start(OTPEmail, email)
	for i := range 5 {
		if _, err := f.svc.SubmitCode(ctx, pageToken(t, res), wrongCode(f.code(res.Verification.ID)), fmt.Sprint("w", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	sent := len(f.sender.List())
	req := f.startReq(OTPEmail, email)
	req.Methods, req.MinAssurance = []Method{OTPEmail, TOTP}, assurance.Low
	mixed, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatalf("Start with the email family locked: %v", err)
	}
	v := mixed.Verification
	if fmt.Sprint(v.Methods) != fmt.Sprint([]Method{TOTP}) || v.Delivery != DeliveryNotNeeded || len(f.sender.List()) != sent {
		t.Fatalf("offered %v, delivery %v, %d messages sent", v.Methods, v.Delivery, len(f.sender.List())-sent)
	}
	if !strings.Contains(mixed.DMText, "authenticator app") {
		t.Fatalf("DM text %q", mixed.DMText)
	}
	if r, err := f.svc.SubmitTOTP(ctx, pageToken(t, mixed), codeAt(t, seed, f.clock.Now()), "t", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitTOTP: %+v, %v", r, err)
	}
	if got := f.get(v.ID); fmt.Sprint(got.Methods) != fmt.Sprint([]Method{TOTP}) || got.Method != TOTP {
		t.Fatalf("stored: methods %v, verified by %v", got.Methods, got.Method)
	}
}
