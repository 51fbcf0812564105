package web_test

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/web"
)

const testLogo = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#0b5fff"/></svg>`

// TestTrustCues: every page names its host; a verification's page shows the
// logo (a static file under the strict CSP), the official account on its
// network, when it expires, and the DM's phrase, which the DM text carries too.
func TestTrustCues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cues: web.BrandCues{Logo: []byte(testLogo), Colour: "#0b5fff",
		Accounts: map[string]string{"x": "@Acme", "instagram": "@acme.help"}}})
	v := e.start(challenge.OTPEmail, "en")
	page := e.GET(v.url, nil)
	wantStatus(t, page, http.StatusOK)
	host := strings.TrimPrefix(e.public, "http://")
	wantBody(t, page, "You're on "+host, "Official Acme account on X: @Acme", "Expires at <time",
		"First, check the chat", "This isn't the account I'm talking to")
	phrase := regexp.MustCompile(`<p class="phrase" id="phrase" lang="en">([^<]+)</p>`).FindStringSubmatch(page.body)
	if phrase == nil || !strings.Contains(v.dm, `"`+phrase[1]+`"`) {
		t.Fatalf("the page's phrase %q is not in the DM text %q", phrase, v.dm)
	}
	if !strings.Contains(page.body, `<time id="expires" datetime="2026-11-28T12:10:00Z" data-seconds="600">`) {
		t.Error("the expiry is not a machine-readable <time>")
	}
	logo := regexp.MustCompile(`<img class="logo" src="(` + regexp.QuoteMeta(e.public) + `/static/logo\.[0-9a-f]{12}\.svg)" alt=""`).FindStringSubmatch(page.body)
	if logo == nil {
		t.Fatalf("no logo:\n%s", page.body)
	}
	img := e.GET(logo[1], nil)
	wantStatus(t, img, http.StatusOK)
	if img.header.Get("Content-Type") != "image/svg+xml" || img.body != testLogo ||
		!strings.HasPrefix(img.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("logo served as %q with CSP %q", img.header.Get("Content-Type"), img.header.Get("Content-Security-Policy"))
	}
	css := regexp.MustCompile(`href="([^"]+/static/app\.[0-9a-f]+\.css)"`).FindStringSubmatch(page.body)
	if css == nil || !strings.Contains(e.GET(css[1], nil).body, "--brand: #0b5fff") {
		t.Error("the stylesheet lacks the brand's colour")
	}
	// The neutral page too names the host, and has no verification's cues.
	neutral := e.GET(e.public+"/v/nope", nil)
	wantBody(t, neutral, "You're on "+host)
	if strings.Contains(neutral.body, "Official Acme account") || strings.Contains(neutral.body, `id="phrase"`) {
		t.Error("the neutral page shows a verification's cues")
	}
	// In Spanish, the phrase check names the official account.
	other := e.GET(e.start(challenge.OTPEmail, "es").url, nil)
	wantBody(t, other, "Cuenta oficial de Acme en X: @Acme", "Continúa solo si las palabras coinciden y el chat es con @Acme.")
	// Without official accounts there is no account line; the check names the brand.
	bare := newEnv(t, envOpts{})
	p := bare.GET(bare.start(challenge.OTPEmail, "en").url, nil)
	wantBody(t, p, "Only continue if the words match and the chat is with Acme.")
	if strings.Contains(p.body, "Official Acme account") {
		t.Error("an account line without an official account")
	}
}

// TestImpersonationReportPage: "This isn't the account I'm talking to", on a
// code page and a magic link's page, ends the verification FAILED(REPORTED)
// and says what to do; a replayed form answers the same and a form without its
// nonce changes nothing.
func TestImpersonationReportPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, m := range []challenge.Method{challenge.OTPEmail, challenge.MagicLink} {
		v := e.start(m, "en")
		page := e.GET(v.url, nil)
		refused := e.submit(page, "impersonation", url.Values{"nonce": {"forged"}}, nil)
		wantStatus(t, refused, http.StatusBadRequest)
		e.wantState(v.id, challenge.Pending, 0, 5)
		res := e.submit(page, "impersonation", nil, nil)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "Thanks for telling us", "We stopped this request and flagged it to Acme.")
		e.wantState(v.id, challenge.Failed, challenge.ReasonReported, 5)
		wantBody(t, e.submit(page, "impersonation", nil, nil), "Thanks for telling us")
	}
}

func TestCheckLogoAndColour(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	var huge bytes.Buffer
	if err := png.Encode(&huge, image.NewGray(image.Rect(0, 0, 4000, 10))); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, logo, want string
	}{
		{"png", buf.String(), ""},
		{"svg", testLogo, ""},
		{"png too wide", huge.String(), "is 4000x10 px"},
		{"empty", "", "is empty"},
		{"too big", testLogo + strings.Repeat(" ", web.MaxLogoBytes), "bytes; at most 16384"},
		{"html", "<html><body>x</body></html>", "its root element is not <svg>"},
		{"onload", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`, "event handler"},
		{"foreignObject", `<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>`, "<foreignObject> element"},
		{"external image", `<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>`, "outside itself"},
		{"entity", `<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>`, "DOCTYPE"},
		{"broken", `<svg`, "well-formed"},
	} {
		_, err := web.CheckLogo([]byte(tt.logo))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: CheckLogo = %v, want %q", tt.name, err, tt.want)
		}
	}
	for c, ok := range map[string]bool{"#1d4ed8": true, "#000000": true, "#767676": true, "#777777": false, "#ffffff": false, "1d4ed8": false, "#1d4ed": false} {
		if err := web.CheckColour(c); (err == nil) != ok {
			t.Errorf("CheckColour(%s) = %v", c, err)
		}
	}
}
