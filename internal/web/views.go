package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// The page templates; each defines "content" and is rendered inside "layout".
const (
	viewCode    = "code.html"
	viewLink    = "link.html"
	viewMessage = "message.html"
	viewOutbox  = "outbox.html"
	viewEnroll  = "enroll.html"
	viewReport  = "report.html"
	// viewHandover is a verified page with the handover it offers (handover.go).
	viewHandover = "handover.html"
)

type views map[string]*template.Template

func parseViews() (*views, error) {
	layout, err := template.New("layout.html").Option("missingkey=error").ParseFS(templateFS,
		"templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	v := views{}
	for _, name := range []string{viewCode, viewLink, viewMessage, viewOutbox, viewEnroll, viewReport, viewHandover} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name)
		if err != nil {
			return nil, err
		}
		v[name] = t
	}
	return &v, nil
}

// view is what a template sees. Its catalog's T method localizes every string.
type view struct {
	*catalog
	Title string
	Brand string
	CSS   string
	// Code and magic-link pages.
	Network, Handle, Destination string
	Action                       string
	Alert                        string
	// Invalid names the form ("code" or "totp") whose typed code the alert is about.
	Invalid string
	// Nonces by form action.
	Nonces map[string]string
	// Choices are the numbers a magic link's page offers, as the page shows them.
	Choices []string
	// Sections are the code page's ways to finish, in the platform's order:
	// "code" (the code sent), "totp" and "passkey".
	Sections []string
	// Passkey is the passkey button of a code or enrollment page.
	Passkey *ceremonyView
	// InApp is the notice for in-app browsers, on pages that offer a passkey.
	InApp *inAppView
	// Scripts are the URLs of the page's scripts, ScriptNonce their CSP nonce; a
	// page without Scripts runs no script.
	Scripts     []string
	ScriptNonce string
	// Header: the brand's logo (its URL, "" for none) and the host the page is on.
	Logo, Host string
	// Switch offers the language switch: on pages that a GET shows again as they
	// are (a form, the neutral page), never on an outcome only a POST reached.
	Switch bool
	// Langs is the language switch's markup (langNav), set by render when Switch
	// is, with links to Self (the page's own URL under PublicURL; Action when
	// empty; "." for a relative link to the page itself).
	Langs template.HTML
	Self  string
	// Trust cues of a verification's page: the brand's official account on the
	// verification's network ("" when the configuration names none), when the
	// verification expires, and the phrase the DM text carries, in the DM's
	// language (PhraseLang).
	Account string
	Expires time.Time
	// ExpiresIn is how long the page has left by the service's clock: the
	// countdown runs from it, so a phone whose clock is off still counts right.
	ExpiresIn time.Duration
	// ExpiresUTC, ExpiresClock and ExpiresLeft are Expires as the page says it
	// (RFC 3339 in UTC, "15:04", whole seconds left), set by render; "" when
	// Expires is zero.
	ExpiresUTC, ExpiresClock, ExpiresLeft string
	Phrase, PhraseLang                    string
	// Timing holds the texts the page script shows as the page nears its expiry.
	Timing *timingView
	// Enrollment pages: Kind is "totp" or "passkey"; Setup is the TOTP setup step.
	Kind  string
	Setup *totpSetupView
	// Message pages.
	Heading, Body string
	// Tone styles a message page: "ok", "stop" or "" (neutral).
	Tone string
	// Dev outbox.
	Outbox []outboxRow
	// Events are the event deliveries on the dev outbox page, newest first; ShowEvents
	// tells whether events are on.
	Events     []eventRow
	ShowEvents bool
	// Handover is the offer of a verified page (or a pending page's phone
	// offer); FormTarget is the origin its form's POST redirects to, which the
	// page's CSP form-action allows besides 'self'.
	Handover   *handoverView
	FormTarget string
}

// timingView is what the page script needs to count down and warn.
type timingView struct {
	// Left formats the countdown ("%[1]s left"); Soon and Expired are said in a
	// live region a minute before and at the expiry.
	Left, Soon, Expired string
	// WebOTP asks the browser for the code of an SMS (WebOTP API) where it can.
	WebOTP bool
	// Extend, when the page offers "I need more time", is said instead of Soon: it
	// points at that button.
	Extend string
}

// eventRow is one event delivery attempt on the dev outbox page.
type eventRow struct {
	Time                                  time.Time
	ID, Type, Client, URL, Outcome, Error string
	Status, N                             int
	Body                                  string
}

