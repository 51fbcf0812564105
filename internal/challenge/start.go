package challenge

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/locale"
	"github.com/authsvc/authsvc/internal/text"
	"github.com/authsvc/authsvc/internal/verify"
)

// StartRequest is what a platform asks for. Field names in violations follow the API.
type StartRequest struct {
	ClientID       string
	Identity       Identity
	CustomerID     string
	Methods        []Method
	MinAssurance   assurance.Level
	Audience       string
	Scopes         []string
	AgentID        string
	ConversationID string
	Destination    *Destination
	Locale         string
	TTL            time.Duration
	RequestID      string
}

// StartResult is what the platform gets back.
type StartResult struct {
	Verification *Verification
	// PageURL is the customer page, for methods that need one. A secret.
	PageURL string
	// MatchNumber is the number to show in the DM for MAGIC_LINK.
	MatchNumber string
	// DMText is the suggested message for the DM, in the request's locale.
	DMText string
}

var (
	networkPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	scopePattern   = regexp.MustCompile(`^[a-z0-9_:.-]{1,64}$`)
	localePattern  = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$`)
)

// checkText checks an identifier: present when required, at most maxLen bytes,
// UTF-8 without control characters.
func checkText(v *ValidationError, field, s string, required bool, maxLen int) {
	switch {
	case s == "" && required:
		v.add(field, "is required")
	case len(s) > maxLen:
		v.add(field, fmt.Sprintf("must be at most %d bytes", maxLen))
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.add(field, "must be printable UTF-8")
	}
}

// checkDisplay checks a string a person reads (a handle shown on a page and in a
// message, an agent id in the assertion and the audit trail) and replaces it with
// its NFC form: present when required, nothing in it that hides or reorders what
// is shown (see package text), at most maxLen bytes once normalised.
func checkDisplay(v *ValidationError, field string, s *string, required bool, maxLen int) {
	if *s == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	out, err := text.Display(*s)
	switch {
	case err != nil:
		v.add(field, err.Error())
	case len(out) > maxLen:
		v.add(field, fmt.Sprintf("must be at most %d bytes", maxLen))
	default:
		*s = out
	}
}

// validate checks a start request and picks the method to deliver. Strings a
// person reads are replaced by their NFC form. It changes nothing and reveals
// nothing about the identity.
func (s *Service) validate(r *StartRequest) (Method, string, contact, error) {
	var v ValidationError
	dest := s.checkStart(&v, r)
	if err := v.orNil(); err != nil {
		return 0, "", dest, err
	}
	send, enrolled, needs := s.pickMethod(r, dest)
	if send != 0 || enrolled != "" {
		return send, enrolled, dest, nil
	}
	if len(needs) > 0 {
		v.add("destination", strings.Join(needs, "; "))
		return 0, "", dest, &v
	}
	return 0, "", dest, &NoMethodError{Level: max(r.MinAssurance, assurance.Low)}
}

// checkStart adds to v what is wrong with r's fields, and returns r's destination
// in its canonical form.
func (s *Service) checkStart(v *ValidationError, r *StartRequest) contact {
	checkText(v, "identity.network", r.Identity.Network, true, 32)
	if r.Identity.Network != "" && !networkPattern.MatchString(r.Identity.Network) {
		v.add("identity.network", "must match [a-z0-9_-]{1,32}")
	}
	checkText(v, "identity.user_id", r.Identity.UserID, true, 128)
	checkDisplay(v, "identity.handle", &r.Identity.Handle, true, 64)
	checkText(v, "customer_id", r.CustomerID, false, 128)
	checkText(v, "audience", r.Audience, true, 128)
	checkDisplay(v, "agent_id", &r.AgentID, true, 128)
	checkText(v, "conversation_id", r.ConversationID, true, 256)
	checkText(v, "request_id", r.RequestID, true, 128)
	if len(r.Scopes) > 16 {
		v.add("scopes", "at most 16 scopes")
	}
	for i, sc := range r.Scopes {
		if !scopePattern.MatchString(sc) {
			v.add(fmt.Sprintf("scopes[%d]", i), "must match [a-z0-9_:.-]{1,64}")
		}
	}
	if r.Locale != "" && !localePattern.MatchString(r.Locale) {
		v.add("locale", "must be a BCP 47 tag like en or es-MX")
	}
	if r.TTL != 0 && (r.TTL < s.cfg.MinTTL || r.TTL > s.cfg.MaxTTL) {
		v.add("ttl", fmt.Sprintf("must be between %s and %s", s.cfg.MinTTL, s.cfg.MaxTTL))
	}
	if r.MinAssurance != 0 && !r.MinAssurance.Valid() {
		v.add("min_assurance", "is not a level")
	}
	var dest contact
	if r.Destination != nil {
		var problem string
		dest, problem = r.Destination.check(s.cfg.EmailRules)
		if problem != "" {
			v.add(r.Destination.field(), problem)
		}
	}
	if len(r.Methods) == 0 {
		v.add("methods", "name at least one method")
	}
	seen := map[Method]bool{}
	for i, m := range r.Methods {
		if m < MagicLink || m > WebAuthn {
			v.add(fmt.Sprintf("methods[%d]", i), "is not a method")
		} else if seen[m] {
			v.add(fmt.Sprintf("methods[%d]", i), "is repeated")
		}
		seen[m] = true
	}
	if r.Destination != nil && dest.Kind == Phone && !s.countryAllowed(dest) {
		v.add("destination.phone", "SMS to this country is not enabled")
	} else if r.Destination != nil && dest.key != "" {
		s.checkNumberType(v, dest)
	}
	return dest
}

// pickMethod picks the first method, in the platform's order of preference, that
// can be sent with what was given and meets the level; the enrolled methods that
// meet it are only candidates, which the start script offers if the customer holds
// a factor. needs says what the methods that could not be sent lacked.
func (s *Service) pickMethod(r *StartRequest, dest contact) (send Method, enrolled string, needs []string) {
	min := max(r.MinAssurance, assurance.Low)
	for _, m := range r.Methods {
		if !m.MaxLevel().Meets(min) {
			continue
		}
		switch m {
		case OTPEmail, OTPSMS:
			if r.Destination != nil && dest.Kind == m.channel() {
				if send == 0 {
					send = m
				}
				continue
			}
			needs = append(needs, m.String()+" needs destination."+map[DestinationKind]string{Email: "email", Phone: "phone"}[m.channel()])
		case MagicLink:
			if r.Destination != nil {
				if send == 0 {
					send = m
				}
				continue
			}
			needs = append(needs, "magic_link needs a destination")
		case TOTP, WebAuthn:
			if s.factors != nil {
				enrolled += strconv.Itoa(int(m))
			}
		}
	}
	return send, enrolled, needs
}

// NoMethodError says no requested method can reach the level for this customer.
type NoMethodError struct{ Level assurance.Level }

func (e *NoMethodError) Error() string {
	return fmt.Sprintf("challenge: no offered method meets %s for this customer", strings.ToUpper(e.Level.String()))
}

// Start records a verification and sends its code or link. A repeated request id
// returns the same verification and sends nothing twice; if the first call's send
// failed, the repeat sends a fresh secret.
//
// Two round trips: the first records the verification, takes its conversation's
// pointer (from then on only this verification's assertions stand in the
// conversation) and counts every send limit, each on its own slot, in one
// pipeline; the second records the send's outcome and ends what the
// conversation's previous verification started or granted.
func (s *Service) Start(ctx context.Context, r StartRequest) (*StartResult, error) {
	p, err := s.plan(ctx, &r)
	if err != nil {
		return nil, err
	}
	replies, err := s.store.pipelined(ctx, p.calls(s))
	if err != nil {
		// The scripts may have run, their replies lost on every try: give the send
		// claim up, so that the platform's retry sends at once, and take back what
		// this call counted, so that the retry's send is counted once.
		s.refundWithin(ctx, releaseTimeout, p.token, slices.Concat(p.limits, p.breakers), s.releaseCall(p.id, p.token, ""))
		return nil, err
	}
	p.reply = replies[0]
	p.convStatus, _ = replyString(replies[1], 0)
	p.convOther, _ = replyString(replies[1], 1)
	send, err := s.judgeStart(ctx, p, replies[2:])
	if err != nil {
		return nil, err
	}
	// The second round trip, before anything is sent: end what the verification this
	// start took the conversation from started or granted, on its own record (its
	// assertions stopped standing with the pointer), so that it can no longer be
	// completed while the new code is on its way; or, for a start older than the
	// conversation's live verification, end this one.
	if err := s.settleConversation(ctx, p); err != nil {
		if send {
			s.release(ctx, p.id, p.token, "")
		}
		return nil, err
	}
	if p.convStatus == "displaced" {
		send = false
	}
	rec, err := s.startedRecord(ctx, p)
	if err != nil {
		// A repeat reads what the first call recorded: its number, send count and state.
		if send {
			s.release(ctx, p.id, p.token, "")
		}
		return nil, err
	}
	v := s.view(rec, p.id, p.now)
	res := &StartResult{Verification: v, MatchNumber: rec["mn"]}
	if rec["dv"] != strconv.Itoa(int(MagicLink)) || rec["em"] != "" {
		mac, err := pageMAC(s.keys, rec["hk"], p.id)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		res.PageURL = s.pageURL("v", p.id, mac)
	}
	res.DMText = s.dmText(v, res.PageURL, res.MatchNumber)
	if !send {
		return res, nil
	}
	if err := s.deliver(ctx, v, p.dest, p.secret, rec["sq"]); err != nil {
		return res, err
	}
	v.Delivery = DeliverySent
	return res, nil
}

// settleConversation runs what the conversation's pointer asks of a start that
// stands (it made or repeats a verification): supersede the verification it took
// the conversation from (also on a repeat that finds it holds the conversation
// already, so a lost reply never skips it), or, when a newer verification holds the
// conversation, end this start's own. One round trip when there is anything to end.
func (s *Service) settleConversation(ctx context.Context, p *startPlan) error {
	var calls []scriptCall
	switch p.convStatus {
	case "displaced":
		calls = []scriptCall{s.supersedeCall(p.id, p.now)}
		if status(p.reply) == "resend" || status(p.reply) == "created" && p.method != 0 {
			calls = append(calls, s.releaseCall(p.id, p.token, ""))
		}
	case "taken":
		calls = s.supersede(holder(p.convOther), p.id, p.now)
	case "held":
		calls = s.supersede(p.convOther, p.id, p.now)
	}
	if len(calls) == 0 {
		return nil
	}
	_, err := s.store.pipelined(ctx, calls)
	return err
}

// startPlan is a start as it goes to Redis: what the request asks, what it was
// given (the verification's id and tag, its secret, its fields) and, once the
// first round trip answers, the start script's reply and what the conversation's
// pointer said.
type startPlan struct {
	r        *StartRequest
	method   Method
	enrolled string
	dest     contact
	now      time.Time
	expires  time.Time
	id       string
	ih, ch   string
	ckey     string
	secret   string
	token    string
	fields   []any
	args     []any
	limits   []limit
	breakers []limit // the SMS breaker cells the send counts in (breaker.go)
	risk     string  // why the risk hook refused SMS (risk.go), "" when it did not
	conv     pointer

	reply      []any
	convStatus string // conversation.lua's answer: taken, held or displaced
	convOther  string // taken: the pointer's previous value; held: the id it displaced; displaced: the holder
}

// plan checks r, finds its customer and prepares every argument of the first
// round trip. It reads the identity's link when r names no customer but accepts an
// enrolled method, and writes nothing.
func (s *Service) plan(ctx context.Context, r *StartRequest) (*startPlan, error) {
	method, enrolled, dest, err := s.validate(r)
	if err != nil {
		return nil, err
	}
	customer, err := s.customerOf(ctx, r, enrolled)
	if err != nil {
		return nil, err
	}
	if customer == "" {
		enrolled = ""
		if method == 0 {
			return nil, &NoMethodError{Level: max(r.MinAssurance, assurance.Low)}
		}
	}
	p := &startPlan{r: r, method: method, enrolled: enrolled, dest: dest, now: s.now()}
	ttl := cmp.Or(r.TTL, s.cfg.DefaultTTL)
	p.expires = p.now.Add(ttl)
	// A verification of a known customer lives under the customer's tag, beside the
	// customer's factors; otherwise under the identity's.
	tag := identity.IdentityTag(s.keys, r.Identity.Network, r.Identity.UserID)
	if customer != "" {
		tag, p.ch = identity.CustomerTag(s.keys, customer), identity.CustomerHash(s.keys, customer)
	}
	p.ih = identity.IdentityHash(s.keys, r.Identity.Network, r.Identity.UserID)
	p.id = verificationID(s.keys, tag, r.ClientID, r.RequestID)
	if method != 0 && dest.Kind == Phone {
		// The risk hook may refuse the SMS: the verification then offers only the
		// customer's enrolled methods, and says why.
		if p.risk = s.screen(ctx, dest, p.id); p.risk != "" {
			method, p.method = 0, 0
			if enrolled == "" {
				return nil, &SMSRefusedError{Reason: p.risk}
			}
		}
	}
	// The customer's hash when the customer is known, else the identity's link.
	p.ckey = identity.LinkKey(tag, p.ih)
	if p.ch != "" {
		p.ckey = identity.CustomerKey(tag, p.ch)
	}
	if p.token, err = s.callToken(); err != nil {
		return nil, err
	}
	if err := s.planRecord(p, customer, ttl); err != nil {
		return nil, err
	}
	if p.risk != "" {
		p.fields = append(p.fields, "rr", p.risk)
		p.args = append(p.args, "rr", p.risk)
	}
	if method != 0 {
		p.limits = s.sendLimits(r.ClientID, r.AgentID, dest)
		p.breakers = s.breakerCellsOf(dest)
		if bk := breakerRecordField(p.breakers); bk != "" {
			// The cells a completion credits; the record's fields are the script's last arguments.
			p.fields = append(p.fields, "bk", bk)
			p.args = append(p.args, "bk", bk)
		}
	}
	p.conv = s.conversation(r.ClientID, r.ConversationID)
	return p, nil
}

// planRecord draws the start's secret and match number and lays out the record's
// fields and the start script's arguments.
func (s *Service) planRecord(p *startPlan, customer string, ttl time.Duration) error {
	r, kid := p.r, s.keys.Current()
	destHash := s.keys.Sum("destination", []byte{byte(p.dest.Kind)}, []byte(p.dest.key))
	fp := s.keys.Name("fingerprint", []byte(r.Identity.Network), []byte(r.Identity.UserID), []byte(r.Identity.Handle),
		[]byte(r.CustomerID), []byte(encodeMethods(r.Methods)), []byte{byte(r.MinAssurance)}, []byte(r.Audience),
		[]byte(strings.Join(r.Scopes, " ")), []byte(r.AgentID), []byte(r.ConversationID), destHash,
		[]byte(r.Locale), []byte(strconv.FormatInt(int64(ttl), 10)))
	var secretHash []byte
	if p.method != 0 {
		var err error
		if p.secret, secretHash, err = s.newSecret(p.method, kid, p.id); err != nil {
			return err
		}
	}
	codeHash, linkHash, match := string(secretHash), "", ""
	if p.method == MagicLink {
		n, err := verify.NewMatchNumber(s.random)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		codeHash, linkHash, match = "", string(secretHash), strconv.Itoa(n)
	}
	static := record{
		"nw": r.Identity.Network, "ui": r.Identity.UserID, "hm": maskHandle(r.Identity.Handle),
		"cu": customer, "mi": strconv.Itoa(int(r.MinAssurance)),
		"au": r.Audience, "sc": strings.Join(r.Scopes, " "), "ag": r.AgentID, "cv": r.ConversationID,
		"dm": p.dest.mask(), "lo": storedLocale(r.Locale), "tt": strconv.FormatInt(ttl.Milliseconds(), 10), "hk": kid,
	}
	// Fields the scripts read stay apart; the rest travel packed (see record.pack).
	fields := []any{"st", int(Pending), "cl", r.ClientID, "kt", s.clientTag(r.ClientID), "ex", ms(p.expires), "fp", string(fp[:8]), "ih", p.ih}
	if p.method != 0 {
		fields = append(fields, "dh", string(destHash[:macLen]), "dv", int(p.method), "dl", int(DeliverySending), "dt", ms(p.now), "sq", 1)
	} else {
		fields = append(fields, "dl", int(DeliveryNotNeeded))
	}
	pseudonymKey := ""
	if p.ch != "" {
		// The customer's hash, for the factor scripts (and the audit trail's
		// pseudonyms). A factor enrolled at or after the creation time (ex - tt) can
		// never complete this verification.
		fields = append(fields, "ck", p.ch)
		if r.CustomerID == "" {
			// Found through the identity's link, not named: it completes as hers only
			// while the link stands (prelude.lua's link_stands).
			fields = append(fields, "ln", "1")
		}
		// Used only if the customer has no audit pseudonym key yet.
		var err error
		if pseudonymKey, err = s.randomHex(32); err != nil {
			return err
		}
	}
	if codeHash != "" {
		fields = append(fields, "co", codeHash)
	}
	if linkHash != "" {
		fields = append(fields, "ls", linkHash, "mn", match)
	}
	p.fields = append(fields, static.pack()...)
	p.args = append([]any{string(fp[:8]), p.token, (ttl + s.cfg.Retention).Milliseconds(), (2 * s.cfg.SendTimeout).Milliseconds(),
		p.enrolled, idBody(p.id), codeHash, linkHash, p.ih, int(p.method), s.identityLimits(),
		s.cfg.Limits.SendWindow.Milliseconds(), "", recordPrefix(p.id), pseudonymKey, s.cfg.CustomerRetention.Milliseconds(),
		p.dest.mask(), s.cfg.Limits.FailureWindow.Milliseconds(), s.trust(r.ClientID)}, p.fields...)
	return nil
}

// calls is the first round trip: the verification's own script, the conversation's
// pointer and every send limit, each on its own slot.
func (p *startPlan) calls(s *Service) []scriptCall {
	return append([]scriptCall{
		{startScript, []string{recordKey(p.id), identityKey(p.id), p.ckey}, append([]any{s.store.pubCmd, ms(p.now)}, p.args...)},
		p.conv.take(p.id, p.now, p.expires.Add(s.verifiedTTL())),
	}, append(limitCalls(p.limits, ms(p.now), p.token), s.breakerCalls(p.breakers, ms(p.now), p.token)...)...)
}

// giveBack returns the conversation to the verification this start took it from,
// after calls, when the start made no verification: a refused start, or a request
// id reused for another request. A verification that exists keeps a conversation it
// held before this call.
func (p *startPlan) giveBack(calls ...scriptCall) []scriptCall {
	st, marker := status(p.reply), ""
	if st == "locked" || st == "limited" {
		marker, _ = replyString(p.reply, 2)
	}
	if p.convStatus == "displaced" || p.convStatus == "held" && (st == "reused" || marker == "exists") {
		return calls
	}
	return append(calls, p.conv.restore(p.id))
}

// refusal writes to the audit trail that a send limit refused this start.
func (s *Service) refusal(p *startPlan, scope string) scriptCall {
	r := p.r
	return scriptCall{refusedScript, []string{recordKey(p.id), p.ckey, replayKey(p.id, p.token)}, []any{s.store.pubCmd,
		ms(p.now), r.ClientID, r.AgentID, p.method.String(), p.ih, p.ch, scope, p.dest.mask(), replayWindow.Milliseconds()}}
}

// judgeStart reads the first round trip's answers (the start script's, and the
// send limits' in limitReplies): whether to send, or the error to answer. Whatever
// a refused or silent start counted is taken back, with the conversation's pointer.
func (s *Service) judgeStart(ctx context.Context, p *startPlan, limitReplies [][]any) (send bool, err error) {
	denied, added := limitOutcome(p.limits, limitReplies[:len(p.limits)])
	denied, added = s.breakerOutcome(ctx, p.breakers, limitReplies[len(p.limits):], denied, added)
	if p.convStatus == "displaced" {
		// A repeat of a start older than the conversation's live verification: it
		// sends nothing and takes nothing back (settleConversation ends it).
		s.refund(ctx, p.token, added)
		if st := status(p.reply); st == "created" || st == "resend" || st == "exists" {
			return false, nil
		}
		return false, s.startRefused(p)
	}
	switch status(p.reply) {
	case "created":
		if nosend, _ := replyString(p.reply, 3); nosend == "nosend" {
			// The identity's own lock or send window refused the send, but the
			// customer has an enrolled method: the verification offers that alone.
			// Nothing is sent, so whatever the other limits counted (or refused) is
			// taken back.
			s.refund(ctx, p.token, added)
			p.method, denied = 0, nil
		}
		if denied != nil {
			s.refund(ctx, p.token, added, p.giveBack(scriptCall{abortScript, []string{recordKey(p.id), identityKey(p.id)},
				[]any{s.store.pubCmd, ms(p.now), p.ih, ms(p.now)}}, s.refusal(p, denied.Scope))...)
			s.metrics.observeLimit(denied.Scope)
			return false, denied
		}
		s.metrics.started.WithLabelValues(startedLabel(p.method, p.reply)).Inc()
		return p.method != 0, nil
	case "resend":
		// A retry after a failed send makes a new send: it counts, and a limit can
		// refuse it like any send. The claim the script made is then given up; the
		// verification keeps its conversation.
		if denied != nil {
			s.refund(ctx, p.token, added, s.refusal(p, denied.Scope), s.releaseCall(p.id, p.token, ""))
			s.metrics.observeLimit(denied.Scope)
			return false, denied
		}
		return true, nil
	case "exists":
		// A repeat: nothing is sent, and the verification keeps its conversation.
		s.refund(ctx, p.token, added)
		return false, nil
	}
	// Nothing will be sent and no verification was made: whatever the pipeline
	// counted is taken back, the conversation given back (and the identity's limit
	// refusal written to the audit trail, in the same trip).
	if status(p.reply) == "limited" {
		s.refund(ctx, p.token, added, p.giveBack(s.refusal(p, "identity"))...)
	} else {
		s.refund(ctx, p.token, added, p.giveBack()...)
	}
	return false, s.startRefused(p)
}

// startRefused is the error of a start the start script refused.
func (s *Service) startRefused(p *startPlan) error {
	switch status(p.reply) {
	case "reused":
		return ErrRequestReused
	case "quiet":
		// Past the identity's starts that send nothing: answered like a customer no
		// method can reach, so the limit tells no one who has an enrolled factor.
		s.metrics.observeLimit("identity_starts")
		return &NoMethodError{Level: max(p.r.MinAssurance, assurance.Low)}
	case "limited":
		s.metrics.observeLimit("identity")
		return &LimitError{Scope: "identity", RetryAfter: time.Duration(intAt(p.reply, 1)) * time.Millisecond}
	case "erasing":
		return fmt.Errorf("%w: the customer is being erased", ErrUnavailable)
	}
	// "locked", "none": the same answer as for a customer no method can reach: a
	// lock, an unknown customer and a customer without factors reveal nothing
	// (beyond the risk hook's refusal of the SMS, which is about the number).
	if p.risk != "" {
		return &SMSRefusedError{Reason: p.risk}
	}
	return &NoMethodError{Level: max(p.r.MinAssurance, assurance.Low)}
}

// startedRecord is the verification's record as the start left it: made from the
// plan's fields when this call created it, else read back.
func (s *Service) startedRecord(ctx context.Context, p *startPlan) (record, error) {
	if status(p.reply) != "created" {
		return s.store.load(ctx, p.id)
	}
	rec := make(record, len(p.fields)/2)
	for i := 0; i+1 < len(p.fields); i += 2 {
		rec[p.fields[i].(string)] = fmt.Sprint(p.fields[i+1])
	}
	rec.unpack()
	rec["em"], _ = replyString(p.reply, 1)
	rec["lc"], _ = replyString(p.reply, 2)
	if p.method == 0 {
		for _, f := range []string{"dv", "co", "ls", "mn", "dh", "dt", "sq"} {
			delete(rec, f)
		}
		rec["dl"] = strconv.Itoa(int(DeliveryNotNeeded))
	}
	return rec, nil
}

// clientTagLetters spell a client's tag among an identity's or a customer's
// counters (prelude.lua's CT_LEN letters of CT_LETTERS).
const clientTagLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// clientTag names a client among the counters of every identity and customer: 3
// letters of a keyed hash of its id, stored in each record ("kt") for the scripts.
// Keyed, so that no one who may choose a client id can make it collide with
// another client's tag on purpose (two clients share a tag by chance once in
// 140,608 pairs, and then share their per-client counters).
func (s *Service) clientTag(clientID string) string {
	h := s.keys.Name("client-tag", []byte(clientID))
	n := uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])
	b := make([]byte, 3)
	for i := range b {
		b[i] = clientTagLetters[n%52]
		n /= 52
	}
	return string(b)
}

// randomHex returns n random bytes in hex.
func (s *Service) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return hex.EncodeToString(b), nil
}

// callToken tells one call's script runs from another's: go-redis resends a script
// whose reply was lost, and the script must answer that replay as it answered the
// call, not as a client's repeat of the request.
func (s *Service) callToken() (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// releaseTimeout bounds release: one script on a healthy Redis, and little time
// added to an error answer when Redis is down (the claim's lease still applies).
const releaseTimeout = 500 * time.Millisecond

// release gives up the send claim this call's token made, when the call ends in an
// error without sending (see release.lua). It runs detached from the caller and
// bounded, like refund; if it fails too, the claim is left to its lease.
func (s *Service) release(ctx context.Context, id, token, requestField string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if _, err := s.store.run(rctx, releaseScript, []string{recordKey(id), identityKey(id)}, ms(s.now()), token, requestField); err != nil {
		s.log.WarnContext(ctx, "releasing a send claim failed", "verification_id", id, "err", err)
	}
}

// releaseCall is release as a call in a refund's pipeline.
func (s *Service) releaseCall(id, token, requestField string) scriptCall {
	return scriptCall{releaseScript, []string{recordKey(id), identityKey(id)}, []any{s.store.pubCmd, ms(s.now()), token, requestField}}
}

// newSecret draws the one random secret of a send: a code, or a link token.
func (s *Service) newSecret(m Method, kid, id string) (secret string, hash []byte, err error) {
	if m == MagicLink {
		secret, err = verify.NewToken(s.random)
	} else {
		secret, err = verify.NewCode(s.random)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	hash, err = s.secretHash(m, kid, id, secret)
	return secret, hash, err
}

func (s *Service) secretHash(m Method, kid, id, secret string) ([]byte, error) {
	purpose := "code"
	if m == MagicLink {
		purpose = "link"
	}
	h, err := s.keys.SumWith(kid, purpose, []byte(id), []byte(secret))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return h[:macLen], nil
}

func (s *Service) pageURL(kind, id, secret string) string {
	u := *s.cfg.PublicURL
	u.Path = strings.TrimRight(u.Path, "/") + "/" + kind + "/" + id + "." + secret
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

func (s *Service) dmText(v *Verification, pageURL, match string) string {
	p := delivery.DMParams{Locale: v.Locale, Brand: s.cfg.Brand, DestinationMask: v.DestinationMask,
		ExpiresIn: v.Expires.Sub(v.Created).Round(time.Minute)}
	p.Phrase, _ = delivery.Phrase(v.Locale, s.phrase(v.ID))
	switch v.DeliveredMethod {
	case MagicLink:
		p.Kind, p.MatchNumber = delivery.DMPickNumber, match
	case 0:
		p.Kind, p.PageURL = delivery.DMConfirmOnPage, pageURL
		switch {
		case slices.Contains(v.Methods, TOTP) && !slices.Contains(v.Methods, WebAuthn):
			p.Factors = delivery.FactorTOTP
		case slices.Contains(v.Methods, WebAuthn) && !slices.Contains(v.Methods, TOTP):
			p.Factors = delivery.FactorPasskey
		}
	default:
		p.Kind, p.PageURL = delivery.DMOpenPage, pageURL
	}
	return delivery.DMText(p)
}

// recordHeadroom is kept from the caller's deadline to record a send's outcome.
const recordHeadroom = 500 * time.Millisecond

// deliver sends the secret to the destination as the platform gave it, and records
// how the send ended (the second round trip, with the calls after it: superseding
// the conversation's previous verification).
func (s *Service) deliver(ctx context.Context, v *Verification, dest contact, secret, seq string) error {
	m := delivery.Message{
		ID: v.ID + "." + seq, To: dest.Value, Locale: v.Locale, Brand: s.cfg.Brand,
		Network: v.Network, Handle: v.HandleMask, PageHost: s.cfg.PublicURL.Host,
		// Exact: the webhook's expires_at is derived from it; templates round for display.
		ExpiresIn: max(v.Expires.Sub(s.now()), time.Second),
	}
	if dest.Kind == Phone {
		m.Channel = delivery.SMS
	} else {
		m.Channel = delivery.Email
	}
	if v.DeliveredMethod == MagicLink {
		m.Kind, m.Link = delivery.KindLink, s.pageURL("l", v.ID, secret)
	} else {
		m.Kind, m.Code = delivery.KindCode, secret
	}
	// The send ends before the caller's deadline, leaving time to record how it ended,
	// so a slow gateway shows as a failed send rather than a call that timed out.
	timeout := s.cfg.SendTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(deadline)-recordHeadroom, 0))
	}
	sendCtx, cancel := context.WithTimeout(ctx, timeout)
	sendErr := s.sender.Send(sendCtx, m)
	cancel()
	result := DeliverySent
	if sendErr != nil {
		result = DeliveryFailed
	}
	s.metrics.observeSend(dest.Kind, sendErr == nil)
	// Record the outcome even if the caller gave up: a detached, bounded context.
	recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, recErr := s.store.pipelined(recCtx, []scriptCall{{deliveredScript, []string{recordKey(v.ID)},
		[]any{s.store.pubCmd, ms(s.now()), seq, int(result), v.DestinationMask}}})
	if sendErr != nil {
		s.log.WarnContext(ctx, "send failed", "verification_id", v.ID, "channel", m.Channel.String(), "err", sendErr)
		return &SendError{VerificationID: v.ID, Err: sendErr}
	}
	if recErr != nil {
		// The message left; the record still says "sending". A retried request
		// finds the claim and waits for its lease instead of sending again.
		s.log.WarnContext(ctx, "recording a send failed", "verification_id", v.ID, "err", recErr)
	}
	return nil
}

// storedLocale is the supported locale the request's locale names, or "" when it
// names none (empty, unsupported): the messages then speak English, and the
// customer's page her browser's language (package web).
func storedLocale(tag string) string {
	l, ok := locale.Match(tag)
	if !ok {
		return ""
	}
	return l.Name
}
