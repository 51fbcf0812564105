package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/locale"
)

// hostile are values a platform or a caller could send as a brand, network,
// handle or masked address, or put in a page token: markup, quotes, entities,
// URL schemes, bidi controls and zero-width characters, NUL and invalid UTF-8,
// long strings, and text that imitates the stencils' own markers.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' onmouseover='alert(1)`,
	`&amp;&lt;+&#43;`,
	`javascript:alert(1)`,
	`JaVaScRiPt:alert(1)`,
	"\u202Eevil\u202C \u2066x\u2069\u200B\u200D\uFEFF",
	"a\x00b\xff\xfe\xc0",
	strings.Repeat(`<&"'+ `, 700),
	string(families[0]) + "s0p" + probe + string(families[0]) + "e",
	string(families[1]) + "s1p",
	"%3Cb%3E",
	"https://evil.example/x?a=b&c=d",
	"ß\u0301 عربي 日本",
}

// tokens are page tokens: ordinary ones (written into the URLs' slots as they
// are) and ones whose URLs are not inert (the page then executes the template).
var tokens = []string{"tok_ABC-123.x~y", "AAAA", "a/b", "tok:en", "javascript:alert(1)", "%41", "a b", `"<>`, "ünï"}

// fakePages serves one page for every token, and answers every form with result.
type fakePages struct {
	page    challenge.Page
	pageErr error
	result  challenge.Result
	err     error
}

func (f *fakePages) OpenCodePage(context.Context, string) (*challenge.Page, error) {
	p := f.page
	return &p, f.pageErr
}

func (f *fakePages) OpenLinkPage(ctx context.Context, token string) (*challenge.Page, error) {
	return f.OpenCodePage(ctx, token)
}

func (f *fakePages) SubmitCode(context.Context, string, string, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) SubmitTOTP(context.Context, string, string, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) ReportCodePage(context.Context, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) ReportCodeImpersonation(context.Context, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) ConfirmLink(context.Context, string, int, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) ReportLink(context.Context, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) ReportLinkImpersonation(context.Context, string, string) (challenge.Result, error) {
	return f.result, f.err
}

func (f *fakePages) BeginPasskey(context.Context, string) ([]byte, error) { return nil, challenge.ErrNotFound }

func (f *fakePages) FinishPasskey(context.Context, string, []byte, string, string) (challenge.Result, error) {
	return challenge.Result{}, challenge.ErrNotFound
}

// fakeHandovers offers offer (nil: none) on every verified page.
type fakeHandovers struct{ offer *challenge.Offer }

func (f *fakeHandovers) OpenHandover(context.Context, string, string) (*challenge.Offer, error) {
	if f.offer == nil {
		return nil, challenge.ErrNotFound
	}
	o := *f.offer
	return &o, nil
}

func (f *fakeHandovers) BindHandover(context.Context, string, string, string, []string) (string, error) {
	return "", challenge.ErrNotFound
}

func (f *fakeHandovers) CodePageToken(token string) (string, error) { return token, nil }

type noJWKS struct{}

func (noJWKS) JWKS() []byte     { return nil }
func (noJWKS) JWKSETag() string { return `"x"` }

// replay is a random source that gives the same bytes again after reset: the two
// renders of a page then draw the same nonces.
type replay struct{ n byte }

func (r *replay) Read(b []byte) (int, error) {
	for i := range b {
		r.n = r.n*31 + 7
		b[i] = r.n
	}
	return len(b), nil
}

var stencilNow = time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)