// outboxRow is one message on the dev outbox page.
type outboxRow struct {
	Channel, To, Subject, Text string
	Sent                       time.Time
}

// Lang is the page's language, for <html lang>.
func (v *view) Lang() string { return v.lang }

// Has reports whether the code page offers section.
func (v *view) Has(section string) bool {
	for _, s := range v.Sections {
		if s == section {
			return true
		}
	}
	return false
}

// ceremonyView is what the passkey script needs: where to begin and finish, and
// the nonce that lets it begin.
type ceremonyView struct {
	Mode          string // "get" (verify) or "create" (enroll)
	Begin, Finish string
	Nonce         string
}

// inAppView is the notice that tells a customer in a social app's own browser how
// to open the page in the phone's browser. Shown says the server recognised the
// app (App names it); otherwise the notice stays hidden unless the script finds
// no WebAuthn in the browser.
type inAppView struct {
	Shown bool
	App   string
	// Link is the page's own URL, to copy.
	Link string
	// Others says the page offers a way that works anywhere (a code).
	Others bool
}

// totpSetupView is the TOTP setup step: the key as a QR code, as a link for an
// app on the same phone, and typed by hand.
type totpSetupView struct {
	// QRPath is the SVG path of the QR code's dark modules; QRSize its side,
	// quiet zone included, in modules.
	QRPath string
	QRSize int
	// KeyURI is the otpauth:// URI, checked before it is marked safe.
	KeyURI template.URL
	// Secret is the base32 secret in groups of four.
	Secret []string
}

