package web

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/text"
)

// Enrollment form actions, as the hidden "action" field says them. Their nonces
// are bound to the enroll-prefixed names below, apart from every code-page action.
const (
	enrollBegin   = "begin"
	enrollConfirm = "confirm"

	nonceEnrollBegin         = "enroll-begin"
	nonceEnrollConfirm       = "enroll-confirm"
	nonceEnrollPasskey       = "enroll-passkey"
	nonceEnrollPasskeyFinish = "enroll-passkey-finish"
)

// enrollPage is an enrollment link's first page: what it sets up, for which
// brand (never the customer id), and one button. It changes nothing.
func (s *server) enrollPage(w http.ResponseWriter, r *http.Request) {
	s.showEnrollment(w, r, http.StatusOK, nil)
}

// showEnrollment reads the enrollment (changing nothing) and renders its intro.
func (s *server) showEnrollment(w http.ResponseWriter, r *http.Request, status int, msg alert) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	token := r.PathValue("token")
	e, err := s.enroll.OpenEnrollment(ctx, token, s.requestBinding(r))
	if err != nil {
		s.enrollError(w, r, err)
		return
	}
	loc := catalogFor(r, e.Locale)
	v := &view{catalog: loc, Action: s.pageURL("e", token), Nonces: map[string]string{}, Switch: true}
	// (The switch links to Action: the enrollment page itself, read again by a GET.)
	if msg != nil {
		v.Alert = msg(loc)
	}
	switch e.Kind {
	case identity.KindTOTP:
		v.Kind, v.Title = "totp", loc.T("enroll.totp.title", text.Isolate(s.cfg.Brand))
		if v.Nonces[enrollBegin], err = s.nonces.issue(token, nonceEnrollBegin); err != nil {
			s.pageError(w, r, err)
			return
		}
	case identity.KindPasskey:
		v.Kind, v.Title = "passkey", loc.T("enroll.passkey.title", text.Isolate(s.cfg.Brand))
		nonce, err := s.nonces.issue(token, nonceEnrollPasskey)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		v.Passkey = &ceremonyView{Mode: "create", Begin: v.Action + "/passkey/begin",
			Finish: v.Action + "/passkey/finish", Nonce: nonce}
		v.InApp = s.inAppNotice(r, v.Action, false)
		v.Scripts = []string{s.url(s.assets.jsPath)}
	default:
		s.log.ErrorContext(r.Context(), "enrollment of an unknown kind", "kind", int(e.Kind))
		s.unavailable(w, r)
		return
	}
	s.render(w, status, viewEnroll, v)
}

