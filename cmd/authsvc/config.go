package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/text"
	"github.com/authsvc/authsvc/internal/web"
)

// Config is everything authsvc reads at start-up. It is loaded from environment
// variables by loadConfig; only -dev, -config-check and -version are flags. Every
// secret (HMAC keys, signing keys, API keys, the Redis, SMTP and webhook
// credentials) is read from a file named by a *_FILE (or *_DIR) variable, never
// from the environment itself, and file contents never appear in logs or errors.
//
// Outside dev mode every security-relevant setting is required: the service
// refuses to start, naming each missing variable, rather than fall back to
// something weaker. Defaults in the table are "production / dev". A rate N/DURATION
// (e.g. 5/1h) lets N sends through in any window of DURATION, then one more every
// DURATION/N: N is 1 to 1000000, DURATION 1s to 7d (168h), at most one send per
// millisecond. The limits apply in dev mode too. Tracing is configured by the
// standard OTEL_* variables, read from the process environment by the
// OpenTelemetry SDK and package telemetry, not by this table: it is off unless
// they name an OTLP endpoint or exporter.
//
//	variable                              default                          meaning
//	AUTHSVC_DEV                           false                            dev mode (same as -dev): embedded Redis, ephemeral keys, dev outbox, nothing sent
//	AUTHSVC_DEV_API_KEY                   dev-insecure-key                 dev mode only: the API key of client "dev"
//	AUTHSVC_DEV_ALLOW_REMOTE              false                            dev mode only: allow listening on non-loopback addresses
//	AUTHSVC_GRPC_ADDR                     :8443 / 127.0.0.1:7443           gRPC listen address (authsvc.v1, health, reflection)
//	AUTHSVC_HTTP_ADDR                     :8080 / 127.0.0.1:8080           customer pages, /.well-known/jwks.json, health
//	AUTHSVC_METRICS_ADDR                  :9090 / 127.0.0.1:9090           Prometheus /metrics only
//	AUTHSVC_TLS_CERT_FILE, _KEY_FILE      (none)                           PEM certificate and key: serve gRPC and HTTP over TLS; both or neither (TLS usually ends at the ingress)
//	AUTHSVC_TLS_RELOAD                    1m                               how often the certificate, key and client CA files are re-read, so a renewed certificate or CA needs no restart (1s to 1h)
//	AUTHSVC_CLIENT_CA_FILE                (none)                           PEM CA bundle of client certificates: gRPC asks for one and verifies it (mutual TLS); needs the TLS pair
//	AUTHSVC_CLIENT_AUTH                   any                              any: a client certificate, an API key or both | mtls-only: the TLS handshake requires a client certificate
//	AUTHSVC_GRPC_REFLECTION               false / true                     register gRPC server reflection
//	AUTHSVC_GRPC_HANDSHAKE_TIMEOUT        5s                               a new gRPC connection's TLS handshake and HTTP/2 preface, or it is closed (1s to 1m)
//	AUTHSVC_GRPC_MAX_HEADER_BYTES         16384                            a gRPC call's metadata, names + values + 32 per entry; over it the stream is reset before authentication (1024 to 1048576)
//	AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS   1100                             calls open at once on one gRPC connection; at least AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT + 64 (up to 1048576)
//	AUTHSVC_GRPC_MAX_CONNECTION_AGE       10m                              a gRPC connection is then asked to go away (GOAWAY), so clients spread over replicas (1m to 24h)
//	AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE 65m                              calls open on it may run this much longer, then it is closed (10s to 24h)
//	AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT   1000                             WatchVerification streams one client may have open (1 to 100000)
//	AUTHSVC_GRPC_MAX_HEALTH_WATCHES       1000                             grpc.health.v1 Watch streams open on the server, all callers together (1 to 100000)
//	AUTHSVC_SHUTDOWN_DRAIN                5s / 0s                          time between reporting NOT_SERVING and stopping the listeners
//	AUTHSVC_SHUTDOWN_TIMEOUT              15s                              longest graceful stop before open streams are cut
//	AUTHSVC_PUBLIC_URL                    required / http://localhost:PORT https URL of the customer pages as customers reach it (origin, optional path prefix)
//	AUTHSVC_BRAND                         required / Example Brand         brand named in messages and pages
//	AUTHSVC_BRAND_LOGO_FILE               (none)                           the brand's logo on every page: PNG (at most 1024x1024 px) or a plain SVG (no script, no external reference), at most 16 KiB
//	AUTHSVC_BRAND_COLOR                   (the pages' blue)                #rrggbb of the primary buttons; white text on it must reach 4.5:1 (WCAG 1.4.3)
//	AUTHSVC_BRAND_ACCOUNTS                (none)                           the brand's official accounts, NETWORK:HANDLE,… e.g. x:@Acme,instagram:@acme; a page names the one on its verification's network
//	AUTHSVC_REDIS_URL                     required / embedded              redis[s]://[user@]host:port[/db], redis[s]-sentinel://[user@]h1:26379,h2:26379/master[?db=N], redis[s]-cluster://[user@]h1:6379,h2:6379
//	AUTHSVC_REDIS_PASSWORD_FILE           (none)                           file holding the Redis password (never put it in the URL)
//	AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE  (none)                           file holding the Sentinel password (sentinel URLs only)
//	AUTHSVC_REDIS_CA_FILE                 system roots                     PEM CA bundle for rediss URLs
//	AUTHSVC_REDIS_DIAL_TIMEOUT            1s                               Redis connect timeout
//	AUTHSVC_REDIS_READ_TIMEOUT            500ms                            Redis read timeout
//	AUTHSVC_REDIS_WRITE_TIMEOUT           500ms                            Redis write timeout
//	AUTHSVC_HMAC_KEYS_FILE                required / random                keyed-hash keys, lines "ID:BASE64" (>= 32 bytes), current first
//	AUTHSVC_KEK_FILE                      required / random                key-encryption keys that seal TOTP seeds, lines "ID:BASE64" (32 bytes), current first
//	AUTHSVC_SIGNING_KEYS_DIR              required / ephemeral Ed25519     directory of PKCS#8 PEM signing keys (NAME.pem), each with optional NAME.json (not_before, retire_at)
//	AUTHSVC_SIGNING_KEY_ACTIVE            (by not_before)                  pin the signing key (file name without .pem, or kid), overriding the keys' schedule
//	AUTHSVC_SIGNING_PUBLISH_LEAD          10m                              a new key is published this long before it may sign, a retired key this much longer than its tokens live (5m to 24h)
//	AUTHSVC_SIGNING_KEYS_RELOAD           1m                               how often the signing-keys directory is re-read (10s to 1h)
//	AUTHSVC_ASSERTION_ISSUER              AUTHSVC_PUBLIC_URL               iss of minted assertions
//	AUTHSVC_ASSERTION_TTL                 5m                               assertion lifetime (30s to 1h)
//	AUTHSVC_VERIFICATION_TTL              10m                              time a customer has when the request names none (1m to 60m)
//	AUTHSVC_MAX_ATTEMPTS                  5                                wrong codes that fail a verification (1 to 10)
//	AUTHSVC_ENROLLMENT_WINDOW             10m                              how recently a verification must have succeeded to prove LinkIdentity or CreateEnrollmentLink (1m to 60m)
//	AUTHSVC_ENROLLMENT_LINK_TTL           15m                              life of an enrollment page link (1m to 24h)
//	AUTHSVC_FACTOR_REPORT_TTL             7d                               life of the report link in a first factor's notice ("Nd" or a duration, 1h to 90d)
//	AUTHSVC_FACTOR_REPORT_HOLD            30d                              after a customer reports a factor, how long a LOW proof binds her no first factor (1h to 365d)
//	AUTHSVC_CUSTOMER_RETENTION            400d                             customer data (links, factors) lives this long after its last write (1d to 3650d; Nd or a Go duration)
//	AUTHSVC_WEBAUTHN_RP_ID                host of AUTHSVC_PUBLIC_URL       passkey relying party id: that host or a parent domain of it
//	AUTHSVC_WEBAUTHN_ORIGINS              origin of AUTHSVC_PUBLIC_URL     origins passkey ceremonies may come from, comma-separated, exact (scheme://host[:port]); must include the public URL's
//	AUTHSVC_WEBAUTHN_TIMEOUT              2m                               longest passkey ceremony, enforced by the server (30s to 10m)
//	AUTHSVC_IDENTITY_FAILURE_LIMIT        20                               consecutive failures of one method family at one client that lock it for the identity at that client (1 to 100)
//	AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT 1.5 × the failure limit: 30      failures of one family over all clients, each counted up to the failure limit, that lock it for every client (above the failure limit, to 200)
//	AUTHSVC_IDENTITY_FIRST_LOCK           30s                              the first lock; each further one doubles (1s to 24h)
//	AUTHSVC_IDENTITY_LONGEST_LOCK         1h                               the longest lock (first lock to 7d = 168h)
//	AUTHSVC_IDENTITY_FAILURE_WINDOW       24h                              failures older than this are forgotten (longest lock to 30d = 720h)
//	AUTHSVC_IDENTITY_SENDS                3                                messages one client sends to one identity per send window (1 to 20)
//	AUTHSVC_IDENTITY_SHARED_SENDS         1.5 × the sends: 5               messages all clients send to one identity per send window (above AUTHSVC_IDENTITY_SENDS, to 40)
//	AUTHSVC_IDENTITY_QUIET_STARTS         10                               starts that send nothing (TOTP/passkey only) one client makes for one identity per send window (1 to 100)
//	AUTHSVC_IDENTITY_SHARED_QUIET_STARTS  1.5 × the quiet starts: 15       such starts of all clients for one identity per send window (above AUTHSVC_IDENTITY_QUIET_STARTS, to 200)
//	AUTHSVC_IDENTITY_SEND_WINDOW          10m                              the identity's window for sends and quiet starts (1m to 24h)
//	AUTHSVC_LIMIT_DESTINATION             5/1h                             sends per email address or phone number, N/DURATION
//	AUTHSVC_LIMIT_PREFIX                  20/1h                            sends per phone number without its last 4 digits, N/DURATION
//	AUTHSVC_LIMIT_COUNTRY                 1000/1h                          sends per country calling code, N/DURATION
//	AUTHSVC_LIMIT_CLIENT                  600/1m                           sends per API client, N/DURATION
//	AUTHSVC_LIMIT_AGENT                   30/1h                            sends per agent of a client, N/DURATION
//	AUTHSVC_LIMIT_CLIENT_DAILY            20000                            sends per API client per 24h (1 to 100000000)
//	AUTHSVC_SMS_COUNTRIES                 (all)                            calling codes SMS may go to, comma-separated, e.g. 1,44,34
//	AUTHSVC_EMAIL_PROVIDER_RULES          (none)                           mail domains whose local part ignores dots and/or +tags, for counting one mailbox once: DOMAIN:RULES,…, RULES dots, tags or dots+tags, e.g. gmail.com:dots+tags,googlemail.com:dots+tags
//	AUTHSVC_CLIENTS_FILE                  required / client "dev"          API clients, their key digests, certificate names and grants (format: see grpcapi.LoadClients)
//	AUTHSVC_CLIENTS_RELOAD                30s                              how often the clients file is re-read, so a revoked key or cert is refused without a restart (1s to 1h)
//	AUTHSVC_DISCLOSURE_POLICY_FILE        built-in default policy          disclosure policy, YAML (format: see package policy; `authctl policy --file` checks and prints one)
//	AUTHSVC_SMTP_HOST                     required unless email webhook    SMTP submission server
//	AUTHSVC_SMTP_PORT                     by mode: 587 / 465 / 25          SMTP port
//	AUTHSVC_SMTP_USERNAME                 (none: no AUTH)                  SMTP AUTH user
//	AUTHSVC_SMTP_PASSWORD_FILE            required with a username         file holding the SMTP password
//	AUTHSVC_SMTP_FROM                     required with SMTP host          From address, e.g. "Acme <no-reply@acme.example>"
//	AUTHSVC_SMTP_TLS                      starttls                         starttls | tls | none (none only for a loopback host)
//	AUTHSVC_SMTP_CA_FILE                  system roots                     PEM CA bundle for the SMTP server certificate
//	AUTHSVC_EMAIL_WEBHOOK_URL             (none)                           send email through the signed webhook instead of SMTP
//	AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE     required with the URL            file holding the email webhook's HMAC secret (>= 32 bytes)
//	AUTHSVC_SMS_WEBHOOK_URL               required                         SMS gateway webhook (https; http only on loopback)
//	AUTHSVC_SMS_WEBHOOK_SECRET_FILE       required                         file holding the SMS webhook's HMAC secret (>= 32 bytes)
//	AUTHSVC_LOG_LEVEL                     info                             debug | info | warn | error
//	AUTHSVC_LOG_FORMAT                    json / text                      json | text
//	AUTHSVC_AUDIT_BUFFER                  72h                              how long audit events stay in Redis once exported (1h to 30d; Nd or a duration); never-exported ones stay up to twice this
//	AUTHSVC_AUDIT_SINK                    stdout                           where the exporter writes audit events: stdout | file:/path | postgres
//	AUTHSVC_AUDIT_POSTGRES_URL            required with postgres           postgres://user@host:5432/db?sslmode=verify-full (never put the password in the URL)
//	AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE  (none)                           file holding the PostgreSQL password
//	AUTHSVC_AUDIT_RETENTION               90d                              how long the postgres sink keeps audit events (1d to 3650d; Nd or a duration)
//	AUTHSVC_AUDIT_LOG                     off                              an immediate, best-effort mirror of the audit events: stdout | stderr | off | a file path
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
	// colour and official accounts, as the pages show them.
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

