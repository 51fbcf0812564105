package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// softAuthn is a software passkey authenticator for tests: an ES256 key pair and a
// credential id, answering navigator.credentials.create with a "none" attestation.
type softAuthn struct {
	key     *ecdsa.PrivateKey
	credID  []byte
	flags   protocol.AuthenticatorFlags
	counter uint32
	// origin goes into clientDataJSON (testOrigin unless a test changes it).
	origin string
	// rpID overrides the RP id the authenticator data is hashed for ("" = the options').
	rpID string
}

// errExcluded is what a real authenticator's InvalidStateError stands for: the
// credential is in the options' exclude list.
var errExcluded = errors.New("softauthn: credential excluded")

// newSoftAuthn returns an authenticator that verifies the user (UP|UV) and is not
// backup eligible.
func newSoftAuthn(t testing.TB) *softAuthn {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &softAuthn{key: key, credID: id, flags: protocol.FlagUserPresent | protocol.FlagUserVerified,
		counter: 7, origin: testOrigin}
}

// backup sets the BE and BS flags (a synced passkey has both).
func (a *softAuthn) backup(eligible, state bool) *softAuthn {
	a.flags &^= protocol.FlagBackupEligible | protocol.FlagBackupState
	if eligible {
		a.flags |= protocol.FlagBackupEligible
	}
	if state {
		a.flags |= protocol.FlagBackupState
	}
	return a
}

// register answers the creation options with a registration response body, as the
// page would POST it.
func (a *softAuthn) register(t testing.TB, cc *protocol.CredentialCreation) []byte {
	t.Helper()
	body, err := a.create(cc)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// create is navigator.credentials.create with this authenticator.
func (a *softAuthn) create(cc *protocol.CredentialCreation) ([]byte, error) {
	opts := cc.Response
	for _, d := range opts.CredentialExcludeList {
		if bytes.Equal(d.CredentialID, a.credID) {
			return nil, errExcluded
		}
	}
	es256 := false
	for _, p := range opts.Parameters {
		es256 = es256 || p.Algorithm == webauthncose.AlgES256
	}
	if !es256 {
		return nil, errors.New("softauthn: ES256 not offered")
	}
	rpID := opts.RelyingParty.ID
	if a.rpID != "" {
		rpID = a.rpID
	}

	pub := a.key.PublicKey
	point, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	cose, err := webauthncbor.Marshal(map[int64]any{
		1:  int64(webauthncose.EllipticKey),
		3:  int64(webauthncose.AlgES256),
		-1: int64(webauthncose.P256),
		-2: point[1:33],
		-3: point[33:65],
	})
	if err != nil {
		return nil, err
	}
	rpHash := sha256.Sum256([]byte(rpID))
	authData := append([]byte{}, rpHash[:]...)
	authData = append(authData, byte(a.flags|protocol.FlagAttestedCredentialData))
	authData = binary.BigEndian.AppendUint32(authData, a.counter)
	authData = append(authData, make([]byte, 16)...) // AAGUID: zero
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(a.credID)))
	authData = append(authData, a.credID...)
	authData = append(authData, cose...)

	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	clientData, err := json.Marshal(map[string]any{
		"type": "webauthn.create", "challenge": opts.Challenge.String(), "origin": a.origin, "crossOrigin": false,
	})
	if err != nil {
		return nil, err
	}
	id := base64.RawURLEncoding.EncodeToString(a.credID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"attestationObject": base64.RawURLEncoding.EncodeToString(attObj),
			"clientDataJSON":    base64.RawURLEncoding.EncodeToString(clientData),
			"transports":        []string{"internal", "hybrid"},
		},
	})
}
