package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/net/html"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/softauthn"
)

// User-Agents of the browsers the pages meet.
const (
	uaSafari    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
	uaInstagram = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 312.0.0.22.114 (iPhone14,5; iOS 17_1; en_US; en; scale=3.00; 1170x2532; 548339486)"
)

// enrollment creates an enrollment link for customer, as a privileged client would.
func (e *env) enrollment(customer string, kind identity.Kind, locale string) string {
	e.t.Helper()
	link, _, err := e.ids.CreateEnrollment(context.Background(), clientID, customer, kind, locale, nil)
	if err != nil {
		e.t.Fatalf("CreateEnrollment: %v", err)
	}
	return link
}

// startFor starts a verification of a known customer that accepts methods at min;
// enrolled methods send nothing, so the page URL comes from the start's answer.
func (e *env) startFor(customer string, min assurance.Level, methods ...challenge.Method) started {
	e.t.Helper()
	n := e.seq.Add(1)
	res, err := e.svc.Start(context.Background(), challenge.StartRequest{
		ClientID: clientID, Identity: challenge.Identity{Network: "x", UserID: "1234567", Handle: "@alice"},
		CustomerID: customer, Methods: methods, MinAssurance: min, Audience: "crm", AgentID: "agent-7",
		ConversationID: fmt.Sprintf("conv-f%d", n), Locale: "en",
		RequestID: fmt.Sprintf("req-%s-f%d", e.t.Name(), n),
	})
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	if res.PageURL == "" {
		e.t.Fatal("Start returned no page URL")
	}
	return started{id: res.Verification.ID, url: res.PageURL}
}

// keyOf reads the TOTP key out of a setup page's otpauth:// link.
func keyOf(t *testing.T, page response) *otp.Key {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page.body))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "a" && strings.HasPrefix(attr(n, "href"), "otpauth://") {
			key, err := otp.NewKeyFromURL(attr(n, "href"))
			if err != nil {
				t.Fatalf("otpauth link: %v", err)
			}
			return key
		}
	}
	t.Fatalf("no otpauth:// link on the page:\n%s", page.body)
	return nil
}

// totpCode is the app's code for key at the env's clock.
func (e *env) totpCode(key string) string {
	e.t.Helper()
	code, err := totp.GenerateCode(key, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// enrollTOTP enrolls an authenticator app for customer through the pages and
// returns its base32 key. The clock then moves on a step, so that the next code
// is not the confirmation's (a step is accepted once) and the factor predates
// whatever starts next.
func (e *env) enrollTOTP(customer string) string {
	e.t.Helper()
	intro := e.GET(e.enrollment(customer, identity.KindTOTP, "en"), nil)
	wantStatus(e.t, intro, http.StatusOK)
	setup := e.submit(intro, "begin", nil, nil)
	wantStatus(e.t, setup, http.StatusOK)
	key := keyOf(e.t, setup).Secret()
	done := e.submit(setup, "confirm", url.Values{"code": {e.totpCode(key)}}, nil)
	wantStatus(e.t, done, http.StatusOK)
	wantBody(e.t, done, "Your authenticator app is set up. You can go back to the chat.")
	e.clock.Advance(30 * time.Second)
	return key
}

// reply is a passkey endpoint's answer.
type reply struct {
	status  int
	header  http.Header
	Outcome string          `json:"outcome"`
	Title   string          `json:"title"`
	Message string          `json:"message"`
	Tone    string          `json:"tone"`
	Options json.RawMessage `json:"options"`
	Nonce   string          `json:"nonce"`
}

// postJSON posts body as the passkey script does: JSON, same origin.
func (e *env) postJSON(target string, body any, header map[string]string) reply {
	e.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "null") // fetch() from a page with Referrer-Policy no-referrer
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
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := reply{status: res.StatusCode, header: res.Header}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Fatalf("%s: Content-Type %q, body %s", target, ct, raw)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		e.t.Fatalf("%s: %v: %s", target, err, raw)
	}
	return r
}

// passkeyBox returns the passkey button's data: begin and finish URLs and nonce.
func passkeyBox(t *testing.T, page response) (begin, finish, nonce string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page.body))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attr(n, "id") == "passkey" {
			return attr(n, "data-begin"), attr(n, "data-finish"), attr(n, "data-nonce")
		}
	}
	t.Fatalf("no passkey button on the page (status %d):\n%s", page.status, page.body)
	return "", "", ""
}