// Defaults.
const (
	devAPIKey              = "dev-insecure-key"
	devBrand               = "Example Brand"
	defaultShutdownDrain   = 5 * time.Second
	defaultShutdownTimeout = 15 * time.Second
	defaultAssertionTTL    = 5 * time.Minute
	defaultPublishLead     = assertion.DefaultPublishLead
	defaultKeysReload      = time.Minute
	defaultClientsReload   = 30 * time.Second
	defaultTLSReload       = time.Minute
	// minPublishLead is the JWKS document's cache lifetime (max-age=300).
	minPublishLead         = 5 * time.Minute
	defaultVerificationTTL = 10 * time.Minute
	defaultMaxAttempts     = 5
	// Enrollment and passkeys.
	defaultEnrollmentWindow  = 10 * time.Minute
	defaultEnrollmentLinkTTL = 15 * time.Minute
	defaultFactorReportTTL   = 7 * day
	defaultFactorReportHold  = 30 * day
	defaultRetention         = 400 * day
	defaultCeremonyTimeout   = 2 * time.Minute
	defaultDialTimeout       = time.Second
	defaultIOTimeout         = 500 * time.Millisecond
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

// Default abuse limits: the same values challenge.Limits takes for zero fields,
// spelled out so that the configuration in effect is the one read here.
const (
	defaultIdentityFailures      = 20
	defaultIdentityFirstLock     = 30 * time.Second
	defaultIdentityLongestLock   = time.Hour
	defaultIdentityFailureWindow = 24 * time.Hour
	defaultIdentitySends         = 3
	defaultIdentityQuietStarts   = 10
	defaultIdentitySendWindow    = 10 * time.Minute
	defaultClientDaily           = 20_000
	day                          = 24 * time.Hour
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

// envReader reads typed variables and collects every problem.
type envReader struct {
	getenv   func(string) string
	problems []string
}

func (r *envReader) addf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) boolean(name string, def bool) bool {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.addf("%s: want true or false, got %q", name, v)
		return def
	}
	return b
}

