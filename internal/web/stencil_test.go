package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
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
	families[0].marker(0),
	families[2].marker(1),
	families[1].tag + "s1p",
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

func (f *fakePages) ExtendCodePage(context.Context, string, string) (time.Time, error) {
	return stencilNow.Add(10 * time.Minute), f.err
}

func (f *fakePages) ExtendLinkPage(context.Context, string, string) (time.Time, error) {
	return stencilNow.Add(10 * time.Minute), f.err
}

func (f *fakePages) BeginPasskey(context.Context, string) ([]byte, error) {
	return nil, challenge.ErrNotFound
}

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

func (f *fakeHandovers) BindHandover(context.Context, string, string, string, string, []string) (string, error) {
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
	query   string // after the page's URL
	// redirect: the answer is a redirect, not a page.
	redirect bool
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
		{name: "extended", path: "v", methods: sms, post: actionExtend, redirect: true},
		{name: "extend refused", path: "v", methods: all, post: actionExtend, err: challenge.ErrExtendLimit},
		{name: "extend too long", path: "l", methods: email, post: actionExtend, err: challenge.ErrExtendMaxTTL},
		{name: "extended page", path: "v", methods: sms, query: "?more=1"},
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
						Expires: expires, AttemptsLeft: 3, Extendable: i%2 == 0, Choices: [3]int{7, 42, 913 - i}, Phrase: [2]int{i % 32, (i + 5) % 32}}
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
					if !stencilled && token == tokens[0] && !st.redirect {
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
	target := s.pageURL(st.path, token) + st.query
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

// TestStencilFieldsClassified holds every field of a view, and of the views it
// points to, to a decision: a value (view.slots), part of the shape
// (view.shape), derived while rendering, or only on pages that are not rendered
// from stencils. A field added without one fails here, before a stencil can
// serve a page that ignores it.
func TestStencilFieldsClassified(t *testing.T) {
	t.Parallel()
	classified := map[string]string{
		// view
		"view.catalog": "shape", "view.Title": "shape", "view.Brand": "slot", "view.CSS": "shape",
		"view.Network": "slot", "view.Handle": "slot", "view.Destination": "slot", "view.Action": "slot",
		"view.Alert": "shape", "view.Invalid": "shape", "view.Nonces": "slot (values), shape (keys)",
		"view.Choices": "slot", "view.Sections": "shape", "view.Passkey": "shape (nil), its fields",
		"view.InApp": "shape (nil), its fields", "view.Scripts": "shape", "view.ScriptNonce": "slot",
		"view.Logo": "shape", "view.Host": "shape", "view.Switch": "shape",
		"view.Langs": "derived (execute: from catalog, Self, Action)", "view.Self": "shape",
		"view.Account": "slot", "view.Expires": "derived (prepare: Expires*)", "view.ExpiresIn": "derived (prepare)",
		"view.ExpiresUTC": "slot", "view.ExpiresClock": "slot", "view.ExpiresLeft": "slot",
		"view.Phrase": "slot", "view.PhraseLang": "shape", "view.Timing": "shape (nil), its fields",
		"view.Kind": "shape", "view.Setup": "not stencilable", "view.Heading": "shape", "view.Body": "shape",
		"view.Tone": "shape", "view.Outbox": "not stencilable", "view.Events": "not stencilable",
		"view.ShowEvents": "not stencilable", "view.Handover": "shape (nil), its fields", "view.FormTarget": "shape",
		// the views a view points to
		"timingView.Left": "shape", "timingView.Soon": "shape", "timingView.Expired": "shape", "timingView.WebOTP": "shape", "timingView.Extend": "shape",
		"ceremonyView.Mode": "shape", "ceremonyView.Begin": "slot", "ceremonyView.Finish": "slot", "ceremonyView.Nonce": "slot",
		"inAppView.Shown": "shape", "inAppView.App": "shape", "inAppView.Link": "slot", "inAppView.Others": "shape",
		"handoverView.Channel": "shape", "handoverView.Action": "slot", "handoverView.Nonce": "slot",
		"handoverView.Number": "shape", "handoverView.Tel": "shape", "handoverView.CallCode": "slot",
		"handoverView.Minutes": "shape", "handoverView.Note": "shape",
	}
	seen := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeFor[view](), reflect.TypeFor[timingView](),
		reflect.TypeFor[ceremonyView](), reflect.TypeFor[inAppView](), reflect.TypeFor[handoverView]()} {
		for f := range typ.Fields() {
			name := typ.Name() + "." + f.Name
			seen[name] = true
			if classified[name] == "" {
				t.Errorf("%s is neither a stencil's slot nor part of its shape: add it to view.slots or view.shape, "+
					"then here", name)
			}
		}
	}
	for name := range classified {
		if !seen[name] {
			t.Errorf("%s is classified but no longer exists", name)
		}
	}
	// And the code agrees with the list: a shape field changes the shape, a slot
	// is one of the values.
	base := func() *view {
		return &view{catalog: catalogs[0], Timing: &timingView{}, Passkey: &ceremonyView{}, InApp: &inAppView{},
			Handover: &handoverView{}, Nonces: map[string]string{"code": "n"}, Choices: []string{"1"}}
	}
	key := func(v *view) (string, []string) {
		k, vals := v.shape(nil, nil)
		return string(k), vals
	}
	for _, typ := range []string{"view", "timingView", "ceremonyView", "inAppView", "handoverView"} {
		of := func(v *view) reflect.Value {
			return map[string]reflect.Value{"view": reflect.ValueOf(v), "timingView": reflect.ValueOf(v.Timing),
				"ceremonyView": reflect.ValueOf(v.Passkey), "inAppView": reflect.ValueOf(v.InApp),
				"handoverView": reflect.ValueOf(v.Handover)}[typ].Elem()
		}
		for f := range of(base()).Type().Fields() {
			name, role := typ+"."+f.Name, classified[typ+"."+f.Name]
			if !f.IsExported() || !strings.HasPrefix(role, "shape") && !strings.HasPrefix(role, "slot") {
				continue
			}
			v := base()
			before, _ := key(v)
			field := of(v).FieldByName(f.Name)
			switch {
			case strings.HasPrefix(role, "slot") && field.Kind() == reflect.String:
				field.SetString("slotzq")
			case strings.HasPrefix(role, "slot") && field.Kind() == reflect.Slice:
				field.Set(reflect.ValueOf([]string{"slotzq"}))
			case strings.HasPrefix(role, "slot"): // Nonces
				v.Nonces["code"] = "slotzq"
			case field.Kind() == reflect.String:
				field.SetString(field.String() + "zq")
			case field.Kind() == reflect.Bool:
				field.SetBool(!field.Bool())
			case field.Kind() == reflect.Int:
				field.SetInt(field.Int() + 1)
			case field.Kind() == reflect.Slice:
				field.Set(reflect.Append(field, reflect.ValueOf("zq")))
			case field.Kind() == reflect.Pointer:
				field.SetZero()
			default:
				t.Errorf("%s: a %s the test cannot change", name, field.Kind())
				continue
			}
			after, vals := key(v)
			if strings.HasPrefix(role, "slot") && !slices.Contains(vals, "slotzq") {
				t.Errorf("%s is a slot, but view.slots does not visit it", name)
			}
			if strings.HasPrefix(role, "shape") && after == before {
				t.Errorf("%s is part of the shape, but view.shape does not read it", name)
			}
		}
	}
	if v := base(); true {
		before, _ := key(v)
		v.Nonces["extra"] = "n"
		if after, _ := key(v); after == before {
			t.Error("view.Nonces' keys are not part of the shape")
		}
	}
}

