package challenge

import (
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
)

// Handovers. A platform offers a handover on its verification (CreateHandover); the
// customer's page shows it; the channel's backend (secure channel) or the phone
// system (phone) redeems it once for what the verification record says at that
// moment. The handover's keys carry the verification's tag, so each step is one
// script that reads the record with the handover: a revoked, superseded or erased
// verification hands over nothing. A redemption also reads the conversation's
// pointer (conversation.go), on a slot of its own, as CheckAssertion does: a
// verification that is no longer its conversation's latest hands over nothing
// either, even before the newer start ended it on its record. What the handover keeps is ids and hashes; the
// case reference lives in the record ('hr') and goes when the record goes.
//
//   - A secure-channel code is "<handover id>~<secret>", the secret a keyed hash of
//     the id and the channel's PKCE challenge, which is kept once the customer's
//     browser bound it (BindHandover): no code is stored at all, and a code is
//     worthless without the verifier whose challenge it was bound to.
//   - A phone call code is 10 digits, a keyed hash of the handover id shown on the
//     page (never stored); the phone client's index (on that client's own slot,
//     one hash per code window) maps the code's keyed hash to the handover id, and
//     counts wrong codes per window in the same script: per caller (the keyed hash
//     of the caller reference the IVR sends; calls without one share one count),
//     under a ceiling for the whole client, so one abusive caller locks out only
//     themselves.
//
// Round trips: creating a secure-channel handover 1, a phone one 2 (reserve the
// code and read the record's conversation, then create and complete the code's
// index entry with where the conversation's pointer is); redeeming a
// secure-channel code 2 (redeem, then read the pointer; 1 when the record itself
// does not stand), a call code 2 (find the code, then redeem and read the
// pointer the entry names; 3 for an entry reserved before entries named it).

// HandoverKind is where a handover goes.
type HandoverKind int

// Handover kinds.
const (
	HandoverSecureChannel HandoverKind = iota + 1
	HandoverPhone
)

// String returns the kind's audit name ("secure_channel", "phone").
func (k HandoverKind) String() string {
	switch k {
	case HandoverSecureChannel:
		return assertion.HandoverSecureChannel
	case HandoverPhone:
		return assertion.HandoverPhone
	}
	return "unknown"
}

// HandoverState is how far a handover got.
type HandoverState int

// Handover states.
const (
	HandoverOffered HandoverState = iota + 1
	HandoverBound
	HandoverRedeemed
	HandoverExpired
)

// Handover errors. ErrNotFound answers an unknown handover, another client's, or a
// code that is not one this service made.
var (
	// ErrHandoverState: CreateHandover on a verification that is neither PENDING
	// nor VERIFIED and standing.
	ErrHandoverState = errors.New("challenge: verification can take no handover")
	// ErrHandoverUsed: the handover was redeemed (or bound) already.
	ErrHandoverUsed = errors.New("challenge: handover used")
	// ErrHandoverExpired: the offer or the code ran out of time.
	ErrHandoverExpired = errors.New("challenge: handover expired")
	// ErrHandoverClient: the calling client does not redeem this handover.
	ErrHandoverClient = errors.New("challenge: handover redeemed by another client")
	// ErrHandoverUnbound: the secure-channel code was never bound to a browser.
	ErrHandoverUnbound = errors.New("challenge: handover not bound")
	// ErrHandoverRevoked: a newer handover replaced it, or its verification no
	// longer stands (canceled, superseded, its factor removed).
	ErrHandoverRevoked = errors.New("challenge: handover revoked")
	// ErrHandoverBrowser: binding from a browser other than the one that
	// completed the verification.
	ErrHandoverBrowser = errors.New("challenge: handover bound to another browser")
	// ErrHandoverRedirect: the redirect URL is not one of the channel's.
	ErrHandoverRedirect = errors.New("challenge: redirect not allowed for the channel")
	// ErrHandoverBindState: a bind from the right browser whose state is missing
	// or is not the one the page's continue form issued to this browser for this
	// handover (a cross-site request that did not start at her page).
	ErrHandoverBindState = errors.New("challenge: handover bind state missing or not this browser's")
)

// CallLimitError: the caller, or the phone client as a whole, made as many wrong
// call-code attempts as a code window allows; nothing was looked up.
type CallLimitError struct {
	RetryAfter time.Duration
	// Scope is the allowance used up: CallLimitCaller or CallLimitClient.
	Scope string
}

