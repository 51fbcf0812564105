package challenge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/text"
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
	// MaxExtensions bounds how often a customer may give her verification more time
	// on her page (extend.go), each time by its own lifetime, never past creation
	// plus MaxTTL (3; negative: none, the page offers no more time).
	MaxExtensions int
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
	// NumberTypes says which phone numbers may receive SMS (numbertype.go).
	NumberTypes NumberTypes
	// Breakers are the conversion-aware SMS breakers (breaker.go).
	Breakers Breakers
}

// Limits are the abuse limits kept per social identity, across all its
// verifications. Each is kept per client of the identity and, higher, for all
// its clients together: what one client does fills only its own share, so it
// cannot lock or exhaust the identity for another client, and the shared limit
// still bounds a guesser spread over many clients (docs/security.md). Zero values
// take the defaults noted; a shared limit must be higher than its per-client one.
type Limits struct {
	// Failures is how many consecutive failures of one method family, at one
	// client, lock that family for the identity at that client (20; at most 100).
	// A success resets only its family at its client.
	Failures int
	// SharedFailures is how many failures of one family, every client's counted up
	// to Failures, lock the family for every client (Failures × 1.5, rounded up:
	// 30; at most 200).
	SharedFailures int
	// FirstLock is the first lock's length; each further lock doubles it (30 s).
	FirstLock time.Duration
	// LongestLock caps a lock (1 h).
	LongestLock time.Duration
	// FailureWindow forgets failures older than this (24 h).
	FailureWindow time.Duration
	// Sends and SendWindow bound the messages one client sends to one identity (3
	// per 10 min); SharedSends the messages all clients send to it (Sends × 1.5,
	// rounded up: 5).
	Sends       int
	SharedSends int
	SendWindow  time.Duration
	// QuietStarts bounds the starts that send nothing (an authenticator app or a
	// passkey only) that one client makes for one identity per SendWindow (10);
	// SharedQuietStarts those of all clients (QuietStarts × 1.5, rounded up: 15).
	// Each is a generic cell rate: the burst, then one more every SendWindow/N.
	QuietStarts       int
	SharedQuietStarts int
	// Send bounds sends per destination, number prefix, country, client and agent.
	Send SendLimits
}

// DefaultShared is the default of a shared limit: half again its per-client limit,
// rounded up, so that no client fills it alone and one hostile client leaves the
// others at least a third of it.
func DefaultShared(perClient int) int { return perClient + (perClient+1)/2 }

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
	if l.SharedFailures == 0 {
		l.SharedFailures = DefaultShared(l.Failures)
	}
	if l.Sends == 0 {
		l.Sends = 3
	}
	if l.SharedSends == 0 {
		l.SharedSends = DefaultShared(l.Sends)
	}
	if l.SendWindow == 0 {
		l.SendWindow = 10 * time.Minute
	}
	if l.QuietStarts == 0 {
		l.QuietStarts = 10
	}
	if l.SharedQuietStarts == 0 {
		l.SharedQuietStarts = DefaultShared(l.QuietStarts)
	}
	l.Send.setDefaults()
}

// check reports limits that cannot keep their promise: a shared limit one client
// could fill alone.
func (l *Limits) check() error {
	switch {
	case l.Failures < 1 || l.Failures > 100 || l.SharedFailures <= l.Failures || l.SharedFailures > 200:
		return errors.New("challenge: want 1 <= Limits.Failures <= 100 and Failures < SharedFailures <= 200")
	case l.Sends < 1 || l.SharedSends <= l.Sends:
		return errors.New("challenge: want 1 <= Limits.Sends < SharedSends")
	case l.QuietStarts < 1 || l.SharedQuietStarts <= l.QuietStarts:
		return errors.New("challenge: want 1 <= Limits.QuietStarts < SharedQuietStarts")
	case l.FirstLock <= 0 || l.LongestLock < l.FirstLock:
		return errors.New("challenge: want 0 < Limits.FirstLock <= LongestLock")
	}
	return nil
}

// identityLimits is the scripts' argument of the identity's send and start limits
// (start.lua's ARGV[13]): per client and of all clients, sends then quiet starts.
func (s *Service) identityLimits() string {
	l := s.cfg.Limits
	return fmt.Sprintf("%d,%d,%d,%d", l.Sends, l.SharedSends, l.QuietStarts, l.SharedQuietStarts)
}

// failureArgs are the failure arguments the completion scripts take last: the
// identity's failure limits ("per client,shared"), first lock, longest lock and
// failure window, then the wrong attempts that fail one verification (not stored
// in each record).
func (s *Service) failureArgs() []any {
	l := s.cfg.Limits
	return []any{fmt.Sprintf("%d,%d", l.Failures, l.SharedFailures), l.FirstLock.Milliseconds(),
		l.LongestLock.Milliseconds(), l.FailureWindow.Milliseconds(), s.cfg.MaxAttempts}
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
	if c.MaxExtensions == 0 {
		c.MaxExtensions = 3
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
	c.NumberTypes.setDefaults()
	c.Breakers.setDefaults()
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
	// handover holds the handover settings (handover.go).
	handover HandoverConfig
	// risk is the number-intelligence hook asked before an SMS send (nil: none).
	risk       RiskChecker
	riskPolicy RiskPolicy
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
	if err := cfg.Limits.check(); err != nil {
		return nil, err
	}
	if err := cfg.EmailRules.check(); err != nil {
		return nil, err
	}
	if err := cfg.Breakers.check(); err != nil {
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
	// On Cluster (sharded pub/sub) each hash tag keeps its own audit stream. A
	// cluster client may spread keys over nodes; any other client has one server.
	_, cluster := rdb.(*redis.ClusterClient)
	s := &Service{cfg: cfg, store: store{rdb: rdb, pubCmd: pub, auditPerTag: cfg.ShardedPubSub,
		auditRetention: cfg.AuditRetention, oneNode: !cluster}, rdb: rdb, sender: sender, minter: minter,
		keys: keys, now: now, random: random, log: log, metrics: metrics}
	for _, o := range opts {
		o(s)
	}
	s.handover.setDefaults()
	if f := s.factors; f != nil && (f.Seeds == nil || f.WebAuthn == nil) {
		return nil, errors.New("challenge: Factors needs Seeds and WebAuthn")
	}
	return s, nil
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
