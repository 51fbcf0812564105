package challenge

import (
	"errors"
	"fmt"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
)

// State is where a verification is in its lifecycle. PENDING moves to exactly one
// terminal state; terminal states never change.
type State int

// The states. Values are stored in Redis: never renumber.
const (
	Pending  State = 1
	Verified State = 2
	Failed   State = 3
	Expired  State = 4
	Canceled State = 5
)

// Terminal reports whether s can no longer change.
func (s State) Terminal() bool { return s >= Verified && s <= Canceled }

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Verified:
		return "verified"
	case Failed:
		return "failed"
	case Expired:
		return "expired"
	case Canceled:
		return "canceled"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Reason says why a verification ended FAILED.
type Reason int

// The reasons. Values are stored in Redis: never renumber.
const (
	ReasonNone              Reason = 0
	ReasonAttemptsExhausted Reason = 1
	ReasonReported          Reason = 2
	ReasonNumberMismatch    Reason = 3
)

// Method is a way to complete a verification. Values are stored: never renumber.
type Method int

// The methods.
const (
	MagicLink Method = 1
	OTPSMS    Method = 2
	OTPEmail  Method = 3
	TOTP      Method = 4
	WebAuthn  Method = 5
)

func (m Method) String() string {
	switch m {
	case MagicLink:
		return "magic_link"
	case OTPSMS:
		return "otp_sms"
	case OTPEmail:
		return "otp_email"
	case TOTP:
		return "totp"
	case WebAuthn:
		return "webauthn"
	}
	return fmt.Sprintf("method(%d)", int(m))
}

// Level is the assurance a completed method earns; MaxLevel is the best the
// method can ever earn (a passkey earns High only with user verification).
func (m Method) MaxLevel() assurance.Level {
	switch m {
	case MagicLink, OTPSMS, OTPEmail:
		return assurance.Low
	case TOTP:
		return assurance.Substantial
	case WebAuthn:
		return assurance.High
	}
	return 0
}

// channel is the contact channel a method sends to, or 0 for enrolled factors.
func (m Method) channel() DestinationKind {
	switch m {
	case OTPEmail:
		return Email
	case OTPSMS:
		return Phone
	}
	return 0
}

// DeliveryState is the state of the out-of-band message.
type DeliveryState int

// The delivery states. Values are stored: never renumber.
const (
	DeliveryNotNeeded DeliveryState = 1
	DeliverySending   DeliveryState = 2
	DeliverySent      DeliveryState = 3
	DeliveryFailed    DeliveryState = 4
)

// DestinationKind says whether a destination is an email address or a phone number.
type DestinationKind int

// The destination kinds.
const (
	Email DestinationKind = 1
	Phone DestinationKind = 2
)

// Destination is a contact point on file, as the platform passes it in. The message
// goes to Value exactly as given; limits, the keyed hash a resend must match and the
// mask count it by its canonical form, one per mailbox or number whatever the
// spelling (see canonicalEmail). It is never stored: only its mask and keyed hash are.
type Destination struct {
	Kind  DestinationKind
	Value string
}

// Identity is the social account in the conversation.
type Identity struct {
	Network string
	UserID  string
	Handle  string
}

// Verification is a verification as the platform sees it. It holds no secret.
type Verification struct {
	ID              string
	ClientID        string
	State           State
	Reason          Reason
	Network         string
	UserID          string
	HandleMask      string
	CustomerID      string
	Methods         []Method
	MinAssurance    assurance.Level
	Audience        string
	Scopes          []string
	AgentID         string
	ConversationID  string
	DestinationMask string
	DeliveredMethod Method
	Delivery        DeliveryState
	AttemptsLeft    int
	Locale          string
	Created         time.Time
	Expires         time.Time
	// Set when State is Verified.
	VerifiedAt time.Time
	Method     Method
	Level      assurance.Level
	AMR        []string
	Revoked    bool
	// SMSRefused says why the risk hook refused SMS to the destination, so that
	// only the customer's other methods are offered (RiskSIMSwap, …); "" when not.
	SMSRefused string
	// Assertion is set by Get and Watch while the verification is Verified, not
	// revoked and its assertion has not expired.
	Assertion *Assertion
}

// Assertion is the signed proof minted for a verified verification.
type Assertion struct {
	Token   string
	ID      string
	Expires time.Time
}

