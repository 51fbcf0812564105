package main

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/browsertest"
)

// The clients of the enrollment test: the brand's care console, a second,
// less trusted platform without the may_enroll grant, and a tool that is
// configured to trust the second platform's enrollments.
const (
	keyConsole = "care-console-api-key-0123456789abcdef"
	keyOther   = "other-platform-api-key-0123456789abcdef"
	keyTrusts  = "trusting-tool-api-key-0123456789abcdef"
)

func writeEnrollClients(t *testing.T, path string) {
	t.Helper()
	sum := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	clients := fmt.Sprintf(`{"clients":[
		{"id":"care-console","api_key_sha256":%q,"rpcs":["*"],"audiences":["care-console"]},
		{"id":"other-platform","api_key_sha256":%q,"rpcs":["*"],"audiences":["crm"]},
		{"id":"trusting-tool","api_key_sha256":%q,"rpcs":["*"],"audiences":["care-console"],
		 "trust_enrollments_from":["other-platform"]}]}`, sum(keyConsole), sum(keyOther), sum(keyTrusts))
	if err := os.WriteFile(path, []byte(clients), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEnrollmentCannotLiftAssurance is issue 15's attack, replayed against a
// production instance (TLS, real Redis, real SMTP, three API clients) with the
// customer's phone as a real headless Chromium:
//
//  1. a client without may_enroll verifies customer C LOW at an address it picks,
//     the verification completed in a browser, and asks for an enrollment link;
//  2. its own HTTP client, holding the link, sees no key and cannot enroll; the
//     browser that completed the verification can, and sees the key once;
//  3. the factor does not complete the care console's SUBSTANTIAL verification
//     of C; it completes one of a client configured to trust that platform;
//  4. while C holds it, no LOW proof binds another factor;
//  5. the notice reaches the proven address through SMTP, and its report link
//     removes the factor and revokes the assertion minted on it.
func TestEnrollmentCannotLiftAssurance(t *testing.T) {
	p := newProduction(t)
	writeEnrollClients(t, p.files.clients)
	in := startService(t, nil, p.env)
	other := newClient(t, in, keyOther, p.roots)
	console := newClient(t, in, keyConsole, p.roots)
	trusting := newClient(t, in, keyTrusts, p.roots)
	enroll := authsvcv1.NewEnrollmentServiceClient(other.conn)
	b := browsertest.Start(t, browsertest.WithHost(testHost, in.addrs.HTTP, p.leaf))
	phone := b.NewPage(t)

	const mallory = "mallory@evil.example"
	dest := &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: mallory}}
	start := func(c *client, requestID, audience string, m authsvcv1.Method, min authsvcv1.AssuranceLevel,
		d *authsvcv1.Destination) (*authsvcv1.StartVerificationResponse, error) {
		return c.api.StartVerification(c.ctx(t), &authsvcv1.StartVerificationRequest{
			Identity:   &authsvcv1.SocialIdentity{Network: "x", UserId: "9001", Handle: "@victim"},
			CustomerId: "cust-victim", Methods: []authsvcv1.Method{m}, MinAssurance: min, Audience: audience,
			AgentId: "agent-1", ConversationId: "conv-" + requestID, Destination: d, RequestId: requestID,
		})
	}

	// 1. A LOW verification at the other platform's own address, completed in the browser.
	low, err := start(other, "low-1", "crm", authsvcv1.Method_METHOD_OTP_EMAIL, authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW, dest)
	if err != nil {
		t.Fatalf("StartVerification: %v", err)
	}
	code, err := extract(codeLine, p.mail.next(t).body)
	if err != nil {
		t.Fatal("no code in the email")
	}
	phone.Run(t, chromedp.Navigate(low.GetCustomerUrl()), waitText(`input#code`),
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), waitHeading("You're verified"))
	res, err := enroll.CreateEnrollmentLink(other.ctx(t), &authsvcv1.CreateEnrollmentLinkRequest{
		CustomerId: "cust-victim", Method: authsvcv1.Method_METHOD_TOTP,
		VerificationId: low.GetVerification().GetVerificationId(), Destination: dest})
	if err != nil {
		t.Fatalf("CreateEnrollmentLink: %v", err)
	}
	link := res.GetEnrollmentUrl()

	// 2. The platform's own HTTP client holds the link: no key, no form, no nonce.
	resp, err := other.http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "otpauth") || strings.Contains(body, `name="nonce"`) {
		t.Fatalf("the link in another client: %d\n%s", resp.StatusCode, body)
	}
	// Even with the page's own nonce, taken from the phone, a POST from elsewhere draws no key.
	phone.Run(t, chromedp.Navigate(link), waitHeading("Set up an authenticator app for Acme"))
	nonce := evaluate[string](t, phone, `document.querySelector('input[name="nonce"]').value`)
	postStatus, body := other.post(t, link, url.Values{"action": {"begin"}, "nonce": {nonce}, "lang": {"en"}})
	if postStatus != http.StatusForbidden || strings.Contains(body, "otpauth") || strings.Contains(body, `id="secret"`) {
		t.Fatalf("begin from another client: %d\n%s", postStatus, body)
	}
	// The phone begins: the key is shown, once.
	phone.Run(t, chromedp.Click(chromedp.CSS("button.primary")), waitText(`#secret`))
	secret := strings.ReplaceAll(evaluate[string](t, phone, `document.getElementById("secret").textContent`), " ", "")
	second := b.NewPage(t) // another tab of the same phone browser
	second.Run(t, chromedp.Navigate(link), waitHeading("Set up an authenticator app for Acme"),
		chromedp.Click(chromedp.CSS("button.primary")), waitHeading("Setup key already shown"))
	if html := evaluate[string](t, second, `document.documentElement.outerHTML`); strings.Contains(html, secret) || strings.Contains(html, "otpauth") {
		t.Fatal("a second begin showed the key")
	}
	// Confirmed with the previous step's code (accepted), so that the current
	// step's code is still unused for the verification below.
	awayFromStepEnd()
	prev := totpCode(t, secret, time.Now().Add(-30*time.Second))
	phone.Run(t, chromedp.SendKeys(chromedp.ID("totp"), prev), chromedp.Submit(chromedp.ID("totp")), waitHeading("Authenticator app set up"))

	// 5 (first half). The notice went to the proven address, with a report link.
	notice := p.mail.next(t)
	if len(notice.to) != 1 || notice.to[0] != mallory || !strings.Contains(notice.body, "an authenticator app was added") {
		t.Fatalf("notice to %v:\n%s", notice.to, notice.body)
	}
	report, err := extract(regexp.MustCompile(`https://`+regexp.QuoteMeta(testHost)+`/r/[A-Za-z0-9._~-]+`), notice.body)
	if err != nil {
		t.Fatalf("no report link in the notice:\n%s", notice.body)
	}

	// 4. While C holds a factor, a LOW proof binds nothing more.
	for _, m := range []authsvcv1.Method{authsvcv1.Method_METHOD_TOTP, authsvcv1.Method_METHOD_WEBAUTHN} {
		_, err := enroll.CreateEnrollmentLink(other.ctx(t), &authsvcv1.CreateEnrollmentLinkRequest{
			CustomerId: "cust-victim", Method: m, VerificationId: low.GetVerification().GetVerificationId(), Destination: dest})
		if reason := errorReason(err); status.Code(err) != codes.PermissionDenied || reason != "STRONGER_PROOF_REQUIRED" {
			t.Fatalf("a second %v after a LOW proof: %v (reason %q)", m, err, reason)
		}
	}

	// 3. The care console does not use the other platform's factor ...
	_, err = start(console, "console-1", "care-console", authsvcv1.Method_METHOD_TOTP,
		authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL, nil)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("the care console's SUBSTANTIAL verification: %v, want FAILED_PRECONDITION (no method)", err)
	}
	// ... a client configured to trust that platform does.
	sub, err := start(trusting, "trusting-1", "care-console", authsvcv1.Method_METHOD_TOTP,
		authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL, nil)
	if err != nil {
		t.Fatalf("the trusting client's SUBSTANTIAL verification: %v", err)
	}
	phone.Run(t, chromedp.Navigate(sub.GetCustomerUrl()), waitText(`input#totp`),
		chromedp.SendKeys(chromedp.ID("totp"), totpCode(t, secret, time.Now())), chromedp.Submit(chromedp.ID("totp")), waitHeading("You're verified"))
	got, err := trusting.api.GetVerification(trusting.ctx(t), &authsvcv1.GetVerificationRequest{
		VerificationId: sub.GetVerification().GetVerificationId()})
	if err != nil || got.GetVerification().GetAssuranceLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL {
		t.Fatalf("GetVerification = %v, %v; want VERIFIED SUBSTANTIAL", got, err)
	}
	token := got.GetVerification().GetAssertion().GetToken()
	asserts := authsvcv1.NewAssertionServiceClient(trusting.conn)
	disclose := func() (*authsvcv1.AuthorizeDisclosureResponse, error) {
		return asserts.AuthorizeDisclosure(trusting.ctx(t), &authsvcv1.AuthorizeDisclosureRequest{
			Assertion: token, Audience: "care-console", DataClass: "shipping_address",
			Channel: authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM, ConversationId: "conv-trusting-1"})
	}
	if d, err := disclose(); err != nil || !d.GetAllowed() {
		t.Fatalf("AuthorizeDisclosure before the report = %v, %v; want allowed", d, err)
	}

	// 5. The customer reports the factor from the notice.
	phone.Run(t, chromedp.Navigate(report), waitHeading("Was this you?"),
		chromedp.Click(chromedp.CSS("button.primary")), waitHeading("Removed"))
	if _, err := disclose(); errorReason(err) != "ASSERTION_REVOKED" {
		t.Fatalf("AuthorizeDisclosure after the report: %v, want ASSERTION_REVOKED", err)
	}
	if _, err := asserts.VerifyAssertion(trusting.ctx(t), &authsvcv1.VerifyAssertionRequest{Assertion: token,
		Audience: "care-console"}); errorReason(err) != "ASSERTION_REVOKED" {
		t.Fatalf("VerifyAssertion after the report: %v, want ASSERTION_REVOKED", err)
	}
	factors, err := authsvcv1.NewEnrollmentServiceClient(console.conn).ListFactors(console.ctx(t),
		&authsvcv1.ListFactorsRequest{CustomerId: "cust-victim"})
	if err != nil || len(factors.GetFactors()) != 0 {
		t.Fatalf("ListFactors after the report = %v, %v; want none", factors, err)
	}
	// The audit log (stdout here) records the report, for the enrolling client. The exporter
	// writes it apart from the request, so wait for it before stopping.
	reported := regexp.MustCompile(`"kind":"factor_reported"[^\n]*"client_id":"other-platform"|"client_id":"other-platform"[^\n]*"kind":"factor_reported"`)
	pollUntil(t, "the audit log's factor_reported for other-platform", func() error {
		if !reported.MatchString(in.stdout.String()) {
			return fmt.Errorf("not exported yet:\n%s", in.stdout)
		}
		return nil
	})
	in.stop(t)
	for _, logs := range []string{in.logs.String(), in.stdout.String()} {
		assertLogsClean(t, logs, secret, code, prev, mallory, link, report, keyOther)
	}
}

