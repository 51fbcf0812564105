package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
)

func TestSafeMethodsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, m := range []challenge.Method{challenge.OTPEmail, challenge.MagicLink} {
		t.Run(m.String(), func(t *testing.T) {
			v := e.start(m, "en")
			for i := range 10 {
				get := e.GET(v.url, nil)
				wantStatus(t, get, http.StatusOK)
				wantBody(t, get, "Confirm it's you for your X account")
				head := e.do(http.MethodHead, v.url, nil, nil)
				wantStatus(t, head, http.StatusOK)
				if head.body != "" {
					t.Fatalf("HEAD %d returned a body", i)
				}
			}
			e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
		})
	}
}

func TestPostWithoutValidNonceChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nonceTTL: time.Minute})
	other := e.start(challenge.OTPEmail, "en")
	otherPage := e.GET(other.url, nil)

	tests := []struct {
		name   string
		status int
		// form returns the fields to post, given the page's real code form.
		form   func(real url.Values) url.Values
		header map[string]string
		before func()
	}{
		{name: "no nonce", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			f.Del("nonce")
			return f
		}},
		{name: "empty nonce", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			f.Set("nonce", "")
			return f
		}},
		{name: "nonce of another token", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			f.Set("nonce", forms(t, otherPage.body)["code"].Get("nonce"))
			return f
		}},
		{name: "nonce of the report form", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			f.Set("nonce", f.Get("@report"))
			return f
		}},
		{name: "tampered nonce", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			n := []byte(f.Get("nonce"))
			i := len(n) / 2
			n[i] = map[bool]byte{true: 'B', false: 'A'}[n[i] == 'A']
			f.Set("nonce", string(n))
			return f
		}},
		{name: "truncated nonce", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			f.Set("nonce", f.Get("nonce")[:40])
			return f
		}},
		{name: "unknown action", status: http.StatusBadRequest, form: func(f url.Values) url.Values {
			f.Set("action", "verify")
			return f
		}},
		{name: "expired nonce", status: http.StatusBadRequest, form: func(f url.Values) url.Values { return f },
			before: func() { e.clock.Advance(time.Minute + time.Second) }},
		{name: "cross-site", status: http.StatusForbidden, form: func(f url.Values) url.Values { return f },
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "same-site", status: http.StatusForbidden, form: func(f url.Values) url.Values { return f },
			header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "foreign origin", status: http.StatusForbidden, form: func(f url.Values) url.Values { return f },
			header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Sequential: "expired nonce" moves the shared clock.
			v := e.start(challenge.OTPEmail, "en")
			page := e.GET(v.url, nil)
			fs := forms(t, page.body)
			f := fs["code"]
			f.Set("@report", fs["report"].Get("nonce"))
			f.Set("code", v.secret) // even the right code does nothing
			f = tc.form(f)
			target := f.Get("@action")
			f.Del("@action")
			f.Del("@report")
			if tc.before != nil {
				tc.before()
			}
			res := e.POST(target, f, tc.header)
			wantStatus(t, res, tc.status)
			wantBody(t, res, "That didn't go through. Please try again.")
			if _, ok := forms(t, res.body)["code"]; !ok {
				t.Fatal("the refusal does not show the form again")
			}
			e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
		})
	}
	e.wantState(other.id, challenge.Pending, challenge.ReasonNone, 5)
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.start(challenge.OTPEmail, "en")
	page := e.GET(v.url, nil)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Acme", "Confirm it's you for your X account", "We sent a 6-digit code to",
		"Acme will never ask for this code in a chat or by phone", "This wasn't me")

	wrong := fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)
	res := e.submit(page, "code", url.Values{"code": {wrong}}, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "That code didn't match. 4 tries left.")
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 4)

	res = e.submit(res, "code", url.Values{"code": {"12ab"}}, nil)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Enter the 6 digits from the message.")
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 4)

	res = e.submit(res, "code", url.Values{"code": {v.secret[:3] + " " + v.secret[3:]}}, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "You're verified. You can go back to the chat.")
	got := e.get(v.id)
	if got.State != challenge.Verified || got.Assertion == nil {
		t.Fatalf("state %v, assertion %v; want VERIFIED with an assertion", got.State, got.Assertion)
	}

	// The page link is used up.
	wantStatus(t, e.GET(v.url, nil), http.StatusNotFound)
}

func TestCodeAttemptsRunOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.start(challenge.OTPEmail, "en")
	wrong := fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)
	page := e.GET(v.url, nil)
	for left := 4; left >= 1; left-- {
		page = e.submit(page, "code", url.Values{"code": {wrong}}, nil)
		tries := "tries"
		if left == 1 {
			tries = "try"
		}
		wantBody(t, page, fmt.Sprintf("That code didn't match. %d %s left.", left, tries))
	}
	res := e.submit(page, "code", url.Values{"code": {wrong}}, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Too many tries; ask the agent to start again.")
	e.wantState(v.id, challenge.Failed, challenge.ReasonAttemptsExhausted, 0)
}

func TestLockedIdentityWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{limits: challenge.Limits{Failures: 2, Sends: 10}})
	first, second := e.start(challenge.OTPEmail, "en"), e.start(challenge.OTPEmail, "es")
	wrong := func(v started) url.Values {
		return url.Values{"code": {fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)}}
	}
	wantBody(t, e.submit(e.GET(first.url, nil), "code", wrong(first), nil), "That code didn't match. 4 tries left.")
	// The identity's second failure, on another verification, locks the family.
	res := e.submit(e.GET(second.url, nil), "code", wrong(second), nil)
	wantStatus(t, res, http.StatusTooManyRequests)
	wantBody(t, res, "Demasiados intentos por ahora. Espera 1 minuto y vuelve a intentarlo.")
	if got := res.header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After = %q, want 30", got)
	}
	// Even the right code now waits, and counts nothing.
	res = e.submit(e.GET(first.url, nil), "code", url.Values{"code": {first.secret}}, nil)
	wantStatus(t, res, http.StatusTooManyRequests)
	wantBody(t, res, "Too many tries for now. Wait 1 minute, then try again.")
	e.wantState(first.id, challenge.Pending, 0, 4)
	e.clock.Advance(30 * time.Second)
	wantBody(t, e.submit(e.GET(first.url, nil), "code", url.Values{"code": {first.secret}}, nil),
		"You're verified. You can go back to the chat.")
}

func TestDoubleSubmitCountsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.start(challenge.OTPEmail, "en")
	page := e.GET(v.url, nil)
	wrong := fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)

	// A double tap, a retry and three impatient taps at once: one nonce, one attempt.
	first := e.submit(page, "code", url.Values{"code": {wrong}}, nil)
	second := e.submit(page, "code", url.Values{"code": {wrong}}, nil)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			r := e.submit(page, "code", url.Values{"code": {wrong}}, nil)
			if !strings.Contains(plain(r), "4 tries left") {
				t.Errorf("concurrent repeat: %d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	for _, r := range []response{first, second} {
		wantStatus(t, r, http.StatusOK)
		wantBody(t, r, "That code didn't match. 4 tries left.")
	}
	e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 4)

	// The next render's nonce is a new request: the right code verifies.
	res := e.submit(second, "code", url.Values{"code": {v.secret}}, nil)
	wantBody(t, res, "You're verified.")
}

func TestReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, m := range []challenge.Method{challenge.OTPEmail, challenge.MagicLink} {
		t.Run(m.String(), func(t *testing.T) {
			v := e.start(m, "en")
			page := e.GET(v.url, nil)
			res := e.submit(page, "report", nil, nil)
			wantStatus(t, res, http.StatusOK)
			wantBody(t, res, "Thanks — we've stopped this request.")
			e.wantState(v.id, challenge.Failed, challenge.ReasonReported, 5)
			// A repeat of the same form answers the same and changes nothing.
			wantBody(t, e.submit(page, "report", nil, nil), "Thanks — we've stopped this request.")
			e.wantState(v.id, challenge.Failed, challenge.ReasonReported, 5)
		})
	}
}

func TestMagicLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tests := []struct {
		name   string
		pick   func(v started, choices []string) string
		text   string
		state  challenge.State
		reason challenge.Reason
	}{
		{name: "right number", pick: func(v started, _ []string) string { return v.secret },
			text: "You're verified. You can go back to the chat.", state: challenge.Verified},
		{name: "wrong number", pick: func(v started, choices []string) string {
			for _, c := range choices {
				if c != v.secret {
					return c
				}
			}
			return ""
		}, text: "That wasn't the number in the chat, so we stopped this request.",
			state: challenge.Failed, reason: challenge.ReasonNumberMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := e.start(challenge.MagicLink, "en")
			page := e.GET(v.url, nil)
			wantStatus(t, page, http.StatusOK)
			wantBody(t, page, "Acme", "Confirm it's you for your X account", "Which number do you see in the chat?",
				"This wasn't me")
			choices := choiceValues(t, page.body)
			if len(choices) != 3 || !contains(choices, v.secret) {
				t.Fatalf("choices %v do not offer %s", choices, v.secret)
			}
			res := e.submit(page, "pick", url.Values{"number": {tc.pick(v, choices)}}, nil)
			wantStatus(t, res, http.StatusOK)
			wantBody(t, res, tc.text)
			got := e.get(v.id)
			if got.State != tc.state || got.Reason != tc.reason {
				t.Fatalf("state %v reason %v; want %v %v", got.State, got.Reason, tc.state, tc.reason)
			}
			wantStatus(t, e.GET(v.url, nil), http.StatusNotFound)
		})
	}
	t.Run("number not a number", func(t *testing.T) {
		v := e.start(challenge.MagicLink, "en")
		res := e.submit(e.GET(v.url, nil), "pick", url.Values{"number": {"forty"}}, nil)
		wantStatus(t, res, http.StatusBadRequest)
		wantBody(t, res, "Please try again.")
		e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
	})
}

func TestNeutralPageIsTheSameForEveryDeadLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ref := e.GET(e.public+"/v/aaa-aaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA", nil)
	wantStatus(t, ref, http.StatusNotFound)
	wantBody(t, ref, "This link is no longer valid. Ask the agent for a new one.")

	used := e.start(challenge.MagicLink, "es")
	usedPage := e.GET(used.url, nil)
	wantBody(t, e.submit(usedPage, "pick", url.Values{"number": {used.secret}}, nil), "Listo")
	usedCode := e.start(challenge.OTPEmail, "es")
	wantBody(t, e.submit(e.GET(usedCode.url, nil), "code", url.Values{"code": {usedCode.secret}}, nil), "Listo")
	canceled := e.start(challenge.OTPEmail, "en")
	if _, err := e.svc.Cancel(t.Context(), clientID, canceled.id, "cancel-1"); err != nil {
		t.Fatal(err)
	}
	codeForLink := e.start(challenge.OTPEmail, "en")
	// Expiry last: it moves the shared clock past every pending verification.
	expiredCode := e.start(challenge.OTPEmail, "es")
	expiredLink := e.start(challenge.MagicLink, "es")

	targets := []struct {
		name string
		url  func() string
	}{
		{"random token", func() string { return e.public + "/v/b3cde-fghijklmnopqrstuvwxyz.AAAAAAAAAAAAAAAAAAAAAA" }},
		{"random link token", func() string { return e.public + "/l/b3cde-fghijklmnopqrstuvwxyz.AAAAAAAAAAAAAAAAAAAAAA" }},
		{"malformed", func() string { return e.public + "/v/nope" }},
		{"malformed link", func() string { return e.public + "/l/a.b" }},
		{"long", func() string { return e.public + "/l/" + strings.Repeat("z", 2000) }},
		{"extra segment", func() string { return e.public + "/v/" + codeForLink.url[len(e.public)+3:] + "/x" }},
		{"code page token on the link path", func() string { return e.public + "/l/" + codeForLink.url[len(e.public)+3:] }},
		{"used link", func() string { return used.url }},
		{"used code page", func() string { return usedCode.url }},
		{"canceled", func() string { return canceled.url }},
		{"expired code page", func() string { e.clock.Advance(11 * time.Minute); return expiredCode.url }},
		{"expired link", func() string { return expiredLink.url }},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var res response
				if method == http.MethodGet {
					res = e.GET(tc.url(), nil)
				} else {
					res = e.POST(tc.url(), url.Values{"action": {"code"}, "code": {"123456"}, "nonce": {"x"}}, nil)
				}
				if res.status != ref.status || res.body != ref.body {
					t.Fatalf("%s: status %d, body differs from the neutral page:\n%s", method, res.status, res.body)
				}
				if got, want := headerShape(res.header), headerShape(ref.header); got != want {
					t.Fatalf("%s: headers differ:\n%s\nwant\n%s", method, got, want)
				}
			}
		})
	}
}

