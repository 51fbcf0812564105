package assertion

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Verifier checks assertions against a keyring for one issuer.
type Verifier struct {
	ring   *Keyring
	issuer string
	now    func() time.Time
}

// NewVerifier returns a Verifier that accepts assertions issued by issuer and signed
// by a key in k, judging times by now (time.Now when nil).
func NewVerifier(k *Keyring, issuer string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{ring: k, issuer: issuer, now: now}
}

// allowedHeaders are the only protected header parameters an assertion may carry.
var allowedHeaders = map[string]bool{"alg": true, "kid": true, "typ": true}

// Verify checks token as an assertion for audience and returns its claims, with
// Claims.Audience set to audience. Every error wraps ErrInvalid and one of the
// sentinels listed in the package documentation, and holds no token text. An empty
// audience is refused (ErrAudience): an assertion is only ever valid for someone.
func (v *Verifier) Verify(token, audience string) (Claims, error) {
	if audience == "" {
		return Claims{}, fmt.Errorf("%w: no audience given", ErrAudience)
	}
	if v.issuer == "" {
		// jwt.Expected skips an empty issuer; an unconfigured verifier accepts nothing.
		return Claims{}, ErrIssuer
	}
	if len(token) > MaxTokenSize {
		return Claims{}, ErrTooLarge
	}
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) && algErr.Got != "" {
			return Claims{}, ErrAlgorithm
		}
		return Claims{}, ErrMalformed
	}
	if len(jws.Signatures) != 1 {
		return Claims{}, ErrMalformed
	}
	// Go's base64 decoder ignores non-zero trailing bits, and the signature segment is
	// not itself signed: insist on the canonical encoding so that every accepted
	// assertion is exactly the string that was minted.
	if sig := token[strings.LastIndexByte(token, '.')+1:]; base64.RawURLEncoding.EncodeToString(jws.Signatures[0].Signature) != sig {
		return Claims{}, ErrMalformed
	}
	header := jws.Signatures[0].Protected
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); typ != TokenType {
		return Claims{}, ErrType
	}
	if err := checkHeaderNames(token); err != nil {
		return Claims{}, err
	}
	key := v.ring.key(header.KeyID)
	if key == nil {
		return Claims{}, ErrUnknownKey
	}
	if header.Algorithm != string(key.alg) {
		return Claims{}, ErrAlgorithm
	}
	payload, err := jws.Verify(key.public)
	if err != nil {
		return Claims{}, ErrSignature
	}

	// go-jose's JSON decoder matches member names case-sensitively and refuses
	// duplicate members, so the claims read here are the claims that were signed.
	var w wireClaims
	if err := josejson.Unmarshal(payload, &w); err != nil {
		return Claims{}, ErrMalformed
	}
	std := jwt.Claims{
		Issuer:    w.Issuer,
		Audience:  jwt.Audience(w.Audience),
		Expiry:    w.Expiry,
		NotBefore: w.NotBefore,
		IssuedAt:  w.IssuedAt,
	}
	expected := jwt.Expected{Issuer: v.issuer, AnyAudience: jwt.Audience{audience}, Time: v.now()}
	if err := std.ValidateWithLeeway(expected, Leeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrInvalidIssuer):
			return Claims{}, ErrIssuer
		case errors.Is(err, jwt.ErrInvalidAudience):
			return Claims{}, ErrAudience
		case errors.Is(err, jwt.ErrExpired):
			return Claims{}, ErrExpired
		case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
			return Claims{}, ErrNotYetValid
		}
		return Claims{}, ErrClaims
	}
	if w.Version != ClaimsVersion {
		return Claims{}, fmt.Errorf("%w: unsupported ver", ErrClaims)
	}
	c, ok := w.toClaims(audience)
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown acr", ErrClaims)
	}
	if w.Social == nil || w.Act == nil {
		return Claims{}, fmt.Errorf("%w: missing social or act", ErrClaims)
	}
	if p := c.problem(); p != "" {
		return Claims{}, fmt.Errorf("%w: %s", ErrClaims, p)
	}
	return c, nil
}

// checkHeaderNames refuses any protected header parameter other than alg, kid and typ
// (jku, jwk, x5u, x5c, crit, ...). go-jose has already parsed the header by the time
// this runs; it is read again here only for its member names, because go-jose keeps
// some members (x5c) where they cannot be seen.
func checkHeaderNames(token string) error {
	protected, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(protected)
	if err != nil {
		return ErrMalformed
	}
	var members map[string]josejson.RawMessage
	if err := josejson.Unmarshal(raw, &members); err != nil {
		return ErrMalformed
	}
	for name := range members {
		if !allowedHeaders[name] {
			return ErrForbiddenHeader
		}
	}
	return nil
}
