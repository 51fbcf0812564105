package softauthn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authsvc/authsvc/internal/softauthn"
)

const (
	rpID     = "localhost"
	rpOrigin = "http://localhost:8080"
)

// user is a relying party's account with the credentials registered to it.
type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "alex" }
func (u *user) WebAuthnDisplayName() string                { return "Alex" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// relyingParty runs go-webauthn's ceremonies for one user, as a server would.
type relyingParty struct {
	t    testing.TB
	w    *webauthn.WebAuthn
	user *user
}

func newRelyingParty(t testing.TB) *relyingParty {
	t.Helper()
	w, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Acme", RPOrigins: []string{rpOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	return &relyingParty{t: t, w: w, user: &user{id: []byte("user-handle-0123456789")}}
}

func newAuthenticator(t testing.TB) *softauthn.Authenticator {
	t.Helper()
	a, err := softauthn.New(rpID, rpOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// creationOptions begins a registration and returns its options as the server
// would send them, with the session it keeps.
func (rp *relyingParty) creationOptions(opts ...webauthn.RegistrationOption) ([]byte, *webauthn.SessionData) {
	rp.t.Helper()
	cc, session, err := rp.w.BeginRegistration(rp.user, opts...)
	if err != nil {
		rp.t.Fatalf("BeginRegistration: %v", err)
	}
	options, err := json.Marshal(cc)
	if err != nil {
		rp.t.Fatal(err)
	}
	return options, session
}

// register runs a registration with a and returns the server's verdict; an
// accepted credential is kept for the user. The authenticator must answer.
func (rp *relyingParty) register(a *softauthn.Authenticator, opts ...webauthn.RegistrationOption) (*webauthn.Credential, error) {
	rp.t.Helper()
	options, session := rp.creationOptions(opts...)
	body, err := a.Register(options)
	if err != nil {
		rp.t.Fatalf("Register: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, err
	}
	cred, err := rp.w.CreateCredential(rp.user, *session, parsed)
	if err != nil {
		return nil, err
	}
	rp.user.creds = append(rp.user.creds, *cred)
	return cred, nil
}

// login runs a login answered by answer (a.Login or a.LoginAgain) and returns
// the parsed response and the server's verdict; an accepted credential's new
// state is kept for the user.
func (rp *relyingParty) login(answer func([]byte) ([]byte, error), opts ...webauthn.LoginOption) (*protocol.ParsedCredentialAssertionData, *webauthn.Credential, error) {
	rp.t.Helper()
	ca, session, err := rp.w.BeginLogin(rp.user, opts...)
	if err != nil {
		rp.t.Fatalf("BeginLogin: %v", err)
	}
	options, err := json.Marshal(ca)
	if err != nil {
		rp.t.Fatal(err)
	}
	body, err := answer(options)
	if err != nil {
		rp.t.Fatalf("login answer: %v", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, nil, err
	}
	cred, err := rp.w.ValidateLogin(rp.user, *session, parsed)
	if err != nil {
		return parsed, nil, err
	}
	for i := range rp.user.creds {
		if bytes.Equal(rp.user.creds[i].ID, cred.ID) {
			rp.user.creds[i] = *cred
		}
	}
	return parsed, cred, nil
}

var (
	requireUV      = webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationRequired})
	requireUVLogin = webauthn.WithUserVerification(protocol.VerificationRequired)
)

func TestRegisterAndLogin(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := newAuthenticator(t)

	cred, err := rp.register(a, requireUV)
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	pk, err := a.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cred.ID, a.ID()) || !bytes.Equal(cred.PublicKey, pk) || cred.AttestationFormat != "none" ||
		cred.AttestationType != "none" || cred.Authenticator.SignCount != 0 ||
		cred.Authenticator.Attachment != protocol.Platform || !slices.Equal(cred.Transport, []protocol.AuthenticatorTransport{protocol.Internal}) {
		t.Fatalf("credential = %+v", cred)
	}
	if !bytes.Equal(a.UserHandle(), rp.user.id) {
		t.Fatalf("user handle = %q; want the options' user id %q", a.UserHandle(), rp.user.id)
	}

	for want := uint32(1); want <= 3; want++ {
		parsed, cred, err := rp.login(a.Login, requireUVLogin)
		if err != nil {
			t.Fatalf("login %d: ValidateLogin: %v", want, err)
		}
		if cred.Authenticator.SignCount != want || cred.Authenticator.CloneWarning || a.Counter != want {
			t.Fatalf("login %d: sign count %d (clone warning %v), authenticator counter %d",
				want, cred.Authenticator.SignCount, cred.Authenticator.CloneWarning, a.Counter)
		}
		if !bytes.Equal(parsed.Response.UserHandle, rp.user.id) {
			t.Fatalf("login %d: user handle %q", want, parsed.Response.UserHandle)
		}
	}
}

// The flags an authenticator is set to are the flags the server reads, at
// registration and at login.
func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		uv, be, bs bool
	}{
		{"device-bound", true, false, false},
		{"backup eligible", true, true, false},
		{"synced", true, true, true},
		{"no user verification", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rp := newRelyingParty(t)
			a := newAuthenticator(t)
			a.UV, a.BE, a.BS = tc.uv, tc.be, tc.bs
			cred, err := rp.register(a)
			if err != nil {
				t.Fatalf("CreateCredential: %v", err)
			}
			if f := cred.Flags; !f.UserPresent || f.UserVerified != tc.uv || f.BackupEligible != tc.be || f.BackupState != tc.bs {
				t.Fatalf("registered flags = %+v", f)
			}
			parsed, _, err := rp.login(a.Login)
			if err != nil {
				t.Fatalf("ValidateLogin: %v", err)
			}
			f := parsed.Response.AuthenticatorData.Flags
			if !f.HasUserPresent() || f.HasUserVerified() != tc.uv || f.HasBackupEligible() != tc.be || f.HasBackupState() != tc.bs {
				t.Fatalf("login flags = %08b", f)
			}
		})
	}
}

