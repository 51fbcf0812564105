package assertion

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	testIssuer   = "https://authsvc.example"
	testAudience = "crm-panel"
)

// t0 is the fake clock's "now" for every test.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// Fixed keys, so that tokens (and fuzz corpora) are reproducible across runs.
func edKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func ecKey(t testing.TB, seed byte) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t testing.TB, active int, signers ...crypto.Signer) *Keyring {
	t.Helper()
	k, err := NewKeyring(signers, active)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sampleClaims are complete claims issued at t0.
func sampleClaims() Claims {
	return Claims{
		Subject:        "cust-42",
		Audience:       testAudience,
		IssuedAt:       t0,
		NotBefore:      t0,
		Expiry:         t0.Add(5 * time.Minute),
		AuthTime:       t0.Add(-10 * time.Second),
		ID:             "jti-0001",
		Level:          assurance.Low,
		AMR:            []string{assurance.AMROTP, assurance.AMRSMS},
		Network:        "x",
		UserID:         "1234567890",
		Handle:         "alice",
		ConversationID: "conv-9",
		AgentID:        "agent-7",
		Scopes:         []string{"orders:read", "address:read"},
		VerificationID: "ver-abc",
	}
}

func mustMint(t testing.TB, m *Minter, c Claims) string {
	t.Helper()
	tok, err := m.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// payloadOf returns the decoded payload segment of a compact token.
func payloadOf(t testing.TB, tok string) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw signs payload with key under alg with the given kid (omitted when empty),
// typ (omitted when empty) and extra protected headers: a way to produce tokens whose
// signature is genuine but whose header is hostile.
func signRaw(t testing.TB, key any, alg jose.SignatureAlgorithm, kid, typ string, extra map[jose.HeaderKey]any, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// b64 encodes a segment of a hand-made token.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
