package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/events"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/text"
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
	// DevEvents, when set with DevOutbox (development mode only), lists the event deliveries
	// on the same page.
	DevEvents *events.DevLog
	// NonceTTL is how long a rendered form can be submitted (DefaultNonceTTL when 0).
	NonceTTL time.Duration
	// Cues are the brand's logo, colour and official accounts (all optional),
	// checked by New with CheckLogo, CheckColour and CheckAccount.
	Cues BrandCues
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
	// binding is the keyed hash of the submitting browser's binding secret, kept
	// with the verification once it verifies (see binding.go); so for every
	// completion below.
	SubmitCode(ctx context.Context, token, code, requestID, binding string) (challenge.Result, error)
	// ReportCodePage is "this wasn't me" on a code page.
	ReportCodePage(ctx context.Context, token, requestID string) (challenge.Result, error)
	// ReportCodeImpersonation is "this isn't the account I'm talking to" on a
	// code page: a report whose audit event is flagged as an impersonation.
	ReportCodeImpersonation(ctx context.Context, token, requestID string) (challenge.Result, error)
	// OpenLinkPage reads what a magic link's page shows, changing nothing.
	OpenLinkPage(ctx context.Context, token string) (*challenge.Page, error)
	// ConfirmLink completes a magic link with the number picked; a wrong number
	// ends the verification FAILED.
	ConfirmLink(ctx context.Context, token string, number int, requestID, binding string) (challenge.Result, error)
	// ReportLink is "this wasn't me" on a magic link's page.
	ReportLink(ctx context.Context, token, requestID string) (challenge.Result, error)
	// ReportLinkImpersonation is ReportCodeImpersonation on a magic link's page.
	ReportLinkImpersonation(ctx context.Context, token, requestID string) (challenge.Result, error)
	// ExtendCodePage gives the code page's verification more time ("I need more
	// time"); requestID makes a repeat extend once. It returns the new expiry, or
	// challenge.ErrExtendLimit, challenge.ErrExtendMaxTTL (refused: the page stays
	// as it was), challenge.ErrExpired or challenge.ErrNotPending (it ended).
	ExtendCodePage(ctx context.Context, token, requestID string) (time.Time, error)
	// ExtendLinkPage is ExtendCodePage on a magic link's page.
	ExtendLinkPage(ctx context.Context, token, requestID string) (time.Time, error)
	// SubmitTOTP checks an authenticator-app code typed on the code page; requestID
	// makes a repeat count once. Input that is not 6 digits is
	// challenge.ErrCodeFormat and counts nothing.
	SubmitTOTP(ctx context.Context, token, code, requestID, binding string) (challenge.Result, error)
	// BeginPasskey starts a passkey ceremony for the code page's verification and
	// returns the options for navigator.credentials.get as JSON
	// ({"publicKey": {…}}, binary fields in base64url). A dead link is
	// challenge.ErrNotFound; a locked identity is a *challenge.LockedError.
	BeginPasskey(ctx context.Context, token string) ([]byte, error)
	// FinishPasskey checks the PublicKeyCredential JSON that
	// navigator.credentials.get returned; requestID makes a repeat count once.
	// challenge.OutcomeCeremony means there was no ceremony to finish (timed out,
	// replayed, not a WebAuthn response): the page may begin again.
	FinishPasskey(ctx context.Context, token string, body []byte, requestID, binding string) (challenge.Result, error)
}

// Enrollments is what the enrollment pages (/e/) and a first factor's report
// page (/r/) need from the customer store (*identity.Store implements it). Every
// dead link — unknown, malformed, expired, used — is identity.ErrNotFound; a
// store failure is identity.ErrUnavailable. binding is the keyed hash of the
// asking browser's binding secret ("" for none): a link bound to another browser
// is identity.ErrWrongBrowser.
type Enrollments interface {
	// OpenEnrollment reads what an enrollment link is for, changing nothing.
	OpenEnrollment(ctx context.Context, token, binding string) (*identity.Enrollment, error)
	// BeginTOTP draws the TOTP secret of a TOTP enrollment and returns its
	// otpauth:// URI and the secret, once: a repeat is identity.ErrSeedShown.
	BeginTOTP(ctx context.Context, token, binding string) (uri string, secret []byte, err error)
	// ConfirmTOTP enrolls the factor when code is the app's current code;
	// identity.ErrWrongCode when it is not (the link stays usable);
	// identity.ErrNotice when a first factor's notice could not be sent (nothing
	// stored); a *identity.ProofError when the customer holds a factor already.
	// requestID makes a repeated submission count once.
	ConfirmTOTP(ctx context.Context, token, code, requestID, binding string) (*identity.Factor, error)
	// BeginPasskey starts the registration ceremony of a passkey enrollment.
	BeginPasskey(ctx context.Context, token, binding string) (*protocol.CredentialCreation, error)
	// FinishPasskey registers the credential in body (the PublicKeyCredential JSON
	// navigator.credentials.create returned): identity.ErrCeremony when it does not
	// check out, identity.ErrDuplicateCredential when it is enrolled already, and
	// as ConfirmTOTP for a first factor.
	FinishPasskey(ctx context.Context, token string, body io.Reader, binding string) (*identity.Factor, error)
	// OpenReport reads what a first factor's report link is about, changing nothing.
	OpenReport(ctx context.Context, token string) (*identity.FactorReport, error)
	// Report removes the reported factor, which revokes what it verified.
	Report(ctx context.Context, token string) error
}

