package identity

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/seal"
)

//go:embed scripts/prelude.lua
var prelude string

var (
	//go:embed scripts/link_entry.lua
	linkEntrySrc string
	//go:embed scripts/link_pointer.lua
	linkPointerSrc string
	//go:embed scripts/link_done.lua
	linkDoneSrc string
	//go:embed scripts/link_rollback.lua
	linkRollbackSrc string
	//go:embed scripts/unlink_pointer.lua
	unlinkPointerSrc string
	//go:embed scripts/unlink_entry.lua
	unlinkEntrySrc string
	//go:embed scripts/remove_factor.lua
	removeFactorSrc string
	//go:embed scripts/credential_claim.lua
	credentialClaimSrc string
	//go:embed scripts/credential_release.lua
	credentialReleaseSrc string
	//go:embed scripts/enroll_create.lua
	enrollCreateSrc string
	//go:embed scripts/totp_begin.lua
	totpBeginSrc string
	//go:embed scripts/totp_confirm.lua
	totpConfirmSrc string
	//go:embed scripts/passkey_begin.lua
	passkeyBeginSrc string
	//go:embed scripts/passkey_take.lua
	passkeyTakeSrc string
	//go:embed scripts/passkey_finish.lua
	passkeyFinishSrc string
	//go:embed scripts/erase_begin.lua
	eraseBeginSrc string
	//go:embed scripts/erase_keys.lua
	eraseKeysSrc string
	//go:embed scripts/erase_counters.lua
	eraseCountersSrc string
	//go:embed scripts/erase_customer.lua
	eraseCustomerSrc string
	//go:embed scripts/erase_trail.lua
	eraseTrailSrc string
	//go:embed scripts/report_factor.lua
	reportFactorSrc string
)

// Each state change is one script. The link, factor, credential and erasure
// scripts need no prelude; the enrollment scripts share one (the clock and the "is
// open" guard). The scripts that make a change the audit trail records write its
// event themselves, with the audit helpers (audited, audit.go). Every script that
// restarts a customer hash's retention does it with retain (retaining, retain.go),
// so that what lives with the customer on other slots is extended with it.
var (
	linkEntryScript         = retaining(linkEntrySrc)
	linkPointerScript       = redis.NewScript(linkPointerSrc)
	linkDoneScript          = audited(linkDoneSrc, false)
	linkRollbackScript      = redis.NewScript(linkRollbackSrc)
	unlinkPointerScript     = redis.NewScript(unlinkPointerSrc)
	unlinkEntryScript       = audited(unlinkEntrySrc, false)
	removeFactorScript      = audited(removeFactorSrc, false)
	credentialClaimScript   = redis.NewScript(credentialClaimSrc)
	credentialReleaseScript = redis.NewScript(credentialReleaseSrc)
	enrollCreateScript      = redis.NewScript(prelude + enrollCreateSrc)
	totpBeginScript         = redis.NewScript(prelude + totpBeginSrc)
	totpConfirmScript       = audited(totpConfirmSrc, true)
	passkeyBeginScript      = redis.NewScript(prelude + passkeyBeginSrc)
	passkeyTakeScript       = redis.NewScript(prelude + passkeyTakeSrc)
	passkeyFinishScript     = audited(passkeyFinishSrc, true)
	eraseBeginScript        = redis.NewScript(eraseBeginSrc)
	eraseKeysScript         = redis.NewScript(eraseKeysSrc)
	eraseCountersScript     = redis.NewScript(eraseCountersSrc)
	eraseCustomerScript     = audited(eraseCustomerSrc, false)
	eraseTrailScript        = audited(eraseTrailSrc, false)
	reportFactorScript      = audited(reportFactorSrc, false)
)

// Config holds the store's settings. Zero values take the defaults noted.
type Config struct {
	// PublicURL is the base of enrollment links (never a request's Host header).
	PublicURL *url.URL
	// Brand is the otpauth issuer and the name passkey managers show.
	Brand string
	// Retention is how long a customer's data lives after its last write (400 days).
	Retention time.Duration
	// EnrollTTL is an enrollment link's life (15 min).
	EnrollTTL time.Duration
	// CeremonyTimeout bounds a passkey registration ceremony (2 min).
	CeremonyTimeout time.Duration
	// MaxCodeAttempts is how many wrong TOTP confirmation codes kill an enrollment
	// link (5; at most 20).
	MaxCodeAttempts int
	// AuditRetention is the longest an audit event this store writes stays in its
	// Redis stream, the buffer's hard cap (90 days when zero; at least 1 h): the
	// same setting as package challenge's.
	AuditRetention time.Duration
	// AuditPerTag writes each event to its hash tag's own stream, "v:{tag}:a"
	// (Redis Cluster, where a script touches one slot only), instead of the one
	// stream "audit:events" (standalone and Sentinel). See audit.StreamKey.
	AuditPerTag bool
	// ReportTTL is how long the link in a first factor's notice can report it
	// (7 days; at least 1 h). Whoever holds the contact holds the link: a longer
	// life gives a later holder of the mailbox longer to strip the customer's
	// factors.
	ReportTTL time.Duration
	// ReportHold is how long, after a customer reported a factor as not hers, a
	// LOW proof binds her no first factor (30 days; at least 1 h): only a client
	// with may_enroll can enroll her one until then.
	ReportHold time.Duration
}

