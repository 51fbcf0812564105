package challenge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/text"
	"github.com/authsvc/authsvc/internal/verify"
)

// Sender sends a code or link to a destination. It returns an error when the
// message was not accepted by the email server or gateway; that error must not
// contain the destination, the code or the link.
type Sender interface {
	Send(ctx context.Context, m delivery.Message) error
}

// Minter signs assertions. Mint must be deterministic for the same claims with an
// Ed25519 key, so re-minting a stored verification yields the same token.
type Minter interface {
	Mint(c assertion.Claims) (string, error)
	Lifetime() time.Duration
}

// Config holds the lifecycle's settings. Zero values take the defaults noted.
type Config struct {
	// PublicURL is the base of every page link (never the request's Host header).
	PublicURL *url.URL
	// Brand names the brand in messages and pages.
	Brand string
	// DefaultTTL is how long a customer has when the request names no ttl (10 min).
	DefaultTTL time.Duration
	// MinTTL and MaxTTL bound a requested ttl (1 min, 60 min).
	MinTTL, MaxTTL time.Duration
	// MaxAttempts is the number of wrong codes that fail a verification (5).
	MaxAttempts int
	// MaxSends bounds the messages one verification may send, resends included (5).
	MaxSends int
	// Retention is how long a verification stays readable after it expires (1 h).
	Retention time.Duration
	// SendTimeout bounds one send; a send claim older than twice this is abandoned (30 s).
	SendTimeout time.Duration
	// ShardedPubSub publishes with SPUBLISH (Redis Cluster) instead of PUBLISH.
	ShardedPubSub bool
	// Limits bound failures and sends per identity.
	Limits Limits
	// EmailRules are mail providers' rules for the local part (dots, +tags) that the
	// canonical form of an email destination applies; none by default.
	EmailRules EmailRules
	// AuditRetention is the longest an audit event stays in its Redis stream: the
	// buffer's hard cap, which every append trims to (cmd/authsvc passes twice
	// AUTHSVC_AUDIT_BUFFER; 90 days when zero). See package audit, "Trimming".
	AuditRetention time.Duration
	// CustomerRetention is the life of a customer's data that a verification may
	// create (its audit pseudonym key): package identity's retention (400 days).
	CustomerRetention time.Duration
}

// Limits are the abuse limits kept per social identity, across all its
// verifications and all clients. Zero values take the defaults noted.
type Limits struct {
	// Failures is how many consecutive failures of one method family lock that
	// family for the identity (20; at most 100). A success resets only its family.
	Failures int
	// FirstLock is the first lock's length; each further lock doubles it (30 s).
	FirstLock time.Duration
	// LongestLock caps a lock (1 h).
	LongestLock time.Duration
	// FailureWindow forgets failures older than this (24 h).
	FailureWindow time.Duration
	// Sends and SendWindow bound the messages sent to one identity (3 per 10 min).
	Sends      int
	SendWindow time.Duration
	// Send bounds sends per destination, number prefix, country, client and agent.
	Send SendLimits
}

func (l *Limits) setDefaults() {
	if l.Failures == 0 {
		l.Failures = 20
	}
	if l.FirstLock == 0 {
		l.FirstLock = 30 * time.Second
	}
	if l.LongestLock == 0 {
		l.LongestLock = time.Hour
	}
	if l.FailureWindow == 0 {
		l.FailureWindow = 24 * time.Hour
	}
	if l.Sends == 0 {
		l.Sends = 3
	}
	if l.SendWindow == 0 {
		l.SendWindow = 10 * time.Minute
	}
	l.Send.setDefaults()
}

// failureArgs are the failure arguments the completion scripts take last: the
// identity's failure limit, first lock, longest lock and failure window, then the
// wrong attempts that fail one verification (not stored in each record).
func (s *Service) failureArgs() []any {
	l := s.cfg.Limits
	return []any{l.Failures, l.FirstLock.Milliseconds(), l.LongestLock.Milliseconds(), l.FailureWindow.Milliseconds(),
		s.cfg.MaxAttempts}
}