func (r *envReader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.addf("%s: want a duration such as 500ms, 5s or 10m, got %q", name, v)
		return def
	}
	if d < lo || d > hi {
		r.addf("%s: want between %s and %s, got %s", name, lo, hi, d)
	}
	return d
}

// days reads a long duration: N days written "Nd" (e.g. 400d), or a Go duration
// such as 9600h.
func (r *envReader) days(name string, def, lo, hi time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > math.MaxInt32 {
			r.addf("%s: want a number of days such as 400d, or a duration such as 9600h, got %q", name, v)
			return def
		}
		d = time.Duration(days) * day
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			r.addf("%s: want a number of days such as 400d, or a duration such as 9600h, got %q", name, v)
			return def
		}
	}
	if d < lo || d > hi {
		r.addf("%s: want between %s and %s, got %s", name, daysString(lo), daysString(hi), v)
	}
	return d
}

// daysString writes a whole number of days as "Nd", anything else as a duration.
func daysString(d time.Duration) string {
	if d%day == 0 {
		return strconv.Itoa(int(d/day)) + "d"
	}
	return d.String()
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.addf("%s: want a whole number, got %q", name, v)
		return def
	}
	if n < lo || n > hi {
		r.addf("%s: want between %d and %d, got %d", name, lo, hi, n)
	}
	return n
}

// file reads a *_FILE variable: when required it must be set, and when set the
// file must exist and be a regular, readable file. Only the path is ever quoted.
func (r *envReader) file(name string, required bool, why string) string {
	p := strings.TrimSpace(r.getenv(name))
	if p == "" {
		if required {
			r.addf("%s is not set: %s", name, why)
		}
		return ""
	}
	r.checkPath(name, p, false)
	return p
}

// dir is file for a directory.
func (r *envReader) dir(name string, required bool, why string) string {
	p := strings.TrimSpace(r.getenv(name))
	if p == "" {
		if required {
			r.addf("%s is not set: %s", name, why)
		}
		return ""
	}
	r.checkPath(name, p, true)
	return p
}

func (r *envReader) checkPath(name, p string, wantDir bool) {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.addf("%s: %s does not exist", name, p)
	case err != nil:
		r.addf("%s: cannot read %s: %v", name, p, errors.Unwrap(err))
	case wantDir && !fi.IsDir():
		r.addf("%s: %s is not a directory", name, p)
	case !wantDir && fi.IsDir():
		r.addf("%s: %s is a directory, want a file", name, p)
	}
}