// Call-code limit scopes.
const (
	// CallLimitCaller: this caller's wrong codes (or, for calls that name no
	// caller, the count they all share).
	CallLimitCaller = "caller"
	// CallLimitClient: the phone client's ceiling, across all its callers.
	CallLimitClient = "client"
)

func (e *CallLimitError) Error() string { return "challenge: call code attempts limited" }

// HandoverConfig holds the handover settings. Zero values take the defaults noted.
type HandoverConfig struct {
	// OfferTTL is how long an offer (and a call code) can be taken up (10 min; at
	// most 10 min).
	OfferTTL time.Duration
	// CodeTTL is how long a bound secure-channel code can be redeemed (2 min; at
	// most 2 min).
	CodeTTL time.Duration
	// CallFailures is how many wrong call codes the calls of one phone client
	// that name no caller may try, together, per code window (20).
	CallFailures int
	// CallerFailures is how many wrong call codes one caller (a caller reference
	// of one phone client) may try per code window (10).
	CallerFailures int
	// ClientFailures is how many wrong call codes one phone client may take, from
	// all its callers together, per code window: the ceiling (200).
	ClientFailures int
}

func (c *HandoverConfig) setDefaults() {
	if c.OfferTTL <= 0 || c.OfferTTL > 10*time.Minute {
		c.OfferTTL = 10 * time.Minute
	}
	if c.CodeTTL <= 0 || c.CodeTTL > 2*time.Minute {
		c.CodeTTL = 2 * time.Minute
	}
	if c.CallFailures <= 0 {
		c.CallFailures = 20
	}
	if c.CallerFailures <= 0 {
		c.CallerFailures = 10
	}
	if c.ClientFailures <= 0 {
		c.ClientFailures = 200
	}
}

// WithHandovers sets the handover settings (defaults without it).
func WithHandovers(c HandoverConfig) Option {
	return func(s *Service) { s.handover = c }
}

// HandoverRequest asks for a handover.
type HandoverRequest struct {
	ClientID, VerificationID string
	Kind                     HandoverKind
	// Channel is the channel id (secure channel only); Redeemer the client that
	// redeems it (the channel's, or the phone system's).
	Channel, Redeemer string
	CaseReference     string
	RequestID         string
}

// Handover is what the platform may know of a handover.
type Handover struct {
	ID, VerificationID string
	Kind               HandoverKind
	State              HandoverState
	Channel            string
	Expires            time.Time
}

// Offer is what the customer's page shows of a live handover.
type Offer struct {
	HandoverID string
	Kind       HandoverKind
	Channel    string
	// CallCode is the phone handover's 10 digits.
	CallCode string
	// State is what the continue form passes the channel with a secure-channel
	// handover id, and what /handover/bind must get back from this browser
	// (BindState); OpenHandover sets it.
	State   string
	Expires time.Time
	Locale  string
}

// Redemption is what a redeemed handover hands over.
type Redemption struct {
	HandoverID, VerificationID string
	Kind                       HandoverKind
	// Verified is true when the verification is VERIFIED and stands; only then are
	// the identity, customer, level, amr and assertion set.
	Verified                    bool
	Network, UserID, CustomerID string
	ConversationID, AgentID     string
	Level                       assurance.Level
	AMR                         []string
	VerifiedAt                  time.Time
	CaseReference               string
	Assertion                   *Assertion
}

var (
	//go:embed scripts/handover_prelude.lua
	handoverPrelude string
	//go:embed scripts/handover_create.lua
	handoverCreateSrc string
	//go:embed scripts/handover_bind.lua
	handoverBindSrc string
	//go:embed scripts/handover_redeem.lua
	handoverRedeemSrc string
	//go:embed scripts/call_take.lua
	callTakeSrc string
	//go:embed scripts/call_find.lua
	callFindSrc string
	//go:embed scripts/handover_get.lua
	handoverGetSrc string
	//go:embed scripts/handover_conversation.lua
	handoverConversationSrc string
	//go:embed scripts/call_point.lua
	callPointSrc string

	handoverCreateScript = transition(handoverPrelude + handoverCreateSrc)
	handoverBindScript   = transition(handoverPrelude + handoverBindSrc)
	handoverRedeemScript = transition(handoverPrelude + handoverRedeemSrc)
	callTakeScript       = redis.NewScript(callTakeSrc)
	callFindScript       = redis.NewScript(audit.Lua + callFindSrc)
	handoverGetScript    = redis.NewScript(handoverPrelude + handoverGetSrc)
	// handover_conversation changes nothing; it reads a packed field (prelude).
	handoverConversationScript = transition(handoverConversationSrc)
	callPointScript            = redis.NewScript(callPointSrc)
)

