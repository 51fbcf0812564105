package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/locale"
	"github.com/authsvc/authsvc/internal/text"
)

// Form actions; each form's nonce is bound to its action.
const (
	actionCode   = "code"
	actionTOTP   = "totp"
	actionPick   = "pick"
	actionReport = "report"
	// actionImpersonation is "this isn't the account I'm talking to": a report
	// that the account that sent her here is not the brand's.
	actionImpersonation = "impersonation"
	// actionPasskey begins a passkey ceremony on the code page; the nonce it
	// carries is the page's. actionPasskeyFinish finishes one; its nonce comes with
	// the ceremony's options, so every ceremony has a request id of its own.
	actionPasskey       = "passkey"
	actionPasskeyFinish = "passkey-finish"
	// actionExtend is "I need more time": the verification's expiry moves forward
	// (WCAG 2.2.1), within the limits challenge.Service.ExtendCodePage keeps.
	actionExtend = "extend"
)

// The code page's sections.
const (
	sectionCode    = "code"
	sectionTOTP    = "totp"
	sectionPasskey = "passkey"
)

// maxFormBytes bounds a page's POST body.
const maxFormBytes = 4 << 10

// pageKind is one of the two customer pages: the code page (/v/) and the magic
// link's number-matching page (/l/).
type pageKind struct {
	path    string   // "v" or "l"
	view    string   // the form template
	actions []string // the forms the page renders
	open    func(s *server, ctx context.Context, token string) (*challenge.Page, error)
}

var (
	codeKind = pageKind{path: "v", view: viewCode, actions: []string{actionCode, actionTOTP, actionReport, actionImpersonation, actionExtend},
		open: func(s *server, ctx context.Context, token string) (*challenge.Page, error) {
			return s.pages.OpenCodePage(ctx, token)
		}}
	linkKind = pageKind{path: "l", view: viewLink, actions: []string{actionPick, actionReport, actionImpersonation, actionExtend},
		open: func(s *server, ctx context.Context, token string) (*challenge.Page, error) {
			return s.pages.OpenLinkPage(ctx, token)
		}}
)

func (k pageKind) accepts(action string) bool {
	for _, a := range k.actions {
		if a == action {
			return true
		}
	}
	return false
}

func (s *server) codePage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, codeKind, http.StatusOK, nil, "")
}

func (s *server) linkPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, linkKind, http.StatusOK, nil, "")
}

// extendedQuery marks the page a successful "I need more time" redirects to: it
// only says so above the forms (the page shows the new expiry as any GET does).
const extendedQuery = "more"

// extendedAlert is the message of the page an extension redirected to, or nil:
// only for a verification that was given more time, so that the query alone
// (a link someone made up) never tells her she has more time than she has.
func extendedAlert(r *http.Request, page *challenge.Page) alert {
	if r.Method != http.MethodGet || r.URL.Query().Get(extendedQuery) != "1" || !page.Extended {
		return nil
	}
	return say("extend.done")
}

// alert is a message shown above a page's forms, in the page's language.
type alert func(*catalog) string

// say is an alert of one catalog text.
func say(key string) alert { return func(c *catalog) string { return c.T(key) } }

