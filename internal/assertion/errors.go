package assertion

import "errors"

// invalidError is a verification failure: a sentinel that unwraps to its parent, so
// that every failure matches [ErrInvalid] and claim failures also match [ErrClaims].
type invalidError struct {
	msg    string
	parent error
}

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return e.parent }

// ErrInvalid is matched (with errors.Is) by every error Verify returns: callers that
// only need "not a valid assertion" test for it alone.
var ErrInvalid = errors.New("assertion: invalid")

// Verification failures. Each wraps [ErrInvalid]; [ErrIssuer] and [ErrAudience] also
// wrap [ErrClaims].
var (
	// ErrTooLarge: the token is longer than MaxTokenSize; it was not parsed.
	ErrTooLarge error = &invalidError{"assertion: token too large", ErrInvalid}
	// ErrMalformed: not a compact JWS with a JSON header and payload of the expected shape.
	ErrMalformed error = &invalidError{"assertion: malformed token", ErrInvalid}
	// ErrAlgorithm: alg is not EdDSA or ES256, or not the algorithm of the key kid names.
	ErrAlgorithm error = &invalidError{"assertion: algorithm not allowed", ErrInvalid}
	// ErrType: the typ header is missing or is not TokenType.
	ErrType error = &invalidError{"assertion: wrong token type", ErrInvalid}
	// ErrForbiddenHeader: a header parameter other than alg, kid and typ is present
	// (jku, jwk, x5u, x5c, crit, ...).
	ErrForbiddenHeader error = &invalidError{"assertion: forbidden header parameter", ErrInvalid}
	// ErrUnknownKey: kid is missing or names no key in the keyring.
	ErrUnknownKey error = &invalidError{"assertion: unknown signing key", ErrInvalid}
	// ErrSignature: the signature does not verify with the key kid names.
	ErrSignature error = &invalidError{"assertion: bad signature", ErrInvalid}
	// ErrExpired: exp is more than Leeway in the past.
	ErrExpired error = &invalidError{"assertion: expired", ErrInvalid}
	// ErrNotYetValid: nbf or iat is more than Leeway in the future.
	ErrNotYetValid error = &invalidError{"assertion: not yet valid", ErrInvalid}
	// ErrClaims: a claim is missing or wrong (version, acr, required members, ...).
	ErrClaims error = &invalidError{"assertion: invalid claims", ErrInvalid}
	// ErrIssuer: iss is not the verifier's issuer.
	ErrIssuer error = &invalidError{"assertion: wrong issuer", ErrClaims}
	// ErrAudience: aud does not contain the audience asked for, or none was asked for.
	ErrAudience error = &invalidError{"assertion: wrong audience", ErrClaims}
)

// Minting and keyring errors. They do not wrap ErrInvalid: they report a problem with
// the caller's input or configuration, not with a presented assertion.
var (
	// ErrIncompleteClaims: Mint was given claims that would not verify (a required
	// member is empty, times are inconsistent or exceed the lifetime, ...).
	ErrIncompleteClaims = errors.New("assertion: claims incomplete or inconsistent")
	// ErrNoKeys: a keyring needs at least one key.
	ErrNoKeys = errors.New("assertion: no keys")
	// ErrKeyFile: a key file is not a single PKCS#8 "PRIVATE KEY" PEM block.
	ErrKeyFile = errors.New("assertion: key file is not a PKCS#8 PEM private key")
	// ErrKeyMetadata: a key's metadata file (NAME.json) is not a valid KeyMetadata
	// object for that key.
	ErrKeyMetadata = errors.New("assertion: invalid key metadata")
	// ErrUnsupportedKey: a key is neither Ed25519 nor ECDSA P-256.
	ErrUnsupportedKey = errors.New("assertion: unsupported key type (want Ed25519 or ECDSA P-256)")
	// ErrDuplicateKey: the same key appears twice in a keyring.
	ErrDuplicateKey = errors.New("assertion: duplicate key")
	// ErrActiveKey: the active key is not named, names no key, or is ambiguous.
	ErrActiveKey = errors.New("assertion: active key not found or ambiguous")
	// ErrUnsupportedAlgorithm: GenerateKey was asked for an algorithm other than EdDSA or ES256.
	ErrUnsupportedAlgorithm = errors.New("assertion: unsupported algorithm (want EdDSA or ES256)")
)