// TestStencilsHoldNoVerification renders pages of verifications whose every
// value is distinctive, and finds none of them in the stencils' keys or parts:
// the cache holds template, catalog and configuration text, never a handle, a
// name, a phrase, an expiry, a nonce or a token, so it cannot answer for a
// verification (issue 13: no cache answers for a verification that has ended).
func TestStencilsHoldNoVerification(t *testing.T) {
	t.Parallel()
	pages := &fakePages{result: challenge.Result{Outcome: challenge.OutcomeWrongCode, AttemptsLeft: 2}}
	s, rnd := stencilServer(t, pages, &fakeHandovers{})
	secret := []string{"Brandzilla", "Networkzilla", "@handlezilla", "dest@zilla.example", "tokzilla123"}
	pages.page = challenge.Page{Brand: secret[0], Network: secret[1], HandleMask: secret[2], DestinationMask: secret[3],
		Methods: []challenge.Method{challenge.OTPSMS, challenge.TOTP, challenge.WebAuthn}, Method: challenge.OTPSMS,
		Locale: "fr", Expires: stencilNow.Add(17*time.Minute + 3*time.Second), Choices: [3]int{417, 529, 638}, Phrase: [2]int{3, 9}}
	var shown []string
	for _, st := range []pageState{{path: "v"}, {path: "l"}, {path: "v", post: actionCode}} {
		body, stencilled := serveBoth(t, s, rnd, func() *http.Request { return stateRequest(t, s, st, secret[4], "fr") }, "page")
		if !stencilled {
			t.Fatal("not rendered from a stencil")
		}
		shown = append(shown, regexpAll(`name="nonce" value="([^"]+)"`, body)...)
	}
	phrase, _ := delivery.Phrase("fr", [2]int{3, 9})
	shown = append(shown, secret...)
	shown = append(shown, phrase, "417", "529", "638", "19:17", "2026-12-07T19:17:03Z", "1023")
	s.stencils.mu.RLock()
	defer s.stencils.mu.RUnlock()
	if len(s.stencils.m) == 0 {
		t.Fatal("no stencils")
	}
	for key, st := range s.stencils.m {
		if st == nil {
			continue
		}
		for _, v := range shown {
			if strings.Contains(key, v) || slices.ContainsFunc(st.parts, func(p string) bool { return strings.Contains(p, v) }) {
				t.Errorf("a stencil holds %q", v)
			}
		}
	}
}

