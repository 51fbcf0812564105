// Package softauthn is a software WebAuthn authenticator for tests and benchmarks:
// it answers a relying party's registration and login options (the JSON a server
// sends to navigator.credentials.create and .get) with the PublicKeyCredential JSON
// a browser would post back, signed with a real ES256 key, so the server's checks
// run for real without a browser. It is not for production use.
//
// It behaves as a platform passkey would where a test relies on it: it refuses
// options that do not offer ES256 ([ErrUnsupportedAlgorithm]) or that list its
// credential for exclusion ([ErrExcluded]), attests with format "none", remembers
// the user handle it was registered with and returns it on login.
//
// Everything a server must check is a switch: the origin written into
// clientDataJSON, the RP id hashed into the authenticator data, the user presence,
// user verification, backup eligibility and backup state flags, the sign counter
// (to simulate a cloned authenticator), the transports and attachment reported,
// and the user handle. Wrong responses are as easy to produce as right ones.
//
// An Authenticator is not safe for concurrent use.
package softauthn

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
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

var (
	// ErrExcluded is Register's answer when the options' exclude list names this
	// authenticator's credential: what a browser reports as InvalidStateError.
	ErrExcluded = errors.New("softauthn: credential excluded")
	// ErrUnsupportedAlgorithm is Register's answer when the options offer
	// public-key parameters and ES256 is not among them: what a browser reports
	// as NotSupportedError.
	ErrUnsupportedAlgorithm = errors.New("softauthn: ES256 not offered")
)

// maxUserHandle is the longest user handle WebAuthn allows, in bytes.
const maxUserHandle = 64

// Authenticator holds one ES256 credential. Its exported fields are switches a
// test may change between ceremonies.
type Authenticator struct {
	// Origin is written into clientDataJSON ("http://localhost:8080" style).
	Origin string
	// RPID is hashed into the authenticator data; the options' RP id is not
	// consulted, so a wrong one can be sent on purpose.
	RPID string
	// UV, BE and BS set the user-verified, backup-eligible and backup-state flags.
	UV, BE, BS bool
	// NoUP clears the user-present flag.
	NoUP bool
	// Counter is the sign counter the next response carries; each Login adds one first.
	Counter uint32
	// Transports are reported with the registration response; New sets "internal".
	Transports []protocol.AuthenticatorTransport
	// Attachment is the authenticatorAttachment reported with each response
	// (New sets "platform"); empty leaves it out.
	Attachment protocol.AuthenticatorAttachment
	// IgnoreExcludeList makes Register answer even when the options exclude
	// its credential, as a broken or hostile client might: the server must
	// refuse the duplicate itself.
	IgnoreExcludeList bool

	key        *ecdsa.PrivateKey
	id         []byte
	userHandle []byte
}

// New returns an authenticator for rpID and origin with a fresh key and a
// 16-byte credential id. It verifies the user (UP and UV set), is not backup
// eligible, starts its counter at zero and reports itself as a platform
// authenticator with the "internal" transport.
func New(rpID, origin string) (*Authenticator, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Authenticator{
		Origin: origin, RPID: rpID, UV: true,
		Transports: []protocol.AuthenticatorTransport{protocol.Internal}, Attachment: protocol.Platform,
		key: k, id: id,
	}, nil
}

// ID is the credential id.
func (a *Authenticator) ID() []byte { return a.id }

// SetID replaces the credential id (to register a duplicate on purpose, or to
// answer for another authenticator's credential with this one's key).
func (a *Authenticator) SetID(id []byte) { a.id = bytes.Clone(id) }

// UserHandle is the user handle login responses carry: the user id of the last
// accepted registration, or what SetUserHandle set. Nil means none.
func (a *Authenticator) UserHandle() []byte { return a.userHandle }

// SetUserHandle sets the user handle login responses carry; nil leaves it out,
// as a non-discoverable credential would.
func (a *Authenticator) SetUserHandle(h []byte) { a.userHandle = bytes.Clone(h) }

// PublicKey is the credential's COSE public key, as a server stores it.
func (a *Authenticator) PublicKey() ([]byte, error) { return a.coseKey() }

var b64 = base64.RawURLEncoding

