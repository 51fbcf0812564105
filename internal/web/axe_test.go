package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/browsertest"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/web"
)

// axePath is where `make deps` (npm ci in test/axe) puts axe-core, relative to
// this package. The tests read it and inject it into the page through DevTools:
// the service never serves or fetches it.
const axePath = "../../test/axe/node_modules/axe-core/axe.min.js"

// loadAxe returns axe-core's source, or skips (fails under CI=true, which runs
// `make deps`) with how to install it.
func loadAxe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(axePath)
	if err != nil {
		msg := "axe-core is not installed: run `make deps` (npm ci in test/axe; the npm registry is needed once)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return string(src)
}

// axeTags are the rule sets the pages must pass: WCAG 2.0, 2.1 and 2.2, A and AA.
const axeRun = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
	resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact,
	help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + n.failureSummary)}))))`

type axeViolation struct {
	ID, Impact, Help string
	Nodes            []string
}

// runAxe runs axe-core on the page as it is and returns its violations.
func runAxe(t *testing.T, p *browsertest.Page, axe, state string) []axeViolation {
	t.Helper()
	if !evaluate[bool](t, p, "typeof axe === 'object'") {
		evaluate[any](t, p, axe+";0")
	}
	raw := evaluateAsync[string](t, p, axeRun)
	var violations []axeViolation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatalf("%s: axe result %q: %v", state, raw, err)
	}
	return violations
}

// checkAxe runs axe-core on the page as it is and fails t on any violation.
func checkAxe(t *testing.T, p *browsertest.Page, axe, state string) {
	t.Helper()
	for _, v := range runAxe(t, p, axe, state) {
		t.Errorf("%s: axe %s (%s): %s\n  %s", state, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

// TestAccessibilityInBrowser runs axe-core (WCAG 2.2 A and AA) over every page
// and state a customer can meet, in English and in Arabic (right to left):
// code entry, wrong code, the warning before expiry, locked, expired, verified,
// "this wasn't me", "this isn't the account I'm talking to", the magic link's
// number pick, an authenticator app's code, a passkey, the enrollment pages,
// and the neutral and index pages. Zero violations.
func TestAccessibilityInBrowser(t *testing.T) {
	axe := loadAxe(t)
	b := browsertest.Start(t)
	for _, lang := range []string{"en", "ar"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{localhost: true, limits: challenge.Limits{Failures: 2}})
			p := b.NewPage(t)
			q := "?lang=" + lang
			visit := func(state, url, ready string) {
				t.Helper()
				p.Run(t, chromedp.Navigate(url), waitFor(ready))
				checkAxe(t, p, axe, state)
			}
			submitCode := func(code string) {
				t.Helper()
				p.Run(t, chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")))
			}
			wantDir := func() {
				t.Helper()
				want := map[string]string{"en": "ltr", "ar": "rtl"}[lang]
				if got := evaluate[string](t, p, `document.documentElement.dir + " " + document.documentElement.lang`); got != want+" "+lang {
					t.Errorf("<html> dir and lang %q, want %q", got, want+" "+lang)
				}
			}

			v := e.start(challenge.OTPEmail, lang)
			visit("code entry", v.url, `isShown("code") && isShown("countdown")`)
			wantDir()
			// The control: axe does see a field without its label.
			evaluate[bool](t, p, `(document.querySelector('label[for="code"]').remove(), true)`)
			if got := runAxe(t, p, axe, "control"); len(got) == 0 || got[0].ID != "label" {
				t.Fatalf("axe on a field without a label found %+v, want the label rule", got)
			}
			p.Run(t, chromedp.Reload(), waitFor(`isShown("code")`))
			wrong := fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)
			submitCode(wrong)
			p.Run(t, waitFor(`isShown("alert")`))
			checkAxe(t, p, axe, "wrong code")
			submitCode(v.secret)
			p.Run(t, waitFor(`!byID("code") && document.querySelector("main.tone-ok")`))
			checkAxe(t, p, axe, "verified")

			// Two wrong codes in a row lock the identity's email codes.
			locked := e.start(challenge.OTPEmail, lang)
			p.Run(t, chromedp.Navigate(locked.url), waitFor(`isShown("code")`))
			submitCode(fmt.Sprintf("%06d", (atoi(locked.secret)+1)%1000000))
			p.Run(t, waitFor(`isShown("alert")`))
			submitCode(fmt.Sprintf("%06d", (atoi(locked.secret)+2)%1000000))
			p.Run(t, waitFor(`!byID("code") && document.querySelector("main.tone-stop")`))
			checkAxe(t, p, axe, "locked")
			e.clock.Advance(2 * time.Hour) // past the lock

			soon := e.start(challenge.OTPEmail, lang)
			more, limit, ended := e.start(challenge.OTPEmail, lang), e.start(challenge.OTPEmail, lang), e.start(challenge.OTPEmail, lang)
			e.clock.Advance(9*time.Minute + 30*time.Second)
			visit("warned before expiry", soon.url, `byID("timing").textContent !== "" && document.activeElement === byID("extend-button")`)
			// "I need more time": given, refused at the limit (a page rendered before the
			// last extension), refused once the verification ended.
			p.Run(t, chromedp.Navigate(more.url), waitFor(`isShown("extend-button")`), chromedp.Click(chromedp.ID("extend-button")),
				waitFor(`location.search.includes("more=1") && isShown("alert") && isShown("countdown")`))
			checkAxe(t, p, axe, "more time given")
			p.Run(t, chromedp.Navigate(limit.url), waitFor(`isShown("extend-button")`))
			_, token, _ := strings.Cut(limit.url, "/v/")
			for i := range 3 {
				if _, err := e.svc.ExtendCodePage(context.Background(), token, fmt.Sprint("axe-", i)); err != nil {
					t.Fatal(err)
				}
			}
			p.Run(t, chromedp.Click(chromedp.ID("extend-button")), waitFor(`isShown("alert") && !byID("extend-button")`))
			checkAxe(t, p, axe, "no more time: limit reached")
			p.Run(t, chromedp.Navigate(ended.url), waitFor(`isShown("extend-button")`))
			if _, err := e.svc.Cancel(context.Background(), clientID, ended.id, "axe-cancel"); err != nil {
				t.Fatal(err)
			}
			p.Run(t, chromedp.Click(chromedp.ID("extend-button")), waitFor(`!byID("code") && document.querySelector("main.tone-stop")`))
			checkAxe(t, p, axe, "no more time: ended")
			e.clock.Advance(time.Minute)
			visit("expired", soon.url, `!byID("code") && !!document.querySelector("h1")`)

			rep := e.start(challenge.OTPEmail, lang)
			p.Run(t, chromedp.Navigate(rep.url), waitFor(`isShown("report")`), chromedp.Click(chromedp.ID("report")),
				waitFor(`!byID("report") && document.querySelector("main.tone-stop")`))
			checkAxe(t, p, axe, "this wasn't me")
			imp := e.start(challenge.MagicLink, lang)
			visit("magic link's number pick", imp.url, `!!document.querySelector("button.choice")`)
			p.Run(t, chromedp.Click(chromedp.ID("impersonation")),
				waitFor(`!byID("impersonation") && document.querySelector("main.tone-stop")`))
			checkAxe(t, p, axe, "this isn't the account I'm talking to")

			e.enrollTOTP("cust-axe-totp")
			visit("authenticator app", e.startFor("cust-axe-totp", assurance.Substantial, challenge.TOTP).url+q, `isShown("totp")`)
			e.enrollPasskey("cust-axe-pk", newPasskey(t, e.public))
			visit("passkey", e.startFor("cust-axe-pk", assurance.High, challenge.WebAuthn).url+q, `isShown("passkey-button")`)

			visit("enrollment: authenticator app", e.enrollment("cust-axe-new", identity.KindTOTP, lang), `!!document.querySelector("form button.primary")`)
			p.Run(t, chromedp.Click(chromedp.CSS(`form button.primary`)), waitFor(`isShown("otpauth")`))
			checkAxe(t, p, axe, "enrollment: authenticator app setup")
			visit("enrollment: passkey", e.enrollment("cust-axe-new2", identity.KindPasskey, lang), `isShown("passkey-button")`)

			visit("neutral", e.public+"/v/nope"+q, `!!document.querySelector("h1")`)
			visit("index", e.public+"/"+q, `!!document.querySelector("h1")`)
			wantDir()
		})
	}
}

// TestKeyboardOnly completes an OTP verification with the keyboard alone: Tab
// to the code field (every stop's focus drawn with a visible outline, and in
// view, not hidden under anything), type the code, Enter.
func TestKeyboardOnly(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, envOpts{localhost: true})
	v := e.start(challenge.OTPEmail, "en")
	p := b.NewPage(t)
	p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("code")`))
	const focusState = `(() => { const a = document.activeElement; if (!a || a === document.body) return "body";
		const s = getComputedStyle(a); const r = a.getBoundingClientRect();
		const top = document.elementFromPoint(Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1),
			Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1));
		return JSON.stringify({id: a.id, tag: a.tagName, outline: s.outlineStyle + " " + s.outlineWidth,
			inView: r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth,
			onTop: !!top && (top === a || a.contains(top)), visible: a.matches(":focus-visible")}); })()`
	var reached bool
	for i := 0; i < 20 && !reached; i++ {
		p.Run(t, chromedp.KeyEvent(kb.Tab))
		raw := evaluate[string](t, p, focusState)
		if raw == "body" {
			continue
		}
		var f struct {
			ID, Tag, Outline       string
			InView, OnTop, Visible bool
		}
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			t.Fatal(err)
		}
		if !f.Visible || strings.HasPrefix(f.Outline, "none") || strings.HasPrefix(f.Outline, "0") || !f.InView || !f.OnTop {
			t.Errorf("focus stop %d (%s#%s): outline %q, focus-visible %v, in view %v, on top %v", i, f.Tag, f.ID, f.Outline, f.Visible, f.InView, f.OnTop)
		}
		reached = f.ID == "code"
	}
	if !reached {
		t.Fatal("Tab never reached the code field")
	}
	for _, r := range v.secret {
		p.Run(t, chromedp.KeyEvent(string(r)))
	}
	p.Run(t, chromedp.KeyEvent(kb.Enter), waitFor(`mainSays("You're verified")`))
	e.wantState(v.id, challenge.Verified, 0, 5)
}

