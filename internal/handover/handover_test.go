package handover_test

import (
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/handover"
)

func TestPKCE(t *testing.T) {
	// RFC 7636, appendix B.
	const v, s = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if handover.Challenge(v) != s || !handover.VerifierMatches(v, s) || !handover.ValidChallenge(s) {
		t.Fatal("RFC 7636 appendix B does not check out")
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 129), strings.Repeat("a", 42) + "!"} {
		if handover.ValidVerifier(bad) {
			t.Errorf("verifier %q accepted", bad)
		}
	}
	if handover.ValidChallenge(s[:42]) || handover.ValidChallenge(s[:42]+"=") {
		t.Error("a challenge of the wrong shape accepted")
	}
}

func TestCallCode(t *testing.T) {
	for in, want := range map[string]string{"1234567890": "1234567890", "123 456 7890": "1234567890", "123-456-7890": "1234567890"} {
		if got, ok := handover.NormalizeCallCode(in); !ok || got != want {
			t.Errorf("NormalizeCallCode(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "123", "12345678901", "12345abcde", "１２３４５６７８９０"} {
		if _, ok := handover.NormalizeCallCode(bad); ok {
			t.Errorf("NormalizeCallCode(%q) accepted", bad)
		}
	}
	if handover.GroupCallCode("1234567890") != "123 456 7890" {
		t.Error("grouping")
	}
}

func TestParse(t *testing.T) {
	good := `{"channels": [{"id": "app", "names": {"en": "Acme app", "es": "app de Acme"},
		"redirect_urls": ["https://app.example.com/handover", "https://app.example.com/h2"], "client": "acme-app"}],
		"phone": {"number": "+34900123456", "client": "acme-ivr"}}`
	r, err := handover.Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	ch := r.Channel("app")
	if ch == nil || ch.Name("es") != "app de Acme" || ch.Name("fr") != "Acme app" || r.Phone().Client != "acme-ivr" {
		t.Fatalf("registry: %+v", r)
	}
	if !ch.Allows("https://app.example.com/h2") || ch.Allows("https://app.example.com/h2/") || ch.Allows("https://APP.example.com/h2") {
		t.Fatal("redirects are not compared byte for byte")
	}
	if got := r.ChannelsFor("https://app.example.com/handover"); len(got) != 1 || got[0] != "app" {
		t.Fatalf("ChannelsFor = %v", got)
	}
	if got := strings.Join(r.Redeemers(), ","); got != "acme-app,acme-ivr" {
		t.Fatalf("Redeemers = %s", got)
	}
	for name, bad := range map[string]string{
		"unknown field":  `{"channels": [], "extra": 1}`,
		"no names":       `{"channels": [{"id": "app", "redirect_urls": ["https://a.example/h"], "client": "c"}]}`,
		"http":           `{"channels": [{"id": "app", "names": {"en": "A", "es": "A"}, "redirect_urls": ["http://a.example/h"], "client": "c"}]}`,
		"fragment":       `{"channels": [{"id": "app", "names": {"en": "A", "es": "A"}, "redirect_urls": ["https://a.example/h#x"], "client": "c"}]}`,
		"userinfo":       `{"channels": [{"id": "app", "names": {"en": "A", "es": "A"}, "redirect_urls": ["https://u@a.example/h"], "client": "c"}]}`,
		"no redirect":    `{"channels": [{"id": "app", "names": {"en": "A", "es": "A"}, "redirect_urls": [], "client": "c"}]}`,
		"bad id":         `{"channels": [{"id": "App!", "names": {"en": "A", "es": "A"}, "redirect_urls": ["https://a.example/h"], "client": "c"}]}`,
		"repeated id":    `{"channels": [{"id": "a", "names": {"en": "A", "es": "A"}, "redirect_urls": ["https://a.example/h"], "client": "c"}, {"id": "a", "names": {"en": "A", "es": "A"}, "redirect_urls": ["https://a.example/h"], "client": "c"}]}`,
		"french name":    `{"channels": [{"id": "a", "names": {"en": "A", "es": "A", "fr": "A"}, "redirect_urls": ["https://a.example/h"], "client": "c"}]}`,
		"control name":   `{"channels": [{"id": "a", "names": {"en": "A\u0007", "es": "A"}, "redirect_urls": ["https://a.example/h"], "client": "c"}]}`,
		"phone not e164": `{"channels": [], "phone": {"number": "900 123 456", "client": "c"}}`,
		"phone client":   `{"channels": [], "phone": {"number": "+34900123456", "client": ""}}`,
	} {
		if _, err := handover.Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "a.example") {
			t.Errorf("%s: the error quotes a value: %v", name, err)
		}
	}
	var none *handover.Registry
	if !none.Empty() || none.Channel("app") != nil || none.Phone() != nil {
		t.Fatal("a nil registry offers something")
	}
}

func FuzzNormalizeCallCode(f *testing.F) {
	for _, s := range []string{"123 456 7890", "1234567890", "12-34", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := handover.NormalizeCallCode(s)
		if ok && (len(d) != handover.CallCodeDigits || strings.Trim(d, "0123456789") != "") {
			t.Fatalf("NormalizeCallCode(%q) = %q", s, d)
		}
	})
}

func FuzzVerifier(f *testing.F) {
	f.Add("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		if handover.ValidVerifier(v) && !handover.VerifierMatches(v, handover.Challenge(v)) {
			t.Fatalf("a valid verifier %q does not match its own challenge", v)
		}
	})
}
