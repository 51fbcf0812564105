// Configuration: every AUTHSVC_* environment variable is one row of the table
// in settings.go, which both reads it and documents it.
//
// To add a setting, add its field to Config (or a sub-struct) and one row to
// the table next to its neighbours, e.g.
//
//	{Name: "AUTHSVC_X_TIMEOUT", Section: "grpc", Default: "5s", Value: duration(&c.GRPC.XTimeout, time.Second, time.Minute), Doc: "what it bounds."},
//
// then run `make generate`, which rewrites the tables of
// docs/configuration.md (TestConfigurationDoc fails until they match). The
// kinds of Value (str, boolean, duration, days, integer, enum, file, dir, rate,
// ...) are in configvalue.go; each refuses a bad value naming the variable and
// what it wants. Mode (prodOnly, devOnly), DevDefault, Required, When and Derive
// say when it is read and what it defaults to (see setting). A check that
// involves several settings goes in validate below, written out. A new
// Section needs its <!-- settings:NAME --> region in the docs; a part read
// apart from Config keeps its rows in its own settings method, listed in
// allSettings, and reads them with envReader.read.
//
// Secrets are read from files named by *_FILE (or *_DIR) variables, never from
// the environment itself, and file contents never appear in logs or errors.
// Tracing is configured by the standard OTEL_* variables, read by the
// OpenTelemetry SDK and package telemetry, not by this table.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/text"
	"github.com/authsvc/authsvc/internal/web"
)

// Config is everything authsvc reads at start-up: loadConfig fills it from the
// environment variables of settings.go and validates it; only -dev,
// -config-check and -version are flags. Outside dev mode every
// security-relevant setting is required: the service refuses to start, naming
// each missing variable, rather than fall back to something weaker.
type Config struct {
	// Dev is dev mode: everything runs in-process and nothing is sent.
	Dev DevConfig
	// Listen is where the servers listen and how they stop.
	Listen ListenConfig
	// GRPC holds the gRPC server's transport limits.
	GRPC GRPCConfig
	// Service is what customers see: the page origin and the brand.
	Service ServiceConfig
	// Redis is the store.
	Redis RedisConfig
	// Keys are the keyed-hash and signing keys.
	Keys KeysConfig
	// Assertion configures minted assertions.
	Assertion AssertionConfig
	// Verification configures the lifecycle.
	Verification VerificationConfig
	// Enrollment configures linked identities and enrolled factors.
	Enrollment EnrollmentConfig
	// Audit configures the audit trail.
	Audit AuditConfig
	// Events configures the events to the care platform (config_events.go).
	Events EventsConfig
	// WebAuthn configures the passkey relying party.
	WebAuthn WebAuthnConfig
	// Limits are the abuse limits per identity and across verifications
	// (AUTHSVC_IDENTITY_*, AUTHSVC_LIMIT_*, AUTHSVC_SMS_COUNTRIES), every field set.
	Limits challenge.Limits
	// SMS holds the SMS fraud defences (config_sms.go).
	SMS SMSConfig
	// ClientsFile holds the API clients (AUTHSVC_CLIENTS_FILE).
	ClientsFile string
	// ClientsReload is the period of the clients file reload.
	ClientsReload time.Duration
	// DisclosurePolicyFile is the disclosure policy (AUTHSVC_DISCLOSURE_POLICY_FILE);
	// empty means the policy built into package policy.
	DisclosurePolicyFile string
	// SMTP sends email unless Webhook.EmailURL is set.
	SMTP SMTPConfig
	// Webhook sends SMS (and optionally email) as signed POSTs.
	Webhook WebhookConfig
	// Log configures the debug log.
	Log LogConfig
}

// DevConfig is dev mode.
type DevConfig struct {
	// Enabled turns dev mode on (-dev or AUTHSVC_DEV).
	Enabled bool
	// AllowRemote allows non-loopback listen addresses in dev mode.
	AllowRemote bool
	// APIKey is the key of the "dev" client; not a secret in dev mode.
	APIKey string
}

