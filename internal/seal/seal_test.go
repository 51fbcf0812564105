package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, keyLen)} }

func ring(t testing.TB, keys ...Key) *Ring {
	t.Helper()
	r, err := NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// countingReader yields 0, 1, 2, … so that nonces are predictable in tests.
type countingReader struct{ n byte }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := ring(t, key("k1", 1))
	tests := []struct {
		name           string
		plaintext, aad []byte
	}{
		{"seed", bytes.Repeat([]byte{0xAB}, 20), []byte("customer-42")},
		{"empty plaintext", nil, []byte("customer-42")},
		{"no aad", []byte("secret"), nil},
		{"binary", []byte{0, '|', '\n', 0xff, '.'}, []byte{0, 1, 2}},
		{"large", bytes.Repeat([]byte("x"), 4096), []byte("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := r.Seal(rand.Reader, tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sealed, "k1.") {
				t.Errorf("sealed value %q does not start with the current kid", sealed)
			}
			for _, c := range []byte(sealed) {
				if c < 0x21 || c > 0x7e || c == '|' {
					t.Fatalf("sealed value has byte %#x", c)
				}
			}
			if len(tt.plaintext) >= 4 && strings.Contains(sealed, string(tt.plaintext)) {
				t.Fatal("sealed value contains the plaintext")
			}
			got, err := r.Open(sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %x, want %x", got, tt.plaintext)
			}
			again, err := r.Seal(rand.Reader, tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if again == sealed {
				t.Error("two seals of the same plaintext are equal: nonce not fresh")
			}
		})
	}
}