// ceremony runs begin and finish as the script does, answering the options with
// answer (nil: the begin's reply only).
func (e *env) ceremony(page response, answer func(json.RawMessage) json.RawMessage) (begun, finished reply) {
	e.t.Helper()
	begin, finish, nonce := passkeyBox(e.t, page)
	begun = e.postJSON(begin, map[string]string{"nonce": nonce, "lang": "en"}, nil)
	if begun.status != http.StatusOK || begun.Outcome != "ok" || begun.Nonce == "" || len(begun.Options) == 0 {
		e.t.Fatalf("begin: %d %+v", begun.status, begun)
	}
	if answer == nil {
		return begun, reply{}
	}
	finished = e.postJSON(finish, map[string]any{"nonce": begun.Nonce, "lang": "en", "credential": answer(begun.Options)}, nil)
	return begun, finished
}

// newPasskey returns a software passkey, for handler tests that need a ceremony
// without a browser, for the pages served from origin: it verifies the user. The
// browser tests run the same ceremonies with Chromium's virtual authenticator.
func newPasskey(t testing.TB, origin string) *softauthn.Authenticator {
	t.Helper()
	a, err := softauthn.New("localhost", origin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// registerWith answers a ceremony's creation options with a's registration
// response, as the page posts it.
func registerWith(t testing.TB, a *softauthn.Authenticator) func(json.RawMessage) json.RawMessage {
	return func(options json.RawMessage) json.RawMessage {
		t.Helper()
		body, err := a.Register(options)
		if err != nil {
			t.Fatalf("register: %v\n%s", err, options)
		}
		return body
	}
}

// loginWith answers a ceremony's request options with an assertion signed by a.
func loginWith(t testing.TB, a *softauthn.Authenticator) func(json.RawMessage) json.RawMessage {
	return func(options json.RawMessage) json.RawMessage {
		t.Helper()
		body, err := a.Login(options)
		if err != nil {
			t.Fatalf("login: %v\n%s", err, options)
		}
		return body
	}
}

// enrollPasskey enrolls a passkey for customer through the pages' endpoints.
func (e *env) enrollPasskey(customer string, a *softauthn.Authenticator) {
	e.t.Helper()
	page := e.GET(e.enrollment(customer, identity.KindPasskey, "en"), nil)
	wantStatus(e.t, page, http.StatusOK)
	_, done := e.ceremony(page, registerWith(e.t, a))
	if done.status != http.StatusOK || done.Outcome != "enrolled" || done.Tone != "ok" ||
		done.Message != "Your passkey is set up. You can go back to the chat." {
		e.t.Fatalf("finish: %d %+v", done.status, done)
	}
	e.clock.Advance(time.Second)
}

func (e *env) wantVerified(id string, level assurance.Level, amr ...string) {
	e.t.Helper()
	v := e.get(id)
	if v.State != challenge.Verified || v.Level != level || v.Assertion == nil {
		e.t.Fatalf("state %v level %v assertion %v; want VERIFIED at %v", v.State, v.Level, v.Assertion != nil, level)
	}
	for _, a := range amr {
		if !slices.Contains(v.AMR, a) {
			e.t.Fatalf("amr %v lacks %q", v.AMR, a)
		}
	}
}

func TestTOTPEnrollmentAndVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	link := e.enrollment("cust-totp", identity.KindTOTP, "en")

	// The intro names the brand, never the customer, and GET and HEAD draw no secret.
	for range 5 {
		intro := e.GET(link, nil)
		wantStatus(t, intro, http.StatusOK)
		wantBody(t, intro, "Set up an authenticator app for Acme", "Only continue if you asked Acme for this in a chat.")
		if strings.Contains(intro.body, "cust-totp") || strings.Contains(intro.body, "otpauth") {
			t.Fatalf("the intro shows the customer or a key:\n%s", intro.body)
		}
		if head := e.do(http.MethodHead, link, nil, nil); head.status != http.StatusOK || head.body != "" {
			t.Fatalf("HEAD: %d %q", head.status, head.body)
		}
	}
	intro := e.GET(link, nil)
	setup := e.submit(intro, "begin", nil, nil)
	wantStatus(t, setup, http.StatusOK)
	wantBody(t, setup, "Add Acme to your authenticator app", "Scan this QR code", "Open in authenticator app",
		"Can't scan? Enter this key in the app:")
	key := keyOf(t, setup)
	if key.Issuer() != "Acme" || strings.Contains(key.AccountName(), "cust-totp") {
		t.Fatalf("otpauth issuer %q account %q", key.Issuer(), key.AccountName())
	}
	// The key typed by hand is the link's, in groups of four.
	var shown string
	doc, _ := html.Parse(strings.NewReader(setup.body))
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attr(n, "id") == "secret" {
			shown = textOf(n)
		}
	}
	if strings.ReplaceAll(shown, " ", "") != key.Secret() || !strings.Contains(shown, " ") || len(strings.Fields(shown)[0]) != 4 {
		t.Fatalf("secret shown %q, key %q", shown, key.Secret())
	}
	if !strings.Contains(setup.body, "<svg class=\"qr\"") || !strings.Contains(setup.body, `role="img"`) {
		t.Fatalf("no QR code:\n%s", setup.body)
	}
	// The key is shown once: a repeated begin (a double tap, or whoever else
	// holds the link) shows no key and says why.
	again := e.submit(intro, "begin", nil, nil)
	wantStatus(t, again, http.StatusConflict)
	wantBody(t, again, "the setup key is shown only once")
	if strings.Contains(again.body, "otpauth") || strings.Contains(again.body, key.Secret()) {
		t.Fatalf("a repeated begin showed the key again:\n%s", again.body)
	}

	wrong := fmt.Sprintf("%06d", (atoi(e.totpCode(key.Secret()))+1)%1000000)
	res := e.submit(setup, "confirm", url.Values{"code": {wrong}}, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "That code didn't match. 4 tries left.")
	if !strings.Contains(res.body, `aria-invalid="true"`) || strings.Contains(res.body, "otpauth") ||
		strings.Contains(res.body, key.Secret()) {
		t.Fatal("a wrong code does not mark the field, or shows the key again")
	}
	wrongPage := res
	// The form carries its language (here as if switched to Spanish).
	res = e.submit(wrongPage, "confirm", url.Values{"code": {e.totpCode(key.Secret())}, "lang": {"es"}}, nil)
	wantBody(t, res, "Tu app de autenticación está configurada. Ya puedes volver al chat.")
	// The same form posted again (a double tap) answers as the first time.
	again = e.submit(wrongPage, "confirm", url.Values{"code": {e.totpCode(key.Secret())}}, nil)
	wantBody(t, again, "Your authenticator app is set up.")
	// Used: every other request on the link is the neutral page now.
	neutral := e.GET(e.public+"/e/nope", nil)
	for _, r := range []response{e.GET(link, nil), e.submit(intro, "begin", nil, nil)} {
		if r.status != http.StatusNotFound || r.body != neutral.body {
			t.Fatalf("used link: %d\n%s", r.status, r.body)
		}
	}
	if n, _ := e.ids.Factors(context.Background(), "cust-totp"); len(n) != 1 {
		t.Fatalf("%d factors after a double-submitted confirmation, want 1", len(n))
	}

	// A TOTP verification: only the app's form, no code form, no passkey, no script.
	e.clock.Advance(30 * time.Second)
	v := e.startFor("cust-totp", assurance.Substantial, challenge.TOTP)
	page := e.GET(v.url, nil)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Open your authenticator app and enter the 6-digit code it shows for Acme.")
	fs := forms(t, page.body)
	// (Its one script is the page script: expiry and countdown; no passkey's.)
	if _, ok := fs["totp"]; !ok || fs["code"] != nil || strings.Count(page.body, "<script") != 1 ||
		strings.Contains(page.body, "/static/passkey.") || strings.Contains(page.body, `id="passkey"`) {
		t.Fatalf("TOTP page offers %v:\n%s", fs, page.body)
	}
	res = e.submit(page, "totp", url.Values{"code": {"12ab"}}, nil)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Enter the 6 digits your authenticator app shows.")
	if !strings.Contains(res.body, `id="totp" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required maxlength="32" spellcheck="false" autocapitalize="off" autocorrect="off" aria-invalid="true"`) {
		t.Fatalf("the format alert does not mark the app's field:\n%s", res.body)
	}
	wrong = fmt.Sprintf("%06d", (atoi(e.totpCode(key.Secret()))+1)%1000000)
	res = e.submit(res, "totp", url.Values{"code": {wrong}}, nil)
	wantBody(t, res, "That code didn't match. 4 tries left.")
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 4)
	res = e.submit(res, "totp", url.Values{"code": {e.totpCode(key.Secret())}}, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "You're verified. You can go back to the chat.")
	e.wantVerified(v.id, assurance.Substantial, "otp")
}

func TestPasskeyEnrollmentAndVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.public, "http://"), ":")
	origin := "http://localhost:" + port
	a := newPasskey(t, origin)

	link := e.enrollment("cust-pk", identity.KindPasskey, "es")
	intro := e.GET(link, nil)
	wantStatus(t, intro, http.StatusOK)
	wantBody(t, intro, "Crea una llave de acceso para Acme", "Crear una llave de acceso")
	if strings.Contains(intro.body, "cust-pk") {
		t.Fatal("the intro shows the customer id")
	}
	e.enrollPasskey("cust-pk", a)

	e.run(t, "HIGH with user verification", func(t *testing.T) {
		v := e.startFor("cust-pk", assurance.High, challenge.WebAuthn)
		page := e.GET(v.url, nil)
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, "Confirm with your fingerprint, face or screen lock.", "Use your passkey")
		if fs := forms(t, page.body); fs["code"] != nil || fs["totp"] != nil {
			t.Fatal("a passkey-only page offers a code form")
		}
		begun, done := e.ceremony(page, loginWith(t, a))
		if !strings.Contains(string(begun.Options), `"userVerification":"required"`) {
			t.Fatalf("HIGH does not require user verification: %s", begun.Options)
		}
		if done.status != http.StatusOK || done.Outcome != "verified" || done.Title != "You're verified" || done.Tone != "ok" {
			t.Fatalf("finish: %d %+v", done.status, done)
		}
		e.wantVerified(v.id, assurance.High, "user", "hwk")
	})

	e.run(t, "no user verification earns SUBSTANTIAL", func(t *testing.T) {
		noUV := *a
		noUV.UV = false
		for _, tc := range []struct {
			min      assurance.Level
			outcome  string
			verified bool
		}{{assurance.Substantial, "verified", true}, {assurance.High, "retry", false}} {
			v := e.startFor("cust-pk", tc.min, challenge.WebAuthn)
			_, done := e.ceremony(e.GET(v.url, nil), loginWith(t, &noUV))
			if done.Outcome != tc.outcome {
				t.Fatalf("min %v: %+v", tc.min, done)
			}
			if tc.verified {
				e.wantVerified(v.id, assurance.Substantial, "hwk")
			} else if got := e.get(v.id); got.State != challenge.Pending {
				t.Fatalf("min HIGH without UV: state %v", got.State)
			}
		}
		a.Counter = noUV.Counter
	})

	e.run(t, "a response that does not check out", func(t *testing.T) {
		v := e.startFor("cust-pk", assurance.High, challenge.WebAuthn)
		page := e.GET(v.url, nil)
		// Not a WebAuthn response: nothing to check, nothing counted.
		_, done := e.ceremony(page, func(json.RawMessage) json.RawMessage { return json.RawMessage(`{"id":"x"}`) })
		if done.status != http.StatusOK || done.Outcome != "retry" || done.Message != "That didn't work. Try again." {
			t.Fatalf("garbage: %d %+v", done.status, done)
		}
		e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
		// Another key's signature: a wrong attempt.
		other := newPasskey(t, origin)
		other.SetID(a.ID())
		other.SetUserHandle(a.UserHandle())
		_, done = e.ceremony(page, loginWith(t, other))
		if done.Outcome != "retry" || done.Message != "That passkey didn't work. 4 tries left." {
			t.Fatalf("forged: %+v", done)
		}
		e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 4)
		// A repeated finish (a retried request) finds its ceremony used: it counts nothing.
		begin, finish, nonce := passkeyBox(t, page)
		begun := e.postJSON(begin, map[string]string{"nonce": nonce}, nil)
		body := map[string]any{"nonce": begun.Nonce, "credential": loginWith(t, other)(begun.Options)}
		first, second := e.postJSON(finish, body, nil), e.postJSON(finish, body, nil)
		if first.Message != "That passkey didn't work. 3 tries left." || second.Outcome != "retry" {
			t.Fatalf("repeat: %+v then %+v", first, second)
		}
		e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 3)
		// And the real passkey still works.
		_, done = e.ceremony(page, loginWith(t, a))
		if done.Outcome != "verified" {
			t.Fatalf("after refusals: %+v", done)
		}
	})

	e.run(t, "enrolled twice", func(t *testing.T) {
		page := e.GET(e.enrollment("cust-pk", identity.KindPasskey, "en"), nil)
		// The options exclude the enrolled passkey, so an authenticator refuses…
		begin, _, nonce := passkeyBox(t, page)
		begun := e.postJSON(begin, map[string]string{"nonce": nonce}, nil)
		if _, err := a.Register(begun.Options); !errors.Is(err, softauthn.ErrExcluded) {
			t.Fatalf("the options do not exclude the enrolled passkey: %v\n%s", err, begun.Options)
		}
		// …and a client that ignores the exclusion is refused by the server.
		dup := *a
		dup.IgnoreExcludeList = true
		_, done := e.ceremony(page, registerWith(t, &dup))
		if done.Outcome != "duplicate" || done.Message != "This passkey is already set up for your account." {
			t.Fatalf("duplicate: %+v", done)
		}
	})
}

// run runs a sequential subtest whose helper failures go to the subtest.
func (e *env) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		parent := e.t
		e.t = t
		defer func() { e.t = parent }()
		f(t)
	})
}
