package assertion

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
)

// sameClaims compares claims, times by instant.
func sameClaims(t *testing.T, got, want Claims) {
	t.Helper()
	times := func(c *Claims) []time.Time {
		ts := []time.Time{c.IssuedAt, c.NotBefore, c.Expiry, c.AuthTime}
		c.IssuedAt, c.NotBefore, c.Expiry, c.AuthTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		return ts
	}
	gt, wt := times(&got), times(&want)
	for i := range gt {
		if !gt[i].Equal(wt[i]) {
			t.Errorf("time %d = %v, want %v", i, gt[i], wt[i])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %+v\nwant     %+v", got, want)
	}
}

func TestMintVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	noOptional := sampleClaims()
	noOptional.Handle, noOptional.Scopes = "", nil
	high := sampleClaims()
	high.Level, high.AMR = assurance.High, []string{assurance.AMRHWK, assurance.AMRUser}
	tests := []struct {
		name   string
		minter *Minter
		alg    string
		claims Claims
	}{
		{"EdDSA", fx.mintEd, AlgEdDSA, sampleClaims()},
		{"ES256", fx.mintEC, AlgES256, sampleClaims()},
		{"EdDSA without handle and scopes", fx.mintEd, AlgEdDSA, noOptional},
		{"ES256 high", fx.mintEC, AlgES256, high},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := mustMint(t, tt.minter, tt.claims)
			head, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if !strings.Contains(string(head), `"alg":"`+tt.alg+`"`) {
				t.Errorf("header %s, want alg %s", head, tt.alg)
			}
			got, err := fx.verifier.Verify(tok, testAudience)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			sameClaims(t, got, tt.claims)
		})
	}
}

// TestWireFormat pins the exact header and payload bytes other teams rely on.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	c := sampleClaims()
	c.IssuedAt = c.IssuedAt.Add(900 * time.Millisecond) // truncated to the second
	tok := mustMint(t, fx.mintEd, c)
	parts := strings.Split(tok, ".")
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	wantHead := `{"alg":"EdDSA","kid":"` + fx.edKID + `","typ":"authsvc-assertion+jwt"}`
	if string(head) != wantHead {
		t.Errorf("header\n got %s\nwant %s", head, wantHead)
	}
	exp, auth := t0.Add(5*time.Minute).Unix(), t0.Add(-10*time.Second).Unix()
	wantPayload := `{"iss":"https://authsvc.example","sub":"cust-42","aud":["crm-panel"],` +
		`"iat":1773500966,"nbf":1773500966,"exp":1773501266,"jti":"jti-0001","auth_time":1773500956,` +
		`"acr":"urn:authsvc:acr:low","amr":["otp","sms"],` +
		`"social":{"network":"x","user_id":"1234567890","handle":"alice"},"conversation_id":"conv-9",` +
		`"act":{"sub":"agent-7"},"scope":"orders:read address:read","vid":"ver-abc","ver":1}`
	if t0.Unix() != 1773500966 || exp != 1773501266 || auth != 1773500956 {
		t.Fatalf("fixture clock moved: %d %d %d", t0.Unix(), exp, auth)
	}
	if got := string(payloadOf(t, tok)); got != wantPayload {
		t.Errorf("payload\n got %s\nwant %s", got, wantPayload)
	}

	c.Handle, c.Scopes = "", nil
	p := string(payloadOf(t, mustMint(t, fx.mintEd, c)))
	if strings.Contains(p, `"handle"`) || strings.Contains(p, `"scope"`) {
		t.Errorf("optional members not omitted: %s", p)
	}
}

func TestMintDeterministic(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	c := sampleClaims()
	a, b := mustMint(t, fx.mintEd, c), mustMint(t, fx.mintEd, c)
	if a != b {
		t.Fatal("two Ed25519 mints of the same claims differ")
	}
	// A separately built keyring and minter over the same key (another replica).
	other := NewMinter(mustKeyring(t, 0, edKey(1)), testIssuer, 0)
	if got := mustMint(t, other, c); got != a {
		t.Fatal("another replica minted different bytes")
	}
	// Claims that verified re-mint to the same token.
	verified, err := fx.verifier.Verify(a, testAudience)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustMint(t, fx.mintEd, verified); got != a {
		t.Fatal("re-minting verified claims changed the token")
	}
	// ES256 signatures are randomized, but both verify.
	e1, e2 := mustMint(t, fx.mintEC, c), mustMint(t, fx.mintEC, c)
	for _, tok := range []string{e1, e2} {
		if _, err := fx.verifier.Verify(tok, testAudience); err != nil {
			t.Errorf("ES256 mint: %v", err)
		}
	}
}