// showForm reads the page (changing nothing) and renders its forms with fresh
// nonces, with msg (if any) above them; invalid names the form whose code input
// the message is about.
func (s *server) showForm(w http.ResponseWriter, r *http.Request, k pageKind, status int, msg alert, invalid string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	token := r.PathValue("token")
	page, err := k.open(s, ctx, token)
	if errors.Is(err, challenge.ErrNotFound) && k.path == "v" && r.Method != http.MethodPost &&
		s.showHandover(w, r, token, s.requestBinding(r), "") {
		// Verified in this browser, with a handover to offer.
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if msg == nil {
		msg = extendedAlert(r, page)
	}
	loc := catalogFor(r, page.Locale)
	v := &view{
		catalog: loc, Brand: page.Brand, Network: delivery.NetworkName(page.Network), Handle: page.HandleMask,
		Destination: page.DestinationMask, Action: s.pageURL(k.path, token), Invalid: invalid,
		Nonces: make(map[string]string, len(k.actions)+1), Switch: true,
		Account: s.cfg.Cues.Accounts[strings.ToLower(page.Network)], Expires: page.Expires,
		ExpiresIn: page.Expires.Sub(s.now()),
		Scripts:   []string{s.url(s.assets.pageJSPath)},
		Timing: &timingView{Left: loc.T("trust.left"), Soon: loc.T("timing.soon"), Expired: loc.T("timing.expired"),
			WebOTP: page.Method == challenge.OTPSMS},
	}
	// The phrase is in the DM's language, whatever language the page is in.
	v.Phrase, v.PhraseLang = delivery.Phrase(page.Locale, page.Phrase)
	actions := []string{actionReport, actionImpersonation}
	if page.Extendable {
		// The form sits by the expiry (trustHTML); page.js offers it in its warning.
		actions = append(actions, actionExtend)
		v.Timing.Extend = loc.T("timing.extend")
	}
	if k.path == "v" {
		for _, m := range page.Methods {
			switch m {
			case challenge.OTPSMS, challenge.OTPEmail:
				v.Sections = append(v.Sections, sectionCode)
				actions = append(actions, actionCode)
			case challenge.TOTP:
				v.Sections = append(v.Sections, sectionTOTP)
				actions = append(actions, actionTOTP)
			case challenge.WebAuthn:
				v.Sections = append(v.Sections, sectionPasskey)
				actions = append(actions, actionPasskey)
			}
		}
		v.Title = loc.T("verify.title")
		if len(v.Sections) == 1 && v.Sections[0] == sectionCode {
			v.Title = loc.T("code.title")
		}
		v.Handover = s.phoneView(page, token, loc)
		if v.Has(sectionPasskey) {
			v.Passkey = &ceremonyView{Mode: "get", Begin: v.Action + "/passkey/begin", Finish: v.Action + "/passkey/finish"}
			v.InApp = s.inAppNotice(r, v.Action, v.Has(sectionCode) || v.Has(sectionTOTP))
			v.Scripts = append(v.Scripts, s.url(s.assets.jsPath))
		}
	} else {
		v.Title = loc.T("link.title")
		for _, n := range page.Choices {
			v.Choices = append(v.Choices, strconv.Itoa(n))
		}
		actions = append(actions, actionPick)
	}
	if msg != nil {
		v.Alert = msg(loc)
	}
	for _, a := range actions {
		if v.Nonces[a], err = s.nonces.issue(token, a); err != nil {
			s.pageError(w, r, err)
			return
		}
	}
	if v.Passkey != nil {
		v.Passkey.Nonce = v.Nonces[actionPasskey]
	}
	if s.bindingSecret(r) == "" {
		// The browser gets its binding secret with the page, before it submits
		// anything: a completion whose answer is lost and resubmitted then binds
		// the same secret (the completion keeps its hash; see binding.go).
		secret, _, err := s.browserBinding(r)
		if err != nil {
			s.pageError(w, r, fmt.Errorf("%w: browser binding: %w", challenge.ErrUnavailable, err))
			return
		}
		s.bindBrowser(w, secret)
	}
	s.render(w, status, k.view, v)
}

func (s *server) codePost(w http.ResponseWriter, r *http.Request) { s.post(w, r, codeKind) }

func (s *server) linkPost(w http.ResponseWriter, r *http.Request) { s.post(w, r, linkKind) }

// post acts on a page's form. Nothing reaches the domain unless the request is
// same-origin and carries a nonce this service issued for this token and action.
func (s *server) post(w http.ResponseWriter, r *http.Request, k pageKind) {
	if s.crossOrigin(r) {
		s.showForm(w, r, k, http.StatusForbidden, say("alert.retry"), "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.showForm(w, r, k, http.StatusBadRequest, say("alert.retry"), "")
		return
	}
	token := r.PathValue("token")
	action, nonce := r.PostForm.Get("action"), r.PostForm.Get("nonce")
	if !k.accepts(action) || !s.nonces.valid(nonce, token, action) {
		s.showForm(w, r, k, http.StatusBadRequest, say("alert.retry"), "")
		return
	}
	if action == actionExtend {
		s.extend(w, r, k, token, nonce)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	secret, binding, err := s.browserBinding(r)
	if err != nil {
		s.pageError(w, r, fmt.Errorf("%w: browser binding: %w", challenge.ErrUnavailable, err))
		return
	}
	var res challenge.Result
	switch action {
	case actionCode:
		res, err = s.pages.SubmitCode(ctx, token, r.PostForm.Get("code"), nonce, binding)
	case actionTOTP:
		res, err = s.pages.SubmitTOTP(ctx, token, r.PostForm.Get("code"), nonce, binding)
	case actionPick:
		n, convErr := strconv.Atoi(r.PostForm.Get("number"))
		if convErr != nil || n < 0 || n > 999 {
			s.showForm(w, r, k, http.StatusBadRequest, say("alert.retry"), "")
			return
		}
		res, err = s.pages.ConfirmLink(ctx, token, n, nonce, binding)
	case actionReport:
		if k.path == "v" {
			res, err = s.pages.ReportCodePage(ctx, token, nonce)
		} else {
			res, err = s.pages.ReportLink(ctx, token, nonce)
		}
	case actionImpersonation:
		if k.path == "v" {
			res, err = s.pages.ReportCodeImpersonation(ctx, token, nonce)
		} else {
			res, err = s.pages.ReportLinkImpersonation(ctx, token, nonce)
		}
	}
	if errors.Is(err, challenge.ErrCodeFormat) {
		format := "alert.format"
		if action == actionTOTP {
			format = "alert.format.totp"
		}
		s.showForm(w, r, k, http.StatusUnprocessableEntity, say(format), action)
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if res.Outcome == challenge.OutcomeVerified {
		// This browser completed the verification: it alone may continue it.
		s.bindBrowser(w, secret)
		// NoOffer: the code's answer saw no handover, so there is none to read. One
		// made in the instant since shows on her next GET of the page.
		if !res.NoOffer && s.offerAfterVerified(w, r, k, token, binding) {
			return
		}
	}
	s.outcome(w, r, k, action, res)
}

// extend gives the page's verification more time ("I need more time", WCAG 2.2.1).
// Extended, it redirects to the page (a GET: a reload asks nothing again), which shows
// the new expiry and says it was extended. A refusal shows the page again with a
// message that says why (extended as often as allowed, or as long as any verification
// lives); a verification that ended meanwhile gets a message that says so. The nonce is
// the request id: a double-submitted form extends once.
func (s *server) extend(w http.ResponseWriter, r *http.Request, k pageKind, token, nonce string) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	var err error
	if k.path == "v" {
		_, err = s.pages.ExtendCodePage(ctx, token, nonce)
	} else {
		_, err = s.pages.ExtendLinkPage(ctx, token, nonce)
	}
	switch {
	case err == nil:
		q := url.Values{extendedQuery: {"1"}}
		if l, ok := locale.Exact(r.PostForm.Get("lang")); ok {
			q.Set("lang", l.Name)
		}
		http.Redirect(w, r, s.pageURL(k.path, token)+"?"+q.Encode(), http.StatusSeeOther)
	case errors.Is(err, challenge.ErrExtendLimit):
		s.showForm(w, r, k, http.StatusOK, say("extend.limit"), "")
	case errors.Is(err, challenge.ErrExtendMaxTTL):
		s.showForm(w, r, k, http.StatusOK, say("extend.cap"), "")
	case errors.Is(err, challenge.ErrExpired), errors.Is(err, challenge.ErrNotPending):
		s.message(w, http.StatusOK, catalogFor(r, r.PostForm.Get("lang")), "extend.ended.title", "extend.ended.body", "stop")
	default:
		s.pageError(w, r, err)
	}
}

// outcome renders what an action did.
func (s *server) outcome(w http.ResponseWriter, r *http.Request, k pageKind, action string, res challenge.Result) {
	// The form carries the language it was rendered in (not a secret), so the
	// outcome speaks the verification's language without another read.
	loc := catalogFor(r, r.PostForm.Get("lang"))
	switch res.Outcome {
	case challenge.OutcomeVerified:
		s.message(w, http.StatusOK, loc, "verified.title", "verified.body", "ok")
	case challenge.OutcomeWrongCode:
		s.showForm(w, r, k, http.StatusOK, func(c *catalog) string { return c.plural("alert.wrong", res.AttemptsLeft) }, action)
	case challenge.OutcomeFailed:
		body := "failed.body"
		if k.path == "l" {
			body = "mismatch.body"
		}
		s.message(w, http.StatusOK, loc, "failed.title", body, "stop")
	case challenge.OutcomeReported:
		if action == actionImpersonation {
			brand := text.Isolate(s.cfg.Brand)
			s.render(w, http.StatusOK, viewMessage, &view{catalog: loc, Title: loc.T("impersonation.title"),
				Heading: loc.T("impersonation.title"), Body: loc.T("impersonation.body", brand), Tone: "stop"})
			return
		}
		s.message(w, http.StatusOK, loc, "reported.title", "reported.body", "stop")
	case challenge.OutcomeLocked:
		// Too many failures for this identity: nothing was counted. 429 with the wait,
		// in whole minutes rounded up.
		minutes := max(1, int((res.RetryAfter+time.Minute-1)/time.Minute))
		w.Header().Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Round(time.Second)/time.Second)))
		s.render(w, http.StatusTooManyRequests, viewMessage, &view{catalog: loc, Title: loc.T("locked.title"),
			Heading: loc.T("locked.title"), Body: loc.plural("locked.body", minutes), Tone: "stop"})
	case challenge.OutcomeGone:
		s.neutralPage(w, r)
	default:
		s.log.ErrorContext(r.Context(), "unexpected page outcome", "outcome", int(res.Outcome))
		s.unavailable(w, r)
	}
}