// ListenConfig is where the servers listen.
type ListenConfig struct {
	GRPCAddr, HTTPAddr, MetricsAddr string
	// TLSCertFile and TLSKeyFile, when set, serve gRPC and HTTP over TLS.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile, when set, is the PEM bundle gRPC verifies client
	// certificates against (mutual TLS); it needs TLSCertFile.
	ClientCAFile string
	// ClientAuth is clientAuthAny or clientAuthMTLSOnly; it matters only with
	// ClientCAFile.
	ClientAuth string
	// TLSReload is how often the certificate, key and client CA files are re-read.
	TLSReload time.Duration
	// Reflection registers gRPC server reflection.
	Reflection bool
	// ShutdownDrain is how long health reports NOT_SERVING before the servers stop.
	ShutdownDrain time.Duration
	// ShutdownTimeout bounds the graceful stop.
	ShutdownTimeout time.Duration
}

// GRPCConfig holds the gRPC server's transport limits (AUTHSVC_GRPC_*); see
// grpcapi.Config for what each bounds.
type GRPCConfig struct {
	// HandshakeTimeout bounds a new connection's TLS handshake and HTTP/2 preface.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes bounds a call's metadata as HTTP/2 counts it.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds the calls open at once on one connection.
	MaxConcurrentStreams int
	// MaxConnectionAge is when a connection is asked to go away, and
	// MaxConnectionAgeGrace how long its open calls may run after that.
	MaxConnectionAge, MaxConnectionAgeGrace time.Duration
	// MaxWatchesPerClient bounds one client's open WatchVerification streams.
	MaxWatchesPerClient int
	// MaxHealthWatches bounds the open grpc.health.v1 Watch streams, all
	// callers together.
	MaxHealthWatches int
}

// ServiceConfig is what customers see.
type ServiceConfig struct {
	// PublicURL is the origin of the customer pages; nil in dev mode until the
	// HTTP listener's port is known.
	PublicURL *url.URL
	// Brand names the brand in messages and pages.
	Brand string
	// Cues are the brand's logo (read from AUTHSVC_BRAND_LOGO_FILE and checked),
	// colour and official accounts, as the pages show them (config_brand.go).
	Cues web.BrandCues
}

// KeysConfig names the key files and the signing-key rotation settings.
type KeysConfig struct {
	HMACKeysFile string
	// KEKFile holds the key-encryption keys that seal TOTP seeds (seal.LoadFile).
	KEKFile          string
	SigningKeysDir   string
	SigningKeyActive string
	// SigningPublishLead is the keyring's publish lead (assertion.KeyringOptions).
	SigningPublishLead time.Duration
	// SigningKeysReload is the period of the signing-keys directory reload.
	SigningKeysReload time.Duration
}

// AssertionConfig configures minted assertions.
type AssertionConfig struct {
	// Issuer is the iss claim; empty means the public URL.
	Issuer string
	// TTL is the assertion lifetime.
	TTL time.Duration
}

// VerificationConfig configures the lifecycle.
type VerificationConfig struct {
	TTL         time.Duration
	MaxAttempts int
	// MaxExtensions bounds the customer's "I need more time" on her page.
	MaxExtensions int
	// EmailRules are the mail providers' dot and +tag rules that the canonical
	// form of an email destination applies (AUTHSVC_EMAIL_PROVIDER_RULES).
	EmailRules challenge.EmailRules
}

// EnrollmentConfig configures linked identities and enrolled factors.
type EnrollmentConfig struct {
	// Window is how recently a verification of the same client must have become
	// VERIFIED to prove a LinkIdentity or CreateEnrollmentLink without a grant.
	Window time.Duration
	// LinkTTL is the life of an enrollment page link.
	LinkTTL time.Duration
	// ReportTTL is the life of the report link in a first factor's notice.
	ReportTTL time.Duration
	// ReportHold is how long a LOW proof binds no first factor after a report.
	ReportHold time.Duration
	// Retention is how long a customer's links and factors live after the last write.
	Retention time.Duration
}

