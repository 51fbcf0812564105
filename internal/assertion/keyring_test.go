package assertion

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestKeyringSeveralVerifyOneSigns(t *testing.T) {
	t.Parallel()
	keys := []crypto.Signer{edKey(1), ecKey(t, 2), edKey(3)}
	verifier := NewVerifier(mustKeyring(t, 0, keys...), testIssuer, fixedClock(t0))
	for active := range keys {
		ring := mustKeyring(t, active, keys...)
		tok := mustMint(t, NewMinter(ring, testIssuer, 0), sampleClaims())
		jws, err := jose.ParseSignedCompact(tok, allowedAlgs)
		if err != nil {
			t.Fatal(err)
		}
		if got := jws.Signatures[0].Header.KeyID; got != ring.ActiveKeyID() {
			t.Errorf("active %d: signed with kid %s, want %s", active, got, ring.ActiveKeyID())
		}
		if _, err := verifier.Verify(tok, testAudience); err != nil {
			t.Errorf("active %d: token refused by a ring whose active key differs: %v", active, err)
		}
	}
}

func TestKeyRemovedFromRingIsRefused(t *testing.T) {
	t.Parallel()
	a, b := edKey(1), ecKey(t, 2)
	tok := mustMint(t, NewMinter(mustKeyring(t, 0, a, b), testIssuer, 0), sampleClaims())
	after := NewVerifier(mustKeyring(t, 0, b), testIssuer, fixedClock(t0))
	if _, err := after.Verify(tok, testAudience); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("token of a removed key: %v, want ErrUnknownKey", err)
	}
}

func writePEM(t *testing.T, dir, name string, s crypto.Signer) {
	t.Helper()
	b, err := EncodePEM(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKeyring(t *testing.T) {
	t.Parallel()
	ed, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	ec, err := GenerateKey(AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	two := t.TempDir()
	writePEM(t, two, "2026-01.pem", ed)
	writePEM(t, two, "2026-02.pem", ec)
	if err := os.WriteFile(filepath.Join(two, "README"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err) // files not named *.pem are ignored
	}
	one := t.TempDir()
	writePEM(t, one, "only.pem", ed)

	ref := mustKeyring(t, 0, ed, ec)
	edKID := ref.ActiveKeyID()
	ecKID := mustKeyring(t, 1, ed, ec).ActiveKeyID()

	tests := []struct {
		name       string
		dir        string
		active     string
		wantActive string
		wantErr    error
	}{
		{"by file name", two, "2026-02", ecKID, nil},
		{"by kid", two, edKID, edKID, nil},
		{"single key needs no name", one, "", edKID, nil},
		{"two keys need a name", two, "", "", ErrActiveKey},
		{"unknown name", two, "2025-12", "", ErrActiveKey},
		{"empty directory", t.TempDir(), "", "", ErrNoKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := LoadKeyring(tt.dir, tt.active)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("LoadKeyring: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if k.ActiveKeyID() != tt.wantActive {
				t.Errorf("active kid %s, want %s", k.ActiveKeyID(), tt.wantActive)
			}
			tok := mustMint(t, NewMinter(k, testIssuer, 0), sampleClaims())
			if _, err := NewVerifier(ref, testIssuer, fixedClock(t0)).Verify(tok, testAudience); err != nil {
				t.Errorf("token from loaded ring refused by equivalent ring: %v", err)
			}
		})
	}
}

func TestLoadKeyringRefusesBadFiles(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	good, err := EncodePEM(edKey(1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		want    error
	}{
		{"not PEM", []byte("hello, this is not a key"), ErrKeyFile},
		{"RSA PKCS#8", pkcs8(rsaKey), ErrUnsupportedKey},
		{"ECDSA P-384", pkcs8(p384), ErrUnsupportedKey},
		{"SEC1 EC key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ErrKeyFile},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}), ErrKeyFile},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage!")}), ErrKeyFile},
		{"two blocks", append(slices.Clone(good), good...), ErrKeyFile},
		{"same key twice", good, ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a-good.pem"), good, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "bad-key.pem"), tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyring(dir, "a-good")
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadKeyring: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "bad-key.pem") {
				t.Errorf("error does not name the file: %v", err)
			}
			if block, _ := pem.Decode(tt.content); block != nil && len(block.Bytes) >= 6 {
				if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(block.Bytes)[:8]) {
					t.Errorf("error carries key material: %v", err)
				}
			}
			if strings.Contains(err.Error(), "hello") {
				t.Errorf("error carries file content: %v", err)
			}
		})
	}
}

func TestGenerateAndEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg     string
		wantAlg string
		wantErr error
	}{
		{"", AlgEdDSA, nil},
		{AlgEdDSA, AlgEdDSA, nil},
		{AlgES256, AlgES256, nil},
		{"RS256", "", ErrUnsupportedAlgorithm},
		{"HS256", "", ErrUnsupportedAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			t.Parallel()
			s, err := GenerateKey(tt.alg)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("GenerateKey: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			b, err := EncodePEM(s)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(b)
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("EncodePEM wrote %q", b)
			}
			back, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !back.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
				t.Error("PEM round trip changed the key")
			}
			k := mustKeyring(t, 0, s)
			if got := k.PublicKeys()[0].Algorithm; got != tt.wantAlg {
				t.Errorf("alg %s, want %s", got, tt.wantAlg)
			}
		})
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EncodePEM(rsaKey); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("EncodePEM(RSA): %v", err)
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		signers []crypto.Signer
		active  int
		want    error
	}{
		{"no keys", nil, 0, ErrNoKeys},
		{"active out of range", []crypto.Signer{edKey(1)}, 1, ErrActiveKey},
		{"negative active", []crypto.Signer{edKey(1)}, -1, ErrActiveKey},
		{"nil signer", []crypto.Signer{nil}, 0, ErrUnsupportedKey},
		{"P-384", []crypto.Signer{p384}, 0, ErrUnsupportedKey},
		{"duplicate", []crypto.Signer{edKey(1), edKey(1)}, 0, ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewKeyring(tt.signers, tt.active); !errors.Is(err, tt.want) {
				t.Fatalf("NewKeyring: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	keys := []crypto.Signer{edKey(1), ecKey(t, 2), edKey(3), ecKey(t, 4)}
	ring := mustKeyring(t, 2, keys...)
	doc := ring.JWKS()

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != len(keys) {
		t.Fatalf("JWKS has %d keys, want %d", len(set.Keys), len(keys))
	}
	for _, s := range keys {
		tp, err := (&jose.JSONWebKey{Key: s.Public()}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		kid := base64.RawURLEncoding.EncodeToString(tp)
		found := set.Key(kid)
		if len(found) != 1 {
			t.Fatalf("kid %s appears %d times", kid, len(found))
		}
		jwk := found[0]
		if !jwk.IsPublic() || jwk.Use != "sig" {
			t.Errorf("kid %s: public %v use %q", kid, jwk.IsPublic(), jwk.Use)
		}
		if !jwk.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
			t.Errorf("kid %s: key differs", kid)
		}
		wantAlg := AlgEdDSA
		if _, ok := s.Public().(*ecdsa.PublicKey); ok {
			wantAlg = AlgES256
		}
		if jwk.Algorithm != wantAlg {
			t.Errorf("kid %s: alg %s, want %s", kid, jwk.Algorithm, wantAlg)
		}
	}

	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, m := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := m[private]; ok {
				t.Errorf("JWKS entry has private member %q", private)
			}
		}
		kids = append(kids, m["kid"].(string))
	}
	if !slices.IsSorted(kids) {
		t.Errorf("JWKS not ordered by kid: %v", kids)
	}

	// Stable: the same keys in another order with another active key give the same
	// bytes and ETag; other keys give another ETag.
	shuffled := mustKeyring(t, 0, keys[3], keys[1], keys[0], keys[2])
	if !bytes.Equal(shuffled.JWKS(), doc) || shuffled.JWKSETag() != ring.JWKSETag() {
		t.Error("JWKS or ETag depends on key order or active key")
	}
	if mustKeyring(t, 0, keys[0]).JWKSETag() == ring.JWKSETag() {
		t.Error("ETag did not change with the key set")
	}
	if tag := ring.JWKSETag(); len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		t.Errorf("ETag %q is not a quoted strong tag", tag)
	}
	// The returned document is a copy.
	doc[0] = 'X'
	if ring.JWKS()[0] == 'X' {
		t.Error("JWKS returned the ring's own buffer")
	}

	pks := ring.PublicKeys()
	if len(pks) != len(keys) {
		t.Fatalf("PublicKeys: %d", len(pks))
	}
	for i, pk := range pks {
		if pk.KeyID != kids[i] || pk.Use != "sig" || pk.X == "" {
			t.Errorf("PublicKeys[%d] = %+v", i, pk)
		}
		switch pk.Algorithm {
		case AlgEdDSA:
			if pk.KeyType != "OKP" || pk.Curve != "Ed25519" || pk.Y != "" {
				t.Errorf("Ed25519 key %+v", pk)
			}
			if x, _ := base64.RawURLEncoding.DecodeString(pk.X); len(x) != ed25519.PublicKeySize {
				t.Errorf("Ed25519 x has %d bytes", len(x))
			}
		case AlgES256:
			if pk.KeyType != "EC" || pk.Curve != "P-256" || pk.Y == "" {
				t.Errorf("P-256 key %+v", pk)
			}
		default:
			t.Errorf("alg %q", pk.Algorithm)
		}
	}
}
