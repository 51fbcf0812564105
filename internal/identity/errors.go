package identity

import "errors"

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
)

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