func (c *Config) setDefaults() {
	if c.Retention == 0 {
		c.Retention = 400 * 24 * time.Hour
	}
	if c.EnrollTTL == 0 {
		c.EnrollTTL = 15 * time.Minute
	}
	if c.CeremonyTimeout == 0 {
		c.CeremonyTimeout = 2 * time.Minute
	}
	if c.MaxCodeAttempts == 0 {
		c.MaxCodeAttempts = 5
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = 90 * 24 * time.Hour
	}
	if c.ReportTTL == 0 {
		c.ReportTTL = 7 * 24 * time.Hour
	}
	if c.ReportHold == 0 {
		c.ReportHold = 30 * 24 * time.Hour
	}
}

// Store keeps customers, their linked social identities and their factors in
// Redis. It is safe for concurrent use and keeps no state of its own.
type Store struct {
	cfg    Config
	rdb    redis.UniversalClient
	keys   *keyedhash.Ring
	seals  *seal.Ring
	wa     *webauthn.WebAuthn
	now    func() time.Time
	random io.Reader
	log    *slog.Logger
	// auditLog mirrors the audit events the scripts write (nil: not mirrored).
	auditLog *audit.Log
	// notifier sends the notices of first factors (nil: a LOW proof binds nothing).
	notifier Notifier
	// trust says whose enrollments each client trusts (nil: its own only).
	trust EnrollmentTrust
}

// Option configures a Store.
type Option func(*Store)

// WithAuditLog mirrors every audit event the store's scripts write to log, the
// structured audit log beside the Redis stream.
func WithAuditLog(log *audit.Log) Option {
	return func(s *Store) { s.auditLog = log }
}

// New builds the store. keys derive tags, pseudonyms and link MACs; seals seal TOTP
// seeds; wa runs passkey ceremonies; now is the clock every expiry is judged by;
// random is the source of ids, seeds, nonces and audit pseudonym keys
// (crypto/rand.Reader when nil).
func New(cfg Config, rdb redis.UniversalClient, keys *keyedhash.Ring, seals *seal.Ring, wa *webauthn.WebAuthn,
	now func() time.Time, random io.Reader, log *slog.Logger, opts ...Option) (*Store, error) {
	cfg.setDefaults()
	if cfg.PublicURL == nil || cfg.PublicURL.Scheme == "" || cfg.PublicURL.Host == "" {
		return nil, errors.New("identity: PublicURL must be an absolute URL")
	}
	if cfg.Brand == "" || !printable(cfg.Brand) || len(cfg.Brand) > 64 {
		return nil, errors.New("identity: Brand is required: printable, at most 64 bytes")
	}
	if cfg.Retention < time.Hour || cfg.EnrollTTL < time.Minute || cfg.CeremonyTimeout < 10*time.Second {
		return nil, errors.New("identity: want Retention >= 1h, EnrollTTL >= 1m, CeremonyTimeout >= 10s")
	}
	if cfg.MaxCodeAttempts < 1 || cfg.MaxCodeAttempts > 20 {
		return nil, errors.New("identity: want 1 <= MaxCodeAttempts <= 20")
	}
	if cfg.AuditRetention < time.Hour {
		return nil, errors.New("identity: want AuditRetention >= 1h")
	}
	if cfg.ReportTTL < time.Hour || cfg.ReportHold < time.Hour {
		return nil, errors.New("identity: want ReportTTL >= 1h and ReportHold >= 1h")
	}
	if rdb == nil || keys == nil || seals == nil || wa == nil || now == nil || log == nil {
		return nil, errors.New("identity: missing dependency")
	}
	if random == nil {
		random = rand.Reader
	}
	s := &Store{cfg: cfg, rdb: rdb, keys: keys, seals: seals, wa: wa, now: now, random: random, log: log}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// label is the non-identifying account name shown in authenticator apps and
// passkey managers: the brand's, never a customer id, email or handle.
func (s *Store) label() string { return s.cfg.Brand + " customer" }

// run runs a script; every error wraps ErrUnavailable. An audited script gets the
// audit stream and retention, and the events it wrote go to the audit log. A
// script that restarted a customer's retention has the customer's link pointers
// and credential index entries extended with it before run returns (see extend).
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
	res, retained, err := s.exec(ctx, sc, keys, args...)
	if retained != nil {
		s.extend(ctx, retained, "")
	}
	return res, err
}

// exec is run without the extension: it returns what the script retained (nil when
// it restarted no customer's retention), for a caller that extends once after
// several scripts (Link).
func (s *Store) exec(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, []any, error) {
	keys, args = s.withAudit(sc, keys, args)
	res, err := sc.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, unavailable(err)
	}
	if wrappedScripts[sc] {
		return s.unwrap(ctx, res)
	}
	return res, nil, nil
}