// loadConfig reads the configuration from getenv and validates it, reporting
// every problem at once in a *ConfigError. dev is the -dev flag.
func loadConfig(getenv func(string) string, dev bool) (*Config, error) {
	r := &envReader{getenv: getenv}
	var c Config
	c.Dev.Enabled = r.boolean("AUTHSVC_DEV", false) || dev
	d := c.Dev.Enabled
	prod := !d
	pick := func(p, dv string) string {
		if d {
			return dv
		}
		return p
	}

	// Dev mode.
	c.Dev.AllowRemote = r.boolean("AUTHSVC_DEV_ALLOW_REMOTE", false)
	c.Dev.APIKey = r.str("AUTHSVC_DEV_API_KEY", devAPIKey)
	if prod {
		for _, name := range []string{"AUTHSVC_DEV_API_KEY", "AUTHSVC_DEV_ALLOW_REMOTE"} {
			if r.getenv(name) != "" {
				r.addf("%s is set but dev mode is off: unset it, or set AUTHSVC_DEV=true", name)
			}
		}
	}

	// Listeners.
	c.Listen.GRPCAddr = r.str("AUTHSVC_GRPC_ADDR", pick(":8443", "127.0.0.1:7443"))
	c.Listen.HTTPAddr = r.str("AUTHSVC_HTTP_ADDR", pick(":8080", "127.0.0.1:8080"))
	c.Listen.MetricsAddr = r.str("AUTHSVC_METRICS_ADDR", pick(":9090", "127.0.0.1:9090"))
	for _, a := range []struct{ name, addr string }{
		{"AUTHSVC_GRPC_ADDR", c.Listen.GRPCAddr},
		{"AUTHSVC_HTTP_ADDR", c.Listen.HTTPAddr},
		{"AUTHSVC_METRICS_ADDR", c.Listen.MetricsAddr},
	} {
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			r.addf("%s: want host:port such as :8080 or 127.0.0.1:8080, got %q", a.name, a.addr)
			continue
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			r.addf("%s: bad port in %q", a.name, a.addr)
			continue
		}
		if d && !c.Dev.AllowRemote && !isLoopback(host) {
			r.addf("%s: dev mode listens only on loopback (127.0.0.1, ::1, localhost), got %q; set AUTHSVC_DEV_ALLOW_REMOTE=true to expose an insecure dev server", a.name, a.addr)
		}
	}
	c.Listen.TLSCertFile = r.file("AUTHSVC_TLS_CERT_FILE", false, "")
	c.Listen.TLSKeyFile = r.file("AUTHSVC_TLS_KEY_FILE", false, "")
	c.Listen.TLSReload = r.duration("AUTHSVC_TLS_RELOAD", defaultTLSReload, time.Second, time.Hour)
	if (c.Listen.TLSCertFile == "") != (c.Listen.TLSKeyFile == "") {
		r.addf("AUTHSVC_TLS_CERT_FILE and AUTHSVC_TLS_KEY_FILE: set both (serve TLS) or neither (TLS ends at the ingress)")
	}
	if prod {
		loadClientAuth(r, &c.Listen)
	}
	c.Listen.Reflection = r.boolean("AUTHSVC_GRPC_REFLECTION", d)
	loadGRPC(r, &c.GRPC)
	c.Listen.ShutdownDrain = r.duration("AUTHSVC_SHUTDOWN_DRAIN", pick2(d, defaultShutdownDrain, 0), 0, 5*time.Minute)
	c.Listen.ShutdownTimeout = r.duration("AUTHSVC_SHUTDOWN_TIMEOUT", defaultShutdownTimeout, time.Second, 10*time.Minute)

	// Service.
	c.Service.Brand = r.str("AUTHSVC_BRAND", pick("", devBrand))
	if c.Service.Brand == "" {
		r.addf("AUTHSVC_BRAND is not set: name the brand customers talk to, e.g. AUTHSVC_BRAND=Acme")
	} else if brand, err := text.Display(c.Service.Brand); err != nil {
		// The brand is on every page and in every message: nothing in it may hide
		// or reorder what the customer reads.
		r.addf("AUTHSVC_BRAND %v; write the brand as customers should read it", err)
	} else if c.Service.Brand = brand; len(brand) > 64 {
		r.addf("AUTHSVC_BRAND: at most 64 bytes")
	}
	loadBrandCues(r, &c.Service.Cues)
	if raw := r.str("AUTHSVC_PUBLIC_URL", ""); raw != "" {
		c.Service.PublicURL = parsePublicURL(r, raw, d)
	} else if prod {
		r.addf("AUTHSVC_PUBLIC_URL is not set: the https origin customers open pages on, e.g. AUTHSVC_PUBLIC_URL=https://verify.acme.example")
	}

	// Redis.
	c.Redis.DialTimeout = r.duration("AUTHSVC_REDIS_DIAL_TIMEOUT", defaultDialTimeout, 10*time.Millisecond, time.Minute)
	c.Redis.ReadTimeout = r.duration("AUTHSVC_REDIS_READ_TIMEOUT", defaultIOTimeout, 10*time.Millisecond, time.Minute)
	c.Redis.WriteTimeout = r.duration("AUTHSVC_REDIS_WRITE_TIMEOUT", defaultIOTimeout, 10*time.Millisecond, time.Minute)
	if prod {
		raw := r.str("AUTHSVC_REDIS_URL", "")
		if raw == "" {
			r.addf("AUTHSVC_REDIS_URL is not set: e.g. redis://redis:6379/0, redis-sentinel://s1:26379,s2:26379/mymaster or redis-cluster://n1:6379,n2:6379")
		} else if t, err := parseRedisURL(raw); err != nil {
			r.addf("AUTHSVC_REDIS_URL: %v", err)
		} else {
			c.Redis.Target = t
		}
		c.Redis.PasswordFile = r.file("AUTHSVC_REDIS_PASSWORD_FILE", false, "")
		c.Redis.SentinelPasswordFile = r.file("AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", false, "")
		if c.Redis.SentinelPasswordFile != "" && c.Redis.Target.Mode != redisSentinel && c.Redis.Target.Addrs != nil {
			r.addf("AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE is set but AUTHSVC_REDIS_URL is not a redis-sentinel URL")
		}
		c.Redis.CAFile = r.file("AUTHSVC_REDIS_CA_FILE", false, "")
		if c.Redis.CAFile != "" && !c.Redis.Target.TLS && c.Redis.Target.Addrs != nil {
			r.addf("AUTHSVC_REDIS_CA_FILE is set but AUTHSVC_REDIS_URL does not use TLS (rediss://, rediss-sentinel://, rediss-cluster://)")
		}
	}

	// Keys and clients.
	if prod {
		c.Keys.HMACKeysFile = r.file("AUTHSVC_HMAC_KEYS_FILE", true, "a file of keyed-hash keys, one \"ID:BASE64\" line each (32+ random bytes), current first")
		c.Keys.KEKFile = r.file("AUTHSVC_KEK_FILE", true, "a file of key-encryption keys that seal TOTP seeds, one \"ID:BASE64\" line each (exactly 32 random bytes), current first")
		c.Keys.SigningKeysDir = r.dir("AUTHSVC_SIGNING_KEYS_DIR", true, "a directory of PKCS#8 PEM signing keys (Ed25519 or ECDSA P-256), e.g. a mounted Kubernetes Secret")
		c.Keys.SigningKeyActive = r.str("AUTHSVC_SIGNING_KEY_ACTIVE", "")
		c.Keys.SigningPublishLead = r.duration("AUTHSVC_SIGNING_PUBLISH_LEAD", defaultPublishLead, minPublishLead, 24*time.Hour)
		c.Keys.SigningKeysReload = r.duration("AUTHSVC_SIGNING_KEYS_RELOAD", defaultKeysReload, 10*time.Second, time.Hour)
		c.ClientsFile = r.file("AUTHSVC_CLIENTS_FILE", true, "a file listing the API clients and their keys")
		c.ClientsReload = r.duration("AUTHSVC_CLIENTS_RELOAD", defaultClientsReload, time.Second, time.Hour)
	}

	// Disclosure policy: the built-in one unless a file is named, in dev mode too.
	c.DisclosurePolicyFile = r.file("AUTHSVC_DISCLOSURE_POLICY_FILE", false, "")

	// Assertions and verifications.
	c.Assertion.Issuer = r.str("AUTHSVC_ASSERTION_ISSUER", "")
	c.Assertion.TTL = r.duration("AUTHSVC_ASSERTION_TTL", defaultAssertionTTL, 30*time.Second, time.Hour)
	c.Verification.TTL = r.duration("AUTHSVC_VERIFICATION_TTL", defaultVerificationTTL, time.Minute, time.Hour)
	c.Verification.MaxAttempts = r.integer("AUTHSVC_MAX_ATTEMPTS", defaultMaxAttempts, 1, 10)

	// Enrollment and passkeys, in dev mode too. A verification record stays
	// readable for an hour after it expires, so a window of at most an hour
	// never outlives the verification that proves it.
	c.Enrollment.Window = r.duration("AUTHSVC_ENROLLMENT_WINDOW", defaultEnrollmentWindow, time.Minute, time.Hour)
	c.Enrollment.LinkTTL = r.duration("AUTHSVC_ENROLLMENT_LINK_TTL", defaultEnrollmentLinkTTL, time.Minute, day)
	c.Enrollment.ReportTTL = r.days("AUTHSVC_FACTOR_REPORT_TTL", defaultFactorReportTTL, time.Hour, 90*day)
	c.Enrollment.ReportHold = r.days("AUTHSVC_FACTOR_REPORT_HOLD", defaultFactorReportHold, time.Hour, 365*day)
	c.Enrollment.Retention = r.days("AUTHSVC_CUSTOMER_RETENTION", defaultRetention, day, 3650*day)
	loadAudit(r, &c.Audit)
	loadEvents(r, &c)
	loadWebAuthn(r, &c)

	// Abuse limits, in dev mode too.
	loadLimits(r, &c.Limits)
	rules, err := challenge.ParseEmailRules(r.str("AUTHSVC_EMAIL_PROVIDER_RULES", ""))
	if err != nil {
		r.addf("AUTHSVC_EMAIL_PROVIDER_RULES: %v", err)
	}
	c.Verification.EmailRules = rules
	loadSMS(r, &c.SMS)

	// Delivery.
	if prod {
		c.Webhook.SMSURL = r.str("AUTHSVC_SMS_WEBHOOK_URL", "")
		if c.Webhook.SMSURL == "" {
			r.addf("AUTHSVC_SMS_WEBHOOK_URL is not set: the SMS gateway's webhook, e.g. https://sms-relay.internal/send")
		} else {
			checkWebhookURL(r, "AUTHSVC_SMS_WEBHOOK_URL", c.Webhook.SMSURL)
		}
		c.Webhook.SMSSecretFile = r.file("AUTHSVC_SMS_WEBHOOK_SECRET_FILE", true, "a file holding the SMS webhook's signing secret (32+ bytes)")
		c.Webhook.EmailURL = r.str("AUTHSVC_EMAIL_WEBHOOK_URL", "")
		if c.Webhook.EmailURL != "" {
			checkWebhookURL(r, "AUTHSVC_EMAIL_WEBHOOK_URL", c.Webhook.EmailURL)
			c.Webhook.EmailSecretFile = r.file("AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE", true, "a file holding the email webhook's signing secret (32+ bytes)")
		}
		loadSMTP(r, &c)
	}

	// Logging.
	switch lv := strings.ToLower(r.str("AUTHSVC_LOG_LEVEL", "info")); lv {
	case "debug":
		c.Log.Level = slog.LevelDebug
	case "info":
		c.Log.Level = slog.LevelInfo
	case "warn", "warning":
		c.Log.Level = slog.LevelWarn
	case "error":
		c.Log.Level = slog.LevelError
	default:
		r.addf("AUTHSVC_LOG_LEVEL: want debug, info, warn or error, got %q", lv)
	}
	c.Log.Format = strings.ToLower(r.str("AUTHSVC_LOG_FORMAT", pick("json", "text")))
	if c.Log.Format != "json" && c.Log.Format != "text" {
		r.addf("AUTHSVC_LOG_FORMAT: want json or text, got %q", c.Log.Format)
	}

	if len(r.problems) > 0 {
		return nil, &ConfigError{Problems: r.problems}
	}
	return &c, nil
}