func TestMintWithKey(t *testing.T) {
	t.Parallel()
	a, b := edKey(1), edKey(3)
	c := sampleClaims()
	before := NewMinter(mustKeyring(t, 0, a), testIssuer, 0)
	first := mustMint(t, before, c)
	kidA := before.KeyID()

	rotated := mustKeyring(t, 1, a, b) // b now signs, a still verifies
	after := NewMinter(rotated, testIssuer, 0)
	retired := mustKeyring(t, 0, b) // a removed
	afterRetire := NewMinter(retired, testIssuer, 0)

	tests := []struct {
		name    string
		m       *Minter
		kid     string
		wantKID string
		same    bool
	}{
		{"kid still in ring keeps the original bytes", after, kidA, kidA, true},
		{"kid removed falls back to active", afterRetire, kidA, afterRetire.KeyID(), false},
		{"empty kid uses active", after, "", after.KeyID(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := tt.m.MintWithKey(tt.kid, c)
			if err != nil {
				t.Fatal(err)
			}
			if (tok == first) != tt.same {
				t.Errorf("same bytes as first mint = %v, want %v", tok == first, tt.same)
			}
			head, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if !strings.Contains(string(head), `"kid":"`+tt.wantKID+`"`) {
				t.Errorf("header %s, want kid %s", head, tt.wantKID)
			}
			v := NewVerifier(tt.m.ring, testIssuer, fixedClock(t0))
			got, err := v.Verify(tok, testAudience)
			if err != nil {
				t.Fatal(err)
			}
			sameClaims(t, got, c)
		})
	}
}

func TestMintRefusesIncompleteClaims(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	tests := []struct {
		name   string
		mutate func(*Claims)
		want   error
	}{
		{"no subject", func(c *Claims) { c.Subject = "" }, ErrIncompleteClaims},
		{"no audience", func(c *Claims) { c.Audience = "" }, ErrIncompleteClaims},
		{"no jti", func(c *Claims) { c.ID = "" }, ErrIncompleteClaims},
		{"no level", func(c *Claims) { c.Level = 0 }, ErrIncompleteClaims},
		{"level out of range", func(c *Claims) { c.Level = assurance.High + 1 }, ErrIncompleteClaims},
		{"no amr", func(c *Claims) { c.AMR = nil }, ErrIncompleteClaims},
		{"empty amr value", func(c *Claims) { c.AMR = []string{""} }, ErrIncompleteClaims},
		{"no network", func(c *Claims) { c.Network = "" }, ErrIncompleteClaims},
		{"no user id", func(c *Claims) { c.UserID = "" }, ErrIncompleteClaims},
		{"no conversation", func(c *Claims) { c.ConversationID = "" }, ErrIncompleteClaims},
		{"no agent", func(c *Claims) { c.AgentID = "" }, ErrIncompleteClaims},
		{"no verification id", func(c *Claims) { c.VerificationID = "" }, ErrIncompleteClaims},
		{"scope with space", func(c *Claims) { c.Scopes = []string{"a b"} }, ErrIncompleteClaims},
		{"empty scope", func(c *Claims) { c.Scopes = []string{""} }, ErrIncompleteClaims},
		{"invalid UTF-8", func(c *Claims) { c.Handle = "\xff" }, ErrIncompleteClaims},
		{"no iat", func(c *Claims) { c.IssuedAt = time.Time{} }, ErrIncompleteClaims},
		{"no auth_time", func(c *Claims) { c.AuthTime = time.Time{} }, ErrIncompleteClaims},
		{"exp before iat", func(c *Claims) { c.Expiry = c.IssuedAt.Add(-time.Second) }, ErrIncompleteClaims},
		{"exp equals nbf", func(c *Claims) { c.NotBefore = c.Expiry }, ErrIncompleteClaims},
		{"auth_time after iat", func(c *Claims) { c.AuthTime = c.IssuedAt.Add(time.Second) }, ErrIncompleteClaims},
		{"beyond lifetime", func(c *Claims) { c.Expiry = c.IssuedAt.Add(DefaultLifetime + time.Second) }, ErrIncompleteClaims},
		{"too large", func(c *Claims) { c.Subject = strings.Repeat("s", MaxTokenSize) }, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sampleClaims()
			tt.mutate(&c)
			_, err := fx.mintEd.Mint(c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Mint error = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := NewMinter(fx.ring, "", 0).Mint(sampleClaims()); !errors.Is(err, ErrIncompleteClaims) {
		t.Errorf("empty issuer: %v", err)
	}
	if got := NewMinter(fx.ring, testIssuer, 0).Lifetime(); got != DefaultLifetime {
		t.Errorf("default lifetime %v", got)
	}
	short := NewMinter(fx.ring, testIssuer, time.Minute)
	if _, err := short.Mint(sampleClaims()); !errors.Is(err, ErrIncompleteClaims) {
		t.Errorf("5 min assertion from a 1 min minter: %v", err)
	}
}

func TestVerifyRefusesHostileTokens(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	for _, tt := range hostileCases(t, fx) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := t0
			if !tt.now.IsZero() {
				now = tt.now
			}
			aud := tt.audience
			if aud == "" && tt.name != "empty audience argument" {
				aud = testAudience
			}
			_, err := NewVerifier(fx.ring, testIssuer, fixedClock(now)).Verify(tt.token, aud)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
			for _, part := range strings.Split(tt.token, ".") {
				if len(part) >= 8 && strings.Contains(err.Error(), part) {
					t.Errorf("error text carries token material: %v", err)
				}
			}
		})
	}
}