// headerShape is the headers apart from Date.
func headerShape(h http.Header) string {
	c := h.Clone()
	c.Del("Date")
	var b strings.Builder
	_ = c.Write(&b)
	return b.String()
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tests := []struct {
		locale, acceptLanguage string
		lang, text             string
	}{
		// The verification's locale wins over the browser's languages.
		{"en", "es-MX,es;q=0.9", "en", "Confirm it's you for your X account"},
		{"", "es-MX,es;q=0.9", "es", "Confirma que eres tú en tu cuenta de X"},
		{"en", "", "en", "Confirm it's you for your X account"},
		{"es", "", "es", "Enviamos un código de 6 dígitos a"},
		{"es", "fr-FR", "es", "Nunca te pedirá"},
		{"es", "en-GB", "es", "Enviamos un código de 6 dígitos a"},
		{"", "fr-FR, de;q=0.5", "fr", "Confirmez votre identité pour votre compte X"},
		{"de-AT", "", "de", "Bestätigen Sie, dass Ihnen das X-Konto"},
		{"pt", "", "pt-BR", "Confirme que é você na sua conta do X"},
		{"it", "", "it", "Conferma la tua identità"},
		{"ja", "", "ja", "X アカウント @al**e の本人確認"},
		{"ar", "", "ar", "أكّد أنك صاحب حساب X"},
		{"ko", "", "en", "We sent a 6-digit code"},
		{"", "*", "en", "We sent a 6-digit code"},
		{"", "not a language tag;;", "en", "We sent a 6-digit code"},
	}
	for _, tc := range tests {
		t.Run(tc.locale+"/"+tc.acceptLanguage, func(t *testing.T) {
			v := e.start(challenge.OTPEmail, tc.locale)
			page := e.GET(v.url, map[string]string{"Accept-Language": tc.acceptLanguage})
			wantStatus(t, page, http.StatusOK)
			dir := "ltr"
			if tc.lang == "ar" {
				dir = "rtl"
			}
			if !strings.Contains(page.body, `<html lang="`+tc.lang+`" dir="`+dir+`"`) {
				t.Fatalf("want lang %s:\n%s", tc.lang, page.body)
			}
			if !strings.Contains(strings.ToLower(plain(page)), strings.ToLower(tc.text)) {
				t.Fatalf("want %q:\n%s", tc.text, page.body)
			}
		})
	}

	t.Run("flow in Spanish", func(t *testing.T) {
		es := map[string]string{"Accept-Language": "es-MX"}
		v := e.start(challenge.OTPEmail, "")
		page := e.GET(v.url, es)
		wantBody(t, page, "Código de 6 dígitos", "No fui yo", "Acme nunca te pedirá este código en un chat ni por teléfono.")
		wrong := fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)
		res := e.submit(page, "code", url.Values{"code": {wrong}}, es)
		wantBody(t, res, "Ese código no coincide. Te quedan 4 intentos.")
		res = e.submit(res, "code", url.Values{"code": {"1"}}, es)
		wantBody(t, res, "Escribe los 6 dígitos del mensaje.")
		refused := e.submit(res, "code", url.Values{"code": {v.secret}, "nonce": {"stale"}}, es)
		wantStatus(t, refused, http.StatusBadRequest)
		wantBody(t, refused, "No se pudo completar. Inténtalo de nuevo.")
		res = e.submit(res, "code", url.Values{"code": {v.secret}}, es)
		wantBody(t, res, "Listo, confirmamos que eres tú. Ya puedes volver al chat.")
		wantBody(t, e.GET(v.url, es), "Este enlace ya no es válido. Pídele uno nuevo al agente.")
	})

	t.Run("the switch changes the language and nothing else", func(t *testing.T) {
		v := e.start(challenge.OTPEmail, "es")
		page := e.GET(v.url, nil)
		if !strings.Contains(page.body, `<a href="`+v.url+`?lang=fr" lang="fr" hreflang="fr">Français</a>`) ||
			!strings.Contains(page.body, `lang="es" hreflang="es" aria-current="true">Español</a>`) {
			t.Fatalf("no language switch to French, or Spanish not marked current:\n%s", page.body)
		}
		fr := e.GET(v.url+"?lang=fr", map[string]string{"Accept-Language": "de"})
		wantBody(t, fr, "Saisissez votre code", "Code à 6 chiffres")
		e.wantState(v.id, challenge.Pending, 0, 5)
		// The DM was in Spanish: the phrase stays in Spanish, marked as such.
		if !strings.Contains(fr.body, `class="phrase" id="phrase" lang="es"`) {
			t.Fatalf("the phrase is not in the DM's language:\n%s", fr.body)
		}
		wrong := fmt.Sprintf("%06d", (atoi(v.secret)+1)%1000000)
		res := e.submit(fr, "code", url.Values{"code": {wrong}}, nil)
		wantBody(t, res, "Ce code ne correspond pas. Il vous reste 4 essais.")
		// A switch value that names no supported language changes nothing.
		wantBody(t, e.GET(v.url+"?lang=%3Cscript%3E", nil), "Enviamos un código de 6 dígitos a")
		res = e.submit(res, "code", url.Values{"code": {v.secret}}, nil)
		wantBody(t, res, "Votre identité est confirmée.")
	})

	t.Run("outcome follows the page language", func(t *testing.T) {
		v := e.start(challenge.MagicLink, "es")
		page := e.GET(v.url, nil)
		wantBody(t, page, "¿Qué número ves en el chat?")
		wantBody(t, e.submit(page, "report", nil, nil), "Gracias — detuvimos esta solicitud.")
	})
}