func (c *Config) setDefaults() {
	if c.DefaultTTL == 0 {
		c.DefaultTTL = 10 * time.Minute
	}
	if c.MinTTL == 0 {
		c.MinTTL = time.Minute
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = time.Hour
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.MaxSends == 0 {
		c.MaxSends = 5
	}
	if c.Retention == 0 {
		c.Retention = time.Hour
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = 90 * 24 * time.Hour
	}
	if c.CustomerRetention == 0 {
		c.CustomerRetention = 400 * 24 * time.Hour
	}
	c.Limits.setDefaults()
}

// Service is the verification lifecycle. It is safe for concurrent use and keeps
// no state of its own: every decision is one script in Redis.
type Service struct {
	cfg     Config
	store   store
	rdb     redis.UniversalClient
	sender  Sender
	minter  Minter
	keys    *keyedhash.Ring
	now     func() time.Time
	random  io.Reader
	log     *slog.Logger
	metrics *Metrics
	factors *Factors // nil: enrolled methods are not offered
}

// New builds the service. now is the clock every expiry is judged by; random is
// the source of codes and tokens (crypto/rand.Reader in production).
func New(cfg Config, rdb redis.UniversalClient, sender Sender, minter Minter, keys *keyedhash.Ring,
	now func() time.Time, random io.Reader, log *slog.Logger, metrics *Metrics, opts ...Option) (*Service, error) {
	cfg.setDefaults()
	if cfg.PublicURL == nil || cfg.PublicURL.Scheme == "" || cfg.PublicURL.Host == "" {
		return nil, errors.New("challenge: PublicURL must be an absolute URL")
	}
	if cfg.Brand == "" {
		return nil, errors.New("challenge: Brand is required")
	}
	brand, err := text.Display(cfg.Brand)
	if err != nil {
		return nil, fmt.Errorf("challenge: Brand %w", err)
	}
	cfg.Brand = brand
	if cfg.MinTTL > cfg.DefaultTTL || cfg.DefaultTTL > cfg.MaxTTL {
		return nil, errors.New("challenge: want MinTTL <= DefaultTTL <= MaxTTL")
	}
	if l := cfg.Limits; l.Failures < 1 || l.Failures > 100 || l.Sends < 1 || l.FirstLock <= 0 || l.LongestLock < l.FirstLock {
		return nil, errors.New("challenge: want 1 <= Limits.Failures <= 100, Limits.Sends >= 1, 0 < FirstLock <= LongestLock")
	}
	if err := cfg.EmailRules.check(); err != nil {
		return nil, err
	}
	if rdb == nil || sender == nil || minter == nil || keys == nil || now == nil || log == nil || metrics == nil {
		return nil, errors.New("challenge: missing dependency")
	}
	if random == nil {
		random = rand.Reader
	}
	pub := "PUBLISH"
	if cfg.ShardedPubSub {
		pub = "SPUBLISH"
	}
	// On Cluster (sharded pub/sub) each hash tag keeps its own audit stream.
	s := &Service{cfg: cfg, store: store{rdb: rdb, pubCmd: pub, auditPerTag: cfg.ShardedPubSub,
		auditRetention: cfg.AuditRetention}, rdb: rdb, sender: sender, minter: minter,
		keys: keys, now: now, random: random, log: log, metrics: metrics}
	for _, o := range opts {
		o(s)
	}
	if f := s.factors; f != nil && (f.Seeds == nil || f.WebAuthn == nil) {
		return nil, errors.New("challenge: Factors needs Seeds and WebAuthn")
	}
	return s, nil
}

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
// person reads are replaced by their NFC form. It changes
// nothing and reveals nothing about the identity.
func (s *Service) validate(r *StartRequest) (Method, string, contact, error) {
	var v ValidationError
	checkText(&v, "identity.network", r.Identity.Network, true, 32)
	if r.Identity.Network != "" && !networkPattern.MatchString(r.Identity.Network) {
		v.add("identity.network", "must match [a-z0-9_-]{1,32}")
	}
	checkText(&v, "identity.user_id", r.Identity.UserID, true, 128)
	checkDisplay(&v, "identity.handle", &r.Identity.Handle, true, 64)
	checkText(&v, "customer_id", r.CustomerID, false, 128)
	checkText(&v, "audience", r.Audience, true, 128)
	checkDisplay(&v, "agent_id", &r.AgentID, true, 128)
	checkText(&v, "conversation_id", r.ConversationID, true, 256)
	checkText(&v, "request_id", r.RequestID, true, 128)
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
	}
	if err := v.orNil(); err != nil {
		return 0, "", dest, err
	}

	// Pick the first method, in the platform's order of preference, that can be used
	// with what was given and meets the level.
	min := r.MinAssurance
	if min == 0 {
		min = assurance.Low
	}
	// Enrolled methods are offered by the start script, which sees the customer's
	// factors: here they are only the candidates.
	var needs []string
	var send Method
	enrolled := ""
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
	if send != 0 || enrolled != "" {
		return send, enrolled, dest, nil
	}
	if len(needs) > 0 {
		v.add("destination", strings.Join(needs, "; "))
		return 0, "", dest, &v
	}
	return 0, "", dest, &NoMethodError{Level: min}
}

