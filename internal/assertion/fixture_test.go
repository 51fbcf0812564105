package assertion

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// fixture is a keyring of one Ed25519 and one ES256 key with minters for each and a
// verifier over both, all on the fake clock t0.
type fixture struct {
	ed       ed25519.PrivateKey
	ec       *ecdsa.PrivateKey
	edKID    string
	ecKID    string
	ring     *Keyring // both keys, Ed25519 active
	mintEd   *Minter
	mintEC   *Minter
	verifier *Verifier
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	fx := fixture{ed: edKey(1), ec: ecKey(t, 2)}
	fx.ring = mustKeyring(t, 0, fx.ed, fx.ec)
	ringEC := mustKeyring(t, 1, fx.ed, fx.ec)
	fx.edKID, fx.ecKID = fx.ring.ActiveKeyID(), ringEC.ActiveKeyID()
	fx.mintEd = NewMinter(fx.ring, testIssuer, 0)
	fx.mintEC = NewMinter(ringEC, testIssuer, 0)
	fx.verifier = NewVerifier(fx.ring, testIssuer, fixedClock(t0))
	return fx
}

// resign signs the sample payload, changed by mutate, with the fixture's Ed25519 key
// under a correct header: a genuine signature over hostile claims.
func (fx fixture) resign(t testing.TB, mutate func(map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payloadOf(t, mustMint(t, fx.mintEd, sampleClaims())), &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return signRaw(t, fx.ed, jose.EdDSA, fx.edKID, TokenType, nil, payload)
}

// selfSignedDER returns a throwaway certificate for the x5c case.
func selfSignedDER(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "attacker"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

type hostileCase struct {
	name     string
	token    string
	audience string
	now      time.Time // zero: t0
	want     error
}

// hostileCases is the corpus of tokens Verify must refuse, with the error each gets.
// Where a signature is involved it is genuine, made with a key of the ring unless the
// case is about the key, so that each case fails for its own reason only.
func hostileCases(t testing.TB, fx fixture) []hostileCase {
	t.Helper()
	good := mustMint(t, fx.mintEd, sampleClaims())
	payload := payloadOf(t, good)
	parts := strings.Split(good, ".")

	edPub := fx.ed.Public().(ed25519.PublicKey)
	edPubPEM, err := x509.MarshalPKIXPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}

	other := mustKeyring(t, 0, edKey(9))
	otherMint := NewMinter(other, testIssuer, 0)
	evilIss := NewMinter(fx.ring, "https://evil.example", 0)

	future := sampleClaims()
	future.NotBefore = t0.Add(2 * time.Minute)

	multi, err := jose.NewMultiSigner([]jose.SigningKey{
		{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: fx.ed, KeyID: fx.edKID}},
		{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: fx.ec, KeyID: fx.ecKID}},
	}, (&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		t.Fatal(err)
	}
	twoSigs, err := multi.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	jsonSer := twoSigs.FullSerialize()

	headerOnly := func(h string) string { return b64(h) + "." + parts[1] + "." + parts[2] }
	withHeader := func(k jose.HeaderKey, v any) string {
		return signRaw(t, fx.ed, jose.EdDSA, fx.edKID, TokenType, map[jose.HeaderKey]any{k: v}, payload)
	}
	sig := []byte(parts[2])
	if sig[3] == 'A' { // still base64url, different bytes
		sig[3] = 'B'
	} else {
		sig[3] = 'A'
	}
	flipped := parts[0] + "." + parts[1] + "." + string(sig)

	return []hostileCase{
		{name: "alg none", token: b64(`{"alg":"none","kid":"`+fx.edKID+`","typ":"`+TokenType+`"}`) + "." + parts[1] + ".", want: ErrAlgorithm},
		{name: "alg none with signature", token: headerOnly(`{"alg":"none","kid":"` + fx.edKID + `","typ":"` + TokenType + `"}`), want: ErrAlgorithm},
		{name: "HS256 keyed with raw public key", token: signRaw(t, []byte(edPub), jose.HS256, fx.edKID, TokenType, nil, payload), want: ErrAlgorithm},
		{name: "HS256 keyed with SPKI public key", token: signRaw(t, edPubPEM, jose.HS256, fx.edKID, TokenType, nil, payload), want: ErrAlgorithm},
		{name: "HS256 keyed with JWKS", token: signRaw(t, fx.ring.JWKS(), jose.HS256, fx.edKID, TokenType, nil, payload), want: ErrAlgorithm},
		{name: "RS256 header", token: headerOnly(`{"alg":"RS256","kid":"` + fx.edKID + `","typ":"` + TokenType + `"}`), want: ErrAlgorithm},
		{name: "EdDSA header on ES256 key", token: signRaw(t, fx.ed, jose.EdDSA, fx.ecKID, TokenType, nil, payload), want: ErrAlgorithm},
		{name: "ES256 header on EdDSA key", token: signRaw(t, fx.ec, jose.ES256, fx.edKID, TokenType, nil, payload), want: ErrAlgorithm},
		{name: "wrong typ", token: signRaw(t, fx.ed, jose.EdDSA, fx.edKID, "JWT", nil, payload), want: ErrType},
		{name: "missing typ", token: signRaw(t, fx.ed, jose.EdDSA, fx.edKID, "", nil, payload), want: ErrType},
		{name: "typ not a string", token: headerOnly(`{"alg":"EdDSA","kid":"` + fx.edKID + `","typ":1}`), want: ErrType},
		{name: "jku header", token: withHeader("jku", "https://evil.example/jwks.json"), want: ErrForbiddenHeader},
		{name: "jwk header", token: withHeader("jwk", jose.JSONWebKey{Key: edPub}), want: ErrForbiddenHeader},
		{name: "x5u header", token: withHeader("x5u", "https://evil.example/cert.pem"), want: ErrForbiddenHeader},
		{name: "x5c header", token: withHeader("x5c", []string{base64.StdEncoding.EncodeToString(selfSignedDER(t, fx.ec))}), want: ErrForbiddenHeader},
		{name: "crit header", token: withHeader("crit", []string{"exp"}), want: ErrForbiddenHeader},
		{name: "cty header", token: withHeader("cty", "JWT"), want: ErrForbiddenHeader},
		{name: "unknown kid", token: mustMint(t, otherMint, sampleClaims()), want: ErrUnknownKey},
		{name: "missing kid", token: signRaw(t, fx.ed, jose.EdDSA, "", TokenType, nil, payload), want: ErrUnknownKey},
		{name: "flipped signature", token: flipped, want: ErrSignature},
		{name: "payload swapped", token: parts[0] + "." + b64(strings.Replace(string(payload), "cust-42", "cust-43", 1)) + "." + parts[2], want: ErrSignature},
		{name: "signature of other key", token: parts[0] + "." + parts[1] + "." + strings.Split(mustMint(t, otherMint, sampleClaims()), ".")[2], want: ErrSignature},
		{name: "wrong audience", token: good, audience: "billing", want: ErrAudience},
		{name: "empty audience argument", token: good, audience: "", want: ErrAudience},
		{name: "wrong issuer", token: mustMint(t, evilIss, sampleClaims()), want: ErrIssuer},
		{name: "expired beyond leeway", token: good, now: t0.Add(5*time.Minute + Leeway + time.Second), want: ErrExpired},
		{name: "nbf in future", token: mustMint(t, fx.mintEd, future), want: ErrNotYetValid},
		{name: "iat in future", token: good, now: t0.Add(-Leeway - time.Second), want: ErrNotYetValid},
		{name: "ver 2", token: fx.resign(t, func(m map[string]any) { m["ver"] = 2 }), want: ErrClaims},
		{name: "ver missing", token: fx.resign(t, func(m map[string]any) { delete(m, "ver") }), want: ErrClaims},
		{name: "acr unknown", token: fx.resign(t, func(m map[string]any) { m["acr"] = "urn:authsvc:acr:bogus" }), want: ErrClaims},
		{name: "exp missing", token: fx.resign(t, func(m map[string]any) { delete(m, "exp") }), want: ErrClaims},
		{name: "vid missing", token: fx.resign(t, func(m map[string]any) { delete(m, "vid") }), want: ErrClaims},
		{name: "act missing", token: fx.resign(t, func(m map[string]any) { delete(m, "act") }), want: ErrClaims},
		{name: "social missing", token: fx.resign(t, func(m map[string]any) { delete(m, "social") }), want: ErrClaims},
		{name: "amr empty", token: fx.resign(t, func(m map[string]any) { m["amr"] = []string{} }), want: ErrClaims},
		{name: "aud as string", token: fx.resign(t, func(m map[string]any) { m["aud"] = testAudience }), want: ErrMalformed},
		{name: "duplicate sub member", token: signRaw(t, fx.ed, jose.EdDSA, fx.edKID, TokenType, nil, []byte(`{"sub":"cust-1",`+string(payload[1:]))), want: ErrMalformed},
		{name: "payload not JSON", token: signRaw(t, fx.ed, jose.EdDSA, fx.edKID, TokenType, nil, []byte("hello")), want: ErrMalformed},
		{name: "two signatures JSON serialization", token: jsonSer, want: ErrMalformed},
		{name: "one signature JSON serialization", token: func() string {
			jws, err := jose.ParseSignedCompact(good, allowedAlgs)
			if err != nil {
				t.Fatal(err)
			}
			return jws.FullSerialize()
		}(), want: ErrMalformed},
		{name: "non-canonical signature encoding", token: func() string {
			// 64-byte signature: 86 characters, the last carrying 4 unused bits.
			last := good[len(good)-1]
			idx := strings.IndexByte(b64alphabet, last)
			return good[:len(good)-1] + string(b64alphabet[idx^1])
		}(), want: ErrMalformed},
		{name: "truncated to two parts", token: good[:strings.LastIndex(good, ".")], want: ErrMalformed},
		{name: "truncated mid-signature", token: good[:len(good)-6], want: ErrSignature}, // 80 chars: 60 bytes, canonical
		{name: "four parts", token: good + ".x", want: ErrMalformed},
		{name: "empty", token: "", want: ErrMalformed},
		{name: "dots", token: "..", want: ErrMalformed},
		{name: "garbage", token: "not a token at all", want: ErrMalformed},
		{name: "header without alg", token: headerOnly(`{"kid":"` + fx.edKID + `","typ":"` + TokenType + `"}`), want: ErrMalformed},
		{name: "header not JSON", token: headerOnly("{alg"), want: ErrMalformed},
		{name: "oversized", token: parts[0] + "." + b64(strings.Repeat(" ", MaxTokenSize)+string(payload)) + "." + parts[2], want: ErrTooLarge},
	}
}
