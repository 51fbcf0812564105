package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/events"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/web"
)

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// htmlResponses returns one response of every kind of HTML page.
func htmlResponses(t *testing.T, e *env) map[string]response {
	t.Helper()
	code := e.start(challenge.OTPEmail, "en")
	link := e.start(challenge.MagicLink, "es")
	codePage, linkPage := e.GET(code.url, nil), e.GET(link.url, nil)
	wrong := e.submit(codePage, "code", url.Values{"code": {"000000"}}, nil)
	if code.secret == "000000" {
		wrong = e.submit(codePage, "code", url.Values{"code": {"000001"}}, nil)
	}
	out := map[string]response{
		"code page":       codePage,
		"link page":       linkPage,
		"wrong code":      wrong,
		"bad format":      e.submit(wrong, "code", url.Values{"code": {"12"}}, nil),
		"no nonce":        e.POST(code.url, url.Values{"action": {"code"}, "code": {"123456"}}, nil),
		"cross-site":      e.submit(wrong, "code", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}),
		"index":           e.GET(e.public+"/", nil),
		"not found":       e.GET(e.public+"/nope", nil),
		"neutral":         e.GET(e.public+"/v/nope", nil),
		"dev outbox":      e.GET(e.public+"/dev/outbox", nil),
		"verified":        e.submit(wrong, "code", url.Values{"code": {code.secret}}, nil),
		"reported":        e.submit(linkPage, "report", nil, nil),
		"neutral spanish": e.GET(e.public+"/l/nope", map[string]string{"Accept-Language": "es"}),
	}
	mismatch := e.start(challenge.MagicLink, "en")
	mp := e.GET(mismatch.url, nil)
	for _, c := range choiceValues(t, mp.body) {
		if c != mismatch.secret {
			out["mismatch"] = e.submit(mp, "pick", url.Values{"number": {c}}, nil)
			break
		}
	}
	down := newEnv(t, envOpts{})
	downCode := down.start(challenge.OTPEmail, "en")
	down.srv.Kill()
	out["unavailable"] = down.GET(downCode.url, nil)
	for name, r := range factorResponses(t, e) {
		out[name] = r
	}
	for name, r := range handoverResponses(t) {
		out[name] = r
	}
	return out
}

// handoverResponses are the handover pages: a verified page offering the secure
// channel, a pending page offering the phone, and the bind's refusals.
func handoverResponses(t *testing.T) map[string]response {
	t.Helper()
	h := newEnv(t, envOpts{channels: channelsFor(t, "https://app.example.com/handover")})
	ctx := context.Background()
	offer := h.start(challenge.OTPEmail, "en")
	ho, err := h.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: offer.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient})
	if err != nil {
		t.Fatal(err)
	}
	phone := h.start(challenge.OTPEmail, "es")
	if _, err := h.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: phone.id,
		Kind: challenge.HandoverPhone, Redeemer: ivrClient}); err != nil {
		t.Fatal(err)
	}
	bind := func(redirect string) string {
		return h.public + "/handover/bind?" + url.Values{"handover": {ho.ID}, "code_challenge": {handover.Challenge(strings.Repeat("v", 43))},
			"code_challenge_method": {"S256"}, "redirect_uri": {redirect}}.Encode()
	}
	verified := h.submit(h.GET(offer.url, nil), "code", url.Values{"code": {offer.secret}}, nil)
	bound := map[string]string{"Cookie": strings.SplitN(verified.header.Get("Set-Cookie"), ";", 2)[0]}
	return map[string]response{
		"handover offer":         verified,
		"phone offer":            h.GET(phone.url, nil),
		"handover bad redirect":  h.GET(bind("https://evil.example/"), nil),
		"handover other browser": h.GET(bind("https://app.example.com/handover"), nil),
		"handover no state":      h.GET(bind("https://app.example.com/handover"), bound),
	}
}

