package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/keyedhash"
)

// Kind is what a factor is. Values are stored: never renumber.
type Kind int

// The factor kinds.
const (
	KindTOTP    Kind = 1
	KindPasskey Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindTOTP:
		return "totp"
	case KindPasskey:
		return "passkey"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Factor is one enrolled factor of a customer.
type Factor struct {
	ID   string
	Kind Kind
	// Client is the API client through which the factor was enrolled (the one that
	// created its enrollment link); "" for a factor stored before factors recorded
	// it. A verification of another client uses the factor only where the clients
	// file says that client trusts this one's enrollments.
	Client   string
	Label    string
	Created  time.Time
	LastUsed time.Time
	// SealedSeed is a TOTP factor's seed, sealed (package seal); empty for passkeys.
	SealedSeed string
	// Passkey is a passkey's stored credential; nil for TOTP.
	Passkey *Passkey
}

// Passkey is what is kept of a registered WebAuthn credential: public data only.
// SignCount is the last count seen (kept apart, as c<fid>, so a script can
// compare and advance it).
type Passkey struct {
	CredentialID    []byte                            `json:"id"`
	PublicKey       []byte                            `json:"pk"`
	AttestationType string                            `json:"at,omitempty"`
	Transports      []protocol.AuthenticatorTransport `json:"tr,omitempty"`
	// BackupEligible and BackupState are the BE and BS flags at registration. BE
	// never changes for a credential; a login that reports another BE is refused.
	BackupEligible bool   `json:"be,omitempty"`
	BackupState    bool   `json:"bs,omitempty"`
	UserVerified   bool   `json:"uv,omitempty"`
	AAGUID         []byte `json:"ag,omitempty"`
	Attachment     string `json:"ax,omitempty"`
	// MaxLevel, when set, caps the level a login with this passkey earns: a passkey
	// bound after a SUBSTANTIAL proof (an authenticator app) earns SUBSTANTIAL at
	// most, however it verifies the user, so binding never lifts assurance.
	MaxLevel  assurance.Level `json:"cap,omitempty"`
	SignCount uint32          `json:"-"`
}

// PasskeyFromCredential keeps the public part of a newly registered credential.
func PasskeyFromCredential(c *webauthn.Credential) *Passkey {
	return &Passkey{
		CredentialID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		Transports: c.Transport, BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		UserVerified: c.Flags.UserVerified, AAGUID: c.Authenticator.AAGUID,
		Attachment: string(c.Authenticator.Attachment), SignCount: c.Authenticator.SignCount,
	}
}

// Credential is the passkey as go-webauthn checks it.
func (p *Passkey) Credential() webauthn.Credential {
	return webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, Transport: p.Transports,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount,
			Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
}

// Encode is the factor's F<fid> value: "<kind>|<created ms>|<client>|<label>|<payload>".
// The scripts read the first three fields (package challenge's factor_fields); a
// value stored before factors recorded their client has no client field.
func (f Factor) Encode() (string, error) {
	if strings.ContainsAny(f.Label, "|\x1f") || strings.ContainsAny(f.Client, "|\x1f") {
		return "", errors.New("identity: a factor label or client may not contain '|'")
	}
	var payload string
	switch f.Kind {
	case KindTOTP:
		payload = f.SealedSeed
	case KindPasskey:
		if f.Passkey == nil {
			return "", errors.New("identity: passkey factor without a credential")
		}
		b, err := json.Marshal(f.Passkey)
		if err != nil {
			return "", fmt.Errorf("identity: encode passkey: %w", err)
		}
		payload = base64.RawURLEncoding.EncodeToString(b)
	default:
		return "", fmt.Errorf("identity: unknown factor kind %d", f.Kind)
	}
	return strconv.Itoa(int(f.Kind)) + "|" + strconv.FormatInt(f.Created.UnixMilli(), 10) + "|" + f.Client + "|" +
		f.Label + "|" + payload, nil
}

// ParseFactors reads the factors out of a customer hash (HGETALL of CustomerKey),
// ordered by creation time. A value that does not parse is an error: the store is
// the only writer, so a bad value means a bug or tampering, and callers fail closed.
func ParseFactors(fields map[string]string) ([]Factor, error) {
	var out []Factor
	for k, v := range fields {
		if !strings.HasPrefix(k, "F") {
			continue
		}
		f, err := parseFactor(k[1:], v)
		if err != nil {
			return nil, err
		}
		if n, err := strconv.ParseInt(fields["c"+f.ID], 10, 64); err == nil && f.Passkey != nil {
			f.Passkey.SignCount = uint32(n)
		}
		if n, err := strconv.ParseInt(fields["u"+f.ID], 10, 64); err == nil && n > 0 {
			f.LastUsed = time.UnixMilli(n)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func parseFactor(id, v string) (Factor, error) {
	parts := strings.Split(v, "|")
	if len(parts) == 4 {
		// Stored before factors recorded their client.
		parts = []string{parts[0], parts[1], "", parts[2], parts[3]}
	}
	if len(parts) != 5 {
		return Factor{}, fmt.Errorf("identity: factor %s: malformed", id)
	}
	kind, err1 := strconv.Atoi(parts[0])
	created, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return Factor{}, fmt.Errorf("identity: factor %s: malformed", id)
	}
	f := Factor{ID: id, Kind: Kind(kind), Client: parts[2], Label: parts[3], Created: time.UnixMilli(created)}
	switch f.Kind {
	case KindTOTP:
		f.SealedSeed = parts[4]
	case KindPasskey:
		b, err := base64.RawURLEncoding.DecodeString(parts[4])
		if err != nil {
			return Factor{}, fmt.Errorf("identity: factor %s: malformed", id)
		}
		var p Passkey
		if err := json.Unmarshal(b, &p); err != nil {
			return Factor{}, fmt.Errorf("identity: factor %s: malformed", id)
		}
		f.Passkey = &p
	default:
		return Factor{}, fmt.Errorf("identity: factor %s: unknown kind", id)
	}
	return f, nil
}

// PasskeyUser is a customer as go-webauthn sees it: an opaque user handle and
// the passkeys it may use. Only passkeys are included.
type PasskeyUser struct {
	handle  []byte
	name    string
	factors []Factor
}

// NewPasskeyUser builds the WebAuthn user of a customer. The user handle is a
// keyed hash of the customer id, never the id itself (authenticators store it).
// name is what the authenticator shows (a masked handle or the brand's label).
func NewPasskeyUser(keys *keyedhash.Ring, customerID, name string, factors []Factor) *PasskeyUser {
	return &PasskeyUser{handle: keys.Name("webauthn-user", []byte(customerID)), name: name, factors: factors}
}

// WebAuthnID implements webauthn.User.
func (u *PasskeyUser) WebAuthnID() []byte { return u.handle }

// WebAuthnName implements webauthn.User.
func (u *PasskeyUser) WebAuthnName() string { return u.name }

// WebAuthnDisplayName implements webauthn.User.
func (u *PasskeyUser) WebAuthnDisplayName() string { return u.name }

// WebAuthnCredentials implements webauthn.User.
func (u *PasskeyUser) WebAuthnCredentials() []webauthn.Credential {
	var out []webauthn.Credential
	for _, f := range u.factors {
		if f.Passkey != nil {
			out = append(out, f.Passkey.Credential())
		}
	}
	return out
}

// FactorByCredential returns the passkey factor with credential id, if any.
func FactorByCredential(factors []Factor, credentialID []byte) (Factor, bool) {
	for _, f := range factors {
		if f.Passkey != nil && string(f.Passkey.CredentialID) == string(credentialID) {
			return f, true
		}
	}
	return Factor{}, false
}
