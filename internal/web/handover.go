package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
)

// Handovers (see package challenge, handover.go). Once the customer verified, her
// page offers the handover the platform asked for, in the browser that verified
// only:
//
//   - Secure channel: "Continue in <channel>" is a POST form (no script) to
//     /v/{token}/handover, which changes nothing and sends the browser (303) to the
//     channel's first configured URL with ?handover=<id>&state=<state>, the state
//     a keyed hash of the handover id and this browser's binding
//     (challenge.Service.BindState). The channel's landing page draws a PKCE
//     verifier, keeps it in its own cookie and sends the browser straight back (a
//     top-level GET, so the SameSite=Lax binding cookie comes along) to
//     /handover/bind?handover=<id>&state=<state>&code_challenge=<S256>&code_challenge_method=S256&redirect_uri=<URL>.
//     authsvc checks that URL byte for byte against the channel's, that the
//     browser carries the binding of the verification and brought back the state
//     its own continue form issued for this handover, and binds the handover to
//     the challenge, once; then it sends the browser (303) to the URL with
//     ?code=<code>&state=<state>. The channel's backend redeems code and verifier.
//     That GET changes state, unlike every other page: it acts only with the
//     binding cookie, which no link unfurler or scanner has, and only with the
//     state, which a cross-site page that learnt the handover id (the platform
//     sees it) does not have, so it cannot make her browser bind its own
//     challenge and spoil her handover; a repeat by the same browser with the
//     same state and challenge answers the same code.
//   - Phone: the page shows the brand's number as a tel: link and the call code,
//     grouped for reading aloud; a pending page shows them beside its methods.
//
// The form's CSP form-action names the channel's origin too: browsers check the
// redirect after a form's POST against it.

// Handovers is what the handover pages need from the lifecycle
// (*challenge.Service implements it).
type Handovers interface {
	// OpenHandover returns the live handover the verified page of token offers to
	// the browser whose binding hash is binding, changing nothing;
	// challenge.ErrNotFound for anything else.
	OpenHandover(ctx context.Context, token, binding string) (*challenge.Offer, error)
	// BindHandover binds a secure-channel handover to the browser and the PKCE
	// challenge and returns the code for the channel, when state is the Offer's
	// State for that browser; channels are those whose redirect URLs include the
	// one asked for.
	BindHandover(ctx context.Context, id, state, challenge, binding string, channels []string) (string, error)
	// CodePageToken returns the code page's token of the verification a magic
	// link just verified, where its handover is offered.
	CodePageToken(linkToken string) (string, error)
}

// WithHandovers serves the handover offers and /handover/bind from h, with the
// deployment's channels and phone line in reg.
func WithHandovers(h Handovers, reg *handover.Registry) Option {
	return func(s *server) { s.handovers, s.channels = h, reg }
}

// actionHandover is the continue form's action (its nonce is bound to it).
const actionHandover = "handover"

// handoverView is the offer on a verified page.
type handoverView struct {
	// Secure channel: the channel's name, where the form posts, its nonce.
	Channel, Action, Nonce string
	// Phone: the number as shown and as a tel: link, the code in groups.
	Number   string
	Tel      template.URL
	CallCode string
	Minutes  int
	// Note is the phone offer's warning, with its minutes.
	Note string
}

// offerView builds the view of offer o for the page of token, or nil when the
// offer names a channel or phone line this deployment no longer has.
func (s *server) offerView(o *challenge.Offer, token string, now time.Time, loc *catalog) (*handoverView, string) {
	minutes := max(1, int(o.Expires.Sub(now).Round(time.Minute)/time.Minute))
	switch o.Kind {
	case challenge.HandoverSecureChannel:
		ch := s.channels.Channel(o.Channel)
		if ch == nil {
			return nil, ""
		}
		nonce, err := s.nonces.issue(token, actionHandover)
		if err != nil {
			return nil, ""
		}
		return &handoverView{Channel: ch.Name(loc.lang), Action: s.pageURL("v", token) + "/handover", Nonce: nonce,
			Minutes: minutes}, originOf(ch.RedirectURLs[0])
	case challenge.HandoverPhone:
		p := s.channels.Phone()
		if p == nil {
			return nil, ""
		}
		return &handoverView{Number: p.Number, Tel: template.URL("tel:" + p.Number), //nolint:gosec // An E.164 number checked at load.
			CallCode: handover.GroupCallCode(o.CallCode), Minutes: minutes,
			Note: loc.plural("handover.phone.note", minutes)}, ""
	}
	return nil, ""
}

