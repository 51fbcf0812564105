// Package locale names the languages authsvc speaks to customers in, matches a
// request's language to one of them, and picks CLDR plural forms.
//
// # Contract
//
//   - Supported lists the locales, English first (the fallback): en, es, fr, de,
//     pt-BR, it, ar (right to left) and ja. Pages, emails, SMS and DM texts are all
//     written in each of them; their tests fail when a text is missing in one.
//   - Match maps any BCP 47 tag to a supported locale ("es-MX" → "es", "pt" →
//     "pt-BR"); an empty, malformed or unsupported tag is not a match, never an
//     error. MatchAccept does the same for an Accept-Language header.
//   - Plural returns the CLDR plural category ("zero", "one", "two", "few",
//     "many" or "other") of an integer in a locale, from golang.org/x/text's CLDR
//     tables: Arabic has six, Japanese one, French counts 0 as "one".
package locale

import (
	"strings"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Locale is one supported language.
type Locale struct {
	// Name is the BCP 47 tag the service uses for it: "en", "pt-BR".
	Name string
	// Tag is Name parsed.
	Tag language.Tag
	// RTL is true for a right-to-left script.
	RTL bool
	// Endonym is the language's name in itself, for a language switch.
	Endonym string
}

// Dir is the value of an HTML dir attribute for the locale: "rtl" or "ltr".
func (l Locale) Dir() string {
	if l.RTL {
		return "rtl"
	}
	return "ltr"
}

// Supported lists the supported locales; the first is the fallback.
var Supported = []Locale{
	{Name: "en", Tag: language.English, Endonym: "English"},
	{Name: "es", Tag: language.Spanish, Endonym: "Español"},
	{Name: "fr", Tag: language.French, Endonym: "Français"},
	{Name: "de", Tag: language.German, Endonym: "Deutsch"},
	{Name: "pt-BR", Tag: language.BrazilianPortuguese, Endonym: "Português"},
	{Name: "it", Tag: language.Italian, Endonym: "Italiano"},
	{Name: "ar", Tag: language.Arabic, RTL: true, Endonym: "العربية"},
	{Name: "ja", Tag: language.Japanese, Endonym: "日本語"},
}

// Default is the fallback locale, English.
var Default = Supported[0]

var matcher = language.NewMatcher(func() []language.Tag {
	tags := make([]language.Tag, len(Supported))
	for i, l := range Supported {
		tags[i] = l.Tag
	}
	return tags
}())

// Match returns the supported locale that best serves the BCP 47 tag (or, where
// one tag was meant, an Accept-Language list). ok is false for an empty,
// malformed or unsupported tag.
func Match(tag string) (l Locale, ok bool) {
	tag = strings.TrimSpace(tag)
	if tag == "" || len(tag) > 64 {
		return Default, false
	}
	t, err := language.Parse(tag)
	if err != nil {
		// A list such as "es-MX,en;q=0.5" where one tag was meant.
		return MatchAccept(tag)
	}
	_, i, conf := matcher.Match(t)
	if conf == language.No {
		return Default, false
	}
	return Supported[i], true
}

// MatchAccept returns the supported locale that best serves an Accept-Language
// header; ok is false when the header names none (or is malformed).
func MatchAccept(header string) (l Locale, ok bool) {
	if header == "" || len(header) > 1024 {
		return Default, false
	}
	prefs, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(prefs) == 0 {
		return Default, false
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return Default, false
	}
	return Supported[i], true
}

// Exact returns the supported locale named exactly name (case-insensitively):
// what a language switch sends. ok is false for anything else.
func Exact(name string) (l Locale, ok bool) {
	for _, l := range Supported {
		if strings.EqualFold(l.Name, name) {
			return l, true
		}
	}
	return Default, false
}

// Plural returns the CLDR plural category of n in l: "zero", "one", "two",
// "few", "many" or "other".
func (l Locale) Plural(n int) string {
	if n < 0 {
		n = -n
	}
	switch plural.Cardinal.MatchPlural(l.Tag, n%10_000_000, 0, 0, 0, 0) {
	case plural.Zero:
		return "zero"
	case plural.One:
		return "one"
	case plural.Two:
		return "two"
	case plural.Few:
		return "few"
	case plural.Many:
		return "many"
	}
	return "other"
}
