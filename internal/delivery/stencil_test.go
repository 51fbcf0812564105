package delivery

import (
	"strings"
	"testing"
	"time"
)

// TestStencilsRenderWhatTheTemplatesDo renders every template of every locale
// through its stencil and by executing it, for every expiry shape and factor and
// for values with edge spaces, markup, Unicode isolates and the marker's own NUL,
// and wants the same text.
func TestStencilsRenderWhatTheTemplatesDo(t *testing.T) {
	t.Parallel()
	if templatesErr != nil {
		t.Fatal(templatesErr)
	}
	expiries := []time.Duration{30 * time.Second, time.Minute, 10 * time.Minute, 90 * time.Minute, time.Hour,
		3 * time.Hour, 48 * time.Hour, 72 * time.Hour}
	factors := []string{"", FactorTOTP, FactorPasskey, "other"}
	values := [][]string{
		{"Acme", "X", "@alice", "verify.acme.test", "verify.acme.test", "123456", "https://verify.acme.test/l/abc"},
		{" \u2068Acme & Co\u2069 ", "", "<b>@bob</b>", "h:8443", "h", "\x000\x00", " https://x/l/y "},
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
							data := dmData{expiry: e, Factors: f, Brand: v[0], PageURL: v[6], DestinationMask: v[2], MatchNumber: v[5]}
							want, _ = execute(tmpl, name, data)
							got, err = executeStencil(tmpl, name, dmCond{e, f}, []string{data.Brand, data.PageURL, data.DestinationMask, data.MatchNumber},
								func(s []string) any {
									return dmData{expiry: e, Factors: f, Brand: s[0], PageURL: s[1], DestinationMask: s[2], MatchNumber: s[3]}
								})
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
	if names < 9*len(templates) {
		t.Errorf("compared %d templates in %d locales, want every message, subject and DM text", names, len(templates))
	}
}