// crossOrigin reports whether a POST comes from another origin. Browsers send
// "Origin: null" for a form POST from a page with Referrer-Policy no-referrer (ours),
// so null is no evidence either way; Sec-Fetch-Site, which modern browsers send,
// then decides. The nonce, bound to the secret page token, is what makes a forged
// POST useless; this check is defence in depth.
func (s *server) crossOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	o := r.Header.Get("Origin")
	return o != "" && o != "null" && o != s.origin
}

// pageError renders the page for a domain error: the neutral page for links that
// do not work, and "try again in a minute" for everything else (fail closed).
func (s *server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, challenge.ErrNotFound):
		s.neutralPage(w, r)
	case errors.Is(err, challenge.ErrUnavailable):
		s.log.WarnContext(r.Context(), "page: store unavailable", "route", r.Pattern, "err", err)
		s.unavailable(w, r)
	default:
		s.log.ErrorContext(r.Context(), "page: unexpected error", "route", r.Pattern, "err", err)
		s.unavailable(w, r)
	}
}

// neutralPage is what every link that does not work gets: the same bytes whether
// it never existed, was malformed, expired, used or canceled.
func (s *server) neutralPage(w http.ResponseWriter, r *http.Request) {
	s.messageSwitch(w, r, http.StatusNotFound, "neutral.title", "neutral.body", "")
}

