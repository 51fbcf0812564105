package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/authsvc/authsvc/internal/softauthn"
	"github.com/authsvc/authsvc/internal/verify"
)

// newAuthenticator returns a software passkey for the fixture's relying party:
// it verifies the user, is not backup eligible, and its sign count is 7.
func newAuthenticator(t testing.TB) *softauthn.Authenticator {
	t.Helper()
	a, err := softauthn.New("localhost", testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	a.Counter = 7
	return a
}

// create is navigator.credentials.create with a: the options as the page gets
// them, the registration response body as it posts it.
func create(a *softauthn.Authenticator, cc *protocol.CredentialCreation) ([]byte, error) {
	options, err := json.Marshal(cc)
	if err != nil {
		return nil, err
	}
	return a.Register(options)
}

// register is create for a ceremony the authenticator must answer.
func register(t testing.TB, a *softauthn.Authenticator, cc *protocol.CredentialCreation) []byte {
	t.Helper()
	body, err := create(a, cc)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// passkeyCeremony creates a passkey enrollment for customerID and begins its
// ceremony; it returns the token and the creation options.
func (f *fixture) passkeyCeremony(customerID string) (string, *protocol.CredentialCreation) {
	f.t.Helper()
	token := f.enroll(customerID, KindPasskey)
	cc, err := f.store.BeginPasskey(f.ctx, token, "")
	if err != nil {
		f.t.Fatalf("BeginPasskey: %v", err)
	}
	return token, cc
}

func (f *fixture) finish(token string, body []byte) (*Factor, error) {
	return f.store.FinishPasskey(f.ctx, token, bytes.NewReader(body), "")
}

func enrollmentID(token string) string { id, _, _ := strings.Cut(token, "."); return id }

func TestPasskeyEnrollment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		be, bs bool
	}{{"device-bound", false, false}, {"backup eligible", true, false}, {"synced", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			token, cc := f.passkeyCeremony("cust-42")
			opts := cc.Response
			sel := opts.AuthenticatorSelection
			if sel.UserVerification != protocol.VerificationRequired || sel.ResidentKey != protocol.ResidentKeyRequirementPreferred ||
				opts.Attestation != protocol.PreferNoAttestation || opts.Timeout != int((2*time.Minute).Milliseconds()) ||
				opts.RelyingParty.ID != "localhost" || len(opts.CredentialExcludeList) != 0 {
				t.Fatalf("creation options = %+v", opts)
			}
			if uid, _ := opts.User.ID.(protocol.URLEncodedBase64); len(uid) == 0 || bytes.Contains(uid, []byte("cust-42")) ||
				strings.Contains(opts.User.Name, "cust-42") || strings.Contains(opts.User.DisplayName, "cust-42") {
				t.Fatalf("the user entity reveals the customer id: %+v", opts.User)
			}
			if ttl := f.rdb.PTTL(f.ctx, SessionKey(enrollmentID(token))).Val(); ttl <= time.Minute || ttl > 2*time.Minute {
				t.Fatalf("session TTL = %v; want the ceremony timeout", ttl)
			}

			a := newAuthenticator(t)
			a.BE, a.BS = tc.be, tc.bs
			fac, err := f.finish(token, register(t, a, cc))
			if err != nil {
				t.Fatalf("FinishPasskey: %v (log: %s)", err, f.logs.String())
			}
			if fac.Kind != KindPasskey || fac.Label != "Passkey" || fac.Passkey == nil || !validFactorID(fac.ID) {
				t.Fatalf("factor = %+v", fac)
			}
			fs := f.factors("cust-42")
			if len(fs) != 1 || fs[0].ID != fac.ID {
				t.Fatalf("Factors = %+v", fs)
			}
			p := fs[0].Passkey
			if !bytes.Equal(p.CredentialID, a.ID()) || p.BackupEligible != tc.be || p.BackupState != tc.bs ||
				!p.UserVerified || p.SignCount != 7 || p.AttestationType != "none" || len(p.PublicKey) == 0 {
				t.Fatalf("stored passkey = %+v", p)
			}
			h := f.customerHash("cust-42")
			if h["c"+fac.ID] != "7" || h["cu"] != "cust-42" {
				t.Fatalf("customer hash: c=%q cu=%q", h["c"+fac.ID], h["cu"])
			}
			// The ceremony's SessionData is gone; the credential id is indexed.
			if n := f.rdb.Exists(f.ctx, SessionKey(enrollmentID(token))).Val(); n != 0 {
				t.Fatal("SessionData left in Redis after finish")
			}
			idx := f.rdb.Get(f.ctx, CredentialKey(f.keys, a.ID())).Val()
			if want := CustomerTag(f.keys, "cust-42") + ":" + CustomerHash(f.keys, "cust-42") + ":" + fac.ID; idx != want {
				t.Fatalf("credential index = %q; want %q", idx, want)
			}
			f.checkTTLs()

			// The link is used up and the ceremony finished: a second finish with the
			// same session is refused.
			if _, err := f.finish(token, register(t, a, cc)); !errors.Is(err, ErrCeremony) {
				t.Fatalf("second FinishPasskey = %v; want ErrCeremony", err)
			}
			if _, err := f.store.OpenEnrollment(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("OpenEnrollment after use = %v; want ErrNotFound", err)
			}
			if _, err := f.store.BeginPasskey(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("BeginPasskey after use = %v; want ErrNotFound", err)
			}
			if len(f.factors("cust-42")) != 1 {
				t.Fatal("a second factor was stored")
			}

			// A new enrollment excludes the registered passkey.
			_, cc2 := f.passkeyCeremony("cust-42")
			if len(cc2.Response.CredentialExcludeList) != 1 || !bytes.Equal(cc2.Response.CredentialExcludeList[0].CredentialID, a.ID()) {
				t.Fatalf("exclude list = %+v", cc2.Response.CredentialExcludeList)
			}
			if _, err := create(a, cc2); !errors.Is(err, softauthn.ErrExcluded) {
				t.Fatalf("authenticator created an excluded credential: %v", err)
			}
		})
	}
}

