package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Webhook signature scheme, version 1.
const (
	// HeaderTimestamp carries the signing time in Unix seconds.
	HeaderTimestamp = "Authsvc-Timestamp"
	// HeaderSignature carries "v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>";
	// a receiver accepts a comma-separated list of signatures if any matches.
	HeaderSignature = "Authsvc-Signature"
	// HeaderIdempotencyKey carries the message ID; retries repeat it.
	HeaderIdempotencyKey = "Idempotency-Key"
	// DefaultSignatureTolerance is the timestamp tolerance VerifySignature
	// uses when given zero.
	DefaultSignatureTolerance = 5 * time.Minute
	// MinSecretLen is the shortest webhook secret accepted, in bytes.
	MinSecretLen = 32

	signatureVersion = "v1="
	maxSignatures    = 8
)

// sign returns the v1 signature header value for timestamp and body.
func sign(secret []byte, timestamp string, body []byte) string {
	return signatureVersion + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a webhook request as a receiver must: timestamp is
// the Authsvc-Timestamp header (decimal Unix seconds), signature the
// Authsvc-Signature header, body the raw request body. It returns nil when
// one v1 signature in the header matches (compared in constant time) and the
// timestamp is within tolerance of now, in either direction; tolerance <= 0
// means DefaultSignatureTolerance. A malformed header, a short secret or a
// mismatch gives ErrSignature; a timestamp out of tolerance gives
// ErrStaleTimestamp. Receivers should also de-duplicate on Idempotency-Key.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) < MinSecretLen {
		return ErrSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	if !isDigits(timestamp, 1, 12) {
		return ErrSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	want := mac(secret, timestamp, body)
	parts := strings.Split(signature, ",")
	if len(parts) > maxSignatures {
		return ErrSignature
	}
	ok := false
	for _, p := range parts {
		p = strings.TrimSpace(p)
		hexSig, found := strings.CutPrefix(p, signatureVersion)
		if !found || len(hexSig) != 2*sha256.Size {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}
