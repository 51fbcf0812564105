package grpcapi

import (
	"fmt"
	"time"

	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/identity"
)

// enrollmentTexts are the suggested DM texts of CreateEnrollmentLink, by
// locale (delivery.MatchLocale picks one) and factor kind. Each has two verbs:
// the page URL and the expiry in words. They carry no secret but the link the
// text exists to post. The link works only in the browser where the customer
// completed the verification that allowed it: the text says where to open it.
var enrollmentTexts = map[string]map[identity.Kind]string{
	"en": {
		identity.KindTOTP: "To add an authenticator app to your account, open this link on the phone where you just confirmed it's you: %s " +
			"(it works once and expires in %s). We will never ask you to share a code from the app here.",
		identity.KindPasskey: "To add a passkey to your account, open this link on the phone where you just confirmed it's you: %s " +
			"(it works once and expires in %s).",
	},
	"es": {
		identity.KindTOTP: "Para añadir una app de autenticación a tu cuenta, abre este enlace en el teléfono donde acabas de confirmar que eres tú: %s " +
			"(funciona una sola vez y caduca en %s). Nunca te pediremos aquí un código de la app.",
		identity.KindPasskey: "Para añadir una llave de acceso a tu cuenta, abre este enlace en el teléfono donde acabas de confirmar que eres tú: %s " +
			"(funciona una sola vez y caduca en %s).",
	},
}

// enrollmentDMText returns the text to post in the DM with the enrollment page
// link, in the locale delivery.MatchLocale picks for locale (the pages and
// messages pick the same). expiresIn is rounded up to whole minutes, or stated
// in whole hours when it is a multiple of one; never less than a minute.
func enrollmentDMText(locale string, kind identity.Kind, pageURL string, expiresIn time.Duration) string {
	lang := delivery.MatchLocale(locale)
	format, ok := enrollmentTexts[lang][kind]
	if !ok || pageURL == "" {
		return ""
	}
	return fmt.Sprintf(format, pageURL, expiryWords(lang, expiresIn))
}

// expiryWords states d in lang: "15 minutes", "1 hora".
func expiryWords(lang string, d time.Duration) string {
	n, unit := int((d+time.Minute-1)/time.Minute), "minute"
	if d >= time.Hour && d%time.Hour == 0 {
		n, unit = int(d/time.Hour), "hour"
	}
	n = max(n, 1)
	words := map[string]map[string][2]string{
		"en": {"minute": {"minute", "minutes"}, "hour": {"hour", "hours"}},
		"es": {"minute": {"minuto", "minutos"}, "hour": {"hora", "horas"}},
	}[lang][unit]
	if n == 1 {
		return "1 " + words[0]
	}
	return fmt.Sprintf("%d %s", n, words[1])
}
