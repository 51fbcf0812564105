package delivery

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authsvc/authsvc/internal/locale"
)

// phrases are locale-specific fragments every message must contain.
var phrases = map[string]struct {
	never, chat, pick, expiresEmail, expiresSMS string
}{
	"en":    {never: "never", chat: "in a chat", pick: "ick the number", expiresEmail: "expires in 10 minutes", expiresSMS: "Expires in 10 min"},
	"es":    {never: "unca", chat: "en un chat", pick: "lige el número", expiresEmail: "caduca en 10 minutos", expiresSMS: "Caduca en 10 min"},
	"fr":    {never: "jamais", chat: "dans un chat", pick: "hoisissez le nombre", expiresEmail: "expire dans 10 minutes", expiresSMS: "Expire dans 10 min"},
	"de":    {never: "nie", chat: "im Chat", pick: "ählen Sie die Zahl", expiresEmail: "läuft in 10 Minuten ab", expiresSMS: "Gültig 10 Min."},
	"pt-BR": {never: "nunca", chat: "chat", pick: "scolha o n", expiresEmail: "expira em 10 minutos", expiresSMS: "Expira em 10 min"},
	"it":    {never: "mai", chat: "chat", pick: "cegli il numero", expiresEmail: "scade tra 10 minuti", expiresSMS: "Scade tra 10 min"},
	"ar":    {never: "أبدًا", chat: "محادثة", pick: "اختر الرقم", expiresEmail: "خلال 10 دقائق", expiresSMS: "خلال 10 دقائق"},
	"ja":    {never: "ない", chat: "チャット", pick: "数字を選んで", expiresEmail: "有効期限は10分", expiresSMS: "有効期限10分"},
}

func TestRenderEveryTemplateInEveryLocale(t *testing.T) {
	t.Parallel()
	for _, l := range locale.Supported {
		loc := l.Name
		for _, ch := range []Channel{Email, SMS} {
			for _, k := range []Kind{KindCode, KindLink} {
				t.Run(loc+"/"+ch.String()+"/"+k.String(), func(t *testing.T) {
					t.Parallel()
					m := testMessage(ch, k, loc)
					r, err := Render(m)
					if err != nil {
						t.Fatalf("Render: %v", err)
					}
					p := phrases[loc]
					want := []string{"Acme", "X", "@al…e", testPageHost, p.never, p.chat}
					if ch == Email {
						want = append(want, p.expiresEmail)
						if r.Subject == "" || !strings.Contains(r.Subject, "@al…e") {
							t.Errorf("subject %q: want the handle", r.Subject)
						}
					} else {
						want = append(want, p.expiresSMS)
						if r.Subject != "" {
							t.Errorf("SMS subject = %q, want empty", r.Subject)
						}
					}
					if k == KindCode {
						want = append(want, testCode)
						if strings.Contains(r.Text, testLink) {
							t.Error("code message contains a link")
						}
					} else {
						want = append(want, testLink, p.pick)
						if strings.Contains(r.Text, testCode) {
							t.Error("link message contains a code")
						}
					}
					for _, w := range want {
						if !strings.Contains(strings.ToLower(r.Text), strings.ToLower(w)) {
							t.Errorf("text lacks %q:\n%s", w, r.Text)
						}
					}
					if strings.Contains(r.Text, testEmail) || strings.Contains(r.Text, testPhone) || strings.Contains(r.Subject, testCode) {
						t.Error("message carries the destination, or the subject the code")
					}
					if strings.Contains(r.Text, "<no value>") || strings.Contains(r.Text, "{{") {
						t.Errorf("template residue:\n%s", r.Text)
					}
				})
			}
		}
	}
}

func TestRenderLocaleMatching(t *testing.T) {
	t.Parallel()
	by := map[string]Rendered{}
	for _, l := range locale.Supported {
		by[l.Name], _ = Render(testMessage(Email, KindCode, l.Name))
	}
	if by["en"].Text == by["es"].Text {
		t.Fatal("English and Spanish render the same text")
	}
	tests := []struct {
		tag, want string
	}{
		{"es-MX", "es"},
		{"es", "es"},
		{"es-419", "es"},
		{"es-ES", "es"},
		{"en-GB", "en"},
		{"en", "en"},
		{"fr-FR", "fr"},
		{"pt-BR", "pt-BR"},
		{"pt", "pt-BR"},
		{"ar-SA", "ar"},
		{"ja-JP", "ja"},
		{"ko", "en"},
		{"", "en"},
		{"not a tag!!", "en"},
		{"es-MX,en;q=0.5", "es"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			t.Parallel()
			if got := MatchLocale(tt.tag); got != tt.want {
				t.Errorf("MatchLocale(%q) = %q, want %q", tt.tag, got, tt.want)
			}
			r, err := Render(testMessage(Email, KindCode, tt.tag))
			if err != nil {
				t.Fatal(err)
			}
			want := by[tt.want]
			if r != want {
				t.Errorf("Render with locale %q did not use %q", tt.tag, tt.want)
			}
		})
	}
}

func TestRenderNetworkAndExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network string
		expires time.Duration
		locale  string
		want    []string
	}{
		{"messenger", time.Minute, "en", []string{"on Messenger", "expires in 1 minute."}},
		{"instagram", 90 * time.Second, "en", []string{"on Instagram", "expires in 2 minutes"}},
		{"WhatsApp", time.Hour, "en", []string{"on WhatsApp", "expires in 1 hour."}},
		{"mastodon", 2 * time.Hour, "es", []string{"en mastodon", "caduca en 2 horas"}},
		{"x", 61 * time.Minute, "es", []string{"en X", "caduca en 61 minutos"}},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			t.Parallel()
			m := testMessage(Email, KindCode, tt.locale)
			m.Network, m.ExpiresIn = tt.network, tt.expires
			r, err := Render(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, r.Text)
				}
			}
		})
	}
}

// gsm7 holds the GSM 03.38 basic character set (without the escape table).
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

func TestRenderSMSFitsOneSegmentInEnglish(t *testing.T) {
	t.Parallel()
	m := testMessage(SMS, KindCode, "en")
	m.Handle = "@al**e" // an ASCII mask; "…" is outside GSM 03.38
	r, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(r.Text); n > 160 {
		t.Errorf("SMS is %d characters, want <= 160:\n%s", n, r.Text)
	}
	for _, c := range r.Text {
		if !strings.ContainsRune(gsm7, c) {
			t.Errorf("SMS has non-GSM character %q", c)
		}
	}
	// The last line binds the code to the page's origin (WebOTP format).
	if !strings.HasSuffix(r.Text, "\n@"+testPageHost+" #"+testCode) {
		t.Errorf("SMS lacks the origin-bound line:\n%s", r.Text)
	}
}

func TestRenderRejectsInvalidMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		field string
		edit  func(*Message)
	}{
		{"no id", "id", func(m *Message) { m.ID = "" }},
		{"id with space", "id", func(m *Message) { m.ID = "a b" }},
		{"no channel", "channel", func(m *Message) { m.Channel = 0 }},
		{"email with name", "to", func(m *Message) { m.To = "Alice <" + testEmail + ">" }},
		{"email as phone", "to", func(m *Message) { m.To = testPhone }},
		{"phone not e164", "to", func(m *Message) { m.Channel, m.To = SMS, "4155550123" }},
		{"no kind", "kind", func(m *Message) { m.Kind = 0 }},
		{"short code", "code", func(m *Message) { m.Code = "12345" }},
		{"letters in code", "code", func(m *Message) { m.Code = "12a456" }},
		{"code and link", "code", func(m *Message) { m.Link = testLink }},
		{"link on another host", "link", func(m *Message) { m.Kind, m.Code, m.Link = KindLink, "", "https://evil.example/l/x" }},
		{"http link", "link", func(m *Message) { m.Kind, m.Code, m.Link = KindLink, "", "http://"+testPageHost+"/l/x" }},
		{"newline in brand", "brand", func(m *Message) { m.Brand = "Acme\nCall +1 555 0100" }},
		{"no handle", "handle", func(m *Message) { m.Handle = " " }},
		{"page host with path", "page_host", func(m *Message) { m.PageHost = "verify.acme.example/x" }},
		{"no expiry", "expires_in", func(m *Message) { m.ExpiresIn = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := testMessage(Email, KindCode, "en")
			tt.edit(&m)
			_, err := Render(m)
			var me *MessageError
			if !errors.Is(err, ErrInvalidMessage) || !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("Render error = %v, want invalid field %q", err, tt.field)
			}
			assertNoSecrets(t, err)
		})
	}
	t.Run("dev link on loopback", func(t *testing.T) {
		t.Parallel()
		m := testMessage(Email, KindLink, "en")
		m.PageHost, m.Link = "localhost:8080", "http://localhost:8080/l/x"
		if _, err := Render(m); err != nil {
			t.Fatalf("Render: %v", err)
		}
	})
}

