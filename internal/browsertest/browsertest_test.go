package browsertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authsvc/authsvc/internal/browsertest"
)

// TestPasskeyCeremony registers a passkey and logs in with it from a real Chromium, verified by
// go-webauthn on the server side.
func TestPasskeyCeremony(t *testing.T) {
	b := browsertest.Start(t)

	t.Run("register then log in", func(t *testing.T) {
		t.Parallel()
		rp := newRelyingParty(t, protocol.VerificationPreferred)
		p := b.NewPage(t)
		authID := p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})

		p.Run(t, chromedp.Navigate(rp.url), chromedp.Tap(chromedp.ID("register")), waitState("registered"))
		reg := rp.credential(t)
		if !reg.Flags.UserPresent || !reg.Flags.UserVerified {
			t.Errorf("registration flags UP=%v UV=%v; want both set", reg.Flags.UserPresent, reg.Flags.UserVerified)
		}

		p.Run(t, chromedp.Tap(chromedp.ID("login")), waitState("logged-in"))
		login := rp.lastLogin(t)
		if !login.flags.UserPresent() || !login.flags.UserVerified() {
			t.Errorf("assertion flags UP=%v UV=%v; want both set", login.flags.UserPresent(), login.flags.UserVerified())
		}
		if !bytes.Equal(login.credential.ID, reg.ID) {
			t.Errorf("logged in with credential %x; registered %x", login.credential.ID, reg.ID)
		}

		creds := p.Credentials(t, authID)
		if len(creds) != 1 {
			t.Fatalf("authenticator holds %d credentials; want 1", len(creds))
		}
		c := creds[0]
		if !bytes.Equal(c.ID, reg.ID) || c.RPID != "localhost" || !c.Resident || !bytes.Equal(c.UserHandle, rp.user.id) {
			t.Errorf("credential = {ID %x RPID %q Resident %v UserHandle %x}; want {ID %x RPID \"localhost\" Resident true UserHandle %x}",
				c.ID, c.RPID, c.Resident, c.UserHandle, reg.ID, rp.user.id)
		}
		if c.SignCount < 1 || uint32(c.SignCount) != login.credential.Authenticator.SignCount {
			t.Errorf("authenticator sign count %d, server saw %d; want equal and >= 1",
				c.SignCount, login.credential.Authenticator.SignCount)
		}

		path := p.Screenshot(t, "logged-in")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cfg, err := png.DecodeConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		t.Logf("screenshot %s (%dx%d)", path, cfg.Width, cfg.Height)
	})

	t.Run("phone with an in-app user agent", func(t *testing.T) {
		t.Parallel()
		const ua = browsertest.DefaultUserAgent + " Instagram 312.0.0.24.110 Android"
		rp := newRelyingParty(t, protocol.VerificationPreferred)
		p := b.NewPage(t, browsertest.WithUserAgent(ua))
		p.Run(t, chromedp.Navigate(rp.url))

		ctx, cancel := context.WithTimeout(p.Ctx(), 10*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[navigator.userAgent, innerWidth, innerHeight,
			devicePixelRatio, navigator.maxTouchPoints > 0, matchMedia("(orientation: portrait)").matches].join("|")`))
		if err != nil {
			t.Fatal(err)
		}
		if want := ua + "|390|844|3|true|true"; got != want {
			t.Errorf("page sees %q; want %q", got, want)
		}
		if h := rp.userAgent(); h != ua {
			t.Errorf("server saw User-Agent %q; want %q", h, ua)
		}
	})

	t.Run("authenticator clears UV", func(t *testing.T) {
		t.Parallel()
		rp := newRelyingParty(t, protocol.VerificationDiscouraged)
		p := b.NewPage(t)
		authID := p.AddVirtualAuthenticator(t, browsertest.Authenticator{UserVerification: true, ResidentKey: true})

		p.Run(t, chromedp.Navigate(rp.url), chromedp.Tap(chromedp.ID("register")), waitState("registered"))
		if !rp.credential(t).Flags.UserVerified {
			t.Fatal("registration without UV; the override must be what clears it")
		}

		p.SetResponseOverrideBits(t, authID, true, false)
		p.Run(t, chromedp.Tap(chromedp.ID("login")), waitState("logged-in"))
		login := rp.lastLogin(t)
		if login.flags.UserVerified() {
			t.Error("assertion has UV set; want it cleared by the override")
		}
		if !login.flags.UserPresent() {
			t.Error("assertion has UP clear; only UV was overridden")
		}
	})
}

// waitState waits until the page's ceremony leaves the "busy" state and fails unless it reached
// want; the page shows the error otherwise, which Page.Run puts in the failure.
func waitState(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		got, err := chromedp.Poll[string](
			`document.body.dataset.state !== "busy" && document.body.dataset.state`,
			chromedp.WithPollingInterval(20*time.Millisecond),
		)(ctx, tgt)
		if err != nil {
			return fmt.Errorf("wait for state %q: %w", want, err)
		}
		if got != want {
			return fmt.Errorf("page state %q; want %q", got, want)
		}
		return nil
	})
}

// user is the one account of a relyingParty.
type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "ada" }
func (u *user) WebAuthnDisplayName() string                { return "Ada" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// login is what the server saw in a successful assertion.
type login struct {
	flags      protocol.AuthenticatorFlags // of this assertion (the stored UV flag never goes back to false)
	credential *webauthn.Credential
}

// relyingParty serves the test page and the four ceremony endpoints for one user, on
// http://localhost:PORT (the listener is 127.0.0.1; WebAuthn refuses an IP as RP ID).
type relyingParty struct {
	url     string
	wa      *webauthn.WebAuthn
	loginUV protocol.UserVerificationRequirement

	mu      sync.Mutex
	user    *user
	session *webauthn.SessionData // of the ceremony in progress; consumed by its finish
	login   *login
	ua      string // User-Agent of the last page load
}

func newRelyingParty(t *testing.T, loginUV protocol.UserVerificationRequirement) *relyingParty {
	t.Helper()
	rp := &relyingParty{loginUV: loginUV, user: &user{id: []byte("user-" + t.Name())}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		rp.ua = r.UserAgent()
		rp.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(testPage))
	})
	mux.HandleFunc("POST /begin-register", rp.beginRegister)
	mux.HandleFunc("POST /finish-register", rp.finishRegister)
	mux.HandleFunc("POST /begin-login", rp.beginLogin)
	mux.HandleFunc("POST /finish-login", rp.finishLogin)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rp.url = "http://localhost:" + port + "/"
	rp.wa, err = webauthn.New(&webauthn.Config{
		RPID:          "localhost",
		RPDisplayName: "t",
		RPOrigins:     []string{"http://localhost:" + port},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// credential returns the registered credential, failing t if there is none.
func (rp *relyingParty) credential(t *testing.T) webauthn.Credential {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.user.creds) != 1 {
		t.Fatalf("server holds %d credentials; want 1", len(rp.user.creds))
	}
	return rp.user.creds[0]
}

// userAgent returns the User-Agent header of the last page load.
func (rp *relyingParty) userAgent() string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.ua
}

// lastLogin returns the last successful assertion, failing t if there is none.
func (rp *relyingParty) lastLogin(t *testing.T) login {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.login == nil {
		t.Fatal("server saw no successful login")
	}
	return *rp.login
}

func (rp *relyingParty) beginRegister(w http.ResponseWriter, _ *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	creation, session, err := rp.wa.BeginRegistration(rp.user,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	rp.session = session
	reply(w, creation, err)
}

func (rp *relyingParty) finishRegister(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	session, err := rp.takeSession()
	if err != nil {
		reply(w, nil, err)
		return
	}
	cred, err := rp.wa.FinishRegistration(rp.user, session, r)
	if err == nil {
		rp.user.creds = append(rp.user.creds, *cred)
	}
	reply(w, struct{}{}, err)
}

func (rp *relyingParty) beginLogin(w http.ResponseWriter, _ *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	assertion, session, err := rp.wa.BeginLogin(rp.user, webauthn.WithUserVerification(rp.loginUV))
	rp.session = session
	reply(w, assertion, err)
}

func (rp *relyingParty) finishLogin(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	session, err := rp.takeSession()
	if err != nil {
		reply(w, nil, err)
		return
	}
	// Parsed here rather than by FinishLogin, to keep this assertion's own flags.
	parsed, err := protocol.ParseCredentialRequestResponseBody(r.Body)
	if err != nil {
		reply(w, nil, err)
		return
	}
	cred, err := rp.wa.ValidateLogin(rp.user, session, parsed)
	if err != nil {
		reply(w, nil, err)
		return
	}
	for i := range rp.user.creds {
		if bytes.Equal(rp.user.creds[i].ID, cred.ID) {
			rp.user.creds[i] = *cred
		}
	}
	rp.login = &login{flags: parsed.Response.AuthenticatorData.Flags, credential: cred}
	reply(w, struct{}{}, nil)
}

// takeSession returns the session of the ceremony in progress and forgets it. rp.mu is held.
func (rp *relyingParty) takeSession() (webauthn.SessionData, error) {
	s := rp.session
	rp.session = nil
	if s == nil {
		return webauthn.SessionData{}, errors.New("no ceremony in progress")
	}
	return *s, nil
}

// reply writes v as JSON, or err as a 400 with go-webauthn's developer details, which the page
// shows and Page.Run then reports.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		msg := err.Error()
		var perr *protocol.Error
		if errors.As(err, &perr) {
			msg = fmt.Sprintf("%s: %s (%s)", perr.Type, perr.Details, perr.DevInfo)
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// testPage runs a ceremony per button. go-webauthn sends binary fields as base64url strings, and
// the page converts them to and from ArrayBuffers itself. body[data-state] is "busy" during a
// ceremony, then "registered", "logged-in" or "failed" (with the error in #status).
const testPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>browsertest passkeys</title>
<style>
  body { font-family: sans-serif; margin: 24px; }
  button { display: block; width: 100%; font-size: 20px; padding: 14px; margin: 12px 0; }
  #status { font-size: 18px; word-break: break-word; }
</style>
</head>
<body data-state="idle">
<h1>Passkeys</h1>
<button id="register">Create a passkey</button>
<button id="login">Sign in with a passkey</button>
<p id="status">idle</p>
<script>
"use strict";
function fromB64url(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}
function toB64url(buf) {
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function withIDs(list) {
  return (list || []).map(c => Object.assign({}, c, {id: fromB64url(c.id)}));
}
async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(path + ": " + r.status + " " + text);
  return JSON.parse(text);
}
async function register() {
  const pk = (await post("/begin-register")).publicKey;
  pk.challenge = fromB64url(pk.challenge);
  pk.user.id = fromB64url(pk.user.id);
  pk.excludeCredentials = withIDs(pk.excludeCredentials);
  const cred = await navigator.credentials.create({publicKey: pk});
  await post("/finish-register", {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: {
      clientDataJSON: toB64url(cred.response.clientDataJSON),
      attestationObject: toB64url(cred.response.attestationObject),
      transports: cred.response.getTransports(),
    },
  });
  return "registered";
}
async function login() {
  const pk = (await post("/begin-login")).publicKey;
  pk.challenge = fromB64url(pk.challenge);
  pk.allowCredentials = withIDs(pk.allowCredentials);
  const cred = await navigator.credentials.get({publicKey: pk});
  const response = {
    clientDataJSON: toB64url(cred.response.clientDataJSON),
    authenticatorData: toB64url(cred.response.authenticatorData),
    signature: toB64url(cred.response.signature),
  };
  if (cred.response.userHandle) response.userHandle = toB64url(cred.response.userHandle);
  await post("/finish-login", {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: response,
  });
  return "logged-in";
}
function run(ceremony) {
  const status = document.getElementById("status");
  document.body.dataset.state = "busy";
  status.textContent = "busy";
  ceremony().then(state => {
    status.textContent = state;
    document.body.dataset.state = state;
  }, err => {
    status.textContent = "failed: " + err.name + ": " + err.message;
    document.body.dataset.state = "failed";
  });
}
document.getElementById("register").addEventListener("click", () => run(register));
document.getElementById("login").addEventListener("click", () => run(login));
</script>
</body>
</html>
`
