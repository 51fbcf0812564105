package assertion_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// careToolClaims is what a care tool reads from an assertion with a generic library.
type careToolClaims struct {
	jwt.RegisteredClaims
	ACR    string   `json:"acr"`
	AMR    []string `json:"amr"`
	Social struct {
		Network string `json:"network"`
		UserID  string `json:"user_id"`
		Handle  string `json:"handle"`
	} `json:"social"`
	ConversationID string `json:"conversation_id"`
	Act            struct {
		Sub string `json:"sub"`
	} `json:"act"`
	Scope string `json:"scope"`
	VID   string `json:"vid"`
	Ver   int    `json:"ver"`
}

// jwksKeyfunc returns a golang-jwt Keyfunc over a JWKS document, as a care tool would
// write it: the key is found by kid, and the token's alg must be the key's alg.
func jwksKeyfunc(jwks []byte) (jwt.Keyfunc, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	return func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != assertion.TokenType {
			return nil, errors.New("not an authsvc assertion")
		}
		kid, _ := tok.Header["kid"].(string)
		keys := set.Key(kid)
		if len(keys) != 1 {
			return nil, errors.New("unknown kid")
		}
		if keys[0].Algorithm != tok.Method.Alg() {
			return nil, errors.New("alg does not match key")
		}
		return keys[0].Key, nil
	}, nil
}

func careToolParse(jwks []byte, token, issuer, audience string, now time.Time) (*careToolClaims, error) {
	keyfunc, err := jwksKeyfunc(jwks)
	if err != nil {
		return nil, err
	}
	var c careToolClaims
	_, err = jwt.ParseWithClaims(token, &c, keyfunc,
		jwt.WithValidMethods([]string{"EdDSA", "ES256"}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// TestInteropGolangJWT proves that a care tool holding only the JWKS JSON verifies
// assertions with an independent JWT library (golang-jwt), for both algorithms.
func TestInteropGolangJWT(t *testing.T) {
	t.Parallel()
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const iss, aud = "https://authsvc.example", "order-lookup"
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	claims := assertion.Claims{
		Subject: "cust-42", Audience: aud,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(5 * time.Minute), AuthTime: now,
		ID: "jti-1", Level: assurance.Substantial, AMR: []string{assurance.AMROTP},
		Network: "messenger", UserID: "99", Handle: "alice",
		ConversationID: "conv-1", AgentID: "agent-3",
		Scopes: []string{"orders:read"}, VerificationID: "v-1",
	}
	for active, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ring, err := assertion.NewKeyring([]crypto.Signer{ed, ec}, active)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := assertion.NewMinter(ring, iss, 0).Mint(claims)
			if err != nil {
				t.Fatal(err)
			}
			jwks := ring.JWKS()

			got, err := careToolParse(jwks, tok, iss, aud, now.Add(time.Minute))
			if err != nil {
				t.Fatalf("golang-jwt refused a good assertion: %v", err)
			}
			if got.Subject != "cust-42" || got.ACR != assurance.ACRSubstantial || got.Act.Sub != "agent-3" ||
				got.Social.Handle != "alice" || got.Scope != "orders:read" || got.VID != "v-1" || got.Ver != 1 ||
				got.ID != "jti-1" || !got.ExpiresAt.Equal(now.Add(5*time.Minute)) {
				t.Errorf("golang-jwt read %+v", got)
			}

			refusals := []struct {
				name     string
				iss, aud string
				now      time.Time
			}{
				{"wrong audience", iss, "billing", now},
				{"wrong issuer", "https://evil.example", aud, now},
				{"expired", iss, aud, now.Add(10 * time.Minute)},
			}
			for _, r := range refusals {
				if _, err := careToolParse(jwks, tok, r.iss, r.aud, r.now); err == nil {
					t.Errorf("%s: golang-jwt accepted", r.name)
				}
			}
			other, err := assertion.NewKeyring([]crypto.Signer{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := careToolParse(other.JWKS(), tok, iss, aud, now); err == nil {
				t.Error("golang-jwt accepted a token against a JWKS without its key")
			}
		})
	}
}

// TestInteropGolangJWTRejectsAlgSwitch checks the keyfunc recipe in the example: a
// token naming an ES256 key but signed EdDSA is refused by the care tool too.
func TestInteropGolangJWTRejectsAlgSwitch(t *testing.T) {
	t.Parallel()
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := assertion.NewKeyring([]crypto.Signer{ed, ec}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ecKID string
	for _, pk := range ring.PublicKeys() {
		if pk.Algorithm == "ES256" {
			ecKID = pk.KeyID
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "x", "exp": 2e9})
	tok.Header["kid"], tok.Header["typ"] = ecKID, assertion.TokenType
	s, err := tok.SignedString(ed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := careToolParse(ring.JWKS(), s, "", "", time.Unix(1e9, 0)); !errors.Is(err, jwt.ErrTokenUnverifiable) {
		t.Fatalf("care tool: %v, want its keyfunc to refuse the alg switch", err)
	}
	_, err = assertion.NewVerifier(ring, "https://authsvc.example", nil).Verify(s, "x")
	if !errors.Is(err, assertion.ErrAlgorithm) {
		t.Fatalf("Verify: %v, want ErrAlgorithm", err)
	}
}
