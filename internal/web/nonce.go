package web

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/authsvc/authsvc/internal/keyedhash"
)

// Form nonces are stateless proofs that a POST comes from a form this service
// rendered for that exact page and action, recently:
//
//	base64url( issued-at (8 bytes, Unix seconds, big endian) ‖ 16 random bytes ‖
//	           HMAC(keys, "form-nonce", token, action, issued-at, random) (32 bytes) )
//
// The random part makes every render's nonce distinct, so the nonce can double as
// the request id the domain de-duplicates on. Any key of the ring verifies a MAC,
// so nonces survive a key rotation.
const (
	noncePurpose = "form-nonce"
	nonceIATLen  = 8
	nonceRandLen = 16
	nonceMACLen  = 32
	nonceRawLen  = nonceIATLen + nonceRandLen + nonceMACLen
	// nonceSkew tolerates replicas whose clocks run slightly apart.
	nonceSkew = time.Minute
)

var nonceEncoding = base64.RawURLEncoding

// nonceLen is the length of an encoded nonce.
var nonceLen = nonceEncoding.EncodedLen(nonceRawLen)

type nonces struct {
	keys *keyedhash.Ring
	ttl  time.Duration
	now  func() time.Time
	// random is the source of the random part (crypto/rand.Reader).
	random io.Reader
}

// issue returns a fresh nonce for a form with action on the page of token.
func (n nonces) issue(token, action string) (string, error) {
	raw := make([]byte, nonceRawLen)
	binary.BigEndian.PutUint64(raw[:nonceIATLen], uint64(n.now().Unix()))
	if _, err := io.ReadFull(n.random, raw[nonceIATLen:nonceIATLen+nonceRandLen]); err != nil {
		return "", fmt.Errorf("web: form nonce: %w", err)
	}
	mac := n.keys.Sum(noncePurpose, []byte(token), []byte(action), raw[:nonceIATLen],
		raw[nonceIATLen:nonceIATLen+nonceRandLen])
	copy(raw[nonceIATLen+nonceRandLen:], mac)
	return nonceEncoding.EncodeToString(raw), nil
}

// valid reports whether nonce was issued for action on the page of token, by a
// key of the ring, no longer than ttl ago.
func (n nonces) valid(nonce, token, action string) bool {
	if len(nonce) != nonceLen {
		return false
	}
	raw, err := nonceEncoding.DecodeString(nonce)
	if err != nil || len(raw) != nonceRawLen {
		return false
	}
	iat := int64(binary.BigEndian.Uint64(raw[:nonceIATLen]))
	now := n.now()
	if iat < 0 || iat > now.Add(nonceSkew).Unix() || !now.Before(time.Unix(iat, 0).Add(n.ttl)) {
		return false
	}
	got := raw[nonceIATLen+nonceRandLen:]
	ok := false
	for _, kid := range n.keys.IDs() {
		want, err := n.keys.SumWith(kid, noncePurpose, []byte(token), []byte(action), raw[:nonceIATLen],
			raw[nonceIATLen:nonceIATLen+nonceRandLen])
		if err == nil && keyedhash.Equal(want, got) {
			ok = true
		}
	}
	return ok
}