func TestDMText(t *testing.T) {
	t.Parallel()
	longDigits := regexp.MustCompile(`\d{4,}`)
	for _, loc := range []string{"en", "es-MX"} {
		for _, kind := range []DMKind{DMOpenPage, DMPickNumber, DMConfirmOnPage} {
			t.Run(loc, func(t *testing.T) {
				t.Parallel()
				p := DMParams{
					Locale:          loc,
					Brand:           "Acme",
					Kind:            kind,
					PageURL:         "https://verify.acme.example/v/AbCdEfGh",
					DestinationMask: "a•••e@m•••.example",
					MatchNumber:     "42",
					ExpiresIn:       10 * time.Minute,
				}
				s := DMText(p)
				if s == "" {
					t.Fatal("empty DM text")
				}
				want := []string{"Acme", p.DestinationMask}
				switch kind {
				case DMConfirmOnPage:
					// Nothing was sent: no destination, but the page and the warning.
					want = []string{"Acme", p.PageURL}
					if strings.Contains(s, p.DestinationMask) || strings.Contains(s, "42") {
						t.Error("confirm-on-page text names a destination or number")
					}
				case DMOpenPage:
					want = append(want, p.PageURL)
					if strings.Contains(s, "42") {
						t.Error("open-page text shows the match number")
					}
				default:
					want = append(want, " 42 ")
					if strings.Contains(s, p.PageURL) {
						t.Error("pick-number text shows the page URL")
					}
				}
				for _, w := range want {
					if !strings.Contains(s, w) {
						t.Errorf("DM text lacks %q: %s", w, s)
					}
				}
				if longDigits.MatchString(s) {
					t.Errorf("DM text holds a code-like number: %s", s)
				}
				if MatchLocale(loc) == "es" && !strings.Contains(s, "caduca en 10 minutos") {
					t.Errorf("DM text not in Spanish: %s", s)
				}
			})
		}
	}
	refused := []struct {
		name string
		p    DMParams
	}{
		{"code as match number", DMParams{Brand: "Acme", Kind: DMPickNumber, DestinationMask: "m", MatchNumber: testCode, ExpiresIn: time.Minute}},
		{"no kind", DMParams{Brand: "Acme", DestinationMask: "m", PageURL: "https://x", ExpiresIn: time.Minute}},
		{"no page url", DMParams{Brand: "Acme", Kind: DMOpenPage, DestinationMask: "m", ExpiresIn: time.Minute}},
		{"no mask", DMParams{Brand: "Acme", Kind: DMOpenPage, PageURL: "https://x", ExpiresIn: time.Minute}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if s := DMText(tt.p); s != "" {
				t.Errorf("DMText = %q, want empty", s)
			}
		})
	}
}

// TestRenderIsolatesBrandAndHandle: a right-to-left handle or brand cannot reorder
// the sentence around it: each is isolated between FSI and PDI, in the email
// subject and body and in the DM text; an SMS isolates a value that is not plain
// ASCII and leaves an ASCII one alone (GSM 7-bit).
func TestRenderIsolatesBrandAndHandle(t *testing.T) {
	t.Parallel()
	const rtlHandle = "@\u0645\u062d**\u062f" // an Arabic handle, masked
	iso := func(s string) string { return "\u2068" + s + "\u2069" }
	m := testMessage(Email, KindCode, "en")
	m.Handle, m.Brand = rtlHandle, "\u05d0\u05e7\u05de\u05d4 Bank" // a Hebrew brand
	r, err := Render(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{r.Subject, r.Text} {
		if !strings.Contains(in, iso(rtlHandle)) || !strings.Contains(in, iso(m.Brand)) {
			t.Errorf("handle or brand not isolated in %+q", in)
		}
		if strings.Count(in, "\u2068") != strings.Count(in, "\u2069") {
			t.Errorf("unbalanced isolates in %+q", in)
		}
	}
	m = testMessage(SMS, KindCode, "en")
	m.Handle = rtlHandle
	if r, err = Render(m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, iso(rtlHandle)) || strings.Contains(r.Text, iso("Acme")) {
		t.Errorf("SMS: want the Arabic handle isolated and the ASCII brand left alone: %+q", r.Text)
	}
	dm := DMText(DMParams{Brand: "Acme", Kind: DMOpenPage, PageURL: "https://verify.acme.example/v/x",
		DestinationMask: "\u0645***@example.com", ExpiresIn: time.Minute})
	if !strings.Contains(dm, iso("Acme")) || !strings.Contains(dm, iso("\u0645***@example.com")) {
		t.Errorf("DM text: brand or mask not isolated: %+q", dm)
	}
	// A value with a directional control of its own is refused, never sent.
	m = testMessage(Email, KindCode, "en")
	m.Handle = "@\u202eevil"
	var me *MessageError
	if _, err := Render(m); !errors.As(err, &me) || me.Field != "handle" {
		t.Errorf("Render with U+202E in the handle: %v", err)
	}
	if s := DMText(DMParams{Brand: "Ac\u200bme", Kind: DMOpenPage, PageURL: "https://x", DestinationMask: "m", ExpiresIn: time.Minute}); s != "" {
		t.Errorf("DMText with U+200B in the brand = %+q, want empty", s)
	}
}

// TestDMConfirmNamesWhatThePageOffers: a page that offers only an authenticator
// app, or only a passkey, is named so in the DM; one that offers both names both.
func TestDMConfirmNamesWhatThePageOffers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		locale, factors, want, not string
	}{
		{"en", FactorTOTP, "confirm with your authenticator app:", "passkey"},
		{"en", FactorPasskey, "confirm with your passkey:", "authenticator"},
		{"en", "", "confirm with your passkey or authenticator app:", ""},
		{"es", FactorTOTP, "confirma con tu app de autenticación:", "llave"},
		{"es", FactorPasskey, "confirma con tu llave de acceso:", "app de"},
	} {
		got := DMText(DMParams{Locale: tc.locale, Brand: "Acme", Kind: DMConfirmOnPage, Factors: tc.factors,
			PageURL: "https://verify.example.com/v/x.y", ExpiresIn: 10 * time.Minute})
		if !strings.Contains(got, tc.want) || (tc.not != "" && strings.Contains(got, tc.not)) {
			t.Errorf("%s %q: %q", tc.locale, tc.factors, got)
		}
	}
}