// Option configures the handler New returns.
type Option func(*server)

// WithEnrollments serves the enrollment pages (/e/{token}) from e. Without it
// those routes do not exist.
func WithEnrollments(e Enrollments) Option {
	return func(s *server) { s.enroll = e }
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
	enroll Enrollments // nil: no enrollment pages
	// handovers and channels serve the handover offers (handover.go); nil: none.
	handovers Handovers
	channels  *handover.Registry
	jwks      JWKS
	ready     Readiness
	nonces    nonces
	now       func() time.Time
	log       *slog.Logger
	// base is PublicURL's origin and path without a trailing slash; origin is its
	// origin as a browser serializes it; prefix is its path.
	base, origin, prefix string
	// host is PublicURL's host (and port), shown as "You're on <host>".
	host   string
	assets *assets
	views  *views
	// stencils are the pages' stencils by shape (stencil.go).
	stencils stencils
}

// New returns the HTTP handler for the customer pages, the JWKS, the health
// endpoints and, when cfg.DevOutbox is set, the dev outbox. keys computes the
// form nonces' MACs (any key of the ring verifies, so keys can rotate); now is the
// clock nonces are judged by. Options add optional dependencies (WithEnrollments).
func New(cfg Config, pages Pages, jwks JWKS, ready Readiness, keys *keyedhash.Ring,
	now func() time.Time, log *slog.Logger, opts ...Option) (http.Handler, error) {
	s, err := newServer(cfg, pages, jwks, ready, keys, now, log, opts...)
	if err != nil {
		return nil, err
	}
	return s.logRequests(s.secureHeaders(s.routes())), nil
}

// newServer checks the configuration and builds the server New serves.
func newServer(cfg Config, pages Pages, jwks JWKS, ready Readiness, keys *keyedhash.Ring,
	now func() time.Time, log *slog.Logger, opts ...Option) (*server, error) {
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
	brand, err := text.Display(cfg.Brand)
	if err != nil {
		return nil, fmt.Errorf("web: Brand %w", err)
	}
	cfg.Brand = brand
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	if err := checkCues(&cfg.Cues); err != nil {
		return nil, err
	}
	v, err := parseViews()
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	a, err := loadAssets(cfg.Cues)
	if err != nil {
		return nil, fmt.Errorf("web: load assets: %w", err)
	}
	s := &server{
		cfg: cfg, pages: pages, jwks: jwks, ready: ready, now: now, log: log,
		nonces: nonces{keys: keys, ttl: cfg.NonceTTL, now: now, random: rand.Reader},
		origin: serializeOrigin(u), prefix: strings.TrimRight(u.EscapedPath(), "/"),
		assets: a, views: v, host: strings.ToLower(u.Host),
	}
	s.base = s.origin + s.prefix
	for _, o := range opts {
		o(s)
	}
	return s, nil
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
	// The passkey endpoints answer every method, so that a GET or HEAD gets a
	// 405 that says so rather than the neutral page; only a POST acts.
	mux.HandleFunc(p+"/v/{token}/passkey/begin", s.passkeyBegin)
	mux.HandleFunc(p+"/v/{token}/passkey/finish", s.passkeyFinish)
	// Anything else under the page prefixes is a link that does not work.
	if s.handovers != nil {
		mux.HandleFunc("POST "+p+"/v/{token}/handover", s.handoverContinue)
		mux.HandleFunc("GET "+p+"/handover/bind", s.handoverBind)
	}
	mux.HandleFunc(p+"/v/", s.neutralPage)
	mux.HandleFunc(p+"/l/", s.neutralPage)
	if s.enroll != nil {
		mux.HandleFunc("GET "+p+"/e/{token}", s.enrollPage)
		mux.HandleFunc("POST "+p+"/e/{token}", s.enrollPost)
		mux.HandleFunc(p+"/e/{token}/passkey/begin", s.enrollPasskeyBegin)
		mux.HandleFunc(p+"/e/{token}/passkey/finish", s.enrollPasskeyFinish)
		mux.HandleFunc(p+"/e/", s.neutralPage)
		mux.HandleFunc("GET "+p+"/r/{token}", s.reportPage)
		mux.HandleFunc("POST "+p+"/r/{token}", s.reportPost)
		mux.HandleFunc(p+"/r/", s.neutralPage)
	}
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
// origin; a page under it runs no script at all.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// scriptPolicy is the policy of a page that offers a passkey: the one script this
// render names by its nonce, fetches back to this origin only, and no string ever
// reaching a DOM sink that could run it (Trusted Types, which the script never needs).
func scriptPolicy(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; connect-src 'self'; style-src 'self'; " +
		"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'"
}

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

// pageURL returns the public URL of a page: kind is "v", "l", "e" or "r".
func (s *server) pageURL(kind, token string) string {
	return s.url("/" + kind + "/" + url.PathEscape(token))
}