// stencilServer is a server over fakes, its nonces drawn from a replay.
func stencilServer(t testing.TB, pages Pages, h *fakeHandovers) (*server, *replay) {
	t.Helper()
	keys, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := handover.New(handover.Config{
		Channels: []handover.Channel{{ID: "app", Names: map[string]string{"en": "Acme <app>", "es": "la app de Acme"},
			RedirectURLs: []string{"https://app.example/back"}, Client: "platform-a"}},
		Phone: &handover.Phone{Number: "+34900123456", Client: "ivr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://verify.example.com/pages")
	s, err := newServer(Config{PublicURL: u, Brand: "Acme & <Co>", Cues: BrandCues{
		Logo: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), Colour: "#0b5fff",
		Accounts: map[string]string{"x": "@Acme", "evil": `<b>@a&b</b>"'+`}}},
		pages, noJWKS{}, func(context.Context) error { return nil }, keys,
		func() time.Time { return stencilNow }, slog.New(slog.NewTextHandler(io.Discard, nil)),
		WithHandovers(h, reg))
	if err != nil {
		t.Fatal(err)
	}
	r := &replay{}
	s.nonces.random = r
	return s, r
}

// serveBoth serves req twice, from stencils and by executing the templates, with
// the same random bytes, and fails unless status, headers and bytes are the
// same. It reports whether the first came from a stencil.
func serveBoth(t *testing.T, s *server, rnd *replay, newReq func() *http.Request, what string) (body string, stencilled bool) {
	t.Helper()
	h := s.secureHeaders(s.routes())
	var got [2]*httptest.ResponseRecorder
	for i, off := range []bool{false, true} {
		rnd.n = 0
		s.stencils.off = off
		used := false
		s.stencils.used = func() { used = true }
		got[i] = httptest.NewRecorder()
		h.ServeHTTP(got[i], newReq())
		if i == 0 {
			stencilled = used
		} else if used {
			t.Fatalf("%s: a stencil was used with stencils off", what)
		}
	}
	s.stencils.off, s.stencils.used = false, nil
	a, b := got[0], got[1]
	if a.Code != b.Code || !reflect.DeepEqual(a.Header(), b.Header()) {
		t.Errorf("%s: status %d / %d, headers\n%v\n%v", what, a.Code, b.Code, a.Header(), b.Header())
	}
	if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
		x, y := a.Body.String(), b.Body.String()
		i := 0
		for i < len(x) && i < len(y) && x[i] == y[i] {
			i++
		}
		t.Fatalf("%s: the stencil's page differs from the template's at byte %d:\nstencil  %q\ntemplate %q", what, i,
			x[max(0, i-80):min(len(x), i+80)], y[max(0, i-80):min(len(y), i+80)])
	}
	return a.Body.String(), stencilled
}

// pageState is one state of a verification's page.
type pageState struct {
	name    string
	path    string // "v" or "l"
	methods []challenge.Method
	phone   bool
	agent   string
	// post, when set, submits this form's action; result and err are the answer.
	post   string
	result challenge.Result
	err    error
	// gone: the page is not found (neutral page, or the handover offer).
	gone  bool
	offer *challenge.Offer
}

func pageStates() []pageState {
	sms, email := []challenge.Method{challenge.OTPSMS}, []challenge.Method{challenge.OTPEmail}
	all := []challenge.Method{challenge.OTPEmail, challenge.TOTP, challenge.WebAuthn}
	secure := &challenge.Offer{Kind: challenge.HandoverSecureChannel, Channel: "app", Expires: stencilNow.Add(9 * time.Minute)}
	phone := &challenge.Offer{Kind: challenge.HandoverPhone, CallCode: "0123456789", Expires: stencilNow.Add(5 * time.Minute)}
	return []pageState{
		{name: "code sms", path: "v", methods: sms},
		{name: "code email", path: "v", methods: email},
		{name: "totp", path: "v", methods: []challenge.Method{challenge.TOTP}},
		{name: "passkey", path: "v", methods: []challenge.Method{challenge.WebAuthn}},
		{name: "all", path: "v", methods: all},
		{name: "all in-app", path: "v", methods: all, agent: "Mozilla/5.0 Instagram 300.0"},
		{name: "sms passkey in-app", path: "v", methods: []challenge.Method{challenge.OTPSMS, challenge.WebAuthn}, agent: "Twitter for iPhone"},
		{name: "code with phone offer", path: "v", methods: sms, phone: true},
		{name: "wrong code", path: "v", methods: email, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeWrongCode, AttemptsLeft: 2}},
		{name: "wrong code, one left", path: "v", methods: all, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeWrongCode, AttemptsLeft: 1}},
		{name: "code format", path: "v", methods: all, post: actionCode, err: challenge.ErrCodeFormat},
		{name: "totp format", path: "v", methods: all, post: actionTOTP, err: challenge.ErrCodeFormat},
		{name: "wrong totp", path: "v", methods: all, post: actionTOTP, result: challenge.Result{Outcome: challenge.OutcomeWrongCode, AttemptsLeft: 3}},
		{name: "bad nonce", path: "v", methods: sms, post: "nonce"},
		{name: "verified", path: "v", methods: sms, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeVerified}},
		{name: "verified with offer", path: "v", methods: sms, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeVerified}, offer: secure},
		{name: "verified with phone", path: "v", methods: sms, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeVerified}, offer: phone},
		{name: "failed", path: "v", methods: sms, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeFailed}},
		{name: "reported", path: "v", methods: sms, post: actionReport, result: challenge.Result{Outcome: challenge.OutcomeReported}},
		{name: "impersonation", path: "v", methods: sms, post: actionImpersonation, result: challenge.Result{Outcome: challenge.OutcomeReported}},
		{name: "locked", path: "v", methods: sms, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeLocked, RetryAfter: 7 * time.Minute}},
		{name: "gone", path: "v", methods: sms, post: actionCode, result: challenge.Result{Outcome: challenge.OutcomeGone}},
		{name: "unavailable", path: "v", methods: sms, post: actionCode, err: challenge.ErrUnavailable},
		{name: "neutral", path: "v", gone: true},
		{name: "handover offer", path: "v", gone: true, offer: secure},
		{name: "phone handover", path: "v", gone: true, offer: phone},
		{name: "link", path: "l", methods: email},
		{name: "link wrong pick", path: "l", methods: email, post: actionPick, result: challenge.Result{Outcome: challenge.OutcomeFailed}},
		{name: "link verified", path: "l", methods: email, post: actionPick, result: challenge.Result{Outcome: challenge.OutcomeVerified}},
	}
}