// loadAudit reads the audit trail's buffer, sink and mirror, in dev mode too.
func loadAudit(r *envReader, a *AuditConfig) {
	a.Buffer = r.days("AUTHSVC_AUDIT_BUFFER", defaultAuditBuffer, time.Hour, 30*day)
	a.Retention = r.days("AUTHSVC_AUDIT_RETENTION", 90*day, day, 3650*day)
	a.Log = r.str("AUTHSVC_AUDIT_LOG", "off")
	sink := r.str("AUTHSVC_AUDIT_SINK", auditSinkStdout)
	switch kind, path, _ := strings.Cut(sink, ":"); kind {
	case auditSinkStdout, auditSinkPostgres:
		a.Sink = kind
		if path != "" {
			r.addf("AUTHSVC_AUDIT_SINK: %s takes nothing after it, got %q", kind, sink)
		}
	case auditSinkFile:
		a.Sink, a.File = kind, path
		if path == "" {
			r.addf("AUTHSVC_AUDIT_SINK: name the file, e.g. file:/var/log/authsvc/audit.jsonl")
		}
	default:
		r.addf("AUTHSVC_AUDIT_SINK: want stdout, file:/path or postgres, got %q", sink)
	}
	a.PostgresURL = r.str("AUTHSVC_AUDIT_POSTGRES_URL", "")
	a.PostgresPasswordFile = r.file("AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE", false, "")
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

// loadClientAuth reads the client certificate settings of the gRPC listener.
// A client certificate can only be checked where TLS ends, so a client CA needs
// the service's own TLS pair.
func loadClientAuth(r *envReader, l *ListenConfig) {
	l.ClientCAFile = r.file("AUTHSVC_CLIENT_CA_FILE", false, "")
	l.ClientAuth = strings.ToLower(r.str("AUTHSVC_CLIENT_AUTH", clientAuthAny))
	switch l.ClientAuth {
	case clientAuthAny:
	case clientAuthMTLSOnly:
		if l.ClientCAFile == "" {
			r.addf("AUTHSVC_CLIENT_AUTH=mtls-only needs AUTHSVC_CLIENT_CA_FILE: set it to the PEM bundle of the CA that issues client certificates, or set AUTHSVC_CLIENT_AUTH=any")
		}
	default:
		r.addf("AUTHSVC_CLIENT_AUTH: want any or mtls-only, got %q", l.ClientAuth)
	}
	if l.ClientCAFile != "" && l.TLSCertFile == "" {
		r.addf("AUTHSVC_CLIENT_CA_FILE is set but authsvc does not serve TLS: set AUTHSVC_TLS_CERT_FILE and AUTHSVC_TLS_KEY_FILE, since a client certificate can only be checked where TLS ends (not behind a TLS-terminating ingress or mesh)")
	}
}

// Bounds of the gRPC transport limits.
const (
	maxGRPCHeaderBytes = 1 << 20
	maxGRPCStreams     = 1 << 20
	maxGRPCWatches     = 100_000
)

// loadGRPC reads the gRPC server's transport limits, in dev mode too.
func loadGRPC(r *envReader, g *GRPCConfig) {
	g.HandshakeTimeout = r.duration("AUTHSVC_GRPC_HANDSHAKE_TIMEOUT", grpcapi.DefaultConnectionTimeout, time.Second, time.Minute)
	g.MaxHeaderBytes = r.integer("AUTHSVC_GRPC_MAX_HEADER_BYTES", grpcapi.DefaultMaxHeaderListSize, 1<<10, maxGRPCHeaderBytes)
	g.MaxConnectionAge = r.duration("AUTHSVC_GRPC_MAX_CONNECTION_AGE", grpcapi.DefaultMaxConnectionAge, time.Minute, day)
	g.MaxConnectionAgeGrace = r.duration("AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE", grpcapi.DefaultMaxConnectionAgeGrace, 10*time.Second, day)
	g.MaxWatchesPerClient = r.integer("AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT", grpcapi.DefaultMaxWatchesPerClient, 1, maxGRPCWatches)
	g.MaxHealthWatches = r.integer("AUTHSVC_GRPC_MAX_HEALTH_WATCHES", grpcapi.DefaultMaxHealthWatches, 1, maxGRPCWatches)
	// A client may hold all its watches and calls on one connection (grpc-go
	// keeps one per backend) and queues a call over the bound: its calls would
	// wait behind its own watches.
	need := g.MaxWatchesPerClient + grpcapi.DefaultMaxInFlightPerClient
	g.MaxConcurrentStreams = r.integer("AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS", max(grpcapi.DefaultMaxConcurrentStreams, need), 1, maxGRPCStreams)
	if g.MaxConcurrentStreams < need {
		r.addf("AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS (%d) is below AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT + %d unary calls (%d): "+
			"a platform holding its watches on one connection would have its calls queue behind them; raise it to at least %d",
			g.MaxConcurrentStreams, grpcapi.DefaultMaxInFlightPerClient, need, need)
	}
}

// loadLimits reads the abuse limits into l.
func loadLimits(r *envReader, l *challenge.Limits) {
	l.Failures = r.integer("AUTHSVC_IDENTITY_FAILURE_LIMIT", defaultIdentityFailures, 1, 100)
	l.FirstLock = r.duration("AUTHSVC_IDENTITY_FIRST_LOCK", defaultIdentityFirstLock, time.Second, day)
	l.LongestLock = r.duration("AUTHSVC_IDENTITY_LONGEST_LOCK", defaultIdentityLongestLock, time.Second, 7*day)
	l.FailureWindow = r.duration("AUTHSVC_IDENTITY_FAILURE_WINDOW", defaultIdentityFailureWindow, time.Minute, 30*day)
	if l.LongestLock < l.FirstLock {
		r.addf("AUTHSVC_IDENTITY_LONGEST_LOCK (%s) is shorter than AUTHSVC_IDENTITY_FIRST_LOCK (%s): raise it, or lower the first lock", l.LongestLock, l.FirstLock)
	}
	// The identity's counters, its lock included, are kept for the failure window:
	// a shorter window would forget a lock before it ends.
	if l.FailureWindow < l.LongestLock {
		r.addf("AUTHSVC_IDENTITY_FAILURE_WINDOW (%s) is shorter than AUTHSVC_IDENTITY_LONGEST_LOCK (%s): a lock would be forgotten before it ends; raise the window", l.FailureWindow, l.LongestLock)
	}
	l.Sends = r.integer("AUTHSVC_IDENTITY_SENDS", defaultIdentitySends, 1, 20)
	l.SendWindow = r.duration("AUTHSVC_IDENTITY_SEND_WINDOW", defaultIdentitySendWindow, time.Minute, day)
	l.QuietStarts = r.integer("AUTHSVC_IDENTITY_QUIET_STARTS", defaultIdentityQuietStarts, 1, 100)
	// Each limit is kept per client and, higher, for all clients together: a shared
	// limit one client could reach alone would let it lock or exhaust the identity
	// for every other client. Unset, it is half again its per-client limit.
	l.SharedFailures = r.sharedLimit("AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT", "AUTHSVC_IDENTITY_FAILURE_LIMIT", l.Failures, 100, 200)
	l.SharedSends = r.sharedLimit("AUTHSVC_IDENTITY_SHARED_SENDS", "AUTHSVC_IDENTITY_SENDS", l.Sends, 20, 40)
	l.SharedQuietStarts = r.sharedLimit("AUTHSVC_IDENTITY_SHARED_QUIET_STARTS", "AUTHSVC_IDENTITY_QUIET_STARTS", l.QuietStarts, 100, 200)

	s := &l.Send
	s.Destination = r.rate("AUTHSVC_LIMIT_DESTINATION", "5/1h")
	s.Prefix = r.rate("AUTHSVC_LIMIT_PREFIX", "20/1h")
	s.Country = r.rate("AUTHSVC_LIMIT_COUNTRY", "1000/1h")
	s.Client = r.rate("AUTHSVC_LIMIT_CLIENT", "600/1m")
	s.Agent = r.rate("AUTHSVC_LIMIT_AGENT", "30/1h")
	s.ClientDaily = r.integer("AUTHSVC_LIMIT_CLIENT_DAILY", defaultClientDaily, 1, 100_000_000)
	s.Countries = r.callingCodes("AUTHSVC_SMS_COUNTRIES")
}

// sharedLimit reads the shared limit name over the per-client limit perName
// (value per, at most perMax): above per and at most hi, by default
// challenge.DefaultShared(per). An out-of-range per-client limit, already
// reported, is not reported again here.
func (r *envReader) sharedLimit(name, perName string, per, perMax, hi int) int {
	n := r.integer(name, challenge.DefaultShared(per), 2, hi)
	if per >= 1 && per <= perMax && n <= per && n >= 2 && n <= hi {
		r.addf("%s (%d) is not above %s (%d): one client alone could reach it and lock or exhaust the identity for every client; raise it, or leave it unset (%d)",
			name, n, perName, per, challenge.DefaultShared(per))
	}
	return n
}

// Bounds of a rate N/DURATION.
const (
	maxRateN   = 1_000_000
	minRatePer = time.Second
	maxRatePer = 7 * day
)

// rate reads N/DURATION (N sends in any window of DURATION); def is the default
// in the same form.
func (r *envReader) rate(name, def string) challenge.Rate {
	v := r.str(name, def)
	ns, ds, ok := strings.Cut(v, "/")
	n, nErr := strconv.Atoi(strings.TrimSpace(ns))
	per, dErr := time.ParseDuration(strings.TrimSpace(ds))
	if !ok || nErr != nil || dErr != nil {
		r.addf("%s: want N/DURATION, N sends per window, such as %s, got %q", name, def, v)
		return challenge.Rate{}
	}
	switch {
	case n < 1 || n > maxRateN:
		r.addf("%s: want N between 1 and %d, got %d", name, maxRateN, n)
	case per < minRatePer || per > maxRatePer:
		r.addf("%s: want DURATION between %s and %s, got %s", name, minRatePer, maxRatePer, per)
	case per/time.Duration(n) < time.Millisecond:
		r.addf("%s: %d per %s is more than one send per millisecond; lower N or lengthen DURATION", name, n, per)
	}
	return challenge.Rate{N: n, Per: per}
}

// callingCodes reads a comma-separated list of country calling codes (an optional
// leading + is allowed); empty means none.
func (r *envReader) callingCodes(name string) []int {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return nil
	}
	known := phonenumbers.GetSupportedCallingCodes()
	var out []int
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimPrefix(strings.TrimSpace(f), "+")
		cc, err := strconv.Atoi(f)
		switch {
		case f == "":
			r.addf("%s: empty entry in %q; want calling codes separated by commas, e.g. 1,44,34", name, v)
		case err != nil || cc <= 0:
			r.addf("%s: want country calling codes such as 1,44,34, got %q", name, f)
		case !known[cc]:
			r.addf("%s: %d is not a country calling code", name, cc)
		case !slices.Contains(out, cc):
			out = append(out, cc)
		}
	}
	return out
}

