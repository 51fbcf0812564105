package main

import (
	"slices"
	"strconv"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/grpcapi"
)

// A setting is one AUTHSVC_* variable: where its value goes, how it is parsed
// and checked, its defaults, and its row in docs/configuration.md. loadConfig
// reads the settings in table order, then runs the checks that involve several
// of them (config.go); TestConfigurationDoc keeps the docs equal to the table.
type setting struct {
	// Name is the environment variable.
	Name string
	// Section names the table of docs/configuration.md that lists it: the
	// region between <!-- settings:Section --> and <!-- end settings -->.
	Section string
	// Mode says whether dev mode reads it; see mode.
	Mode mode
	// Default is the value when the variable is unset, written as an operator
	// would write it and parsed by Value like one: the docs show it as is.
	// Empty leaves the field's zero value. DevDefault, when set, replaces it
	// in dev mode. Defaults are not judged (TestSettingsTable checks them).
	Default, DevDefault string
	// Derive, when set, gives the default from the settings above it (already
	// read), as a value written like Default; ShowDefault documents it.
	Derive func() string
	// Required, outside dev mode, makes an unset variable a problem:
	// "NAME is not set: " + Required.
	Required string
	// When, if set, reads the variable only when it returns true, judging by
	// the settings above it (already read).
	When func() bool
	// Value is the kind of value and the field of Config it goes to.
	Value value
	// Doc is the meaning, for the docs; the values Value accepts follow it.
	Doc string
	// ShowDefault replaces the docs' default column where the default is not
	// a plain value (derived, or made up in dev mode).
	ShowDefault string
}

// mode says when a setting is read.
type mode int

const (
	// always: in production and in dev mode.
	always mode = iota
	// prodOnly: dev mode ignores it (and logs that it is set).
	prodOnly
	// devOnly: setting it with dev mode off is a problem.
	devOnly
)

// allSettings is every row, for the docs, devIgnored and the tests: Config's,
// then those of any part of the configuration read apart from it (a type
// with its own settings method and loader calling envReader.read).
func allSettings() []setting {
	return slices.Concat(new(Config).settings(), new(HandoverConfig).settings())
}

// settings is the table of the AUTHSVC_* variables of Config, in the order they
// are read and documented. Its values point into c. A subsystem may keep its
// rows in a method of its own in its own file, appended here.
func (c *Config) settings() []setting {
	return slices.Concat(c.coreSettings(), c.eventsSettings(), c.smsSettings())
}

