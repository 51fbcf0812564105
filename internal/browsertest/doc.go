// Package browsertest is the test harness that drives a real headless Chromium from Go tests, so
// that a test can load the service's pages as a phone would and run a passkey ceremony against a
// virtual authenticator.
//
// It is test-only: it is imported only from _test.go files and never from production code. It is
// a normal (non-_test) package so that many packages can share it.
//
// Use:
//
//	b := browsertest.Start(t)                // one Chromium for this test, closed in t.Cleanup
//	p := b.NewPage(t)                        // a fresh tab emulating a 390x844 phone
//	id := p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})
//	p.Run(t, chromedp.Navigate("http://localhost:"+port+"/"), chromedp.Tap(chromedp.ID("register")))
//	creds := p.Credentials(t, id)
//	p.Screenshot(t, "registered")            // PNG under ArtifactsDir()
//
// To look like an in-app browser, give the page another User-Agent:
//
//	p := b.NewPage(t, browsertest.WithUserAgent(browsertest.DefaultUserAgent+" Instagram 312.0.0.0.0"))
//
// The contract:
//
//   - Every [Start] launches its own Chromium with a fresh profile in t.TempDir(), in the new
//     headless mode, with background networking, component updates, sync, the default-browser
//     check and the first-run UI switched off, so that it makes no connection of its own on a
//     closed network. As root it runs with --no-sandbox. The browser is started with
//     Pdeathsig = SIGKILL, so it dies with the test binary even if cleanup never runs; t.Cleanup
//     closes it and waits until its processes are gone.
//   - The browser binary is taken from the environment variable CHROMIUM when it is set (an
//     explicit path; a wrong path fails the test), otherwise the first of chromium,
//     chromium-browser and google-chrome on PATH. When none is found the test is skipped with an
//     install hint, or FAILED when CI=true: CI must install Chromium (.ci/run does), so a missing
//     browser can never turn the browser tests into silent skips there.
//   - Pages under test must be served on http://localhost:PORT, not http://127.0.0.1:PORT: WebAuthn
//     refuses an IP address as RP ID, while "localhost" is a secure context with RP ID "localhost".
//     The server may listen on 127.0.0.1.
//   - Waits are bounded: the browser starts within about 30 s, each [Page.Run] and each WebAuthn
//     call within about 20 s, or the test fails with the page's URL, the start of its text and its
//     last console messages.
//   - Screenshots go to [ArtifactsDir] ($BROWSER_ARTIFACTS, else artifacts/screenshots under the
//     module root, which git ignores), named after the test, so a failing run leaves them to look at.
package browsertest