// enrollPost acts on an enrollment page's forms: "begin" shows the TOTP key,
// "confirm" checks the app's first code. Like every page form, nothing reaches
// the store without a same-origin POST carrying this page's nonce.
func (s *server) enrollPost(w http.ResponseWriter, r *http.Request) {
	if s.crossOrigin(r) {
		s.showEnrollment(w, r, http.StatusForbidden, say("alert.retry"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.showEnrollment(w, r, http.StatusBadRequest, say("alert.retry"))
		return
	}
	token, nonce := r.PathValue("token"), r.PostForm.Get("nonce")
	switch action := r.PostForm.Get("action"); {
	case action == enrollBegin && s.nonces.valid(nonce, token, nonceEnrollBegin):
		s.showSetup(w, r, http.StatusOK, nil, false)
	case action == enrollConfirm && s.nonces.valid(nonce, token, nonceEnrollConfirm):
		s.confirmTOTP(w, r)
	default:
		s.showEnrollment(w, r, http.StatusBadRequest, say("alert.retry"))
	}
}

// confirmTOTP enrolls the TOTP factor when the typed code is the app's current one.
// The form's nonce is the request id: a double-submitted form counts once.
func (s *server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	_, err := s.enroll.ConfirmTOTP(ctx, r.PathValue("token"), r.PostForm.Get("code"), r.PostForm.Get("nonce"),
		s.requestBinding(r))
	loc := catalogFor(r, r.PostForm.Get("lang"))
	if err == nil {
		s.message(w, http.StatusOK, loc, "enroll.totp.done.title", "enroll.totp.done.body", "ok")
		return
	}
	if !errors.Is(err, identity.ErrWrongCode) {
		s.enrollError(w, r, err)
		return
	}
	// A wrong (or malformed) code: the form again, saying how many tries are left
	// when the store says; the last one ends the link.
	left := -1
	if ce, ok := errors.AsType[*identity.CodeError](err); ok {
		left = ce.AttemptsLeft
	}
	switch {
	case left == 0:
		s.message(w, http.StatusOK, loc, "failed.title", "enroll.failed.body", "stop")
	case left > 0:
		s.showConfirm(w, r, loc, func(c *catalog) string { return c.plural("enroll.wrong", left) })
	default:
		s.showConfirm(w, r, loc, say("enroll.wrong"))
	}
}

// showConfirm renders the confirmation form again after a wrong code, without the
// key: the key is shown once, when the setup begins.
func (s *server) showConfirm(w http.ResponseWriter, r *http.Request, loc *catalog, msg alert) {
	token := r.PathValue("token")
	v := &view{catalog: loc, Title: loc.T("enroll.setup.title", s.cfg.Brand), Action: s.pageURL("e", token),
		Kind: "totp", Nonces: map[string]string{}, Setup: &totpSetupView{}, Invalid: "totp", Alert: msg(loc)}
	var err error
	if v.Nonces[enrollConfirm], err = s.nonces.issue(token, nonceEnrollConfirm); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, viewEnroll, v)
}

// showSetup shows the TOTP key three ways (QR code, otpauth link, typed) and the
// form that confirms the app's first code. It runs only on a POST, once per
// enrollment: drawing the secret is a change, and a repeat shows no key.
func (s *server) showSetup(w http.ResponseWriter, r *http.Request, status int, msg alert, invalid bool) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	token := r.PathValue("token")
	uri, secret, err := s.enroll.BeginTOTP(ctx, token, s.requestBinding(r))
	if err != nil {
		s.enrollError(w, r, err)
		return
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") {
		s.log.ErrorContext(r.Context(), "totp enrollment: the key URI is not otpauth://totp/")
		s.unavailable(w, r)
		return
	}
	path, size, err := qrPath(uri)
	if err != nil {
		s.log.ErrorContext(r.Context(), "totp enrollment: QR code", "err", err)
		s.unavailable(w, r)
		return
	}
	loc := catalogFor(r, r.PostForm.Get("lang"))
	v := &view{catalog: loc, Title: loc.T("enroll.setup.title", text.Isolate(s.cfg.Brand)), Action: s.pageURL("e", token),
		Kind: "totp", Nonces: map[string]string{},
		Setup: &totpSetupView{QRPath: path, QRSize: size,
			// Our own otpauth://totp/ URI, its scheme checked above: html/template
			// would otherwise replace a URL of that scheme.
			KeyURI: template.URL(uri),
			Secret: groupsOf4(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))}}
	clear(secret)
	if invalid {
		v.Invalid = "totp"
	}
	if msg != nil {
		v.Alert = msg(loc)
	}
	if v.Nonces[enrollConfirm], err = s.nonces.issue(token, nonceEnrollConfirm); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, status, viewEnroll, v)
}

// groupsOf4 splits s into groups of four characters, for typing by hand.
func groupsOf4(s string) []string {
	out := make([]string, 0, (len(s)+3)/4)
	for len(s) > 4 {
		out = append(out, s[:4])
		s = s[4:]
	}
	return append(out, s)
}

// enrollPasskeyBegin starts a passkey registration.
func (s *server) enrollPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	_, loc, ok := s.readCeremony(w, r, nonceEnrollPasskey)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	token := r.PathValue("token")
	creation, err := s.enroll.BeginPasskey(ctx, token, s.requestBinding(r))
	if err != nil {
		s.enrollCeremonyError(w, r, loc, err)
		return
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		s.log.ErrorContext(r.Context(), "passkey enrollment: encode options", "err", err)
		s.replyUnavailable(w, loc)
		return
	}
	s.replyBegin(w, r, loc, token, nonceEnrollPasskeyFinish, opts)
}

// enrollPasskeyFinish registers the passkey the browser created.
func (s *server) enrollPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	req, loc, ok := s.readCeremony(w, r, nonceEnrollPasskeyFinish)
	if !ok {
		return
	}
	if len(req.Credential) == 0 {
		s.reply(w, http.StatusBadRequest, ceremonyReply{Outcome: "retry", Message: loc.T("passkey.retry")})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if _, err := s.enroll.FinishPasskey(ctx, r.PathValue("token"), bytes.NewReader(req.Credential), s.requestBinding(r)); err != nil {
		s.enrollCeremonyError(w, r, loc, err)
		return
	}
	s.replyFinal(w, http.StatusOK, loc, "enrolled", "enroll.passkey.done.title", "enroll.passkey.done.body", "ok")
}

