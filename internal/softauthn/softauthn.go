// Package softauthn is a software WebAuthn authenticator for tests and benchmarks:
// it answers go-webauthn's registration and login options with responses a
// browser would send, signed with a real ES256 key, so the server's checks run
// for real without a browser. It is not for production use.
//
// Flags are explicit (user presence, user verification, backup eligibility and
// state), the sign counter can be set to simulate a cloned authenticator, and the
// origin written into clientDataJSON is the caller's, so wrong-origin responses
// can be produced as easily as right ones.
package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Authenticator holds one ES256 credential.
type Authenticator struct {
	// Origin is written into clientDataJSON ("http://localhost:8080" style).
	Origin string
	// RPID is hashed into the authenticator data.
	RPID string
	// UV, BE and BS set the user-verified, backup-eligible and backup-state flags.
	UV, BE, BS bool
	// NoUP clears the user-present flag.
	NoUP bool
	// Counter is the sign counter the next response carries; each Login adds one first.
	Counter uint32

	key        *ecdsa.PrivateKey
	id         []byte
	userHandle []byte
}

// New returns an authenticator with a fresh key and a 16-byte credential id.
func New(rpID, origin string) (*Authenticator, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Authenticator{Origin: origin, RPID: rpID, UV: true, key: k, id: id}, nil
}

// ID is the credential id.
func (a *Authenticator) ID() []byte { return a.id }

// SetID replaces the credential id (to register a duplicate on purpose).
func (a *Authenticator) SetID(id []byte) { a.id = append([]byte(nil), id...) }

var b64 = base64.RawURLEncoding

func (a *Authenticator) flags(attested bool) byte {
	var f byte
	if !a.NoUP {
		f |= 0x01
	}
	if a.UV {
		f |= 0x04
	}
	if a.BE {
		f |= 0x08
	}
	if a.BS {
		f |= 0x10
	}
	if attested {
		f |= 0x40
	}
	return f
}

func (a *Authenticator) authData(attested bool) ([]byte, error) {
	rp := sha256.Sum256([]byte(a.RPID))
	out := append([]byte{}, rp[:]...)
	out = append(out, a.flags(attested))
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID: none
		out = binary.BigEndian.AppendUint16(out, uint16(len(a.id)))
		out = append(out, a.id...)
		pub, err := a.coseKey()
		if err != nil {
			return nil, err
		}
		out = append(out, pub...)
	}
	return out, nil
}

func (a *Authenticator) coseKey() ([]byte, error) {
	pub, err := a.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	return webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: pub[1:33], YCoord: pub[33:65],
	})
}

func (a *Authenticator) clientData(typ string, challenge protocol.URLEncodedBase64) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": a.Origin, "crossOrigin": false})
	return b
}

// Register answers creation options (the JSON a server sends, {"publicKey": …})
// with a "none"-attestation registration response, as JSON.
func (a *Authenticator) Register(options []byte) ([]byte, error) {
	var cc protocol.CredentialCreation
	if err := json.Unmarshal(options, &cc); err != nil {
		return nil, fmt.Errorf("softauthn: creation options: %w", err)
	}
	switch id := cc.Response.User.ID.(type) {
	case string:
		h, err := b64.DecodeString(id)
		if err != nil {
			return nil, fmt.Errorf("softauthn: user id: %w", err)
		}
		a.userHandle = h
	case []byte:
		a.userHandle = id
	}
	ad, err := a.authData(true)
	if err != nil {
		return nil, err
	}
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", cc.Response.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
}

// Login answers request options ({"publicKey": …}) with a signed assertion
// response, as JSON. The counter grows by one first unless it is kept at zero
// by KeepCounter.
func (a *Authenticator) Login(options []byte) ([]byte, error) {
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(options, &ca); err != nil {
		return nil, fmt.Errorf("softauthn: request options: %w", err)
	}
	a.Counter++
	return a.sign(ca.Response.Challenge)
}

// LoginAgain answers with the same counter as the last response: a replay of an
// authenticator state (a cloned authenticator, or a recorded response re-signed).
func (a *Authenticator) LoginAgain(options []byte) ([]byte, error) {
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(options, &ca); err != nil {
		return nil, fmt.Errorf("softauthn: request options: %w", err)
	}
	return a.sign(ca.Response.Challenge)
}

func (a *Authenticator) sign(challenge protocol.URLEncodedBase64) ([]byte, error) {
	ad, err := a.authData(false)
	if err != nil {
		return nil, err
	}
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	msg := append(append([]byte{}, ad...), h[:]...)
	digest := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	}
	if a.userHandle != nil {
		resp["userHandle"] = b64.EncodeToString(a.userHandle)
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key", "response": resp,
	})
}

// PublicKey is the credential's COSE public key, as a server stores it.
func (a *Authenticator) PublicKey() ([]byte, error) { return a.coseKey() }

// SetUserHandle sets the user handle login responses carry.
func (a *Authenticator) SetUserHandle(h []byte) { a.userHandle = h }
