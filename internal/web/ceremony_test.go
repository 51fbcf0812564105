package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/web"
)

// raw posts body with a content type of the test's choosing.
func (e *env) raw(method, target, contentType string, body []byte, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Origin", "null")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{public: e.public, status: res.StatusCode, header: res.Header, body: string(b)}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCeremonyEndpointsRefuse checks that the passkey endpoints act only on a
// same-origin JSON POST of bounded size carrying the right nonce: every other
// request is refused before the store, and changes nothing.
func TestCeremonyEndpointsRefuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.public, "http://"), ":")
	a := newPasskey(t, "http://localhost:"+port)
	e.enrollPasskey("cust-refuse", a)
	v := e.startFor("cust-refuse", assurance.High, challenge.WebAuthn)
	verifyPage := e.GET(v.url, nil)
	enrollLink := e.enrollment("cust-refuse", identity.KindPasskey, "en")
	enrollPage := e.GET(enrollLink, nil)

	type endpoint struct {
		name, url string
		good      map[string]any // a body the endpoint accepts
		other     string         // a nonce this service issued, for something else
	}
	var endpoints []endpoint
	for _, p := range []struct {
		name string
		page response
	}{{"verify", verifyPage}, {"enroll", enrollPage}} {
		begin, finish, nonce := passkeyBox(t, p.page)
		begun := e.postJSON(begin, map[string]string{"nonce": nonce}, nil)
		endpoints = append(endpoints,
			endpoint{p.name + " begin", begin, map[string]any{"nonce": nonce}, begun.Nonce},
			endpoint{p.name + " finish", finish, map[string]any{"nonce": begun.Nonce, "credential": map[string]string{"id": "x"}}, nonce})
	}
	huge := map[string]any{"pad": strings.Repeat("A", 64<<10)}

	for _, ep := range endpoints {
		e.run(t, ep.name, func(t *testing.T) {
			body := func(change func(map[string]any)) []byte {
				m := map[string]any{}
				for k, v := range ep.good {
					m[k] = v
				}
				if change != nil {
					change(m)
				}
				return mustJSON(t, m)
			}
			tests := []struct {
				name        string
				method      string
				contentType string
				body        []byte
				header      map[string]string
				status      int
			}{
				{"GET", http.MethodGet, "", nil, nil, http.StatusMethodNotAllowed},
				{"HEAD", http.MethodHead, "", nil, nil, http.StatusMethodNotAllowed},
				{"PUT", http.MethodPut, "application/json", body(nil), nil, http.StatusMethodNotAllowed},
				{"form content type", http.MethodPost, "application/x-www-form-urlencoded", body(nil), nil, http.StatusUnsupportedMediaType},
				{"text/plain", http.MethodPost, "text/plain", body(nil), nil, http.StatusUnsupportedMediaType},
				{"no content type", http.MethodPost, "", body(nil), nil, http.StatusUnsupportedMediaType},
				{"no nonce", http.MethodPost, "application/json", body(func(m map[string]any) { delete(m, "nonce") }), nil, http.StatusBadRequest},
				{"nonce of another action", http.MethodPost, "application/json", body(func(m map[string]any) { m["nonce"] = ep.other }), nil, http.StatusBadRequest},
				{"nonce of another page", http.MethodPost, "application/json", body(func(m map[string]any) {
					m["nonce"] = forms(t, verifyPage.body)["report"].Get("nonce")
				}), nil, http.StatusBadRequest},
				{"not JSON", http.MethodPost, "application/json", []byte(`nonce=x`), nil, http.StatusBadRequest},
				{"oversized", http.MethodPost, "application/json", body(func(m map[string]any) { m["credential"] = huge }), nil, http.StatusRequestEntityTooLarge},
				{"cross-site", http.MethodPost, "application/json", body(nil), map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
				{"foreign origin", http.MethodPost, "application/json", body(nil), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}, http.StatusForbidden},
			}
			for _, tc := range tests {
				res := e.raw(tc.method, ep.url, tc.contentType, tc.body, tc.header)
				if res.status != tc.status {
					t.Fatalf("%s: status %d, want %d: %s", tc.name, res.status, tc.status, res.body)
				}
				if tc.method == http.MethodHead {
					continue
				}
				if tc.status == http.StatusMethodNotAllowed && res.header.Get("Allow") != http.MethodPost {
					t.Fatalf("%s: Allow %q", tc.name, res.header.Get("Allow"))
				}
				var r reply
				if err := json.Unmarshal([]byte(res.body), &r); err != nil || r.Outcome != "retry" || r.Message == "" {
					t.Fatalf("%s: body %s", tc.name, res.body)
				}
				if res.header.Get("Cache-Control") != "no-store" || res.header.Get("Content-Type") != "application/json" {
					t.Fatalf("%s: headers %v", tc.name, res.header)
				}
			}
		})
	}
	// Nothing was counted or used: the verification is pending with every try,
	// the enrollment link still opens, and a real ceremony still succeeds.
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
	wantStatus(t, e.GET(enrollLink, nil), http.StatusOK)
	_, done := e.ceremony(verifyPage, loginWith(t, a))
	if done.Outcome != "verified" {
		t.Fatalf("after the refusals: %+v", done)
	}
}