// devIgnored lists the production variables that are set but that dev mode does
// not use, so that the operator is told instead of surprised.
func devIgnored(getenv func(string) string) []string {
	var out []string
	for _, name := range []string{
		"AUTHSVC_REDIS_URL", "AUTHSVC_REDIS_PASSWORD_FILE", "AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", "AUTHSVC_REDIS_CA_FILE",
		"AUTHSVC_HMAC_KEYS_FILE", "AUTHSVC_KEK_FILE", "AUTHSVC_SIGNING_KEYS_DIR", "AUTHSVC_SIGNING_KEY_ACTIVE",
		"AUTHSVC_SIGNING_PUBLISH_LEAD", "AUTHSVC_SIGNING_KEYS_RELOAD", "AUTHSVC_CLIENTS_FILE", "AUTHSVC_CLIENTS_RELOAD",
		"AUTHSVC_CLIENT_CA_FILE", "AUTHSVC_CLIENT_AUTH",
		"AUTHSVC_SMTP_HOST", "AUTHSVC_SMTP_PORT", "AUTHSVC_SMTP_USERNAME", "AUTHSVC_SMTP_PASSWORD_FILE", "AUTHSVC_SMTP_FROM",
		"AUTHSVC_SMTP_TLS", "AUTHSVC_SMTP_CA_FILE", "AUTHSVC_SMS_WEBHOOK_URL", "AUTHSVC_SMS_WEBHOOK_SECRET_FILE",
		"AUTHSVC_EMAIL_WEBHOOK_URL", "AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE",
	} {
		if getenv(name) != "" {
			out = append(out, name)
		}
	}
	return out
}