// Errors the service returns; the transport maps each to one status.
var (
	// ErrNotFound: no such verification for this client, or its link is unknown,
	// malformed, or no longer usable (pages show the same neutral message).
	ErrNotFound = errors.New("challenge: not found")
	// ErrNotPending: the verification is already in a terminal state.
	ErrNotPending = errors.New("challenge: verification is not pending")
	// ErrExpired: the verification's time ran out.
	ErrExpired = errors.New("challenge: verification expired")
	// ErrAttemptsExhausted: too many wrong codes; the verification failed.
	ErrAttemptsExhausted = errors.New("challenge: attempts exhausted")
	// ErrRequestReused: a request id was reused with different parameters.
	ErrRequestReused = errors.New("challenge: request id reused with different parameters")
	// ErrDestinationMismatch: a resend named a destination other than the one on file.
	ErrDestinationMismatch = errors.New("challenge: destination differs from the one the verification was started with")
	// ErrResendLimit: the verification has been sent as often as allowed.
	ErrResendLimit = errors.New("challenge: resend limit reached")
	// ErrSendInProgress: another call is sending this verification's message.
	ErrSendInProgress = errors.New("challenge: a send is in progress")
	// ErrNothingToSend: the verification has no out-of-band message to resend.
	ErrNothingToSend = errors.New("challenge: nothing to resend")
	// ErrUnavailable wraps every store, randomness or signing failure: the caller
	// answers UNAVAILABLE and nothing was verified.
	ErrUnavailable = errors.New("challenge: store unavailable")
)

// SendError is returned when a verification was recorded but its message could not
// be sent; the verification stays PENDING and can be resent.
type SendError struct {
	VerificationID string
	Err            error
}

func (e *SendError) Error() string { return "challenge: message not sent" }

// Unwrap returns the delivery error (which names no destination).
func (e *SendError) Unwrap() error { return e.Err }

// LimitError says a send limit was reached; nothing was sent. Scope names the
// limit ("identity", "destination", …), never the identity or destination.
type LimitError struct {
	Scope      string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return "challenge: " + e.Scope + " send limit reached" }

// Violation is one bad field of a request, named as in the API.
type Violation struct {
	Field       string
	Description string
}

// ValidationError lists what is wrong with a request.
type ValidationError struct {
	Violations []Violation
}

func (e *ValidationError) Error() string {
	if len(e.Violations) == 1 {
		return "challenge: invalid " + e.Violations[0].Field + ": " + e.Violations[0].Description
	}
	return fmt.Sprintf("challenge: %d invalid fields", len(e.Violations))
}

func (e *ValidationError) add(field, desc string) {
	e.Violations = append(e.Violations, Violation{Field: field, Description: desc})
}

func (e *ValidationError) orNil() error {
	if len(e.Violations) == 0 {
		return nil
	}
	return e
}

// Outcome is what a customer's action on a page did.
type Outcome int

// The outcomes a page shows.
const (
	// OutcomeVerified: the verification is now VERIFIED (or already was, by this same request).
	OutcomeVerified Outcome = iota + 1
	// OutcomeWrongCode: the code was wrong; Attempts left says how many tries remain.
	OutcomeWrongCode
	// OutcomeFailed: the verification ended FAILED (attempts used up, wrong number, or reported).
	OutcomeFailed
	// OutcomeReported: the customer said "this wasn't me".
	OutcomeReported
	// OutcomeGone: expired, canceled, already completed: the neutral page.
	OutcomeGone
	// OutcomeLocked: too many failures for this identity and method; RetryAfter says
	// when the customer may try again. Nothing was counted.
	OutcomeLocked
	// OutcomeCeremony: a passkey response found no ceremony to finish (never begun,
	// timed out, finished already, replayed) or was not a WebAuthn response. Nothing
	// was counted; the page may begin a new ceremony.
	OutcomeCeremony
)

// Result is the outcome of a customer's action.
type Result struct {
	Outcome      Outcome
	AttemptsLeft int
	RetryAfter   time.Duration
	// NoOffer, with OutcomeVerified, says that the verification held no handover
	// offer when it answered, so there is none to show (OpenHandover would find
	// none). False says nothing: there may be one.
	NoOffer bool
}
