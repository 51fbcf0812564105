package delivery

import (
	"embed"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/authsvc/authsvc/internal/locale"
	"github.com/authsvc/authsvc/internal/text"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	// templates maps a supported locale to its parsed template set. The
	// templates are part of the binary; a parse failure is a build defect that
	// the tests catch, so it is reported by Render rather than at init.
	templates, templatesErr = parseTemplates()
)

// parseTemplates parses each supported locale's templates, with "plural" giving
// the CLDR plural category of a number in that locale ("one", "few", …).
func parseTemplates() (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(locale.Supported))
	for _, l := range locale.Supported {
		funcs := template.FuncMap{"plural": l.Plural}
		t, err := template.New(l.Name).Funcs(funcs).Option("missingkey=error").ParseFS(templateFS, "templates/"+l.Name+".tmpl")
		if err != nil {
			return nil, err
		}
		out[l.Name] = t
	}
	return out, nil
}

// MatchLocale returns the supported locale (package locale: en, es, fr, de,
// pt-BR, it, ar, ja) that best serves the BCP 47 tag, e.g. "es-MX" → "es". An
// empty, malformed or unsupported tag gets "en". Pages and DM text use it so
// that they agree with the message.
func MatchLocale(tag string) string { return matchLocale(tag).Name }

// matchLocale is the locale MatchLocale picks. A verification stores a
// supported name (or nothing), matched without parsing it as a tag.
func matchLocale(tag string) locale.Locale {
	if l, ok := locale.Exact(tag); ok {
		return l
	}
	l, _ := locale.Match(tag)
	return l
}

// rtl reports whether the locale MatchLocale(tag) picks is written right to left.
func rtl(tag string) bool { return matchLocale(tag).RTL }

// Rendered is a message rendered for sending.
type Rendered struct {
	// Subject is the email subject; empty for SMS.
	Subject string
	// Text is the plain-text email body or the SMS body.
	Text string
}

// expiry is a duration in the largest whole unit that states it without
// shortening it: whole hours, else minutes rounded up.
type expiry struct {
	Days, Hours, Minutes int
}

func newExpiry(d time.Duration) expiry {
	const day = 24 * time.Hour
	if d >= 2*day && d%day == 0 {
		return expiry{Days: int(d / day)}
	}
	if d >= time.Hour && d%time.Hour == 0 {
		return expiry{Hours: int(d / time.Hour)}
	}
	m := int((d + time.Minute - 1) / time.Minute)
	return expiry{Minutes: max(m, 1)}
}

type messageData struct {
	expiry
	Brand, Network, Handle, PageHost, OTPHost, Code, Link, Factor string
}

// networkNames holds the display names of the known networks.
var networkNames = map[string]string{
	"x":         "X",
	"twitter":   "X",
	"messenger": "Messenger",
	"instagram": "Instagram",
	"whatsapp":  "WhatsApp",
}

// NetworkName returns the display name of a network ("x" → "X"), or the
// name as given when it is not a known one.
func NetworkName(network string) string {
	if n, ok := networkNames[strings.ToLower(network)]; ok {
		return n
	}
	return network
}

// Render validates m and renders it in the locale MatchLocale(m.Locale)
// picks: for Email a subject and a plain-text body, for SMS a short text
// (under 160 GSM characters in English for a code with a short brand, handle
// and host). Each message names the brand, the network and the masked
// handle, says the brand asks for the code only on its own page at PageHost
// and never in a chat or by phone, and says when it expires; a code message
// shows the code, a link message the link and the number-matching step.
// An invalid m gives a *MessageError.
func Render(m Message) (Rendered, error) {
	if err := m.validate(); err != nil {
		return Rendered{}, err
	}
	t, err := localeTemplate(m.Locale)
	if err != nil {
		return Rendered{}, err
	}
	otpHost := m.PageHost
	if u, err := url.Parse("https://" + m.PageHost); err == nil {
		otpHost = u.Hostname()
	}
	data := messageData{
		expiry:   newExpiry(m.ExpiresIn),
		Brand:    isolate(m.Brand, m.Channel, m.Locale),
		Network:  NetworkName(m.Network),
		Handle:   isolate(m.Handle, m.Channel, m.Locale),
		PageHost: m.PageHost,
		OTPHost:  otpHost,
		Code:     m.Code,
		Link:     m.Link,
		Factor:   m.Factor,
	}
	var r Rendered
	switch m.Channel {
	case Email:
		if r.Subject, err = executeMessage(t, "subject_"+m.Kind.String(), data); err != nil {
			return Rendered{}, err
		}
		if r.Text, err = executeMessage(t, "email_"+m.Kind.String(), data); err != nil {
			return Rendered{}, err
		}
		r.Text += "\n"
	case SMS:
		if r.Text, err = executeMessage(t, "sms_"+m.Kind.String(), data); err != nil {
			return Rendered{}, err
		}
	}
	return r, nil
}

// DMKind selects the suggested DM text.
type DMKind int

// The DM kinds. The zero value is not a kind.
const (
	// DMOpenPage: "open this page and enter the code we sent to <mask>".
	DMOpenPage DMKind = iota + 1
	// DMPickNumber: "we sent a link to <mask>; when you open it, pick <number>".
	DMPickNumber
	// DMConfirmOnPage: "open this page and confirm with your passkey or
	// authenticator app", naming only what the page offers (DMParams.Factors;
	// nothing was sent; no mask).
	DMConfirmOnPage
)