func (s *server) unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "60")
	s.messageSwitch(w, r, http.StatusServiceUnavailable, "unavailable.title", "unavailable.body", "stop")
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	loc := catalogFor(r, "")
	brand := text.Isolate(s.cfg.Brand)
	s.render(w, http.StatusOK, viewMessage, &view{catalog: loc, Title: loc.T("index.title", brand),
		Heading: loc.T("index.title", brand), Body: loc.T("index.body", brand), Switch: true, Self: s.url("/")})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.messageSwitch(w, r, http.StatusNotFound, "notfound.title", "notfound.body", "")
}

// message renders a page with a heading and one paragraph.
func (s *server) message(w http.ResponseWriter, status int, loc *catalog, title, body, tone string) {
	s.render(w, status, viewMessage, &view{catalog: loc, Title: loc.T(title), Heading: loc.T(title),
		Body: loc.T(body), Tone: tone})
}

// messageSwitch is message in the request's language (catalogFor without a
// verification), with the language switch: for pages a GET shows again as they
// are. The switch's links are relative ("?lang=es": this page, whatever its
// path), so that the neutral page stays the same bytes for every dead link.
func (s *server) messageSwitch(w http.ResponseWriter, r *http.Request, status int, title, body, tone string) {
	loc := catalogFor(r, "")
	s.render(w, status, viewMessage, &view{catalog: loc, Title: loc.T(title), Heading: loc.T(title),
		Body: loc.T(body), Tone: tone, Switch: true, Self: "."})
}
