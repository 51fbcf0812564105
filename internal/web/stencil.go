package web

import (
	"bytes"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Stencils: the customer pages rendered from the parts that do not change.
//
// html/template runs its escapers by reflection on every action, and on the code
// page that was most of the page's server time (issue 16's render budget;
// BENCHMARKS.md). A page's bytes depend on two kinds of input:
//
//   - its shape: the template, the catalog, and every field of the view that a
//     template or fragments.go tests, compares or reads as text of the service
//     (title, alert, sections, invalid form, flags, the brand's configured cues,
//     which values are empty);
//   - its values: what one verification and one request put on it (brand, network,
//     handle, destination, account, phrase, expiry, form nonces, script nonce, URLs
//     that carry the page token, the numbers to pick, a call code). view.values
//     lists them.
//
// For each shape the page is executed once with a marker in place of every
// non-empty value, cut at the markers into its literal parts, and kept; a page is
// then its parts joined with its values, each escaped as the template escapes it
// at that place. How a slot is escaped is decided when the stencil is made, and
// checked, not assumed:
//
//   - every marker carries a probe of the characters the escapers treat
//     differently; what became of the probe names the escaper that ran:
//     html/template's own (text and attribute values), template.HTMLEscapeString
//     (a fragment built in Go: fragments.go, catalog.Isolated, langNav) or a URL
//     normalizer or escaper;
//   - the place the marker landed is read from the HTML around it (text, or a
//     double-quoted attribute value and its attribute's kind, as html/template
//     classifies attributes), and must be one of those this file supports: HTML
//     text or a plain attribute value, written with the matching escaper; or a URL
//     attribute's value, where a value is written only when it is inert (letters,
//     digits and -._~, and at the start of the value the / and : of a URL
//     html/template lets through), which every one of those escapers leaves as it
//     is; any other value renders the page by executing the template;
//   - the page is executed twice, with markers of other letters and another
//     length: the literal parts must be the same, so nothing on the page depends
//     on a value except through its slot.
//
// A shape that fails any check is remembered as such and always executes the
// template. TestStencilsRenderWhatTheTemplatesDo renders both ways, for every
// page state and locale, with hostile values, and wants the same bytes.
//
// The cache is bounded (maxStencils) and holds nothing about a verification: its
// keys and parts are template and catalog text and the service's configuration;
// every value of a verification or request is a slot, filled per request and
// never stored (TestStencilsHoldNoVerification).

// maxStencils bounds a server's stencils. Shapes are few (views × languages ×
// sections × alerts, tens per language); past the bound a new shape just executes.
const maxStencils = 1024

// stencilViews are the views rendered from stencils: the pages every
// verification shows. The others (enrollment, a factor report's page, the dev
// outbox) are rare, and some carry values in fields that are not slots.
var stencilViews = map[string]bool{viewCode: true, viewLink: true, viewMessage: true, viewHandover: true}

// fill is how a slot's value is written.
type fill uint8

const (
	// fillHTML is html/template's escaper of a string in HTML text and in a
	// plain attribute's value.
	fillHTML fill = iota + 1
	// fillString is template.HTMLEscapeString: a fragment built in Go.
	fillString
	// fillInert is a value in a URL attribute: written as it is when it holds
	// only letters, digits and -._~, else the page executes the template.
	fillInert
	// fillInertURL is fillInert at the start of a URL attribute's value, which
	// may also hold the / and : of a URL whose scheme (if any) is http, https or
	// mailto (html/template's URL filter lets those through unchanged).
	fillInertURL
)

type slot struct {
	value int // index into the values
	fill  fill
}

// stencil is a page of one shape: parts[0], slot 0, parts[1], …, parts[len(slots)].
type stencil struct {
	parts []string
	slots []slot
	size  int // the parts' length
}

// render appends the page to b; false when a value cannot be written into its
// slot without executing the template.
func (st *stencil) render(b *bytes.Buffer, values []string) bool {
	n := st.size
	for _, sl := range st.slots {
		v := values[sl.value]
		switch sl.fill {
		case fillHTML:
			n += escapedLen(v, &htmlTable)
		case fillString:
			n += escapedLen(v, &stringTable)
		default:
			if !inert(v, sl.fill == fillInertURL) {
				return false
			}
			n += len(v)
		}
	}
	b.Grow(n)
	for i, p := range st.parts {
		b.WriteString(p)
		if i == len(st.slots) {
			break
		}
		sl := st.slots[i]
		switch v := values[sl.value]; sl.fill {
		case fillHTML:
			escape(b, v, &htmlTable)
		case fillString:
			escape(b, v, &stringTable)
		default:
			b.WriteString(v)
		}
	}
	return true
}

// htmlTable is html/template's htmlReplacementTable: what its escaper of HTML
// text and attribute values writes for a string. Bytes of 0x80 and above are
// never replaced (html/template leaves every rune it has no entry for, invalid
// UTF-8 included).
var htmlTable = [256]string{0: "\uFFFD", '"': "&#34;", '&': "&amp;", '\'': "&#39;", '+': "&#43;", '<': "&lt;", '>': "&gt;"}

// stringTable is template.HTMLEscapeString's.
var stringTable = [256]string{0: "\uFFFD", '"': "&#34;", '&': "&amp;", '\'': "&#39;", '<': "&lt;", '>': "&gt;"}

// escapedLen is the length of s escaped with table.
func escapedLen(s string, table *[256]string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if r := table[s[i]]; r != "" {
			n += len(r) - 1
		}
	}
	return n
}