// DMParams are the inputs of the suggested DM text. They hold no code: the
// DM never carries one.
type DMParams struct {
	// Locale is a BCP 47 tag; see MatchLocale.
	Locale string
	// Brand names the brand, as in the message.
	Brand string
	// Kind selects the text.
	Kind DMKind
	// PageURL is the customer page (DMOpenPage).
	PageURL string
	// DestinationMask is the masked email or phone the message went to.
	DestinationMask string
	// MatchNumber is the number to pick on the link's page (DMPickNumber):
	// 1 to 3 digits.
	MatchNumber string
	// Factors names what DMConfirmOnPage asks for: FactorTOTP or FactorPasskey
	// when the page offers only that, "" when it offers both.
	Factors string
	// ExpiresIn is how long the code or link stays valid.
	ExpiresIn time.Duration
	// Phrase is the phrase the customer's page shows (Phrase), for her to check
	// that the page and this DM belong together; "" leaves it out.
	Phrase string
}

type dmData struct {
	expiry
	Brand, PageURL, DestinationMask, MatchNumber, Factors, Phrase string
}

// DMText returns the text the care agent posts into the conversation,
// localized as MatchLocale(p.Locale). It returns "" when p is unusable: an
// unknown Kind, a missing brand or mask, a DMOpenPage without PageURL, or a
// MatchNumber that is not 1 to 3 digits (which also keeps a one-time code
// passed by mistake out of the chat).
func DMText(p DMParams) string {
	if p.Kind == DMConfirmOnPage && p.DestinationMask == "" {
		p.DestinationMask = "-" // nothing was sent: the text names no destination
	}
	if !validText(p.Brand, 64) || !validText(p.DestinationMask, 254) || p.ExpiresIn <= 0 ||
		(p.Phrase != "" && !validText(p.Phrase, 128)) {
		return ""
	}
	var name string
	switch p.Kind {
	case DMOpenPage:
		if p.PageURL == "" || !isVisibleASCII(p.PageURL) {
			return ""
		}
		name = "dm_open_page"
	case DMPickNumber:
		if !isDigits(p.MatchNumber, 1, 3) {
			return ""
		}
		name = "dm_pick_number"
	case DMConfirmOnPage:
		if p.PageURL == "" || !isVisibleASCII(p.PageURL) {
			return ""
		}
		name = "dm_confirm_on_page"
	default:
		return ""
	}
	t, err := localeTemplate(p.Locale)
	if err != nil {
		return ""
	}
	d := dmData{
		expiry:          newExpiry(p.ExpiresIn),
		Brand:           text.Isolate(p.Brand),
		DestinationMask: text.Isolate(p.DestinationMask),
		Phrase:          p.Phrase,
	}
	if p.Kind == DMOpenPage || p.Kind == DMConfirmOnPage {
		d.PageURL, d.Factors = p.PageURL, p.Factors
	} else {
		d.MatchNumber = p.MatchNumber
	}
	s, err := executeDM(t, name, d)
	if err != nil {
		return ""
	}
	return s
}

// dmCond is what the DM templates' conditionals read besides which values are
// empty.
type dmCond struct {
	expiry
	Factors string
}

// messageCond is what the message templates' conditionals read.
type messageCond struct {
	expiry
	Factor string
}

// executeDM renders a DM template from its stencil.
func executeDM(t *template.Template, name string, d dmData) (string, error) {
	return executeStencil(t, name, dmCond{d.expiry, d.Factors},
		[]string{d.Brand, d.PageURL, d.DestinationMask, d.MatchNumber, d.Phrase}, func(v []string) any {
			return dmData{expiry: d.expiry, Factors: d.Factors, Brand: v[0], PageURL: v[1], DestinationMask: v[2],
				MatchNumber: v[3], Phrase: v[4]}
		})
}

// executeMessage renders a message template from its stencil.
func executeMessage(t *template.Template, name string, d messageData) (string, error) {
	return executeStencil(t, name, messageCond{d.expiry, d.Factor},
		[]string{d.Brand, d.Network, d.Handle, d.PageHost, d.OTPHost, d.Code, d.Link}, func(v []string) any {
			return messageData{expiry: d.expiry, Factor: d.Factor, Brand: v[0], Network: v[1], Handle: v[2], PageHost: v[3],
				OTPHost: v[4], Code: v[5], Link: v[6]}
		})
}

// isolate wraps a value shown in a message of channel c in FSI … PDI; an SMS in
// a left-to-right locale leaves a plain ASCII value as it is (see the package doc:
// GSM 7-bit). An SMS in Arabic is UCS-2 anyway, and its sentence runs right to
// left around the value, so there every value is isolated.
func isolate(s string, c Channel, tag string) string {
	if c == SMS && isASCII(s) && !rtl(tag) {
		return s
	}
	return text.Isolate(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func localeTemplate(tag string) (*template.Template, error) {
	if templatesErr != nil {
		return nil, ErrTemplate
	}
	return templates[MatchLocale(tag)], nil
}

func execute(t *template.Template, name string, data any) (string, error) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		// The cause may quote template data: report only the sentinel.
		return "", ErrTemplate
	}
	return strings.TrimSpace(b.String()), nil
}

// EnrollmentDMText returns the text the agent posts with an enrollment page's
// link (factor FactorTOTP or FactorPasskey), in the locale MatchLocale(tag)
// picks: open it on the phone where she just verified, it works once, and when it
// expires. "" for an unknown factor or an unusable URL.
func EnrollmentDMText(tag, factor, pageURL string, expiresIn time.Duration) string {
	if pageURL == "" || !isVisibleASCII(pageURL) {
		return ""
	}
	name := map[string]string{FactorTOTP: "dm_enroll_totp", FactorPasskey: "dm_enroll_passkey"}[factor]
	if name == "" {
		return ""
	}
	t, err := localeTemplate(tag)
	if err != nil {
		return ""
	}
	s, err := executeDM(t, name, dmData{expiry: newExpiry(max(expiresIn, time.Second)), PageURL: pageURL})
	if err != nil {
		return ""
	}
	return s
}
