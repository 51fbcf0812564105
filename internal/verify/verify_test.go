package verify

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

func TestNewCodeIsSixDigitsAndCoversTheSpace(t *testing.T) {
	t.Parallel()
	firstDigit := map[byte]int{}
	for range 5000 {
		c, err := NewCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := NormalizeCode(c); err != nil || n != c {
			t.Fatalf("NewCode gave %q, not a normalized code", c)
		}
		firstDigit[c[0]]++
	}
	// Leading zeros must occur: a code is not a number.
	for d := byte('0'); d <= '9'; d++ {
		if firstDigit[d] == 0 {
			t.Errorf("no code started with %c in 5000 draws", d)
		}
	}
}

func TestNewCodeFailsClosed(t *testing.T) {
	t.Parallel()
	if _, err := NewCode(bytes.NewReader(nil)); err == nil {
		t.Fatal("a broken random source must be an error")
	}
	if _, err := NewToken(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Fatal("a short random source must be an error")
	}
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123456", "123456", true},
		{" 123 456 ", "123456", true},
		{"123-456", "123456", true},
		{"012345", "012345", true},
		{"12345", "", false},
		{"1234567", "", false},
		{"12345a", "", false},
		{"١٢٣-٤٥٦", "123456", true}, // Arabic-Indic digits, as an Arabic keyboard types them
		{"０１２３４５", "012345", true},  // fullwidth digits
		{"12३456", "", false},       // other digits: no page language types them
		{"", "", false},
		{"123456" + string(make([]byte, 40)), "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeCode(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeCode(%q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrCodeFormat) {
			t.Errorf("NormalizeCode(%q) error %v is not ErrCodeFormat", tt.in, err)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tok, err := NewToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeToken(tok)
	if err != nil || len(b) != TokenBytes {
		t.Fatalf("DecodeToken(%q) = %x, %v", tok, b, err)
	}
	for _, bad := range []string{"", "short", tok + "A", tok[:21] + "*"} {
		if _, err := DecodeToken(bad); !errors.Is(err, ErrTokenFormat) {
			t.Errorf("DecodeToken(%q) = %v", bad, err)
		}
	}
}

func TestMatchChoices(t *testing.T) {
	t.Parallel()
	positions := map[int]int{}
	for i := range 300 {
		correct, err := NewMatchNumber(rand.Reader)
		if err != nil || correct < 10 || correct > 99 {
			t.Fatalf("NewMatchNumber = %d, %v", correct, err)
		}
		seed := []byte(fmt.Sprint("verification-", i))
		c := MatchChoices(correct, seed)
		if c != MatchChoices(correct, seed) {
			t.Fatal("same seed gave different choices")
		}
		seen := map[int]bool{}
		found := -1
		for p, n := range c {
			if n < 10 || n > 99 || seen[n] {
				t.Fatalf("choices %v: out of range or repeated", c)
			}
			seen[n] = true
			if n == correct {
				found = p
			}
		}
		if found < 0 {
			t.Fatalf("choices %v lack the correct %d", c, correct)
		}
		positions[found]++
	}
	for p := range 3 {
		if positions[p] == 0 {
			t.Errorf("the correct number never stood at position %d", p)
		}
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12-34-56", "abc", "", "0000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeCode(in)
		if err != nil {
			return
		}
		if len(got) != CodeDigits {
			t.Fatalf("NormalizeCode(%q) = %q", in, got)
		}
		for _, r := range got {
			if r < '0' || r > '9' {
				t.Fatalf("NormalizeCode(%q) = %q", in, got)
			}
		}
	})
}
