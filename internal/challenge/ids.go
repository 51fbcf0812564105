package challenge

import (
	"encoding/base32"
	"encoding/base64"
	"strings"

	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
)

// A verification id is "<tag>-<body>": the tag is a keyed hash of the social
// identity or of the customer (package identity: so a verification and its
// identity's counters share one Redis slot), the body 80 bits of a keyed hash of
// the client and its request id (so a retried StartVerification lands on the same
// record without a second lookup key). The record's key, "v:{tag}:<id>", is 28
// bytes: the largest that fits Redis's 32-byte allocation for a key name.
// Ids are not secrets: they are safe to log and to show the platform.
const (
	tagLen  = 3
	bodyLen = 16
	idLen   = tagLen + 1 + bodyLen
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func lowerB32(b []byte, n int) string { return strings.ToLower(b32.EncodeToString(b))[:n] }

func verificationID(keys *keyedhash.Ring, tag, clientID, requestID string) string {
	return tag + "-" + lowerB32(keys.Name("verification-id", []byte(clientID), []byte(requestID)), bodyLen)
}

// validID reports whether s has the shape of a verification id.
func validID(s string) bool {
	if len(s) != idLen || s[tagLen] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == tagLen {
			continue
		}
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// keyPrefix is the prefix of every key of an identity's verifications.
func keyPrefix(id string) string { return "v:{" + id[:tagLen] + "}:" }

func recordKey(id string) string { return keyPrefix(id) + id }

// recordPrefix and idBody split a record's key into what every record of the tag
// shares and what is the record's own: the identity hash points to a record by its
// body alone.
func recordPrefix(id string) string { return keyPrefix(id) + id[:tagLen+1] }

func idBody(id string) string { return id[tagLen+1:] }

// identityKey is the hash of the counters of every identity with id's tag; each
// identity's fields start with its own identityHash.
func identityKey(id string) string { return keyPrefix(id) + "i" }

// replayKey marks, for the replay window, that the call with token has done what
// a script must do once per call and keeps no record of (refused.lua's audit
// event): a replay finds it (identity.ReplayKey, on id's slot).
func replayKey(id, token string) string { return identity.ReplayKey(id[:tagLen], token) }

// requestField is the record field that remembers the outcome of one request id.
func requestField(keys *keyedhash.Ring, kind, requestID string) string {
	h := keys.Name("request", []byte(kind), []byte(requestID))
	return "r:" + string(h[:9])
}

// pageMAC binds a customer-page link to its verification: the page URL is
// "/v/<id>.<mac>". Nothing is stored; the MAC is recomputed under the record's key.
func pageMAC(keys *keyedhash.Ring, kid, id string) (string, error) {
	h, err := keys.SumWith(kid, "page-link", []byte(id))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(h[:16]), nil
}

// splitToken splits "<id>.<secret>" from a page or link URL.
func splitToken(token string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(token, ".")
	if !ok || !validID(id) || len(secret) != 22 {
		return "", "", false
	}
	return id, secret, true
}
