package challenge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/verify"
)

// Page is what a customer page shows. It holds no secret and no clear contact point.
type Page struct {
	VerificationID  string
	Brand           string
	Network         string
	HandleMask      string
	DestinationMask string
	// Method is the method whose code was sent (0 when nothing was sent).
	Method Method
	// Methods are the methods this page completes, in order: the sent code's
	// method, then TOTP and WebAuthn where the verification offers them.
	Methods      []Method
	Locale       string
	Expires      time.Time
	AttemptsLeft int
	// Choices are the three numbers a magic-link page offers.
	Choices [3]int
	// Phrase indexes the two words (delivery.Phrase) that the DM text and the
	// page both show, so that the customer can check they belong together.
	Phrase [2]int
	// Phone is the live phone handover the page offers beside its methods
	// (handover.go), or nil.
	Phone *Offer
	// Extendable says the page may offer more time (ExtendCodePage): the
	// verification has extensions left and room before creation plus MaxTTL.
	Extendable bool
	// Extended says the verification was given more time at least once.
	Extended bool
}

// ErrCodeFormat is returned for input that is not a 6-digit code; nothing is counted.
var ErrCodeFormat = verify.ErrCodeFormat

// pageKey finds the key that made a page link's MAC: it is the key the record was
// hashed under. Any failure is ErrNotFound: the page is neutral about why.
func (s *Service) pageKey(token string) (id, kid string, err error) {
	id, mac, ok := splitToken(token)
	if !ok {
		return "", "", ErrNotFound
	}
	for _, k := range s.keys.IDs() {
		want, err := pageMAC(s.keys, k, id)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(mac)) == 1 {
			return id, k, nil
		}
	}
	return "", "", ErrNotFound
}

func (s *Service) page(rec record, id string) (*Page, error) {
	v := s.view(rec, id, s.now())
	if v.State != Pending {
		return nil, ErrNotFound
	}
	p := &Page{VerificationID: id, Brand: s.cfg.Brand, Network: v.Network, HandleMask: v.HandleMask,
		DestinationMask: v.DestinationMask, Method: v.DeliveredMethod, Locale: v.Locale, Expires: v.Expires,
		AttemptsLeft: v.AttemptsLeft, Phrase: s.phrase(id), Extendable: s.extendable(rec),
		Extended: rec.int("xn") > 0}
	if v.DeliveredMethod == OTPSMS || v.DeliveredMethod == OTPEmail {
		p.Methods = append(p.Methods, v.DeliveredMethod)
	}
	p.Methods = append(p.Methods, decodeMethods(rec["em"])...)
	if o := s.parseOffer(rec, s.now()); o != nil && o.Kind == HandoverPhone {
		p.Phone = o
	}
	if v.DeliveredMethod == MagicLink {
		n, _ := strconv.Atoi(rec["mn"])
		p.Choices = verify.MatchChoices(n, s.keys.Name("match-choices", []byte(id)))
	}
	return p, nil
}

// phrase derives a verification's phrase from its id under the naming key: the
// same two words in the DM text and on the page, different (1 in 992) from one
// verification to the next, and nothing stored.
func (s *Service) phrase(id string) [2]int {
	h := s.keys.Name("phrase", []byte(id))
	return delivery.PhraseIndexes(h[0], h[1])
}

// OpenCodePage reads what the code page of token shows. It never changes state:
// link unfurlers and mail scanners fetch every link. Unknown, expired, used and
// canceled links are all ErrNotFound.
func (s *Service) OpenCodePage(ctx context.Context, token string) (*Page, error) {
	id, _, err := s.pageKey(token)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec["dv"] == strconv.Itoa(int(MagicLink)) && rec["em"] == "" {
		return nil, ErrNotFound
	}
	return s.page(rec, id)
}

