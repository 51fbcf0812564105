package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/browsertest"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
)

// The browser tests load the pages in headless Chromium as a phone would (390x844)
// and run the passkey ceremonies against a CDP virtual authenticator, with the
// pages' own script under their CSP. Every page visited is captured under
// browsertest.ArtifactsDir(). One browser serves the subtests, each with its own
// stack and tab.
func TestBrowser(t *testing.T) {
	b := browsertest.Start(t)

	t.Run("passkey enrolled then verifies HIGH", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{localhost: true})
		p := b.NewPage(t)
		auth := p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})
		enrollInBrowser(t, e, p, "cust-a")
		if creds := p.Credentials(t, auth); len(creds) != 1 || creds[0].RPID != "localhost" {
			t.Fatalf("authenticator holds %+v; want one credential for localhost", creds)
		}

		v := e.startFor("cust-a", assurance.High, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("passkey-button")`))
		p.Screenshot(t, "verify")
		p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")), waitFor(`resultSays("You're verified")`))
		p.Screenshot(t, "verified")
		got := e.get(v.id)
		keyBound := slices.Contains(got.AMR, "hwk") || slices.Contains(got.AMR, "swk")
		if got.State != challenge.Verified || got.Level != assurance.High || !slices.Contains(got.AMR, "user") || !keyBound {
			t.Fatalf("state %v level %v amr %v; want VERIFIED HIGH with user and hwk/swk", got.State, got.Level, got.AMR)
		}
	})

	t.Run("passkey without user verification", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{localhost: true})
		p := b.NewPage(t)
		auth := p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})
		enrollInBrowser(t, e, p, "cust-b")
		// From now on the authenticator signs responses with the UV flag clear.
		p.SetResponseOverrideBits(t, auth, true, false)

		substantial := e.startFor("cust-b", assurance.Substantial, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(substantial.url), waitFor(`isShown("passkey-button")`))
		p.Screenshot(t, "verify-substantial")
		p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")), waitFor(`resultSays("You're verified")`))
		p.Screenshot(t, "verified-substantial")
		got := e.get(substantial.id)
		if got.State != challenge.Verified || got.Level != assurance.Substantial || slices.Contains(got.AMR, "user") {
			t.Fatalf("min SUBSTANTIAL: state %v level %v amr %v; want VERIFIED SUBSTANTIAL without user",
				got.State, got.Level, got.AMR)
		}

		high := e.startFor("cust-b", assurance.High, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(high.url), waitFor(`isShown("passkey-button")`))
		p.Screenshot(t, "verify-high")
		p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")),
			waitFor(`statusSays("didn't work") && !document.getElementById("passkey-button").disabled`))
		p.Screenshot(t, "refused-high")
		if got := e.get(high.id); got.State != challenge.Pending {
			t.Fatalf("min HIGH without UV: state %v level %v; want PENDING", got.State, got.Level)
		}
	})

	t.Run("passkey replay, second finish and late finish are refused", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{localhost: true})
		p := b.NewPage(t)
		auth := p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})
		enrollInBrowser(t, e, p, "cust-r")

		// A real ceremony, with what the page posts recorded.
		v1 := e.startFor("cust-r", assurance.High, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(v1.url), waitFor(`isShown("passkey-button")`))
		evaluate[bool](t, p, recordPosts)
		p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")), waitFor(`resultSays("You're verified")`))
		old := evaluate[string](t, p, `JSON.stringify(JSON.parse(window.__posts[1].body).credential)`)

		// Replayed into another verification's ceremony (another challenge): refused
		// and counted as a wrong attempt.
		v2 := e.startFor("cust-r", assurance.High, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(v2.url), waitFor(`isShown("passkey-button")`))
		if got := evaluateAsync[string](t, p, `(async () => {
			const box = document.getElementById("passkey");
			const post = (url, body) => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
				body: JSON.stringify(body)}).then(r => r.json());
			const begun = await post(box.dataset.begin, {nonce: box.dataset.nonce, lang: "en"});
			const done = await post(box.dataset.finish, {nonce: begun.nonce, lang: "en", credential: `+old+`});
			return done.outcome;
		})()`); got == "verified" {
			t.Fatal("a replayed passkey response verified another verification")
		}
		if got := e.get(v2.id); got.State != challenge.Pending || got.AttemptsLeft != 4 {
			t.Fatalf("after a replay: state %v, %d attempts left; want PENDING, 4", got.State, got.AttemptsLeft)
		}

		// A second finish with the same ceremony: the ceremony was consumed, so it
		// is refused and counts nothing (UV cleared, so the first one fails at HIGH).
		p.SetResponseOverrideBits(t, auth, true, false)
		v3 := e.startFor("cust-r", assurance.High, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(v3.url), waitFor(`isShown("passkey-button")`))
		evaluate[bool](t, p, recordPosts)
		p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")),
			waitFor(`statusSays("didn't work") && !document.getElementById("passkey-button").disabled`))
		if got := evaluateAsync[string](t, p, `fetch(window.__posts[1].url, {method: "POST",
			headers: {"Content-Type": "application/json"}, body: window.__posts[1].body}).then(r => r.json()).then(j => j.outcome)`); got == "verified" {
			t.Fatal("a second finish of one ceremony verified")
		}
		if got := e.get(v3.id); got.State != challenge.Pending || got.AttemptsLeft != 4 {
			t.Fatalf("after a second finish: state %v, %d attempts left; want PENDING, 4 (one counted)", got.State, got.AttemptsLeft)
		}
		p.SetResponseOverrideBits(t, auth, false, false)

		// A ceremony finished after its timeout: held until the service clock has
		// moved past it, then refused without counting.
		v4 := e.startFor("cust-r", assurance.High, challenge.WebAuthn)
		p.Run(t, chromedp.Navigate(v4.url), waitFor(`isShown("passkey-button")`))
		evaluate[bool](t, p, `(() => { const get = navigator.credentials.get.bind(navigator.credentials);
			navigator.credentials.get = (o) => new Promise(r => { window.__release = () => r(get(o)); }); return true; })()`)
		p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")), waitFor(`typeof window.__release === "function"`))
		e.clock.Advance(2*time.Minute + time.Second)
		evaluate[bool](t, p, `(window.__release(), true)`)
		p.Run(t, waitFor(`statusSays("didn't work") && !document.getElementById("passkey-button").disabled`))
		p.Screenshot(t, "late-finish")
		if got := e.get(v4.id); got.State != challenge.Pending || got.AttemptsLeft != 5 {
			t.Fatalf("after a late finish: state %v, %d attempts left; want PENDING, 5", got.State, got.AttemptsLeft)
		}
	})

	t.Run("authenticator app enrolled then verifies", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{localhost: true})
		p := b.NewPage(t)
		p.Run(t, chromedp.Navigate(e.enrollment("cust-c", identity.KindTOTP, "en")),
			waitFor(`mainSays("Set up an authenticator app for Acme")`))
		p.Screenshot(t, "enroll-intro")
		p.Run(t, chromedp.Tap(chromedp.CSS(`form button.primary`)), waitFor(`isShown("otpauth")`))
		p.Screenshot(t, "enroll-setup")
		href := evaluate[string](t, p, `document.getElementById("otpauth").getAttribute("href")`)
		key, err := otp.NewKeyFromURL(href)
		if err != nil {
			t.Fatalf("otpauth link %q: %v", href, err)
		}
		p.Run(t, chromedp.SendKeys(chromedp.ID("totp"), e.totpCode(key.Secret())),
			chromedp.Tap(chromedp.CSS(`#totp ~ button`)), waitFor(`mainSays("Your authenticator app is set up")`))
		p.Screenshot(t, "enrolled")

		e.clock.Advance(30 * time.Second) // a step is accepted once: the next code is the next step's
		v := e.startFor("cust-c", assurance.Substantial, challenge.TOTP)
		p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("totp")`))
		p.Screenshot(t, "verify")
		p.Run(t, chromedp.SendKeys(chromedp.ID("totp"), e.totpCode(key.Secret())),
			chromedp.Tap(chromedp.CSS(`#totp ~ button`)), waitFor(`mainSays("You're verified")`))
		p.Screenshot(t, "verified")
		e.wantVerified(v.id, assurance.Substantial, "otp")
	})

	t.Run("in-app browser", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{localhost: true})
		e.enrollPasskey("cust-d", newPasskey(t, e.public))
		key := e.enrollTOTP("cust-d")
		v := e.startFor("cust-d", assurance.Substantial, challenge.TOTP, challenge.WebAuthn)

		p := b.NewPage(t, browsertest.WithUserAgent(uaInstagram))
		p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("inapp") && isShown("inapp-copy")`))
		p.Screenshot(t, "notice")
		if link := evaluate[string](t, p, `document.getElementById("inapp-link").value`); link != v.url {
			t.Fatalf("the link to copy is %q, want %q", link, v.url)
		}
		wantText(t, p, "You opened this page inside Instagram.")
		p.Run(t, chromedp.SendKeys(chromedp.ID("totp"), e.totpCode(key)),
			chromedp.Tap(chromedp.CSS(`#totp ~ button`)), waitFor(`mainSays("You're verified")`))
		p.Screenshot(t, "verified")
		e.wantVerified(v.id, assurance.Substantial, "otp")

		// A browser without WebAuthn, whatever its User-Agent says: the script shows
		// the notice and keeps the passkey button hidden.
		other := e.startFor("cust-d", assurance.Substantial, challenge.TOTP, challenge.WebAuthn)
		q := b.NewPage(t)
		q.Run(t, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.PublicKeyCredential;`})
			return err
		}), chromedp.Navigate(other.url), waitFor(`isShown("inapp") && !isShown("passkey") && isShown("totp")`))
		q.Screenshot(t, "no-webauthn")
		wantText(t, q, "Passkeys don't work in this browser.")
	})
}

// enrollInBrowser creates a passkey on its enrollment page with the tab's
// authenticator, then moves the clock on so that the factor predates the next
// verification.
func enrollInBrowser(t *testing.T, e *env, p *browsertest.Page, customer string) {
	t.Helper()
	p.Run(t, chromedp.Navigate(e.enrollment(customer, identity.KindPasskey, "en")), waitFor(`isShown("passkey-button")`))
	p.Screenshot(t, "enroll")
	p.Run(t, chromedp.Tap(chromedp.ID("passkey-button")), waitFor(`resultSays("Your passkey is set up")`))
	p.Screenshot(t, "enrolled")
	e.clock.Advance(time.Second)
}

// pageHelpers are predicates the waits use; they are defined on every check, as
// the page under test runs no script of the test's.
const pageHelpers = `
	const byID = (id) => document.getElementById(id);
	const isShown = (id) => { const n = byID(id); return !!n && n.getClientRects().length > 0; };
	// (As read: without the invisible isolation marks around a brand or handle.)
	const mainSays = (s) => document.readyState === "complete" && !!document.querySelector("main") &&
		document.querySelector("main").innerText.replace(/[\u2068\u2069]/g, "").includes(s);
	const resultSays = (s) => !!byID("result") && byID("result").textContent.includes(s);
	const statusSays = (s) => !!byID("passkey-status") && byID("passkey-status").textContent.includes(s);
`

// waitFor waits until cond (a JavaScript expression over pageHelpers) holds. It
// re-evaluates after every navigation, which chromedp.Poll does not survive.
func waitFor(cond string) chromedp.Action[chromedp.Void] {
	expr := "(() => {" + pageHelpers + "; return !!(" + cond + "); })()"
	return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		var last error
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, tgt)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			last = err
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("wait for %s: %w (last evaluation: %w)", cond, ctx.Err(), last)
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
}

// recordPosts makes the page remember what it posts (url and body), in
// window.__posts, by wrapping fetch.
const recordPosts = `(() => { window.__posts = []; const f = window.fetch;
	window.fetch = (u, o) => { window.__posts.push({url: String(u), body: o && o.body}); return f(u, o); };
	return true; })()`

// evaluateAsync returns the value of a JavaScript promise on the page.
func evaluateAsync[T any](t *testing.T, p *browsertest.Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx(), 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evaluate returns the value of a JavaScript expression on the page.
func evaluate[T any](t *testing.T, p *browsertest.Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx(), 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wantText fails unless the page's visible text says s.
func wantText(t *testing.T, p *browsertest.Page, s string) {
	t.Helper()
	js, _ := json.Marshal(s)
	if !evaluate[bool](t, p, "document.body.innerText.includes("+string(js)+")") {
		t.Fatalf("the page does not say %q:\n%s", s, evaluate[string](t, p, "document.body.innerText"))
	}
}
