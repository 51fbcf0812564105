package web

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/keyedhash"
)

func testNonces(t testing.TB, now func() time.Time, keys ...keyedhash.Key) nonces {
	t.Helper()
	if len(keys) == 0 {
		keys = []keyedhash.Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}}
	}
	ring, err := keyedhash.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return nonces{keys: ring, ttl: time.Hour, now: now, random: rand.Reader}
}

func mustIssue(t testing.TB, n nonces, token, action string) string {
	t.Helper()
	s, err := n.issue(token, action)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNonce(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := t0
	n := testNonces(t, func() time.Time { return at })
	nonce := mustIssue(t, n, "tok", "code")
	if mustIssue(t, n, "tok", "code") == nonce {
		t.Fatal("two renders got the same nonce")
	}
	reissued := func(mutate func(raw []byte)) string {
		raw, _ := nonceEncoding.DecodeString(nonce)
		mutate(raw)
		return nonceEncoding.EncodeToString(raw)
	}
	older := reissued(func(raw []byte) { binary.BigEndian.PutUint64(raw, uint64(t0.Add(-2*time.Hour).Unix())) })
	other := testNonces(t, func() time.Time { return at }, keyedhash.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)})
	// After a rotation, a ring that still holds the old key accepts its nonces.
	rotated := testNonces(t, func() time.Time { return at },
		keyedhash.Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}, keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)})

	tests := []struct {
		name          string
		n             nonces
		nonce         string
		token, action string
		after         time.Duration
		want          bool
	}{
		{"fresh", n, nonce, "tok", "code", 0, true},
		{"just before ttl", n, nonce, "tok", "code", time.Hour - time.Second, true},
		{"at ttl", n, nonce, "tok", "code", time.Hour, false},
		{"from the future", n, nonce, "tok", "code", -2 * time.Minute, false},
		{"slight skew", n, nonce, "tok", "code", -30 * time.Second, true},
		{"other token", n, nonce, "tok2", "code", 0, false},
		{"other action", n, nonce, "tok", "report", 0, false},
		{"issued-at moved", n, older, "tok", "code", 0, false},
		{"random changed", n, reissued(func(raw []byte) { raw[nonceIATLen] ^= 1 }), "tok", "code", 0, false},
		{"mac changed", n, reissued(func(raw []byte) { raw[nonceRawLen-1] ^= 1 }), "tok", "code", 0, false},
		{"other key", other, nonce, "tok", "code", 0, false},
		{"rotated ring", rotated, nonce, "tok", "code", 0, true},
		{"empty", n, "", "tok", "code", 0, false},
		{"padded", n, nonce + "=", "tok", "code", 0, false},
		{"not base64", n, string(bytes.Repeat([]byte{'!'}, len(nonce))), "tok", "code", 0, false},
	}
	broken := n
	broken.random = bytes.NewReader(nil)
	if s, err := broken.issue("tok", "code"); err == nil {
		t.Fatalf("issued %q without randomness", s)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at = t0.Add(tc.after)
			defer func() { at = t0 }()
			if got := tc.n.valid(tc.nonce, tc.token, tc.action); got != tc.want {
				t.Fatalf("valid = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzNonce checks that no input makes the nonce check panic, and that nothing
// but the exact issued nonce passes it.
func FuzzNonce(f *testing.F) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	n := testNonces(f, func() time.Time { return t0 })
	// A fixed random part, so that every fuzz worker issues the same nonce.
	n.random = bytes.NewReader(bytes.Repeat([]byte{9}, nonceRandLen))
	good := mustIssue(f, n, "tok", "code")
	f.Add(good)
	f.Add("")
	f.Add(good[:len(good)-1] + "A")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("________________________________________________________________________________")
	f.Fuzz(func(t *testing.T, s string) {
		if n.valid(s, "tok", "code") && s != good {
			t.Fatalf("accepted %q", s)
		}
	})
}