func escape(b *bytes.Buffer, s string, table *[256]string) {
	last := 0
	for i := 0; i < len(s); i++ {
		if r := table[s[i]]; r != "" {
			b.WriteString(s[last:i])
			b.WriteString(r)
			last = i + 1
		}
	}
	b.WriteString(s[last:])
}

// inert reports whether every escaper of a URL attribute leaves v as it is:
// letters, digits and -._~; and with url, / and : too, if v's scheme (the text
// before its first ':', when that holds no '/') is http, https or mailto, which
// html/template's URL filter passes unchanged.
func inert(v string, url bool) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		case url && (c == '/' || c == ':'):
		default:
			return false
		}
	}
	if scheme, _, ok := strings.Cut(v, ":"); url && ok && !strings.Contains(scheme, "/") {
		return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "mailto")
	}
	return true
}

// stencils is a server's cache of stencils by shape; a nil entry is a shape
// that has none (it executes the template).
type stencils struct {
	mu sync.RWMutex
	m  map[string]*stencil
	// off and used are for the tests that render a page both ways: off makes
	// every page execute its template; used, when set, is called for every page
	// written from a stencil.
	off  bool
	used func()
}

// stencilPage writes view name with v from its stencil into b: false when the
// view has no stencil or a value cannot go into its slot (the caller then
// executes the template).
func (s *server) stencilPage(name string, v *view, b *bytes.Buffer) bool {
	if s.stencils.off || !stencilViews[name] || !v.stencilable() {
		return false
	}
	var kb [1024]byte
	var vb [48]string
	key, values := v.shape(append(append(kb[:0], name...), 0), vb[:0])
	s.stencils.mu.RLock()
	st, ok := s.stencils.m[string(key)]
	s.stencils.mu.RUnlock()
	if !ok {
		st = s.makeStencil(name, v)
		s.stencils.mu.Lock()
		if s.stencils.m == nil {
			s.stencils.m = map[string]*stencil{}
		}
		if len(s.stencils.m) < maxStencils {
			s.stencils.m[string(key)] = st
		}
		s.stencils.mu.Unlock()
	}
	if st == nil || !st.render(b, values) {
		return false
	}
	if s.stencils.used != nil {
		s.stencils.used()
	}
	return true
}

// family is a set of markers: tag, "s", the value's index, "p", the probe (or
// nothing), tag, "e". The families differ in letters and length; the last has
// no probe, so that its markers are plain letters and digits, which no escaper
// or filter changes (a filter that refuses the probe's characters would make a
// value vanish from the first two pages, and not from the third).
type family struct {
	tag   string
	probe bool
}

var families = [3]family{{"qzxj", true}, {"vkwyfh", true}, {"jtqm", false}}

// probe holds the characters that the escapers html/template and fragments.go
// use treat differently. It holds no ':', so a marker is a URL without a scheme.
const probe = "+<>&'\"\x00"

func (f family) marker(i int) string {
	p := ""
	if f.probe {
		p = probe
	}
	return f.tag + "s" + strconv.Itoa(i) + "p" + p + f.tag + "e"
}

