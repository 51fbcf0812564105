package web

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"

	"github.com/authsvc/authsvc/internal/delivery"
)

// catalog is the text of every user-visible string in one locale. Values are
// fmt formats with explicit argument indexes, so a translation may reorder them.
// Plural messages have ".one" and ".other" forms (English and Spanish agree that
// only 1 is singular).
type catalog struct {
	lang string
	text map[string]string
}

// catalogs lists the supported locales; the first is the fallback.
var catalogs = []*catalog{
	{lang: "en", text: map[string]string{
		"page.heading":        "Confirm it's you for your %[1]s account %[2]s",
		"code.title":          "Enter your code",
		"code.sent":           "We sent a 6-digit code to %[1]s.",
		"code.label":          "6-digit code",
		"code.submit":         "Confirm",
		"code.warning":        "%[1]s will never ask for this code in a chat or by phone.",
		"link.title":          "Confirm it's you",
		"link.question":       "Which number do you see in the chat?",
		"link.warning":        "Only pick a number if you are chatting with %[1]s right now. If no chat shows you a number, choose “This wasn't me”.",
		"report.hint":         "Didn't ask for this?",
		"report.button":       "This wasn't me",
		"alert.retry":         "That didn't go through. Please try again.",
		"alert.format":        "Enter the 6 digits from the message.",
		"alert.wrong.one":     "That code didn't match. %[1]d try left.",
		"alert.wrong.other":   "That code didn't match. %[1]d tries left.",
		"verified.title":      "You're verified",
		"verified.body":       "You're verified. You can go back to the chat.",
		"locked.title":        "Too many tries",
		"locked.body.one":     "Too many tries for now. Wait %[1]d minute, then try again.",
		"locked.body.other":   "Too many tries for now. Wait %[1]d minutes, then try again.",
		"failed.title":        "Request stopped",
		"failed.body":         "Too many tries; ask the agent to start again.",
		"mismatch.body":       "That wasn't the number in the chat, so we stopped this request.",
		"reported.title":      "Request stopped",
		"reported.body":       "Thanks — we've stopped this request.",
		"neutral.title":       "Link not valid",
		"neutral.body":        "This link is no longer valid. Ask the agent for a new one.",
		"unavailable.title":   "Something went wrong",
		"unavailable.body":    "Something went wrong on our side. Try again in a minute.",
		"index.title":         "%[1]s verification",
		"index.body":          "This service confirms it's you when you talk to %[1]s in a chat. If an agent sent you a link, open it from that message.",
		"notfound.title":      "Page not found",
		"notfound.body":       "There is nothing at this address.",
		"footer.verification": "Verification by %[1]s",
	}},
	{lang: "es", text: map[string]string{
		"page.heading":        "Confirma que eres tú en tu cuenta de %[1]s %[2]s",
		"code.title":          "Escribe tu código",
		"code.sent":           "Enviamos un código de 6 dígitos a %[1]s.",
		"code.label":          "Código de 6 dígitos",
		"code.submit":         "Confirmar",
		"code.warning":        "%[1]s nunca te pedirá este código en un chat ni por teléfono.",
		"link.title":          "Confirma que eres tú",
		"link.question":       "¿Qué número ves en el chat?",
		"link.warning":        "Elige un número solo si estás chateando con %[1]s ahora mismo. Si ningún chat te muestra un número, elige «No fui yo».",
		"report.hint":         "¿No lo pediste tú?",
		"report.button":       "No fui yo",
		"alert.retry":         "No se pudo completar. Inténtalo de nuevo.",
		"alert.format":        "Escribe los 6 dígitos del mensaje.",
		"alert.wrong.one":     "Ese código no coincide. Te queda %[1]d intento.",
		"alert.wrong.other":   "Ese código no coincide. Te quedan %[1]d intentos.",
		"verified.title":      "Verificación completa",
		"verified.body":       "Listo, confirmamos que eres tú. Ya puedes volver al chat.",
		"locked.title":        "Demasiados intentos",
		"locked.body.one":     "Demasiados intentos por ahora. Espera %[1]d minuto y vuelve a intentarlo.",
		"locked.body.other":   "Demasiados intentos por ahora. Espera %[1]d minutos y vuelve a intentarlo.",
		"failed.title":        "Solicitud detenida",
		"failed.body":         "Demasiados intentos; pídele al agente que empiece de nuevo.",
		"mismatch.body":       "Ese no era el número del chat, así que detuvimos esta solicitud.",
		"reported.title":      "Solicitud detenida",
		"reported.body":       "Gracias — detuvimos esta solicitud.",
		"neutral.title":       "Enlace no válido",
		"neutral.body":        "Este enlace ya no es válido. Pídele uno nuevo al agente.",
		"unavailable.title":   "Algo salió mal",
		"unavailable.body":    "Algo salió mal de nuestro lado. Inténtalo de nuevo en un minuto.",
		"index.title":         "Verificación de %[1]s",
		"index.body":          "Este servicio confirma que eres tú cuando hablas con %[1]s en un chat. Si un agente te envió un enlace, ábrelo desde ese mensaje.",
		"notfound.title":      "Página no encontrada",
		"notfound.body":       "No hay nada en esta dirección.",
		"footer.verification": "Verificación de %[1]s",
	}},
}

var localeMatcher = language.NewMatcher(func() []language.Tag {
	tags := make([]language.Tag, len(catalogs))
	for i, c := range catalogs {
		tags[i] = language.Make(c.lang)
	}
	return tags
}())

// T returns the message key formatted with args. A missing key is a defect the
// tests catch; it shows as ⟦key⟧ rather than failing the page.
func (c *catalog) T(key string, args ...any) string {
	f, ok := c.text[key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if len(args) == 0 {
		return f
	}
	return fmt.Sprintf(f, args...)
}

// plural returns the ".one" or ".other" form of key for n.
func (c *catalog) plural(key string, n int) string {
	if n == 1 {
		return c.T(key+".one", n)
	}
	return c.T(key+".other", n)
}

// catalogFor picks the page language: the Accept-Language header when it names a
// supported language, else fallback (the verification's locale, or "" for pages
// that show none).
func catalogFor(r *http.Request, fallback string) *catalog {
	if prefs, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language")); err == nil && len(prefs) > 0 {
		if _, i, conf := localeMatcher.Match(prefs...); conf != language.No {
			return catalogs[i]
		}
	}
	want := delivery.MatchLocale(fallback)
	for _, c := range catalogs {
		if c.lang == want {
			return c
		}
	}
	return catalogs[0]
}