// render executes a page and writes it with status. The page is rendered to a
// buffer first, so a template defect is a clean 500, not half a page. A page
// with a script gets its own CSP nonce and the policy that names it. The pages
// every verification shows are written from their stencils (stencil.go).
func (s *server) render(w http.ResponseWriter, status int, name string, v *view) {
	s.prepare(v)
	if len(v.Scripts) > 0 {
		var raw [18]byte
		if _, err := io.ReadFull(s.nonces.random, raw[:]); err != nil {
			s.log.Error("render page: script nonce", "view", name, "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		v.ScriptNonce = base64.RawURLEncoding.EncodeToString(raw[:])
		w.Header().Set("Content-Security-Policy", scriptPolicy(v.ScriptNonce))
	}
	if v.FormTarget != "" {
		h := w.Header()
		h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"),
			"form-action 'self'", "form-action 'self' "+v.FormTarget, 1))
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(buf)
	if err := s.page(buf, name, v); err != nil {
		s.log.Error("render page", "view", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Vary", "Accept-Language")
	if v.InApp != nil {
		h.Add("Vary", "User-Agent")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageBuffers hold rendered pages between requests: a page is 5 to 7 kB, and
// the buffer is written to the response, which copies it, before it returns.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putPageBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // a dev outbox page: let it go
	}
	b.Reset()
	pageBuffers.Put(b)
}

// prepare fills in what every page shows from the server (brand, stylesheet,
// host, logo) and the expiry as the page says it.
func (s *server) prepare(v *view) {
	if v.Brand == "" {
		v.Brand = s.cfg.Brand
	}
	v.CSS = s.url(s.assets.cssPath)
	if v.Host == "" {
		v.Host = s.host
	}
	if v.Logo == "" && s.assets.logoPath != "" {
		v.Logo = s.url(s.assets.logoPath)
	}
	if !v.Expires.IsZero() {
		t := v.Expires.UTC()
		v.ExpiresUTC, v.ExpiresClock = t.Format(time.RFC3339), t.Format("15:04")
		v.ExpiresLeft = strconv.FormatInt(int64(max(v.ExpiresIn, 0)/time.Second), 10)
	}
}

// page renders view name with v (prepared) into b: from its stencil when it has
// one, else by executing the template.
func (s *server) page(b *bytes.Buffer, name string, v *view) error {
	if s.stencilPage(name, v, b) {
		return nil
	}
	b.Reset()
	return s.execute(b, name, v)
}

// execute executes view name's template with v (prepared) into b.
func (s *server) execute(b *bytes.Buffer, name string, v *view) error {
	if v.Switch && v.catalog != nil {
		page := v.Self
		switch page {
		case "":
			page = v.Action
		case ".":
			page = "" // relative: "?lang=…" is this very page
		}
		v.Langs = langNav(v.catalog, page)
	}
	b.Grow(8 << 10) // a verification page is 5 to 7 kB: no growing copies
	return (*s.views)[name].ExecuteTemplate(b, "layout", v)
}

// A stencil (stencil.go) sees a view as its shape and its values. Every field of
// view and of the views it points to is one of:
//
//   - a value (slots): a string of one verification or request, filled into
//     the page per request; only whether it is empty is part of the shape;
//   - part of the shape (shape): the page is made once for each;
//   - derived while rendering (Langs from Self or Action; Expires*, from Expires
//     and ExpiresIn, by prepare), or
//   - only on pages not rendered from stencils (stencilable).
//
// TestStencilFieldsClassified fails when a field is none of these: a new field
// must be added to slots or to shape (or to the test's list of derived fields).

// stencilable reports whether v's fields are all slots or shape.
func (v *view) stencilable() bool {
	return v.catalog != nil && v.Setup == nil && len(v.Outbox) == 0 && len(v.Events) == 0 && !v.ShowEvents
}

// slots calls f with each value of v in a fixed order and sets the value to
// what f returns.
func (v *view) slots(f func(string) string) {
	for _, p := range []*string{&v.Brand, &v.Network, &v.Handle, &v.Destination, &v.Action, &v.ScriptNonce,
		&v.Account, &v.ExpiresUTC, &v.ExpiresClock, &v.ExpiresLeft, &v.Phrase} {
		*p = f(*p)
	}
	if len(v.Nonces) > 0 {
		var kb [16]string
		for _, k := range sortedKeys(kb[:0], v.Nonces) {
			if old, n := v.Nonces[k], f(v.Nonces[k]); n != old {
				v.Nonces[k] = n
			}
		}
	}
	for i := range v.Choices {
		v.Choices[i] = f(v.Choices[i])
	}
	if p := v.Passkey; p != nil {
		p.Begin, p.Finish, p.Nonce = f(p.Begin), f(p.Finish), f(p.Nonce)
	}
	if a := v.InApp; a != nil {
		a.Link = f(a.Link)
	}
	if h := v.Handover; h != nil {
		h.Action, h.Nonce, h.CallCode = f(h.Action), f(h.Nonce), f(h.CallCode)
	}
}

// shape appends v's shape to key and its values to values. The shape is every
// field a page's bytes depend on that is not a value, and which values are empty.
func (v *view) shape(key []byte, values []string) ([]byte, []string) {
	str := func(s string) {
		key = strconv.AppendInt(key, int64(len(s)), 10)
		key = append(key, ':')
		key = append(key, s...)
	}
	flag := func(b bool) {
		if b {
			key = append(key, '1')
		} else {
			key = append(key, '0')
		}
	}
	for _, s := range []string{v.lang, v.Title, v.CSS, v.Alert, v.Invalid, v.Logo, v.Host, v.Self, v.PhraseLang,
		v.Kind, v.Heading, v.Body, v.Tone, v.FormTarget} {
		str(s)
	}
	flag(v.Switch)
	key = append(key, '|')
	for _, s := range v.Sections {
		str(s)
	}
	key = append(key, '|')
	for _, s := range v.Scripts {
		str(s)
	}
	key = append(key, '|')
	var kb [16]string
	for _, k := range sortedKeys(kb[:0], v.Nonces) {
		str(k)
	}
	key = append(key, '|')
	key = strconv.AppendInt(key, int64(len(v.Choices)), 10)
	if t := v.Timing; t != nil {
		key = append(key, 't')
		str(t.Left)
		str(t.Soon)
		str(t.Expired)
		str(t.Extend)
		flag(t.WebOTP)
	}
	if p := v.Passkey; p != nil {
		key = append(key, 'p')
		str(p.Mode)
	}
	if a := v.InApp; a != nil {
		key = append(key, 'a')
		str(a.App)
		flag(a.Shown)
		flag(a.Others)
	}
	if h := v.Handover; h != nil {
		key = append(key, 'h')
		str(h.Channel)
		str(h.Number)
		str(string(h.Tel))
		str(h.Note)
		key = strconv.AppendInt(key, int64(h.Minutes), 10)
	}
	key = append(key, '|')
	v.slots(func(s string) string {
		flag(s != "")
		if s != "" {
			values = append(values, s)
		}
		return s
	})
	return key, values
}

// clone returns a copy of v whose values can be set without touching v's.
func (v *view) clone() *view {
	c := *v
	if v.Nonces != nil {
		c.Nonces = make(map[string]string, len(v.Nonces))
		for k, n := range v.Nonces {
			c.Nonces[k] = n
		}
	}
	c.Choices = slices.Clone(v.Choices)
	if v.Passkey != nil {
		p := *v.Passkey
		c.Passkey = &p
	}
	if v.InApp != nil {
		a := *v.InApp
		c.InApp = &a
	}
	if v.Handover != nil {
		h := *v.Handover
		c.Handover = &h
	}
	return &c
}

// sortedKeys appends m's keys to dst in order.
func sortedKeys(dst []string, m map[string]string) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// assets are the static files, served under content-hashed names so that they can
// be cached for a year.
type assets struct {
	byName map[string]asset
	// cssPath is the stylesheet: app.css, then the brand's colour when set.
	cssPath string
	// jsPath is the passkey script: ceremonies, the in-app notice's copy button.
	jsPath string
	// pageJSPath is the script of the verification pages: expiry in local time,
	// countdown and warning, WebOTP.
	pageJSPath string
	// logoPath is the brand's logo, "" when none is configured.
	logoPath string
}

type asset struct {
	body        []byte
	contentType string
}

// loadAssets reads the embedded files and adds the brand's: its colour to the
// stylesheet and its logo (already checked by New).
func loadAssets(b BrandCues) (*assets, error) {
	a := &assets{byName: map[string]asset{}}
	add := func(file, contentType string, body []byte, path_ *string) {
		sum := sha256.Sum256(body)
		ext := path.Ext(file)
		name := strings.TrimSuffix(file, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a.byName[name] = asset{body: body, contentType: contentType}
		*path_ = "/static/" + name
	}
	for _, f := range []struct {
		file, contentType string
		path              *string
	}{
		{"app.css", "text/css; charset=utf-8", &a.cssPath},
		{"passkey.js", "text/javascript; charset=utf-8", &a.jsPath},
		{"page.js", "text/javascript; charset=utf-8", &a.pageJSPath},
	} {
		body, err := fs.ReadFile(staticFS, "static/"+f.file)
		if err != nil {
			return nil, err
		}
		if f.file == "app.css" && b.Colour != "" {
			body = append(body, brandCSS(b.Colour)...)
		}
		add(f.file, f.contentType, body, f.path)
	}
	if len(b.Logo) > 0 {
		kind, err := CheckLogo(b.Logo)
		if err != nil {
			return nil, err
		}
		add("logo."+kind.ext, kind.contentType, b.Logo, &a.logoPath)
	}
	return a, nil
}

func (s *server) static(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets.byName[r.PathValue("name")]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}

// langNav is the language switch of a page in c's language: one link per
// supported language to the page itself (page, its URL under PublicURL, or ""
// for a relative link) with "?lang=" and nothing else, the current one marked. A
// GET changes nothing, so the link can change nothing but the language; the
// page's forms carry it on as their "lang". It is built here rather than by a
// template range: it is on every page, and a range of escaped attributes cost
// more than the rest of the page's template together.
func langNav(c *catalog, page string) template.HTML {
	href := template.HTMLEscapeString(page) + "?lang="
	var b strings.Builder
	b.Grow(160 + len(catalogs)*(90+len(href)))
	b.WriteString(`<nav class="langs" aria-label="`)
	b.WriteString(template.HTMLEscapeString(c.T("lang.switch")))
	b.WriteString(`"><ul>`)
	for _, o := range catalogs {
		name := template.HTMLEscapeString(o.lang)
		b.WriteString("\n<li><a href=\"")
		b.WriteString(href)
		b.WriteString(url.QueryEscape(o.lang))
		b.WriteString(`" lang="` + name + `" hreflang="` + name + `"`)
		if o.lang == c.lang {
			b.WriteString(` aria-current="true"`)
		}
		b.WriteString(">" + template.HTMLEscapeString(o.loc.Endonym) + "</a></li>")
	}
	b.WriteString("\n</ul></nav>")
	return template.HTML(b.String())
}

// ExpiresAt is the verification's expiry for a page: a <time> element with the
// instant in UTC, which the page script rewrites in the phone's time zone and
// language.
func (v *view) ExpiresAt() template.HTML {
	esc := template.HTMLEscapeString
	return template.HTML(`<time id="expires" datetime="` + esc(v.ExpiresUTC) + `" data-seconds="` + esc(v.ExpiresLeft) + `">` +
		esc(v.ExpiresClock) + ` UTC</time>`)
}