// AuditConfig configures the audit trail: the Redis streams every transition
// writes (a buffer), the exporter that moves them to a sink, and the structured
// log that mirrors them.
type AuditConfig struct {
	// Buffer is how long exported events stay in Redis; events no exporter has
	// acknowledged stay up to twice as long (the hard cap).
	Buffer time.Duration
	// Sink is auditSinkStdout, auditSinkFile (to File) or auditSinkPostgres.
	Sink string
	// File is the JSON-lines file of the file sink.
	File string
	// PostgresURL and PostgresPasswordFile reach the postgres sink's database.
	PostgresURL, PostgresPasswordFile string
	// Retention is how long the postgres sink keeps events.
	Retention time.Duration
	// Log is where the JSON-lines mirror goes: "stdout", "stderr", "off" or a file path.
	Log string
}

// AUTHSVC_AUDIT_SINK values.
const (
	auditSinkStdout   = "stdout"
	auditSinkFile     = "file"
	auditSinkPostgres = "postgres"
	// defaultAuditBuffer outlasts a weekend's outage of the sink.
	defaultAuditBuffer = 72 * time.Hour
)

// WebAuthnConfig configures the passkey relying party. Empty RPID and Origins
// are derived from the public URL (see webAuthnSettings).
type WebAuthnConfig struct {
	// RPID is the relying party id: the public URL's host or a parent domain.
	RPID string
	// Origins are the exact origins (scheme://host[:port]) ceremonies may come from.
	Origins []string
	// CeremonyTimeout bounds a passkey ceremony; the server enforces it.
	CeremonyTimeout time.Duration
}

// SMTPConfig configures the SMTP sender; it is used when Host is set.
type SMTPConfig struct {
	Host         string
	Port         int
	Username     string
	PasswordFile string
	From         string
	// TLS is "starttls", "tls" or "none".
	TLS    string
	CAFile string
}

// WebhookConfig configures the signed-webhook senders.
type WebhookConfig struct {
	SMSURL, SMSSecretFile     string
	EmailURL, EmailSecretFile string
}

// LogConfig configures the debug log.
type LogConfig struct {
	Level  slog.Level
	Format string
}

// Defaults that code outside the table uses too.
const (
	devAPIKey = "dev-insecure-key"
	devBrand  = "Example Brand"
	// minPublishLead is the JWKS document's cache lifetime (max-age=300).
	minPublishLead = 5 * time.Minute
	day            = 24 * time.Hour
	// maxBrandBytes bounds AUTHSVC_BRAND.
	maxBrandBytes = 64
)

// AUTHSVC_CLIENT_AUTH values.
const (
	// clientAuthAny: a call authenticates with a verified client certificate,
	// an API key, or both naming the same client; a connection without a
	// certificate is accepted (health checks, key-only clients).
	clientAuthAny = "any"
	// clientAuthMTLSOnly: the TLS handshake requires a verified client
	// certificate, so every connection, health checks included, has one.
	clientAuthMTLSOnly = "mtls-only"
)

// options are the command-line flags.
type options struct {
	dev, configCheck, version bool
}

// parseFlags reads the flags; flag errors and -h output go to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("authsvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.dev, "dev", false, "dev mode: embedded Redis, ephemeral keys, dev outbox; nothing persists, nothing is sent")
	fs.BoolVar(&o.configCheck, "config-check", false, "validate the configuration and its files, then exit 0 (valid) or 1")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "usage: authsvc [-dev] [-config-check] [-version]\n\nConfiguration is read from AUTHSVC_* environment variables; see the README.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// ConfigError lists every problem found in the configuration, one per line, each
// naming the variable to fix.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// loadConfig reads the configuration from getenv and validates it, reporting
// every problem at once in a *ConfigError. dev is the -dev flag.
func loadConfig(getenv func(string) string, dev bool) (*Config, error) {
	r := &envReader{getenv: getenv}
	c := &Config{Dev: DevConfig{Enabled: dev}}
	r.read(c.settings(), &c.Dev.Enabled)
	validate(r, c)
	if len(r.problems) > 0 {
		return nil, &ConfigError{Problems: r.problems}
	}
	return c, nil
}

