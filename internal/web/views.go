package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
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
)

type views map[string]*template.Template

func parseViews() (*views, error) {
	layout, err := template.New("layout.html").Option("missingkey=error").ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	v := views{}
	for _, name := range []string{viewCode, viewLink, viewMessage, viewOutbox} {
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
	// AlertOnInput says the alert is about the code typed.
	AlertOnInput bool
	// Nonces by form action.
	Nonces  map[string]string
	Choices []int
	// Message pages.
	Heading, Body string
	// Tone styles a message page: "ok", "stop" or "" (neutral).
	Tone string
	// Dev outbox.
	Outbox []outboxRow
}

// outboxRow is one message on the dev outbox page.
type outboxRow struct {
	Channel, To, Subject, Text string
	Sent                       time.Time
}

// Lang is the page's language, for <html lang>.
func (v *view) Lang() string { return v.lang }

// render executes a page and writes it with status. The page is rendered to a
// buffer first, so a template defect is a clean 500, not half a page.
func (s *server) render(w http.ResponseWriter, status int, name string, v *view) {
	if v.Brand == "" {
		v.Brand = s.cfg.Brand
	}
	v.CSS = s.url(s.assets.cssPath)
	var buf bytes.Buffer
	if err := (*s.views)[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("render page", "view", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Vary", "Accept-Language")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// assets are the static files, served under content-hashed names so that they can
// be cached for a year.
type assets struct {
	byName  map[string]asset
	cssPath string
}

type asset struct {
	body        []byte
	contentType string
}

func loadAssets() (*assets, error) {
	css, err := fs.ReadFile(staticFS, "static/app.css")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	name := "app." + hex.EncodeToString(sum[:6]) + ".css"
	return &assets{
		byName:  map[string]asset{name: {body: css, contentType: "text/css; charset=utf-8"}},
		cssPath: "/static/" + name,
	}, nil
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
