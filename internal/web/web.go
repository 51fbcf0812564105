package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/keyedhash"
)

// DefaultNonceTTL is how long a rendered form stays usable when Config.NonceTTL is zero.
const DefaultNonceTTL = time.Hour

// requestTimeout bounds the domain calls one request makes.
const requestTimeout = 10 * time.Second

// Config holds the settings of the HTTP surface.
type Config struct {
	// PublicURL is the absolute http(s) URL the pages are reached at. Every link,
	// form action and asset URL is built from it; routes live under its path.
	PublicURL *url.URL
	// Brand names the brand on pages that show no verification.
	Brand string
	// TLS sends Strict-Transport-Security: set it when PublicURL is https.
	TLS bool
	// DevOutbox, when set (development mode only), is listed at /dev/outbox.
	// When nil that page does not exist.
	DevOutbox *delivery.Outbox
	// NonceTTL is how long a rendered form can be submitted (DefaultNonceTTL when 0).
	NonceTTL time.Duration
}

// Pages is what the customer pages need from the verification lifecycle
// (*challenge.Service implements it).
type Pages interface {
	// OpenCodePage reads what the code page of token shows, changing nothing.
	// Links that are unknown, malformed or no longer usable are challenge.ErrNotFound;
	// a store failure is challenge.ErrUnavailable.
	OpenCodePage(ctx context.Context, token string) (*challenge.Page, error)
	// SubmitCode checks a typed code; requestID makes a repeat count once. Input
	// that is not a 6-digit code is challenge.ErrCodeFormat and counts nothing.
	SubmitCode(ctx context.Context, token, code, requestID string) (challenge.Result, error)
	// ReportCodePage is "this wasn't me" on a code page.
	ReportCodePage(ctx context.Context, token, requestID string) (challenge.Result, error)
	// OpenLinkPage reads what a magic link's page shows, changing nothing.
	OpenLinkPage(ctx context.Context, token string) (*challenge.Page, error)
	// ConfirmLink completes a magic link with the number picked; a wrong number
	// ends the verification FAILED.
	ConfirmLink(ctx context.Context, token string, number int, requestID string) (challenge.Result, error)
	// ReportLink is "this wasn't me" on a magic link's page.
	ReportLink(ctx context.Context, token, requestID string) (challenge.Result, error)
}

// JWKS is the public key set assertions are verified with (*assertion.Keyring
// implements it).
type JWKS interface {
	// JWKS returns the JSON Web Key Set document.
	JWKS() []byte
	// JWKSETag returns a quoted, strong entity tag for the bytes JWKS returns.
	JWKSETag() string
}

// Readiness reports whether the service can serve: typically a Redis PING.
// A non-nil error makes /readyz answer 503.
type Readiness func(ctx context.Context) error

// server is the handler New returns.
type server struct {
	cfg    Config
	pages  Pages
	jwks   JWKS
	ready  Readiness
	nonces nonces
	now    func() time.Time
	log    *slog.Logger
	// base is PublicURL's origin and path without a trailing slash; origin is its
	// origin as a browser serializes it; prefix is its path.
	base, origin, prefix string
	assets               *assets
	views                *views
}

// New returns the HTTP handler for the customer pages, the JWKS, the health
// endpoints and, when cfg.DevOutbox is set, the dev outbox. keys computes the
// form nonces' MACs (any key of the ring verifies, so keys can rotate); now is the
// clock nonces are judged by.
func New(cfg Config, pages Pages, jwks JWKS, ready Readiness, keys *keyedhash.Ring,
	now func() time.Time, log *slog.Logger) (http.Handler, error) {
	u := cfg.PublicURL
	switch {
	case u == nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, errors.New("web: PublicURL must be an absolute http or https URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("web: PublicURL must not carry user info, a query or a fragment")
	case strings.TrimSpace(cfg.Brand) == "":
		return nil, errors.New("web: Brand is required")
	case cfg.NonceTTL < 0:
		return nil, errors.New("web: NonceTTL must not be negative")
	case pages == nil || jwks == nil || ready == nil || keys == nil || now == nil || log == nil:
		return nil, errors.New("web: missing dependency")
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	v, err := parseViews()
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, fmt.Errorf("web: load assets: %w", err)
	}
	s := &server{
		cfg: cfg, pages: pages, jwks: jwks, ready: ready, now: now, log: log,
		nonces: nonces{keys: keys, ttl: cfg.NonceTTL, now: now, random: rand.Reader},
		origin: serializeOrigin(u), prefix: strings.TrimRight(u.EscapedPath(), "/"),
		assets: a, views: v,
	}
	s.base = s.origin + s.prefix
	return s.logRequests(s.secureHeaders(s.routes())), nil
}

// serializeOrigin returns u's origin the way a browser sends it in an Origin header.
func serializeOrigin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

func (s *server) routes() *http.ServeMux {
	p := s.prefix
	mux := http.NewServeMux()
	// A GET pattern also serves HEAD; both only read.
	mux.HandleFunc("GET "+p+"/v/{token}", s.codePage)
	mux.HandleFunc("POST "+p+"/v/{token}", s.codePost)
	mux.HandleFunc("GET "+p+"/l/{token}", s.linkPage)
	mux.HandleFunc("POST "+p+"/l/{token}", s.linkPost)
	// Anything else under the page prefixes is a link that does not work.
	mux.HandleFunc(p+"/v/", s.neutralPage)
	mux.HandleFunc(p+"/l/", s.neutralPage)
	mux.HandleFunc("GET "+p+"/static/{name}", s.static)
	mux.HandleFunc("GET "+p+"/.well-known/jwks.json", s.jwksDoc)
	mux.HandleFunc("GET "+p+"/healthz", s.healthz)
	mux.HandleFunc("GET "+p+"/readyz", s.readyz)
	if s.cfg.DevOutbox != nil {
		mux.HandleFunc("GET "+p+"/dev/outbox", s.devOutbox)
	}
	mux.HandleFunc("GET "+p+"/{$}", s.index)
	mux.HandleFunc("/", s.notFound)
	return mux
}

// contentSecurityPolicy allows the one stylesheet and forms posting back to this
// origin; the pages carry no script at all.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// secureHeaders sets the headers every response carries. Handlers that serve
// cacheable public bytes (assets, JWKS) replace Cache-Control.
func (s *server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		if s.cfg.TLS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request: the route pattern, never the path (it
// holds the page token).
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
}

// url returns the public URL of path (which starts with "/").
func (s *server) url(path string) string { return s.base + path }

// pageURL returns the public URL of a page: kind is "v" or "l".
func (s *server) pageURL(kind, token string) string {
	return s.url("/" + kind + "/" + url.PathEscape(token))
}