// The server refuses what the authenticator is set to get wrong.
func TestServerRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		login bool // the tweak applies after a good registration
		tweak func(a *softauthn.Authenticator)
	}{
		{"registration: wrong origin", false, func(a *softauthn.Authenticator) { a.Origin = "http://localhost:8081" }},
		{"registration: wrong RP id", false, func(a *softauthn.Authenticator) { a.RPID = "example.com" }},
		{"registration: no user presence", false, func(a *softauthn.Authenticator) { a.NoUP = true }},
		{"registration: no user verification", false, func(a *softauthn.Authenticator) { a.UV = false }},
		{"registration: BS without BE", false, func(a *softauthn.Authenticator) { a.BS = true }},
		{"login: wrong origin", true, func(a *softauthn.Authenticator) { a.Origin = "https://evil.example" }},
		{"login: wrong RP id", true, func(a *softauthn.Authenticator) { a.RPID = "example.com" }},
		{"login: no user presence", true, func(a *softauthn.Authenticator) { a.NoUP = true }},
		{"login: no user verification", true, func(a *softauthn.Authenticator) { a.UV = false }},
		{"login: backup eligibility changed", true, func(a *softauthn.Authenticator) { a.BE = true }},
		{"login: another user's handle", true, func(a *softauthn.Authenticator) { a.SetUserHandle([]byte("someone-else")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rp := newRelyingParty(t)
			a := newAuthenticator(t)
			if !tc.login {
				tc.tweak(a)
				if cred, err := rp.register(a, requireUV); err == nil {
					t.Fatalf("CreateCredential accepted %+v", cred)
				}
				return
			}
			if _, err := rp.register(a, requireUV); err != nil {
				t.Fatalf("CreateCredential: %v", err)
			}
			tc.tweak(a)
			if _, cred, err := rp.login(a.Login, requireUVLogin); err == nil {
				t.Fatalf("ValidateLogin accepted %+v", cred)
			}
		})
	}
}

// Another key answering for a registered credential id fails the signature check.
func TestForgedSignature(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := newAuthenticator(t)
	if _, err := rp.register(a); err != nil {
		t.Fatal(err)
	}
	forger := newAuthenticator(t)
	forger.SetID(a.ID())
	forger.SetUserHandle(a.UserHandle())
	forger.Counter = 10
	if _, cred, err := rp.login(forger.Login); err == nil {
		t.Fatalf("ValidateLogin accepted %+v", cred)
	}
}

// LoginAgain repeats the counter, which the server flags as a possible clone.
func TestLoginAgainRepeatsTheCounter(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := newAuthenticator(t)
	if _, err := rp.register(a); err != nil {
		t.Fatal(err)
	}
	if _, cred, err := rp.login(a.Login); err != nil || cred.Authenticator.CloneWarning {
		t.Fatalf("Login: %v, %+v", err, cred)
	}
	_, cred, err := rp.login(a.LoginAgain)
	if err != nil {
		t.Fatalf("ValidateLogin: %v", err)
	}
	if a.Counter != 1 || !cred.Authenticator.CloneWarning {
		t.Fatalf("counter %d, clone warning %v; want 1, true", a.Counter, cred.Authenticator.CloneWarning)
	}
}

