package assertion

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// Signature algorithm names, as they appear in alg headers and in GenerateKey.
const (
	AlgEdDSA = string(jose.EdDSA)
	AlgES256 = string(jose.ES256)
)

// allowedAlgs is the parse-time allow-list; each key further narrows it to its own alg.
var allowedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// Keyring is an immutable set of signing keys: all verify, the active one signs.
type Keyring struct {
	keys   []*ringKey // sorted by kid
	byKID  map[string]*ringKey
	active *ringKey
	jwks   []byte
	etag   string
	public []PublicKey
}

type ringKey struct {
	kid    string
	name   string // file name without .pem; empty for NewKeyring
	file   string // path it was loaded from; empty for NewKeyring
	alg    jose.SignatureAlgorithm
	public crypto.PublicKey
	signer jose.Signer
}

// PublicKey is one public key of the ring in JWK terms (RFC 7517/7518/8037), with the
// base64url members as strings. Y is empty for Ed25519 (kty OKP).
type PublicKey struct {
	KeyID     string `json:"kid"`
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	Y         string `json:"y"`
	Algorithm string `json:"alg"`
	Use       string `json:"use"`
}

// GenerateKey returns a new private key for alg: "EdDSA" (the default, also for "")
// or "ES256".
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "", AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("assertion: generate key: %w", err)
		}
		return priv, nil
	case AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("assertion: generate key: %w", err)
		}
		return priv, nil
	}
	return nil, ErrUnsupportedAlgorithm
}

// EncodePEM returns s as a PKCS#8 "PRIVATE KEY" PEM block, the format LoadKeyring
// reads. s must be an ed25519.PrivateKey or an *ecdsa.PrivateKey on P-256.
func EncodePEM(s crypto.Signer) ([]byte, error) {
	switch k := s.(type) {
	case ed25519.PrivateKey, *ed25519.PrivateKey:
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve != elliptic.P256() {
			return nil, ErrUnsupportedKey
		}
	default:
		return nil, ErrUnsupportedKey
	}
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		return nil, ErrUnsupportedKey
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadKeyring reads every *.pem file in dir (each a PKCS#8 Ed25519 or ECDSA P-256
// private key, as EncodePEM writes) into a Keyring. active names the signing key by
// file name without ".pem" or by kid; when active is empty, dir must hold exactly one
// key. Errors name the offending file, never its content.
func LoadKeyring(dir string, active string) (*Keyring, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		return nil, fmt.Errorf("assertion: key directory %q: %w", dir, err)
	}
	slices.Sort(paths)
	if len(paths) == 0 {
		return nil, fmt.Errorf("assertion: key directory %q has no *.pem files: %w", dir, ErrNoKeys)
	}
	keys := make([]*ringKey, 0, len(paths))
	for _, p := range paths {
		s, err := readKeyFile(p)
		if err != nil {
			return nil, fmt.Errorf("assertion: key file %q: %w", p, err)
		}
		k, err := newRingKey(s)
		if err != nil {
			return nil, fmt.Errorf("assertion: key file %q: %w", p, err)
		}
		k.name, k.file = strings.TrimSuffix(filepath.Base(p), ".pem"), p
		keys = append(keys, k)
	}
	var chosen *ringKey
	switch {
	case active == "" && len(keys) == 1:
		chosen = keys[0]
	case active == "":
		return nil, fmt.Errorf("assertion: %d keys in %q and no active key named: %w", len(keys), dir, ErrActiveKey)
	default:
		for _, k := range keys {
			if k.name != active && k.kid != active {
				continue
			}
			if chosen != nil && chosen.kid != k.kid {
				return nil, fmt.Errorf("assertion: active key %q: %w", active, ErrActiveKey)
			}
			chosen = k
		}
		if chosen == nil {
			return nil, fmt.Errorf("assertion: active key %q: %w", active, ErrActiveKey)
		}
	}
	return newKeyring(keys, chosen)
}

// readKeyFile parses a file holding exactly one PKCS#8 private key PEM block. Errors
// never carry the file's bytes.
func readKeyFile(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, ErrKeyFile
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, ErrKeyFile
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, ErrUnsupportedKey
	}
	return s, nil
}