func regexpAll(expr, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(expr).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestStencilEscapersAreTheTemplates' compares the stencils' escapers with
// html/template's own output and template.HTMLEscapeString, and inert values with
// what html/template writes for them in a URL attribute, over hostile strings.
func TestStencilEscapersAreTheTemplates(t *testing.T) {
	t.Parallel()
	var tmpls []*template.Template
	for _, src := range []string{`{{.}}`, `<p title="{{.}}">`, `<a href="{{.}}">`, `<a href="/{{.}}">`, `<a href="/?q={{.}}">`, `<a data-x="{{.}}">`} {
		tmpls = append(tmpls, template.Must(template.New("").Parse(src)))
	}
	inputs := append(slices.Clone(hostile), probe, "", "plain", "a+b", "\x00", "\xff", "\u00e9", "&#43;")
	for c := range 128 {
		inputs = append(inputs, "x"+string(rune(c))+"y")
	}
	for _, in := range inputs {
		f := make([]string, len(tmpls))
		for i, tm := range tmpls {
			var out strings.Builder
			if err := tm.Execute(&out, in); err != nil {
				t.Fatal(err)
			}
			f[i] = out.String()
		}
		var b bytes.Buffer
		escape(&b, in, &htmlTable)
		if text := f[0]; b.String() != text || `<p title="`+b.String()+`">` != f[1] || `<a data-x="`+b.String()+`">` != f[5] {
			t.Errorf("%q: fillHTML %q, html/template %q, %q, %q", in, b.String(), text, f[1], f[5])
		}
		b.Reset()
		escape(&b, in, &stringTable)
		if b.String() != template.HTMLEscapeString(in) {
			t.Errorf("%q: fillString %q, HTMLEscapeString %q", in, b.String(), template.HTMLEscapeString(in))
		}
		if inert(in, true) && f[2] != `<a href="`+in+`">` {
			t.Errorf("%q is inert at a URL's start, html/template writes %s", in, f[2])
		}
		if inert(in, false) && (f[3] != `<a href="/`+in+`">` || f[4] != `<a href="/?q=`+in+`">`) {
			t.Errorf("%q is inert in a URL, html/template writes %s and %s", in, f[3], f[4])
		}
	}
	for _, in := range []string{"https://verify.example.com/v/AbC-_.~9", "HTTP://x/y", "mailto:a", "/rel/a", "a/b:c"} {
		if !inert(in, true) {
			t.Errorf("%q should be inert at a URL's start", in)
		}
	}
	for _, in := range []string{"javascript:x", "data:x", "tel:1", "a:b", "https://x/?q", "a%41", "a b"} {
		if inert(in, true) {
			t.Errorf("%q should not be inert", in)
		}
	}
}

// TestStencilRefusesWhatItCannotProve: values in places this file does not
// support (a script, a style, an event handler, a srcset, a single-quoted or
// unquoted value, a comment, a tag), or shown through something other than an
// escaper (cut short, upper-cased, escaped twice), get no stencil; supported
// places get one.
func TestStencilRefusesWhatItCannotProve(t *testing.T) {
	t.Parallel()
	s, _ := stencilServer(t, &fakePages{}, &fakeHandovers{})
	funcs := template.FuncMap{"upper": strings.ToUpper, "isolate": func(s string) template.HTML {
		return template.HTML("<bdi>" + template.HTMLEscapeString(s) + "</bdi>")
	}}
	for _, c := range []struct {
		tmpl string
		ok   bool
	}{
		{`<p>{{.Handle}}</p>`, true},
		{`<title>{{.Handle}}</title>`, true},
		{`<input value="{{.Handle}}" data-begin="{{.Brand}}">`, true},
		{`<p>{{isolate .Handle}}</p>`, true},
		{`<p>{{.Isolated "page.heading" .Network .Handle}}</p>`, true},
		{`<form action="{{.Action}}">`, true},
		{`<a href="/x/{{.Action}}">`, true},
		{`<a onclick="f('{{.Handle}}')">`, false},
		{`<p style="color: {{.Handle}}">`, false},
		{`<script>var h = {{.Handle}};</script>`, false},
		{`<style>p { content: "{{.Handle}}" }</style>`, false},
		{`<img srcset="{{.Handle}}">`, false},
		{`<input value='{{.Handle}}'>`, false},
		{`<input value={{.Handle}}>`, false},
		{`<p>{{printf "%.3s" .Handle}}</p>`, false},
		{`<p>{{upper .Handle}}</p>`, false},
		{`<p>{{len .Handle}}</p>`, false},
		{`<p>{{.T "inapp.named" (isolate .Handle)}}</p>`, false},
		{`<p>{{if eq .Handle "x"}}x{{end}}</p>`, true}, // the markers never equal "x": see the note below
	} {
		name := fmt.Sprintf("test-%x", c.tmpl)
		(*s.views)[name] = template.Must(template.New("layout").Funcs(funcs).Parse(`{{define "layout"}}` + c.tmpl + `{{end}}`))
		v := &view{catalog: catalogs[0], Handle: "@h", Brand: "B", Network: "X", Action: "https://verify.example.com/v/t"}
		if got := s.makeStencil(name, v) != nil; got != c.ok {
			t.Errorf("%s: stencil %v, want %v", c.tmpl, got, c.ok)
		}
	}
	// A template that compares a value with a constant is outside what markers
	// can see: such a field belongs in the shape, which
	// TestStencilFieldsClassified makes someone decide, and
	// TestStencilsRenderWhatTheTemplatesDo checks with real pages.
}

// TestStencilsConcurrently renders pages of several shapes from many goroutines
// on one server (run it with -race): stencils are made, stored and filled
// concurrently, and every page names its own handle.
func TestStencilsConcurrently(t *testing.T) {
	t.Parallel()
	pages := &fakePages{page: challenge.Page{Brand: "Acme", Network: "x", DestinationMask: "a***@example.com",
		HandleMask: "@al***e", Methods: []challenge.Method{challenge.OTPSMS}, Method: challenge.OTPSMS,
		Expires: stencilNow.Add(time.Minute)}}
	s, _ := stencilServer(t, pages, &fakeHandovers{})
	s.nonces.random = rand.Reader
	h := s.secureHeaders(s.routes())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				l := locale.Supported[(g+i)%len(locale.Supported)]
				r := httptest.NewRequest(http.MethodGet, s.pageURL("v", "tok")+"?lang="+l.Name, nil)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "@al***e") {
					t.Errorf("%s: status %d", l.Name, w.Code)
				}
			}
		})
	}
	wg.Wait()
}
