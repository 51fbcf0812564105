package assertion

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// Keyring is the set of signing keys: every published key verifies, the active one
// signs. Which key is next, active or retired is computed from each key's metadata
// and the keyring's clock at every use (see the package documentation); Reload
// re-reads the key directory. A Keyring is safe for concurrent use.
type Keyring struct {
	dir  string // empty for NewKeyring
	opts KeyringOptions
	mu   sync.Mutex // serializes Reload and the computation of views
	set  atomic.Pointer[keySet]
	view atomic.Pointer[ringView]
	// lastSummary is the last state logged; guarded by mu.
	lastSummary string
}

type ringKey struct {
	kid    string
	name   string // file name without .pem; empty for NewKeyring
	file   string // path it was loaded from; empty for NewKeyring
	alg    jose.SignatureAlgorithm
	public crypto.PublicKey
	signer jose.Signer
	jwk    []byte    // the public JWK, as the JWKS lists it
	pub    PublicKey // the same, parsed
	// notBefore is when the key may start signing; zero: at any time.
	notBefore time.Time
	// retireAt is when it stops signing; zero: never.
	retireAt time.Time
	// seen is when this keyring first loaded the key, the start of its publication;
	// zero when the key was already due to sign when the keyring was opened.
	seen time.Time
	// stopped is when the key last signed, once that is past at a reload: the
	// history a later directory (with keys removed) cannot tell.
	stopped time.Time
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

// LoadKeyring is OpenKeyring with only the active key named (or pinned): active
// is the AUTHSVC_SIGNING_KEY_ACTIVE of the configuration, and may be empty.
func LoadKeyring(dir string, active string) (*Keyring, error) {
	return OpenKeyring(dir, KeyringOptions{Active: active})
}

// OpenKeyring reads every *.pem file in dir (each a PKCS#8 Ed25519 or ECDSA P-256
// private key, as EncodePEM writes) and its metadata file, if any (see
// [KeyMetadata]), into a Keyring. With opts.Active empty, the metadata decides
// which key signs; the keys must then have distinct not_before times and one of
// them must be due to sign now. Errors name the offending file, never its content.
func OpenKeyring(dir string, opts KeyringOptions) (*Keyring, error) {
	k := &Keyring{dir: dir, opts: opts.withDefaults()}
	set, err := k.readDir(nil)
	if err != nil {
		return nil, err
	}
	k.set.Store(set)
	return k, nil
}

// Reload re-reads the key directory. Keys already in the ring keep the time they
// were first seen; new keys are published from now, and may sign only PublishLead
// later. A key whose file is gone is dropped at once. On any error the ring keeps
// its keys and the error is returned. Reload does nothing for a NewKeyring ring.
func (k *Keyring) Reload() error {
	if k == nil || k.dir == "" {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	set, err := k.readDir(k.set.Load())
	if err != nil {
		return err
	}
	k.set.Store(set)
	k.view.Store(nil)
	return nil
}

// readDir loads the key directory into a key set; prev (nil on first load) gives
// the first-seen times of the keys already known.
func (k *Keyring) readDir(prev *keySet) (*keySet, error) {
	dir := k.dir
	paths, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		return nil, fmt.Errorf("assertion: key directory %q: %w", dir, err)
	}
	slices.Sort(paths)
	if len(paths) == 0 {
		return nil, fmt.Errorf("assertion: key directory %q has no *.pem files: %w", dir, ErrNoKeys)
	}
	now := k.opts.Now()
	var prevBounds []time.Time
	if prev != nil {
		prevBounds = prev.boundaries(k.opts.PublishLead)
	}
	keys := make([]*ringKey, 0, len(paths))
	for _, p := range paths {
		s, err := readKeyFile(p)
		if err != nil {
			return nil, fmt.Errorf("assertion: key file %q: %w", p, err)
		}
		rk, err := newRingKey(s)
		if err != nil {
			return nil, fmt.Errorf("assertion: key file %q: %w", p, err)
		}
		rk.name, rk.file = strings.TrimSuffix(filepath.Base(p), ".pem"), p
		meta := strings.TrimSuffix(p, ".pem") + ".json"
		if err := rk.readMetadata(meta); err != nil {
			return nil, fmt.Errorf("assertion: key metadata %q: %w", meta, err)
		}
		switch old := prev.key(rk.kid); {
		case old != nil:
			rk.seen = old.seen
			if stop, ok := prev.stop(old, k.opts.PublishLead, prevBounds); ok && !stop.After(now) {
				rk.stopped = stop
			}
		case prev != nil || rk.notBefore.After(now):
			rk.seen = now
		}
		keys = append(keys, rk)
	}
	var pin *ringKey
	active := k.opts.Active
	if active != "" {
		for _, rk := range keys {
			if rk.name != active && rk.kid != active {
				continue
			}
			if pin != nil && pin.kid != rk.kid {
				return nil, fmt.Errorf("assertion: active key %q: %w", active, ErrActiveKey)
			}
			pin = rk
		}
		if pin == nil {
			return nil, fmt.Errorf("assertion: active key %q: %w", active, ErrActiveKey)
		}
	}
	set, err := newKeySet(keys, pin)
	if err != nil {
		return nil, err
	}
	if pin == nil {
		if err := set.checkSchedule(now); err != nil {
			return nil, fmt.Errorf("assertion: key directory %q: %w", dir, err)
		}
		if set.signerAt(now, k.opts.PublishLead) == nil {
			return nil, fmt.Errorf("assertion: key directory %q: no key due to sign has been published for %s: %w",
				dir, k.opts.PublishLead, ErrActiveKey)
		}
	}
	return set, nil
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
// signs and every key is published, without end. It is meant for code and tests;
// deployments use OpenKeyring.
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
	set, err := newKeySet(keys, keys[active])
	if err != nil {
		return nil, err
	}
	k := &Keyring{opts: KeyringOptions{}.withDefaults()}
	k.set.Store(set)
	return k, nil
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
	jwk, err := json.Marshal(jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"})
	if err != nil {
		return nil, ErrUnsupportedKey
	}
	var parsed PublicKey
	if err := json.Unmarshal(jwk, &parsed); err != nil {
		return nil, ErrUnsupportedKey
	}
	return &ringKey{kid: kid, alg: alg, public: pub, signer: signer, jwk: jwk, pub: parsed}, nil
}

// ActiveKeyID returns the kid of the key that signs now ("" if none can).
func (k *Keyring) ActiveKeyID() string {
	if a := k.current().active; a != nil {
		return a.kid
	}
	return ""
}

// Has reports whether kid names a key published now.
func (k *Keyring) Has(kid string) bool { return k.key(kid) != nil }

// JWKS returns the JSON Web Key Set of the keys published now (kid, alg, use
// "sig"), ordered by kid so that every replica with the same keys serves the same
// bytes. The caller may modify the returned slice.
func (k *Keyring) JWKS() []byte { return slices.Clone(k.current().jwks) }

// JWKSETag returns a strong HTTP entity tag (quoted) for the bytes JWKS returns.
func (k *Keyring) JWKSETag() string { return k.current().etag }

// PublicKeys returns the keys published now, in JWKS order.
func (k *Keyring) PublicKeys() []PublicKey { return slices.Clone(k.current().public) }

// key returns the published key kid names, or nil (also for a nil Keyring).
func (k *Keyring) key(kid string) *ringKey {
	if k == nil {
		return nil
	}
	return k.current().byKID[kid]
}

// signer returns the key that signs now, or nil (also for a nil Keyring).
func (k *Keyring) signer() *ringKey {
	if k == nil {
		return nil
	}
	return k.current().active
}
