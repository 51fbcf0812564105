// Package erasure_test holds the end-to-end test of customer erasure: after
// identity.Store.Erase, no Redis key or stream entry can be tied back to the
// customer, and a new verification for that customer starts from nothing. It sits
// apart from both packages it drives: package challenge (the verifications) imports
// package identity (the links, factors and erasure).
//
// Everything is made by the real flows — links, an authenticator app and a passkey
// enrolled through enrollment links (internal/softauthn), verifications started and
// completed through package challenge — on a real redis-server, standalone and
// Cluster.
package erasure_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/softauthn"
)

const (
	publicURL = "https://verify.example.com"
	rpID      = "verify.example.com"
	customer  = "cust-erasure-7f3q"
	bystander = "cust-bystander-2k9w"
)

// person is a social identity of the test.
type person struct{ network, userID, handle string }

var (
	alice   = person{"x", "alice-x-7731029", "@alice_erasure"}
	aliceFB = person{"messenger", "alice-m-55k2q", "@alice.erasure.m"}
	// aliceIG is linked, used, and unlinked again before the erasure.
	aliceIG = person{"instagram", "alice-ig-3q8z1", "@alice.erasure.ig"}
	// aliceTT is linked as releases before links recorded their client wrote it.
	aliceTT  = person{"tiktok", "alice-tt-8w2m0", "@alice.erasure.tt"}
	bob      = person{"x", "bob-x-99q1", "@bob_bystander"}
	impostor = person{"x", "mallory-x-4411", "@m4ll0ry"}
)

// The contact points the verifications send to. They are never stored in Redis
// at all (only masks and keyed hashes); the search below checks that too.
const (
	aliceMail  = "alice.erasure@example.com"
	aliceMail2 = "alice.second@example.org"
	alicePhone = "+14155550123"
)

// world is authsvc's domain, wired as cmd/authsvc wires it, on one Redis.
type world struct {
	t       *testing.T
	ctx     context.Context
	rdb     redis.UniversalClient
	cluster bool
	clock   *fakeclock.Clock
	keys    *keyedhash.Ring
	ids     *identity.Store
	svc     *challenge.Service
	outbox  *delivery.Outbox
	n       int
}