// The probe as each escaper writes it, taken from html/template itself.
var probeAs = func() (p struct{ text, attr, url, path, query string }) {
	t := template.Must(template.New("").Parse(`{{.}}|<p title="{{.}}">|<a href="{{.}}">|<a href="/{{.}}">|<a href="/?q={{.}}">`))
	var b strings.Builder
	if err := t.Execute(&b, probe); err != nil {
		panic(err)
	}
	f := strings.Split(b.String(), "|")
	p.text = f[0]
	p.attr = strings.TrimSuffix(strings.TrimPrefix(f[1], `<p title="`), `">`)
	p.url = strings.TrimSuffix(strings.TrimPrefix(f[2], `<a href="`), `">`)
	p.path = strings.TrimSuffix(strings.TrimPrefix(f[3], `<a href="/`), `">`)
	p.query = strings.TrimSuffix(strings.TrimPrefix(f[4], `<a href="/?q=`), `">`)
	return p
}()

// makeStencil makes the stencil of v's shape, or returns nil when the shape
// cannot have one: the page must cut into the same parts, with the same values
// in the same order and the same fills, under every family of markers.
func (s *server) makeStencil(name string, v *view) *stencil {
	var made [len(families)]*stencil
	for i, f := range families {
		c := v.clone()
		n := 0
		c.slots(func(s string) string {
			if s == "" {
				return ""
			}
			n++
			return f.marker(n - 1)
		})
		var b bytes.Buffer
		if err := s.execute(&b, name, c); err != nil {
			return nil
		}
		if made[i] = cut(b.String(), f, n); made[i] == nil {
			return nil
		}
	}
	a := made[0]
	for _, o := range made[1:] {
		if !slices.Equal(a.parts, o.parts) || len(a.slots) != len(o.slots) {
			return nil
		}
		for i, sl := range o.slots {
			if sl.value != a.slots[i].value || (sl.fill != a.slots[i].fill && o.slots[i].fill != 0) {
				return nil
			}
		}
	}
	return a
}

// cut cuts a page executed with the markers of f (n values) at its markers, and
// decides each slot's fill from what became of the probe and where it landed.
func cut(page string, f family, n int) *stencil {
	st := &stencil{}
	type mark struct {
		start, end int
		value      int
		probe      string
	}
	var marks []mark
	for i := 0; ; {
		j := strings.Index(page[i:], f.tag)
		if j < 0 {
			break
		}
		m := mark{start: i + j}
		rest := page[m.start+len(f.tag):]
		digits := strings.IndexByte(rest, 'p')
		if !strings.HasPrefix(rest, "s") || digits < 2 {
			return nil
		}
		v, err := strconv.Atoi(rest[1:digits])
		if err != nil || v < 0 || v >= n || rest[1:digits] != strconv.Itoa(v) {
			return nil
		}
		m.value = v
		rest = rest[digits+1:]
		k := strings.Index(rest, f.tag+"e")
		if k < 0 || !f.probe && k != 0 {
			return nil
		}
		m.probe = rest[:k]
		m.end = len(page) - len(rest) + k + len(f.tag) + 1
		marks = append(marks, m)
		i = m.end
	}
	starts := make([]int, len(marks))
	ends := make([]int, len(marks))
	for i, m := range marks {
		starts[i], ends[i] = m.start, m.end
	}
	ctxs := scanContexts(page, starts, ends)
	last := 0
	for i, m := range marks {
		var fl fill
		if f.probe {
			if fl = fillFor(m.probe, ctxs[i]); fl == 0 {
				return nil
			}
		}
		st.parts = append(st.parts, page[last:m.start])
		st.slots = append(st.slots, slot{value: m.value, fill: fl})
		last = m.end
	}
	st.parts = append(st.parts, page[last:])
	for _, p := range st.parts {
		st.size += len(p)
	}
	return st
}

// fillFor is the fill of a marker whose probe became probe at place c; 0 when
// that is not a combination this file can reproduce.
func fillFor(p string, c htmlContext) fill {
	html := p == probeAs.text && p == probeAs.attr
	str := p == template.HTMLEscapeString(probe)
	switch c.kind {
	case inText, inAttr:
		switch {
		case html:
			return fillHTML
		case str:
			return fillString
		}
	case inURL:
		switch {
		case c.start && (html || str || p == probeAs.url || p == probeAs.path):
			return fillInertURL
		case html || str || p == probeAs.url || p == probeAs.path || p == probeAs.query:
			return fillInert
		}
	}
	return 0
}

// htmlContext is where in a page a marker landed.
type htmlContext struct {
	kind  placeKind
	start bool // at the start of an attribute's value
}

type placeKind uint8

const (
	inOther placeKind = iota // in a tag, a script, a style, a comment, an unquoted or single-quoted value, …
	inText                   // HTML text (RCDATA of a <title> or <textarea> included)
	inAttr                   // a double-quoted value of an attribute html/template treats as plain text
	inURL                    // a double-quoted value of a URL attribute
)