// SubmitCode checks a code typed on the code page: one script, one round trip.
// requestID is the page's per-render nonce, so a double-submitted form counts once.
// binding is the keyed hash of the browser that submits it (package web): kept
// with the verification once the code verifies, so that what continues the
// verified session works only in that browser.
func (s *Service) SubmitCode(ctx context.Context, token, code, requestID, binding string) (Result, error) {
	id, kid, err := s.pageKey(token)
	if err != nil {
		return Result{}, err
	}
	code, err = verify.NormalizeCode(code)
	if err != nil {
		return Result{}, ErrCodeFormat
	}
	h, err := s.keys.SumWith(kid, "code", []byte(id), []byte(code))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	args := append(append([]any{requestField(s.keys, "page", requestID), string(h[:macLen]), s.verifiedTTL().Milliseconds()},
		s.failureArgs()...), binding)
	reply, err := s.store.run(ctx, codeScript, []string{recordKey(id), identityKey(id)}, ms(s.now()), args...)
	if err != nil {
		return Result{}, err
	}
	if bk, _ := replyString(reply, 2); status(reply) == "verified" && bk != "" {
		// An SMS code entered: the breakers' one credit (a second round trip).
		s.creditEntered(ctx, bk, id)
	}
	res, err := s.pageResult("code", reply)
	if ho, _ := replyString(reply, 1); res.Outcome == OutcomeVerified && ho == "0" {
		res.NoOffer = true
	}
	return res, err
}

// OpenLinkPage reads what the magic-link confirmation page of token shows, without
// changing anything.
func (s *Service) OpenLinkPage(ctx context.Context, token string) (*Page, error) {
	id, secret, ok := splitToken(token)
	if !ok {
		return nil, ErrNotFound
	}
	rec, err := s.store.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.linkMatches(rec, id, secret) {
		return nil, ErrNotFound
	}
	return s.page(rec, id)
}

func (s *Service) linkMatches(rec record, id, secret string) bool {
	if rec["ls"] == "" {
		return false
	}
	h, err := s.keys.SumWith(rec["hk"], "link", []byte(id), []byte(secret))
	return err == nil && keyedhash.Equal(h[:macLen], []byte(rec["ls"]))
}

// ConfirmLink completes a magic link with the number the customer picked; a wrong
// number ends the verification FAILED (number matching is not a guessing game).
// binding is the keyed hash of the browser that picks, as for SubmitCode.
func (s *Service) ConfirmLink(ctx context.Context, token string, number int, requestID, binding string) (Result, error) {
	return s.link(ctx, token, "pick", strconv.Itoa(number), requestID, binding)
}

// ReportLink is "this wasn't me" on a magic-link page.
func (s *Service) ReportLink(ctx context.Context, token, requestID string) (Result, error) {
	return s.link(ctx, token, "report", "", requestID, "")
}

// ReportLinkImpersonation is "this isn't the account I'm talking to" on a
// magic-link page: a report (FAILED, REPORTED) whose audit event says
// r=impersonation, so that the brand's trust-and-safety team can act on the
// account that sent her there.
func (s *Service) ReportLinkImpersonation(ctx context.Context, token, requestID string) (Result, error) {
	return s.link(ctx, token, "impersonation", "", requestID, "")
}

func (s *Service) link(ctx context.Context, token, action, number, requestID, binding string) (Result, error) {
	id, secret, ok := splitToken(token)
	if !ok {
		return Result{}, ErrNotFound
	}
	// The record's key id says which key hashed the token: one read, then the script.
	rec, err := s.store.load(ctx, id)
	if err != nil {
		return Result{}, err
	}
	h, err := s.keys.SumWith(rec["hk"], "link", []byte(id), []byte(secret))
	if err != nil {
		return Result{}, ErrNotFound
	}
	args := append(append([]any{requestField(s.keys, "page", requestID), string(h[:macLen]), action, number,
		s.verifiedTTL().Milliseconds()}, s.failureArgs()...), binding)
	now := s.now()
	calls := []scriptCall{{linkScript, []string{recordKey(id), identityKey(id)}, append([]any{s.store.pubCmd, ms(now)}, args...)}}
	if action == "pick" && number == rec["mn"] && rec["st"] == strconv.Itoa(int(Pending)) && keyedhash.Equal(h[:macLen], []byte(rec["ls"])) {
		// The record read says this pick verifies: the SMS breakers' credit rides in
		// the same round trip (an estimate: a cancel or expiry racing the pick
		// credits a link that did not verify, which only makes the breakers laxer
		// by one).
		calls = append(calls, s.enteredCalls(rec["bk"], id)...)
	}
	replies, err := s.store.pipelined(ctx, calls)
	if err != nil {
		return Result{}, err
	}
	reply := replies[0]
	res, err := s.pageResult("link", reply)
	if err == nil && res.Outcome == OutcomeReported {
		s.reported(ctx, id, now, action == "impersonation")
	}
	return res, err
}

