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
	"path"
	"strings"
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
	Nonces  map[string]string
	Choices []int
	// Sections are the code page's ways to finish, in the platform's order:
	// "code" (the code sent), "totp" and "passkey".
	Sections []string
	// Passkey is the passkey button of a code or enrollment page.
	Passkey *ceremonyView
	// InApp is the notice for in-app browsers, on pages that offer a passkey.
	InApp *inAppView
	// Script is the URL of the page's script, ScriptNonce its CSP nonce; a page
	// without Script runs no script.
	Script, ScriptNonce string
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
// with a script gets its own CSP nonce and the policy that names it.
func (s *server) render(w http.ResponseWriter, status int, name string, v *view) {
	if v.Brand == "" {
		v.Brand = s.cfg.Brand
	}
	v.CSS = s.url(s.assets.cssPath)
	if v.Script != "" {
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
	var buf bytes.Buffer
	if err := (*s.views)[name].ExecuteTemplate(&buf, "layout", v); err != nil {
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

// assets are the static files, served under content-hashed names so that they can
// be cached for a year.
type assets struct {
	byName  map[string]asset
	cssPath string
	// jsPath is the passkey script: ceremonies, the in-app notice's copy button.
	jsPath string
}

type asset struct {
	body        []byte
	contentType string
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]asset{}}
	for _, f := range []struct {
		file, contentType string
		path              *string
	}{
		{"app.css", "text/css; charset=utf-8", &a.cssPath},
		{"passkey.js", "text/javascript; charset=utf-8", &a.jsPath},
	} {
		body, err := fs.ReadFile(staticFS, "static/"+f.file)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(f.file)
		name := strings.TrimSuffix(f.file, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a.byName[name] = asset{body: body, contentType: f.contentType}
		*f.path = "/static/" + name
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
