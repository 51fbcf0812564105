package assertion

import (
	"encoding/json"
	"fmt"
	"time"
)

// Minter signs assertions with a keyring's active key for one issuer.
type Minter struct {
	ring     *Keyring
	issuer   string
	lifetime time.Duration
}

// NewMinter returns a Minter for issuer (the iss claim) that signs with k's active key
// and allows assertions to live at most lifetime (DefaultLifetime when lifetime <= 0).
func NewMinter(k *Keyring, issuer string, lifetime time.Duration) *Minter {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	return &Minter{ring: k, issuer: issuer, lifetime: lifetime}
}

// Lifetime returns the longest Expiry - IssuedAt that Mint accepts; callers set
// Expiry = IssuedAt + Lifetime().
func (m *Minter) Lifetime() time.Duration { return m.lifetime }

// KeyID returns the kid Mint signs with (the keyring's active key). Store it beside
// the claims to re-mint with MintWithKey.
func (m *Minter) KeyID() string { return m.ring.ActiveKeyID() }

// Mint returns c signed by the active key as a compact JWS. The times in c are the
// caller's; only the keyring's clock chooses the key. It refuses claims that Verify
// would refuse (ErrIncompleteClaims) and tokens longer than MaxTokenSize
// (ErrTooLarge), and fails with ErrActiveKey when no key may sign.
// With an Ed25519 key the result is a pure function of c, the issuer and the key.
func (m *Minter) Mint(c Claims) (string, error) {
	if m.ring == nil {
		return "", ErrNoKeys
	}
	k := m.ring.signer()
	if k == nil {
		return "", ErrActiveKey
	}
	return m.sign(k, c)
}

// MintWithKey is Mint with the key kid names, so that re-minting stored claims with
// the kid first used reproduces the original token (byte for byte with Ed25519) for
// as long as that key is published (active, standby or retired). When kid names no
// such key (it has been rotated out, or is a next key), it signs with the active
// key instead: the result carries the same
// claims under a kid that verifiers still accept. Compare kid with KeyID or
// Keyring.Has to learn which happened.
func (m *Minter) MintWithKey(kid string, c Claims) (string, error) {
	if m.ring == nil {
		return "", ErrNoKeys
	}
	v := m.ring.current()
	k := v.byKID[kid]
	if k == nil || !v.resign[kid] {
		k = v.active
	}
	if k == nil {
		return "", ErrActiveKey
	}
	return m.sign(k, c)
}

func (m *Minter) sign(k *ringKey, c Claims) (string, error) {
	if m.issuer == "" {
		return "", fmt.Errorf("%w: missing iss", ErrIncompleteClaims)
	}
	if p := c.problem(); p != "" {
		return "", fmt.Errorf("%w: %s", ErrIncompleteClaims, p)
	}
	if life := c.Expiry.Unix() - c.IssuedAt.Unix(); life > int64(m.lifetime/time.Second) {
		return "", fmt.Errorf("%w: exp beyond lifetime", ErrIncompleteClaims)
	}
	payload, err := json.Marshal(c.toWire(m.issuer))
	if err != nil {
		return "", fmt.Errorf("assertion: encode claims: %w", err)
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("assertion: sign: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("assertion: serialize: %w", err)
	}
	if len(tok) > MaxTokenSize {
		return "", fmt.Errorf("assertion: mint: %w", ErrTooLarge)
	}
	return tok, nil
}