// read reads the settings in table order into their fields. *dev says whether
// dev mode is on when each row is read (the first row may turn it on). A
// variable dev mode does not use is skipped in dev mode, and one whose When
// says no is skipped; an unset one takes its default (or, required outside dev
// mode, is a problem); a set one is parsed by its Value, which reports a bad
// value. A dev-only variable set outside dev mode is a problem.
func (r *envReader) read(settings []setting, dev *bool) {
	for _, s := range settings {
		d := *dev
		switch {
		case s.Mode == prodOnly && d:
			continue
		case s.When != nil && !s.When():
			continue
		}
		def := s.Default
		switch {
		case d && s.DevDefault != "":
			def = s.DevDefault
		case s.Derive != nil:
			def = s.Derive()
		}
		if def != "" {
			// A default is not judged: the table's are valid (TestSettingsTable),
			// and one derived from a refused value is not reported twice.
			s.Value.set(&envReader{getenv: r.getenv}, s.Name, def)
		}
		if raw := r.raw(s.Name); raw != "" {
			s.Value.set(r, s.Name, raw)
		} else if def == "" && s.Required != "" && !d {
			r.addf("%s is not set: %s", s.Name, s.Required)
		}
	}
	if !*dev {
		for _, s := range settings {
			if s.Mode == devOnly && r.getenv(s.Name) != "" {
				r.addf("%s is set but dev mode is off: unset it, or set AUTHSVC_DEV=true", s.Name)
			}
		}
	}
}

// validate checks what involves several settings, written out: each problem
// names every variable involved and what to do.
func validate(r *envReader, c *Config) {
	d := c.Dev.Enabled
	for _, a := range []struct{ name, addr string }{
		{"AUTHSVC_GRPC_ADDR", c.Listen.GRPCAddr},
		{"AUTHSVC_HTTP_ADDR", c.Listen.HTTPAddr},
		{"AUTHSVC_METRICS_ADDR", c.Listen.MetricsAddr},
	} {
		if host, _, err := net.SplitHostPort(a.addr); err == nil && !r.bad[a.name] && d && !c.Dev.AllowRemote && !isLoopback(host) {
			r.addf("%s: dev mode listens only on loopback (127.0.0.1, ::1, localhost), got %q; set AUTHSVC_DEV_ALLOW_REMOTE=true to expose an insecure dev server", a.name, a.addr)
		}
	}
	if (c.Listen.TLSCertFile == "") != (c.Listen.TLSKeyFile == "") {
		r.addf("AUTHSVC_TLS_CERT_FILE and AUTHSVC_TLS_KEY_FILE: set both (serve TLS) or neither (TLS ends at the ingress)")
	}
	if !d {
		checkClientAuth(r, &c.Listen)
		checkRedis(r, &c.Redis)
		checkDelivery(r, c)
	}
	checkGRPC(r, &c.GRPC)
	checkAudit(r, &c.Audit)
	checkWebAuthn(r, c)
	checkLimits(r, &c.Limits)
	checkEvents(r, c)
	checkSMS(r, &c.SMS)
}

// checkClientAuth: a client certificate can only be checked where TLS ends, so
// a client CA needs the service's own TLS pair, and mtls-only needs a CA.
func checkClientAuth(r *envReader, l *ListenConfig) {
	if l.ClientAuth == clientAuthMTLSOnly && l.ClientCAFile == "" {
		r.addf("AUTHSVC_CLIENT_AUTH=mtls-only needs AUTHSVC_CLIENT_CA_FILE: set it to the PEM bundle of the CA that issues client certificates, or set AUTHSVC_CLIENT_AUTH=any")
	}
	if l.ClientCAFile != "" && l.TLSCertFile == "" {
		r.addf("AUTHSVC_CLIENT_CA_FILE is set but authsvc does not serve TLS: set AUTHSVC_TLS_CERT_FILE and AUTHSVC_TLS_KEY_FILE, since a client certificate can only be checked where TLS ends (not behind a TLS-terminating ingress or mesh)")
	}
}