// viewport is one way a customer sees a page.
type viewport struct {
	name          string
	width, height int64
	scale         float64
}

// viewports: her phone; the narrowest width WCAG 1.4.10 asks pages to reflow to
// (320 CSS px); and a 1280×800 desktop window zoomed to 200 % (640×400 CSS px).
var viewports = []viewport{
	{"390x844", 390, 844, 3},
	{"320 px", 320, 640, 2},
	{"200 % zoom", 640, 400, 2},
}

// TestReflow: at each viewport, in English and Arabic, the code page, the magic
// link's page and the verified page need no horizontal scroll. Screenshots go to
// the test's temporary directory (and the artifacts directory); with
// UPDATE_DOCS_SCREENSHOT=1 the English code page at 390x844 is written to
// docs/customer-page.png for the README.
func TestReflow(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, envOpts{localhost: true, cues: web.BrandCues{Logo: []byte(testLogo), Accounts: map[string]string{"x": "@Acme"}}})
	dir := t.TempDir()
	for _, lang := range []string{"en", "ar"} {
		code := e.start(challenge.OTPEmail, lang)
		link := e.start(challenge.MagicLink, lang)
		pages := []struct{ name, url, ready string }{
			{"code", code.url, `isShown("code") && isShown("countdown")`},
			{"link", link.url, `!!document.querySelector("button.choice")`},
			{"index", e.public + "/?lang=" + lang, `!!document.querySelector("h1")`},
		}
		for _, vp := range viewports {
			p := b.NewPage(t)
			p.Run(t, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
				_, err := cdp.Call(ctx, tgt, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
					Width: vp.width, Height: vp.height, DeviceScaleFactor: vp.scale, Mobile: vp.width < 600})
				return err
			}))
			for _, pg := range pages {
				p.Run(t, chromedp.Navigate(pg.url), waitFor(pg.ready))
				sizes := evaluate[string](t, p, `document.documentElement.scrollWidth + " " + document.documentElement.clientWidth`)
				var scroll, client int
				if _, err := fmt.Sscan(sizes, &scroll, &client); err != nil {
					t.Fatalf("sizes %q: %v", sizes, err)
				}
				if scroll > client || client != int(vp.width) {
					t.Errorf("%s %s at %s: scrollWidth %d, clientWidth %d: horizontal scroll", lang, pg.name, vp.name, scroll, client)
				}
				shot := capture(t, p)
				name := fmt.Sprintf("%s-%s-%s.png", lang, pg.name, sanitizeName(vp.name))
				if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
					t.Fatal(err)
				}
				_ = os.WriteFile(filepath.Join(browsertest.ArtifactsDir(), "TestReflow-"+name), shot, 0o644)
				if lang == "en" && pg.name == "code" && vp.name == "390x844" && os.Getenv("UPDATE_DOCS_SCREENSHOT") == "1" {
					if err := os.WriteFile("../../docs/customer-page.png", shot, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// capture returns a PNG of the viewport, checked to decode.
func capture(t *testing.T, p *browsertest.Page) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx(), 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(buf)); err != nil {
		t.Fatal(err)
	}
	return buf
}