func TestStoreDown(t *testing.T) {
	t.Parallel()

	t.Run("cut", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{proxy: true})
		v := e.start(challenge.OTPEmail, "en")
		page := e.GET(v.url, nil)
		e.proxy.Cut()
		for _, res := range []response{
			e.GET(v.url, nil),
			e.submit(page, "code", url.Values{"code": {v.secret}}, nil),
			e.submit(page, "report", nil, nil),
		} {
			wantStatus(t, res, http.StatusServiceUnavailable)
			wantBody(t, res, "Something went wrong on our side. Try again in a minute.")
			if strings.Contains(res.body, "verified") {
				t.Fatal("a store failure looks like success")
			}
		}
		wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusServiceUnavailable)
		e.proxy.Restore()
		e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
		// The form's nonce was never used: it still works once the store is back.
		wantBody(t, e.submit(page, "code", url.Values{"code": {v.secret}}, nil), "You're verified.")
		wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusOK)
	})

	t.Run("killed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{})
		code := e.start(challenge.OTPEmail, "es")
		link := e.start(challenge.MagicLink, "en")
		codePage, linkPage := e.GET(code.url, nil), e.GET(link.url, nil)
		e.srv.Kill()
		for _, res := range []response{
			e.GET(code.url, nil),
			e.GET(link.url, nil),
			e.submit(linkPage, "pick", url.Values{"number": {link.secret}}, nil),
			e.submit(linkPage, "report", nil, nil),
		} {
			wantStatus(t, res, http.StatusServiceUnavailable)
			wantBody(t, res, "Something went wrong on our side. Try again in a minute.")
		}
		// A form answers in the language it was shown in.
		res := e.submit(codePage, "code", url.Values{"code": {code.secret}}, nil)
		wantStatus(t, res, http.StatusServiceUnavailable)
		wantBody(t, res, "Algo salió mal de nuestro lado. Inténtalo de nuevo en un minuto.")
		es := e.GET(code.url, map[string]string{"Accept-Language": "es"})
		wantStatus(t, es, http.StatusServiceUnavailable)
		wantBody(t, es, "Algo salió mal de nuestro lado. Inténtalo de nuevo en un minuto.")
		wantStatus(t, e.GET(e.public+"/readyz", nil), http.StatusServiceUnavailable)
	})
}

func TestLogsNameRoutesNotSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.start(challenge.OTPEmail, "en")
	page := e.GET(v.url, nil)
	nonce := forms(t, page.body)["code"].Get("nonce")
	e.submit(page, "code", url.Values{"code": {v.secret}}, nil)
	e.srv.Kill()
	e.GET(v.url, nil)

	e.do(http.MethodHead, v.url, nil, nil)

	logs := e.logs.String()
	for _, want := range []string{`route="GET /v/{token}"`, `route="POST /v/{token}"`, "status=200", "status=503",
		"method=HEAD", "duration="} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	token := v.url[strings.LastIndex(v.url, "/")+1:]
	for _, secret := range []string{token, v.secret, nonce, "alice@example.com", "@alice"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q:\n%s", secret, logs)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPagesIsolateHandleAndBrand: a right-to-left handle, the brand and the masked
// address each sit in a <bdi> of their own on the page, and the email the page
// belongs to isolates the handle with FSI … PDI, so none can reorder the words
// around it.
func TestPagesIsolateHandleAndBrand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	const handle, mask = "@\u0645\u062d\u0645\u062f_\u0639\u0644\u064a", "@\u0645\u062d**\u064a"
	for _, method := range []challenge.Method{challenge.OTPEmail, challenge.MagicLink} {
		res, err := e.svc.Start(context.Background(), challenge.StartRequest{
			ClientID: clientID, Identity: challenge.Identity{Network: "x", UserID: "7654321", Handle: handle},
			Methods: []challenge.Method{method}, Audience: "crm", AgentID: "agent-7",
			ConversationID: "conv-rtl-" + method.String(), Locale: "en",
			Destination: &challenge.Destination{Kind: challenge.Email, Value: "ali@example.com"},
			RequestID:   "req-rtl-" + method.String(),
		})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		msg := e.lastSent(res.Verification.ID)
		if !strings.Contains(msg.Subject, "\u2068"+mask+"\u2069") {
			t.Errorf("email subject %+q does not isolate the handle", msg.Subject)
		}
		page := res.PageURL
		if method == challenge.MagicLink {
			page = linkPattern.FindString(msg.Text)
		}
		r := e.GET(page, nil)
		wantStatus(t, r, http.StatusOK)
		for _, want := range []string{
			`<p class="brand"><bdi>Acme</bdi></p>`,
			"account <bdi>" + mask + "</bdi></h1>",
			"<bdi>Acme</bdi>",
		} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s page lacks %q:\n%s", method, want, r.body)
			}
		}
		if method == challenge.OTPEmail && !strings.Contains(r.body, "code to <bdi>a***@example.com</bdi>.") {
			t.Errorf("code page does not isolate the masked address:\n%s", r.body)
		}
	}
}
