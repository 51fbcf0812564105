// Package seal encrypts small secrets (TOTP seeds and the like) so that Redis holds
// them only in a form that is useless without the service's key-encryption keys.
//
// A Ring holds AES-256-GCM keys, each with an id; the first one seals new values and
// all of them open old ones, so a key can rotate: put the new key first, keep the old
// one in the ring until every value sealed under it has been re-sealed or has expired.
//
// A sealed value is "<kid>.<base64url-nopad(nonce || ciphertext || tag)>": printable
// ASCII only, safe inside a Redis string or a '|'-separated record. The nonce is 12
// bytes drawn from the reader given to Seal (crypto/rand.Reader in production), so one
// key should seal far fewer than 2^32 values before it rotates. The authenticated data
// is the key id and the caller's aad (nil and empty aad are the same): a value opens
// only under the key id it names and only in the context it was sealed for, so a
// caller binds it to its owner by passing, say, the customer id as aad.
//
// Open fails with an error wrapping ErrUnknownKey, ErrMalformed or ErrOpen; no error
// ever contains key material or plaintext.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/authsvc/authsvc/internal/keyfile"
)

const (
	// keyLen is the length of an AES-256 key.
	keyLen = 32
	// nonceLen is the standard GCM nonce length.
	nonceLen = 12
	// tagLen is the GCM authentication tag length.
	tagLen = 16
	// adLabel separates this format's authenticated data from any other use of a key.
	adLabel = "authsvc/seal/v1"
)

var (
	// ErrUnknownKey is returned when a sealed value names a key id that is not in the ring.
	ErrUnknownKey = errors.New("seal: unknown key id")
	// ErrMalformed is returned for a string that cannot be a sealed value.
	ErrMalformed = errors.New("seal: malformed sealed value")
	// ErrOpen is returned when authentication fails: wrong aad, wrong key or tampering.
	ErrOpen = errors.New("seal: cannot open sealed value")
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// Key is one key-encryption key with its id. Secret is 32 bytes (AES-256).
type Key struct {
	ID     string
	Secret []byte
}

// Ring holds the keys; the first one seals new values, all of them open old ones.
// A Ring is safe for concurrent use.
type Ring struct {
	byID    map[string]cipher.AEAD
	current string
}

// NewRing builds a ring; keys[0] is current. Ids must be unique, [A-Za-z0-9_-]{1,16},
// and secrets exactly 32 bytes.
func NewRing(keys ...Key) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys")
	}
	r := &Ring{byID: make(map[string]cipher.AEAD, len(keys)), current: keys[0].ID}
	for i, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("seal: key %d: id must match %s", i+1, keyIDPattern)
		}
		if len(k.Secret) != keyLen {
			return nil, fmt.Errorf("seal: key %q: secret must be exactly %d bytes", k.ID, keyLen)
		}
		if _, dup := r.byID[k.ID]; dup {
			return nil, fmt.Errorf("seal: key id %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
		}
		r.byID[k.ID] = aead
	}
	return r, nil
}

// LoadFile reads a ring from a file with one key a line, "ID:BASE64", current first.
// Blank lines and lines starting with # are skipped. Errors name the line, never a secret.
func LoadFile(path string) (*Ring, error) {
	read, err := keyfile.Read(path, "seal key file")
	if err != nil {
		return nil, err
	}
	keys := make([]Key, len(read))
	for i, k := range read {
		keys[i] = Key{ID: k.ID, Secret: k.Secret}
	}
	r, err := NewRing(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Ephemeral returns a ring of one random key with id "dev", for dev mode: what it
// seals cannot be opened after the process exits.
func Ephemeral(random io.Reader) (*Ring, error) {
	secret := make([]byte, keyLen)
	if _, err := io.ReadFull(random, secret); err != nil {
		return nil, fmt.Errorf("seal: draw ephemeral key: %w", err)
	}
	return NewRing(Key{ID: "dev", Secret: secret})
}

// Current returns the id of the key that seals new values.
func (r *Ring) Current() string { return r.current }

// Seal encrypts plaintext under the current key, bound to aad, with a fresh nonce read
// from random. It returns "<kid>.<base64url-nopad(nonce||ciphertext)>"; a failure to
// read the nonce is returned as an error and nothing is sealed.
func (r *Ring) Seal(random io.Reader, plaintext, aad []byte) (string, error) {
	aead := r.byID[r.current]
	buf := make([]byte, nonceLen, nonceLen+len(plaintext)+tagLen)
	if _, err := io.ReadFull(random, buf); err != nil {
		return "", fmt.Errorf("seal: draw nonce: %w", err)
	}
	buf = aead.Seal(buf, buf[:nonceLen], plaintext, additionalData(r.current, aad))
	return r.current + "." + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open checks and decrypts a value made by Seal under any key of the ring, with the
// same aad. The error wraps ErrUnknownKey, ErrMalformed or ErrOpen.
func (r *Ring) Open(sealed string, aad []byte) ([]byte, error) {
	kid, body, ok := strings.Cut(sealed, ".")
	if !ok || !keyIDPattern.MatchString(kid) || !isBase64URL(body) {
		return nil, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) < nonceLen+tagLen {
		return nil, ErrMalformed
	}
	aead, ok := r.byID[kid]
	if !ok {
		// kid matched keyIDPattern above, so it is short and printable.
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
	}
	plaintext, err := aead.Open(nil, raw[:nonceLen], raw[nonceLen:], additionalData(kid, aad))
	if err != nil {
		// err from crypto/cipher is a fixed message; ErrOpen says the same without
		// depending on it.
		return nil, fmt.Errorf("%w under key %q", ErrOpen, kid)
	}
	return plaintext, nil
}

// additionalData binds a sealed value to the format, the key id it names and the
// caller's context. The key id is length-prefixed, so no (kid, aad) pair can pose as
// another.
func additionalData(kid string, aad []byte) []byte {
	ad := make([]byte, 0, len(adLabel)+1+len(kid)+len(aad))
	ad = append(ad, adLabel...)
	ad = append(ad, byte(len(kid)))
	ad = append(ad, kid...)
	return append(ad, aad...)
}

// isBase64URL reports whether s uses only the unpadded base64url alphabet. The
// decoder alone would skip '\r' and '\n', letting two strings open to one value.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