// TestFactorPagesSafeMethodsChangeNothing: link unfurlers GET every page.
func TestFactorPagesSafeMethodsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.public, "http://"), ":")
	a := newPasskey(t, "http://localhost:"+port)
	e.enrollPasskey("cust-safe", a)
	key := e.enrollTOTP("cust-safe")
	v := e.startFor("cust-safe", assurance.Substantial, challenge.TOTP, challenge.WebAuthn)
	link := e.enrollment("cust-safe", identity.KindTOTP, "en")
	for range 5 {
		for _, target := range []string{v.url, v.url + "/passkey/begin", v.url + "/passkey/finish", link,
			link + "/passkey/begin"} {
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				res := e.do(m, target, nil, nil)
				if res.status != http.StatusOK && res.status != http.StatusMethodNotAllowed {
					t.Fatalf("%s %s: %d", m, target, res.status)
				}
			}
		}
	}
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
	// The enrollment was never begun: confirming finds no key to check.
	intro := e.GET(link, nil)
	if strings.Contains(intro.body, "otpauth") {
		t.Fatal("GET showed a key")
	}
	wantBody(t, e.submit(e.GET(v.url, nil), "totp", url.Values{"code": {e.totpCode(key)}}, nil), "You're verified.")
}

func TestEnrollmentDeadLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ref := e.GET(e.public+"/v/aaa-aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA", nil)
	wantStatus(t, ref, http.StatusNotFound)

	used := e.enrollment("cust-dead", identity.KindTOTP, "es")
	setup := e.submit(e.GET(used, nil), "begin", nil, nil)
	wantStatus(t, e.submit(setup, "confirm", url.Values{"code": {e.totpCode(keyOf(t, setup).Secret())}}, nil), http.StatusOK)
	killed := e.enrollment("cust-dead", identity.KindTOTP, "en")
	killedSetup := e.submit(e.GET(killed, nil), "begin", nil, nil)
	wrong := fmt.Sprintf("%06d", (atoi(e.totpCode(keyOf(t, killedSetup).Secret()))+1)%1000000)
	for range 5 {
		killedSetup = e.submit(killedSetup, "confirm", url.Values{"code": {wrong}}, nil)
	}
	wantBody(t, killedSetup, "Too many wrong codes; ask the agent for a new link.")
	code := e.start(challenge.OTPEmail, "en")
	live := e.enrollment("cust-dead", identity.KindPasskey, "en")
	livePage := e.GET(live, nil)
	// Expiry last: it moves the shared clock past every open enrollment.
	expired := e.enrollment("cust-dead", identity.KindPasskey, "es")
	expiredPage := e.GET(expired, nil)
	token := func(u string) string { return u[strings.LastIndex(u, "/")+1:] }

	targets := []struct {
		name string
		url  func() string
	}{
		{"random token", func() string { return e.public + "/e/b3cde-fghijklmnopqrstuvwxyz.AAAAAAAAAAAAAAAAAAAAAA" }},
		{"malformed", func() string { return e.public + "/e/nope" }},
		{"long", func() string { return e.public + "/e/" + strings.Repeat("z", 2000) }},
		{"extra segment", func() string { return live + "/x" }},
		{"enrollment token on the code path", func() string { return e.public + "/v/" + token(live) }},
		{"code page token on the enrollment path", func() string { return e.public + "/e/" + token(code.url) }},
		{"used", func() string { return used }},
		{"killed by wrong codes", func() string { return killed }},
		{"expired", func() string { e.clock.Advance(16 * time.Minute); return expired }},
	}
	for _, tc := range targets {
		e.run(t, tc.name, func(t *testing.T) {
			target := tc.url()
			for _, res := range []response{
				e.GET(target, nil),
				e.POST(target, url.Values{"action": {"begin"}, "nonce": {"x"}}, nil),
				e.POST(target, url.Values{"action": {"confirm"}, "code": {"123456"}, "nonce": {"x"}}, nil),
			} {
				if res.status != ref.status || res.body != ref.body {
					t.Fatalf("status %d, body differs from the neutral page:\n%s", res.status, res.body)
				}
				if got, want := headerShape(res.header), headerShape(ref.header); got != want {
					t.Fatalf("headers differ:\n%s\nwant\n%s", got, want)
				}
			}
		})
	}
	// A page left open on a link that died: its passkey button answers "gone".
	for _, page := range []response{expiredPage, livePage} {
		begin, _, nonce := passkeyBox(t, page)
		r := e.postJSON(begin, map[string]string{"nonce": nonce}, nil)
		if r.status != http.StatusNotFound || r.Outcome != "gone" || r.Message != "This link is no longer valid. Ask the agent for a new one." {
			t.Fatalf("begin on a dead link: %d %+v", r.status, r)
		}
	}
}

