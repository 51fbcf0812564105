package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/browsertest"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/policy"
	"github.com/authsvc/authsvc/internal/web"
)

var _ web.Handovers = (*challenge.Service)(nil)

const (
	channelClient = "acme-app"
	ivrClient     = "acme-ivr"
)

// brandChannel is the brand's secure channel as a real HTTP server on another
// site (127.0.0.1, where authsvc's pages are on localhost): its landing page does
// what docs/integrators.md tells a channel to do, and its backend redeems as the
// channel's client.
type brandChannel struct {
	ts       *httptest.Server
	authsvc  string
	redeemer interface {
		RedeemHandover(ctx context.Context, clientID, code, challenge string) (*challenge.Redemption, error)
	}
	mu       sync.Mutex
	redeemed []*challenge.Redemption
	refused  []error
}

func newBrandChannel(t *testing.T) *brandChannel {
	t.Helper()
	c := &brandChannel{ts: httptest.NewServer(nil)}
	c.ts.Config.Handler = http.HandlerFunc(c.landing)
	t.Cleanup(c.ts.Close)
	return c
}

func (c *brandChannel) redirectURL() string { return c.ts.URL + "/handover" }

// landing is the channel's landing page. First visit (?handover=&state=): draw a
// PKCE verifier, keep it and the state in the channel's own cookie, send the
// browser to authsvc to bind, echoing the state. Second visit (?code=&state=):
// check the state came back, redeem code and verifier from the backend.
func (c *brandChannel) landing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("handover") != "":
		raw := make([]byte, 32)
		_, _ = io.ReadFull(rand.Reader, raw)
		v := base64.RawURLEncoding.EncodeToString(raw)
		http.SetCookie(w, &http.Cookie{Name: "pkce", Value: v + "." + q.Get("state"), Path: "/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode})
		bind := c.authsvc + "/handover/bind?" + url.Values{"handover": {q.Get("handover")}, "state": {q.Get("state")},
			"code_challenge": {handover.Challenge(v)}, "code_challenge_method": {"S256"},
			"redirect_uri": {c.redirectURL()}}.Encode()
		http.Redirect(w, r, bind, http.StatusSeeOther)
	case q.Get("code") != "":
		v, state := "", ""
		if ck, err := r.Cookie("pkce"); err == nil {
			v, state, _ = strings.Cut(ck.Value, ".")
		}
		if state == "" || q.Get("state") != state {
			http.Error(w, "Sorry, please start again from the page where you verified.", http.StatusBadRequest)
			return
		}
		red, err := c.redeemer.RedeemHandover(r.Context(), channelClient, q.Get("code"), handover.Challenge(v))
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.refused = append(c.refused, err)
			http.Error(w, "Sorry, we could not continue your conversation here.", http.StatusForbidden)
			return
		}
		c.redeemed = append(c.redeemed, red)
		_, _ = fmt.Fprintf(w, "<!doctype html><title>Acme app</title><main>Welcome back, %s. Case %s.</main>",
			red.CustomerID, red.CaseReference)
	default:
		http.NotFound(w, r)
	}
}