// A ceremony finishes at most once: a refused response consumes it too.
func TestPasskeySessionConsumedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token, cc := f.passkeyCeremony("cust-42")
	a := newAuthenticator(t)
	good := register(t, a, cc)
	a.Origin = "https://evil.example"
	if _, err := f.finish(token, register(t, a, cc)); !errors.Is(err, ErrCeremony) {
		t.Fatalf("wrong origin = %v; want ErrCeremony", err)
	}
	if _, err := f.finish(token, good); !errors.Is(err, ErrCeremony) {
		t.Fatalf("finish after the session was used = %v; want ErrCeremony", err)
	}
	if len(f.factors("cust-42")) != 0 {
		t.Fatal("a factor was stored")
	}
	if strings.Contains(f.logs.String(), "evil.example") {
		t.Fatal("the log echoes client data")
	}
	// The enrollment is still open: a new ceremony works.
	cc2, err := f.store.BeginPasskey(f.ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	a.Origin = testOrigin
	if _, err := f.finish(token, register(t, a, cc2)); err != nil {
		t.Fatalf("new ceremony: %v", err)
	}
}

func TestPasskeyRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tweak func(f *fixture, a *softauthn.Authenticator)
		want  error
	}{
		{"wrong origin", func(_ *fixture, a *softauthn.Authenticator) { a.Origin = "http://localhost:8081" }, ErrCeremony},
		{"wrong rp id", func(_ *fixture, a *softauthn.Authenticator) { a.RPID = "example.com" }, ErrCeremony},
		{"no user verification", func(_ *fixture, a *softauthn.Authenticator) { a.UV = false }, ErrCeremony},
		{"BS without BE", func(_ *fixture, a *softauthn.Authenticator) { a.BS = true }, ErrCeremony},
		{"ceremony timed out", func(f *fixture, _ *softauthn.Authenticator) { f.clock.Advance(2 * time.Minute) }, ErrCeremony},
		{"enrollment expired", func(f *fixture, _ *softauthn.Authenticator) { f.clock.Advance(15 * time.Minute) }, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			token, cc := f.passkeyCeremony("cust-42")
			a := newAuthenticator(t)
			tc.tweak(f, a)
			_, err := f.finish(token, register(t, a, cc))
			if !errors.Is(err, tc.want) {
				t.Fatalf("FinishPasskey = %v; want %v", err, tc.want)
			}
			if len(f.factors("cust-42")) != 0 {
				t.Fatal("a factor was stored")
			}
			if f.rdb.Exists(f.ctx, SessionKey(enrollmentID(token)), CredentialKey(f.keys, a.ID())).Val() != 0 {
				t.Fatal("a session or credential index was left behind")
			}
		})
	}
}