// TestGolden pins the format: a value sealed by this version must open in every
// later one, since sealed values outlive deploys in Redis.
func TestGolden(t *testing.T) {
	t.Parallel()
	r := ring(t, key("kek-2024", 7))
	// Computed independently with pyca/cryptography AESGCM.
	const golden = "kek-2024.AAECAwQFBgcICQoLbO6dAD16vCwTri4PRN8JOtNkzz9K2Cy0ZA"
	sealed, err := r.Seal(&countingReader{}, []byte("totp seed"), []byte("customer-1"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed != golden {
		t.Errorf("Seal with a fixed nonce = %q, want %q", sealed, golden)
	}
	got, err := r.Open(golden, []byte("customer-1"))
	if err != nil || string(got) != "totp seed" {
		t.Fatalf("Open(golden) = %q, %v", got, err)
	}
}

func TestWrongAADFails(t *testing.T) {
	t.Parallel()
	r := ring(t, key("k1", 1))
	sealed, err := r.Seal(rand.Reader, []byte("seed"), []byte("customer-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range [][]byte{nil, []byte("customer-2"), []byte("customer-1 "), []byte("customer-")} {
		if got, err := r.Open(sealed, aad); !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("Open with aad %q = %q, %v; want ErrOpen", aad, got, err)
		}
	}
}

func TestEveryFlippedByteFails(t *testing.T) {
	t.Parallel()
	r := ring(t, key("k1", 1))
	sealed, err := r.Seal(rand.Reader, []byte("0123456789abcdefghij"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	kid, body, _ := strings.Cut(sealed, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte of nonce, ciphertext and tag, each bit and all bits.
	for i := range raw {
		for _, mask := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff} {
			bad := bytes.Clone(raw)
			bad[i] ^= mask
			s := kid + "." + base64.RawURLEncoding.EncodeToString(bad)
			if got, err := r.Open(s, []byte("aad")); !errors.Is(err, ErrOpen) || got != nil {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want ErrOpen", i, mask, got, err)
			}
		}
	}
	// Every character of the string form, kid and separator included.
	for i := range sealed {
		b := []byte(sealed)
		b[i] ^= 0x01
		if got, err := r.Open(string(b), []byte("aad")); err == nil || got != nil {
			t.Fatalf("char %d flipped: Open = %q, %v; want an error", i, got, err)
		}
	}
	// Truncation and extension.
	for _, s := range []string{sealed[:len(sealed)-1], sealed + "A", sealed[:len(sealed)-4]} {
		if _, err := r.Open(s, []byte("aad")); err == nil {
			t.Errorf("Open(%q) succeeded", s)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := key("k1", 1), key("k2", 2)
	a := ring(t, k1)
	b := ring(t, k2, k1)
	if b.Current() != "k2" {
		t.Fatalf("Current = %q, want k2", b.Current())
	}
	old, err := a.Seal(rand.Reader, []byte("seed"), []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open(old, []byte("c")); err != nil || string(got) != "seed" {
		t.Fatalf("rotated ring cannot open an old value: %q, %v", got, err)
	}
	fresh, err := b.Seal(rand.Reader, []byte("seed"), []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fresh, "k2.") {
		t.Errorf("rotated ring sealed %q, not under k2", fresh)
	}
	if _, err := a.Open(fresh, []byte("c")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old ring opened a value under the new key: %v", err)
	}
	// Relabelling a value with another kid of the ring must not open it.
	relabelled := "k1" + strings.TrimPrefix(fresh, "k2")
	if _, err := b.Open(relabelled, []byte("c")); !errors.Is(err, ErrOpen) {
		t.Errorf("relabelled value: %v, want ErrOpen", err)
	}
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	r := ring(t, key("k1", 1))
	other := ring(t, key("k9", 1)) // same secret, different id
	sealed, err := other.Seal(rand.Reader, []byte("seed"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Open(sealed, nil)
	if !errors.Is(err, ErrUnknownKey) || got != nil {
		t.Fatalf("Open = %q, %v; want ErrUnknownKey", got, err)
	}
	if !strings.Contains(err.Error(), "k9") {
		t.Errorf("error %q should name the kid", err)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	r := ring(t, key("k1", 1))
	valid, err := r.Seal(rand.Reader, []byte("seed"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(valid, ".")
	for _, s := range []string{
		"",
		".",
		"k1",
		"k1.",
		"." + body,
		"k1." + strings.Repeat("A", 36), // 27 bytes: shorter than nonce+tag
		"k1." + body + "=",
		"k1." + body[:10] + "\n" + body[10:],
		"k1." + body[:10] + "+" + body[11:],
		"k 1." + body,
		"abcdefghijklmnopq." + body, // kid of 17 characters
		"k1.." + body,
		"k1|" + body,
	} {
		if got, err := r.Open(s, nil); !errors.Is(err, ErrMalformed) || got != nil {
			t.Errorf("Open(%q) = %q, %v; want ErrMalformed", s, got, err)
		}
	}
}

func TestErrorsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{0x5a}, keyLen)
	r := ring(t, Key{ID: "k1", Secret: secret})
	plaintext := []byte("PLAINTEXT-SEED-VALUE")
	sealed, err := r.Seal(rand.Reader, plaintext, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(sealed, ".")
	_, err1 := r.Open(sealed, []byte("other"))
	_, err2 := r.Open("k1."+body[:len(body)-2]+"AA", []byte("aad"))
	_, err3 := r.Open("zz."+body, []byte("aad"))
	for _, err := range []error{err1, err2, err3} {
		if err == nil {
			t.Fatal("expected an error")
		}
		msg := err.Error()
		for _, leak := range []string{
			string(plaintext), string(secret),
			base64.StdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret),
			body,
		} {
			if strings.Contains(msg, leak) {
				t.Errorf("error %q leaks %q", msg, leak)
			}
		}
	}
}

func TestNewRingRefusesBadKeys(t *testing.T) {
	t.Parallel()
	for name, keys := range map[string][]Key{
		"none":        nil,
		"short":       {{ID: "a", Secret: bytes.Repeat([]byte{1}, keyLen-1)}},
		"long":        {{ID: "a", Secret: bytes.Repeat([]byte{1}, keyLen+1)}},
		"empty id":    {key("", 1)},
		"bad id":      {key("a b", 1)},
		"dot in id":   {key("a.b", 1)},
		"long id":     {key("abcdefghijklmnopq", 1)},
		"duplicate":   {key("a", 1), key("a", 2)},
		"bad old key": {key("a", 1), {ID: "b", Secret: []byte("short")}},
	} {
		if _, err := NewRing(keys...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewRing(key("abcdefghijklmnop", 1), key("A_-9", 2)); err != nil {
		t.Errorf("valid ids refused: %v", err)
	}
}

func TestNewRingCopiesSecrets(t *testing.T) {
	t.Parallel()
	k := key("k1", 1)
	r := ring(t, k)
	sealed, err := r.Seal(rand.Reader, []byte("seed"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clear(k.Secret)
	if _, err := r.Open(sealed, nil); err != nil {
		t.Fatalf("changing the caller's slice changed the ring: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s1 := bytes.Repeat([]byte{1}, keyLen)
	s2 := bytes.Repeat([]byte{2}, keyLen)
	b64 := base64.StdEncoding.EncodeToString

	good := write("good", "# current first\n k2 : "+b64(s2)+"\r\n\nk1:"+b64(s1)+"\n")
	r, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Current() != "k2" {
		t.Errorf("Current = %q, want k2", r.Current())
	}
	old, err := ring(t, Key{ID: "k1", Secret: s1}).Seal(rand.Reader, []byte("seed"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Open(old, nil); err != nil || string(got) != "seed" {
		t.Errorf("loaded ring cannot open a k1 value: %q, %v", got, err)
	}

	tests := []struct {
		name, body, want string
	}{
		{"empty", "# nothing\n\n", "no keys"},
		{"no colon", "k1:" + b64(s1) + "\nk2 " + b64(s2) + "\n", ":2: want ID:BASE64"},
		{"bad base64", "k1:" + b64(s1) + "\nk2:not-base64!!\n", ":2: key is not valid base64"},
		{"short key", "k1:" + b64(s1[:16]) + "\n", "exactly 32 bytes"},
		{"long key", "k1:" + b64(append(bytes.Clone(s1), 0)) + "\n", "exactly 32 bytes"},
		{"duplicate", "k1:" + b64(s1) + "\nk1:" + b64(s2) + "\n", "appears twice"},
		{"bad id", "k.1:" + b64(s1) + "\n", "id must match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := write(tt.name, tt.body)
			_, err := LoadFile(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadFile = %v, want an error containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, s := range [][]byte{s1, s2} {
				if strings.Contains(err.Error(), b64(s)) || strings.Contains(err.Error(), b64(s[:16])) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
		})
	}
	if _, err := LoadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestRandomReaderFailure(t *testing.T) {
	t.Parallel()
	r := ring(t, key("k1", 1))
	boom := errors.New("entropy exhausted")
	for name, rd := range map[string]io.Reader{
		"error": iotest.ErrReader(boom),
		"empty": bytes.NewReader(nil),
		"short": bytes.NewReader(make([]byte, nonceLen-1)),
	} {
		if s, err := r.Seal(rd, []byte("seed"), nil); err == nil || s != "" {
			t.Errorf("Seal with %s reader = %q, %v; want an error", name, s, err)
		}
		if eph, err := Ephemeral(rd); err == nil || eph != nil {
			t.Errorf("Ephemeral with %s reader = %v, %v; want an error", name, eph, err)
		}
	}
	if _, err := r.Seal(iotest.ErrReader(boom), []byte("seed"), nil); !errors.Is(err, boom) {
		t.Errorf("Seal error %v does not wrap the reader's error", err)
	}
}

func TestEphemeral(t *testing.T) {
	t.Parallel()
	a, err := Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a.Current() != "dev" {
		t.Errorf("Current = %q, want dev", a.Current())
	}
	sealed, err := a.Seal(rand.Reader, []byte("seed"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Open(sealed, nil); err != nil || string(got) != "seed" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed, nil); !errors.Is(err, ErrOpen) {
		t.Errorf("another ephemeral ring opened the value: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	r := ring(f, key("k2", 2), key("k1", 1))
	old := ring(f, key("k1", 1))
	type pair struct {
		sealed, aad string
		plaintext   []byte
	}
	var valid []pair
	nonces := &countingReader{}
	for _, p := range []struct {
		r         *Ring
		plaintext string
		aad       string
	}{
		{r, "0123456789abcdefghij", "customer-1"},
		{r, "", ""},
		{old, "seed", "customer-2"},
	} {
		s, err := p.r.Seal(nonces, []byte(p.plaintext), []byte(p.aad))
		if err != nil {
			f.Fatal(err)
		}
		valid = append(valid, pair{s, p.aad, []byte(p.plaintext)})
		f.Add(s, []byte(p.aad))
		f.Add(s, []byte(p.aad+"x"))
		f.Add(s[:len(s)-1], []byte(p.aad))
		f.Add(strings.Replace(s, ".", "|", 1), []byte(p.aad))
	}
	for _, s := range []string{"", ".", "k1.", "k9.AAAA", "dev." + strings.Repeat("A", 40), "k1.\n"} {
		f.Add(s, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, sealed string, aad []byte) {
		got, err := r.Open(sealed, aad)
		if err != nil {
			if got != nil {
				t.Fatalf("Open(%q) returned plaintext with error %v", sealed, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrOpen) {
				t.Fatalf("Open(%q) error %v is none of the sentinels", sealed, err)
			}
			return
		}
		// Success is only possible for exactly a value sealed above, with its aad.
		for _, v := range valid {
			if sealed == v.sealed && string(aad) == v.aad {
				if !bytes.Equal(got, v.plaintext) {
					t.Fatalf("Open(%q) = %q, want %q", sealed, got, v.plaintext)
				}
				return
			}
		}
		t.Fatalf("Open succeeded on garbage %q (aad %q): %q", sealed, aad, got)
	})
}