// checkRedis: the Sentinel password and the CA bundle go with the URL's mode
// (checked once the URL has parsed).
func checkRedis(r *envReader, rc *RedisConfig) {
	if rc.Target.Addrs == nil {
		return
	}
	if rc.SentinelPasswordFile != "" && rc.Target.Mode != redisSentinel {
		r.addf("AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE is set but AUTHSVC_REDIS_URL is not a redis-sentinel URL")
	}
	if rc.CAFile != "" && !rc.Target.TLS {
		r.addf("AUTHSVC_REDIS_CA_FILE is set but AUTHSVC_REDIS_URL does not use TLS (rediss://, rediss-sentinel://, rediss-cluster://)")
	}
}

// checkDelivery: email goes one way, SMTP or the webhook, and SMTP's settings
// fit together.
func checkDelivery(r *envReader, c *Config) {
	s := &c.SMTP
	switch {
	case s.Host == "" && c.Webhook.EmailURL == "":
		r.addf("AUTHSVC_SMTP_HOST is not set: the SMTP submission server for code and link emails (or set AUTHSVC_EMAIL_WEBHOOK_URL to send email through a webhook)")
		return
	case s.Host == "":
		return
	case c.Webhook.EmailURL != "":
		r.addf("AUTHSVC_SMTP_HOST and AUTHSVC_EMAIL_WEBHOOK_URL are both set: email goes one way; unset one")
		return
	}
	if strings.ContainsAny(s.Host, ":/ ") {
		r.addf("AUTHSVC_SMTP_HOST: a host name only, without port or scheme (the port is AUTHSVC_SMTP_PORT), got %q", s.Host)
	}
	if s.Username != "" && s.PasswordFile == "" {
		r.addf("AUTHSVC_SMTP_PASSWORD_FILE is not set: a file holding the password of AUTHSVC_SMTP_USERNAME")
	}
	if s.Username == "" && s.PasswordFile != "" {
		r.addf("AUTHSVC_SMTP_PASSWORD_FILE is set without AUTHSVC_SMTP_USERNAME")
	}
	if s.TLS == "none" && !isLoopback(s.Host) {
		r.addf("AUTHSVC_SMTP_TLS=none is allowed only for a loopback AUTHSVC_SMTP_HOST; use starttls or tls")
	}
}

// Bounds of the gRPC transport limits.
const (
	maxGRPCHeaderBytes = 1 << 20
	maxGRPCStreams     = 1 << 20
	maxGRPCWatches     = 100_000
)

// streamsNeeded is the fewest streams per connection that let a client hold
// all its watches and calls on one connection (grpc-go keeps one per backend):
// it queues a call over the bound, so its calls would wait behind its own
// watches.
func (g *GRPCConfig) streamsNeeded() int {
	return g.MaxWatchesPerClient + grpcapi.DefaultMaxInFlightPerClient
}

// checkGRPC checks the streams per connection against the watches.
func checkGRPC(r *envReader, g *GRPCConfig) {
	if need := g.streamsNeeded(); g.MaxConcurrentStreams < need {
		r.addf("AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS (%d) is below AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT + %d unary calls (%d): "+
			"a platform holding its watches on one connection would have its calls queue behind them; raise it to at least %d",
			g.MaxConcurrentStreams, grpcapi.DefaultMaxInFlightPerClient, need, need)
	}
}

// auditSink reads AUTHSVC_AUDIT_SINK: stdout, file:/path or postgres.
func auditSink(a *AuditConfig) value {
	return valueFunc(func(r *envReader, name, raw string) {
		switch kind, path, _ := strings.Cut(raw, ":"); kind {
		case auditSinkStdout, auditSinkPostgres:
			a.Sink, a.File = kind, ""
			if path != "" {
				r.refuse(name, "%s takes nothing after it, got %q", kind, raw)
			}
		case auditSinkFile:
			a.Sink, a.File = kind, path
			if path == "" {
				r.refuse(name, "name the file, e.g. file:/var/log/authsvc/audit.jsonl")
			}
		default:
			r.refuse(name, "want stdout, file:/path or postgres, got %q", raw)
		}
	})
}

