package assertion_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// A care tool (CRM panel, order lookup, ...) checks an authsvc assertion on its own,
// with the JWKS from /.well-known/jwks.json and a standard JWT library. It must pin:
// the algorithms (EdDSA, ES256), the typ header, the key's own alg, the issuer, its
// own audience and the expiry. Cache the JWKS by its ETag and refetch on an unknown kid.
func Example_careToolVerifies() {
	// --- authsvc side (normally: the service; here: a fixed key and clock) ---
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))
	ring, _ := assertion.NewKeyring([]crypto.Signer{key}, 0)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	token, err := assertion.NewMinter(ring, "https://authsvc.example", 0).Mint(assertion.Claims{
		Subject: "cust-42", Audience: "order-lookup",
		IssuedAt: now, NotBefore: now, Expiry: now.Add(5 * time.Minute), AuthTime: now,
		ID: "a1", Level: assurance.Low, AMR: []string{assurance.AMROTP, assurance.AMRSMS},
		Network: "x", UserID: "1234", Handle: "alice",
		ConversationID: "conv-9", AgentID: "agent-7", Scopes: []string{"orders:read"},
		VerificationID: "v-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	jwksJSON := ring.JWKS() // what GET /.well-known/jwks.json serves

	// --- care tool side: only jwksJSON, the token and a JWT library ---
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(jwksJSON, &jwks); err != nil {
		fmt.Println(err)
		return
	}
	keyfunc := func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "authsvc-assertion+jwt" {
			return nil, errors.New("not an authsvc assertion")
		}
		kid, _ := t.Header["kid"].(string)
		keys := jwks.Key(kid)
		if len(keys) != 1 || keys[0].Algorithm != t.Method.Alg() {
			return nil, errors.New("unknown key")
		}
		return keys[0].Key, nil
	}
	var claims struct {
		jwt.RegisteredClaims
		ACR string `json:"acr"`
		Act struct {
			Sub string `json:"sub"`
		} `json:"act"`
		Scope string `json:"scope"`
	}
	_, err = jwt.ParseWithClaims(token, &claims, keyfunc,
		jwt.WithValidMethods([]string{"EdDSA", "ES256"}),
		jwt.WithIssuer("https://authsvc.example"),
		jwt.WithAudience("order-lookup"),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(time.Minute),
		jwt.WithTimeFunc(func() time.Time { return now.Add(2 * time.Minute) }), // omit in real code
	)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println("customer:", claims.Subject)
	fmt.Println("level:", claims.ACR)
	fmt.Println("agent:", claims.Act.Sub)
	fmt.Println("scope:", claims.Scope)
	// Output:
	// customer: cust-42
	// level: urn:authsvc:acr:low
	// agent: agent-7
	// scope: orders:read
}

// Inside authsvc (or a tool that calls AssertionService), Verifier does all the checks.
func ExampleVerifier_Verify() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))
	ring, _ := assertion.NewKeyring([]crypto.Signer{key}, 0)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	minter := assertion.NewMinter(ring, "https://authsvc.example", 0)
	token, _ := minter.Mint(assertion.Claims{
		Subject: "cust-42", Audience: "order-lookup",
		IssuedAt: now, NotBefore: now, Expiry: now.Add(minter.Lifetime()), AuthTime: now,
		ID: "a1", Level: assurance.High, AMR: []string{assurance.AMRHWK, assurance.AMRUser},
		Network: "x", UserID: "1234", ConversationID: "conv-9", AgentID: "agent-7",
		VerificationID: "v-1",
	})

	clock := func() time.Time { return now.Add(time.Minute) }
	v := assertion.NewVerifier(ring, "https://authsvc.example", clock)
	c, err := v.Verify(token, "order-lookup")
	fmt.Println(c.Subject, c.Level, err)

	_, err = v.Verify(token, "billing")
	fmt.Println(errors.Is(err, assertion.ErrInvalid), errors.Is(err, assertion.ErrAudience))
	// Output:
	// cust-42 high <nil>
	// true true
}
