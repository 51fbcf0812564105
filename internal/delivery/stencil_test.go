package delivery

import (
	"strings"
	"testing"
	"time"
)

// TestStencilsRenderWhatTheTemplatesDo renders every message, subject and DM
// text of every locale through its stencil and by executing it, for every expiry
// shape and factor, with and without a phrase, and for values with edge spaces,
// markup, Unicode isolates, bidi and zero-width characters, NUL, text that
// imitates a marker and long strings, and wants the same text.
func TestStencilsRenderWhatTheTemplatesDo(t *testing.T) {
	t.Parallel()
	if templatesErr != nil {
		t.Fatal(templatesErr)
	}
	expiries := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute,
		10 * time.Minute, 11 * time.Minute, 21 * time.Minute, 90 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour,
		11 * time.Hour, 48 * time.Hour, 72 * time.Hour, 11 * 24 * time.Hour, 100 * 24 * time.Hour}
	factors := []string{"", FactorTOTP, FactorPasskey, "other"}
	values := [][]string{
		{"Acme", "X", "@alice", "verify.acme.test", "verify.acme.test", "123456", "https://verify.acme.test/l/abc", "apple river"},
		{" \u2068Acme & Co\u2069 ", "", "<b>@bob</b>", "h:8443", "h", "\x00m0\x00", " https://x/l/y ", ""},
		{"\u202Eevil\u200B", "{{.Brand}}", "\x00qz1\x00", "", "", "", "", "りんご・かわ"},
		{strings.Repeat("ab&<", 300), "Instagram", "%s %[1]s", "h", "h", "9", "javascript:alert(1)", "\x00"},
	}
	names := 0
	for tag, tmpl := range templates {
		for _, def := range tmpl.Templates() {
			name := def.Name()
			if !strings.HasPrefix(name, "dm_") && !strings.HasPrefix(name, "email_") &&
				!strings.HasPrefix(name, "sms_") && !strings.HasPrefix(name, "subject_") {
				continue
			}
			names++
			for _, d := range expiries {
				for _, f := range factors {
					for _, v := range values {
						e := newExpiry(d)
						var want, got string
						var err error
						if strings.HasPrefix(name, "dm_") {
							data := dmData{expiry: e, Factors: f, Brand: v[0], PageURL: v[6], DestinationMask: v[2],
								MatchNumber: v[5], Phrase: v[7]}
							want, _ = execute(tmpl, name, data)
							got, err = executeDM(tmpl, name, data)
						} else {
							data := messageData{expiry: e, Factor: f, Brand: v[0], Network: v[1], Handle: v[2], PageHost: v[3],
								OTPHost: v[4], Code: v[5], Link: v[6]}
							want, _ = execute(tmpl, name, data)
							got, err = executeMessage(tmpl, name, data)
						}
						if err != nil {
							t.Fatalf("%s %s: %v", tag, name, err)
						}
						if got != want {
							t.Errorf("%s %s (expiry %s, factor %q):\nstencil %q\nexecute %q", tag, name, d, f, got, want)
						}
					}
				}
			}
		}
	}
	if names < 14*len(templates) {
		t.Errorf("compared %d templates in %d locales, want every message, subject and DM text", names, len(templates))
	}
}

// TestStencilsHoldTemplateTextOnly renders messages and DM texts with
// distinctive values and finds none of them in the cache, and wants every
// template of every locale to have a stencil.
func TestStencilsHoldTemplateTextOnly(t *testing.T) {
	t.Parallel()
	secret := []string{"Brandzilla", "@handlezilla", "847261", "https://verify.zilla.test/v/tokzilla", "mask@zilla"}
	if _, err := Render(Message{ID: "m1", Channel: Email, Kind: KindCode, Locale: "de", Brand: secret[0], Network: "x", Handle: secret[1],
		PageHost: "verify.zilla.test", Code: secret[2], ExpiresIn: 10 * time.Minute, To: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if DMText(DMParams{Locale: "de", Brand: secret[0], Kind: DMOpenPage, PageURL: secret[3], DestinationMask: secret[4],
		ExpiresIn: 10 * time.Minute, Phrase: "Apfel Fluss"}) == "" {
		t.Fatal("no DM text")
	}
	secret = append(secret, "Apfel Fluss", "verify.zilla.test")
	found := 0
	stencils.Range(func(k, v any) bool {
		s, _ := v.(*stencil)
		if s == nil {
			t.Errorf("%s has no stencil", k.(stencilKey).name)
			return true
		}
		found++
		for _, p := range s.parts {
			for _, x := range secret {
				if strings.Contains(p, x) {
					t.Errorf("%s's stencil holds %q", k.(stencilKey).name, x)
				}
			}
		}
		return true
	})
	if found == 0 {
		t.Error("no stencils")
	}
}

// BenchmarkStartTexts renders what a Start renders: an email (subject and body)
// and the DM text, from stencils and (sub-benchmark "execute") by executing the
// templates.
func BenchmarkStartTexts(b *testing.B) {
	m := Message{ID: "m1", Channel: Email, Kind: KindCode, Locale: "es", Brand: "Acme", Network: "x", Handle: "@al***e",
		PageHost: "verify.acme.test", Code: "123456", ExpiresIn: 10 * time.Minute, To: "a@example.com"}
	p := DMParams{Locale: "es", Brand: "Acme", Kind: DMOpenPage, PageURL: "https://verify.acme.test/v/tok",
		DestinationMask: "a***@example.com", ExpiresIn: 10 * time.Minute, Phrase: "manzana río"}
	b.Run("stencil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Render(m); err != nil || DMText(p) == "" {
				b.Fatal(err)
			}
		}
	})
	b.Run("execute", func(b *testing.B) {
		b.ReportAllocs()
		t := templates["es"]
		d := messageData{expiry: newExpiry(m.ExpiresIn), Brand: "Acme", Network: "X", Handle: "@al***e",
			PageHost: m.PageHost, OTPHost: m.PageHost, Code: m.Code}
		dm := dmData{expiry: newExpiry(p.ExpiresIn), Brand: "Acme", PageURL: p.PageURL, DestinationMask: p.DestinationMask, Phrase: p.Phrase}
		for b.Loop() {
			_, _ = execute(t, "subject_code", d)
			_, _ = execute(t, "email_code", d)
			_, _ = execute(t, "dm_open_page", dm)
		}
	})
}