func channelsFor(t *testing.T, redirect string) *handover.Registry {
	t.Helper()
	reg, err := handover.New(handover.Config{
		Channels: []handover.Channel{{ID: "app", Names: map[string]string{"en": "Acme app", "es": "la app de Acme"},
			RedirectURLs: []string{redirect}, Client: channelClient}},
		Phone: &handover.Phone{Number: "+34900123456", Client: ivrClient},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestHandoverInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	ch := newBrandChannel(t)
	e := newEnv(t, envOpts{localhost: true, channels: channelsFor(t, ch.redirectURL())})
	ch.authsvc, ch.redeemer = e.public, e.svc
	ctx := context.Background()

	// The customer verifies on her phone; the platform asks for the handover.
	v := e.start(challenge.OTPEmail, "en")
	p := b.NewPage(t)
	p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("code")`))
	h, err := e.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient, CaseReference: "CASE-77"})
	if err != nil {
		t.Fatal(err)
	}
	p.Run(t, chromedp.SendKeys(chromedp.ID("code"), v.secret), chromedp.Submit(chromedp.ID("code")),
		waitFor(`mainSays("Continue in Acme app")`))
	p.Screenshot(t, "handover-offer")

	// The forwarded landing link, opened in a second browser: refused at bind.
	landing := ch.redirectURL() + "?handover=" + h.ID
	b2 := browsertest.Start(t)
	other := b2.NewPage(t)
	other.Run(t, chromedp.Navigate(landing), waitFor(`mainSays("Open this where you confirmed")`))
	other.Screenshot(t, "handover-other-browser")

	// A cross-site page that learnt the handover id (the platform has it) sends her own
	// browser to bind a PKCE challenge of its own: her binding cookie comes along on the
	// top-level navigation, the state her page's button issues does not. Refused, and
	// the handover stays as it was.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.public+"/handover/bind?"+url.Values{"handover": {h.ID},
			"code_challenge": {handover.Challenge(strings.Repeat("e", 43))}, "code_challenge_method": {"S256"},
			"redirect_uri": {ch.redirectURL()}}.Encode(), http.StatusSeeOther)
	}))
	t.Cleanup(evil.Close)
	p.Run(t, chromedp.Navigate(evil.URL+"/prize"), waitFor(`mainSays("didn't come from your page")`))
	p.Screenshot(t, "handover-cross-site")
	if g, err := e.svc.GetHandover(ctx, clientID, h.ID); err != nil || g.State != challenge.HandoverOffered {
		t.Fatalf("a cross-site bind changed the handover: %+v, %v", g, err)
	}
	// She goes back to her page, which offers it again to her browser.
	p.Run(t, chromedp.Navigate(v.url), waitFor(`mainSays("Continue in Acme app")`))

	// She taps the button and lands in the channel, whose backend redeemed.
	p.Run(t, chromedp.Click(chromedp.CSS("main form button.primary")),
		waitFor(`document.body.innerText.includes("Welcome back, ")`))
	p.Screenshot(t, "handover-channel")
	ch.mu.Lock()
	if len(ch.redeemed) != 1 {
		t.Fatalf("redeemed %d, refused %v", len(ch.redeemed), ch.refused)
	}
	red := ch.redeemed[0]
	ch.mu.Unlock()
	if !red.Verified || red.CaseReference != "CASE-77" || red.Assertion == nil {
		t.Fatalf("redemption = %+v", red)
	}
	claims, err := assertion.NewVerifier(e.keyring, "https://authsvc.test", e.clock.Now).Verify(red.Assertion.Token, channelClient)
	if err != nil || claims.Handover != assertion.HandoverSecureChannel {
		t.Fatalf("assertion = %+v, %v", claims, err)
	}
	if err := e.svc.CheckAssertion(ctx, challenge.GrantOf(claims)); err != nil {
		t.Fatalf("the assertion does not stand: %v", err)
	}
	d, err := policy.Default().Decide(policy.Claims{Level: claims.Level, AuthTime: claims.AuthTime,
		ConversationID: claims.ConversationID}, "order_status", policy.SecureChannel, claims.ConversationID, e.clock.Now())
	if err != nil || !d.Allowed {
		t.Fatalf("disclosure in the secure channel: %+v, %v", d, err)
	}

	// Reloading the channel's ?code= URL (or an intercepted one): used.
	p.Run(t, chromedp.Reload(), waitFor(`document.body.innerText.includes("could not continue")`))
	ch.mu.Lock()
	last := ch.refused[len(ch.refused)-1]
	ch.mu.Unlock()
	if !errors.Is(last, challenge.ErrHandoverUsed) {
		t.Fatalf("second redemption: %v", last)
	}
}

func TestHandoverAfterPasskey(t *testing.T) {
	b := browsertest.Start(t)
	ch := newBrandChannel(t)
	e := newEnv(t, envOpts{localhost: true, channels: channelsFor(t, ch.redirectURL())})
	ch.authsvc, ch.redeemer = e.public, e.svc
	p := b.NewPage(t)
	p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})
	enrollInBrowser(t, e, p, "cust-h")
	v := e.startFor("cust-h", assurance.High, challenge.WebAuthn)
	if _, err := e.svc.CreateHandover(context.Background(), challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient}); err != nil {
		t.Fatal(err)
	}
	p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("passkey-button")`))
	p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")), waitFor(`mainSays("Continue in Acme app")`))
	p.Run(t, chromedp.Click(chromedp.CSS("main form button.primary")),
		waitFor(`document.body.innerText.includes("Welcome back, cust-h")`))
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if len(ch.redeemed) != 1 || ch.redeemed[0].Level != assurance.High {
		t.Fatalf("redeemed %+v, refused %v", ch.redeemed, ch.refused)
	}
}