// factorResponses returns one response of every kind of page of the enrolled
// methods: the code page offering a code, an authenticator app and a passkey, and
// the enrollment pages.
func factorResponses(t *testing.T, e *env) map[string]response {
	t.Helper()
	_, port, _ := strings.Cut(strings.TrimPrefix(e.public, "http://"), ":")
	e.enrollPasskey("cust-pages", newPasskey(t, "http://localhost:"+port))
	key := e.enrollTOTP("cust-pages")
	res, err := e.svc.Start(t.Context(), challenge.StartRequest{
		ClientID: clientID, Identity: challenge.Identity{Network: "x", UserID: "1234567", Handle: "@alice"},
		CustomerID: "cust-pages", Methods: []challenge.Method{challenge.OTPEmail, challenge.TOTP, challenge.WebAuthn},
		Audience: "crm", AgentID: "agent-7", ConversationID: "conv-pages", Locale: "en", RequestID: "req-pages",
		Destination: &challenge.Destination{Kind: challenge.Email, Value: "alice@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := e.GET(res.PageURL, nil)
	if fs := forms(t, all.body); fs["code"] == nil || fs["totp"] == nil || !strings.Contains(all.body, `id="passkey"`) {
		t.Fatalf("the page does not offer every method:\n%s", all.body)
	}
	wrong := fmt.Sprintf("%06d", (atoi(e.totpCode(key))+1)%1000000)
	totpWrong := e.submit(all, "totp", url.Values{"code": {wrong}}, nil)

	intro := e.GET(e.enrollment("cust-pages", identity.KindTOTP, "es"), nil)
	setup := e.submit(intro, "begin", nil, nil)
	setupWrong := e.submit(setup, "confirm", url.Values{"code": {"12"}}, nil)
	out := map[string]response{
		"all methods":            all,
		"all methods in-app":     e.GET(res.PageURL, map[string]string{"User-Agent": uaInstagram}),
		"totp wrong":             totpWrong,
		"totp format":            e.submit(totpWrong, "totp", url.Values{"code": {"1"}}, nil),
		"enroll totp intro":      intro,
		"enroll totp setup":      setup,
		"enroll totp wrong":      setupWrong,
		"enroll totp done":       e.submit(setupWrong, "confirm", url.Values{"code": {e.totpCode(keyOf(t, setup).Secret())}}, nil),
		"enroll passkey":         e.GET(e.enrollment("cust-pages", identity.KindPasskey, "en"), nil),
		"enroll passkey in-app":  e.GET(e.enrollment("cust-pages", identity.KindPasskey, "es"), map[string]string{"User-Agent": uaInstagram}),
		"enroll neutral":         e.GET(e.public+"/e/nope", nil),
		"enroll refused":         e.POST(setup.public+"/e/nope", url.Values{"action": {"begin"}}, nil),
		"verified with the code": e.submit(totpWrong, "totp", url.Values{"code": {e.totpCode(key)}}, nil),
	}
	return out
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	inline := regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:|<style|https?://[^"]*(fonts\.|cdn)`)
	scriptTag := regexp.MustCompile(`<script src="([^"]+)" nonce="([A-Za-z0-9_-]{24})" defer></script>`)
	for name, r := range htmlResponses(t, e) {
		t.Run(name, func(t *testing.T) {
			h := r.header
			// A page runs no script, or only its own: the verification pages'
			// script and the passkey script, from the public URL, allowed by this
			// response's own nonce.
			csp := wantCSP
			if n := strings.Count(strings.ToLower(r.body), "<script"); n > 0 {
				m := scriptTag.FindAllStringSubmatch(r.body, -1)
				if n > 2 || len(m) != n {
					t.Fatalf("scripts: %d tags, %q", n, m)
				}
				for _, s := range m {
					if !strings.HasPrefix(s[1], r.public+"/static/passkey.") && !strings.HasPrefix(s[1], r.public+"/static/page.") || s[2] != m[0][2] {
						t.Fatalf("scripts: %q", m)
					}
				}
				csp = "default-src 'none'; script-src 'nonce-" + m[0][2] + "'; connect-src 'self'; style-src 'self'; " +
					"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
					"require-trusted-types-for 'script'"
			}
			if name == "handover offer" {
				// Its form's POST redirects to the channel: the one origin form-action adds.
				csp = strings.Replace(csp, "form-action 'self'", "form-action 'self' https://app.example.com", 1)
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": csp,
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Content-Type":            "text/html; charset=utf-8",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if pp := h.Get("Permissions-Policy"); !strings.Contains(pp, "camera=()") {
				t.Errorf("Permissions-Policy %q", pp)
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Error("HSTS sent without TLS")
			}
			if m := inline.FindString(r.body); m != "" {
				t.Errorf("page has %q: no inline script or style, no external font or CDN", m)
			}
			// Every URL the page names is on the public URL; the exceptions are
			// the TOTP key's link for an authenticator app on the same phone and
			// the brand's configured phone number (a phone handover).
			for _, m := range regexp.MustCompile(`(?:href|action|src|data-begin|data-finish)="([^"]+)"`).FindAllStringSubmatch(r.body, -1) {
				// (A message page's language switch links to itself by "?lang=…".)
				if m[1] != "data:," && !strings.HasPrefix(m[1], r.public+"/") && !strings.HasPrefix(m[1], "otpauth://totp/") &&
					m[1] != "tel:&#43;34900123456" && !regexp.MustCompile(`^\?lang=[A-Za-z-]+$`).MatchString(m[1]) {
					t.Errorf("URL %q is not built from the public URL", m[1])
				}
			}
		})
	}
}

func TestPublicURLNotHostHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.start(challenge.OTPEmail, "en")
	req, _ := http.NewRequest(http.MethodGet, v.url, nil)
	req.Host = "evil.example"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if strings.Contains(string(b), "evil.example") {
		t.Fatal("the page used the Host header")
	}
	for _, f := range forms(t, string(b)) {
		if !strings.HasPrefix(f.Get("@action"), e.public+"/v/") {
			t.Fatalf("form action %q", f.Get("@action"))
		}
	}
}

func TestHSTSAndPathPrefix(t *testing.T) {
	t.Parallel()
	keys, _ := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)})
	pub, _ := url.Parse("https://verify.example.com:443/care/")
	h, err := web.New(web.Config{PublicURL: pub, Brand: "Acme", TLS: true}, gonePages{}, staticJWKS{},
		func(context.Context) error { return nil }, keys, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		status int
	}{
		{"/care/", http.StatusOK},
		{"/care/healthz", http.StatusOK},
		{"/care/v/nope", http.StatusNotFound},
		{"/healthz", http.StatusNotFound},
		{"/care/dev/outbox", http.StatusNotFound}, // no outbox outside dev mode
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, rec.Code, tc.status)
		}
		if got := rec.Header().Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("%s: HSTS %q", tc.path, got)
		}
		if tc.path == "/care/" && !strings.Contains(rec.Body.String(), `href="https://verify.example.com/care/static/app.`) {
			t.Errorf("asset URL not under the public URL:\n%s", rec.Body.String())
		}
	}
	// The origin check knows https://verify.example.com:443 as https://verify.example.com.
	req := httptest.NewRequest(http.MethodPost, "/care/v/nope", strings.NewReader("action=code"))
	req.Header.Set("Origin", "https://verify.example.com")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound { // reached the page (neutral), not refused as cross-origin
		t.Errorf("same-origin POST: %d", rec.Code)
	}
}