// TestStencilsRenderWhatTheTemplatesDo renders every page state of the code and
// magic-link pages (forms, alerts, outcomes, message pages, handover offers) in
// every locale, with ordinary and hostile values in every text of the platform
// and in the page token, from the stencils and by executing the templates, and
// wants the same status, headers and bytes. With ordinary values every page must
// come from a stencil.
func TestStencilsRenderWhatTheTemplatesDo(t *testing.T) {
	t.Parallel()
	values := append([]string{""}, hostile...)
	for _, st := range pageStates() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			pages := &fakePages{result: st.result, err: st.err}
			h := &fakeHandovers{offer: st.offer}
			s, rnd := stencilServer(t, pages, h)
			for _, l := range locale.Supported {
				for i := range len(values) + len(tokens) {
					ordinary := i == 0
					v := func(def string, k int) string {
						if ordinary || i >= len(values) {
							return def
						}
						return values[(i+k)%len(values)]
					}
					token := tokens[0]
					if i >= len(values) {
						token = tokens[i-len(values)]
					}
					network := "x"
					if !ordinary && i%3 == 1 {
						network = "evil"
					} else if !ordinary && i%3 == 2 {
						network = v("x", 1)
					}
					method := challenge.Method(0)
					if len(st.methods) > 0 {
						method = st.methods[0]
					}
					expires := stencilNow.Add(time.Duration(7+i) * time.Minute)
					if i%5 == 4 {
						expires = stencilNow.Add(-time.Second) // a clock past the expiry
					}
					pages.page = challenge.Page{Brand: v("Acme", 0), Network: network, HandleMask: v("@al***e", 2),
						DestinationMask: v("a***@example.com", 3), Method: method, Methods: st.methods, Locale: l.Name,
						Expires: expires, AttemptsLeft: 3, Choices: [3]int{7, 42, 913 - i}, Phrase: [2]int{i % 32, (i + 5) % 32}}
					if st.phone {
						pages.page.Phone = &challenge.Offer{Kind: challenge.HandoverPhone, CallCode: "98765" + fmt.Sprint(10000+i),
							Expires: expires}
					}
					pages.pageErr = nil
					if st.gone {
						pages.pageErr = challenge.ErrNotFound
					}
					what := fmt.Sprintf("%s, %s, values %d, token %q", st.name, l.Name, i, token)
					_, stencilled := serveBoth(t, s, rnd, func() *http.Request {
						return stateRequest(t, s, st, token, l.Name)
					}, what)
					// Every value of the platform is a slot the stencil fills,
					// hostile or not; only a token whose URL is not inert makes
					// the page execute its template.
					if !stencilled && token == tokens[0] {
						t.Errorf("%s: not rendered from a stencil", what)
					}
					if stencilled && !inert(s.pageURL(st.path, token), true) && !st.gone && st.post == "" {
						t.Errorf("%s: rendered from a stencil with a token that is not inert", what)
					}
				}
			}
		})
	}
}

// stateRequest is the request of a page state: its GET, or the POST of its form
// with a nonce the server issued.
func stateRequest(t *testing.T, s *server, st pageState, token, lang string) *http.Request {
	t.Helper()
	target := s.pageURL(st.path, token)
	if st.post == "" {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Header.Set("Accept-Language", lang)
		if st.agent != "" {
			r.Header.Set("User-Agent", st.agent)
		}
		return r
	}
	nonce := "bad"
	if st.post != "nonce" {
		n, err := s.nonces.issue(token, st.post)
		if err != nil {
			t.Fatal(err)
		}
		nonce = n
	}
	form := url.Values{"action": {st.post}, "nonce": {nonce}, "code": {"123456"}, "number": {"42"}, "lang": {lang}}
	if st.post == "nonce" {
		form.Set("action", actionCode)
	}
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if st.agent != "" {
		r.Header.Set("User-Agent", st.agent)
	}
	return r
}
