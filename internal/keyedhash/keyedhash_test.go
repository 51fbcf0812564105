package keyedhash

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, 32)} }

func TestSumSeparatesPurposesPartsAndKeys(t *testing.T) {
	t.Parallel()
	r, err := NewRing(key("k1", 1), key("k0", 2))
	if err != nil {
		t.Fatal(err)
	}
	a := r.Sum("code", []byte("ab"), []byte("c"))
	if bytes.Equal(a, r.Sum("link", []byte("ab"), []byte("c"))) {
		t.Error("different purposes gave the same hash")
	}
	if bytes.Equal(a, r.Sum("code", []byte("a"), []byte("bc"))) {
		t.Error("different part boundaries gave the same hash")
	}
	old, err := r.SumWith("k0", "code", []byte("ab"), []byte("c"))
	if err != nil || bytes.Equal(a, old) {
		t.Errorf("old key: err %v, same hash %v", err, bytes.Equal(a, old))
	}
	if cur, _ := r.SumWith(r.Current(), "code", []byte("ab"), []byte("c")); !Equal(a, cur) {
		t.Error("Sum and SumWith(Current) differ")
	}
	if _, err := r.SumWith("nope", "code"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown kid: %v", err)
	}
}

func TestNewRingRefusesBadKeys(t *testing.T) {
	t.Parallel()
	for name, keys := range map[string][]Key{
		"none":      nil,
		"short":     {{ID: "a", Secret: []byte("short")}},
		"bad id":    {{ID: "a b", Secret: bytes.Repeat([]byte{1}, 32)}},
		"duplicate": {key("a", 1), key("a", 2)},
	} {
		if _, err := NewRing(keys...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := bytes.Repeat([]byte{7}, 32)
	good := filepath.Join(dir, "good")
	body := "# current first\nk2:" + base64.StdEncoding.EncodeToString(secret) + "\n\nk1:" +
		base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 40)) + "\n"
	if err := os.WriteFile(good, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Current() != "k2" {
		t.Errorf("current = %q", r.Current())
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("k1:"+base64.StdEncoding.EncodeToString(secret)+"\nk2 not-base64!!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(bad)
	if err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("error should name line 2: %v", err)
	}
	if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(secret)) {
		t.Fatal("error leaks a secret")
	}
}

// Name uses the ring's last key: a rotation that puts a new key first leaves
// every name unchanged, while Sum moves to the new key.
func TestNameSurvivesRotation(t *testing.T) {
	k1 := Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}
	k2 := Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}
	before, err := NewRing(k1)
	if err != nil {
		t.Fatal(err)
	}
	after, err := NewRing(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(before.Name("customer", []byte("c-42")), after.Name("customer", []byte("c-42"))) {
		t.Fatal("a rotation changed a name")
	}
	if Equal(before.Sum("code", []byte("x")), after.Sum("code", []byte("x"))) {
		t.Fatal("Sum did not move to the new current key")
	}
	if after.NamingKey() != "k1" || after.Current() != "k2" {
		t.Fatalf("naming key %q, current %q", after.NamingKey(), after.Current())
	}
}

// TestSumIsStable: the hashes in Redis outlive a release, so the encoding is
// fixed: HMAC-SHA-256 over each of purpose and parts as a 4-byte big-endian
// length and its bytes. A hash must not change when the code computing it does,
// however often it runs at once (the input buffers are pooled).
func TestSumIsStable(t *testing.T) {
	r, err := NewRing(key("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	// HMAC-SHA-256 with 32 bytes of 0x01 over
	// 00000004 "code" 00000002 "ab" 00000000 00000258 ("x" × 600).
	const want = "DNJ8HmAnBJgRt0eAXOhFLm62UX3IiAuHo6SQnaqCbgQ"
	long := bytes.Repeat([]byte("x"), 600)
	done := make(chan string, 64)
	for range 64 {
		go func() { done <- base64.RawURLEncoding.EncodeToString(r.Sum("code", []byte("ab"), nil, long)) }()
	}
	for range 64 {
		if got := <-done; got != want {
			t.Fatalf("Sum = %s, want %s", got, want)
		}
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { r.Sum("code", []byte("ab"), []byte("c")) }); n > 1 {
		t.Errorf("Sum allocates %.0f times, want 1 (the sum)", n)
	}
}