// checkAudit: the database settings go with the postgres sink, and the
// password goes in its file, not in the URL.
func checkAudit(r *envReader, a *AuditConfig) {
	switch {
	case a.Sink != auditSinkPostgres:
		if a.PostgresURL != "" || a.PostgresPasswordFile != "" {
			r.addf("AUTHSVC_AUDIT_POSTGRES_URL or _PASSWORD_FILE is set but AUTHSVC_AUDIT_SINK is not postgres")
		}
	case a.PostgresURL == "":
		r.addf("AUTHSVC_AUDIT_POSTGRES_URL is not set: the audit database, e.g. postgres://authsvc@db:5432/audit?sslmode=verify-full")
	default:
		u, err := url.Parse(a.PostgresURL)
		switch {
		case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "":
			r.addf("AUTHSVC_AUDIT_POSTGRES_URL: want postgres://user@host:5432/database, got an unparsable URL")
		case u.User != nil && hasPassword(u.User):
			r.addf("AUTHSVC_AUDIT_POSTGRES_URL holds a password: put it in a file named by AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE")
		case u.Query().Has("password"):
			r.addf("AUTHSVC_AUDIT_POSTGRES_URL holds a password: put it in a file named by AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE")
		}
	}
}

func hasPassword(u *url.Userinfo) bool { _, ok := u.Password(); return ok }

// checkLimits orders the locks and checks the shared limits.
func checkLimits(r *envReader, l *challenge.Limits) {
	if l.LongestLock < l.FirstLock {
		r.addf("AUTHSVC_IDENTITY_LONGEST_LOCK (%s) is shorter than AUTHSVC_IDENTITY_FIRST_LOCK (%s): raise it, or lower the first lock", l.LongestLock, l.FirstLock)
	}
	// The identity's counters, its lock included, are kept for the failure window:
	// a shorter window would forget a lock before it ends.
	if l.FailureWindow < l.LongestLock {
		r.addf("AUTHSVC_IDENTITY_FAILURE_WINDOW (%s) is shorter than AUTHSVC_IDENTITY_LONGEST_LOCK (%s): a lock would be forgotten before it ends; raise the window", l.FailureWindow, l.LongestLock)
	}
	// Each limit is kept per client and, higher, for all clients together: a shared
	// limit one client could reach alone would let it lock or exhaust the identity
	// for every other client. Unset, it is half again its per-client limit.
	r.sharedLimit("AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT", l.SharedFailures, 200, "AUTHSVC_IDENTITY_FAILURE_LIMIT", l.Failures, 100)
	r.sharedLimit("AUTHSVC_IDENTITY_SHARED_SENDS", l.SharedSends, 40, "AUTHSVC_IDENTITY_SENDS", l.Sends, 20)
	r.sharedLimit("AUTHSVC_IDENTITY_SHARED_QUIET_STARTS", l.SharedQuietStarts, 200, "AUTHSVC_IDENTITY_QUIET_STARTS", l.QuietStarts, 100)
}

// sharedLimit checks that the shared limit name (value n, at most hi) is above
// the per-client limit perName (value per, at most perMax). An out-of-range
// value of either is reported already, by its row, and not judged again here.
func (r *envReader) sharedLimit(name string, n, hi int, perName string, per, perMax int) {
	if per >= 1 && per <= perMax && n >= 2 && n <= hi && n <= per {
		r.addf("%s (%d) is not above %s (%d): one client alone could reach it and lock or exhaust the identity for every client; raise it, or leave it unset (%d)",
			name, n, perName, per, challenge.DefaultShared(per))
	}
}

// devSwitch reads AUTHSVC_DEV: true turns dev mode on, as -dev does; false
// leaves -dev in force.
func devSwitch(p *bool) value {
	return valueFunc(func(r *envReader, name, raw string) {
		var on bool
		boolean(&on).set(r, name, raw)
		*p = *p || on
	})
}

