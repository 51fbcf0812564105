package assertion

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/fakeclock"
	jose "github.com/go-jose/go-jose/v4"
)

// writeMeta writes name.json in dir.
func writeMeta(t *testing.T, dir, name string, m KeyMetadata) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func kidOf(t *testing.T, s crypto.Signer) string {
	t.Helper()
	return mustKeyring(t, 0, s).ActiveKeyID()
}

// publishedKIDs returns the kids in the ring's JWKS.
func publishedKIDs(t *testing.T, k *Keyring) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, jwk := range set.Keys {
		kids = append(kids, jwk.KeyID)
	}
	return kids
}

func stateOf(k *Keyring, kid string) string {
	for _, st := range k.KeyStates() {
		if st.KeyID == kid {
			return st.State
		}
	}
	return "absent"
}

// claimsAt are sampleClaims issued at t for the full lifetime.
func claimsAt(t time.Time, lifetime time.Duration) Claims {
	c := sampleClaims()
	c.IssuedAt, c.NotBefore, c.Expiry, c.AuthTime = t, t, t.Add(lifetime), t.Add(-10*time.Second)
	return c
}

// TestRotationCycle moves an injected clock through a whole rotation: publication
// of the next key, the switch, retirement, removal from the JWKS, a key published
// too late, and a key file removed.
func TestRotationCycle(t *testing.T) {
	t.Parallel()
	const (
		lead     = 10 * time.Minute
		lifetime = 5 * time.Minute
	)
	T := t0
	clk := fakeclock.New(T)
	var logs bytes.Buffer
	dir := t.TempDir()
	a, b, c := edKey(1), ecKey(t, 2), edKey(3)
	kidA, kidB, kidC := kidOf(t, a), kidOf(t, b), kidOf(t, c)

	writePEM(t, dir, "a.pem", a)
	writeMeta(t, dir, "a", KeyMetadata{KeyID: kidA, NotBefore: T.Add(-24 * time.Hour), RetireAt: T.Add(time.Hour)})
	ring, err := OpenKeyring(dir, KeyringOptions{Now: clk.Now, PublishLead: lead, Lifetime: lifetime,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	minter := NewMinter(ring, testIssuer, lifetime)
	verifier := NewVerifier(ring, testIssuer, clk.Now)

	at := func(d time.Duration) { t.Helper(); clk.Set(T.Add(d)) }
	reload := func() {
		t.Helper()
		if err := ring.Reload(); err != nil {
			t.Fatalf("Reload at %s: %v", clk.Now().Sub(T), err)
		}
	}
	expect := func(active string, published ...string) {
		t.Helper()
		now := clk.Now().Sub(T)
		if got := ring.ActiveKeyID(); got != active {
			t.Errorf("T+%s: active %s, want %s", now, got, active)
		}
		tok := mustMint(t, minter, claimsAt(clk.Now(), lifetime))
		if jws, err := jose.ParseSignedCompact(tok, allowedAlgs); err != nil || jws.Signatures[0].Header.KeyID != active {
			t.Errorf("T+%s: Mint did not sign with %s (%v)", now, active, err)
		}
		if _, err := verifier.Verify(tok, testAudience); err != nil {
			t.Errorf("T+%s: a fresh token is refused: %v", now, err)
		}
		got := publishedKIDs(t, ring)
		want := slices.Sorted(slices.Values(published))
		if !slices.Equal(got, want) {
			t.Errorf("T+%s: JWKS has %v, want %v", now, got, want)
		}
		for _, kid := range published {
			if !ring.Has(kid) {
				t.Errorf("T+%s: Has(%s) = false", now, kid)
			}
		}
	}
	verifyAt := func(tok string, want error) {
		t.Helper()
		_, err := verifier.Verify(tok, testAudience)
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("T+%s: Verify: %v, want %v", clk.Now().Sub(T), err, want)
		}
	}

	// T: A alone signs.
	expect(kidA, kidA)
	tagA := ring.JWKSETag()

	// T: B is added with not_before T+1h and published at once; A still signs.
	writePEM(t, dir, "b.pem", b)
	writeMeta(t, dir, "b", KeyMetadata{KeyID: kidB, NotBefore: T.Add(time.Hour)})
	reload()
	expect(kidA, kidA, kidB)
	if ring.JWKSETag() == tagA {
		t.Error("ETag did not change when B was published")
	}
	if st := stateOf(ring, kidB); st != StateNext {
		t.Errorf("B is %s, want next", st)
	}
	// The view is computed once per state, not per call.
	v1 := ring.current()
	at(30 * time.Minute)
	if ring.current() != v1 {
		t.Error("view recomputed without a change of state")
	}

	// T+59m: a token signed by A, valid until T+1h04m.
	at(59 * time.Minute)
	tokA := mustMint(t, minter, claimsAt(clk.Now(), lifetime))
	expect(kidA, kidA, kidB)

	// T+1h: B has been published for more than the lead: it signs. A is retired
	// and its token still verifies.
	at(time.Hour - time.Second)
	expect(kidA, kidA, kidB)
	at(time.Hour)
	expect(kidB, kidA, kidB)
	if st := stateOf(ring, kidA); st != StateRetired {
		t.Errorf("A is %s at T+1h, want retired", st)
	}
	verifyAt(tokA, nil)
	// Re-minting stored claims under A still reproduces A's token while A is
	// published; under the next key C (unknown here) it falls back to B.
	if again, err := minter.MintWithKey(kidA, claimsAt(T.Add(59*time.Minute), lifetime)); err != nil || again != tokA {
		t.Errorf("MintWithKey(A) after retirement: %v, same token %v", err, again == tokA)
	}

	// A's token verifies until its exp plus the leeway, then is refused as expired.
	at(time.Hour + 4*time.Minute + Leeway)
	verifyAt(tokA, nil)
	at(time.Hour + 4*time.Minute + Leeway + time.Second)
	verifyAt(tokA, ErrExpired)

	// A stays published for lead + lifetime + leeway after it stopped signing.
	keep := lead + lifetime + Leeway
	at(time.Hour + keep - time.Second)
	expect(kidB, kidA, kidB)
	verifyAt(tokA, ErrExpired)
	at(time.Hour + keep)
	expect(kidB, kidB)
	verifyAt(tokA, ErrUnknownKey)
	if st := stateOf(ring, kidA); st != StateDropped {
		t.Errorf("A is %s after its publication ended, want dropped", st)
	}
	if ring.JWKSETag() == tagA {
		t.Error("ETag repeats an earlier set")
	}

	// T+1h58m: C is added only 2 min before its not_before T+2h, and B is to
	// retire at T+2h. C must not sign before it has been published for the lead:
	// B keeps signing (and stays published longer), with a warning.
	at(time.Hour + 58*time.Minute)
	writePEM(t, dir, "c.pem", c)
	writeMeta(t, dir, "c", KeyMetadata{KeyID: kidC, NotBefore: T.Add(2 * time.Hour)})
	writeMeta(t, dir, "b", KeyMetadata{KeyID: kidB, NotBefore: T.Add(time.Hour), RetireAt: T.Add(2 * time.Hour)})
	reload()
	expect(kidB, kidB, kidC)
	logs.Reset()
	at(2 * time.Hour)
	expect(kidB, kidB, kidC)
	if !strings.Contains(logs.String(), "held back") || !strings.Contains(logs.String(), kidC) {
		t.Errorf("no warning about the held-back key: %s", logs.String())
	}
	if st := stateOf(ring, kidC); st != StateNext {
		t.Errorf("C is %s while held back, want next", st)
	}
	at(time.Hour + 58*time.Minute + lead - time.Second)
	expect(kidB, kidB, kidC)
	tokB := mustMint(t, minter, claimsAt(clk.Now(), lifetime))
	at(time.Hour + 58*time.Minute + lead)
	expect(kidC, kidB, kidC)
	for _, st := range ring.KeyStates() {
		if st.KeyID == kidB && !st.PublishedUntil.Equal(T.Add(time.Hour+58*time.Minute+lead+keep)) {
			t.Errorf("B published until %s, want from its last signature", st.PublishedUntil)
		}
	}

	// Removing B's files refuses its tokens at once, though they have not expired.
	verifyAt(tokB, nil)
	for _, f := range []string{"b.pem", "b.json"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	reload()
	verifyAt(tokB, ErrUnknownKey)
	expect(kidC, kidC)

	// A failed reload keeps the ring.
	if err := os.WriteFile(filepath.Join(dir, "broken.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ring.Reload(); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("Reload with a broken file: %v", err)
	}
	expect(kidC, kidC)
}

// A replica that starts shortly before the switch has only just published the
// next key: it waits for the lead, and keeps the old key published accordingly.
// A key already due when the keyring opens signs at once.
func TestRotationReplicaStartingLate(t *testing.T) {
	t.Parallel()
	T := t0
	dir := t.TempDir()
	a, b := edKey(1), edKey(2)
	writePEM(t, dir, "a.pem", a)
	writeMeta(t, dir, "a", KeyMetadata{RetireAt: T.Add(time.Hour)})
	writePEM(t, dir, "b.pem", b)
	writeMeta(t, dir, "b", KeyMetadata{NotBefore: T.Add(time.Hour)})
	clk := fakeclock.New(T.Add(58 * time.Minute))
	ring, err := OpenKeyring(dir, KeyringOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if ring.ActiveKeyID() != kidOf(t, a) {
		t.Fatal("A does not sign at start")
	}
	clk.Set(T.Add(time.Hour))
	if ring.ActiveKeyID() != kidOf(t, a) {
		t.Error("B signs before it has been published for the lead")
	}
	clk.Set(T.Add(58*time.Minute + DefaultPublishLead))
	if ring.ActiveKeyID() != kidOf(t, b) {
		t.Error("B does not sign after the lead")
	}

	// The same directory opened after the switch: B signs at once.
	clk2 := fakeclock.New(T.Add(time.Hour))
	ring2, err := OpenKeyring(dir, KeyringOptions{Now: clk2.Now})
	if err != nil {
		t.Fatal(err)
	}
	if ring2.ActiveKeyID() != kidOf(t, b) {
		t.Error("a key due at start does not sign at once")
	}
}

// The pin (AUTHSVC_SIGNING_KEY_ACTIVE) overrides the schedule.
func TestRotationPinOverridesSchedule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := edKey(1), edKey(2)
	writePEM(t, dir, "a.pem", a)
	writePEM(t, dir, "b.pem", b)
	writeMeta(t, dir, "b", KeyMetadata{NotBefore: t0.Add(-time.Hour)})
	ring, err := OpenKeyring(dir, KeyringOptions{Active: "a", Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if ring.ActiveKeyID() != kidOf(t, a) {
		t.Error("the pinned key does not sign")
	}
	unpinned, err := OpenKeyring(dir, KeyringOptions{Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if unpinned.ActiveKeyID() != kidOf(t, b) {
		t.Error("without a pin the newest due key does not sign")
	}
}

func TestOpenKeyringRefusesBadSchedules(t *testing.T) {
	t.Parallel()
	a, b := edKey(1), edKey(2)
	tests := []struct {
		name     string
		metaA    string
		metaB    string
		want     error
		mentions string
	}{
		{"same not_before", `{"not_before":"2026-03-14T00:00:00Z"}`, `{"not_before":"2026-03-14T00:00:00Z"}`, ErrActiveKey, "same not_before"},
		{"none due yet", `{"not_before":"2026-04-01T00:00:00Z"}`, `{"not_before":"2026-05-01T00:00:00Z"}`, ErrActiveKey, "no key is due"},
		{"all retired", `{"retire_at":"2026-03-01T00:00:00Z"}`, `{"not_before":"2026-02-01T00:00:00Z","retire_at":"2026-03-02T00:00:00Z"}`, ErrActiveKey, "no key is due"},
		{"unknown member", `{"not_before":"2026-03-01T00:00:00Z","retire_after":"2026-04-01T00:00:00Z"}`, "", ErrKeyMetadata, "a.json"},
		{"wrong kid", `{"kid":"not-this-key"}`, "", ErrKeyMetadata, "a.json"},
		{"retire before not_before", `{"not_before":"2026-03-01T00:00:00Z","retire_at":"2026-03-01T00:00:00Z"}`, "", ErrKeyMetadata, "a.json"},
		{"not JSON", `not_before=2026`, "", ErrKeyMetadata, "a.json"},
		{"trailing data", `{} {}`, "", ErrKeyMetadata, "a.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writePEM(t, dir, "a.pem", a)
			writePEM(t, dir, "b.pem", b)
			for name, m := range map[string]string{"a": tt.metaA, "b": tt.metaB} {
				if m == "" {
					m = `{"not_before":"2026-03-10T00:00:00Z"}`
				}
				if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(m), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := OpenKeyring(dir, KeyringOptions{Now: fixedClock(t0)})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mentions) {
				t.Fatalf("OpenKeyring: %v, want %v mentioning %q", err, tt.want, tt.mentions)
			}
		})
	}
}

// Concurrent use while the clock moves and the directory reloads (run with -race).
func TestKeyringConcurrentUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writePEM(t, dir, "a.pem", edKey(1))
	writePEM(t, dir, "b.pem", edKey(2))
	writeMeta(t, dir, "b", KeyMetadata{NotBefore: t0.Add(time.Minute)})
	clk := fakeclock.New(t0)
	ring, err := OpenKeyring(dir, KeyringOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMinter(ring, testIssuer, 0)
	v := NewVerifier(ring, testIssuer, fixedClock(t0))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				if i == 0 {
					clk.Set(t0.Add(time.Duration(j) * 30 * time.Second))
					if err := ring.Reload(); err != nil {
						t.Error(err)
					}
				}
				tok, err := m.Mint(sampleClaims())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := v.Verify(tok, testAudience); err != nil {
					t.Error(err)
				}
				_ = ring.JWKS()
				_ = ring.JWKSETag()
			}
		})
	}
	wg.Wait()
}
