package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestIsolatedEscapesAndIsolates: Isolated escapes the message and every argument,
// puts each string argument in its own <bdi> and leaves numbers alone.
func TestIsolatedEscapesAndIsolates(t *testing.T) {
	t.Parallel()
	c := &catalog{lang: "en", text: map[string]string{
		"k":     "It's %[1]s & %[2]s, %[3]d left",
		"plain": "<b>x</b>",
	}}
	got := string(c.Isolated("k", "@\u0645\u062d**\u062f", `<script>"x"</script>`, 3))
	want := "It&#39;s <bdi>@\u0645\u062d**\u062f</bdi> &amp; <bdi>&lt;script&gt;&#34;x&#34;&lt;/script&gt;</bdi>, 3 left"
	if got != want {
		t.Errorf("Isolated = %q\n want %q", got, want)
	}
	if got := string(c.Isolated("plain")); got != "&lt;b&gt;x&lt;/b&gt;" {
		t.Errorf("Isolated without arguments = %q", got)
	}
	if got := string(c.Isolated("missing")); got != "⟦missing⟧" {
		t.Errorf("Isolated of a missing key = %q", got)
	}
}

var placeholder = regexp.MustCompile(`%\[\d+\][a-z]`)

func placeholders(s string) []string {
	p := placeholder.FindAllString(s, -1)
	slices.Sort(p)
	return p
}

var pluralForms = []string{"zero", "one", "two", "few", "many", "other"}

// TestCatalogsComplete fails when a locale lacks a message English has, has one
// English lacks, leaves one blank, or uses other placeholders than English. A
// plural message needs, in each locale, the form of every CLDR category its
// plural rules give a count from 0 to 200, and no other; a form may leave the
// count out ("one try left" in words) but use nothing "other" does not.
func TestCatalogsComplete(t *testing.T) {
	t.Parallel()
	ref := catalogs[0]
	plurals := map[string]bool{}
	for k := range ref.text {
		if base, ok := strings.CutSuffix(k, ".other"); ok {
			plurals[base] = true
		}
	}
	if len(plurals) == 0 {
		t.Fatal("no plural messages found")
	}
	isForm := func(k string) (base string, ok bool) {
		for _, f := range pluralForms {
			if b, ok := strings.CutSuffix(k, "."+f); ok && plurals[b] {
				return b, true
			}
		}
		return "", false
	}
	if len(catalogs) != 8 {
		t.Errorf("%d catalogs, want 8", len(catalogs))
	}
	for _, c := range catalogs {
		for k, v := range c.text {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %q is blank", c.lang, k)
			}
			if base, ok := isForm(k); ok {
				if extra := slices.DeleteFunc(placeholders(v), func(p string) bool {
					return slices.Contains(placeholders(ref.text[base+".other"]), p)
				}); len(extra) > 0 {
					t.Errorf("%s: %q uses %v, which %s.other does not", c.lang, k, extra, base)
				}
				continue
			}
			want, ok := ref.text[k]
			if !ok {
				t.Errorf("%s has %q, which en lacks", c.lang, k)
				continue
			}
			if got := placeholders(v); !slices.Equal(got, placeholders(want)) {
				t.Errorf("%s: %q has placeholders %v, en %v", c.lang, k, got, placeholders(want))
			}
		}
		for k := range ref.text {
			if _, ok := isForm(k); ok {
				continue
			}
			if _, ok := c.text[k]; !ok {
				t.Errorf("%s lacks %q", c.lang, k)
			}
		}
		for base := range plurals {
			if _, ok := c.text[base+".other"]; !ok {
				t.Errorf("%s lacks %q", c.lang, base+".other")
			}
			needed := map[string]bool{"other": true}
			for n := range 201 {
				needed[c.loc.Plural(n)] = true
			}
			for _, f := range pluralForms {
				_, has := c.text[base+"."+f]
				if needed[f] && !has {
					t.Errorf("%s lacks %q (its plural rules use %q)", c.lang, base+"."+f, f)
				}
				if !needed[f] && has {
					t.Errorf("%s has %q, a form its plural rules never use", c.lang, base+"."+f)
				}
			}
			for n := range 201 {
				if got := c.plural(base, n); strings.Contains(got, "%!") || strings.Contains(got, "⟦") {
					t.Errorf("%s: %s(%d) = %q", c.lang, base, n, got)
				}
			}
		}
	}
}

// TestLocalePrecedence: the language the customer picked (?lang on a GET, the
// form's lang on a POST) wins, then the verification's locale, then
// Accept-Language, then English; an unknown or malformed value anywhere falls
// through, never to an error.
func TestLocalePrecedence(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, query, form, locale, accept, want string
	}{
		{"verification locale over the header", "", "", "es", "fr-FR", "es"},
		{"header when no locale", "", "", "", "de-DE,de;q=0.9", "de"},
		{"header when the locale is unsupported", "", "", "ko-KR", "ja", "ja"},
		{"malformed locale", "", "", "%%%", "it", "it"},
		{"nothing known", "", "", "ko", "zh-CN", "en"},
		{"malformed header", "", "", "", ";;q=x,,", "en"},
		{"switch over everything", "ar", "", "es", "fr", "ar"},
		{"switch is exact names only", "arabic", "", "es", "", "es"},
		{"switch pt-BR", "pt-BR", "", "", "", "pt-BR"},
		{"form lang on a POST", "", "ja", "es", "fr", "ja"},
		{"bad form lang", "", "xx-YY", "fr", "", "fr"},
		{"region variant", "", "", "pt-PT", "", "pt-BR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := "/v/x"
			if tt.query != "" {
				target += "?lang=" + url.QueryEscape(tt.query)
			}
			method := http.MethodGet
			if tt.form != "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, target, nil)
			if tt.form != "" {
				r.PostForm = url.Values{"lang": {tt.form}}
			}
			r.Header.Set("Accept-Language", tt.accept)
			if got := catalogFor(r, tt.locale).lang; got != tt.want {
				t.Errorf("catalogFor = %s, want %s", got, tt.want)
			}
		})
	}
}
