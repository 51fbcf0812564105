package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
)

// maxCeremonyBytes bounds a passkey endpoint's JSON body: a PublicKeyCredential
// with an attestation is a few KiB.
const maxCeremonyBytes = 64 << 10

// ceremonyRequest is the body the passkey script posts to begin and finish
// endpoints. Nonce is the page's (begin) or the one begin returned (finish); Lang
// is the page's language, for the reply's message; Credential is the
// PublicKeyCredential as JSON (finish only).
type ceremonyRequest struct {
	Nonce      string          `json:"nonce"`
	Lang       string          `json:"lang"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

// ceremonyReply is every answer of a passkey endpoint. Outcome is one of:
//
//	ok        begin: Options are for navigator.credentials.get/create, Nonce is for finish
//	verified  the verification is complete (final)
//	enrolled  the passkey is enrolled (final)
//	failed    the verification ended FAILED (final)
//	gone      the link does not work any more (final)
//	locked    too many tries for now; wait, then try again
//	retry     that did not work; the page may try again
//	duplicate enroll: this passkey is enrolled already
//	unavailable  the service cannot serve now; try again shortly
//
// Title and Message are in the page's language; Tone styles a final page.
type ceremonyReply struct {
	Outcome string          `json:"outcome"`
	Title   string          `json:"title,omitempty"`
	Message string          `json:"message,omitempty"`
	Tone    string          `json:"tone,omitempty"`
	Options json.RawMessage `json:"options,omitempty"`
	Nonce   string          `json:"nonce,omitempty"`
	// Next, on a verified outcome, is the page to load instead of showing the
	// outcome: the verified page with its handover offer (handover.go).
	Next string `json:"next,omitempty"`
}

// readCeremony checks a passkey endpoint's request before anything reaches the
// domain: POST only, same origin, a JSON body within maxCeremonyBytes, and a
// nonce this service issued for this token and action. On failure it has already
// answered and ok is false.
func (s *server) readCeremony(w http.ResponseWriter, r *http.Request, action string) (req ceremonyRequest, loc *catalog, ok bool) {
	loc = catalogFor(r, "")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.reply(w, http.StatusMethodNotAllowed, ceremonyReply{Outcome: "retry", Message: loc.T("alert.retry")})
		return req, loc, false
	}
	if s.crossOrigin(r) {
		s.reply(w, http.StatusForbidden, ceremonyReply{Outcome: "retry", Message: loc.T("alert.retry")})
		return req, loc, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.reply(w, http.StatusUnsupportedMediaType, ceremonyReply{Outcome: "retry", Message: loc.T("alert.retry")})
		return req, loc, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCeremonyBytes))
	if err != nil {
		status := http.StatusBadRequest
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			status = http.StatusRequestEntityTooLarge
		}
		s.reply(w, status, ceremonyReply{Outcome: "retry", Message: loc.T("alert.retry")})
		return req, loc, false
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.reply(w, http.StatusBadRequest, ceremonyReply{Outcome: "retry", Message: loc.T("alert.retry")})
		return req, loc, false
	}
	loc = catalogFor(r, req.Lang)
	if !s.nonces.valid(req.Nonce, r.PathValue("token"), action) {
		// A page left open past the nonce's life: only a fresh render helps.
		s.reply(w, http.StatusBadRequest, ceremonyReply{Outcome: "retry", Message: loc.T("alert.reload")})
		return req, loc, false
	}
	return req, loc, true
}

// reply writes a passkey endpoint's JSON answer.
func (s *server) reply(w http.ResponseWriter, status int, rep ceremonyReply) {
	b, err := json.Marshal(rep)
	if err != nil {
		s.log.Error("passkey reply", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Accept-Language")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// replyFinal answers with a final outcome: the page shows title and body instead
// of its forms.
func (s *server) replyFinal(w http.ResponseWriter, status int, loc *catalog, outcome, title, body, tone string) {
	s.reply(w, status, ceremonyReply{Outcome: outcome, Title: loc.T(title), Message: loc.T(body), Tone: tone})
}

// replyGone is the JSON twin of the neutral page.
func (s *server) replyGone(w http.ResponseWriter, loc *catalog) {
	s.replyFinal(w, http.StatusNotFound, loc, "gone", "neutral.title", "neutral.body", "")
}

// replyUnavailable is the JSON twin of the 503 page.
func (s *server) replyUnavailable(w http.ResponseWriter, loc *catalog) {
	w.Header().Set("Retry-After", "60")
	s.reply(w, http.StatusServiceUnavailable, ceremonyReply{Outcome: "unavailable", Message: loc.T("unavailable.body")})
}

// replyLocked says how long to wait, in whole minutes rounded up.
func (s *server) replyLocked(w http.ResponseWriter, loc *catalog, retryAfter time.Duration) {
	minutes := max(1, int((retryAfter+time.Minute-1)/time.Minute))
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	s.reply(w, http.StatusTooManyRequests, ceremonyReply{Outcome: "locked", Message: loc.plural("locked.body", minutes)})
}

// passkeyBegin starts a passkey ceremony on the code page.
func (s *server) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	_, loc, ok := s.readCeremony(w, r, actionPasskey)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	token := r.PathValue("token")
	opts, err := s.pages.BeginPasskey(ctx, token)
	if err != nil {
		s.ceremonyError(w, r, loc, err)
		return
	}
	s.replyBegin(w, r, loc, token, actionPasskeyFinish, opts)
}

// replyBegin answers a begin with the ceremony's options and a fresh nonce for
// its finish.
func (s *server) replyBegin(w http.ResponseWriter, r *http.Request, loc *catalog, token, finish string, opts []byte) {
	nonce, err := s.nonces.issue(token, finish)
	if err != nil {
		s.log.ErrorContext(r.Context(), "passkey: finish nonce", "err", err)
		s.replyUnavailable(w, loc)
		return
	}
	if !json.Valid(opts) {
		s.log.ErrorContext(r.Context(), "passkey: ceremony options are not JSON", "route", r.Pattern)
		s.replyUnavailable(w, loc)
		return
	}
	s.reply(w, http.StatusOK, ceremonyReply{Outcome: "ok", Options: opts, Nonce: nonce})
}

// passkeyFinish checks the passkey's answer and says what it did.
func (s *server) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	req, loc, ok := s.readCeremony(w, r, actionPasskeyFinish)
	if !ok {
		return
	}
	if len(req.Credential) == 0 {
		s.reply(w, http.StatusBadRequest, ceremonyReply{Outcome: "retry", Message: loc.T("passkey.retry")})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	secret, binding, err := s.browserBinding(r)
	if err != nil {
		s.ceremonyError(w, r, loc, fmt.Errorf("%w: browser binding: %w", challenge.ErrUnavailable, err))
		return
	}
	res, err := s.pages.FinishPasskey(ctx, r.PathValue("token"), req.Credential, req.Nonce, binding)
	if err != nil {
		s.ceremonyError(w, r, loc, err)
		return
	}
	switch res.Outcome {
	case challenge.OutcomeVerified:
		// This browser completed the verification: it alone may continue it.
		s.bindBrowser(w, secret)
		if s.handovers != nil {
			if _, err := s.handovers.OpenHandover(ctx, r.PathValue("token"), binding); err == nil {
				s.reply(w, http.StatusOK, ceremonyReply{Outcome: "verified", Title: loc.T("verified.title"),
					Message: loc.T("verified.body"), Tone: "ok", Next: s.pageURL("v", r.PathValue("token"))})
				return
			}
		}
		s.replyFinal(w, http.StatusOK, loc, "verified", "verified.title", "verified.body", "ok")
	case challenge.OutcomeWrongCode:
		s.reply(w, http.StatusOK, ceremonyReply{Outcome: "retry", Message: loc.plural("passkey.wrong", res.AttemptsLeft)})
	case challenge.OutcomeCeremony:
		s.reply(w, http.StatusOK, ceremonyReply{Outcome: "retry", Message: loc.T("passkey.retry")})
	case challenge.OutcomeFailed:
		s.replyFinal(w, http.StatusOK, loc, "failed", "failed.title", "failed.body", "stop")
	case challenge.OutcomeLocked:
		s.replyLocked(w, loc, res.RetryAfter)
	case challenge.OutcomeGone:
		s.replyGone(w, loc)
	default:
		s.log.ErrorContext(r.Context(), "unexpected passkey outcome", "outcome", int(res.Outcome))
		s.replyUnavailable(w, loc)
	}
}

// ceremonyError answers a domain error of a code page's passkey endpoint: dead
// links are gone, a locked identity waits, anything else fails closed.
func (s *server) ceremonyError(w http.ResponseWriter, r *http.Request, loc *catalog, err error) {
	if locked, ok := errors.AsType[*challenge.LockedError](err); ok {
		s.replyLocked(w, loc, locked.RetryAfter)
		return
	}
	switch {
	case errors.Is(err, challenge.ErrNotFound):
		s.replyGone(w, loc)
	case errors.Is(err, challenge.ErrUnavailable):
		s.log.WarnContext(r.Context(), "passkey: store unavailable", "route", r.Pattern, "err", err)
		s.replyUnavailable(w, loc)
	default:
		s.log.ErrorContext(r.Context(), "passkey: unexpected error", "route", r.Pattern, "err", err)
		s.replyUnavailable(w, loc)
	}
}