// scanContexts reads page as HTML and returns where each marker [starts[i],
// ends[i]) is. A marker is skipped over, not read: the escapers a slot accepts
// never write a character that changes where in the HTML the page is.
func scanContexts(page string, starts, ends []int) []htmlContext {
	out := make([]htmlContext, len(starts))
	const (
		text = iota
		tag
		dq      // a double-quoted attribute value
		sq      // a single-quoted one
		unq     // an unquoted one
		raw     // <script>, <style>: text that is not HTML
		rcdata  // <title>, <textarea>: text without tags
		comment // <!-- … -->
		bang    // <!doctype …>, </end>: up to '>'
	)
	state, tagName, attrName, valueStart, next := text, "", "", 0, 0
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
	for i := 0; i < len(page); {
		if next < len(starts) && i == starts[next] {
			c := htmlContext{}
			switch state {
			case text, rcdata:
				c.kind = inText
			case dq:
				switch attrKind(attrName) {
				case attrPlain:
					c.kind = inAttr
				case attrURL:
					c.kind, c.start = inURL, i == valueStart
				}
			}
			out[next] = c
			i = ends[next]
			next++
			continue
		}
		ch := page[i]
		switch state {
		case text:
			switch {
			case ch != '<' || i+1 == len(page):
			case strings.HasPrefix(page[i:], "<!--"):
				state, i = comment, i+3
			case page[i+1] == '!' || page[i+1] == '/' || page[i+1] == '?':
				state = bang
			case isLetter(page[i+1]):
				j := i + 1
				for j < len(page) && (isLetter(page[j]) || '0' <= page[j] && page[j] <= '9') {
					j++
				}
				tagName, state, i = strings.ToLower(page[i+1:j]), tag, j-1
			}
		case tag:
			switch {
			case ch == '>':
				state = text
				switch tagName {
				case "script", "style":
					state = raw
				case "title", "textarea":
					state = rcdata
				}
			case space(ch) || ch == '/':
			default:
				j := i
				for j < len(page) && !space(page[j]) && !strings.ContainsRune("/>=", rune(page[j])) {
					j++
				}
				attrName = strings.ToLower(page[i:j])
				for j < len(page) && space(page[j]) {
					j++
				}
				if j == len(page) || page[j] != '=' {
					i = j
					continue
				}
				j++
				for j < len(page) && space(page[j]) {
					j++
				}
				switch {
				case j < len(page) && page[j] == '"':
					state, valueStart, i = dq, j+1, j+1
				case j < len(page) && page[j] == '\'':
					state, i = sq, j+1
				default:
					state, i = unq, j
				}
				continue
			}
		case dq:
			if ch == '"' {
				state = tag
			}
		case sq:
			if ch == '\'' {
				state = tag
			}
		case unq:
			if space(ch) || ch == '>' {
				state = tag
				continue
			}
		case raw, rcdata:
			if end := "</" + tagName; len(page)-i >= len(end) && strings.EqualFold(page[i:i+len(end)], end) {
				state = bang
			}
		case comment:
			if strings.HasPrefix(page[i:], "-->") {
				state, i = text, i+2
			}
		case bang:
			if ch == '>' {
				state = text
			}
		}
		i++
	}
	return out
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

type attrClass uint8

const (
	attrOther attrClass = iota // script, style, srcset: not supported
	attrPlain
	attrURL
)

// attrKind classifies an attribute as html/template does (its attrType): the
// name without "data-" (or an XML prefix), then a table, then "on…" for script
// and "src", "uri" or "url" in the name for a URL.
func attrKind(name string) attrClass {
	if after, ok := strings.CutPrefix(name, "data-"); ok {
		name = after
	} else if prefix, short, ok := strings.Cut(name, ":"); ok {
		if prefix == "xmlns" {
			return attrURL
		}
		name = short
	}
	switch name {
	case "action", "archive", "background", "cite", "classid", "codebase", "data", "formaction", "href", "icon",
		"longdesc", "manifest", "poster", "profile", "src", "usemap", "xmlns":
		return attrURL
	case "srcdoc", "srcset", "style":
		return attrOther
	}
	switch {
	case strings.HasPrefix(name, "on"):
		return attrOther
	case strings.Contains(name, "src"), strings.Contains(name, "uri"), strings.Contains(name, "url"):
		return attrURL
	}
	return attrPlain
}
