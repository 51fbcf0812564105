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

// landing is the channel's landing page. First visit (?handover=): draw a PKCE
// verifier, keep it in the channel's own cookie, send the browser to authsvc to
// bind. Second visit (?code=): redeem code and verifier from the backend.
func (c *brandChannel) landing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("handover") != "":
		raw := make([]byte, 32)
		_, _ = io.ReadFull(rand.Reader, raw)
		v := base64.RawURLEncoding.EncodeToString(raw)
		http.SetCookie(w, &http.Cookie{Name: "pkce", Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		bind := c.authsvc + "/handover/bind?" + url.Values{"handover": {q.Get("handover")},
			"code_challenge": {handover.Challenge(v)}, "code_challenge_method": {"S256"},
			"redirect_uri": {c.redirectURL()}}.Encode()
		http.Redirect(w, r, bind, http.StatusSeeOther)
	case q.Get("code") != "":
		v := ""
		if ck, err := r.Cookie("pkce"); err == nil {
			v = ck.Value
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
	if err := e.svc.CheckAssertion(ctx, challenge.Grant{VerificationID: claims.VerificationID, AssertionID: claims.ID,
		ClientID: claims.ClientID, ConversationID: claims.ConversationID}); err != nil {
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
	h, err := e.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id,
		Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: channelClient})
	if err != nil {
		t.Fatal(err)
	}
	page := e.GET(v.url, nil)
	verified := e.submit(page, "code", url.Values{"code": {v.secret}}, nil)
	wantBody(t, verified, "You're verified", "Continue in")
	bound := map[string]string{"Cookie": strings.SplitN(verified.header.Get("Set-Cookie"), ";", 2)[0]}
	if csp := verified.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+ch.ts.URL+";") {
		t.Fatalf("the offer's CSP does not let its form reach the channel: %s", csp)
	}
	// The continue form sends the browser to the channel's landing page, with the handover id only.
	cont := e.submit(verified, "", nil, bound)
	wantStatus(t, cont, http.StatusSeeOther)
	if loc := cont.header.Get("Location"); loc != ch.redirectURL()+"?handover="+h.ID {
		t.Fatalf("continue redirects to %q", loc)
	}
	bind := func(redirect, challengeS string, cookies map[string]string) response {
		target := e.public + "/handover/bind?" + url.Values{"handover": {h.ID}, "code_challenge": {challengeS},
			"code_challenge_method": {"S256"}, "redirect_uri": {redirect}}.Encode()
		return e.GET(target, cookies)
	}
	good := handover.Challenge(strings.Repeat("v", 43))
	for name, redirect := range map[string]string{
		"another site":      "https://evil.example/handover",
		"extra query":       ch.redirectURL() + "?x=1",
		"another path":      ch.ts.URL + "/handover/",
		"case changed":      strings.ToUpper(ch.redirectURL()[:4]) + ch.redirectURL()[4:],
		"userinfo":          strings.Replace(ch.redirectURL(), "://", "://a@", 1),
		"trailing fragment": ch.redirectURL() + "#x",
	} {
		r := bind(redirect, good, bound)
		wantStatus(t, r, http.StatusBadRequest)
		if loc := r.header.Get("Location"); loc != "" {
			t.Fatalf("%s: redirected to %q", name, loc)
		}
	}
	wantStatus(t, bind(ch.redirectURL(), "not-a-challenge", bound), http.StatusBadRequest)
	head := e.do(http.MethodHead, e.public+"/handover/bind?"+url.Values{"handover": {h.ID}, "code_challenge": {good},
		"code_challenge_method": {"S256"}, "redirect_uri": {ch.redirectURL()}}.Encode(), nil, bound)
	wantStatus(t, head, http.StatusMethodNotAllowed)
	// No binding cookie: refused, nothing bound.
	wantStatus(t, bind(ch.redirectURL(), good, nil), http.StatusForbidden)
	if g, _ := e.svc.GetHandover(ctx, clientID, h.ID); g.State != challenge.HandoverOffered {
		t.Fatalf("refused binds changed the handover: %+v", g)
	}
	// Late: past the offer's time.
	e.clock.Advance(11 * time.Minute)
	wantStatus(t, bind(ch.redirectURL(), good, bound), http.StatusNotFound)
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
	if r, err := e.svc.RedeemCallCode(ctx, ivrClient, strings.ReplaceAll(digits[1], " ", "")); err != nil || r.Verified ||
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
	if loc := cont.header.Get("Location"); loc != "https://app.example.com/handover?handover="+h.ID {
		t.Fatalf("continue redirects to %q", loc)
	}
	// The used link itself opens nothing, even in that browser.
	wantStatus(t, e.GET(v.url, bound), http.StatusNotFound)
}