// ReportCodePage is "this wasn't me" on a code page.
func (s *Service) ReportCodePage(ctx context.Context, token, requestID string) (Result, error) {
	return s.reportCodePage(ctx, token, requestID, false)
}

// ReportCodeImpersonation is "this isn't the account I'm talking to" on a code
// page: as ReportCodePage, with an audit event that says r=impersonation.
func (s *Service) ReportCodeImpersonation(ctx context.Context, token, requestID string) (Result, error) {
	return s.reportCodePage(ctx, token, requestID, true)
}

func (s *Service) reportCodePage(ctx context.Context, token, requestID string, impersonation bool) (Result, error) {
	id, _, err := s.pageKey(token)
	if err != nil {
		return Result{}, err
	}
	flag := "0"
	if impersonation {
		flag = "1"
	}
	now := s.now()
	reply, err := s.store.run(ctx, reportScript, []string{recordKey(id)}, ms(now),
		requestField(s.keys, "page", requestID), flag)
	if err != nil {
		return Result{}, err
	}
	res, err := s.pageResult("code", reply)
	if err == nil && res.Outcome == OutcomeReported {
		s.reported(ctx, id, now, impersonation)
	}
	return res, err
}

// reported counts and logs a customer's report (impersonation: she said the
// account talking to her is not the brand's), against the client and agent
// that started the verification: one read of the record, after the script, only
// for a report. The script answers a repeated submission (same request id) with
// its first outcome; the record's finish time tells the two apart (the report
// that ended the verification wrote the time it was given), so a repeat is neither
// counted nor logged again. The report stands whatever this read says: when the
// record cannot be read, the report is still counted and logged without the ids
// it holds. The line names ids only, never a handle, destination or code.
func (s *Service) reported(ctx context.Context, id string, at time.Time, impersonation bool) {
	rec, err := s.store.load(ctx, id)
	if err != nil {
		s.metrics.observeReport()
		s.log.WarnContext(ctx, "verification reported", "verification_id", id, "impersonation", impersonation, "err", err)
		return
	}
	if rec["ft"] != ms(at) {
		return
	}
	s.metrics.observeReport()
	s.log.InfoContext(ctx, "verification reported",
		"verification_id", id, "client_id", rec["cl"], "agent_id", rec["ag"], "impersonation", impersonation)
}

// verifiedTTL keeps a verified record until its assertion can no longer be used
// (revocation is checked against it), plus the retention setting.
func (s *Service) verifiedTTL() time.Duration { return s.minter.Lifetime() + s.cfg.Retention }

func (s *Service) pageResult(kind string, reply []any) (Result, error) {
	outcome := status(reply)
	s.metrics.observeAttempt(kind, outcome)
	switch outcome {
	case "verified":
		return Result{Outcome: OutcomeVerified}, nil
	case "wrong":
		return Result{Outcome: OutcomeWrongCode, AttemptsLeft: intAt(reply, 1)}, nil
	case "failed", "mismatch":
		return Result{Outcome: OutcomeFailed}, nil
	case "reported":
		return Result{Outcome: OutcomeReported}, nil
	case "locked":
		return Result{Outcome: OutcomeLocked, RetryAfter: time.Duration(intAt(reply, 1)) * time.Millisecond}, nil
	case "expired", "state", "gone":
		return Result{Outcome: OutcomeGone}, nil
	}
	return Result{}, errors.Join(ErrUnavailable, fmt.Errorf("unexpected outcome %q", outcome))
}
