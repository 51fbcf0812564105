package identity

import (
	"errors"

	"github.com/authsvc/authsvc/internal/assurance"
)

// The named errors of the package. Errors wrap them with %w; no error text ever
// contains a secret, a code, a customer's contact point or a social user id.
var (
	// ErrNotFound: no such link, factor or enrollment; an enrollment link that is
	// malformed, forged, expired, used or dead is not found either.
	ErrNotFound = errors.New("identity: not found")
	// ErrLinkedElsewhere: the social identity is linked to another customer.
	ErrLinkedElsewhere = errors.New("identity: identity is linked to another customer")
	// ErrUnavailable wraps every store, randomness or sealing failure and every
	// stored value that does not parse: the caller answers UNAVAILABLE and nothing
	// was decided.
	ErrUnavailable = errors.New("identity: store unavailable")
	// ErrWrongCode: the TOTP confirmation code was wrong (see CodeError).
	ErrWrongCode = errors.New("identity: wrong code")
	// ErrCeremony: the passkey registration response was malformed, did not verify
	// against its ceremony, or its ceremony was used, replaced or timed out.
	ErrCeremony = errors.New("identity: passkey ceremony failed")
	// ErrDuplicateCredential: the passkey's credential id is registered already
	// (to this customer or another one).
	ErrDuplicateCredential = errors.New("identity: credential already registered")
	// ErrWrongBrowser: the enrollment continues a verification completed in
	// another browser, and works only in that one (see Proof.Binding).
	ErrWrongBrowser = errors.New("identity: enrollment bound to another browser")
	// ErrSeedShown: the TOTP enrollment's key was shown once already; it is never
	// shown again, and a new enrollment is needed to see a key.
	ErrSeedShown = errors.New("identity: authenticator key already shown")
	// ErrNotice: a first factor's notice could not be sent to the proven contact,
	// so the factor was not added (nothing was counted; the customer may retry).
	ErrNotice = errors.New("identity: factor notice not sent")
	// ErrProofUnbound: the verification offered as proof was completed before
	// verifications were bound to a browser; a new verification is needed.
	ErrProofUnbound = errors.New("identity: verification not bound to a browser")
	// ErrFirstFactorHold: the customer reported a factor as not hers recently; a
	// LOW proof binds her no first factor until the hold ends (Config.ReportHold).
	ErrFirstFactorHold = errors.New("identity: first factors on hold after a report")
)

// ProofError says a proof is too weak to bind the factor: the customer holds a
// factor already, so a LOW verification cannot bind another one. Need is the
// level a verification must reach to allow it.
type ProofError struct {
	Need assurance.Level
}

func (e *ProofError) Error() string {
	return "identity: binding a factor needs a verification at " + e.Need.String() + " or higher"
}

// CodeError is a wrong TOTP confirmation code. It matches ErrWrongCode with
// errors.Is. AttemptsLeft is how many more wrong codes the link takes; 0 means
// this code killed the link.
type CodeError struct {
	AttemptsLeft int
}

func (e *CodeError) Error() string { return ErrWrongCode.Error() }

// Is makes errors.Is(err, ErrWrongCode) hold.
func (e *CodeError) Is(target error) bool { return target == ErrWrongCode }

// ValidationError says what is wrong with an argument. Field is named as in the
// API ("customer_id", "identity.network", …); Description never repeats the value.
type ValidationError struct {
	Field       string
	Description string
}

func (e *ValidationError) Error() string {
	return "identity: invalid " + e.Field + ": " + e.Description
}