// coreSettings are the rows of the core settings.
func (c *Config) coreSettings() []setting {
	l := &c.Limits
	return []setting{
		// Dev mode. AUTHSVC_DEV comes first: the rows below depend on it.
		{Name: "AUTHSVC_DEV", Section: "dev", Default: "false", Value: devSwitch(&c.Dev.Enabled),
			Doc: "dev mode (same as `-dev`); see [Dev mode](#dev-mode)."},
		{Name: "AUTHSVC_DEV_API_KEY", Section: "dev", Mode: devOnly, Default: devAPIKey, Value: str(&c.Dev.APIKey),
			Doc: "the API key of client `dev`."},
		{Name: "AUTHSVC_DEV_ALLOW_REMOTE", Section: "dev", Mode: devOnly, Default: "false", Value: boolean(&c.Dev.AllowRemote),
			Doc: "lets dev mode listen on non-loopback addresses."},

		// Listeners.
		{Name: "AUTHSVC_GRPC_ADDR", Section: "listen", Default: ":8443", DevDefault: "127.0.0.1:7443", Value: address(&c.Listen.GRPCAddr),
			Doc: "gRPC: `authsvc.v1`, `grpc.health.v1`, reflection when on. Must be `host:port`; in dev mode the host must be " +
				"loopback (`127.0.0.1`, `::1`, `localhost`) unless `AUTHSVC_DEV_ALLOW_REMOTE=true`."},
		{Name: "AUTHSVC_HTTP_ADDR", Section: "listen", Default: ":8080", DevDefault: "127.0.0.1:8080", Value: address(&c.Listen.HTTPAddr),
			Doc: "customer pages, `/.well-known/jwks.json`, `/healthz`, `/readyz` (and `/dev/outbox` in dev mode). Same rules."},
		{Name: "AUTHSVC_METRICS_ADDR", Section: "listen", Default: ":9090", DevDefault: "127.0.0.1:9090", Value: address(&c.Listen.MetricsAddr),
			Doc: "Prometheus `GET /metrics` only. Same rules."},
		{Name: "AUTHSVC_TLS_CERT_FILE", Section: "listen", Value: file(&c.Listen.TLSCertFile),
			Doc: "PEM certificate (chain). With `AUTHSVC_TLS_KEY_FILE`, gRPC and the page server use TLS 1.2 or later; the " +
				"metrics listener stays plaintext. Set both or neither; usually TLS ends at the ingress instead."},
		{Name: "AUTHSVC_TLS_KEY_FILE", Section: "listen", Value: file(&c.Listen.TLSKeyFile),
			Doc: "PEM private key of `AUTHSVC_TLS_CERT_FILE`."},
		{Name: "AUTHSVC_TLS_RELOAD", Section: "listen", Default: "1m", Value: duration(&c.Listen.TLSReload, time.Second, time.Hour),
			Doc: "how often the certificate, key and client CA files are re-read. When they changed and make a valid pair (and " +
				"bundle), the next handshakes use them, so a renewed certificate or a CA added to the bundle needs no restart; " +
				"connections already open keep theirs. A failed reload keeps the files in use and is logged at error level."},
		{Name: "AUTHSVC_CLIENT_CA_FILE", Section: "listen", Mode: prodOnly, Value: file(&c.Listen.ClientCAFile),
			Doc: "PEM bundle of the CA(s) that issue client certificates (mutual TLS). When set, the gRPC listener asks every " +
				"caller for a certificate and verifies it against this bundle (chain, validity, extended key usage `clientAuth`); " +
				"a verified certificate authenticates its connection as the client whose [`cert`](#clients-file) it names. It " +
				"needs `AUTHSVC_TLS_CERT_FILE`: a certificate can only be checked where TLS ends, not behind a TLS-terminating " +
				"ingress or mesh. The page server never asks for a certificate. See [operations](operations.md#mtls-for-clients)."},
		{Name: "AUTHSVC_CLIENT_AUTH", Section: "listen", Mode: prodOnly, Default: clientAuthAny, Value: enum(&c.Listen.ClientAuth, clientAuthAny, clientAuthMTLSOnly),
			Doc: "with `AUTHSVC_CLIENT_CA_FILE`: `any` accepts a connection without a certificate (health checks, clients that " +
				"use only an API key) and authenticates each call by certificate, API key, or both; `mtls-only` makes the TLS " +
				"handshake require a verified certificate, so every connection, health checks included, needs one. `mtls-only` " +
				"without `AUTHSVC_CLIENT_CA_FILE` is refused."},
		{Name: "AUTHSVC_GRPC_REFLECTION", Section: "listen", Default: "false", DevDefault: "true", Value: boolean(&c.Listen.Reflection),
			Doc: "registers gRPC server reflection (grpcurl without `.proto` files)."},
		{Name: "AUTHSVC_SHUTDOWN_DRAIN", Section: "listen", Default: "5s", DevDefault: "0s", Value: duration(&c.Listen.ShutdownDrain, 0, 5*time.Minute),
			Doc: "on SIGTERM or SIGINT, how long gRPC health reports `NOT_SERVING` and `/readyz` answers 503 before the servers " +
				"start stopping."},
		{Name: "AUTHSVC_SHUTDOWN_TIMEOUT", Section: "listen", Default: "15s", Value: duration(&c.Listen.ShutdownTimeout, time.Second, 10*time.Minute),
			Doc: "the longest graceful stop; after it, open streams (watchers) are cut."},

		// gRPC transport limits.
		{Name: "AUTHSVC_GRPC_HANDSHAKE_TIMEOUT", Section: "grpc", Default: fmtDuration(grpcapi.DefaultConnectionTimeout),
			Value: duration(&c.GRPC.HandshakeTimeout, time.Second, time.Minute),
			Doc:   "a new connection must finish its TLS handshake and HTTP/2 preface in this time, or it is closed."},
		{Name: "AUTHSVC_GRPC_MAX_HEADER_BYTES", Section: "grpc", Default: strconv.Itoa(grpcapi.DefaultMaxHeaderListSize),
			Value: integer(&c.GRPC.MaxHeaderBytes, 1<<10, maxGRPCHeaderBytes),
			Doc: "the most metadata one call may carry, in bytes as HTTP/2 counts them: every name and value plus 32 per entry. " +
				"Over it, the call's stream is reset (or the connection closed) while the headers are read, before " +
				"authentication; the call is neither logged nor counted."},
		{Name: "AUTHSVC_GRPC_MAX_CONNECTION_AGE", Section: "grpc", Default: fmtDuration(grpcapi.DefaultMaxConnectionAge),
			Value: duration(&c.GRPC.MaxConnectionAge, time.Minute, day),
			Doc: "after this long (±10 %) a connection is asked to go away (HTTP/2 GOAWAY); clients open a new one for new " +
				"calls, so connections spread over replicas."},
		{Name: "AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE", Section: "grpc", Default: fmtDuration(grpcapi.DefaultMaxConnectionAgeGrace),
			Value: duration(&c.GRPC.MaxConnectionAgeGrace, 10*time.Second, day),
			Doc: "how long the calls open on a connection asked to go away may still run; then it is closed and a stream still " +
				"open (a WatchVerification) ends `UNAVAILABLE`. Longer than a verification lives (60 min at most), so the " +
				"default cuts no watch."},
		{Name: "AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT", Section: "grpc", Default: strconv.Itoa(grpcapi.DefaultMaxWatchesPerClient),
			Value: integer(&c.GRPC.MaxWatchesPerClient, 1, maxGRPCWatches),
			Doc:   "WatchVerification streams one client may have open on one replica; one more is refused with `CLIENT_OVERLOADED`."},
		{Name: "AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS", Section: "grpc", Value: integer(&c.GRPC.MaxConcurrentStreams, 1, maxGRPCStreams),
			Derive: func() string { return strconv.Itoa(max(grpcapi.DefaultMaxConcurrentStreams, c.GRPC.streamsNeeded())) },
			ShowDefault: "`" + strconv.Itoa(grpcapi.DefaultMaxConcurrentStreams) + "`, or `AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT` + " +
				strconv.Itoa(grpcapi.DefaultMaxInFlightPerClient) + " when that is more",
			Doc: "the calls one connection may have open at once; a stream over it is refused (`REFUSED_STREAM`), and grpc-go " +
				"clients queue the call. At least `AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT` + " + strconv.Itoa(grpcapi.DefaultMaxInFlightPerClient) +
				" (a client's unary calls in flight): a platform that holds its watches on one connection must still get its calls through."},
		{Name: "AUTHSVC_GRPC_MAX_HEALTH_WATCHES", Section: "grpc", Default: strconv.Itoa(grpcapi.DefaultMaxHealthWatches),
			Value: integer(&c.GRPC.MaxHealthWatches, 1, maxGRPCWatches),
			Doc: "`grpc.health.v1.Health/Watch` streams open on one replica, all callers together (they need no key, so no " +
				"client's limit counts them); one more is refused with `HEALTH_WATCH_LIMIT`. `Check` is not limited."},

		// What customers see.
		{Name: "AUTHSVC_BRAND", Section: "service", DevDefault: devBrand, Value: brand(&c.Service.Brand),
			Required: "name the brand customers talk to, e.g. AUTHSVC_BRAND=Acme",
			Doc: "the brand named in messages, DM texts, pages and the passkey prompt. At most " + strconv.Itoa(maxBrandBytes) +
				" bytes, kept in NFC. It must show as itself: no bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, " +
				"U+200F, U+061C), zero-width or other format characters, control characters, line separators, invisible " +
				"fillers, private-use or unassigned code points (the rules the API applies to handles, see " +
				"[integrators](integrators.md#text-a-person-reads)); a refusal names the code point, e.g. " +
				"`AUTHSVC_BRAND must not contain U+202E, a bidirectional control character`. Pages and messages isolate it " +
				"(`<bdi>`, or U+2068 … U+2069 in plain text), so a right-to-left brand keeps the sentence around it in order."},
		{Name: "AUTHSVC_BRAND_LOGO_FILE", Section: "service", Value: brandLogo(&c.Service.Cues),
			Doc: "the brand's logo, shown beside its name at the top of every customer page and served from the pages' own " +
				"origin (`/static/logo.<hash>.svg` or `.png`) under the strict CSP. A PNG of at most 1024×1024 px, or a plain SVG " +
				"document: no `<script>`, `<foreignObject>` or `<iframe>`, no `on…` handler, no `href`/`src` or `url()` outside " +
				"the document, no DOCTYPE or entity. At most 16 KiB (16384 bytes), which keeps the page under its 60 kB budget. " +
				"A logo that breaks a rule stops the start with what is wrong, e.g. `AUTHSVC_BRAND_LOGO_FILE: the logo is an SVG " +
				"with a <script> element; a logo must be a plain image`."},
		{Name: "AUTHSVC_BRAND_COLOR", Section: "service", Value: brandColour(&c.Service.Cues), ShowDefault: "the pages' blue (`#1d4ed8`)",
			Doc: "the brand's colour, `#rrggbb`: the background of the primary buttons, under white text, and the border of the " +
				"phrase box. White text on it must reach a contrast of 4.5:1 (WCAG 1.4.3), e.g. `#ffcc00` stops the start with " +
				"`AUTHSVC_BRAND_COLOR: gives white text a contrast of 1.43:1; it needs at least 4.5:1 (WCAG 1.4.3): choose a darker shade`."},
		{Name: "AUTHSVC_BRAND_ACCOUNTS", Section: "service", Value: brandAccounts(&c.Service.Cues),
			Doc: "the brand's official accounts, `NETWORK:HANDLE,…`, e.g. `x:@Acme,instagram:@acme,messenger:Acme Support`. " +
				"`NETWORK` is the lower-case `identity.network` StartVerification carries; a verification's page says " +
				"\"Official Acme account on X: @Acme\" and asks the customer to go on only if the chat is with that account. " +
				"Handles follow the rules of `AUTHSVC_BRAND` and have at most 64 bytes; a network named twice is refused."},
		{Name: "AUTHSVC_PUBLIC_URL", Section: "service", Value: publicURL(c),
			Required:    "the https origin customers open pages on, e.g. AUTHSVC_PUBLIC_URL=https://verify.acme.example",
			ShowDefault: "required / `http://localhost:<HTTP port>`",
			Doc: "the URL of the customer pages as customers reach them: scheme, host, optional port and optional path prefix " +
				"(`https://example.com/verify` serves `/verify/v/...`). Must be `https` outside dev mode. No query, fragment, " +
				"user info or escapes; a trailing `/` is dropped. Every link in a message or page is built from it, never from " +
				"the request's Host header."},

		// Redis.
		{Name: "AUTHSVC_REDIS_URL", Section: "redis", Mode: prodOnly, Value: redisURL(&c.Redis.Target),
			Required:    "e.g. redis://redis:6379/0, redis-sentinel://s1:26379,s2:26379/mymaster or redis-cluster://n1:6379,n2:6379",
			ShowDefault: "required / embedded",
			Doc:         "where state lives; see [Redis URLs](#redis-urls)."},
		{Name: "AUTHSVC_REDIS_PASSWORD_FILE", Section: "redis", Mode: prodOnly, Value: file(&c.Redis.PasswordFile), ShowDefault: "none (no AUTH)",
			Doc: "file holding the Redis password, on one line. The URL must never carry one."},
		{Name: "AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", Section: "redis", Mode: prodOnly, Value: file(&c.Redis.SentinelPasswordFile),
			Doc: "file holding the Sentinels' password; only with a `redis-sentinel://` or `rediss-sentinel://` URL."},
		{Name: "AUTHSVC_REDIS_CA_FILE", Section: "redis", Mode: prodOnly, Value: file(&c.Redis.CAFile), ShowDefault: "system roots",
			Doc: "PEM CA bundle for the servers' certificates; only with a `rediss*` URL."},
		{Name: "AUTHSVC_REDIS_DIAL_TIMEOUT", Section: "redis", Default: "1s", Value: duration(&c.Redis.DialTimeout, 10*time.Millisecond, time.Minute),
			Doc: "connect timeout."},
		{Name: "AUTHSVC_REDIS_READ_TIMEOUT", Section: "redis", Default: "500ms", Value: duration(&c.Redis.ReadTimeout, 10*time.Millisecond, time.Minute),
			Doc: "read timeout."},
		{Name: "AUTHSVC_REDIS_WRITE_TIMEOUT", Section: "redis", Default: "500ms", Value: duration(&c.Redis.WriteTimeout, 10*time.Millisecond, time.Minute),
			Doc: "write timeout."},

		// Keys and clients.
		{Name: "AUTHSVC_HMAC_KEYS_FILE", Section: "keys", Mode: prodOnly, Value: file(&c.Keys.HMACKeysFile),
			Required:    "a file of keyed-hash keys, one \"ID:BASE64\" line each (32+ random bytes), current first",
			ShowDefault: "required / random per start",
			Doc:         "keyed-hash keys; see [HMAC keys file](#hmac-keys-file)."},
		{Name: "AUTHSVC_KEK_FILE", Section: "keys", Mode: prodOnly, Value: file(&c.Keys.KEKFile),
			Required:    "a file of key-encryption keys that seal TOTP seeds, one \"ID:BASE64\" line each (exactly 32 random bytes), current first",
			ShowDefault: "required / random per start",
			Doc:         "key-encryption keys that seal TOTP seeds in Redis; see [Key-encryption keys file](#key-encryption-keys-file)."},
		{Name: "AUTHSVC_SIGNING_KEYS_DIR", Section: "keys", Mode: prodOnly, Value: dir(&c.Keys.SigningKeysDir),
			Required:    "a directory of PKCS#8 PEM signing keys (Ed25519 or ECDSA P-256), e.g. a mounted Kubernetes Secret",
			ShowDefault: "required / ephemeral Ed25519",
			Doc: "directory of PKCS#8 PEM signing keys (`NAME.pem`), each with an optional schedule `NAME.json` (`not_before`, " +
				"`retire_at`); see [Signing keys](#signing-keys-directory) and [rotation](operations.md#signing-keys)."},
		{Name: "AUTHSVC_SIGNING_KEY_ACTIVE", Section: "keys", Mode: prodOnly, Value: str(&c.Keys.SigningKeyActive),
			ShowDefault: "by the keys' schedule",
			Doc: "pins the key that signs, overriding the schedule: a file name without `.pem`, or a kid. Needed when the " +
				"directory holds several keys without a schedule."},
		{Name: "AUTHSVC_SIGNING_PUBLISH_LEAD", Section: "keys", Mode: prodOnly, Default: fmtDuration(assertion.DefaultPublishLead),
			Value: duration(&c.Keys.SigningPublishLead, minPublishLead, day),
			Doc: "a new key is published in the JWKS this long before it may sign, and a retired key stays published this much " +
				"longer than its tokens live. At least the JWKS document's cache lifetime (5 min)."},
		{Name: "AUTHSVC_SIGNING_KEYS_RELOAD", Section: "keys", Mode: prodOnly, Default: "1m",
			Value: duration(&c.Keys.SigningKeysReload, 10*time.Second, time.Hour),
			Doc:   "how often the signing-keys directory is re-read, so a rotation needs no restart."},
		{Name: "AUTHSVC_CLIENTS_FILE", Section: "keys", Mode: prodOnly, Value: file(&c.ClientsFile),
			Required:    "a file listing the API clients and their keys",
			ShowDefault: "required / client `dev`",
			Doc:         "API clients, their key digests and certificate names; see [Clients file](#clients-file)."},
		{Name: "AUTHSVC_CLIENTS_RELOAD", Section: "keys", Mode: prodOnly, Default: "30s", Value: duration(&c.ClientsReload, time.Second, time.Hour),
			Doc: "how often the clients file is re-read: a client, key or certificate removed from it is refused from the next " +
				"call on, without a restart."},
		{Name: "AUTHSVC_DISCLOSURE_POLICY_FILE", Section: "keys", Value: file(&c.DisclosurePolicyFile), ShowDefault: "the built-in policy",
			Doc: "the disclosure policy, YAML: which client may learn which data class of a verified customer (see " +
				"[integrators](integrators.md#asking-whether-data-may-be-shared-authorizedisclosure)); " +
				"`authctl policy --file` checks and prints one."},

		// Assertions and verifications.
		{Name: "AUTHSVC_ASSERTION_ISSUER", Section: "verification", Value: str(&c.Assertion.Issuer), ShowDefault: "`AUTHSVC_PUBLIC_URL`",
			Doc: "the `iss` of minted assertions, and the `iss` that `VerifyAssertion` requires."},
		{Name: "AUTHSVC_ASSERTION_TTL", Section: "verification", Default: "5m", Value: duration(&c.Assertion.TTL, 30*time.Second, time.Hour),
			Doc: "assertion lifetime (`exp - iat`)."},
		{Name: "AUTHSVC_VERIFICATION_TTL", Section: "verification", Default: "10m", Value: duration(&c.Verification.TTL, time.Minute, time.Hour),
			Doc: "how long a customer has when `StartVerification` names no `ttl`. A request's own `ttl` must also be between 1 " +
				"and 60 minutes."},
		{Name: "AUTHSVC_MAX_ATTEMPTS", Section: "verification", Default: "5", Value: integer(&c.Verification.MaxAttempts, 1, 10),
			Doc: "wrong codes that end a verification FAILED (`ATTEMPTS_EXHAUSTED`)."},
		{Name: "AUTHSVC_MAX_EXTENSIONS", Section: "verification", Default: "3", Value: integer(&c.Verification.MaxExtensions, 0, 10),
			Doc: "how often the customer may give a pending verification more time on her page (\"I need more time\", WCAG 2.2.1), " +
				"each time by the verification's own lifetime. An extension never takes a verification past its creation plus " +
				"60 minutes (the longest `ttl`), and changes no attempt or failure limit. `0` turns it off: the page then offers no more " +
				"time, which WCAG 2.2.1 asks for, so keep it for a rolling upgrade from a release without it or where a platform's " +
				"policy needs a fixed window."},

		// Enrollment and passkeys. A verification record stays readable for an
		// hour after it expires, so a window of at most an hour never outlives
		// the verification that proves it.
		{Name: "AUTHSVC_ENROLLMENT_WINDOW", Section: "enrollment", Default: "10m", Value: duration(&c.Enrollment.Window, time.Minute, time.Hour),
			Doc: "how recently a verification must have become VERIFIED to prove `LinkIdentity` or `CreateEnrollmentLink` for a " +
				"client without `may_link` / `may_enroll`. The verification must be the same client's, of the same customer " +
				"(and, to link, of the same social identity), and not revoked. Measured from its verify time by the service's " +
				"clock. At most an hour: a verification record stays readable for an hour after it expires, so a longer window " +
				"could not be checked."},
		{Name: "AUTHSVC_ENROLLMENT_LINK_TTL", Section: "enrollment", Default: "15m", Value: duration(&c.Enrollment.LinkTTL, time.Minute, day),
			Doc: "how long an enrollment page link from `CreateEnrollmentLink` works; it also works only once, and, when a " +
				"verification allowed it, only in the browser that completed that verification."},
		{Name: "AUTHSVC_FACTOR_REPORT_TTL", Section: "enrollment", Default: "7d", Value: days(&c.Enrollment.ReportTTL, time.Hour, 90*day),
			Doc: "how long the report link in a first factor's notice works: after a LOW verification, a customer's first " +
				"authenticator app or passkey is told to the contact that verification proved, with a link that removes every " +
				"factor she holds and revokes what they verified (see " +
				"[security](security.md#binding-a-factor-enrollment-never-lifts-assurance)). Whoever holds that contact holds " +
				"the link, so keep it short."},
		{Name: "AUTHSVC_FACTOR_REPORT_HOLD", Section: "enrollment", Default: "30d", Value: days(&c.Enrollment.ReportHold, time.Hour, 365*day),
			Doc: "after such a report, how long a LOW verification binds the customer no first factor (`PERMISSION_DENIED`, " +
				"reason `FIRST_FACTOR_HOLD`); a client with `may_enroll` still can. It keeps whoever holds the contact from " +
				"stripping her factors and binding his own."},
		{Name: "AUTHSVC_CUSTOMER_RETENTION", Section: "enrollment", Default: "400d", Value: days(&c.Enrollment.Retention, day, 3650*day),
			Doc: "how long a customer's linked identities and enrolled factors live in Redis after their last change: every " +
				"write refreshes it."},
		{Name: "AUTHSVC_WEBAUTHN_RP_ID", Section: "enrollment", Value: rpID(&c.WebAuthn.RPID), ShowDefault: "the host of `AUTHSVC_PUBLIC_URL`",
			Doc: "the passkey relying party id. A lower-case domain name (no scheme, port, path or IP address) that is the " +
				"public URL's host or a parent domain of it, e.g. `acme.example` for `https://verify.acme.example`. Passkeys " +
				"are bound to it: changing it later makes every enrolled passkey unusable."},
		{Name: "AUTHSVC_WEBAUTHN_ORIGINS", Section: "enrollment", Value: origins(c), ShowDefault: "the origin of `AUTHSVC_PUBLIC_URL`",
			Doc: "the origins passkey ceremonies may come from, comma-separated, each exactly `scheme://host[:port]` (a " +
				"trailing `/` is dropped; no path, query or user info) and matched exactly. `https` only (`http` in dev mode or " +
				"for a loopback host). Each must be on the RP id or a subdomain of it, and the list must include the public " +
				"URL's own origin, where the customer pages run."},
		{Name: "AUTHSVC_WEBAUTHN_TIMEOUT", Section: "enrollment", Default: "2m", Value: duration(&c.WebAuthn.CeremonyTimeout, 30*time.Second, 10*time.Minute),
			Doc: "the longest passkey ceremony (registration or login) from the page's request to the authenticator's answer. " +
				"Sent to the browser and enforced by the service."},

		// Audit trail.
		{Name: "AUTHSVC_AUDIT_BUFFER", Section: "audit", Default: fmtDuration(defaultAuditBuffer), Value: days(&c.Audit.Buffer, time.Hour, 30*day),
			Doc: "how long audit events stay in Redis once the exporter has written them to the sink. An event no exporter has " +
				"acknowledged stays up to twice this (the hard cap; past it, it is trimmed and counted as lost). See " +
				"[operations](operations.md#audit-trail)."},
		{Name: "AUTHSVC_AUDIT_SINK", Section: "audit", Default: auditSinkStdout, Value: auditSink(&c.Audit),
			Doc: "where the audit exporter writes the trail: `stdout` (JSON lines on standard output, for a log pipeline), " +
				"`file:/path` (JSON lines appended to that file, created 0600, fsynced before an event leaves Redis), or " +
				"`postgres` (the table `authsvc_audit_events`, created if missing). Checked at start-up; the sink itself is not " +
				"opened or connected then: a sink that fails only delays the export (logged, counted, retried)."},
		{Name: "AUTHSVC_AUDIT_POSTGRES_URL", Section: "audit", Value: str(&c.Audit.PostgresURL), ShowDefault: "required with `postgres`",
			Doc: "the database, `postgres://user@host:5432/database?sslmode=verify-full` (libpq URL parameters apply). A " +
				"password in the URL is refused: use the file below. Set only with the `postgres` sink."},
		{Name: "AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE", Section: "audit", Value: file(&c.Audit.PostgresPasswordFile),
			Doc: "file holding the PostgreSQL password (a trailing newline is ignored)."},
		{Name: "AUTHSVC_AUDIT_RETENTION", Section: "audit", Default: "90d", Value: days(&c.Audit.Retention, day, 3650*day),
			Doc: "how long the `postgres` sink keeps events: rows older than this are deleted every 30 s or so. With `stdout` " +
				"or a file the log pipeline decides. See [privacy](privacy.md)."},
		{Name: "AUTHSVC_AUDIT_LOG", Section: "audit", Default: "off", Value: str(&c.Audit.Log),
			Doc: "an immediate, best-effort JSON-lines mirror written by the replica that ran each script: `stdout`, `stderr`, " +
				"`off`, or a file path (appended to, created 0600). The exporter's sink is the record; the mirror may miss " +
				"events and never carries `client_denied`. Before the exporter it defaulted to `stdout`."},

		// Abuse limits per identity.
		{Name: "AUTHSVC_IDENTITY_FAILURE_LIMIT", Section: "identity", Default: "20", Value: integer(&l.Failures, 1, 100),
			Doc: "consecutive failures of one method family at one client (wrong codes sent by email, wrong codes sent by SMS, " +
				"wrong magic-link numbers, wrong authenticator-app codes, passkey answers that do not check out) that lock that " +
				"family for the identity at that client. From the limit on, every further failure locks it again. A success " +
				"resets only its own family at its own client."},
		{Name: "AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT", Section: "identity", Value: integer(&l.SharedFailures, 2, 200),
			Derive:      func() string { return strconv.Itoa(challenge.DefaultShared(l.Failures)) },
			ShowDefault: "1.5 × the failure limit: `30`",
			Doc: "failures of one family by all clients, each client's counted up to `AUTHSVC_IDENTITY_FAILURE_LIMIT`, that lock " +
				"the family for every client; each further failure so counted locks it again. It bounds a guesser spread over " +
				"many clients: at most this many tries count, then about two per lock period (security.md). Must be above " +
				"`AUTHSVC_IDENTITY_FAILURE_LIMIT`."},
		{Name: "AUTHSVC_IDENTITY_FIRST_LOCK", Section: "identity", Default: "30s", Value: duration(&l.FirstLock, time.Second, day),
			Doc: "the first lock; each further lock doubles it."},
		{Name: "AUTHSVC_IDENTITY_LONGEST_LOCK", Section: "identity", Default: "1h", Value: duration(&l.LongestLock, time.Second, 7*day),
			Doc: "the longest lock; not shorter than `AUTHSVC_IDENTITY_FIRST_LOCK`."},
		{Name: "AUTHSVC_IDENTITY_FAILURE_WINDOW", Section: "identity", Default: "24h", Value: duration(&l.FailureWindow, time.Minute, 30*day),
			Doc: "the failure count starts again when the family's last failure is older than this. Not shorter than " +
				"`AUTHSVC_IDENTITY_LONGEST_LOCK` (the counters, the lock included, are kept for the window)."},
		{Name: "AUTHSVC_IDENTITY_SENDS", Section: "identity", Default: "3", Value: integer(&l.Sends, 1, 20),
			Doc: "messages one client sends to one identity per send window, first sends and resends of all its verifications together."},
		{Name: "AUTHSVC_IDENTITY_SHARED_SENDS", Section: "identity", Value: integer(&l.SharedSends, 2, 40),
			Derive:      func() string { return strconv.Itoa(challenge.DefaultShared(l.Sends)) },
			ShowDefault: "1.5 × the sends: `5`",
			Doc:         "messages all clients together send to one identity per send window. Must be above `AUTHSVC_IDENTITY_SENDS`."},
		{Name: "AUTHSVC_IDENTITY_QUIET_STARTS", Section: "identity", Default: "10", Value: integer(&l.QuietStarts, 1, 100),
			Doc: "starts that send nothing (they offer only an authenticator app or a passkey, or the identity's send window or " +
				"lock refused their send) that one client makes for one identity per send window: a cell rate, the burst, then " +
				"one more every window / N. Past it the start is answered as for a customer with no enrolled factor."},
		{Name: "AUTHSVC_IDENTITY_SHARED_QUIET_STARTS", Section: "identity", Value: integer(&l.SharedQuietStarts, 2, 200),
			Derive:      func() string { return strconv.Itoa(challenge.DefaultShared(l.QuietStarts)) },
			ShowDefault: "1.5 × the quiet starts: `15`",
			Doc:         "such starts of all clients together for one identity per send window, the same way. Must be above `AUTHSVC_IDENTITY_QUIET_STARTS`."},
		{Name: "AUTHSVC_IDENTITY_SEND_WINDOW", Section: "identity", Default: "10m", Value: duration(&l.SendWindow, time.Minute, day),
			Doc: "the identity's sliding send window, and the window of its quiet starts."},

		// Abuse limits per send target.
		{Name: "AUTHSVC_LIMIT_DESTINATION", Section: "send", Default: "5/1h", Value: rate(&l.Send.Destination, "5/1h"),
			Doc: "sends to one mailbox or phone number, whoever asks, however the address is spelled (see " +
				"[one mailbox, one budget](#one-mailbox-one-budget))."},
		{Name: "AUTHSVC_LIMIT_PREFIX", Section: "send", Default: "20/1h", Value: rate(&l.Send.Prefix, "20/1h"),
			Doc: "sends to the phone numbers that share all but their last 4 digits: the shape of SMS pumping through a block of numbers."},
		{Name: "AUTHSVC_LIMIT_COUNTRY", Section: "send", Default: "1000/1h", Value: rate(&l.Send.Country, "1000/1h"),
			Doc: "SMS and phone-number magic links to one country calling code."},
		{Name: "AUTHSVC_LIMIT_CLIENT", Section: "send", Default: "600/1m", Value: rate(&l.Send.Client, "600/1m"),
			Doc: "sends on behalf of one API client."},
		{Name: "AUTHSVC_LIMIT_AGENT", Section: "send", Default: "30/1h", Value: rate(&l.Send.Agent, "30/1h"),
			Doc: "sends started by one agent (`agent_id`) of one client."},
		{Name: "AUTHSVC_LIMIT_CLIENT_DAILY", Section: "send", Default: "20000", Value: integer(&l.Send.ClientDaily, 1, 100_000_000),
			Doc: "a client's budget of sends per 24 h, a whole number."},
		{Name: "AUTHSVC_SMS_COUNTRIES", Section: "send", Value: callingCodes(&l.Send.Countries), ShowDefault: "empty: all",
			Doc: "country calling codes a phone number may have, comma-separated, e.g. `1,44,34` (a leading `+` is allowed). " +
				"Each must be a known calling code. A phone number in another country is refused as `INVALID_ARGUMENT` on " +
				"`destination.phone`."},
		{Name: "AUTHSVC_EMAIL_PROVIDER_RULES", Section: "send", Value: emailRules(&c.Verification.EmailRules), ShowDefault: "empty: none",
			Doc: "mail domains whose provider ignores dots and/or `+tags` in the local part, so that `j.doe+shop@gmail.com` and " +
				"`jdoe@gmail.com` count as one mailbox. Comma-separated entries `DOMAIN:RULES`, RULES `dots`, `tags` or " +
				"`dots+tags`; e.g. `gmail.com:dots+tags,googlemail.com:dots+tags,outlook.com:tags`. A domain may be written in " +
				"any case, as a U-label or an A-label, once. Off unless set: only a provider knows whether its dots and tags " +
				"matter, and a wrong rule would make two people share a budget."},

		// Delivery. Email goes through SMTP unless AUTHSVC_EMAIL_WEBHOOK_URL is set.
		{Name: "AUTHSVC_SMS_WEBHOOK_URL", Section: "delivery", Mode: prodOnly, Value: webhookURL(&c.Webhook.SMSURL),
			Required: "the SMS gateway's webhook, e.g. https://sms-relay.internal/send",
			Doc:      "the SMS gateway's webhook. `https`, or `http` only to a loopback host; no user info."},
		{Name: "AUTHSVC_SMS_WEBHOOK_SECRET_FILE", Section: "delivery", Mode: prodOnly, Value: file(&c.Webhook.SMSSecretFile),
			Required: "a file holding the SMS webhook's signing secret (32+ bytes)",
			Doc: "file holding the HMAC secret that signs SMS webhook calls: one line, at least 32 bytes. The line's bytes are " +
				"the secret; they are not base64-decoded."},
		{Name: "AUTHSVC_EMAIL_WEBHOOK_URL", Section: "delivery", Mode: prodOnly, Value: webhookURL(&c.Webhook.EmailURL),
			Doc: "send email through this webhook instead of SMTP. Same rules as the SMS URL."},
		{Name: "AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE", Section: "delivery", Mode: prodOnly, When: c.emailByWebhook, Value: file(&c.Webhook.EmailSecretFile),
			Required:    "a file holding the email webhook's signing secret (32+ bytes)",
			ShowDefault: "required with the URL",
			Doc:         "same format as the SMS secret."},
		{Name: "AUTHSVC_SMTP_HOST", Section: "delivery", Mode: prodOnly, Value: str(&c.SMTP.Host),
			ShowDefault: "required unless email goes through the webhook",
			Doc:         "SMTP submission server: a host name only, without port or scheme."},
		{Name: "AUTHSVC_SMTP_PORT", Section: "delivery", Mode: prodOnly, When: c.emailBySMTP, Value: integer(&c.SMTP.Port, 1, 65535),
			ShowDefault: "`587` (starttls), `465` (tls), `25` (none)",
			Doc:         "SMTP port."},
		{Name: "AUTHSVC_SMTP_USERNAME", Section: "delivery", Mode: prodOnly, When: c.emailBySMTP, Value: str(&c.SMTP.Username),
			ShowDefault: "none (no AUTH)",
			Doc:         "SMTP AUTH user."},
		{Name: "AUTHSVC_SMTP_PASSWORD_FILE", Section: "delivery", Mode: prodOnly, When: c.emailBySMTP, Value: file(&c.SMTP.PasswordFile),
			ShowDefault: "required with a username",
			Doc:         "file holding the SMTP password, on one line; an error without a username."},
		{Name: "AUTHSVC_SMTP_FROM", Section: "delivery", Mode: prodOnly, When: c.emailBySMTP, Value: smtpFrom(&c.SMTP.From),
			Required:    "the sender, e.g. \"Acme <no-reply@acme.example>\"",
			ShowDefault: "required with an SMTP host",
			Doc: "the From address, e.g. `Acme <no-reply@acme.example>`. The name and address follow the rules of " +
				"`AUTHSVC_BRAND` (no bidirectional controls or invisible characters)."},
		{Name: "AUTHSVC_SMTP_TLS", Section: "delivery", Mode: prodOnly, When: c.emailBySMTP, Default: "starttls",
			Value: enum(&c.SMTP.TLS, "starttls", "tls", "none"),
			Doc:   "`starttls` (mandatory, certificate verified), `tls` (implicit TLS), or `none`, which is allowed only for a loopback host."},
		{Name: "AUTHSVC_SMTP_CA_FILE", Section: "delivery", Mode: prodOnly, When: c.emailBySMTP, Value: file(&c.SMTP.CAFile),
			ShowDefault: "system roots",
			Doc:         "PEM CA bundle for the SMTP server's certificate."},

		// Logs.
		{Name: "AUTHSVC_LOG_LEVEL", Section: "log", Default: "info", Value: logLevel(&c.Log.Level),
			Doc: "the least severe level written (`warning` is read as `warn`)."},
		{Name: "AUTHSVC_LOG_FORMAT", Section: "log", Default: "json", DevDefault: "text", Value: enum(&c.Log.Format, "json", "text"),
			Doc: "the log's format, written to stderr."},
	}
}

// emailBySMTP reports whether email goes through SMTP: a host is set and no
// email webhook.
func (c *Config) emailBySMTP() bool { return c.SMTP.Host != "" && c.Webhook.EmailURL == "" }

// emailByWebhook reports whether email goes through the signed webhook.
func (c *Config) emailByWebhook() bool { return c.Webhook.EmailURL != "" }
