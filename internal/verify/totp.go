package verify

import (
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// TOTPPeriod is the length of a TOTP time step (RFC 6238 X).
const TOTPPeriod = 30 * time.Second

// TOTPDigits is the length of a TOTP code.
const TOTPDigits = 6

// totpSecretBytes is the size of a new TOTP secret: 160 bits, the length RFC 4226
// (section 4, R6) recommends and authenticator apps expect for SHA-1.
const totpSecretBytes = 20

// minTOTPSecretBytes is the shortest secret MatchTOTP accepts: RFC 4226 R6 requires
// at least 128 bits. A shorter (say, empty) secret is a bug upstream, so it fails closed.
const minTOTPSecretBytes = 16

var b32NoPadding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random 160-bit TOTP secret. A failing reader is an error,
// never a short or zero secret.
func NewTOTPSecret(random io.Reader) ([]byte, error) {
	secret := make([]byte, totpSecretBytes)
	if _, err := io.ReadFull(random, secret); err != nil {
		return nil, fmt.Errorf("verify: draw totp secret: %w", err)
	}
	return secret, nil
}

// TOTPKeyURI returns the otpauth:// URI an authenticator app enrols from (Key URI
// Format: otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30),
// with the secret in unpadded base32. Issuer and account are percent-encoded, ':'
// included, so neither can shift the label's separator. The URI carries the secret:
// show it to the customer (as a QR code) once, and never log or store it.
func TOTPKeyURI(secret []byte, issuer, account string) string {
	// Built here rather than with totp.Generate, which draws a random secret when
	// given an empty one and returns an error for an empty issuer or account.
	q := "secret=" + b32NoPadding.EncodeToString(secret) +
		"&issuer=" + uriEscape(issuer) +
		"&algorithm=SHA1" +
		fmt.Sprintf("&digits=%d&period=%d", TOTPDigits, int(TOTPPeriod/time.Second))
	return "otpauth://totp/" + uriEscape(issuer) + ":" + uriEscape(account) + "?" + q
}

// uriEscape percent-encodes s for a Key URI label or query value; spaces become %20,
// not '+', which some authenticator apps show literally.
func uriEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// TOTPStep returns the RFC 6238 time step of t: floor(unix seconds / 30), rounding
// down for instants before 1970 too.
func TOTPStep(t time.Time) int64 {
	const period = int64(TOTPPeriod / time.Second)
	u := t.Unix()
	step := u / period
	if u%period < 0 {
		step--
	}
	return step
}

// NormalizeTOTP turns what a customer typed into a TOTP code: spaces (any Unicode
// space, "123 456", "123\u00a0456") and '-' are dropped; anything else but exactly
// six digits is ErrCodeFormat. Like NormalizeCode, it reads Arabic-Indic and
// fullwidth digits as the digits they are (asciiDigit).
func NormalizeTOTP(input string) (string, error) {
	if len(input) > 32 {
		return "", ErrCodeFormat
	}
	var b strings.Builder
	for _, r := range input {
		switch {
		case r == '-' || unicode.IsSpace(r):
			continue
		case asciiDigit(r) != 0:
			b.WriteRune(asciiDigit(r))
		default:
			return "", ErrCodeFormat
		}
	}
	if b.Len() != TOTPDigits {
		return "", ErrCodeFormat
	}
	return b.String(), nil
}

// MatchTOTP checks a normalized code against the current step and the previous
// step only, explicitly (never the next one, never two back), and only steps
// greater than `after` (the customer's last accepted step; pass -1 for none).
// It returns the matched step. Comparison is constant time; it checks both
// candidate steps every time (no early exit that leaks which step matched by timing).
//
// The caller stores the returned step as the new `after`, atomically with accepting
// the code, so the same code (or an older one) is refused from then on. A secret
// shorter than 128 bits never matches.
func MatchTOTP(secret []byte, code string, now time.Time, after int64) (step int64, ok bool) {
	return matchTOTP(secret, code, now, after, otp.DigitsSix, otp.AlgorithmSHA1)
}

// matchTOTP is MatchTOTP for any digit count and algorithm, so that the RFC 6238
// test vectors (8 digits, SHA-1/256/512) run through the production path.
func matchTOTP(secret []byte, code string, now time.Time, after int64, digits otp.Digits, alg otp.Algorithm) (int64, bool) {
	if len(secret) < minTOTPSecretBytes || len(code) != digits.Length() {
		return 0, false
	}
	b32 := b32NoPadding.EncodeToString(secret)
	cur := TOTPStep(now)
	prev := cur - 1

	// Both candidates are always generated and compared; their results are
	// combined without branching on a secret-dependent value.
	curOK := stepMatches(b32, code, cur, after, digits, alg)
	prevOK := stepMatches(b32, code, prev, after, digits, alg)

	// When both match (a 1-in-10^6 coincidence) the current step wins, so that
	// storing it as `after` refuses both.
	curMask := -int64(curOK) // all ones if the current step matched, else zero
	matched := cur&curMask | prev&^curMask
	if curOK|prevOK == 0 {
		return 0, false
	}
	return matched, true
}

// stepMatches returns 1 if code is the code of step and step may be accepted
// (step >= 0 and step > after), else 0. The code is generated and compared even
// for a step that may not be accepted, so the work done does not depend on it.
func stepMatches(b32, code string, step, after int64, digits otp.Digits, alg otp.Algorithm) int {
	eligible := 1
	if step < 0 || step <= after {
		eligible = 0
	}
	counter := uint64(max(step, 0))
	want, err := hotp.GenerateCodeCustom(b32, counter, hotp.ValidateOpts{Digits: digits, Algorithm: alg})
	if err != nil {
		// Cannot happen for a secret encoded above; fail closed.
		return 0
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(code)) & eligible
}
