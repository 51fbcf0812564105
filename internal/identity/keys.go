package identity

import (
	"encoding/base32"
	"encoding/base64"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/keyedhash"
)

// TagLen is the length of a hash tag. Identity and customer tags share one
// alphabet (lower-case base32) and length, so a verification id can carry either.
// A tag carries 14 bits (see hashTag): 16,384 tags, as many as Redis Cluster has
// slots, so they still spread over every master, and few enough that the
// identities of one tag share one counters hash (a key costs about 100 bytes
// before its contents; at 100,000 pending verifications a tag holds about six
// identities, and a counters hash stays a compact listpack up to about 100). Everything stored under a tag is named by its own
// keyed hash as well, so sharing a tag never mixes two identities' data.
const TagLen = 3

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func lowerB32(b []byte, n int) string { return strings.ToLower(b32.EncodeToString(b))[:n] }

// hashTag turns a keyed hash into a hash tag of 14 bits: three base32 characters, the
// first of them one of a to p.
func hashTag(h []byte) string { return lowerB32([]byte{h[0] & 0x7f, h[1]}, TagLen) }

// IdentityTag is the hash tag of a social identity: its verifications when no
// customer is known, its per-identity counters, and its link pointer.
func IdentityTag(keys *keyedhash.Ring, network, userID string) string {
	return hashTag(keys.Name("identity-tag", []byte(network), []byte(userID)))
}

// IdentityHash is an identity's keyed pseudonym (12 characters).
func IdentityHash(keys *keyedhash.Ring, network, userID string) string {
	h := keys.Name("identity", []byte(network), []byte(userID))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

// CustomerTag is the hash tag of a customer's data and of the verifications
// started for that customer.
func CustomerTag(keys *keyedhash.Ring, customerID string) string {
	return hashTag(keys.Name("customer-tag", []byte(customerID)))
}

// CustomerHash is a customer's keyed pseudonym (12 characters).
func CustomerHash(keys *keyedhash.Ring, customerID string) string {
	h := keys.Name("customer", []byte(customerID))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

// CustomerKey is the hash holding everything about one customer.
func CustomerKey(ctag, ch string) string { return "v:{" + ctag + "}:c:" + ch }

// LinkKey is the pointer from a social identity to its customer id.
func LinkKey(itag, ih string) string { return "v:{" + itag + "}:k:" + ih }

// CustomerKeyFor is CustomerKey of a customer id.
func CustomerKeyFor(keys *keyedhash.Ring, customerID string) string {
	return CustomerKey(CustomerTag(keys, customerID), CustomerHash(keys, customerID))
}

// ReplayKey marks, for ReplayWindow, that the call with token did what a script
// must do once per call and keeps no record of (an audit event): go-redis resends
// a script whose reply was lost, and the resent script finds the mark. It is on
// tag's slot and names nothing but the token. Package challenge marks its calls
// the same way.
func ReplayKey(tag, token string) string { return "v:{" + tag + "}:x:" + token }

// ReplayWindow is how long after a call a replay of one of its scripts may still
// arrive, and so how long what tells a replay from a new call is kept. go-redis
// resends a command whose reply was lost, each try bounded by the dial, write and
// read timeouts: with cmd/authsvc's defaults (3 tries of a 1 s dial, 0.5 s write
// and read) a few seconds in all. Timeouts set so long that the tries outlast it
// let a late replay act again (an event written twice, a send counted twice).
const ReplayWindow = time.Minute

// callTokenLen is the length of a call token (lower-case base32, 80 bits).
const callTokenLen = 16

// EnrollmentKey is the hash of one enrollment link. The id starts with the
// customer's tag ("<ctag>-<body>"), so the enrollment shares the customer's slot.
func EnrollmentKey(id string) string { return "v:{" + id[:TagLen] + "}:e:" + id }

// SessionKey holds the WebAuthn SessionData of an enrollment's passkey ceremony.
func SessionKey(id string) string { return EnrollmentKey(id) + ":s" }

// CredentialKey is the index that keeps a passkey credential id unique across all
// customers: "w:{<16 lower-base32 chars>}", the first 80 bits of a keyed hash of the
// credential id, and its own hash tag. It holds "<ctag>:<ch>:<fid>".
func CredentialKey(keys *keyedhash.Ring, credentialID []byte) string {
	h := keys.Name("credential", credentialID)
	return "w:{" + lowerB32(h[:10], 16) + "}"
}

// SeedAAD is the authenticated data a stored TOTP factor's seed is sealed with:
// the customer hash and the factor id, so a sealed seed opens only as that
// customer's factor.
func SeedAAD(ch, factorID string) []byte { return []byte(ch + factorID) }

// Tags returns every hash tag there is, all 16,384 of them (see hashTag): the audit
// exporter reads the audit stream of each on Redis Cluster (audit.StreamKey).
func Tags() []string {
	const first, rest = "abcdefghijklmnop", "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]string, 0, len(first)*len(rest)*len(rest))
	for _, a := range first {
		for _, b := range rest {
			for _, c := range rest {
				out = append(out, string([]rune{a, b, c}))
			}
		}
	}
	return out
}
