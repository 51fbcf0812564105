package web

import (
	"fmt"
	"html/template"
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
		"page.heading":              "Confirm it's you for your %[1]s account %[2]s",
		"code.title":                "Enter your code",
		"code.sent":                 "We sent a 6-digit code to %[1]s.",
		"code.label":                "6-digit code",
		"code.submit":               "Confirm",
		"code.warning":              "%[1]s will never ask for this code in a chat or by phone.",
		"link.title":                "Confirm it's you",
		"link.question":             "Which number do you see in the chat?",
		"link.warning":              "Only pick a number if you are chatting with %[1]s right now. If no chat shows you a number, choose “This wasn't me”.",
		"report.hint":               "Didn't ask for this?",
		"report.button":             "This wasn't me",
		"alert.retry":               "That didn't go through. Please try again.",
		"alert.format":              "Enter the 6 digits from the message.",
		"alert.wrong.one":           "That code didn't match. %[1]d try left.",
		"alert.wrong.other":         "That code didn't match. %[1]d tries left.",
		"verified.title":            "You're verified",
		"verified.body":             "You're verified. You can go back to the chat.",
		"handover.secure.body":      "You can continue in %[1]s, without confirming again or repeating your case.",
		"handover.secure.button":    "Continue in %[1]s",
		"handover.secure.note":      "This works only on this phone, in this browser, for a few minutes.",
		"handover.phone.heading":    "Prefer to talk?",
		"handover.phone.call":       "Call us at",
		"handover.phone.code":       "When asked, say this code:",
		"handover.phone.note.one":   "The code works once, for the next minute. Never give it to anyone who calls you.",
		"handover.phone.note.other": "The code works once, for the next %[1]d minutes. Never give it to anyone who calls you.",
		"handover.bad.title":        "This link doesn't work",
		"handover.bad.body":         "This link wasn't made by the brand's app. Go back to the chat and ask the agent again.",
		"handover.browser.title":    "Open this where you confirmed it's you",
		"handover.browser.body":     "For your safety, you can continue only in the browser where you just confirmed it's you. Go back to that page and tap the button there.",
		"handover.gone.title":       "This link no longer works",
		"handover.gone.body":        "It was used already or its time ran out. Go back to the chat and ask the agent to send you on again.",
		"locked.title":              "Too many tries",
		"locked.body.one":           "Too many tries for now. Wait %[1]d minute, then try again.",
		"locked.body.other":         "Too many tries for now. Wait %[1]d minutes, then try again.",
		"failed.title":              "Request stopped",
		"failed.body":               "Too many tries; ask the agent to start again.",
		"mismatch.body":             "That wasn't the number in the chat, so we stopped this request.",
		"reported.title":            "Request stopped",
		"reported.body":             "Thanks — we've stopped this request.",
		"neutral.title":             "Link not valid",
		"neutral.body":              "This link is no longer valid. Ask the agent for a new one.",
		"unavailable.title":         "Something went wrong",
		"unavailable.body":          "Something went wrong on our side. Try again in a minute.",
		"index.title":               "%[1]s verification",
		"index.body":                "This service confirms it's you when you talk to %[1]s in a chat. If an agent sent you a link, open it from that message.",
		"notfound.title":            "Page not found",
		"notfound.body":             "There is nothing at this address.",
		"footer.verification":       "Verification by %[1]s",
		"verify.title":              "Confirm it's you",
		"code.heading":              "Enter the code we sent",
		"totp.heading":              "Use your authenticator app",
		"totp.hint":                 "Open your authenticator app and enter the 6-digit code it shows for %[1]s.",
		"totp.label":                "Code from the app",
		"alert.format.totp":         "Enter the 6 digits your authenticator app shows.",
		"alert.reload":              "This page is out of date. Reload it and try again.",
		"passkey.heading":           "Use your passkey",
		"passkey.hint":              "Confirm with your fingerprint, face or screen lock.",
		"passkey.button":            "Use your passkey",
		"passkey.working":           "Follow the steps on your screen…",
		"passkey.retry":             "That didn't work. Try again.",
		"passkey.noscript":          "Passkeys need JavaScript, which is off in this browser.",
		"passkey.wrong.one":         "That passkey didn't work. %[1]d try left.",
		"passkey.wrong.other":       "That passkey didn't work. %[1]d tries left.",
		"inapp.title":               "Open this page in your browser",
		"inapp.named":               "You opened this page inside %[1]s. Passkeys often don't work in an app's own browser.",
		"inapp.generic":             "Passkeys don't work in this browser. It may be an app's own browser.",
		"inapp.how":                 "Tap ⋯ or the share icon, then choose “Open in browser”. Or copy the link below and paste it into Safari or Chrome.",
		"inapp.link":                "Link to this page",
		"inapp.copy":                "Copy link",
		"inapp.copied":              "Link copied.",
		"inapp.others":              "You can also confirm it's you with a code, below.",
		"enroll.note":               "Only continue if you asked %[1]s for this in a chat.",
		"enroll.totp.title":         "Set up an authenticator app for %[1]s",
		"enroll.totp.intro":         "An authenticator app, such as Google Authenticator or Microsoft Authenticator, shows a new 6-digit code every 30 seconds. Next time %[1]s needs to confirm it's you, you can enter that code.",
		"enroll.totp.begin":         "Set up",
		"enroll.setup.title":        "Add %[1]s to your authenticator app",
		"enroll.setup.scan":         "Scan this QR code with your authenticator app.",
		"enroll.setup.qr":           "QR code that adds %[1]s to an authenticator app",
		"enroll.setup.samephone":    "Is the app on this phone?",
		"enroll.setup.open":         "Open in authenticator app",
		"enroll.setup.manual":       "Can't scan? Enter this key in the app:",
		"enroll.setup.confirm":      "Then enter the 6-digit code the app shows",
		"enroll.wrong":              "That code didn't match. Check that your phone sets its time automatically, then enter the newest code.",
		"enroll.wrong.one":          "That code didn't match. %[1]d try left. Check that your phone sets its time automatically, then enter the newest code.",
		"enroll.wrong.other":        "That code didn't match. %[1]d tries left. Check that your phone sets its time automatically, then enter the newest code.",
		"enroll.failed.body":        "Too many wrong codes; ask the agent for a new link.",
		"enroll.totp.done.title":    "Authenticator app set up",
		"enroll.totp.done.body":     "Your authenticator app is set up. You can go back to the chat.",
		"enroll.passkey.title":      "Create a passkey for %[1]s",
		"enroll.passkey.intro":      "A passkey lets you confirm it's you to %[1]s with your fingerprint, face or screen lock. There is nothing to type and nothing anyone can talk you into reading out.",
		"enroll.passkey.button":     "Create a passkey",
		"enroll.passkey.done.title": "Passkey created",
		"enroll.passkey.done.body":  "Your passkey is set up. You can go back to the chat.",
		"enroll.passkey.duplicate":  "This passkey is already set up for your account.",
		"enroll.browser.title":      "Open this link where you confirmed it's you",
		"enroll.browser.body":       "For your safety, this setup works only in the browser where you just confirmed it's you. Open the link there, on the same phone, or ask the agent to start again.",
		"enroll.shown.title":        "Setup key already shown",
		"enroll.shown.body":         "For your safety, the setup key is shown only once. If you didn't finish, ask the agent for a new setup link.",
		"enroll.exists.title":       "You already have a way to confirm it's you",
		"enroll.exists.body":        "Your account already has an authenticator app or a passkey. To add another, first confirm it's you with the one you have; ask the agent to start again.",
		"enroll.notice.title":       "We couldn't finish",
		"enroll.notice.body":        "We couldn't finish setting this up. Nothing was added. Try again in a minute.",
		"report.factor.title":       "Was this you?",
		"report.factor.totp":        "An authenticator app was added to your %[1]s account on %[2]s.",
		"report.factor.passkey":     "A passkey was added to your %[1]s account on %[2]s.",
		"report.factor.question":    "If you didn't add it, remove it now, with any other authenticator app or passkey on your account: they may have been added with its help. Anything they were used to confirm is withdrawn.",
		"report.factor.button":      "It wasn't me: remove it",
		"report.factor.note":        "If it was you, close this page; nothing changes.",
		"report.factor.done.title":  "Removed",
		"report.factor.done.body":   "We removed every authenticator app and passkey on your account and withdrew everything they were used to confirm. If you're worried about your account, contact %[1]s.",
	}},
	{lang: "es", text: map[string]string{
		"page.heading":              "Confirma que eres tú en tu cuenta de %[1]s %[2]s",
		"code.title":                "Escribe tu código",
		"code.sent":                 "Enviamos un código de 6 dígitos a %[1]s.",
		"code.label":                "Código de 6 dígitos",
		"code.submit":               "Confirmar",
		"code.warning":              "%[1]s nunca te pedirá este código en un chat ni por teléfono.",
		"link.title":                "Confirma que eres tú",
		"link.question":             "¿Qué número ves en el chat?",
		"link.warning":              "Elige un número solo si estás chateando con %[1]s ahora mismo. Si ningún chat te muestra un número, elige «No fui yo».",
		"report.hint":               "¿No lo pediste tú?",
		"report.button":             "No fui yo",
		"alert.retry":               "No se pudo completar. Inténtalo de nuevo.",
		"alert.format":              "Escribe los 6 dígitos del mensaje.",
		"alert.wrong.one":           "Ese código no coincide. Te queda %[1]d intento.",
		"alert.wrong.other":         "Ese código no coincide. Te quedan %[1]d intentos.",
		"verified.title":            "Verificación completa",
		"verified.body":             "Listo, confirmamos que eres tú. Ya puedes volver al chat.",
		"handover.secure.body":      "Puedes continuar en %[1]s sin volver a confirmar ni repetir tu caso.",
		"handover.secure.button":    "Continuar en %[1]s",
		"handover.secure.note":      "Solo funciona en este teléfono, en este navegador, durante unos minutos.",
		"handover.phone.heading":    "¿Prefieres hablar?",
		"handover.phone.call":       "Llámanos al",
		"handover.phone.code":       "Cuando te lo pidan, di este código:",
		"handover.phone.note.one":   "El código funciona una vez, durante el próximo minuto. Nunca se lo des a nadie que te llame.",
		"handover.phone.note.other": "El código funciona una vez, durante los próximos %[1]d minutos. Nunca se lo des a nadie que te llame.",
		"handover.bad.title":        "Este enlace no funciona",
		"handover.bad.body":         "Este enlace no lo creó la app de la marca. Vuelve al chat y pídeselo de nuevo al agente.",
		"handover.browser.title":    "Ábrelo donde confirmaste que eres tú",
		"handover.browser.body":     "Por tu seguridad, solo puedes continuar en el navegador donde acabas de confirmar que eres tú. Vuelve a esa página y toca el botón allí.",
		"handover.gone.title":       "Este enlace ya no funciona",
		"handover.gone.body":        "Ya se usó o se acabó su tiempo. Vuelve al chat y pide al agente que te envíe de nuevo.",
		"locked.title":              "Demasiados intentos",
		"locked.body.one":           "Demasiados intentos por ahora. Espera %[1]d minuto y vuelve a intentarlo.",
		"locked.body.other":         "Demasiados intentos por ahora. Espera %[1]d minutos y vuelve a intentarlo.",
		"failed.title":              "Solicitud detenida",
		"failed.body":               "Demasiados intentos; pídele al agente que empiece de nuevo.",
		"mismatch.body":             "Ese no era el número del chat, así que detuvimos esta solicitud.",
		"reported.title":            "Solicitud detenida",
		"reported.body":             "Gracias — detuvimos esta solicitud.",
		"neutral.title":             "Enlace no válido",
		"neutral.body":              "Este enlace ya no es válido. Pídele uno nuevo al agente.",
		"unavailable.title":         "Algo salió mal",
		"unavailable.body":          "Algo salió mal de nuestro lado. Inténtalo de nuevo en un minuto.",
		"index.title":               "Verificación de %[1]s",
		"index.body":                "Este servicio confirma que eres tú cuando hablas con %[1]s en un chat. Si un agente te envió un enlace, ábrelo desde ese mensaje.",
		"notfound.title":            "Página no encontrada",
		"notfound.body":             "No hay nada en esta dirección.",
		"footer.verification":       "Verificación de %[1]s",
		"verify.title":              "Confirma que eres tú",
		"code.heading":              "Escribe el código que te enviamos",
		"totp.heading":              "Usa tu app de autenticación",
		"totp.hint":                 "Abre tu app de autenticación y escribe el código de 6 dígitos que muestra para %[1]s.",
		"totp.label":                "Código de la app",
		"alert.format.totp":         "Escribe los 6 dígitos que muestra tu app de autenticación.",
		"alert.reload":              "Esta página está desactualizada. Vuelve a cargarla e inténtalo de nuevo.",
		"passkey.heading":           "Usa tu llave de acceso",
		"passkey.hint":              "Confirma con tu huella, tu cara o el bloqueo de pantalla.",
		"passkey.button":            "Usar mi llave de acceso",
		"passkey.working":           "Sigue los pasos en tu pantalla…",
		"passkey.retry":             "No funcionó. Inténtalo de nuevo.",
		"passkey.noscript":          "Las llaves de acceso necesitan JavaScript, que está desactivado en este navegador.",
		"passkey.wrong.one":         "Esa llave de acceso no funcionó. Te queda %[1]d intento.",
		"passkey.wrong.other":       "Esa llave de acceso no funcionó. Te quedan %[1]d intentos.",
		"inapp.title":               "Abre esta página en tu navegador",
		"inapp.named":               "Abriste esta página dentro de %[1]s. Las llaves de acceso a menudo no funcionan en el navegador propio de una app.",
		"inapp.generic":             "Las llaves de acceso no funcionan en este navegador. Puede ser el navegador propio de una app.",
		"inapp.how":                 "Toca ⋯ o el icono de compartir y elige «Abrir en el navegador». O copia el enlace de abajo y pégalo en Safari o Chrome.",
		"inapp.link":                "Enlace a esta página",
		"inapp.copy":                "Copiar enlace",
		"inapp.copied":              "Enlace copiado.",
		"inapp.others":              "También puedes confirmar que eres tú con un código, más abajo.",
		"enroll.note":               "Continúa solo si se lo pediste a %[1]s en un chat.",
		"enroll.totp.title":         "Configura una app de autenticación para %[1]s",
		"enroll.totp.intro":         "Una app de autenticación, como Google Authenticator o Microsoft Authenticator, muestra un código nuevo de 6 dígitos cada 30 segundos. La próxima vez que %[1]s necesite confirmar que eres tú, podrás escribir ese código.",
		"enroll.totp.begin":         "Configurar",
		"enroll.setup.title":        "Agrega %[1]s a tu app de autenticación",
		"enroll.setup.scan":         "Escanea este código QR con tu app de autenticación.",
		"enroll.setup.qr":           "Código QR que agrega %[1]s a una app de autenticación",
		"enroll.setup.samephone":    "¿La app está en este teléfono?",
		"enroll.setup.open":         "Abrir en la app de autenticación",
		"enroll.setup.manual":       "¿No puedes escanear? Escribe esta clave en la app:",
		"enroll.setup.confirm":      "Luego escribe el código de 6 dígitos que muestra la app",
		"enroll.wrong":              "Ese código no coincide. Comprueba que tu teléfono ajusta la hora automáticamente y escribe el código más reciente.",
		"enroll.wrong.one":          "Ese código no coincide. Te queda %[1]d intento. Comprueba que tu teléfono ajusta la hora automáticamente y escribe el código más reciente.",
		"enroll.wrong.other":        "Ese código no coincide. Te quedan %[1]d intentos. Comprueba que tu teléfono ajusta la hora automáticamente y escribe el código más reciente.",
		"enroll.failed.body":        "Demasiados códigos incorrectos; pídele al agente un enlace nuevo.",
		"enroll.totp.done.title":    "App de autenticación configurada",
		"enroll.totp.done.body":     "Tu app de autenticación está configurada. Ya puedes volver al chat.",
		"enroll.passkey.title":      "Crea una llave de acceso para %[1]s",
		"enroll.passkey.intro":      "Una llave de acceso te permite confirmar ante %[1]s que eres tú con tu huella, tu cara o el bloqueo de pantalla. No hay nada que escribir ni nada que alguien pueda convencerte de leerle.",
		"enroll.passkey.button":     "Crear una llave de acceso",
		"enroll.passkey.done.title": "Llave de acceso creada",
		"enroll.passkey.done.body":  "Tu llave de acceso está configurada. Ya puedes volver al chat.",
		"enroll.passkey.duplicate":  "Esta llave de acceso ya está configurada en tu cuenta.",
		"enroll.browser.title":      "Abre este enlace donde confirmaste que eres tú",
		"enroll.browser.body":       "Por tu seguridad, esta configuración solo funciona en el navegador donde acabas de confirmar que eres tú. Abre el enlace allí, en el mismo teléfono, o pide al agente que empiece de nuevo.",
		"enroll.shown.title":        "La clave ya se mostró",
		"enroll.shown.body":         "Por tu seguridad, la clave de configuración se muestra una sola vez. Si no terminaste, pide al agente un enlace nuevo.",
		"enroll.exists.title":       "Ya tienes una forma de confirmar que eres tú",
		"enroll.exists.body":        "Tu cuenta ya tiene una app de autenticación o una llave de acceso. Para añadir otra, confirma primero que eres tú con la que tienes; pide al agente que empiece de nuevo.",
		"enroll.notice.title":       "No pudimos terminar",
		"enroll.notice.body":        "No pudimos terminar la configuración. No se añadió nada. Inténtalo de nuevo en un minuto.",
		"report.factor.title":       "¿Fuiste tú?",
		"report.factor.totp":        "Se añadió una app de autenticación a tu cuenta de %[1]s el %[2]s.",
		"report.factor.passkey":     "Se añadió una llave de acceso a tu cuenta de %[1]s el %[2]s.",
		"report.factor.question":    "Si no la añadiste tú, quítala ahora, junto con cualquier otra app de autenticación o llave de acceso de tu cuenta: pueden haberse añadido con su ayuda. Todo lo que se confirmó con ellas queda anulado.",
		"report.factor.button":      "No fui yo: quitarla",
		"report.factor.note":        "Si fuiste tú, cierra esta página; no cambia nada.",
		"report.factor.done.title":  "Quitada",
		"report.factor.done.body":   "Quitamos todas las apps de autenticación y llaves de acceso de tu cuenta y anulamos todo lo que se confirmó con ellas. Si te preocupa tu cuenta, contacta con %[1]s.",
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

// Isolated is T for a page's HTML: the message escaped, and each string argument
// (a brand, a handle, a masked address: text from the caller or the operator)
// escaped and put in a <bdi> of its own, so that right-to-left text in it keeps
// its own direction and cannot reorder the sentence around it. Text put in a
// string field of the page, where no element can go (the title), isolates with
// text.Isolate instead.
func (c *catalog) Isolated(key string, args ...any) template.HTML {
	f, ok := c.text[key]
	if !ok {
		return template.HTML(template.HTMLEscapeString("⟦" + key + "⟧"))
	}
	f = template.HTMLEscapeString(f)
	if len(args) == 0 {
		return template.HTML(f)
	}
	isolated := make([]any, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case int:
			isolated[i] = a
		default:
			isolated[i] = "<bdi>" + template.HTMLEscapeString(fmt.Sprint(a)) + "</bdi>"
		}
	}
	return template.HTML(fmt.Sprintf(f, isolated...))
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