// NewKeyring builds a Keyring from signers (Ed25519 or ECDSA P-256); signers[active]
// signs. It is meant for code and tests; deployments use LoadKeyring.
func NewKeyring(signers []crypto.Signer, active int) (*Keyring, error) {
	if len(signers) == 0 {
		return nil, ErrNoKeys
	}
	if active < 0 || active >= len(signers) {
		return nil, ErrActiveKey
	}
	keys := make([]*ringKey, 0, len(signers))
	for i, s := range signers {
		if s == nil {
			return nil, fmt.Errorf("assertion: signer %d: %w", i, ErrUnsupportedKey)
		}
		k, err := newRingKey(s)
		if err != nil {
			return nil, fmt.Errorf("assertion: signer %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return newKeyring(keys, keys[active])
}

// newRingKey derives alg and kid from s and prepares its JOSE signer.
func newRingKey(s crypto.Signer) (*ringKey, error) {
	pub := s.Public()
	var alg jose.SignatureAlgorithm
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, ErrUnsupportedKey
		}
		alg = jose.EdDSA
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return nil, ErrUnsupportedKey
		}
		alg = jose.ES256
	default:
		return nil, ErrUnsupportedKey
	}
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, ErrUnsupportedKey
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: cryptosigner.Opaque(s), KeyID: kid, Algorithm: string(alg)}},
		(&jose.SignerOptions{}).WithType(TokenType),
	)
	if err != nil {
		return nil, ErrUnsupportedKey
	}
	return &ringKey{kid: kid, alg: alg, public: pub, signer: signer}, nil
}

func newKeyring(keys []*ringKey, active *ringKey) (*Keyring, error) {
	k := &Keyring{byKID: make(map[string]*ringKey, len(keys)), active: active}
	for _, rk := range keys {
		if _, dup := k.byKID[rk.kid]; dup {
			if rk.file != "" {
				return nil, fmt.Errorf("assertion: key file %q repeats key %s: %w", rk.file, rk.kid, ErrDuplicateKey)
			}
			return nil, fmt.Errorf("assertion: key %s: %w", rk.kid, ErrDuplicateKey)
		}
		k.byKID[rk.kid] = rk
	}
	k.keys = slices.Clone(keys)
	slices.SortFunc(k.keys, func(a, b *ringKey) int { return strings.Compare(a.kid, b.kid) })

	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(k.keys))}
	for _, rk := range k.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: rk.public, KeyID: rk.kid, Algorithm: string(rk.alg), Use: "sig"})
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("assertion: encode JWKS: %w", err)
	}
	var parsed struct {
		Keys []PublicKey `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		return nil, fmt.Errorf("assertion: encode JWKS: %w", err)
	}
	sum := sha256.Sum256(doc)
	k.jwks = doc
	k.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	k.public = parsed.Keys
	return k, nil
}

// ActiveKeyID returns the kid of the key that signs.
func (k *Keyring) ActiveKeyID() string { return k.active.kid }

// Has reports whether kid names a key in the ring.
func (k *Keyring) Has(kid string) bool {
	_, ok := k.byKID[kid]
	return ok
}

// JWKS returns the JSON Web Key Set of the ring's public keys (kid, alg, use "sig"),
// ordered by kid so that every replica with the same keys serves the same bytes.
// The caller may modify the returned slice.
func (k *Keyring) JWKS() []byte { return slices.Clone(k.jwks) }

// JWKSETag returns a strong HTTP entity tag (quoted) for the bytes JWKS returns.
func (k *Keyring) JWKSETag() string { return k.etag }

// PublicKeys returns the ring's public keys in JWKS order.
func (k *Keyring) PublicKeys() []PublicKey { return slices.Clone(k.public) }

// key returns the ring key kid names, or nil (also for a nil Keyring).
func (k *Keyring) key(kid string) *ringKey {
	if k == nil {
		return nil
	}
	return k.byKID[kid]
}
