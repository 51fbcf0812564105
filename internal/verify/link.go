package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// TokenBytes is the entropy of a magic-link token: 128 bits.
const TokenBytes = 16

// TokenLen is the length of an encoded token (unpadded base64url).
const TokenLen = 22

// ErrTokenFormat is returned for a string that cannot be a token.
var ErrTokenFormat = errors.New("verify: malformed token")

// NewToken returns a random 128-bit token, base64url without padding.
func NewToken(random io.Reader) (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("verify: draw token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeToken checks the shape of a token and returns its bytes.
func DecodeToken(s string) ([]byte, error) {
	if len(s) != TokenLen {
		return nil, ErrTokenFormat
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != TokenBytes {
		return nil, ErrTokenFormat
	}
	return b, nil
}

// NewMatchNumber returns the two-digit number (10–99) shown in the DM for number
// matching, uniformly drawn.
func NewMatchNumber(random io.Reader) (int, error) {
	var b [1]byte
	for {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return 0, fmt.Errorf("verify: draw number: %w", err)
		}
		// 180 = 2*90: reject 180..255 so that b%90 is uniform.
		if b[0] < 180 {
			return 10 + int(b[0]%90), nil
		}
	}
}

// MatchChoices returns the three numbers the magic-link page offers: the right
// one and two decoys, all distinct, in an order that depends only on seed. The
// same seed always gives the same page, so reloading it reveals nothing new.
func MatchChoices(correct int, seed []byte) [3]int {
	h := sha256.Sum256(seed)
	choices := [3]int{correct}
	used := map[int]bool{correct: true}
	off := 0
	for i := 1; i < 3; i++ {
		for {
			n := 10 + int(binary.BigEndian.Uint16(h[off:off+2])%90)
			off = (off + 2) % 30
			if !used[n] {
				used[n] = true
				choices[i] = n
				break
			}
			// Fold on collision so the loop always ends.
			h[off] ^= byte(i + 1)
		}
	}
	pos := int(h[31] % 3)
	choices[0], choices[pos] = choices[pos], choices[0]
	return choices
}