// enrollCeremonyError answers an error of the enrollment's passkey endpoints.
func (s *server) enrollCeremonyError(w http.ResponseWriter, r *http.Request, loc *catalog, err error) {
	switch {
	case errors.Is(err, identity.ErrCeremony):
		s.reply(w, http.StatusOK, ceremonyReply{Outcome: "retry", Message: loc.T("passkey.retry")})
	case errors.Is(err, identity.ErrDuplicateCredential):
		s.reply(w, http.StatusOK, ceremonyReply{Outcome: "duplicate", Message: loc.T("enroll.passkey.duplicate")})
	case errors.Is(err, identity.ErrNotFound):
		s.replyGone(w, loc)
	case errors.Is(err, identity.ErrWrongBrowser):
		s.replyFinal(w, http.StatusForbidden, loc, "gone", "enroll.browser.title", "enroll.browser.body", "stop")
	case isProofError(err):
		s.replyFinal(w, http.StatusConflict, loc, "gone", "enroll.exists.title", "enroll.exists.body", "stop")
	case errors.Is(err, identity.ErrNotice):
		s.replyFinal(w, http.StatusServiceUnavailable, loc, "unavailable", "enroll.notice.title", "enroll.notice.body", "stop")
	case errors.Is(err, identity.ErrUnavailable):
		s.log.WarnContext(r.Context(), "enrollment: store unavailable", "route", r.Pattern, "err", err)
		s.replyUnavailable(w, loc)
	default:
		s.log.ErrorContext(r.Context(), "enrollment: unexpected error", "route", r.Pattern, "err", err)
		s.replyUnavailable(w, loc)
	}
}

// enrollError renders the page for an enrollment error: the neutral page for
// links that do not work, "try again in a minute" for everything else.
func (s *server) enrollError(w http.ResponseWriter, r *http.Request, err error) {
	loc := catalogFor(r, r.PostForm.Get("lang"))
	switch {
	case errors.Is(err, identity.ErrNotFound):
		s.neutralPage(w, r)
	case errors.Is(err, identity.ErrWrongBrowser):
		// Not the neutral page: the link works, only not here; say where it does.
		s.message(w, http.StatusForbidden, loc, "enroll.browser.title", "enroll.browser.body", "stop")
	case errors.Is(err, identity.ErrSeedShown):
		s.message(w, http.StatusConflict, loc, "enroll.shown.title", "enroll.shown.body", "stop")
	case isProofError(err):
		s.message(w, http.StatusConflict, loc, "enroll.exists.title", "enroll.exists.body", "stop")
	case errors.Is(err, identity.ErrNotice):
		w.Header().Set("Retry-After", "60")
		s.message(w, http.StatusServiceUnavailable, loc, "enroll.notice.title", "enroll.notice.body", "stop")
	case errors.Is(err, identity.ErrUnavailable):
		s.log.WarnContext(r.Context(), "enrollment: store unavailable", "route", r.Pattern, "err", err)
		s.unavailable(w, r)
	default:
		s.log.ErrorContext(r.Context(), "enrollment: unexpected error", "route", r.Pattern, "err", err)
		s.unavailable(w, r)
	}
}

// isProofError reports whether err is the binding rule refusing a factor once it
// was about to be stored: the customer holds a factor already.
func isProofError(err error) bool {
	_, ok := errors.AsType[*identity.ProofError](err)
	return ok
}

// reportPage is a first factor's report link: what was added and when, and one
// button that removes it. It changes nothing.
func (s *server) reportPage(w http.ResponseWriter, r *http.Request) {
	s.showReport(w, r, http.StatusOK, nil)
}

func (s *server) showReport(w http.ResponseWriter, r *http.Request, status int, msg alert) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	token := r.PathValue("token")
	rep, err := s.enroll.OpenReport(ctx, token)
	if err != nil {
		s.enrollError(w, r, err)
		return
	}
	loc := catalogFor(r, rep.Locale)
	what := "report.factor.totp"
	if rep.Kind == identity.KindPasskey {
		what = "report.factor.passkey"
	}
	v := &view{catalog: loc, Title: loc.T("report.factor.title"), Action: s.pageURL("r", token), Switch: true,
		Nonces: map[string]string{}, Body: loc.T(what, s.cfg.Brand, rep.Added.UTC().Format("2006-01-02 15:04 UTC"))}
	if msg != nil {
		v.Alert = msg(loc)
	}
	if v.Nonces[actionReport], err = s.nonces.issue(token, nonceFactorReport); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, status, viewReport, v)
}

// nonceFactorReport binds a report page's nonce apart from every other form.
const nonceFactorReport = "factor-report"

// reportPost removes the reported factor: a same-origin POST with the page's nonce.
func (s *server) reportPost(w http.ResponseWriter, r *http.Request) {
	if s.crossOrigin(r) {
		s.showReport(w, r, http.StatusForbidden, say("alert.retry"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.showReport(w, r, http.StatusBadRequest, say("alert.retry"))
		return
	}
	token := r.PathValue("token")
	if r.PostForm.Get("action") != actionReport || !s.nonces.valid(r.PostForm.Get("nonce"), token, nonceFactorReport) {
		s.showReport(w, r, http.StatusBadRequest, say("alert.retry"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if err := s.enroll.Report(ctx, token); err != nil {
		s.enrollError(w, r, err)
		return
	}
	loc := catalogFor(r, r.PostForm.Get("lang"))
	s.render(w, http.StatusOK, viewMessage, &view{catalog: loc, Title: loc.T("report.factor.done.title"),
		Heading: loc.T("report.factor.done.title"), Body: loc.T("report.factor.done.body", s.cfg.Brand), Tone: "ok"})
}
