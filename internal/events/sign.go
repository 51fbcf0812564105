package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com, "Signature scheme").
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Secret is a client's signing secret: the bytes behind "whsec_<base64>".
type Secret []byte

// Secret lengths, as Standard Webhooks recommends: 24 to 64 random bytes.
const (
	MinSecretLen = 24
	MaxSecretLen = 64
)

// secretPrefix marks a Standard Webhooks secret.
const secretPrefix = "whsec_"

// ParseSecret reads a secret as Standard Webhooks writes it: "whsec_" and the standard base64
// of 24 to 64 random bytes (surrounding white space is ignored, so a file may end in a
// newline). Errors never quote the value.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	raw, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New(`a webhook secret is "whsec_" followed by the base64 of 24 to 64 random bytes`)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New(`a webhook secret is "whsec_" followed by standard base64 (with padding)`)
	}
	if len(key) < MinSecretLen || len(key) > MaxSecretLen {
		return nil, errors.New("a webhook secret must hold 24 to 64 bytes")
	}
	return Secret(key), nil
}

// String writes the secret as "whsec_<base64>", the form ParseSecret reads.
func (s Secret) String() string { return secretPrefix + base64.StdEncoding.EncodeToString(s) }

// Sign returns the webhook-signature value of a delivery: "v1," and the standard base64 of
// HMAC-SHA256(secret, id + "." + timestamp + "." + body), timestamp in Unix seconds.
func (s Secret) Sign(id string, timestamp time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetHeaders sets the three Standard Webhooks headers of a delivery of body as id at timestamp.
func (s Secret) SetHeaders(h http.Header, id string, timestamp time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, timestamp, body))
}

// Verification errors.
var (
	ErrMissingHeaders = errors.New("events: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrBadSignature   = errors.New("events: no webhook signature matches")
	ErrStale          = errors.New("events: webhook-timestamp outside the tolerance")
)

// Tolerance is how far a delivery's timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Verify checks a delivery as a receiver does: the headers are present, the timestamp within
// Tolerance of now, and one of the space-separated signatures is the secret's (compared in
// constant time). authctl events tail uses it; receivers may use it or any Standard Webhooks
// library.
func (s Secret) Verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMissingHeaders
	}
	t := time.Unix(sec, 0)
	if t.Before(now.Add(-Tolerance)) || t.After(now.Add(Tolerance)) {
		return ErrStale
	}
	want := []byte(s.Sign(id, t, body))
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrBadSignature
}

// DevSecret signs development mode's events (authsvc -dev) and is what `authctl events tail`
// checks by default on a loopback address. It is published here, so it protects nothing: never
// configure it for a real endpoint.
const DevSecret = "whsec_YXV0aHN2Yy1kZXYtZXZlbnRzLW5vdC1hLXNlY3JldCE="
