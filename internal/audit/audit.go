package audit

import (
	"crypto/sha1" //nolint:gosec // A keyed pseudonym needs preimage resistance only; see Pseudonym.
	_ "embed"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Kinds of events, as stored in the field "k".
const (
	Started           = "started"
	Sent              = "sent"
	SendFailed        = "send_failed"
	AttemptFailed     = "attempt_failed"
	Verified          = "verified"
	Failed            = "failed"
	Expired           = "expired"
	Canceled          = "canceled"
	Reported          = "reported"
	AssertionIssued   = "assertion_issued"
	DisclosureAllowed = "disclosure_allowed"
	DisclosureDenied  = "disclosure_denied"
	FactorEnrolled    = "factor_enrolled"
	FactorRemoved     = "factor_removed"
	FactorReported    = "factor_reported"
	IdentityLinked    = "identity_linked"
	IdentityUnlinked  = "identity_unlinked"
	Erased            = "erased"
	ClientDenied      = "client_denied"
	// Handover steps (package challenge, handover.go): m is the kind
	// (secure_channel or phone), c the client that acted, r a refusal's reason.
	// HandoverExpired: the verification's live offer ran out unredeemed (package
	// challenge's Lapser, handover_lapse.lua); c is the client that created it.
	HandoverCreated  = "handover_created"
	HandoverBound    = "handover_bound"
	HandoverRedeemed = "handover_redeemed"
	HandoverRefused  = "handover_refused"
	HandoverExpired  = "handover_expired"
	// BreakerTripped and BreakerReleased: an SMS breaker cell (Reason: country or
	// prefix; Destination: "+44" or a masked prefix "+4479****"; Outcome: enforce or
	// monitor) tripped or was released. No verification, client or customer.
	BreakerTripped  = "breaker_tripped"
	BreakerReleased = "breaker_released"
	// Extended: the customer gave her pending verification more time on her page
	// (package challenge, extend.lua); Expires is its new expiry.
	Extended = "extended"
)

// ReasonImpersonation is the reason ('r') of a Reported event when the customer
// said the account talking to her is not the brand's ("this isn't the account I'm
// talking to"), rather than that she never asked ("this wasn't me", no reason):
// an impersonation report, for the brand's trust-and-safety team.
const ReasonImpersonation = "impersonation"

// Kinds lists every kind of event.
var Kinds = []string{
	Started, Sent, SendFailed, AttemptFailed, Verified, Failed, Expired, Canceled, Reported, Extended,
	AssertionIssued, DisclosureAllowed, DisclosureDenied, FactorEnrolled, FactorRemoved, FactorReported,
	IdentityLinked, IdentityUnlinked, Erased, ClientDenied,
	HandoverCreated, HandoverBound, HandoverRedeemed, HandoverRefused, HandoverExpired, BreakerTripped,
	BreakerReleased,
}

// Lua defines the function scripts call to append an event:
//
//	local function audit_event(akey, now_ms, cap_ms, fields)
//
// It returns the new entry's id. Prepend it to a script's source (before any prelude) and wrap the
// result once in redis.NewScript. It defines no global and reads no KEYS or ARGV.
//
//go:embed audit.lua
var Lua string

// Event is one audit entry. Identity and Customer are pseudonyms and Destination a mask, never
// raw values.
type Event struct {
	ID   string    // the stream entry id; set by List, ignored when writing
	Time time.Time // the writer's time, to the millisecond
	Kind string    // one of Kinds

	ClientID       string
	AgentID        string
	VerificationID string
	Method         string
	Outcome        string
	Reason         string

	Identity    string // identity pseudonym
	Customer    string // customer pseudonym
	Destination string // masked destination

	// Expires is, for an Extended event, the verification's new expiry ('e', ms); zero
	// otherwise. Only scripts write it (Writer.Args has no place for it).
	Expires time.Time

	// Trimmed is how many older entries the stream's hard cap removed, unexported, when this
	// one was appended ('x'): 0 unless every exporter was down for longer than the buffer.
	Trimmed int
}

// Stream field names.
const (
	fieldKind         = "k"
	fieldTime         = "t"
	fieldClient       = "c"
	fieldAgent        = "a"
	fieldVerification = "v"
	fieldMethod       = "m"
	fieldOutcome      = "o"
	fieldReason       = "r"
	fieldIdentity     = "i"
	fieldCustomer     = "u"
	fieldDestination  = "d"
	fieldTrimmed      = "x"
	fieldExpires      = "e"
)

// pseudonymLen is the length in hex digits of a pseudonym (64 bits).
const pseudonymLen = 16

// Pseudonym returns hex(SHA-1(key || subject))[:16], the value the Lua expression
// string.sub(redis.sha1hex(key .. subject), 1, 16) gives. key is the per-customer pseudonym key:
// 32 random bytes kept as 64 hex characters.
//
// Why SHA-1 with a secret prefix is adequate here: a pseudonym must not let anyone without the key
// tell which subject it stands for, which rests on preimage resistance of SHA-1 (unbroken; its
// known weakness is collisions, which reveal nothing about a subject) and on the 256-bit key,
// which puts guessing even a low-entropy subject (a handle, a customer number) out of reach. The
// weaknesses of a prefix-keyed hash against an HMAC — length extension — concern forgery, and
// nobody accepts a pseudonym as proof of anything, so there is nothing to forge; besides, the key
// has a fixed length, so key and subject cannot be re-split, and a truncated digest leaks no
// chaining state. 64 bits keep pseudonyms of one customer's subjects distinct with overwhelming
// probability. Redis's Lua has redis.sha1hex and no HMAC, which is why scripts use this form.
//
// Deleting the key (erasure) makes every pseudonym made with it unlinkable to its subject, without
// rewriting the audit streams: crypto-shredding.
func Pseudonym(key, subject string) string {
	sum := sha1.Sum([]byte(key + subject)) //nolint:gosec // See the doc comment.
	return hex.EncodeToString(sum[:])[:pseudonymLen]
}

// sharedStream is the one stream of standalone and Sentinel deployments.
const sharedStream = "audit:events"

// StreamKey returns the stream that a script running on hash tag tag writes to: on standalone
// Redis and Sentinel (perTag false) the one stream "audit:events"; on Redis Cluster (perTag true)
// the tag's own stream "v:{tag}:a", since a script may only touch keys in its own slot.
func StreamKey(tag string, perTag bool) string {
	if !perTag {
		return sharedStream
	}
	return "v:{" + tag + "}:a"
}

// EventFromReply reads one event as a script returns it beside its reply (the
// entry id, then field, value pairs with the stream's field names), so that the
// caller can mirror it to the audit log exactly as the stream holds it.
func EventFromReply(fields []any) Event {
	str := func(v any) string { s, _ := v.(string); return s }
	var e Event
	if len(fields) == 0 {
		return e
	}
	e.ID = str(fields[0])
	for i := 1; i+1 < len(fields); i += 2 {
		v := str(fields[i+1])
		switch str(fields[i]) {
		case "k":
			e.Kind = v
		case "c":
			e.ClientID = v
		case "a":
			e.AgentID = v
		case "v":
			e.VerificationID = v
		case "m":
			e.Method = v
		case "o":
			e.Outcome = v
		case "r":
			e.Reason = v
		case "i":
			e.Identity = v
		case "u":
			e.Customer = v
		case "d":
			e.Destination = v
		case "x":
			e.Trimmed, _ = strconv.Atoi(v)
		case fieldExpires:
			e.Expires = msTime(v)
		}
	}
	if ms, _, ok := strings.Cut(e.ID, "-"); ok {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
			e.Time = time.UnixMilli(n)
		}
	}
	return e
}

// msTime reads a time written as Unix milliseconds; zero when it is not one.
func msTime(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