// gonePages answers every page as gone, for tests that need no domain.
type gonePages struct{}

func (gonePages) OpenCodePage(context.Context, string) (*challenge.Page, error) {
	return nil, challenge.ErrNotFound
}
func (gonePages) SubmitCode(context.Context, string, string, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) ReportCodePage(context.Context, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) ReportCodeImpersonation(context.Context, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) ReportLinkImpersonation(context.Context, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) ExtendCodePage(context.Context, string, string) (time.Time, error) {
	return time.Time{}, challenge.ErrNotFound
}
func (gonePages) ExtendLinkPage(context.Context, string, string) (time.Time, error) {
	return time.Time{}, challenge.ErrNotFound
}
func (gonePages) OpenLinkPage(context.Context, string) (*challenge.Page, error) {
	return nil, challenge.ErrNotFound
}
func (gonePages) ConfirmLink(context.Context, string, int, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) ReportLink(context.Context, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) SubmitTOTP(context.Context, string, string, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}
func (gonePages) BeginPasskey(context.Context, string) ([]byte, error) {
	return nil, challenge.ErrNotFound
}
func (gonePages) FinishPasskey(context.Context, string, []byte, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}

type staticJWKS struct{}

func (staticJWKS) JWKS() []byte     { return []byte(`{"keys":[]}`) }
func (staticJWKS) JWKSETag() string { return `"x"` }

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	keys, _ := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)})
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ok := func(context.Context) error { return nil }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name  string
		cfg   web.Config
		ready web.Readiness
		keys  *keyedhash.Ring
	}{
		{"no public URL", web.Config{Brand: "Acme"}, ok, keys},
		{"relative public URL", web.Config{PublicURL: mustURL("/x"), Brand: "Acme"}, ok, keys},
		{"ftp public URL", web.Config{PublicURL: mustURL("ftp://example.com"), Brand: "Acme"}, ok, keys},
		{"query in public URL", web.Config{PublicURL: mustURL("https://example.com/?a=1"), Brand: "Acme"}, ok, keys},
		{"no brand", web.Config{PublicURL: mustURL("https://example.com")}, ok, keys},
		{"negative nonce TTL", web.Config{PublicURL: mustURL("https://example.com"), Brand: "Acme", NonceTTL: -1}, ok, keys},
		{"no readiness", web.Config{PublicURL: mustURL("https://example.com"), Brand: "Acme"}, nil, keys},
		{"no keys", web.Config{PublicURL: mustURL("https://example.com"), Brand: "Acme"}, ok, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := web.New(tc.cfg, gonePages{}, staticJWKS{}, tc.ready, tc.keys, time.Now, log); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	target := e.public + "/.well-known/jwks.json"
	etag := e.keyring.JWKSETag()

	res := e.GET(target, nil)
	wantStatus(t, res, http.StatusOK)
	if res.body != string(e.keyring.JWKS()) {
		t.Fatalf("body %s, want the keyring's JWKS", res.body)
	}
	for k, want := range map[string]string{"Content-Type": "application/jwk-set+json",
		"Cache-Control": "public, max-age=300", "ETag": etag} {
		if got := res.header.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
	tests := []struct {
		ifNoneMatch string
		status      int
	}{
		{etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified},
		{`"other", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"other"`, http.StatusOK},
		{strings.Trim(etag, `"`), http.StatusOK}, // unquoted is not the same tag
	}
	for _, tc := range tests {
		t.Run(tc.ifNoneMatch, func(t *testing.T) {
			t.Parallel()
			r := e.GET(target, map[string]string{"If-None-Match": tc.ifNoneMatch})
			wantStatus(t, r, tc.status)
			if tc.status == http.StatusNotModified && (r.body != "" || r.header.Get("ETag") != etag) {
				t.Fatalf("304 with body %q, ETag %q", r.body, r.header.Get("ETag"))
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	r := e.GET(e.public+"/healthz", nil)
	wantStatus(t, r, http.StatusOK)
	if r.body != "ok\n" {
		t.Fatalf("healthz %q", r.body)
	}
	wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusOK)
	e.notOK.Store(true)
	wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusServiceUnavailable)
	e.notOK.Store(false)
	wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusOK)
	e.srv.Kill()
	wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusServiceUnavailable)
	wantStatus(t, e.GET(e.public+"/healthz", nil), http.StatusOK)
	if !strings.Contains(e.logs.String(), `msg="not ready"`) {
		t.Error("a failed readiness check is not logged")
	}
}

func TestDevOutbox(t *testing.T) {
	t.Parallel()
	t.Run("dev", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		empty := e.GET(e.public+"/dev/outbox", nil)
		wantStatus(t, empty, http.StatusOK)
		wantBody(t, empty, "DEV MODE — nothing is sent, nothing persists", "Nothing has been sent yet.")
		first := e.start(challenge.OTPEmail, "en")
		second := e.start(challenge.MagicLink, "es")
		r := e.GET(e.public+"/dev/outbox", nil)
		wantStatus(t, r, http.StatusOK)
		wantBody(t, r, "DEV MODE — nothing is sent, nothing persists", "alice@example.com", first.secret, second.url,
			asRead(e.lastSent(first.id).Subject), asRead(e.lastSent(second.id).Subject))
		body := plain(r)
		if strings.Index(body, second.url) > strings.Index(body, first.secret) {
			t.Fatal("the outbox is not newest first")
		}
	})
	t.Run("events", func(t *testing.T) {
		t.Parallel()
		log := events.NewDevLog(10)
		e := newEnv(t, envOpts{devEvents: log})
		wantBody(t, e.GET(e.public+"/dev/outbox", nil), "No event has been delivered yet.")
		log.Record(events.Attempt{Time: time.Now(), EventID: "audit:events/1-0", Type: "com.authsvc.verification.verified",
			Client: "dev", URL: "http://127.0.0.1:9797/events", Outcome: "failed", Error: "connection refused", N: 1,
			Body: []byte(`{"specversion":"1.0","id":"audit:events/1-0"}`)})
		log.Record(events.Attempt{Time: time.Now(), EventID: "audit:events/1-0", Type: "com.authsvc.verification.verified",
			Client: "dev", URL: "http://127.0.0.1:9797/events", Outcome: "delivered", Status: 204, N: 2,
			Body: []byte(`{"specversion":"1.0","id":"audit:events/1-0"}`)})
		r := e.GET(e.public+"/dev/outbox", nil)
		wantStatus(t, r, http.StatusOK)
		wantBody(t, r, "com.authsvc.verification.verified", "audit:events/1-0", "connection refused", "HTTP 204")
		if b := plain(r); strings.Index(b, "HTTP 204") > strings.Index(b, "connection refused") {
			t.Fatal("event deliveries are not newest first")
		}
	})
	t.Run("production", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{noOutbox: true})
		e.start(challenge.OTPEmail, "en")
		r := e.GET(e.public+"/dev/outbox", nil)
		wantStatus(t, r, http.StatusNotFound)
		if strings.Contains(r.body, "alice") || strings.Contains(r.body, "DEV MODE") {
			t.Fatal("the outbox shows outside dev mode")
		}
	})
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	css := regexp.MustCompile(`href="([^"]+\.css)"`).FindStringSubmatch(e.GET(e.public+"/", nil).body)
	if css == nil {
		t.Fatal("no stylesheet")
	}
	r := e.GET(css[1], nil)
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("Cache-Control %q", cc)
	}
	if !strings.Contains(r.body, ":focus-visible") || !strings.Contains(r.body, "min-height") {
		t.Error("the stylesheet lacks focus and tap-target rules")
	}
	wantStatus(t, e.GET(e.public+"/static/app.css", nil), http.StatusNotFound)
}

func TestIndexSaysWhatThisIs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	r := e.GET(e.public+"/", nil)
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Acme verification", "If an agent sent you a link")
	// No link but the language switch's, each to the index itself.
	if n, langs := strings.Count(r.body, "<a "), strings.Count(r.body, `<a href="`+e.public+`/?lang=`); n != langs || n != 8 {
		t.Fatalf("index has %d links, %d of them the language switch's", n, langs)
	}
	es := e.GET(e.public+"/", map[string]string{"Accept-Language": "es-ES"})
	wantBody(t, es, "Verificación de Acme")
	wantStatus(t, e.do(http.MethodPost, e.public+"/", nil, nil), http.StatusNotFound)
}
