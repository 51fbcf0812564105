package assertion

import (
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify feeds arbitrary strings to Verify. Seeds are real assertions of both
// algorithms and the hostile corpus. Verify must never panic; every refusal must wrap
// ErrInvalid without echoing the input; and anything it accepts must be exactly what
// Mint would produce from the returned claims (byte for byte for Ed25519), i.e. the
// verifier accepts nothing the minter did not make.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	f.Add(mustMint(f, fx.mintEd, sampleClaims()))
	f.Add(mustMint(f, fx.mintEC, sampleClaims()))
	noOptional := sampleClaims()
	noOptional.Handle, noOptional.Scopes = "", nil
	f.Add(mustMint(f, fx.mintEd, noOptional))
	for _, h := range hostileCases(f, fx) {
		f.Add(h.token)
	}

	f.Fuzz(func(t *testing.T, token string) {
		c, err := fx.verifier.Verify(token, testAudience)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if len(token) >= 16 && strings.Contains(err.Error(), token) {
				t.Fatalf("error echoes the token")
			}
			return
		}
		jws, err := jose.ParseSignedCompact(token, allowedAlgs)
		if err != nil {
			t.Fatalf("accepted a token go-jose cannot parse: %v", err)
		}
		kid := jws.Signatures[0].Header.KeyID
		again, err := NewMinter(fx.ring, testIssuer, 0).MintWithKey(kid, c)
		if err != nil {
			t.Fatalf("accepted claims that Mint refuses: %v", err)
		}
		if kid == fx.edKID && again != token {
			t.Fatalf("accepted an Ed25519 token Mint would not produce")
		}
		if _, err := fx.verifier.Verify(again, testAudience); err != nil {
			t.Fatalf("re-minted token refused: %v", err)
		}
	})
}