// Register answers creation options (the JSON a server sends, {"publicKey": …})
// with a "none"-attestation registration response, as JSON, and remembers the
// options' user id as its user handle. It refuses, as an authenticator would,
// options that do not offer ES256, that list its credential for exclusion
// (unless IgnoreExcludeList is set), or whose user id is missing or longer than
// 64 bytes.
func (a *Authenticator) Register(options []byte) ([]byte, error) {
	var cc protocol.CredentialCreation
	if err := json.Unmarshal(options, &cc); err != nil {
		return nil, fmt.Errorf("softauthn: creation options: %w", err)
	}
	opts := cc.Response
	if len(opts.Challenge) == 0 {
		return nil, errors.New("softauthn: creation options: no challenge")
	}
	if !offersES256(opts.Parameters) {
		return nil, ErrUnsupportedAlgorithm
	}
	for _, d := range opts.CredentialExcludeList {
		if bytes.Equal(d.CredentialID, a.id) && !a.IgnoreExcludeList {
			return nil, ErrExcluded
		}
	}
	user, err := userID(opts.User.ID)
	if err != nil {
		return nil, err
	}
	ad, err := a.authData(true)
	if err != nil {
		return nil, err
	}
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	cd, err := a.clientData("webauthn.create", opts.Challenge)
	if err != nil {
		return nil, err
	}
	transports := a.Transports
	if transports == nil {
		transports = []protocol.AuthenticatorTransport{}
	}
	body, err := a.credential(map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"attestationObject": b64.EncodeToString(att),
		"transports":        transports,
	})
	if err != nil {
		return nil, err
	}
	a.userHandle = user
	return body, nil
}

// offersES256 reports whether params admit an ES256 key; none at all means the
// defaults, ES256 and RS256.
func offersES256(params []protocol.CredentialParameter) bool {
	if len(params) == 0 {
		return true
	}
	for _, p := range params {
		if p.Type == protocol.PublicKeyCredentialType && p.Algorithm == webauthncose.AlgES256 {
			return true
		}
	}
	return false
}

// userID decodes the user id of creation options, base64url in JSON.
func userID(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("softauthn: creation options: user id is %T, not a string", v)
	}
	id, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("softauthn: creation options: user id: %w", err)
	}
	if len(id) == 0 || len(id) > maxUserHandle {
		return nil, fmt.Errorf("softauthn: creation options: user id of %d bytes", len(id))
	}
	return id, nil
}

// Login answers request options ({"publicKey": …}) with a signed assertion
// response, as JSON. The counter grows by one first.
func (a *Authenticator) Login(options []byte) ([]byte, error) {
	ca, err := requestOptions(options)
	if err != nil {
		return nil, err
	}
	a.Counter++
	return a.sign(ca.Response.Challenge)
}

// LoginAgain answers with the same counter as the last response: a replay of an
// authenticator state (a cloned authenticator, or a recorded response re-signed).
func (a *Authenticator) LoginAgain(options []byte) ([]byte, error) {
	ca, err := requestOptions(options)
	if err != nil {
		return nil, err
	}
	return a.sign(ca.Response.Challenge)
}

func requestOptions(options []byte) (*protocol.CredentialAssertion, error) {
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(options, &ca); err != nil {
		return nil, fmt.Errorf("softauthn: request options: %w", err)
	}
	if len(ca.Response.Challenge) == 0 {
		return nil, errors.New("softauthn: request options: no challenge")
	}
	return &ca, nil
}

func (a *Authenticator) sign(challenge protocol.URLEncodedBase64) ([]byte, error) {
	ad, err := a.authData(false)
	if err != nil {
		return nil, err
	}
	cd, err := a.clientData("webauthn.get", challenge)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
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
	return a.credential(resp)
}

// credential wraps an authenticator response in a PublicKeyCredential's JSON.
func (a *Authenticator) credential(response map[string]any) ([]byte, error) {
	c := map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"clientExtensionResults": map[string]any{}, "response": response,
	}
	if a.Attachment != "" {
		c["authenticatorAttachment"] = a.Attachment
	}
	return json.Marshal(c)
}

func (a *Authenticator) flags(attested bool) protocol.AuthenticatorFlags {
	var f protocol.AuthenticatorFlags
	if !a.NoUP {
		f |= protocol.FlagUserPresent
	}
	if a.UV {
		f |= protocol.FlagUserVerified
	}
	if a.BE {
		f |= protocol.FlagBackupEligible
	}
	if a.BS {
		f |= protocol.FlagBackupState
	}
	if attested {
		f |= protocol.FlagAttestedCredentialData
	}
	return f
}

func (a *Authenticator) authData(attested bool) ([]byte, error) {
	rp := sha256.Sum256([]byte(a.RPID))
	out := append([]byte{}, rp[:]...)
	out = append(out, byte(a.flags(attested)))
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
		Curve:         int64(webauthncose.P256), XCoord: pub[1:33], YCoord: pub[33:65],
	})
}

func (a *Authenticator) clientData(typ string, challenge protocol.URLEncodedBase64) ([]byte, error) {
	return json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": a.Origin, "crossOrigin": false})
}
