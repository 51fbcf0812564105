package delivery

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/locale"
)

// TestTemplatesComplete fails when a locale lacks a template English has, or
// has one English lacks: every message exists in every language.
func TestTemplatesComplete(t *testing.T) {
	t.Parallel()
	if templatesErr != nil {
		t.Fatal(templatesErr)
	}
	names := func(l string) []string {
		var out []string
		for _, tt := range templates[l].Templates() {
			if !strings.HasSuffix(tt.Name(), ".tmpl") && tt.Tree != nil {
				out = append(out, tt.Name())
			}
		}
		slices.Sort(out)
		return out
	}
	want := names("en")
	for _, l := range locale.Supported {
		if got := names(l.Name); !slices.Equal(got, want) {
			t.Errorf("%s templates %v, want %v", l.Name, got, want)
		}
	}
}

// TestSMSEndsWithOriginBoundLine: every code SMS, in every locale, ends with
// the origin-bound one-time-code line "@host #code" that iOS and Android
// autofill from (and the WebOTP API reads), for the page's own host.
func TestSMSEndsWithOriginBoundLine(t *testing.T) {
	t.Parallel()
	for _, l := range locale.Supported {
		for _, host := range []string{testPageHost, "verify.acme.example:8443"} {
			m := testMessage(SMS, KindCode, l.Name)
			m.PageHost = host
			r, err := Render(m)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(r.Text, "\n")
			if last := lines[len(lines)-1]; last != "@verify.acme.example #"+testCode {
				t.Errorf("%s SMS (host %s) ends with %q, want the origin-bound line", l.Name, host, last)
			}
			if len(lines) < 3 || lines[len(lines)-2] != "" {
				t.Errorf("%s SMS: the origin-bound line is not set apart by a blank line:\n%s", l.Name, r.Text)
			}
		}
	}
}

// TestDMPhraseInEveryLocale: the DM text carries the phrase the page shows, in
// every locale and for every kind of DM.
func TestDMPhraseInEveryLocale(t *testing.T) {
	t.Parallel()
	for _, l := range locale.Supported {
		phrase, lang := Phrase(l.Name, PhraseIndexes(3, 200))
		if lang != l.Name || phrase == "" {
			t.Fatalf("Phrase(%s) = %q, %q", l.Name, phrase, lang)
		}
		for _, kind := range []DMKind{DMOpenPage, DMPickNumber, DMConfirmOnPage} {
			s := DMText(DMParams{Locale: l.Name, Brand: "Acme", Kind: kind, PageURL: "https://verify.acme.example/v/x.y",
				DestinationMask: "a***@example.com", MatchNumber: "42", ExpiresIn: 10 * time.Minute, Phrase: phrase})
			if !strings.Contains(s, phrase) {
				t.Errorf("%s DM %d lacks the phrase %q: %q", l.Name, kind, phrase, s)
			}
		}
	}
}

// TestPhraseWords: each locale has its 32 distinct words, and the two words of
// a phrase always differ.
func TestPhraseWords(t *testing.T) {
	t.Parallel()
	for _, l := range locale.Supported {
		w, ok := phraseWords[l.Name]
		if !ok {
			t.Fatalf("no phrase words for %s", l.Name)
		}
		seen := map[string]bool{}
		for _, x := range w {
			if x == "" || seen[x] || strings.ContainsAny(x, " ・") {
				t.Errorf("%s: word %q empty, repeated or not one word", l.Name, x)
			}
			seen[x] = true
		}
	}
	for a := range 256 {
		for b := range 256 {
			idx := PhraseIndexes(byte(a), byte(b))
			if idx[0] == idx[1] || idx[0] < 0 || idx[1] >= PhraseWords || idx[1] < 0 || idx[0] >= PhraseWords {
				t.Fatalf("PhraseIndexes(%d, %d) = %v", a, b, idx)
			}
		}
	}
}

// TestArabicExpiryPlurals: Arabic's six plural categories reach the text.
func TestArabicExpiryPlurals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{time.Minute, "دقيقة واحدة"},
		{2 * time.Minute, "دقيقتين"},
		{5 * time.Minute, "5 دقائق"},
		{15 * time.Minute, "15 دقيقة"},
		{2 * time.Hour, "ساعتين"},
		{3 * time.Hour, "3 ساعات"},
	} {
		m := testMessage(Email, KindCode, "ar")
		m.ExpiresIn = tt.d
		r, err := Render(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, "خلال "+tt.want+".") {
			t.Errorf("ar expiry of %v: want %q in\n%s", tt.d, tt.want, r.Text)
		}
	}
}

// TestMatchLocaleNames: a supported name, in any case, matches the locale that
// parsing it as a tag matches (MatchLocale takes the names without parsing).
func TestMatchLocaleNames(t *testing.T) {
	t.Parallel()
	for _, l := range locale.Supported {
		for _, name := range []string{l.Name, strings.ToUpper(l.Name), strings.ToLower(l.Name)} {
			want, _ := locale.Match(name)
			if got := matchLocale(name); got.Name != want.Name || got.RTL != want.RTL {
				t.Errorf("%q: %s, parsed %s", name, got.Name, want.Name)
			}
		}
	}
}