func sanitizeName(s string) string {
	return strings.NewReplacer(" ", "", "%", "pct").Replace(s)
}

// TestTimingWarning (WCAG 2.2.1): a minute before the page expires, she is told
// in a live region, with at least 20 s to act, how to get more time (the page's
// "I need more time" button, TestExtendByKeyboard); at the expiry, that the time
// is up. The countdown runs from the server's clock.
func TestTimingWarning(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, envOpts{localhost: true})
	v := e.start(challenge.OTPEmail, "en")
	p := b.NewPage(t)
	p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("countdown")`))
	if evaluate[string](t, p, `document.getElementById("timing").textContent`) != "" {
		t.Fatal("warned with ten minutes left")
	}
	if got := evaluate[string](t, p, `document.getElementById("countdown").textContent`); !strings.Contains(got, "10:00 left") && !strings.Contains(got, "9:5") {
		t.Errorf("countdown %q, want about 10:00 left", got)
	}
	e.clock.Advance(9*time.Minute + 28*time.Second) // 32 s left: more than the 20 s WCAG asks for
	p.Run(t, chromedp.Navigate(v.url), waitFor(`byID("timing").textContent !== ""`))
	if got := evaluate[string](t, p, `document.getElementById("timing").getAttribute("role") + " | " +
		document.getElementById("timing").textContent`); got !=
		"status | Less than a minute left. If you need more time, choose “I need more time”." {
		t.Errorf("warning %q", got)
	}
	// (32 s when the page loaded; a slow machine may take a few to get here.)
	if left := evaluate[string](t, p, `document.getElementById("countdown").textContent`); !strings.Contains(left, "0:3") &&
		!strings.Contains(left, "0:2") {
		t.Errorf("countdown %q, want about 0:32 left", left)
	}
	e.clock.Advance(29 * time.Second) // 3 s left
	p.Run(t, chromedp.Navigate(v.url), waitFor(`byID("timing").textContent.startsWith("Time is up")`))
}

// TestExtendByKeyboard (WCAG 2.2.1): a page 32 s from its expiry warns her in its
// live region and names the "I need more time" button, which takes the focus (she
// was not typing); keyboard users reach it by Tab too, with the focus drawn, and
// Enter gives the verification its lifetime again: the page comes back saying so,
// and its countdown runs from the new expiry.
func TestExtendByKeyboard(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, envOpts{localhost: true})
	v := e.start(challenge.OTPEmail, "en")
	first := e.get(v.id).Expires
	p := b.NewPage(t)
	e.clock.Advance(9*time.Minute + 28*time.Second) // 32 s left: more than the 20 s WCAG asks for
	p.Run(t, chromedp.Navigate(v.url), waitFor(`byID("timing").textContent !== ""`))
	if got := evaluate[string](t, p, `[document.getElementById("timing").getAttribute("aria-live"), document.getElementById("timing").textContent,
		document.activeElement.id, document.getElementById("extend-button").className].join(" | ")`); got !=
		"polite | Less than a minute left. If you need more time, choose “I need more time”. | extend-button | primary" {
		t.Fatalf("warning: %q", got)
	}
	// From the top of the page, Tab reaches the button, its focus visible.
	evaluate[bool](t, p, `(document.activeElement.blur(), window.scrollTo(0, 0), true)`)
	reached := false
	for i := 0; i < 30 && !reached; i++ {
		p.Run(t, chromedp.KeyEvent(kb.Tab))
		reached = evaluate[bool](t, p, `document.activeElement.id === "extend-button" && document.activeElement.matches(":focus-visible")`)
	}
	if !reached {
		t.Fatal("Tab never reached the extend button")
	}
	p.Run(t, chromedp.KeyEvent(kb.Enter), waitFor(`location.search.includes("more=1") && isShown("countdown") && isShown("alert")`))
	wantText(t, p, "Done: you have more time.")
	if left := evaluate[string](t, p, `document.getElementById("countdown").textContent`); !strings.Contains(left, "10:3") && !strings.Contains(left, "10:2") {
		t.Errorf("countdown %q after the extension, want about 10:32 left", left)
	}
	if got := evaluate[string](t, p, `document.getElementById("timing").textContent`); got != "" {
		t.Errorf("still warned after the extension: %q", got)
	}
	if got := e.get(v.id).Expires; !got.Equal(first.Add(10 * time.Minute)) {
		t.Errorf("expires %v, want %v", got, first.Add(10*time.Minute))
	}
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
}

// TestCodesFillThemselves: on an SMS code's page, the page asks the browser for
// the code (WebOTP, here a stub standing in for Chrome on Android reading the
// SMS whose last line is "@host #code") and puts it in the one code field; a
// code pasted with spaces or dashes verifies.
func TestCodesFillThemselves(t *testing.T) {
	b := browsertest.Start(t)
	e := newEnv(t, envOpts{localhost: true})
	startSMS := func() started {
		t.Helper()
		n := e.seq.Add(1)
		res, err := e.svc.Start(context.Background(), challenge.StartRequest{
			ClientID: clientID, Identity: challenge.Identity{Network: "x", UserID: "1234567", Handle: "@alice"},
			Methods: []challenge.Method{challenge.OTPSMS}, Audience: "crm", AgentID: "agent-7",
			ConversationID: fmt.Sprint("conv-sms-", n), Locale: "en",
			Destination: &challenge.Destination{Kind: challenge.Phone, Value: "+14155550123"},
			RequestID:   fmt.Sprint("req-sms-", n),
		})
		if err != nil {
			t.Fatal(err)
		}
		msg := e.lastSent(res.Verification.ID)
		lines := strings.Split(msg.Text, "\n")
		code := codePattern.FindString(msg.Text)
		if last := lines[len(lines)-1]; last != "@localhost #"+code {
			t.Fatalf("the SMS ends with %q, want the origin-bound line for this host", last)
		}
		return started{id: res.Verification.ID, url: res.PageURL, secret: code}
	}

	v := startSMS()
	p := b.NewPage(t)
	p.Run(t, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.OTPCredential = function () {};
				navigator.credentials.get = (o) => (o && o.otp && o.otp.transport[0] === "sms")
					? Promise.resolve({type: "otp", code: "` + v.secret + `"}) : Promise.reject(new Error("no"));`})
		return err
	}), chromedp.Navigate(v.url), waitFor(`byID("code").value === "`+v.secret+`"`))
	if n := evaluate[int](t, p, `document.querySelectorAll('input[autocomplete="one-time-code"]').length`); n != 1 {
		t.Errorf("%d one-time-code fields, want 1", n)
	}
	p.Run(t, chromedp.Submit(chromedp.ID("code")), waitFor(`mainSays("You're verified")`))
	e.wantState(v.id, challenge.Verified, 0, 5)

	for _, pasted := range []func(string) string{
		func(c string) string { return c[:3] + " " + c[3:] },
		func(c string) string { return " " + c[:2] + "-" + c[2:4] + "-" + c[4:] + " " },
	} {
		w := e.start(challenge.OTPEmail, "en")
		q := b.NewPage(t)
		q.Run(t, chromedp.Navigate(w.url), waitFor(`isShown("code")`))
		q.Run(t, chromedp.SetValue(chromedp.ID("code"), pasted(w.secret)), chromedp.Submit(chromedp.ID("code")),
			waitFor(`mainSays("You're verified")`))
		e.wantState(w.id, challenge.Verified, 0, 5)
	}
}