// originOf is the origin of an absolute URL, as a CSP source.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// showHandover renders the verified page with the offer of token for this
// browser; it reports false (rendering nothing) when there is none.
func (s *server) showHandover(w http.ResponseWriter, r *http.Request, token, binding, lang string) bool {
	if s.handovers == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	o, err := s.handovers.OpenHandover(ctx, token, binding)
	if err != nil {
		if !errors.Is(err, challenge.ErrNotFound) {
			s.log.WarnContext(r.Context(), "page: handover offer unavailable", "route", r.Pattern, "err", err)
		}
		return false
	}
	if lang == "" {
		lang = o.Locale
	}
	loc := catalogFor(r, lang)
	hv, formTarget := s.offerView(o, token, s.now(), loc)
	if hv == nil {
		return false
	}
	v := &view{catalog: loc, Title: loc.T("verified.title"), Heading: loc.T("verified.title"), Tone: "ok",
		Handover: hv, FormTarget: formTarget}
	s.render(w, http.StatusOK, viewHandover, v)
	return true
}

// handoverContinue is the continue form's POST: it checks the form, then sends
// the browser to the channel's landing page. It changes nothing; the binding is
// checked again, and acted on, at /handover/bind.
func (s *server) handoverContinue(w http.ResponseWriter, r *http.Request) {
	if s.crossOrigin(r) {
		s.neutralPage(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	token := r.PathValue("token")
	if err := r.ParseForm(); err != nil || !s.nonces.valid(r.PostForm.Get("nonce"), token, actionHandover) {
		s.neutralPage(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	o, err := s.handovers.OpenHandover(ctx, token, s.requestBinding(r))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	ch := s.channels.Channel(o.Channel)
	if o.Kind != challenge.HandoverSecureChannel || ch == nil {
		s.neutralPage(w, r)
		return
	}
	if o.State == "" {
		s.neutralPage(w, r)
		return
	}
	http.Redirect(w, r, withQuery(ch.RedirectURLs[0], "handover", o.HandoverID, "state", o.State), http.StatusSeeOther)
}

// withQuery adds name=value pairs (name, value, name, value…) to the query of
// an absolute URL.
func withQuery(raw string, pairs ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// handoverBind binds a secure-channel handover to this browser and the channel's
// PKCE challenge, then sends the browser to the channel with the code and the
// state. The redirect URL must be, byte for byte, one of a channel's: anything
// else is refused here, without a redirect. A bind without the state this
// browser's continue form issued is refused by the domain (audited once per
// reason), with a page that sends her back to hers.
func (s *server) handoverBind(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// The route's GET pattern serves HEAD too; a HEAD binds nothing.
		w.Header().Set("Allow", http.MethodGet)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	redirect, challengeS := q.Get("redirect_uri"), q.Get("code_challenge")
	channels := s.channels.ChannelsFor(redirect)
	loc := catalogFor(r, "")
	if len(channels) == 0 || !handover.ValidChallenge(challengeS) || q.Get("code_challenge_method") != "S256" {
		s.message(w, http.StatusBadRequest, loc, "handover.bad.title", "handover.bad.body", "stop")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	state := q.Get("state")
	code, err := s.handovers.BindHandover(ctx, q.Get("handover"), state, challengeS, s.requestBinding(r), channels)
	switch {
	case err == nil:
		http.Redirect(w, r, withQuery(redirect, "code", code, "state", state), http.StatusSeeOther)
	case errors.Is(err, challenge.ErrHandoverBrowser):
		s.message(w, http.StatusForbidden, loc, "handover.browser.title", "handover.browser.body", "stop")
	case errors.Is(err, challenge.ErrHandoverBindState):
		s.message(w, http.StatusForbidden, loc, "handover.state.title", "handover.state.body", "stop")
	case errors.Is(err, challenge.ErrHandoverRedirect):
		s.message(w, http.StatusBadRequest, loc, "handover.bad.title", "handover.bad.body", "stop")
	case errors.Is(err, challenge.ErrUnavailable):
		s.pageError(w, r, err)
	default:
		// Unknown, used, expired, replaced, or its verification no longer stands.
		s.message(w, http.StatusNotFound, loc, "handover.gone.title", "handover.gone.body", "")
	}
}

// phoneView is the phone offer of a pending page, or nil.
func (s *server) phoneView(p *challenge.Page, token string, loc *catalog) *handoverView {
	if p.Phone == nil || s.channels.Phone() == nil {
		return nil
	}
	hv, _ := s.offerView(p.Phone, token, s.now(), loc)
	return hv
}

// offerAfterVerified renders the verified page with its handover offer, right
// after this browser verified on page kind k; false when there is none. A magic
// link's offer lives on the verification's code page (a used link no longer opens).
func (s *server) offerAfterVerified(w http.ResponseWriter, r *http.Request, k pageKind, token, binding string) bool {
	if s.handovers == nil {
		return false
	}
	if k.path == "l" {
		pt, err := s.handovers.CodePageToken(token)
		if err != nil {
			return false
		}
		token = pt
	}
	return s.showHandover(w, r, token, binding, r.PostForm.Get("lang"))
}
