package text

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestDisplayRefusesWhatDoesNotShowAsItself(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"right-to-left override", "@\u202eevil😀", "must not contain U+202E, a bidirectional control character"},
		{"left-to-right embedding", "@a\u202ab", "U+202A, a bidirectional control"},
		{"pop directional formatting", "@a\u202cb", "U+202C, a bidirectional control"},
		{"right-to-left isolate", "@a\u2067b", "U+2067, a bidirectional control"},
		{"pop directional isolate", "@a\u2069b", "U+2069, a bidirectional control"},
		{"left-to-right mark", "@a\u200eb", "U+200E, a bidirectional control"},
		{"right-to-left mark", "@a\u200fb", "U+200F, a bidirectional control"},
		{"arabic letter mark", "@a\u061cb", "U+061C, a bidirectional control"},
		{"zero-width space", "@ali\u200bce", "U+200B, an invisible formatting character"},
		{"zero-width joiner", "@ali\u200dce", "U+200D, an invisible formatting character"},
		{"word joiner", "@ali\u2060ce", "U+2060, an invisible formatting character"},
		{"byte order mark", "\ufeff@alice", "U+FEFF, an invisible formatting character"},
		{"soft hyphen", "@ali\u00adce", "U+00AD, an invisible formatting character"},
		{"tag character", "@alice\U000e0041", "U+E0041, an invisible formatting character"},
		{"bell", "@ali\u0007ce", "U+0007, a control character"},
		{"newline", "Acme\nBank", "U+000A, a control character"},
		{"C1 control", "@ali\u0085ce", "U+0085, a control character"},
		{"line separator", "Acme\u2028Bank", "U+2028, a line or paragraph separator"},
		{"hangul filler", "@\u3164", "U+3164, an invisible character"},
		{"private use", "Acme \uf8ff", "U+F8FF, a private-use character"},
		{"unassigned", "@ali\U00050000ce", "U+50000, a code point not assigned in Unicode"},
		{"noncharacter", "@ali\uffffce", "U+FFFF, a code point not assigned"},
		{"replacement character", "@ali\ufffdce", "U+FFFD, the replacement character"},
		{"invalid UTF-8", "@ali\xffce", "must be valid UTF-8"},
		{"blank", " \u3000 ", "must not be blank"},
		{"leading combining mark", "\u0301alice", "must not start with a combining mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Display(tt.in)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Display(%+q) = %+q, %v; want an *Error", tt.in, out, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Display(%+q): %q, want it to say %q", tt.in, err, tt.want)
			}
			if body := strings.Trim(tt.in, "@ "); len(body) > 2 && strings.Contains(err.Error(), body) {
				t.Errorf("the refusal %q quotes the value", err)
			}
		})
	}
}

func TestDisplayNormalisesToNFCAndKeepsWhatShows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"ascii handle", "@alice", "@alice"},
		{"decomposed é becomes one code point", "@jose\u0301", "@jos\u00e9"},
		{"composed é stays", "@jos\u00e9", "@jos\u00e9"},
		{"hangul jamo compose", "@\u1112\u1161\u11ab", "@\ud55c"},
		{"arabic handle (isolated where shown, not refused)", "@\u0645\u062d\u0645\u062f", "@\u0645\u062d\u0645\u062f"},
		{"emoji with variation selector", "Acme \u2764\ufe0f", "Acme \u2764\ufe0f"},
		{"no-break space", "Acme\u00a0Bank", "Acme\u00a0Bank"},
		{"fullwidth letters shown as given (NFC, not NFKC)", "Ａｃｍｅ", "Ａｃｍｅ"},
		{"ligature shown as given", "\ufb01nance", "\ufb01nance"},
		{"combining mark after a letter", "a\u0308\u0323", "\u1ea1\u0308"},
		{"empty is the caller's business", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Display(tt.in)
			if err != nil {
				t.Fatalf("Display(%+q): %v", tt.in, err)
			}
			if out != tt.want {
				t.Errorf("Display(%+q) = %+q, want %+q", tt.in, out, tt.want)
			}
		})
	}
}

func TestVersionIsTheNormalisationTables(t *testing.T) {
	t.Parallel()
	if Version != norm.Version || assigned == nil {
		t.Fatalf("Version %s, norm %s, table found %v: x/text has no assigned table for its own norm version",
			Version, norm.Version, assigned != nil)
	}
}

func TestIsolate(t *testing.T) {
	t.Parallel()
	if got := Isolate("@al**e"); got != "\u2068@al**e\u2069" {
		t.Errorf("Isolate = %+q", got)
	}
}

// FuzzDisplay: whatever Display accepts is NFC, accepted again unchanged, and holds
// none of the characters it refuses.
func FuzzDisplay(f *testing.F) {
	for _, s := range []string{"@alice", "@\u202eevil😀", "@jose\u0301", "Acme\u200b", "\u0301x", " ", "\xff", "@\u0645\u062d\u0645\u062f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Display(s)
		if err != nil {
			if out != "" {
				t.Fatalf("Display(%+q) refused with %v but returned %+q", s, err, out)
			}
			return
		}
		if !norm.NFC.IsNormalString(out) || !utf8.ValidString(out) {
			t.Fatalf("Display(%+q) = %+q, not valid NFC", s, out)
		}
		if again, err := Display(out); err != nil || again != out {
			t.Fatalf("Display(Display(%+q)) = %+q, %v", s, again, err)
		}
		for _, r := range out {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp) {
				t.Fatalf("Display(%+q) accepted %U", s, r)
			}
		}
	})
}

// TestDisplayASCIIShortcut: the shortcut for printable ASCII answers exactly as
// the tables do, for every character alone, every pair, blanks of each length
// and longer random strings.
func TestDisplayASCIIShortcut(t *testing.T) {
	same := func(s string) {
		t.Helper()
		got, gotErr := Display(s)
		want, wantErr := display(s)
		if got != want || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("Display(%+q) = %+q, %v; the tables say %+q, %v", s, got, gotErr, want, wantErr)
		}
	}
	same("")
	for c := 0x20; c <= 0x7e; c++ {
		same(string(rune(c)))
		for d := 0x20; d <= 0x7e; d++ {
			same(string(rune(c)) + string(rune(d)))
		}
	}
	for n := 1; n <= 70; n++ {
		same(strings.Repeat(" ", n))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		b := make([]byte, 1+r.IntN(64))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x5f))
		}
		same(string(b))
	}
}