func newWorld(t *testing.T, rdb redis.UniversalClient, cluster bool) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), rdb: rdb, cluster: cluster,
		clock: fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)), outbox: delivery.NewOutbox(100)}
	var err error
	if w.keys, err = keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{5}, 32)}); err != nil {
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
	pub, _ := url.Parse(publicURL)
	log := slog.New(slog.DiscardHandler)
	if w.ids, err = identity.New(identity.Config{PublicURL: pub, Brand: "Acme", AuditPerTag: cluster},
		rdb, w.keys, seals, wa, w.clock.Now, rand.Reader, log, identity.WithNotifier(w.outbox)); err != nil {
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
	if w.svc, err = challenge.New(challenge.Config{PublicURL: pub, Brand: "Acme", ShardedPubSub: cluster},
		rdb, w.outbox, assertion.NewMinter(kr, publicURL, 5*time.Minute), w.keys, w.clock.Now, rand.Reader, log,
		challenge.NewMetrics(prometheus.NewRegistry()),
		challenge.WithFactors(challenge.Factors{Links: w.ids, Seeds: seals, WebAuthn: wa})); err != nil {
		t.Fatal(err)
	}
	return w
}

// enrollmentToken is the token of an enrollment page URL.
func (w *world) enrollmentToken(cust string, kind identity.Kind) string {
	w.t.Helper()
	u, _, err := w.ids.CreateEnrollment(w.ctx, "platform-a", cust, kind, "en", nil)
	if err != nil {
		w.t.Fatalf("CreateEnrollment: %v", err)
	}
	tok, ok := strings.CutPrefix(u, publicURL+"/e/")
	if !ok {
		w.t.Fatalf("enrollment URL %q", u)
	}
	return tok
}

func totpCode(t *testing.T, seed []byte, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed), at,
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrollTOTP enrolls an authenticator app on the customer's page and returns its seed.
func (w *world) enrollTOTP(cust string) []byte {
	w.t.Helper()
	tok := w.enrollmentToken(cust, identity.KindTOTP)
	_, seed, err := w.ids.BeginTOTP(w.ctx, tok, "")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.ids.ConfirmTOTP(w.ctx, tok, totpCode(w.t, seed, w.clock.Now()), "", ""); err != nil {
		w.t.Fatalf("ConfirmTOTP: %v", err)
	}
	return seed
}

// enrollPasskey registers a software passkey on the customer's page.
func (w *world) enrollPasskey(cust string) *softauthn.Authenticator {
	w.t.Helper()
	a, err := softauthn.New(rpID, publicURL)
	if err != nil {
		w.t.Fatal(err)
	}
	tok := w.enrollmentToken(cust, identity.KindPasskey)
	cc, err := w.ids.BeginPasskey(w.ctx, tok, "")
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
	if _, err := w.ids.FinishPasskey(w.ctx, tok, bytes.NewReader(body), ""); err != nil {
		w.t.Fatalf("FinishPasskey: %v", err)
	}
	return a
}

// start starts a verification of p, for cust ("" names none), with methods.
func (w *world) start(p person, cust string, min assurance.Level, dest *challenge.Destination, methods ...challenge.Method) *challenge.StartResult {
	w.t.Helper()
	w.n++
	res, err := w.svc.Start(w.ctx, challenge.StartRequest{
		ClientID: "platform-a", Identity: challenge.Identity{Network: p.network, UserID: p.userID, Handle: p.handle},
		CustomerID: cust, Methods: methods, MinAssurance: min, Audience: "crm", AgentID: "agent-7",
		ConversationID: fmt.Sprint("conv-", w.n), Destination: dest, Locale: "en", RequestID: fmt.Sprint("req-", w.n),
	})
	if err != nil {
		w.t.Fatalf("Start %d: %v", w.n, err)
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

func (w *world) submit(res *challenge.StartResult, code string) challenge.Result {
	w.t.Helper()
	w.n++
	r, err := w.svc.SubmitCode(w.ctx, pageToken(w.t, res), code, fmt.Sprint("nonce-", w.n), "")
	if err != nil {
		w.t.Fatalf("SubmitCode: %v", err)
	}
	return r
}

// everything reads every key in Redis (SCAN on every master) and every value:
// strings, hashes (fields and values), streams (ids, fields and values), sets,
// sorted sets and lists. It returns one line per key, field, value or entry part,
// each prefixed with its key, and fails on a type it does not know.
func (w *world) everything() []string {
	w.t.Helper()
	dump := redistest.Dump(w.t, w.rdb)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(dump)) {
		out = append(out, k+" => "+k)
		for _, p := range dump[k] {
			out = append(out, k+" => "+p)
		}
	}
	return out
}

// streams returns every audit stream entry, on every stream.
func (w *world) trail() []redis.XMessage {
	w.t.Helper()
	var out []redis.XMessage
	for _, line := range w.everything() {
		key, _, _ := strings.Cut(line, " => ")
		if line == key+" => "+key && (key == "audit:events" || strings.HasSuffix(key, "}:a")) {
			out = append(out, w.rdb.XRange(w.ctx, key, "-", "+").Val()...)
		}
	}
	return out
}

// mode names the deployment of w.
func mode(w *world) string {
	if w.cluster {
		return "cluster"
	}
	return "standalone"
}

// withStdB64 lists the encodings a byte string may be stored under.
func encodings(b []byte) []string {
	return []string{string(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)}
}

// TestEraseLeavesNothing runs testErase on standalone Redis and on Cluster, then
// holds every key the flows made to the key inventory of docs/privacy.md.
func TestEraseLeavesNothing(t *testing.T) {
	t.Parallel()
	in := &inventory{}
	t.Run("deployments", func(t *testing.T) {
		t.Run("standalone", func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			testErase(t, newWorld(t, srv.Client(t), false), in)
		})
		t.Run("cluster", func(t *testing.T) {
			t.Parallel()
			cluster := redistest.StartCluster(t, 3)
			testErase(t, newWorld(t, cluster.Client(t), true), in)
		})
	})
	if !t.Failed() {
		in.check(t)
	}
}

// testErase is the decisive test of erasure. After EraseCustomer no Redis key or
// stream entry can be tied back to the customer: a search of every key, field,
// value and stream entry finds neither the customer id, nor anything derived from
// it or from its identities, factors or pseudonym key; and a new verification for
// the customer starts from nothing.
// caseRef is the platform's case reference of the customer's handovers.
const caseRef = "CASE-ALICE-4711"

func testErase(t *testing.T, w *world, in *inventory) {
	ctx := w.ctx
	email := &challenge.Destination{Kind: challenge.Email, Value: aliceMail}

	// A bystander, whose data must all survive.
	if _, err := w.ids.Link(ctx, "platform-a", bystander, bob.network, bob.userID, identity.OwnLinks); err != nil {
		t.Fatal(err)
	}
	w.enrollTOTP(bystander)
	w.clock.Advance(time.Minute)
	bres := w.start(bob, bystander, assurance.Low, &challenge.Destination{Kind: challenge.Email, Value: "bob@example.net"},
		challenge.OTPEmail)
	if r := w.submit(bres, w.code(bres.Verification.ID)); r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("bystander's verification: %+v", r)
	}

	// The customer: two linked identities, an authenticator app and a passkey,
	// an open enrollment link and another with a passkey ceremony under way.
	for _, p := range []person{alice, aliceFB} {
		if _, err := w.ids.Link(ctx, "platform-a", customer, p.network, p.userID, identity.OwnLinks); err != nil {
			t.Fatal(err)
		}
	}
	// A link made before links recorded their client: the pointer holds the
	// customer id alone, the entry no client.
	ttHash := identity.IdentityHash(w.keys, aliceTT.network, aliceTT.userID)
	if err := w.rdb.HSet(ctx, identity.CustomerKeyFor(w.keys, customer), "L"+ttHash,
		aliceTT.network+"\x1f"+aliceTT.userID+"\x1f"+strconv.FormatInt(w.clock.Now().UnixMilli(), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.rdb.Set(ctx, identity.LinkKey(identity.IdentityTag(w.keys, aliceTT.network, aliceTT.userID), ttHash),
		customer, 400*24*time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	// Her first factor, bound on a LOW proof (a code sent to her address): its
	// notice goes there, with a report link whose record names her.
	const browser = "binding-hash-of-alices-phone"
	firstURL, _, err := w.ids.CreateEnrollment(ctx, "platform-a", customer, identity.KindTOTP, "en", &identity.Proof{
		VerificationID: "low", Level: assurance.Low, Binding: browser,
		Contact: &identity.Contact{Channel: delivery.Email, To: aliceMail}})
	if err != nil {
		t.Fatalf("CreateEnrollment on a LOW proof: %v", err)
	}
	lowTok := strings.TrimPrefix(firstURL, publicURL+"/e/")
	_, firstSeed, err := w.ids.BeginTOTP(ctx, lowTok, browser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ids.ConfirmTOTP(ctx, lowTok, totpCode(t, firstSeed, w.clock.Now()), "req-first", browser); err != nil {
		t.Fatalf("ConfirmTOTP of the first factor: %v", err)
	}
	seed := w.enrollTOTP(customer)
	key := w.enrollPasskey(customer)
	w.enrollmentToken(customer, identity.KindTOTP)
	if _, err := w.ids.BeginPasskey(ctx, w.enrollmentToken(customer, identity.KindPasskey), ""); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)

	// Verifications through package challenge: naming the customer (verified by a
	// code, by the authenticator app; a passkey ceremony pending; one failed) and
	// naming none for linked identities (one pending, one verified), and one by
	// an impostor naming the customer.
	var ids []string
	v := w.start(alice, customer, assurance.Low, email, challenge.OTPEmail)
	if r := w.submit(v, w.code(v.Verification.ID)); r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("code: %+v", r)
	}
	ids = append(ids, v.Verification.ID)
	// Handovers: to the brand's app (bound, then redeemed) and to phone.
	h, err := w.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: "platform-a", VerificationID: v.Verification.ID,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: "acme-app", CaseReference: caseRef})
	if err != nil {
		t.Fatalf("CreateHandover: %v", err)
	}
	const pkce = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if _, err := w.svc.BindHandover(ctx, h.ID, w.svc.BindState(h.ID, ""), pkce, "", []string{"app"}); !errors.Is(err, challenge.ErrHandoverBrowser) {
		t.Fatalf("BindHandover from no browser: %v", err)
	}
	v = w.start(aliceFB, customer, assurance.Substantial, nil, challenge.TOTP)
	w.n++
	if r, err := w.svc.SubmitTOTP(ctx, pageToken(t, v), totpCode(t, seed, w.clock.Now()), fmt.Sprint("n", w.n), ""); err != nil ||
		r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("TOTP: %+v, %v", r, err)
	}
	ids = append(ids, v.Verification.ID)
	v = w.start(alice, customer, assurance.High, nil, challenge.WebAuthn)
	if _, err := w.svc.BeginPasskey(ctx, pageToken(t, v)); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, v.Verification.ID)
	v = w.start(alice, customer, assurance.Low, &challenge.Destination{Kind: challenge.Email, Value: aliceMail2}, challenge.OTPEmail)
	for {
		r := w.submit(v, "000000")
		if r.Outcome == challenge.OutcomeFailed {
			break
		}
		if r.Outcome != challenge.OutcomeWrongCode {
			t.Fatalf("wrong code: %+v", r)
		}
	}
	ids = append(ids, v.Verification.ID)
	v = w.start(aliceFB, "", assurance.Low, email, challenge.OTPEmail)
	if v.Verification.CustomerID != customer {
		t.Fatalf("a start naming no customer for a linked identity has subject %q", v.Verification.CustomerID)
	}
	ids = append(ids, v.Verification.ID)
	v = w.start(alice, "", assurance.Low, &challenge.Destination{Kind: challenge.Phone, Value: alicePhone}, challenge.OTPSMS)
	if r := w.submit(v, w.code(v.Verification.ID)); r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SMS code: %+v", r)
	}
	ids = append(ids, v.Verification.ID)
	if _, err := w.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: "platform-a", VerificationID: v.Verification.ID,
		Kind: challenge.HandoverPhone, Redeemer: "acme-ivr", CaseReference: caseRef, RequestID: "phone-1"}); err != nil {
		t.Fatalf("CreateHandover (phone): %v", err)
	}
	v = w.start(impostor, customer, assurance.Low, &challenge.Destination{Kind: challenge.Email, Value: "mallory@example.com"},
		challenge.OTPEmail)
	ids = append(ids, v.Verification.ID)

	// An identity linked, used while linked (one verification verified, one
	// pending with a wrong code against it), then unlinked: EraseCustomer must still
	// reach what it left, and the pending one must never verify as the customer.
	if _, err := w.ids.Link(ctx, "platform-a", customer, aliceIG.network, aliceIG.userID, identity.OwnLinks); err != nil {
		t.Fatal(err)
	}
	igMail := &challenge.Destination{Kind: challenge.Email, Value: "alice.ig@example.com"}
	v = w.start(aliceIG, "", assurance.Low, igMail, challenge.OTPEmail)
	if r := w.submit(v, w.code(v.Verification.ID)); r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("unlinked identity's code while linked: %+v", r)
	}
	ids = append(ids, v.Verification.ID)
	igPending := w.start(aliceIG, "", assurance.Low, igMail, challenge.OTPEmail)
	if igPending.Verification.CustomerID != customer {
		t.Fatalf("the pending verification of the linked identity has subject %q", igPending.Verification.CustomerID)
	}
	if r := w.submit(igPending, "000000"); r.Outcome != challenge.OutcomeWrongCode {
		t.Fatalf("wrong code: %+v", r)
	}
	igCode := w.code(igPending.Verification.ID)
	ids = append(ids, igPending.Verification.ID)
	if err := w.ids.Unlink(ctx, "platform-a", customer, aliceIG.network, aliceIG.userID, identity.OwnLinks); err != nil {
		t.Fatal(err)
	}

	// What ties data to the customer, read before the erasure.
	ch := identity.CustomerHash(w.keys, customer)
	ckey := identity.CustomerKeyFor(w.keys, customer)
	pk := w.rdb.HGet(ctx, ckey, "pk").Val()
	if len(pk) != 64 {
		t.Fatalf("pseudonym key %q", pk)
	}
	var ihs []string
	for _, p := range []person{alice, aliceFB, impostor, aliceIG} {
		ihs = append(ihs, identity.IdentityHash(w.keys, p.network, p.userID))
	}
	u := audit.Pseudonym(pk, ch)
	pseudonyms := []string{u}
	for _, ih := range ihs {
		pseudonyms = append(pseudonyms, audit.Pseudonym(pk, ih))
	}
	// The trail names the customer and its identities by these pseudonyms (and
	// the identities of starts that named no customer by their keyed hashes).
	seen := map[string]bool{}
	for _, e := range w.trail() {
		for _, f := range []string{"u", "i"} {
			if s, ok := e.Values[f].(string); ok {
				seen[s] = true
			}
		}
	}
	for _, p := range append(pseudonyms, ihs[0], ihs[1], ihs[3]) {
		if !seen[p] {
			t.Fatalf("the trail does not name %q before the erasure: the search below would prove nothing", p)
		}
	}
	before := w.everything()
	in.add(mode(w)+", before the erasure", redistest.Keys(t, w.rdb))
	var bystanderData []string
	for _, line := range before {
		if strings.Contains(line, identity.CustomerHash(w.keys, bystander)) ||
			strings.Contains(line, identity.IdentityHash(w.keys, bob.network, bob.userID)) {
			bystanderData = append(bystanderData, line)
		}
	}
	if len(bystanderData) < 5 {
		t.Fatalf("bystander data: %v", bystanderData)
	}

	erased, err := w.ids.Erase(ctx, "platform-b", customer)
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	if erased.Identities != 3 || erased.Factors != 3 || erased.Verifications != len(ids) || erased.EnrollmentLinks != 2 ||
		erased.AuditEntries == 0 {
		t.Errorf("Erase = %+v; want 3 identities, 3 factors, %d verifications, 2 open links, some audit entries", erased, len(ids))
	}

	// The search. Tags are excluded: a tag is 25 bits of a keyed hash, shared by
	// every customer and identity that falls on it (and carried by verification
	// ids); it is a shard, not a pseudonym, and names no one.
	needles := map[string]string{
		"customer id":      customer,
		"customer hash":    ch,
		"pseudonym key":    pk,
		"TOTP seed":        base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed),
		"contact (email)":  aliceMail,
		"contact (email2)": aliceMail2,
		"contact (phone)":  alicePhone,
		"case reference":   caseRef,
	}
	for n, s := range encodings(firstSeed) {
		needles[fmt.Sprint("first TOTP seed, encoding ", n)] = s
	}
	for n, s := range encodings(seed) {
		needles[fmt.Sprint("TOTP seed, encoding ", n)] = s
	}
	for n, s := range encodings(key.ID()) {
		needles[fmt.Sprint("passkey credential id, encoding ", n)] = s
	}
	for n, s := range encodings(identity.NewPasskeyUser(w.keys, customer, "", nil).WebAuthnID()) {
		needles[fmt.Sprint("WebAuthn user handle, encoding ", n)] = s
	}
	for _, p := range []person{alice, aliceFB, aliceIG, aliceTT} {
		needles["user id "+p.userID] = p.userID
		needles["handle "+p.handle] = p.handle
		needles["identity hash of "+p.userID] = identity.IdentityHash(w.keys, p.network, p.userID)
	}
	needles["identity hash of the impostor's start linked to the customer"] = ihs[2]
	// Most of them were there before (the others — seed, contacts, handles — never
	// reach Redis in clear, and are searched for all the same).
	for _, what := range []string{"case reference", "customer id", "customer hash", "pseudonym key", "user id " + alice.userID,
		"user id " + aliceFB.userID, "identity hash of " + alice.userID, "identity hash of " + aliceFB.userID,
		"identity hash of the impostor's start linked to the customer", "passkey credential id, encoding 2",
		"user id " + aliceIG.userID, "identity hash of " + aliceIG.userID,
		"user id " + aliceTT.userID, "identity hash of " + aliceTT.userID,
		"WebAuthn user handle, encoding 2"} {
		if !slices.ContainsFunc(before, func(line string) bool { return strings.Contains(line, needles[what]) }) {
			t.Fatalf("%s is nowhere before the erasure: the search would prove nothing", what)
		}
	}
	after := w.everything()
	in.add(mode(w)+", after the erasure", redistest.Keys(t, w.rdb))
	for what, needle := range needles {
		for _, line := range after {
			if strings.Contains(line, needle) {
				t.Errorf("%s survived the erasure: %q", what, line)
			}
		}
	}
	// The pseudonyms made with the old key are in the trail still, as values of
	// 'u' and 'i' (entries are not rewritten): nowhere else, and the key that
	// derived them is gone (checked above), so nothing ties them to the customer.
	for _, p := range pseudonyms {
		for _, line := range after {
			key, rest, _ := strings.Cut(line, " => ")
			inTrail := key == "audit:events" || strings.HasSuffix(key, "}:a")
			if strings.Contains(line, p) && (!inTrail || rest != p) {
				t.Errorf("pseudonym %s survived outside the trail: %q", p, line)
			}
		}
	}
	if n := w.rdb.Exists(ctx, ckey).Val(); n != 0 {
		t.Error("the customer hash survived")
	}
	// The unlinked identity's pending verification, with its right code: nothing
	// verifies, and no assertion names the erased customer.
	if r := w.submit(igPending, igCode); r.Outcome == challenge.OutcomeVerified {
		t.Error("a verification of an identity unlinked before the erasure verified after it")
	}
	for _, id := range ids {
		if _, err := w.svc.Get(ctx, "platform-a", id); err == nil {
			t.Errorf("verification %s survived", id)
		}
	}
	// The bystander keeps everything.
	for _, line := range bystanderData {
		if !slices.Contains(after, line) {
			t.Errorf("the bystander lost %q", line)
		}
	}

	// A repeat finds nothing.
	if again, err := w.ids.Erase(ctx, "platform-b", customer); err != nil || again != (identity.Erased{}) {
		t.Errorf("second Erase = %+v, %v", again, err)
	}

	// A new verification for the customer starts from nothing: a new pseudonym
	// key, no factors, no links, no enrolled method to offer.
	w.clock.Advance(time.Minute)
	if _, err := w.svc.Start(ctx, challenge.StartRequest{
		ClientID: "platform-a", Identity: challenge.Identity{Network: alice.network, UserID: alice.userID, Handle: alice.handle},
		CustomerID: customer, Methods: []challenge.Method{challenge.TOTP, challenge.WebAuthn}, MinAssurance: assurance.Substantial,
		Audience: "crm", AgentID: "agent-7", ConversationID: "conv-new", Locale: "en", RequestID: "req-new-1",
	}); err == nil {
		t.Error("a verification by a factor of the erased customer started")
	}
	v = w.start(alice, customer, assurance.Low, email, challenge.OTPEmail)
	if v.Verification.Methods != nil && slices.ContainsFunc(v.Verification.Methods, func(m challenge.Method) bool {
		return m == challenge.TOTP || m == challenge.WebAuthn
	}) {
		t.Errorf("new verification offers %v", v.Verification.Methods)
	}
	fresh := w.rdb.HGetAll(ctx, ckey).Val()
	if len(fresh["pk"]) != 64 || fresh["pk"] == pk {
		t.Errorf("the new verification's pseudonym key %q: want a new one", fresh["pk"])
	}
	for f := range fresh {
		if f != "pk" {
			t.Errorf("the customer hash holds %q after the erasure", f)
		}
	}
	if fs, err := w.ids.Factors(ctx, customer); err != nil || len(fs) != 0 {
		t.Errorf("factors after erasure: %v, %v", fs, err)
	}
	if ls, err := w.ids.Identities(ctx, customer); err != nil || len(ls) != 0 {
		t.Errorf("identities after erasure: %v, %v", ls, err)
	}
	if c, _, ok, err := w.ids.Resolve(ctx, alice.network, alice.userID); ok || err != nil {
		t.Errorf("Resolve after erasure = %q, %v, %v", c, ok, err)
	}
	// The trail names the customer anew, under the new key: not as before.
	for _, e := range w.trail() {
		if e.Values["v"] == v.Verification.ID && e.Values["u"] != audit.Pseudonym(fresh["pk"], ch) {
			t.Errorf("new event %v: customer pseudonym not under the new key", e.Values)
		}
		if e.Values["v"] == v.Verification.ID && e.Values["u"] == u {
			t.Error("the new verification is tied to the erased customer's pseudonym")
		}
	}
}