// TestHandoverAccessibility runs axe-core over the handover offers (issue 11),
// in English and Arabic: the pending page with the phone handover beside the
// methods, and the verified pages with the secure-channel button and with the
// phone number and call code.
func TestHandoverAccessibility(t *testing.T) {
	axe := loadAxe(t)
	b := browsertest.Start(t)
	for _, lang := range []string{"en", "ar"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{localhost: true, channels: channelsFor(t, "https://app.example.com/handover")})
			p := b.NewPage(t)
			ctx := context.Background()
			for _, kind := range []challenge.HandoverKind{challenge.HandoverSecureChannel, challenge.HandoverPhone} {
				v := e.start(challenge.OTPEmail, lang)
				req := challenge.HandoverRequest{ClientID: clientID, VerificationID: v.id, Kind: kind, CaseReference: "CASE-1"}
				if kind == challenge.HandoverSecureChannel {
					req.Channel, req.Redeemer = "app", channelClient
				} else {
					req.Redeemer = ivrClient
				}
				ho, err := e.svc.CreateHandover(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				p.Run(t, chromedp.Navigate(v.url), waitFor(`isShown("code")`))
				checkAxe(t, p, axe, fmt.Sprintf("pending, handover %v", kind))
				offer := `!!document.querySelector("main form button.primary")` // "Continue in Acme app"
				if kind == challenge.HandoverPhone {
					offer = `!!document.querySelector(".callcode")`
				}
				p.Run(t, chromedp.SendKeys(chromedp.ID("code"), v.secret), chromedp.Submit(chromedp.ID("code")),
					waitFor(`!byID("code") && document.querySelector("main.tone-ok") && `+offer))
				checkAxe(t, p, axe, fmt.Sprintf("verified, handover %v", kind))
				if kind == challenge.HandoverSecureChannel {
					// The bind's refusal pages: this browser without the state the continue
					// form issued (a cross-site bind), and a browser that never verified.
					bind := e.public + "/handover/bind?" + url.Values{"handover": {ho.ID}, "lang": {lang},
						"code_challenge": {handover.Challenge(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"},
						"redirect_uri": {"https://app.example.com/handover"}}.Encode()
					p.Run(t, chromedp.Navigate(bind), waitFor(`!!document.querySelector("main h1")`))
					if lang == "en" {
						if h := evaluate[string](t, p, `document.querySelector("main h1").textContent`); h != "This link didn't come from your page" {
							t.Fatalf("the bind without its state shows %q", h)
						}
					}
					checkAxe(t, p, axe, "handover bind refused: no state")
					other := browsertest.Start(t).NewPage(t) // a browser of its own: no binding cookie
					other.Run(t, chromedp.Navigate(bind), waitFor(`!!document.querySelector("main h1")`))
					if lang == "en" {
						if h := evaluate[string](t, other, `document.querySelector("main h1").textContent`); h != "Open this where you confirmed it's you" {
							t.Fatalf("the bind in another browser shows %q", h)
						}
					}
					checkAxe(t, other, axe, "handover bind refused: another browser")
				}
			}
		})
	}
}
