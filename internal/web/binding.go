package web

import (
	"encoding/base64"
	"io"
	"net/http"
	"time"
)

// Browser binding: what continues a verified session (enrolling a factor; later,
// a handover) works only in the browser that completed the verification, never as
// a bearer URL that travels through the platform or the DM.
//
// A browser that opens a code or link page gets a random 128-bit secret in a
// cookie (bindingCookie), unless it carries one: HttpOnly, SameSite=Lax, Secure
// and __Host-prefixed when the pages are served over https, scoped to this host.
// Each completion call passes the domain the secret's keyed hash (bindingHash), and
// the completion script keeps that hash with the verification only when it
// verifies; the completing response refreshes the cookie.
// An enrollment (package identity) copies the hash from the verification that
// proves it; every enrollment page compares it with the hash of the cookie of the
// browser asking. A browser that already carries a well-formed secret keeps it for
// its next verification, so a double-submitted form or a second verification in
// the same browser binds to the same browser. Nothing but the hash is stored; the
// secret never leaves the browser except back to this host.
const (
	bindingCookieTLS   = "__Host-authsvc-browser"
	bindingCookiePlain = "authsvc-browser"
	bindingSecretLen   = 16
	// bindingMaxAge bounds how long a browser keeps its secret: long enough for
	// the enrollment window after a verification, short enough that a shared
	// device forgets it.
	bindingMaxAge = time.Hour
	// bindingPurpose names the keyed hash of a binding secret.
	bindingPurpose = "browser-binding"
)

var bindingEncoding = base64.RawURLEncoding

// bindingCookie is the name of the binding cookie on this host.
func (s *server) bindingCookie() string {
	if s.cfg.TLS {
		return bindingCookieTLS
	}
	return bindingCookiePlain
}

// bindingSecret returns the binding secret the request's browser carries, or ""
// when it carries none (or a malformed one).
func (s *server) bindingSecret(r *http.Request) string {
	c, err := r.Cookie(s.bindingCookie())
	if err != nil {
		return ""
	}
	raw, err := bindingEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != bindingSecretLen {
		return ""
	}
	return c.Value
}

// bindingHash is the keyed hash of a binding secret, as the domain stores and
// compares it; "" for no secret.
func (s *server) bindingHash(secret string) string {
	if secret == "" {
		return ""
	}
	return bindingEncoding.EncodeToString(s.nonces.keys.Name(bindingPurpose, []byte(secret))[:16])
}

// browserBinding is the binding of the request's browser: its secret, or a fresh
// one when it carries none, and the secret's keyed hash for the domain.
func (s *server) browserBinding(r *http.Request) (secret, hash string, err error) {
	secret = s.bindingSecret(r)
	if secret == "" {
		raw := make([]byte, bindingSecretLen)
		if _, err := io.ReadFull(s.nonces.random, raw); err != nil {
			return "", "", err
		}
		secret = bindingEncoding.EncodeToString(raw)
	}
	return secret, s.bindingHash(secret), nil
}

// bindBrowser sets (or refreshes) the binding cookie, once a verification was
// completed in this browser with secret's hash. It must run before the response's
// header is written.
func (s *server) bindBrowser(w http.ResponseWriter, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.bindingCookie(), Value: secret, Path: "/", MaxAge: int(bindingMaxAge / time.Second),
		HttpOnly: true, Secure: s.cfg.TLS, SameSite: http.SameSiteLaxMode,
	})
}

// requestBinding is the keyed hash of the binding secret the request's browser
// carries, "" for none: what an enrollment page compares with its enrollment's.
func (s *server) requestBinding(r *http.Request) string {
	return s.bindingHash(s.bindingSecret(r))
}
