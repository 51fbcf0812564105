package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/authsvc/authsvc/internal/locale"
)

// catalog is the text of every user-visible string in one locale. Values are
// fmt formats with explicit argument indexes, so a translation may reorder them.
// A plural message has one key per CLDR category the locale uses
// ("alert.wrong.one", "alert.wrong.other"; Arabic adds zero, two, few and many);
// TestCatalogsComplete holds every locale to the English keys and placeholders.
type catalog struct {
	lang string
	loc  locale.Locale
	text map[string]string
}

//go:embed locales/*.json
var localeFS embed.FS

// catalogs lists the catalogs in locale.Supported's order; the first (English)
// is the fallback. A catalog that does not parse is a build defect the tests
// catch; it panics at start-up rather than serve blank pages.
var catalogs = func() []*catalog {
	out := make([]*catalog, len(locale.Supported))
	for i, l := range locale.Supported {
		raw, err := localeFS.ReadFile("locales/" + l.Name + ".json")
		if err != nil {
			panic(fmt.Sprintf("web: catalog %s: %v", l.Name, err))
		}
		c := &catalog{lang: l.Name, loc: l}
		if err := json.Unmarshal(raw, &c.text); err != nil {
			panic(fmt.Sprintf("web: catalog %s: %v", l.Name, err))
		}
		out[i] = c
	}
	return out
}()

func catalogOf(l locale.Locale) *catalog {
	for _, c := range catalogs {
		if c.lang == l.Name {
			return c
		}
	}
	return catalogs[0]
}

// T returns the message key formatted with args. A missing key is a defect the
// tests catch; it shows as ⟦key⟧ rather than failing the page.
func (c *catalog) T(key string, args ...any) string {
	f, ok := c.text[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

// Isolated is T for a page's HTML: the message escaped, and each string argument
// (a brand, a handle, a masked address: text from the caller or the operator)
// escaped and put in a <bdi> of its own, so that right-to-left text in it keeps
// its own direction and cannot reorder the sentence around it. Text put in a
// string field of the page, where no element can go (the title), isolates with
// text.Isolate instead.
func (c *catalog) Isolated(key string, args ...any) template.HTML {
	f, ok := c.text[key]
	if !ok {
		return template.HTML(template.HTMLEscapeString("⟦" + key + "⟧"))
	}
	f = template.HTMLEscapeString(f)
	if len(args) == 0 {
		return template.HTML(f)
	}
	isolated := make([]any, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case int:
			isolated[i] = a
		case template.HTML:
			// Markup the page built itself (a <time> element), already escaped.
			isolated[i] = string(a)
		default:
			isolated[i] = "<bdi>" + template.HTMLEscapeString(fmt.Sprint(a)) + "</bdi>"
		}
	}
	return template.HTML(fmt.Sprintf(f, isolated...))
}

// plural returns the form of key for n in the catalog's language: key.<CLDR
// category>, or key.other when the locale has no text of its own for it.
func (c *catalog) plural(key string, n int) string {
	k := key + "." + c.loc.Plural(n)
	if c.text[k] == "" {
		k = key + ".other"
	}
	if !strings.Contains(c.text[k], "%[1]") {
		// A form that says the count in words ("one try left").
		return c.T(k)
	}
	return c.T(k, n)
}

// Dir is the page's direction, for <html dir>.
func (c *catalog) Dir() string { return c.loc.Dir() }

// catalogFor picks the page language: the language the customer chose (the
// switch's ?lang= on a GET, the form's lang field on a POST: only an exact
// supported name counts), else locale (the verification's, "" for pages that
// show none) when it names a supported language, else the Accept-Language header,
// else English. An unknown or malformed value anywhere just falls through.
func catalogFor(r *http.Request, loc string) *catalog {
	chosen := ""
	if r.PostForm != nil {
		chosen = r.PostForm.Get("lang")
	}
	if chosen == "" && r.Method != http.MethodPost {
		chosen = r.URL.Query().Get("lang")
	}
	if l, ok := locale.Exact(chosen); ok {
		return catalogOf(l)
	}
	// A verification stores a supported name or nothing: matched without parsing.
	if l, ok := locale.Exact(loc); ok {
		return catalogOf(l)
	}
	if l, ok := locale.Match(loc); ok {
		return catalogOf(l)
	}
	if l, ok := locale.MatchAccept(r.Header.Get("Accept-Language")); ok {
		return catalogOf(l)
	}
	return catalogs[0]
}
