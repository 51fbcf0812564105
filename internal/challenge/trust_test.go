package challenge

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/softauthn"
)

// trustTable is an EnrollmentTrust whose table a test changes, as a clients
// file reload would.
type trustTable struct {
	mu sync.Mutex
	m  map[string][]string
}

func (tt *trustTable) TrustedEnrollers(client string) (bool, []string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	for _, c := range tt.m[client] {
		if c == "*" {
			return true, nil
		}
	}
	return false, tt.m[client]
}

func (tt *trustTable) set(client string, trusted ...string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.m[client] = trusted
}

// TestOtherClientsFactorsNeedTrust: a factor enrolled through another client is
// neither offered nor accepted for a verification of a client that does not
// trust that client's enrollments; trust is read from the clients at every
// start and every completion, so removing it takes effect at once.
func TestOtherClientsFactorsNeedTrust(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t)
	trust := &trustTable{m: map[string][]string{}}
	f.svc.factors.Trust = trust
	seed := newSeed(t)
	f.enroll("cust-1", identity.Factor{Kind: identity.KindTOTP, Client: "platform-b", Label: "Authenticator app", SealedSeed: string(seed)})
	// A factor stored before factors recorded their client: "<kind>|<ms>|<label>|<seed>".
	lid := f.enrollTOTP("cust-2", newSeed(t))
	ckey := identity.CustomerKeyFor(f.svc.keys, "cust-2")
	v := f.udb.HGet(context.Background(), ckey, "F"+lid).Val()
	if err := f.udb.HSet(context.Background(), ckey, "F"+lid, strings.Replace(v, "|platform-a|", "|", 1)).Err(); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)

	var nm *NoMethodError
	if _, err := f.startFactors("cust-1", assurance.Substantial, TOTP); !errors.As(err, &nm) {
		t.Fatalf("platform-a's start with platform-b's factor only: %v, want NoMethodError", err)
	}
	// A factor whose client is unknown (stored before factors recorded it) is
	// trusted only by a client that trusts every client.
	if _, err := f.startFactors("cust-2", assurance.Substantial, TOTP); !errors.As(err, &nm) {
		t.Fatalf("a factor of no known client: %v, want NoMethodError", err)
	}
	trust.set("platform-a", "*")
	if _, err := f.startFactors("cust-2", assurance.Substantial, TOTP); err != nil {
		t.Fatalf("a client trusting every client, a factor of no known client: %v", err)
	}

	trust.set("platform-a", "platform-b")
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	// The clients file drops the trust before the customer types the code.
	trust.set("platform-a")
	tok := pageToken(t, res)
	r, err := f.svc.SubmitTOTP(context.Background(), tok, codeAt(t, seed, f.clock.Now()), "n1", "")
	if err != nil || r.Outcome != OutcomeWrongCode {
		t.Fatalf("SubmitTOTP once the trust is gone = %+v, %v; want a wrong code", r, err)
	}
	trust.set("platform-a", "platform-b")
	f.clock.Advance(30 * time.Second)
	r, err = f.svc.SubmitTOTP(context.Background(), tok, codeAt(t, seed, f.clock.Now()), "n2", "browser")
	if err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitTOTP with the trust = %+v, %v", r, err)
	}
}

// TestRemovedFactorRevokesItsAssertions: an assertion minted on a factor stands
// only while the customer holds the factor; removing it revokes the assertion
// for CheckAssertion, RecordDisclosure and Get at once, and leaves the
// assertions of codes alone.
func TestRemovedFactorRevokesItsAssertions(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t)
	ctx := context.Background()
	seed := newSeed(t)
	fid := f.enrollTOTP("cust-1", seed)
	f.clock.Advance(time.Second)
	res := f.mustStart("cust-1", assurance.Substantial, TOTP)
	if r, err := f.svc.SubmitTOTP(ctx, pageToken(t, res), codeAt(t, seed, f.clock.Now()), "n1", "b"); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitTOTP = %+v, %v", r, err)
	}
	byCode := f.verifiedOTP()
	id := res.Verification.ID
	if err := f.svc.CheckAssertion(ctx, f.grant(id)); err != nil {
		t.Fatalf("CheckAssertion before the removal: %v", err)
	}
	if v := f.get(id); v.Revoked || v.Assertion == nil {
		t.Fatalf("before the removal: revoked %v, assertion %v", v.Revoked, v.Assertion != nil)
	}
	if err := f.udb.HDel(ctx, identity.CustomerKeyFor(f.svc.keys, "cust-1"), "F"+fid).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(id)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("CheckAssertion after the removal: %v, want ErrRevoked", err)
	}
	if err := f.svc.RecordDisclosure(ctx, Disclosure{Grant: f.grant(id), ClientID: "tool", DataClass: "order_status",
		Channel: "dm", Allowed: true}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("RecordDisclosure after the removal: %v, want ErrRevoked", err)
	}
	if v := f.get(id); !v.Revoked || v.Assertion != nil {
		t.Fatalf("Get after the removal: revoked %v, assertion %v; want revoked, none", v.Revoked, v.Assertion != nil)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(byCode)); err != nil {
		t.Fatalf("an assertion minted on a code: %v", err)
	}
	if _, err := f.svc.Proof(ctx, "platform-a", id, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Proof of a revoked verification: %v, want ErrNotFound", err)
	}
}

// TestCappedPasskeyEarnsItsCap: a passkey bound after a SUBSTANTIAL proof earns
// SUBSTANTIAL at most, user verification or not; a HIGH verification does not even
// begin a ceremony with it (it could only fail, and count as a wrong attempt).
func TestCappedPasskeyEarnsItsCap(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t)
	a, err := softauthn.New(rpID, rpOrigin)
	if err != nil {
		t.Fatal(err)
	}
	a.UV = true
	pk, err := a.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	a.SetUserHandle(identity.NewPasskeyUser(f.svc.keys, "cust-1", "", nil).WebAuthnID())
	f.enroll("cust-1", identity.Factor{Kind: identity.KindPasskey, Label: "Passkey", Passkey: &identity.Passkey{
		CredentialID: a.ID(), PublicKey: pk, UserVerified: true, MaxLevel: assurance.Substantial}})
	f.clock.Advance(time.Second)
	ctx := context.Background()
	high := f.mustStart("cust-1", assurance.High, WebAuthn)
	if _, err := f.svc.BeginPasskey(ctx, pageToken(t, high)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a HIGH verification began a ceremony with a capped passkey: %v", err)
	}
	if v := f.get(high.Verification.ID); v.AttemptsLeft != 5 {
		t.Fatalf("%d attempts left, want 5", v.AttemptsLeft)
	}
	res := f.mustStart("cust-1", assurance.Substantial, WebAuthn)
	tok := pageToken(t, res)
	opts, err := f.svc.BeginPasskey(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Login(opts)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.svc.FinishPasskey(ctx, tok, body, "n", "b"); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("FinishPasskey = %+v, %v", r, err)
	}
	if v := f.get(res.Verification.ID); v.Level != assurance.Substantial || v.State != Verified {
		t.Fatalf("a capped passkey earned %v", v.Level)
	}
}