func pick2(dev bool, prod, devValue time.Duration) time.Duration {
	if dev {
		return devValue
	}
	return prod
}

// loadSMTP reads the SMTP settings: required unless email goes through the webhook.
func loadSMTP(r *envReader, c *Config) {
	s := &c.SMTP
	s.Host = r.str("AUTHSVC_SMTP_HOST", "")
	if s.Host == "" {
		if c.Webhook.EmailURL == "" {
			r.addf("AUTHSVC_SMTP_HOST is not set: the SMTP submission server for code and link emails (or set AUTHSVC_EMAIL_WEBHOOK_URL to send email through a webhook)")
		}
		return
	}
	if c.Webhook.EmailURL != "" {
		r.addf("AUTHSVC_SMTP_HOST and AUTHSVC_EMAIL_WEBHOOK_URL are both set: email goes one way; unset one")
		return
	}
	if strings.ContainsAny(s.Host, ":/ ") {
		r.addf("AUTHSVC_SMTP_HOST: a host name only, without port or scheme (the port is AUTHSVC_SMTP_PORT), got %q", s.Host)
	}
	s.Port = r.integer("AUTHSVC_SMTP_PORT", 0, 1, 65535)
	s.Username = r.str("AUTHSVC_SMTP_USERNAME", "")
	s.PasswordFile = r.file("AUTHSVC_SMTP_PASSWORD_FILE", s.Username != "", "a file holding the password of AUTHSVC_SMTP_USERNAME")
	if s.Username == "" && s.PasswordFile != "" {
		r.addf("AUTHSVC_SMTP_PASSWORD_FILE is set without AUTHSVC_SMTP_USERNAME")
	}
	s.From = r.str("AUTHSVC_SMTP_FROM", "")
	if s.From == "" {
		r.addf("AUTHSVC_SMTP_FROM is not set: the sender, e.g. \"Acme <no-reply@acme.example>\"")
	} else if a, err := mail.ParseAddress(s.From); err != nil {
		r.addf("AUTHSVC_SMTP_FROM: want an address such as \"Acme <no-reply@acme.example>\", got %q", s.From)
	} else if _, err := text.Display(a.Name + a.Address); err != nil {
		// The sender's name is the first thing the customer reads of the email.
		r.addf("AUTHSVC_SMTP_FROM %v", err)
	}
	s.TLS = strings.ToLower(r.str("AUTHSVC_SMTP_TLS", "starttls"))
	switch s.TLS {
	case "starttls", "tls":
	case "none":
		if !isLoopback(s.Host) {
			r.addf("AUTHSVC_SMTP_TLS=none is allowed only for a loopback AUTHSVC_SMTP_HOST; use starttls or tls")
		}
	default:
		r.addf("AUTHSVC_SMTP_TLS: want starttls, tls or none, got %q", s.TLS)
	}
	s.CAFile = r.file("AUTHSVC_SMTP_CA_FILE", false, "")
}