// runList runs a script that answers with a list whose first element is a status.
func (s *Store) runList(ctx context.Context, sc *redis.Script, keys []string, args ...any) (string, []any, error) {
	res, err := s.run(ctx, sc, keys, args...)
	if err != nil {
		return "", nil, err
	}
	l, ok := res.([]any)
	if !ok || len(l) == 0 {
		return "", nil, fmt.Errorf("%w: unexpected script reply %T", ErrUnavailable, res)
	}
	st, _ := l[0].(string)
	return st, l, nil
}

// runInt runs a script that answers with an integer.
func (s *Store) runInt(ctx context.Context, sc *redis.Script, keys []string, args ...any) (int64, error) {
	res, err := s.run(ctx, sc, keys, args...)
	if err != nil {
		return 0, err
	}
	n, ok := res.(int64)
	if !ok {
		return 0, fmt.Errorf("%w: unexpected script reply %T", ErrUnavailable, res)
	}
	return n, nil
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// strAt returns element i of a script reply as a string.
func strAt(l []any, i int) string {
	if i >= len(l) {
		return ""
	}
	switch v := l[i].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// randomB32 draws n lower-case base32 characters (5 random bits each).
func (s *Store) randomB32(n int) (string, error) {
	b := make([]byte, (n*5+7)/8)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("%w: draw random id: %w", ErrUnavailable, err)
	}
	return lowerB32(b, n), nil
}

// Factors lists a customer's enrolled factors, oldest first, in one HGETALL. A
// customer with none (or unknown) has an empty list.
func (s *Store) Factors(ctx context.Context, customerID string) ([]Factor, error) {
	if err := checkCustomerID(customerID); err != nil {
		return nil, err
	}
	fields, err := s.rdb.HGetAll(ctx, CustomerKeyFor(s.keys, customerID)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	fs, err := ParseFactors(fields)
	if err != nil {
		return nil, unavailable(err)
	}
	return fs, nil
}

// RemoveFactor removes a factor at the request of clientID; it stops working at
// once, and the audit trail records factor_removed. A passkey's credential index is
// released after the factor is gone, so a crash in between only keeps the
// credential id from being registered again until the index expires. ErrNotFound
// when the customer has no such factor.
func (s *Store) RemoveFactor(ctx context.Context, clientID, customerID, factorID string) error {
	if err := checkClientID(clientID); err != nil {
		return err
	}
	if err := checkCustomerID(customerID); err != nil {
		return err
	}
	if !validFactorID(factorID) {
		return &ValidationError{Field: "factor_id", Description: "is not a factor id"}
	}
	ctag, ch := CustomerTag(s.keys, customerID), CustomerHash(s.keys, customerID)
	key := CustomerKey(ctag, ch)
	// The factor is read first so that its credential index can be released even
	// when the removal's reply is lost and a retry finds nothing left to remove.
	v, err := s.rdb.HGet(ctx, key, "F"+factorID).Result()
	if errors.Is(err, redis.Nil) {
		return ErrNotFound
	}
	if err != nil {
		return unavailable(err)
	}
	pk, err := s.freshPseudonymKey()
	if err != nil {
		return err
	}
	if _, err := s.run(ctx, removeFactorScript, []string{key}, factorID, s.cfg.Retention.Milliseconds(),
		ms(s.now()), clientID, pk); err != nil {
		return err
	}
	f, err := parseFactor(factorID, v)
	if err != nil {
		return unavailable(err)
	}
	if f.Passkey != nil {
		if _, err := s.runInt(ctx, credentialReleaseScript, []string{CredentialKey(s.keys, f.Passkey.CredentialID)},
			ctag+":"+ch+":"+factorID); err != nil {
			return err
		}
	}
	return nil
}

// Input checks. Field names follow the API.

var networkPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func checkText(field, s string, maxLen int) error {
	switch {
	case s == "":
		return &ValidationError{Field: field, Description: "is required"}
	case len(s) > maxLen:
		return &ValidationError{Field: field, Description: fmt.Sprintf("must be at most %d bytes", maxLen)}
	case !printable(s):
		return &ValidationError{Field: field, Description: "must be printable UTF-8"}
	}
	return nil
}

func checkCustomerID(id string) error { return checkText("customer_id", id, 128) }

func checkClientID(id string) error { return checkText("client_id", id, 128) }

func checkIdentity(network, userID string) error {
	if !networkPattern.MatchString(network) {
		return &ValidationError{Field: "identity.network", Description: "must match [a-z0-9_-]{1,32}"}
	}
	return checkText("identity.user_id", userID, 128)
}

// factorIDLen is the length of a factor id: 10 random lower-case base32 characters.
const factorIDLen = 10

func validFactorID(s string) bool { return len(s) == factorIDLen && isLowerB32(s) }

func isLowerB32(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