// errorReason is the ErrorInfo reason of a gRPC error, "" for none.
func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			return info.GetReason()
		}
	}
	return ""
}

// totpCode is the authenticator app's code for the base32 secret at t.
func totpCode(tb testing.TB, secret string, at time.Time) string {
	tb.Helper()
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil {
		tb.Fatalf("secret %q is not base32: %v", secret, err)
	}
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// awayFromStepEnd waits, when the current 30-second TOTP step has less than 10 s
// left, for the next one to begin: a code computed now (or for the step before)
// must still be inside the server's window when the browser submits it, however
// slow a busy machine makes the submit.
func awayFromStepEnd() {
	if left := 30*time.Second - time.Duration(time.Now().UnixNano()%int64(30*time.Second)); left < 10*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
}

// waitHeading waits until the page's h1 says s (isolation marks around the
// brand or handle left out).
func waitHeading(s string) chromedp.Action[chromedp.Void] {
	return waitJS(`((document.querySelector("h1")||{}).textContent||"").replace(/[\u2066-\u2069]/g, "") === ` + jsString(s))
}

// waitText waits until an element matching the CSS selector exists.
func waitText(selector string) chromedp.Action[chromedp.Void] {
	return waitJS(`document.querySelector(` + jsString(selector) + `) !== null`)
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// waitJS polls a JavaScript condition until it holds or the page's deadline ends.
func waitJS(cond string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool]("!!("+cond+")")(ctx, tgt)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("wait for %s: %w", cond, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// evaluate returns the value of a JavaScript expression on the page.
func evaluate[T any](t *testing.T, p *browsertest.Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx(), 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