// parsePublicURL checks the customer page origin: https outside dev mode.
func parsePublicURL(r *envReader, raw string, dev bool) *url.URL {
	const name = "AUTHSVC_PUBLIC_URL"
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		r.addf("%s: want an origin such as https://verify.acme.example, got %q", name, raw)
		return nil
	}
	ok := true
	if u.Scheme != "https" && !dev {
		r.addf("%s: must use https outside dev mode (customers type codes on these pages), got %q", name, raw)
		ok = false
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "" {
		r.addf("%s: want scheme, host, optional port and optional path prefix, without query, fragment, user info or escapes, got %q", name, raw)
		ok = false
	}
	if !ok {
		return nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u
}

// checkWebhookURL checks a webhook URL: https, or http on a loopback host.
func checkWebhookURL(r *envReader, name, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		r.addf("%s: want an absolute https URL", name)
		return
	}
	if u.User != nil {
		r.addf("%s: must not carry user info (the request is signed with the secret file)", name)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		r.addf("%s: must use https (http only for a loopback host)", name)
	}
}

// isLoopback reports whether host is a loopback address or "localhost".
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// networkName is what AUTHSVC_BRAND_ACCOUNTS accepts as a network: the lower-case
// name StartVerification's identity.network carries ("x", "instagram", …).
var networkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// loadBrandCues reads the brand's logo, colour and official accounts, checked as
// the pages will show them, so that a bad one stops the start with what is wrong.
func loadBrandCues(r *envReader, c *web.BrandCues) {
	if p := r.file("AUTHSVC_BRAND_LOGO_FILE", false, ""); p != "" {
		if b, err := readLimited(p, web.MaxLogoBytes); err != nil {
			r.addf("AUTHSVC_BRAND_LOGO_FILE: %v", err)
		} else if _, err := web.CheckLogo(b); err != nil {
			r.addf("AUTHSVC_BRAND_LOGO_FILE: the logo %v", err)
		} else {
			c.Logo = b
		}
	}
	if v := r.str("AUTHSVC_BRAND_COLOR", ""); v != "" {
		if err := web.CheckColour(strings.ToLower(v)); err != nil {
			r.addf("AUTHSVC_BRAND_COLOR %v", err)
		} else {
			c.Colour = strings.ToLower(v)
		}
	}
	raw := r.str("AUTHSVC_BRAND_ACCOUNTS", "")
	if raw == "" {
		return
	}
	c.Accounts = map[string]string{}
	for _, item := range strings.Split(raw, ",") {
		network, handle, ok := strings.Cut(strings.TrimSpace(item), ":")
		network = strings.ToLower(strings.TrimSpace(network))
		switch {
		case !ok || !networkName.MatchString(network):
			r.addf("AUTHSVC_BRAND_ACCOUNTS: want NETWORK:HANDLE,… such as x:@Acme,instagram:@acme; %q is not", item)
			continue
		case c.Accounts[network] != "":
			r.addf("AUTHSVC_BRAND_ACCOUNTS: %s is named twice", network)
			continue
		}
		h, err := web.CheckAccount(handle)
		if err != nil {
			r.addf("AUTHSVC_BRAND_ACCOUNTS: the account on %s %v", network, err)
			continue
		}
		c.Accounts[network] = h
	}
}

// readLimited reads a file of at most limit bytes; a bigger one is an error that
// says its size.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New("cannot be read")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, errors.New("cannot be read")
	}
	if len(b) > limit {
		return nil, fmt.Errorf("is over %d bytes (16 KiB); shrink or simplify the logo", limit)
	}
	return b, nil
}