// Without a user handle the response carries none, and the server still accepts
// it for the user it named.
func TestNoUserHandle(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := newAuthenticator(t)
	if _, err := rp.register(a); err != nil {
		t.Fatal(err)
	}
	a.SetUserHandle(nil)
	parsed, _, err := rp.login(a.Login)
	if err != nil {
		t.Fatalf("ValidateLogin: %v", err)
	}
	if parsed.Response.UserHandle != nil {
		t.Fatalf("user handle = %q; want none", parsed.Response.UserHandle)
	}
}

func TestTransportsAndAttachment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		transports []protocol.AuthenticatorTransport
		attachment protocol.AuthenticatorAttachment
	}{
		{"security key", []protocol.AuthenticatorTransport{protocol.USB, protocol.NFC}, protocol.CrossPlatform},
		{"synced passkey", []protocol.AuthenticatorTransport{protocol.Internal, protocol.Hybrid}, protocol.Platform},
		{"nothing reported", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rp := newRelyingParty(t)
			a := newAuthenticator(t)
			a.Transports, a.Attachment = tc.transports, tc.attachment
			cred, err := rp.register(a)
			if err != nil {
				t.Fatalf("CreateCredential: %v", err)
			}
			if !slices.Equal(cred.Transport, tc.transports) || cred.Authenticator.Attachment != tc.attachment {
				t.Fatalf("transports %v, attachment %q", cred.Transport, cred.Authenticator.Attachment)
			}
		})
	}
}

// The authenticator itself refuses options a real one would: its credential on
// the exclude list, no ES256, a bad user id. A refusal leaves it as it was.
func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := newAuthenticator(t)
	if _, err := rp.register(a); err != nil {
		t.Fatal(err)
	}
	handle := a.UserHandle()

	exclude := []protocol.CredentialDescriptor{
		{Type: protocol.PublicKeyCredentialType, CredentialID: []byte("another credential")},
		{Type: protocol.PublicKeyCredentialType, CredentialID: a.ID()},
	}
	excluded, _ := rp.creationOptions(webauthn.WithExclusions(exclude))
	other := *rp
	other.user = &user{id: []byte("another-user")}
	rs256, _ := other.creationOptions(webauthn.WithCredentialParameters([]protocol.CredentialParameter{
		{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256}}))

	for _, tc := range []struct {
		name    string
		options []byte
		want    error // nil: any error
	}{
		{"excluded", excluded, softauthn.ErrExcluded},
		{"no ES256", rs256, softauthn.ErrUnsupportedAlgorithm},
		{"not JSON", []byte("{"), nil},
		{"no challenge", []byte(`{"publicKey":{"rp":{"id":"localhost"},"user":{"id":"dXNlcg"}}}`), nil},
		{"no user id", []byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost"},"user":{}}}`), nil},
		{"user id too long", []byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"localhost"},"user":{"id":"` +
			strings.Repeat("QUFB", 22) + `"}}}`), nil}, // 66 bytes
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := a.Register(tc.options)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Register = %s, %v; want %v", body, err, tc.want)
			}
			if !bytes.Equal(a.UserHandle(), handle) {
				t.Fatalf("user handle changed to %q", a.UserHandle())
			}
		})
	}

	// Excluding another credential is no bar.
	if _, err := rp.register(a, webauthn.WithExclusions(exclude[:1])); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	// A client that ignores the exclude list answers anyway.
	a.IgnoreExcludeList = true
	if _, err := a.Register(excluded); err != nil {
		t.Fatalf("Register ignoring the exclude list: %v", err)
	}
}

func TestLoginRefusesBadOptions(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t)
	for _, options := range []string{"{", `{"publicKey":{}}`} {
		if body, err := a.Login([]byte(options)); err == nil {
			t.Fatalf("Login(%s) = %s", options, body)
		}
		if body, err := a.LoginAgain([]byte(options)); err == nil {
			t.Fatalf("LoginAgain(%s) = %s", options, body)
		}
	}
	if a.Counter != 0 {
		t.Fatalf("counter = %d after refusals", a.Counter)
	}
}