func TestVerifyTimeBoundaries(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	tok := mustMint(t, fx.mintEd, sampleClaims()) // iat = nbf = t0, exp = t0+5m
	exp := t0.Add(5 * time.Minute)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at iat", t0, nil},
		{"just before exp", exp.Add(-time.Second), nil},
		{"past exp within leeway", exp.Add(Leeway), nil},
		{"past exp beyond leeway", exp.Add(Leeway + time.Second), ErrExpired},
		{"before nbf within leeway", t0.Add(-Leeway), nil},
		{"before nbf beyond leeway", t0.Add(-Leeway - time.Second), ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(fx.ring, testIssuer, fixedClock(tt.now)).Verify(tok, testAudience)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Verify at %v: %v, want %v", tt.now, err, tt.want)
			}
		})
	}
}

func TestVerifierWithoutIssuerAcceptsNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	tok := mustMint(t, fx.mintEd, sampleClaims())
	if _, err := NewVerifier(fx.ring, "", fixedClock(t0)).Verify(tok, testAudience); !errors.Is(err, ErrIssuer) {
		t.Fatalf("got %v, want ErrIssuer", err)
	}
}

func TestErrorHierarchy(t *testing.T) {
	t.Parallel()
	for _, err := range []error{ErrTooLarge, ErrMalformed, ErrAlgorithm, ErrType, ErrForbiddenHeader,
		ErrUnknownKey, ErrSignature, ErrExpired, ErrNotYetValid, ErrClaims, ErrIssuer, ErrAudience} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%v does not wrap ErrInvalid", err)
		}
	}
	for _, err := range []error{ErrIssuer, ErrAudience} {
		if !errors.Is(err, ErrClaims) {
			t.Errorf("%v does not wrap ErrClaims", err)
		}
	}
	if errors.Is(ErrExpired, ErrClaims) || errors.Is(ErrIncompleteClaims, ErrInvalid) {
		t.Error("unrelated sentinels match")
	}
}

func TestNilKeyringFailsClosed(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	tok := mustMint(t, fx.mintEd, sampleClaims())
	if _, err := NewVerifier(nil, testIssuer, fixedClock(t0)).Verify(tok, testAudience); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with nil keyring: %v", err)
	}
	if _, err := NewMinter(nil, testIssuer, 0).Mint(sampleClaims()); !errors.Is(err, ErrNoKeys) {
		t.Errorf("Mint with nil keyring: %v", err)
	}
}