func TestHandoverBindRefusals(t *testing.T) {
	t.Parallel()
	ch := newBrandChannel(t)
	e := newEnv(t, envOpts{channels: channelsFor(t, ch.redirectURL())})
	ch.authsvc, ch.redeemer = e.public, e.svc
	ctx := context.Background()
	v := e.start(challenge.OTPEmail, "en")
	create := func(requestID string) *challenge.Handover {
		h, err := e.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id,
			Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient, RequestID: requestID})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	earlier := create("h-earlier")
	page := e.GET(v.url, nil)
	verified := e.submit(page, "code", url.Values{"code": {v.secret}}, nil)
	wantBody(t, verified, "You're verified", "Continue in")
	bound := map[string]string{"Cookie": strings.SplitN(verified.header.Get("Set-Cookie"), ";", 2)[0]}
	if csp := verified.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+ch.ts.URL+";") {
		t.Fatalf("the offer's CSP does not let its form reach the channel: %s", csp)
	}
	// The continue form sends the browser to the channel's landing page with the handover
	// id and the state it issued to this browser for that handover.
	landing := func(offer response, id string) string {
		t.Helper()
		cont := e.submit(offer, "", nil, bound)
		wantStatus(t, cont, http.StatusSeeOther)
		loc, err := url.Parse(cont.header.Get("Location"))
		if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != ch.redirectURL() || loc.Query().Get("handover") != id ||
			len(loc.Query().Get("state")) < 22 || len(loc.Query()) != 2 {
			t.Fatalf("continue redirects to %q", cont.header.Get("Location"))
		}
		return loc.Query().Get("state")
	}
	earlierState := landing(verified, earlier.ID)
	h := create("h-newer") // replaces the earlier offer
	state := landing(e.GET(v.url, bound), h.ID)
	if state == earlierState {
		t.Fatal("two handovers share a state")
	}

	// Another browser verifies its own verification and gets its own handover's state.
	v2 := e.start(challenge.OTPEmail, "en")
	if _, err := e.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: v2.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient}); err != nil {
		t.Fatal(err)
	}
	verified2 := e.submit(e.GET(v2.url, nil), "code", url.Values{"code": {v2.secret}}, nil)
	other := map[string]string{"Cookie": strings.SplitN(verified2.header.Get("Set-Cookie"), ";", 2)[0]}
	cont2 := e.submit(verified2, "", nil, other)
	loc2, _ := url.Parse(cont2.header.Get("Location"))
	otherState := loc2.Query().Get("state")

	bindURL := func(state, redirect, challengeS string) string {
		q := url.Values{"handover": {h.ID}, "code_challenge": {challengeS}, "code_challenge_method": {"S256"},
			"redirect_uri": {redirect}}
		if state != "" {
			q.Set("state", state)
		}
		return e.public + "/handover/bind?" + q.Encode()
	}
	good := handover.Challenge(strings.Repeat("v", 43))
	attacker := handover.Challenge(strings.Repeat("x", 43))
	for name, redirect := range map[string]string{
		"another site":      "https://evil.example/handover",
		"extra query":       ch.redirectURL() + "?x=1",
		"another path":      ch.ts.URL + "/handover/",
		"case changed":      strings.ToUpper(ch.redirectURL()[:4]) + ch.redirectURL()[4:],
		"userinfo":          strings.Replace(ch.redirectURL(), "://", "://a@", 1),
		"trailing fragment": ch.redirectURL() + "#x",
	} {
		r := e.GET(bindURL(state, redirect, good), bound)
		wantStatus(t, r, http.StatusBadRequest)
		if loc := r.header.Get("Location"); loc != "" {
			t.Fatalf("%s: redirected to %q", name, loc)
		}
	}
	wantStatus(t, e.GET(bindURL(state, ch.redirectURL(), "not-a-challenge"), bound), http.StatusBadRequest)
	head := e.do(http.MethodHead, bindURL(state, ch.redirectURL(), good), nil, bound)
	wantStatus(t, head, http.StatusMethodNotAllowed)
	// No binding cookie: refused, nothing bound, whatever the state.
	wantStatus(t, e.GET(bindURL(state, ch.redirectURL(), good), nil), http.StatusForbidden)
	// Her browser, sent by a cross-site page with a challenge of its own: without her state,
	// with another browser's, with the state of her own earlier handover, refused.
	for name, s := range map[string]string{"no state": "", "another browser's": otherState, "another handover's": earlierState} {
		r := e.GET(bindURL(s, ch.redirectURL(), attacker), bound)
		wantStatus(t, r, http.StatusForbidden)
		wantBody(t, r, "This link didn't come from your page")
		if loc := r.header.Get("Location"); loc != "" {
			t.Fatalf("%s: redirected to %q", name, loc)
		}
	}
	if g, _ := e.svc.GetHandover(ctx, clientID, h.ID); g.State != challenge.HandoverOffered {
		t.Fatalf("refused binds changed the handover: %+v", g)
	}
	// Her own bind, with her state: the code and the state go back to the channel.
	ok := e.GET(bindURL(state, ch.redirectURL(), good), bound)
	wantStatus(t, ok, http.StatusSeeOther)
	back, err := url.Parse(ok.header.Get("Location"))
	if err != nil || back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("bind redirects to %q", ok.header.Get("Location"))
	}
	// Replayed (a leaked landing URL): with another challenge, the handover is used.
	wantStatus(t, e.GET(bindURL(state, ch.redirectURL(), attacker), bound), http.StatusNotFound)
	if r, err := e.svc.RedeemHandover(ctx, channelClient, back.Query().Get("code"), good); err != nil || !r.Verified {
		t.Fatalf("the channel's redemption after the refusals: %+v, %v", r, err)
	}

	// Late: past the offer's time, even with her state.
	v3 := e.start(challenge.OTPEmail, "en")
	h3, err := e.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: v3.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient})
	if err != nil {
		t.Fatal(err)
	}
	verified3 := e.submit(e.GET(v3.url, nil), "code", url.Values{"code": {v3.secret}}, nil)
	third := map[string]string{"Cookie": strings.SplitN(verified3.header.Get("Set-Cookie"), ";", 2)[0]}
	loc3, _ := url.Parse(e.submit(verified3, "", nil, third).header.Get("Location"))
	e.clock.Advance(11 * time.Minute)
	late := e.public + "/handover/bind?" + url.Values{"handover": {h3.ID}, "state": {loc3.Query().Get("state")},
		"code_challenge": {good}, "code_challenge_method": {"S256"}, "redirect_uri": {ch.redirectURL()}}.Encode()
	wantStatus(t, e.GET(late, third), http.StatusNotFound)
}

func TestPhoneHandoverPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{channels: channelsFor(t, "https://app.example.com/handover")})
	ctx := context.Background()
	v := e.start(challenge.OTPEmail, "es")
	if _, err := e.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id,
		Kind: challenge.HandoverPhone, Redeemer: ivrClient, CaseReference: "CASE-9"}); err != nil {
		t.Fatal(err)
	}
	// The pending page, in the verification's language: the number as a tel: link and
	// the code in groups, beside the methods.
	page := e.GET(v.url, nil)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "¿Prefieres hablar?", "Llámanos al")
	if !strings.Contains(page.body, `href="tel:&#43;34900123456"`) {
		t.Fatal("no tel: link")
	}
	digits := regexp.MustCompile(`<strong>(\d{3} \d{3} \d{4})</strong>`).FindStringSubmatch(page.body)
	if digits == nil {
		t.Fatalf("no call code on the page:\n%s", page.body)
	}
	if _, ok := forms(t, page.body)["code"]; !ok {
		t.Fatal("the methods are gone from the pending page")
	}
	// The IVR redeems what the customer reads out; the page's code works once.
	if r, err := e.svc.RedeemCallCode(ctx, ivrClient, strings.ReplaceAll(digits[1], " ", ""), ""); err != nil || r.Verified ||
		r.CaseReference != "CASE-9" {
		t.Fatalf("RedeemCallCode = %+v, %v", r, err)
	}
	// Verified, the page shows it again to the browser that verified, and to no other.
	verified := e.submit(e.GET(v.url, nil), "code", url.Values{"code": {v.secret}}, nil)
	wantStatus(t, verified, http.StatusOK)
	bound := map[string]string{"Cookie": strings.SplitN(verified.header.Get("Set-Cookie"), ";", 2)[0]}
	wantBody(t, e.GET(v.url, bound), "Llámanos al")
	wantStatus(t, e.GET(v.url, nil), http.StatusNotFound)
}

// TestHandoverAfterMagicLink: a magic link's verified page offers the handover too,
// and its continue form leads to the channel.
func TestHandoverAfterMagicLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{channels: channelsFor(t, "https://app.example.com/handover")})
	v := e.start(challenge.MagicLink, "en")
	h, err := e.svc.CreateHandover(context.Background(), challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient})
	if err != nil {
		t.Fatal(err)
	}
	verified := e.submit(e.GET(v.url, nil), "pick", url.Values{"number": {v.secret}}, nil)
	wantBody(t, verified, "You're verified", "Continue in Acme app")
	bound := map[string]string{"Cookie": strings.SplitN(verified.header.Get("Set-Cookie"), ";", 2)[0]}
	cont := e.submit(verified, "", nil, bound)
	wantStatus(t, cont, http.StatusSeeOther)
	if loc := cont.header.Get("Location"); !strings.HasPrefix(loc, "https://app.example.com/handover?handover="+h.ID+"&state=") {
		t.Fatalf("continue redirects to %q", loc)
	}
	// The used link itself opens nothing, even in that browser.
	wantStatus(t, e.GET(v.url, bound), http.StatusNotFound)
}