// FinishPasskey is ErrNotFound when the link is gone, even with a valid response.
func TestPasskeyFinishOnDeadLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token, cc := f.passkeyCeremony("cust-42")
	a := newAuthenticator(t)
	body := register(t, a, cc)
	// The enrollment is used by someone else between the ceremony's begin and finish.
	f.rdb.HSet(f.ctx, EnrollmentKey(enrollmentID(token)), "st", "2")
	if _, err := f.finish(token, body); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FinishPasskey = %v; want ErrNotFound", err)
	}
	if _, err := f.store.FinishPasskey(f.ctx, "nonsense", bytes.NewReader(body), ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FinishPasskey with a bad token = %v; want ErrNotFound", err)
	}
	if f.rdb.Exists(f.ctx, CredentialKey(f.keys, a.ID())).Val() != 0 || len(f.factors("cust-42")) != 0 {
		t.Fatal("something was stored")
	}
}

func TestPasskeyDuplicateCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := newAuthenticator(t)
	token, cc := f.passkeyCeremony("cust-a")
	if _, err := f.finish(token, register(t, a, cc)); err != nil {
		t.Fatal(err)
	}
	// The same credential id for another customer (a cloned or malicious authenticator).
	tokenB, ccB := f.passkeyCeremony("cust-b")
	if _, err := f.finish(tokenB, register(t, a, ccB)); !errors.Is(err, ErrDuplicateCredential) {
		t.Fatalf("FinishPasskey = %v; want ErrDuplicateCredential", err)
	}
	if len(f.factors("cust-b")) != 0 {
		t.Fatal("customer b got a factor")
	}
	if _, err := f.store.OpenEnrollment(f.ctx, tokenB, ""); err != nil {
		t.Fatalf("b's link should stay open: %v", err)
	}
	if len(f.factors("cust-a")) != 1 {
		t.Fatal("customer a lost its factor")
	}
}

func TestRemoveFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := newAuthenticator(t)
	token, cc := f.passkeyCeremony("cust-a")
	pk, err := f.finish(token, register(t, a, cc))
	if err != nil {
		t.Fatal(err)
	}
	totpToken := f.enroll("cust-a", KindTOTP)
	_, secret, err := f.store.BeginTOTP(f.ctx, totpToken, "")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	tf, err := f.store.ConfirmTOTP(f.ctx, totpToken, codeAt(t, secret, verify.TOTPStep(f.clock.Now())), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if fs := f.factors("cust-a"); len(fs) != 2 || fs[0].ID != pk.ID || fs[1].ID != tf.ID {
		t.Fatalf("Factors = %+v; want the passkey then the TOTP factor", fs)
	}

	if err := f.store.RemoveFactor(f.ctx, "platform-a", "cust-a", pk.ID); err != nil {
		t.Fatalf("RemoveFactor: %v", err)
	}
	if fs := f.factors("cust-a"); len(fs) != 1 || fs[0].ID != tf.ID {
		t.Fatalf("Factors after removal = %+v", fs)
	}
	h := f.customerHash("cust-a")
	if _, ok := h["c"+pk.ID]; ok {
		t.Fatal("the sign count stayed")
	}
	if f.rdb.Exists(f.ctx, CredentialKey(f.keys, a.ID())).Val() != 0 {
		t.Fatal("the credential index stayed")
	}
	if err := f.store.RemoveFactor(f.ctx, "platform-a", "cust-a", pk.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second RemoveFactor = %v; want ErrNotFound", err)
	}
	if err := f.store.RemoveFactor(f.ctx, "platform-a", "cust-b", tf.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveFactor of another customer's factor = %v; want ErrNotFound", err)
	}
	if err := f.store.RemoveFactor(f.ctx, "platform-a", "cust-a", tf.ID); err != nil {
		t.Fatalf("RemoveFactor TOTP: %v", err)
	}
	if fs := f.factors("cust-a"); len(fs) != 0 {
		t.Fatalf("Factors = %+v", fs)
	}
	// The removed credential may be registered again, even by another customer.
	tokenB, ccB := f.passkeyCeremony("cust-b")
	if _, err := f.finish(tokenB, register(t, a, ccB)); err != nil {
		t.Fatalf("re-registering a removed credential: %v", err)
	}
}
