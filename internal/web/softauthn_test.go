package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// softAuthn is a software passkey for handler tests that need a ceremony without a
// browser: an ES256 key answering navigator.credentials.create ("none"
// attestation) and .get, for the origin the pages are served from. The browser
// tests run the same ceremonies with Chromium's virtual authenticator.
type softAuthn struct {
	key     *ecdsa.PrivateKey
	credID  []byte
	user    []byte // the user handle given at registration
	flags   protocol.AuthenticatorFlags
	counter uint32
	origin  string
}

// newSoftAuthn returns a passkey that verifies the user (UP and UV set).
func newSoftAuthn(t testing.TB, origin string) *softAuthn {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softAuthn{key: key, credID: id, flags: protocol.FlagUserPresent | protocol.FlagUserVerified, origin: origin}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// create answers creation options (the JSON the begin endpoint returned) with the
// PublicKeyCredential JSON the page posts.
func (a *softAuthn) create(t testing.TB, options json.RawMessage) json.RawMessage {
	t.Helper()
	var cc protocol.CredentialCreation
	if err := json.Unmarshal(options, &cc); err != nil {
		t.Fatalf("creation options: %v\n%s", err, options)
	}
	handle, _ := cc.Response.User.ID.(string) // base64url in JSON
	user, err := base64.RawURLEncoding.DecodeString(handle)
	if err != nil || len(user) == 0 {
		t.Fatalf("creation options: user.id %v", cc.Response.User.ID)
	}
	a.user = user
	point, err := a.key.PublicKey.Bytes() // 0x04 ‖ X ‖ Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int64]any{1: int64(webauthncose.EllipticKey),
		3: int64(webauthncose.AlgES256), -1: int64(webauthncose.P256), -2: point[1:33], -3: point[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	authData := a.authData(cc.Response.RelyingParty.ID, protocol.FlagAttestedCredentialData)
	authData = append(authData, make([]byte, 16)...) // AAGUID: zero
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(a.credID)))
	authData = append(authData, a.credID...)
	authData = append(authData, cose...)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	return a.credential(t, "webauthn.create", cc.Response.Challenge.String(), map[string]any{
		"attestationObject": b64(attObj), "transports": []string{"internal"}})
}

// get answers request options with an assertion signed by the passkey.
func (a *softAuthn) get(t testing.TB, options json.RawMessage) json.RawMessage {
	t.Helper()
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(options, &ca); err != nil {
		t.Fatalf("request options: %v\n%s", err, options)
	}
	a.counter++
	authData := a.authData(ca.Response.RelyingPartyID, 0)
	clientData := a.clientData(t, "webauthn.get", ca.Response.Challenge.String())
	clientHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), clientHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return a.credentialWith(t, clientData, map[string]any{"authenticatorData": b64(authData), "signature": b64(sig),
		"userHandle": b64(a.user)})
}

func (a *softAuthn) authData(rpID string, extra protocol.AuthenticatorFlags) []byte {
	rpHash := sha256.Sum256([]byte(rpID))
	out := append([]byte{}, rpHash[:]...)
	out = append(out, byte(a.flags|extra))
	return binary.BigEndian.AppendUint32(out, a.counter)
}

func (a *softAuthn) clientData(t testing.TB, typ, challenge string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (a *softAuthn) credential(t testing.TB, typ, challenge string, response map[string]any) json.RawMessage {
	t.Helper()
	return a.credentialWith(t, a.clientData(t, typ, challenge), response)
}

func (a *softAuthn) credentialWith(t testing.TB, clientData []byte, response map[string]any) json.RawMessage {
	t.Helper()
	response["clientDataJSON"] = b64(clientData)
	b, err := json.Marshal(map[string]any{"id": b64(a.credID), "rawId": b64(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{}, "response": response})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