// NoMethodError says no requested method can reach the level for this customer.
type NoMethodError struct{ Level assurance.Level }

func (e *NoMethodError) Error() string {
	return fmt.Sprintf("challenge: no offered method meets %s for this customer", strings.ToUpper(e.Level.String()))
}

// Start records a verification and sends its code or link. A repeated request id
// returns the same verification and sends nothing twice; if the first call's send
// failed, the repeat sends a fresh secret.
func (s *Service) Start(ctx context.Context, r StartRequest) (*StartResult, error) {
	method, enrolled, dest, err := s.validate(&r)
	if err != nil {
		return nil, err
	}
	customer, err := s.customerOf(ctx, &r, enrolled)
	if err != nil {
		return nil, err
	}
	if customer == "" {
		enrolled = ""
		if method == 0 {
			return nil, &NoMethodError{Level: max(r.MinAssurance, assurance.Low)}
		}
	}
	now := s.now()
	ttl := r.TTL
	if ttl == 0 {
		ttl = s.cfg.DefaultTTL
	}
	kid := s.keys.Current()
	// A verification of a known customer lives under the customer's tag, beside the
	// customer's factors; otherwise under the identity's.
	tag, ch := identity.IdentityTag(s.keys, r.Identity.Network, r.Identity.UserID), ""
	if customer != "" {
		tag, ch = identity.CustomerTag(s.keys, customer), identity.CustomerHash(s.keys, customer)
	}
	ih := identity.IdentityHash(s.keys, r.Identity.Network, r.Identity.UserID)
	id := verificationID(s.keys, tag, r.ClientID, r.RequestID)
	destHash := s.keys.Sum("destination", []byte{byte(dest.Kind)}, []byte(dest.key))
	fp := s.keys.Name("fingerprint", []byte(r.Identity.Network), []byte(r.Identity.UserID), []byte(r.Identity.Handle),
		[]byte(r.CustomerID), []byte(encodeMethods(r.Methods)), []byte{byte(r.MinAssurance)}, []byte(r.Audience),
		[]byte(strings.Join(r.Scopes, " ")), []byte(r.AgentID), []byte(r.ConversationID), destHash,
		[]byte(r.Locale), []byte(strconv.FormatInt(int64(ttl), 10)))

	var secret string
	var secretHash []byte
	if method != 0 {
		if secret, secretHash, err = s.newSecret(method, kid, id); err != nil {
			return nil, err
		}
	}
	match := ""
	if method == MagicLink {
		n, err := verify.NewMatchNumber(s.random)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		match = strconv.Itoa(n)
	}
	codeHash, linkHash := "", ""
	if method == MagicLink {
		linkHash = string(secretHash)
	} else {
		codeHash = string(secretHash)
	}
	locale := delivery.MatchLocale(r.Locale)
	expires := now.Add(ttl)
	recTTL := ttl + s.cfg.Retention
	static := record{
		"nw": r.Identity.Network, "ui": r.Identity.UserID, "hm": maskHandle(r.Identity.Handle),
		"cu": customer, "mi": strconv.Itoa(int(r.MinAssurance)),
		"au": r.Audience, "sc": strings.Join(r.Scopes, " "), "ag": r.AgentID, "cv": r.ConversationID,
		"dm": dest.mask(), "lo": locale, "tt": strconv.FormatInt(ttl.Milliseconds(), 10), "hk": kid,
	}
	// Fields the scripts read stay apart; the rest travel packed (see record.pack).
	fields := []any{"st", int(Pending), "cl", r.ClientID, "ex", ms(expires), "fp", string(fp[:8]), "ih", ih}
	if method != 0 {
		fields = append(fields, "dh", string(destHash[:macLen]), "dv", int(method), "dl", int(DeliverySending), "dt", ms(now), "sq", 1)
	} else {
		fields = append(fields, "dl", int(DeliveryNotNeeded))
	}
	if ch != "" {
		// The customer's hash, for the factor scripts (and the audit trail's
		// pseudonyms). A factor enrolled at or after the creation time (ex - tt) can
		// never complete this verification.
		fields = append(fields, "ck", ch)
		if r.CustomerID == "" {
			// Found through the identity's link, not named: it completes as hers only
			// while the link stands (prelude.lua's link_stands).
			fields = append(fields, "ln", "1")
		}
	}
	if codeHash != "" {
		fields = append(fields, "co", codeHash)
	}
	if linkHash != "" {
		fields = append(fields, "ls", linkHash, "mn", match)
	}
	fields = append(fields, static.pack()...)
	token, err := s.callToken()
	if err != nil {
		return nil, err
	}
	pseudonymKey := ""
	if ch != "" {
		// Used only if the customer has no audit pseudonym key yet.
		if pseudonymKey, err = s.randomHex(32); err != nil {
			return nil, err
		}
	}
	args := append([]any{string(fp[:8]), token, recTTL.Milliseconds(), (2 * s.cfg.SendTimeout).Milliseconds(),
		enrolled, idBody(id), codeHash, linkHash, ih, int(method), s.cfg.Limits.Sends,
		s.cfg.Limits.SendWindow.Milliseconds(), "", recordPrefix(id), pseudonymKey, s.cfg.CustomerRetention.Milliseconds(),
		dest.mask(), s.cfg.Limits.FailureWindow.Milliseconds(), s.trust(r.ClientID)}, fields...)
	// The customer's hash when the customer is known, else the identity's link.
	ckey := identity.LinkKey(tag, ih)
	if ch != "" {
		ckey = identity.CustomerKey(tag, ch)
	}
	// refusal writes to the audit trail that a send limit refused this start.
	refusal := func(scope string) scriptCall {
		return scriptCall{refusedScript, []string{recordKey(id), ckey}, []any{s.store.pubCmd, ms(now),
			r.ClientID, r.AgentID, method.String(), ih, ch, scope, dest.mask()}}
	}
	// One round trip: the verification's own script, the conversation's pointer
	// (from here on only this verification's assertions stand in the conversation)
	// and every send limit, each on its own slot, in one pipeline. A refusal undoes
	// what the pipeline added, the pointer included.
	var limits []limit
	if method != 0 {
		limits = s.sendLimits(r.ClientID, r.AgentID, dest)
	}
	conv := s.conversation(r.ClientID, r.ConversationID)
	calls := append([]scriptCall{{startScript, []string{recordKey(id), identityKey(id), ckey},
		append([]any{s.store.pubCmd, ms(now)}, args...)}, conv.take(id, now, expires.Add(s.verifiedTTL()))},
		limitCalls(limits, ms(now))...)
	replies, err := s.store.pipelined(ctx, calls)
	if err != nil {
		// The script may have run and claimed the send, its reply lost on every try:
		// give the claim up, so that the platform's retry sends at once.
		s.release(ctx, id, token, "")
		return nil, err
	}
	reply, prev := replies[0], replyStr(replies[1])
	denied, added := limitOutcome(limits, replies[2:])
	// giveBack returns the conversation to its previous verification: this call
	// made none, or repeats one that may since have been superseded.
	giveBack := func(calls ...scriptCall) []scriptCall {
		if holder(prev) == id {
			return calls
		}
		return append(calls, conv.restore(id, prev))
	}
	send := false
	switch status(reply) {
	case "created":
		if nosend, _ := replyString(reply, 3); nosend == "nosend" {
			// The identity's own lock or send window refused the send, but the
			// customer has an enrolled method: the verification offers that alone.
			// Nothing is sent, so whatever the other limits counted (or refused) is
			// taken back.
			s.refund(ctx, added)
			method, denied = 0, nil
		}
		if denied != nil {
			s.refund(ctx, added, giveBack(scriptCall{abortScript, []string{recordKey(id), identityKey(id)},
				[]any{s.store.pubCmd, ms(now), ih, ms(now)}}, refusal(denied.Scope))...)
			s.metrics.observeLimit(denied.Scope)
			return nil, denied
		}
		s.metrics.started.WithLabelValues(startedLabel(method, reply)).Inc()
		send = method != 0
	case "resend":
		// A retry after a failed send makes a new send: it counts, and a limit can
		// refuse it like any send. The claim the script made is then given up.
		if denied != nil {
			s.refund(ctx, added, giveBack(refusal(denied.Scope))...)
			s.release(ctx, id, token, "")
			s.metrics.observeLimit(denied.Scope)
			return nil, denied
		}
		send = true
	default:
		// Nothing will be sent: whatever the pipeline counted is taken back (and
		// the identity's limit refusal written to the audit trail, in the same trip).
		if status(reply) == "limited" {
			s.refund(ctx, added, giveBack(refusal("identity"))...)
		} else {
			s.refund(ctx, added, giveBack()...)
		}
		switch status(reply) {
		case "reused":
			return nil, ErrRequestReused
		case "locked", "none":
			// The same answer as for a customer no method can reach: a lock, an unknown
			// customer and a customer without factors reveal nothing.
			return nil, &NoMethodError{Level: max(r.MinAssurance, assurance.Low)}
		case "limited":
			s.metrics.observeLimit("identity")
			return nil, &LimitError{Scope: "identity", RetryAfter: time.Duration(intAt(reply, 1)) * time.Millisecond}
		}
	}
	var rec record
	if status(reply) == "created" {
		rec = make(record, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			rec[fields[i].(string)] = fmt.Sprint(fields[i+1])
		}
		rec.unpack()
		rec["em"], _ = replyString(reply, 1)
		rec["lc"], _ = replyString(reply, 2)
		if method == 0 {
			for _, f := range []string{"dv", "co", "ls", "mn", "dh", "dt", "sq"} {
				delete(rec, f)
			}
			rec["dl"] = strconv.Itoa(int(DeliveryNotNeeded))
		}
	} else if rec, err = s.store.load(ctx, id); err != nil {
		// A repeat reads what the first call recorded: its number, send count and state.
		if send {
			s.release(ctx, id, token, "")
		}
		return nil, err
	}
	v := s.view(rec, id, now)
	res := &StartResult{Verification: v, MatchNumber: rec["mn"]}
	if rec["dv"] != strconv.Itoa(int(MagicLink)) || rec["em"] != "" {
		mac, err := pageMAC(s.keys, rec["hk"], id)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		res.PageURL = s.pageURL("v", id, mac)
	}
	res.DMText = s.dmText(v, res.PageURL, res.MatchNumber)
	// The second round trip ends what the conversation's previous verification
	// started or granted, on its own record: beside the send's outcome, or alone
	// when nothing is sent. (Its assertions stopped standing with the pointer.)
	var after []scriptCall
	switch status(reply) {
	case "created":
		after = s.supersede(prev, id, now)
	case "resend":
		after = giveBack()
	default:
		// A repeat of a request: the conversation goes back to whoever had it.
		after = giveBack()
	}
	if !send {
		s.finishStart(ctx, id, after)
		return res, nil
	}
	if err := s.deliver(ctx, v, dest, secret, rec["sq"], after); err != nil {
		return res, err
	}
	v.Delivery = DeliverySent
	return res, nil
}