func TestEnrollmentRoutesNeedTheStore(t *testing.T) {
	t.Parallel()
	keys, _ := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)})
	pub, _ := url.Parse("https://verify.example.com/")
	h, err := web.New(web.Config{PublicURL: pub, Brand: "Acme"}, gonePages{}, staticJWKS{},
		func(context.Context) error { return nil }, keys, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/e/aaa-aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA", "/e/x/passkey/begin"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "There is nothing at this address.") {
			t.Errorf("%s without enrollments: %d\n%s", path, rec.Code, rec.Body.String())
		}
	}
}

// inApp returns the in-app notice of a page, and whether it is shown.
func inApp(t *testing.T, page response) (notice *html.Node, shown bool) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page.body))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attr(n, "id") == "inapp" {
			_, hidden := attrOK(n, "hidden")
			return n, !hidden
		}
	}
	return nil, false
}

func TestInAppNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.public, "http://"), ":")
	e.enrollPasskey("cust-inapp", newPasskey(t, "http://localhost:"+port))
	key := e.enrollTOTP("cust-inapp")

	instagram := map[string]string{"User-Agent": uaInstagram}
	v := e.startFor("cust-inapp", assurance.Substantial, challenge.TOTP, challenge.WebAuthn)
	page := e.GET(v.url, instagram)
	wantStatus(t, page, http.StatusOK)
	notice, shown := inApp(t, page)
	if notice == nil || !shown {
		t.Fatalf("Instagram: no notice shown:\n%s", page.body)
	}
	wantBody(t, page, "Open this page in your browser", "You opened this page inside Instagram.",
		"“Open in browser”", "You can also confirm it's you with a code, below.")
	var link string
	for n := range notice.Descendants() {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "id") == "inapp-link" {
			link = attr(n, "value")
		}
	}
	if link != v.url {
		t.Fatalf("the link to copy is %q, want the page's %q", link, v.url)
	}
	if !strings.Contains(page.header.Get("Vary"), "User-Agent") && !strings.Contains(strings.Join(page.header.Values("Vary"), ","), "User-Agent") {
		t.Errorf("Vary %q lacks User-Agent", page.header.Values("Vary"))
	}
	// The notice does not stand in the way: the app's code works in the app.
	res := e.submit(page, "totp", url.Values{"code": {e.totpCode(key)}}, instagram)
	wantBody(t, res, "You're verified.")

	es := e.startFor("cust-inapp", assurance.Substantial, challenge.TOTP, challenge.WebAuthn)
	wantBody(t, e.GET(es.url+"?lang=es", map[string]string{"User-Agent": uaInstagram}),
		"Abriste esta página dentro de Instagram.")

	// Mobile Safari: the notice is there for the script (no WebAuthn), hidden.
	safari := e.GET(es.url, map[string]string{"User-Agent": uaSafari})
	if notice, shown := inApp(t, safari); notice == nil || shown {
		t.Fatalf("Safari: notice %v shown %v", notice != nil, shown)
	}
	if _, ok := forms(t, safari.body)["totp"]; !ok {
		t.Fatal("Safari: no TOTP form")
	}
	// A page with no passkey has nothing to warn about, in any browser.
	totpOnly := e.startFor("cust-inapp", assurance.Substantial, challenge.TOTP)
	if notice, _ := inApp(t, e.GET(totpOnly.url, instagram)); notice != nil {
		t.Fatal("a TOTP-only page shows the in-app notice")
	}
	// The enrollment page of a passkey warns too.
	enroll := e.GET(e.enrollment("cust-inapp", identity.KindPasskey, "en"), map[string]string{"User-Agent": uaInstagram})
	if _, shown := inApp(t, enroll); !shown {
		t.Fatalf("passkey enrollment in Instagram: no notice:\n%s", enroll.body)
	}
}
