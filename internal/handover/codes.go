package handover

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// CallCodeDigits is the length of a phone handover's call code.
const CallCodeDigits = 10

// ValidVerifier reports whether v is a PKCE code verifier (RFC 7636 §4.1): 43
// to 128 characters of [A-Za-z0-9-._~].
func ValidVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !unreserved(v[i]) {
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// ValidChallenge reports whether s has the shape of an S256 code challenge:
// 43 characters of unpadded base64url (a SHA-256 digest).
func ValidChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// Challenge returns the S256 challenge of verifier v: BASE64URL(SHA256(v)).
func Challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifierMatches reports whether v is a verifier whose S256 challenge is
// challenge, in constant time.
func VerifierMatches(v, challenge string) bool {
	return ValidVerifier(v) && subtle.ConstantTimeCompare([]byte(Challenge(v)), []byte(challenge)) == 1
}

// NormalizeCallCode returns the digits of a call code as a person reads or
// types it (spaces, dashes and dots ignored), and whether they are
// CallCodeDigits digits.
func NormalizeCallCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == CallCodeDigits
}

// GroupCallCode groups a call code's digits for reading aloud: "123 456 7890".
func GroupCallCode(digits string) string {
	if len(digits) != CallCodeDigits {
		return digits
	}
	return digits[:3] + " " + digits[3:6] + " " + digits[6:]
}