// brand reads AUTHSVC_BRAND, on every page and in every message: nothing in
// it may hide or reorder what the customer reads. It is kept in NFC.
func brand(p *string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		b, err := text.Display(raw)
		switch {
		case err != nil:
			r.markBad(name)
			r.addf("%s %v; write the brand as customers should read it", name, err)
		case len(b) > maxBrandBytes:
			r.refuse(name, "at most %d bytes", maxBrandBytes)
		}
		*p = b
		if err != nil {
			*p = raw
		}
	})
}

// publicURL reads AUTHSVC_PUBLIC_URL: https outside dev mode.
func publicURL(c *Config) value {
	return valueFunc(func(r *envReader, name, raw string) {
		c.Service.PublicURL = parsePublicURL(r, name, raw, c.Dev.Enabled)
	})
}

// parsePublicURL checks the customer page origin: https outside dev mode.
func parsePublicURL(r *envReader, name, raw string, dev bool) *url.URL {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		r.refuse(name, "want an origin such as https://verify.acme.example, got %q", raw)
		return nil
	}
	ok := true
	if u.Scheme != "https" && !dev {
		r.refuse(name, "must use https outside dev mode (customers type codes on these pages), got %q", raw)
		ok = false
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "" {
		r.refuse(name, "want scheme, host, optional port and optional path prefix, without query, fragment, user info or escapes, got %q", raw)
		ok = false
	}
	if !ok {
		return nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u
}

// redisURL reads AUTHSVC_REDIS_URL (see parseRedisURL); errors never repeat it.
func redisURL(p *redisTarget) value {
	return valueFunc(func(r *envReader, name, raw string) {
		t, err := parseRedisURL(raw)
		if err != nil {
			r.refuse(name, "%v", err)
			return
		}
		*p = t
	})
}

// webhookURL reads a webhook URL: https, or http on a loopback host.
func webhookURL(p *string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		*p = raw
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			r.refuse(name, "want an absolute https URL")
			return
		}
		if u.User != nil {
			r.refuse(name, "must not carry user info (the request is signed with the secret file)")
		}
		if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
			r.refuse(name, "must use https (http only for a loopback host)")
		}
	})
}

// smtpFrom reads the sender address. Its name is the first thing the customer
// reads of the email: it follows the brand's rules.
func smtpFrom(p *string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		*p = raw
		if a, err := mail.ParseAddress(raw); err != nil {
			r.refuse(name, "want an address such as \"Acme <no-reply@acme.example>\", got %q", raw)
		} else if _, err := text.Display(a.Name + a.Address); err != nil {
			r.markBad(name)
			r.addf("%s %v", name, err)
		}
	})
}

// emailRules reads the mail providers' dot and +tag rules.
func emailRules(p *challenge.EmailRules) value {
	return valueFunc(func(r *envReader, name, raw string) {
		rules, err := challenge.ParseEmailRules(raw)
		if err != nil {
			r.refuse(name, "%v", err)
			return
		}
		*p = rules
	})
}

type logLevelValue struct{ p *slog.Level }

// logLevel reads a slog level by name.
func logLevel(p *slog.Level) value { return logLevelValue{p} }

var logLevels = []struct {
	name  string
	level slog.Level
}{{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}}

func (v logLevelValue) set(r *envReader, name, raw string) {
	lv := strings.ToLower(raw)
	if lv == "warning" {
		lv = "warn"
	}
	var names []string
	for _, l := range logLevels {
		if l.name == lv {
			*v.p = l.level
			return
		}
		names = append(names, l.name)
	}
	r.refuse(name, "want %s, got %q", orList(names, "%s"), strings.ToLower(raw))
}

func (logLevelValue) bounds() string {
	var names []string
	for _, l := range logLevels {
		names = append(names, l.name)
	}
	return "One of " + orList(names, "`%s`")
}

// devIgnored lists the variables that are set but that dev mode does not use,
// so that the operator is told instead of surprised.
func devIgnored(getenv func(string) string) []string {
	var out []string
	for _, s := range allSettings() {
		if s.Mode == prodOnly && getenv(s.Name) != "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// isLoopback reports whether host is a loopback address or "localhost".
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