// finishStart runs the calls a start that sends nothing leaves for its second
// round trip (superseding the conversation's previous verification, or giving the
// conversation back). Like a refund it runs detached from the caller and is
// logged when it fails: a superseded verification's assertions stopped standing
// with the conversation's pointer, so a failure leaves only its record behind.
func (s *Service) finishStart(ctx context.Context, id string, calls []scriptCall) {
	if len(calls) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := s.store.pipelined(rctx, calls); err != nil {
		s.log.WarnContext(ctx, "ending the conversation's previous verification failed", "verification_id", id, "err", err)
	}
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
	if _, err := s.store.run(rctx, releaseScript, []string{recordKey(id)}, ms(s.now()), token, requestField); err != nil {
		s.log.WarnContext(ctx, "releasing a send claim failed", "verification_id", id, "err", err)
	}
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
func (s *Service) deliver(ctx context.Context, v *Verification, dest contact, secret, seq string, after []scriptCall) error {
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
	_, recErr := s.store.pipelined(recCtx, append([]scriptCall{{deliveredScript, []string{recordKey(v.ID)},
		[]any{s.store.pubCmd, ms(s.now()), seq, int(result), v.DestinationMask}}}, after...))
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

// Get returns a verification of this client, with its assertion once verified.
// Another client's verification answers exactly like an unknown one.
func (s *Service) Get(ctx context.Context, clientID, id string) (*Verification, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	now := s.now()
	rec, err := s.store.loadStanding(ctx, id, ms(now))
	if err != nil {
		return nil, err
	}
	if rec["cl"] != clientID {
		return nil, ErrNotFound
	}
	v := s.view(rec, id, now)
	if err := s.attachAssertion(v); err != nil {
		return nil, err
	}
	return v, nil
}

// attachAssertion re-mints the assertion of a verified verification from the
// stored record. Nothing secret is stored: EdDSA signatures are deterministic, so
// every read returns the same token, and its jti is derived from the verification
// and its record's creation time (one jti per incarnation of the record).
func (s *Service) attachAssertion(v *Verification) error {
	if v.State != Verified || v.Revoked {
		return nil
	}
	exp := v.VerifiedAt.Add(s.minter.Lifetime())
	if !s.now().Before(exp) {
		return nil
	}
	jti := s.jti(v.ID, strconv.FormatInt(v.Created.UnixMilli(), 10))
	sub := v.CustomerID
	if sub == "" {
		sub = v.Network + ":" + v.UserID
	}
	tok, err := s.minter.Mint(assertion.Claims{
		Subject: sub, Audience: v.Audience, IssuedAt: v.VerifiedAt, NotBefore: v.VerifiedAt, Expiry: exp,
		AuthTime: v.VerifiedAt, ID: jti, Level: v.Level, AMR: v.AMR, Network: v.Network, UserID: v.UserID,
		ConversationID: v.ConversationID, AgentID: v.AgentID, Scopes: v.Scopes, VerificationID: v.ID,
		ClientID: v.ClientID,
	})
	if err != nil {
		return fmt.Errorf("%w: sign: %w", ErrUnavailable, err)
	}
	v.Assertion = &Assertion{Token: tok, ID: jti, Expires: exp}
	return nil
}

// ResendRequest asks for a new code or link.
type ResendRequest struct {
	ClientID    string
	ID          string
	Destination *Destination
	RequestID   string
}

// Resend sends a new secret; the previous code or link stops working at once.
func (s *Service) Resend(ctx context.Context, r ResendRequest) (*Verification, string, error) {
	var v ValidationError
	checkText(&v, "request_id", r.RequestID, true, 128)
	var dest contact
	if r.Destination == nil {
		v.add("destination", "is required: authsvc keeps only a keyed hash of it")
	} else {
		var problem string
		if dest, problem = r.Destination.check(s.cfg.EmailRules); problem != "" {
			v.add(r.Destination.field(), problem)
		}
	}
	if err := v.orNil(); err != nil {
		return nil, "", err
	}
	if !validID(r.ID) {
		return nil, "", ErrNotFound
	}
	rec, err := s.store.load(ctx, r.ID)
	if err != nil {
		return nil, "", err
	}
	if rec["cl"] != r.ClientID {
		return nil, "", ErrNotFound
	}
	if !s.countryAllowed(dest) {
		return nil, "", &ValidationError{Violations: []Violation{{Field: "destination.phone", Description: "SMS to this country is not enabled"}}}
	}
	cur := s.view(rec, r.ID, s.now())
	// The send limits first, on their own slots; whatever does not end in a send is
	// taken back.
	rf := requestField(s.keys, "resend", r.RequestID)
	limits := s.sendLimits(r.ClientID, rec["ag"], dest)
	replies, err := s.store.pipelined(ctx, limitCalls(limits, ms(s.now())))
	if err != nil {
		return nil, "", err
	}
	denied, added := limitOutcome(limits, replies)
	if denied != nil {
		s.refund(ctx, added, scriptCall{refusedScript, []string{recordKey(r.ID), identity.CustomerKey(r.ID[:tagLen], rec["ck"])},
			[]any{s.store.pubCmd, ms(s.now()), rec["cl"], rec["ag"], cur.DeliveredMethod.String(), rec["ih"], rec["ck"],
				denied.Scope, cur.DestinationMask}})
		s.metrics.observeLimit(denied.Scope)
		return nil, "", denied
	}
	v2, match, sent, err := s.resend(ctx, r, rec, cur, dest, rf)
	if !sent {
		// Nothing left (a refusal, or a repeat of a request that already sent): take
		// the send back from the windows.
		s.refund(ctx, added)
	}
	return v2, match, err
}

// resend claims and makes the send of Resend once the send limits allow it.
func (s *Service) resend(ctx context.Context, r ResendRequest, rec record, cur *Verification, dest contact, rf string) (v *Verification, match string, sent bool, err error) {
	token, err := s.callToken()
	if err != nil {
		return nil, "", false, err
	}
	secret, secretHash, err := s.newSecret(cur.DeliveredMethod, rec["hk"], r.ID)
	if err != nil {
		return nil, "", false, err
	}
	codeHash, linkHash := string(secretHash), ""
	if cur.DeliveredMethod == MagicLink {
		codeHash, linkHash = "", string(secretHash)
	}
	destHash, err := s.keys.SumWith(rec["hk"], "destination", []byte{byte(dest.Kind)}, []byte(dest.key))
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	reply, err := s.store.run(ctx, resendScript, []string{recordKey(r.ID), identityKey(r.ID)}, ms(s.now()),
		rf, string(destHash[:macLen]), codeHash, linkHash,
		(2 * s.cfg.SendTimeout).Milliseconds(), s.cfg.MaxSends, s.cfg.Limits.Sends, s.cfg.Limits.SendWindow.Milliseconds(), token)
	if err != nil {
		// As in Start: a claim this call made and will not honour is given up.
		s.release(ctx, r.ID, token, rf)
		return nil, "", false, err
	}
	switch status(reply) {
	case "send":
		if err := s.deliver(ctx, cur, dest, secret, strconv.Itoa(intAt(reply, 1)), nil); err != nil {
			return nil, "", true, err
		}
		sent = true
	case "repeat":
	case "gone":
		return nil, "", false, ErrNotFound
	case "expired":
		return nil, "", false, ErrExpired
	case "state":
		return nil, "", false, ErrNotPending
	case "nothing":
		return nil, "", false, ErrNothingToSend
	case "mismatch":
		return nil, "", false, ErrDestinationMismatch
	case "busy":
		return nil, "", false, ErrSendInProgress
	case "limit":
		return nil, "", false, ErrResendLimit
	case "locked", "limited":
		s.metrics.observeLimit("identity")
		return nil, "", false, &LimitError{Scope: "identity", RetryAfter: time.Duration(intAt(reply, 1)) * time.Millisecond}
	}
	// The answer is the record as loaded, with this call's send: no read again. A
	// repeat answers the record as it was loaded, which already shows the first send.
	after := *cur
	if sent {
		after.Delivery = DeliverySent
	}
	return &after, rec["mn"], sent, nil
}

// Cancel ends a pending verification as CANCELED, or revokes a verified one's
// assertion (the conversation ended). Failed, expired and canceled ones answer
// ErrNotPending.
func (s *Service) Cancel(ctx context.Context, clientID, id, requestID string) (*Verification, error) {
	var v ValidationError
	checkText(&v, "request_id", requestID, true, 128)
	if err := v.orNil(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, ErrNotFound
	}
	reply, err := s.store.run(ctx, cancelScript, []string{recordKey(id)}, ms(s.now()),
		requestField(s.keys, "cancel", requestID), clientID)
	if err != nil {
		return nil, err
	}
	switch status(reply) {
	case "gone":
		return nil, ErrNotFound
	case "state":
		return nil, ErrNotPending
	case "canceled":
		s.metrics.finished.WithLabelValues("canceled").Inc()
	}
	return s.Get(ctx, clientID, id)
}

// ErrRevoked: the verification behind an assertion was canceled or superseded,
// or its record is gone.
var ErrRevoked = errors.New("challenge: assertion revoked")

// CheckAssertion tells whether the assertion g names, already checked for
// signature and lifetime, is still in force: one round trip (two for an assertion
// minted before it carried its client). It is not once the verification was
// revoked (canceled, or superseded: a newer verification took its conversation),
// completed with a factor the customer no longer holds, or made again after a data
// loss (the assertion's jti is bound to the record's incarnation); a missing record
// is revoked (records outlive their assertions), and a store error is
// ErrUnavailable.
func (s *Service) CheckAssertion(ctx context.Context, g Grant) error {
	return s.standing(ctx, g)
}