// A handover id is "<tag>.<body>": the verification's tag and 16 base32 letters
// (a keyed hash of the client, verification and request id, so a retried create
// lands on the same handover; random without a request id).
const handoverBodyLen = 16

func handoverKey(id string) string { return "v:{" + id[:tagLen] + "}:h:" + id[tagLen+1:] }

// validHandoverID reports whether s has the shape of a handover id.
func validHandoverID(s string) bool {
	if len(s) != tagLen+1+handoverBodyLen || s[tagLen] != '.' {
		return false
	}
	return validID(s[:tagLen] + "-" + s[tagLen+1:tagLen+1+bodyLen])
}

func (s *Service) handoverID(r HandoverRequest, attempt int) (string, error) {
	var body []byte
	if r.RequestID != "" {
		body = s.keys.Name("handover-id", []byte(r.ClientID), []byte(r.VerificationID), []byte(r.RequestID),
			[]byte{byte(attempt)})
	} else {
		body = make([]byte, 10)
		if _, err := io.ReadFull(s.random, body); err != nil {
			return "", fmt.Errorf("%w: random: %w", ErrUnavailable, err)
		}
	}
	return r.VerificationID[:tagLen] + "." + lowerB32(body, handoverBodyLen), nil
}

// channelSecret is the secret part of a secure-channel code: a keyed hash of the
// handover and the PKCE challenge it is bound to.
func (s *Service) channelSecret(id, challenge string) string {
	return base64.RawURLEncoding.EncodeToString(s.keys.Name("handover-code", []byte(id), []byte(challenge))[:16])
}

// bindStateLen is the length of a bind state: 16 bytes, base64url.
const bindStateLen = 22

// BindState is the state parameter of secure-channel handover id for the browser
// whose binding hash is binding: a keyed hash of the two (128 bits; RFC 6749
// §10.12's "hash of the session cookie"), so only that browser's own continue
// form can have been given it, and it names this handover alone. The continue
// form hands it to the channel with the handover id; BindHandover refuses a bind
// that does not bring it back. Nothing of it is stored; "" for no browser.
func (s *Service) BindState(id, binding string) string {
	if binding == "" || !validHandoverID(id) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(s.keys.Name("handover-bind-state", []byte(id), []byte(binding))[:16])
}

// callCode is a phone handover's 10-digit call code.
func (s *Service) callCode(id string) string {
	n := binary.BigEndian.Uint64(s.keys.Name("call-code", []byte(id))[:8]) % 10_000_000_000
	return fmt.Sprintf("%010d", n)
}

// callField is the index field of a call code.
func (s *Service) callField(code string) string {
	return base64.RawURLEncoding.EncodeToString(s.keys.Name("call-index", []byte(code))[:9])
}

// callerField is the index field that counts the wrong codes of the caller
// callerRef names, in the phone client's index: a keyed hash of the client and
// the reference (which may be derived from a phone number: never kept in clear),
// or "a" for the calls that name no caller. Code fields are 12 characters, this
// one 17: they never meet.
func (s *Service) callerField(clientID, callerRef string) string {
	if callerRef == "" {
		return "a"
	}
	return "c" + base64.RawURLEncoding.EncodeToString(s.keys.Name("call-caller", []byte(clientID), []byte(callerRef))[:12])
}

// callKeys are the phone client's index of this code window and of the previous
// one, and the window's end. A window is OfferTTL long, so a live code is in one of
// the two.
func (s *Service) callKeys(client string, now time.Time) (cur, prev string, end time.Time) {
	w := s.handover.OfferTTL.Milliseconds()
	n := now.UnixMilli() / w
	p := "hc:{" + client + "}:"
	return p + strconv.FormatInt(n, 36), p + strconv.FormatInt(n-1, 36), time.UnixMilli((n + 1) * w)
}

// parseOffer reads a record's live handover ('ho'), or nil.
func (s *Service) parseOffer(rec record, now time.Time) *Offer {
	parts := strings.SplitN(rec["ho"], "|", 4)
	if len(parts) != 4 {
		return nil
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !now.Before(time.UnixMilli(exp)) || !validHandoverID(parts[1]) {
		return nil
	}
	o := &Offer{HandoverID: parts[1], Kind: HandoverKind(parts[0][0] - '0'), Channel: parts[3],
		Expires: time.UnixMilli(exp), Locale: rec["lo"]}
	if o.Kind == HandoverPhone {
		o.CallCode = s.callCode(o.HandoverID)
	}
	return o
}
