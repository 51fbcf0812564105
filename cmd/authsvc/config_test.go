package main

import (
	"bytes"
	"errors"
	"github.com/authsvc/authsvc/internal/syncbuf"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// prodFiles writes valid secret files into a temp dir and returns an
// environment that configures a complete production instance.
func prodFiles(t *testing.T) map[string]string {
	t.Helper()
	f := writeProdSecrets(t, t.TempDir())
	return map[string]string{
		"AUTHSVC_PUBLIC_URL":              "https://verify.acme.example",
		"AUTHSVC_BRAND":                   "Acme",
		"AUTHSVC_REDIS_URL":               "redis://127.0.0.1:6379/0",
		"AUTHSVC_HMAC_KEYS_FILE":          f.hmac,
		"AUTHSVC_KEK_FILE":                f.kek,
		"AUTHSVC_SIGNING_KEYS_DIR":        f.signingDir,
		"AUTHSVC_SIGNING_KEY_ACTIVE":      "2026-11",
		"AUTHSVC_CLIENTS_FILE":            f.clients,
		"AUTHSVC_SMTP_HOST":               "smtp.acme.example",
		"AUTHSVC_SMTP_FROM":               "Acme <no-reply@acme.example>",
		"AUTHSVC_SMTP_USERNAME":           "authsvc",
		"AUTHSVC_SMTP_PASSWORD_FILE":      f.smtpPassword,
		"AUTHSVC_SMS_WEBHOOK_URL":         "https://sms.acme.example/send",
		"AUTHSVC_SMS_WEBHOOK_SECRET_FILE": f.webhookSecret,
	}
}

func getenvFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base))
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestLoadConfigProductionDefaults(t *testing.T) {
	t.Parallel()
	env := prodFiles(t)
	c, err := loadConfig(getenvFrom(env), false)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Dev.Enabled || c.Listen.Reflection {
		t.Errorf("dev %v reflection %v, want both off", c.Dev.Enabled, c.Listen.Reflection)
	}
	if c.Listen.GRPCAddr != ":8443" || c.Listen.HTTPAddr != ":8080" || c.Listen.MetricsAddr != ":9090" {
		t.Errorf("listen %+v", c.Listen)
	}
	if c.Listen.ShutdownDrain != 5*time.Second || c.Assertion.TTL != 5*time.Minute ||
		c.Verification.TTL != 10*time.Minute || c.Verification.MaxAttempts != 5 {
		t.Errorf("defaults: drain %s assertion ttl %s verification ttl %s attempts %d",
			c.Listen.ShutdownDrain, c.Assertion.TTL, c.Verification.TTL, c.Verification.MaxAttempts)
	}
	if c.Redis.DialTimeout != time.Second || c.Redis.ReadTimeout != 500*time.Millisecond || c.Redis.WriteTimeout != 500*time.Millisecond {
		t.Errorf("redis timeouts %+v", c.Redis)
	}
	if c.Keys.SigningPublishLead != 10*time.Minute || c.Keys.SigningKeysReload != time.Minute {
		t.Errorf("signing publish lead %s reload %s, want 10m and 1m", c.Keys.SigningPublishLead, c.Keys.SigningKeysReload)
	}
	if c.SMTP.TLS != "starttls" || c.Log.Format != "json" {
		t.Errorf("smtp tls %q log format %q", c.SMTP.TLS, c.Log.Format)
	}
	if c.Enrollment != (EnrollmentConfig{Window: 10 * time.Minute, LinkTTL: 15 * time.Minute, ReportTTL: 7 * 24 * time.Hour,
		ReportHold: 30 * 24 * time.Hour, Retention: 400 * 24 * time.Hour}) {
		t.Errorf("enrollment defaults %+v", c.Enrollment)
	}
	if c.WebAuthn.RPID != "" || c.WebAuthn.Origins != nil || c.WebAuthn.CeremonyTimeout != 2*time.Minute {
		t.Errorf("webauthn defaults %+v", c.WebAuthn)
	}
	rpID, origins, problems := webAuthnSettings(c.WebAuthn, c.Service.PublicURL)
	if rpID != "verify.acme.example" || !reflect.DeepEqual(origins, []string{"https://verify.acme.example"}) || problems != nil {
		t.Errorf("webauthn in effect: %q %q %q; want the public URL's host and origin", rpID, origins, problems)
	}
	sec, err := loadSecrets(c, nil, nil)
	if err != nil {
		t.Fatalf("loadSecrets: %v", err)
	}
	if sec.seals == nil || sec.seals.Current() != "kek1" {
		t.Errorf("key-encryption keys not loaded")
	}
}

func TestLoadConfigDevNeedsNothing(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(getenvFrom(nil), true)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if !c.Dev.Enabled || !c.Listen.Reflection || c.Dev.APIKey != devAPIKey || c.Service.Brand != devBrand ||
		c.Listen.ShutdownDrain != 0 || c.Log.Format != "text" || c.Listen.GRPCAddr != "127.0.0.1:7443" {
		t.Errorf("dev config %+v", c)
	}
	c, err = loadConfig(getenvFrom(map[string]string{"AUTHSVC_DEV": "true", "AUTHSVC_DEV_API_KEY": "k"}), false)
	if err != nil || !c.Dev.Enabled || c.Dev.APIKey != "k" {
		t.Errorf("AUTHSVC_DEV=true: %+v, %v", c, err)
	}
	sec, err := loadSecrets(c, nil, nil)
	if err != nil {
		t.Fatalf("dev secrets: %v", err)
	}
	if sec.seals == nil || sec.seals.Current() != "dev" {
		t.Error("dev mode has no ephemeral key-encryption key")
	}
}

func TestLoadConfigProblems(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		dev  bool
		// want are substrings, each of which must appear in one problem.
		want []string
	}{
		{"missing public url", with(base, "AUTHSVC_PUBLIC_URL", ""), false, []string{"AUTHSVC_PUBLIC_URL is not set"}},
		{"http public url", with(base, "AUTHSVC_PUBLIC_URL", "http://verify.acme.example"), false, []string{"AUTHSVC_PUBLIC_URL: must use https outside dev mode"}},
		{"public url with query", with(base, "AUTHSVC_PUBLIC_URL", "https://verify.acme.example/?a=b"), false, []string{"AUTHSVC_PUBLIC_URL: want scheme, host"}},
		{"missing brand", with(base, "AUTHSVC_BRAND", ""), false, []string{"AUTHSVC_BRAND is not set"}},
		{"brand with a direction override", with(base, "AUTHSVC_BRAND", "Acme\u202eknaB"), false,
			[]string{"AUTHSVC_BRAND must not contain U+202E, a bidirectional control character; write the brand as customers should read it"}},
		{"brand with a zero-width space", with(base, "AUTHSVC_BRAND", "Ac\u200bme"), false,
			[]string{"AUTHSVC_BRAND must not contain U+200B, an invisible formatting character"}},
		{"sender name with a direction override", with(base, "AUTHSVC_SMTP_FROM", "Acme\u202e <no-reply@acme.example>"), false,
			[]string{"AUTHSVC_SMTP_FROM must not contain U+202E, a bidirectional control character"}},
		{"sender not an address", with(base, "AUTHSVC_SMTP_FROM", "no-reply at acme"), false,
			[]string{`AUTHSVC_SMTP_FROM: want an address such as "Acme <no-reply@acme.example>", got "no-reply at acme"`}},
		{"missing redis", with(base, "AUTHSVC_REDIS_URL", ""), false, []string{"AUTHSVC_REDIS_URL is not set"}},
		{"bad redis scheme", with(base, "AUTHSVC_REDIS_URL", "http://redis:6379"), false, []string{`AUTHSVC_REDIS_URL: unknown scheme "http"`}},
		{"redis password in url", with(base, "AUTHSVC_REDIS_URL", "redis://:hunter2@redis:6379"), false, []string{"AUTHSVC_REDIS_PASSWORD_FILE"}},
		{"sentinel without master", with(base, "AUTHSVC_REDIS_URL", "redis-sentinel://s1:26379,s2"), false, []string{"names the master"}},
		{"missing hmac keys", with(base, "AUTHSVC_HMAC_KEYS_FILE", ""), false, []string{"AUTHSVC_HMAC_KEYS_FILE is not set"}},
		{"missing kek", with(base, "AUTHSVC_KEK_FILE", ""), false, []string{"AUTHSVC_KEK_FILE is not set: a file of key-encryption keys"}},
		{"kek file absent", with(base, "AUTHSVC_KEK_FILE", filepath.Join(dir, "nope")), false, []string{"AUTHSVC_KEK_FILE: " + filepath.Join(dir, "nope") + " does not exist"}},
		{"bad enrollment settings", with(base, "AUTHSVC_ENROLLMENT_WINDOW", "2h", "AUTHSVC_ENROLLMENT_LINK_TTL", "30s",
			"AUTHSVC_CUSTOMER_RETENTION", "forever", "AUTHSVC_WEBAUTHN_TIMEOUT", "1s"), false,
			[]string{"AUTHSVC_ENROLLMENT_WINDOW: want between 1m0s and 1h0m0s", "AUTHSVC_ENROLLMENT_LINK_TTL: want between",
				"AUTHSVC_CUSTOMER_RETENTION: want a number of days such as 400d", "AUTHSVC_WEBAUTHN_TIMEOUT: want between 30s and 10m0s"}},
		{"retention out of range", with(base, "AUTHSVC_CUSTOMER_RETENTION", "5000d"), false, []string{"AUTHSVC_CUSTOMER_RETENTION: want between 1d and 3650d"}},
		{"audit buffer out of range", with(base, "AUTHSVC_AUDIT_BUFFER", "30m"), false, []string{"AUTHSVC_AUDIT_BUFFER: want between 1h0m0s and 30d, got 30m"}},
		{"unknown audit sink", with(base, "AUTHSVC_AUDIT_SINK", "kafka"), false, []string{`AUTHSVC_AUDIT_SINK: want stdout, file:/path or postgres, got "kafka"`}},
		{"audit file sink without a path", with(base, "AUTHSVC_AUDIT_SINK", "file:"), false, []string{"AUTHSVC_AUDIT_SINK: name the file"}},
		{"postgres sink without a url", with(base, "AUTHSVC_AUDIT_SINK", "postgres"), false, []string{"AUTHSVC_AUDIT_POSTGRES_URL is not set"}},
		{"postgres password in url", with(base, "AUTHSVC_AUDIT_SINK", "postgres", "AUTHSVC_AUDIT_POSTGRES_URL", "postgres://authsvc:hunter2@db/audit"), false,
			[]string{"AUTHSVC_AUDIT_POSTGRES_URL holds a password: put it in a file named by AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE"}},
		{"postgres url without postgres", with(base, "AUTHSVC_AUDIT_POSTGRES_URL", "postgres://db/audit"), false,
			[]string{"AUTHSVC_AUDIT_POSTGRES_URL or _PASSWORD_FILE is set but AUTHSVC_AUDIT_SINK is not postgres"}},
		{"rp id with a scheme", with(base, "AUTHSVC_WEBAUTHN_RP_ID", "https://acme.example"), false, []string{"AUTHSVC_WEBAUTHN_RP_ID: want a domain name"}},
		{"rp id an ip", with(base, "AUTHSVC_WEBAUTHN_RP_ID", "10.0.0.1"), false, []string{"AUTHSVC_WEBAUTHN_RP_ID: want a domain name"}},
		{"rp id not the public host", with(base, "AUTHSVC_WEBAUTHN_RP_ID", "other.example"), false,
			[]string{"AUTHSVC_WEBAUTHN_RP_ID: other.example is neither the host of AUTHSVC_PUBLIC_URL"}},
		{"rp id a sibling", with(base, "AUTHSVC_WEBAUTHN_RP_ID", "pay.acme.example"), false, []string{"AUTHSVC_WEBAUTHN_RP_ID"}},
		{"origin with a path", with(base, "AUTHSVC_WEBAUTHN_ORIGINS", "https://verify.acme.example/verify"), false, []string{"AUTHSVC_WEBAUTHN_ORIGINS: \"https://verify.acme.example/verify\" is not an origin"}},
		{"origin over http", with(base, "AUTHSVC_WEBAUTHN_ORIGINS", "https://verify.acme.example,http://app.acme.example"), false, []string{"AUTHSVC_WEBAUTHN_ORIGINS: \"http://app.acme.example\": passkeys need https"}},
		{"origins without the public one", with(base, "AUTHSVC_WEBAUTHN_ORIGINS", "https://app.acme.example"), false, []string{"AUTHSVC_WEBAUTHN_ORIGINS: must include https://verify.acme.example"}},
		{"origin outside the rp id", with(base, "AUTHSVC_WEBAUTHN_RP_ID", "acme.example", "AUTHSVC_WEBAUTHN_ORIGINS", "https://verify.acme.example,https://acme.test"), false,
			[]string{"AUTHSVC_WEBAUTHN_ORIGINS: https://acme.test is not on acme.example"}},
		{"origin twice", with(base, "AUTHSVC_WEBAUTHN_ORIGINS", "https://verify.acme.example, https://VERIFY.acme.example"), false, []string{"listed twice"}},
		{"empty origin", with(base, "AUTHSVC_WEBAUTHN_ORIGINS", "https://verify.acme.example,,"), false, []string{"AUTHSVC_WEBAUTHN_ORIGINS: want origins"}},
		{"public url an ip", with(base, "AUTHSVC_PUBLIC_URL", "https://10.0.0.1"), false, []string{"AUTHSVC_PUBLIC_URL: passkeys need a domain name"}},
		{"hmac keys file absent", with(base, "AUTHSVC_HMAC_KEYS_FILE", filepath.Join(dir, "nope")), false, []string{"AUTHSVC_HMAC_KEYS_FILE: " + filepath.Join(dir, "nope") + " does not exist"}},
		{"signing dir is a file", with(base, "AUTHSVC_SIGNING_KEYS_DIR", base["AUTHSVC_HMAC_KEYS_FILE"]), false, []string{"AUTHSVC_SIGNING_KEYS_DIR: " + base["AUTHSVC_HMAC_KEYS_FILE"] + " is not a directory"}},
		{"missing clients", with(base, "AUTHSVC_CLIENTS_FILE", ""), false, []string{"AUTHSVC_CLIENTS_FILE is not set"}},
		{"missing sms webhook", with(base, "AUTHSVC_SMS_WEBHOOK_URL", "", "AUTHSVC_SMS_WEBHOOK_SECRET_FILE", ""), false, []string{"AUTHSVC_SMS_WEBHOOK_URL is not set", "AUTHSVC_SMS_WEBHOOK_SECRET_FILE is not set"}},
		{"http sms webhook", with(base, "AUTHSVC_SMS_WEBHOOK_URL", "http://sms.acme.example/send"), false, []string{"AUTHSVC_SMS_WEBHOOK_URL: must use https"}},
		{"no email route", with(base, "AUTHSVC_SMTP_HOST", ""), false, []string{"AUTHSVC_SMTP_HOST is not set"}},
		{"smtp user without password", with(base, "AUTHSVC_SMTP_PASSWORD_FILE", ""), false, []string{"AUTHSVC_SMTP_PASSWORD_FILE is not set"}},
		{"smtp in clear to a remote host", with(base, "AUTHSVC_SMTP_TLS", "none"), false, []string{"AUTHSVC_SMTP_TLS=none is allowed only for a loopback"}},
		{"email two ways", with(base, "AUTHSVC_EMAIL_WEBHOOK_URL", "https://mail.acme.example"), false, []string{"AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE is not set", "both set"}},
		{"half tls", with(base, "AUTHSVC_TLS_CERT_FILE", base["AUTHSVC_HMAC_KEYS_FILE"]), false, []string{"set both"}},
		{"bad durations and numbers", with(base, "AUTHSVC_ASSERTION_TTL", "forever", "AUTHSVC_VERIFICATION_TTL", "2h", "AUTHSVC_MAX_ATTEMPTS", "0"), false,
			[]string{"AUTHSVC_ASSERTION_TTL: want a duration", "AUTHSVC_VERIFICATION_TTL: want between", "AUTHSVC_MAX_ATTEMPTS: want between 1 and 10"}},
		{"bad key rotation settings", with(base, "AUTHSVC_SIGNING_PUBLISH_LEAD", "1m", "AUTHSVC_SIGNING_KEYS_RELOAD", "soon"), false,
			[]string{"AUTHSVC_SIGNING_PUBLISH_LEAD: want between 5m0s and 24h0m0s", "AUTHSVC_SIGNING_KEYS_RELOAD: want a duration"}},
		{"bad log settings", with(base, "AUTHSVC_LOG_LEVEL", "loud", "AUTHSVC_LOG_FORMAT", "xml"), false, []string{"AUTHSVC_LOG_LEVEL", "AUTHSVC_LOG_FORMAT"}},
		{"dev key outside dev", with(base, "AUTHSVC_DEV_API_KEY", "k"), false, []string{"AUTHSVC_DEV_API_KEY is set but dev mode is off"}},
		{"dev on a public address", map[string]string{"AUTHSVC_HTTP_ADDR": ":8080"}, true, []string{"AUTHSVC_HTTP_ADDR: dev mode listens only on loopback"}},
		{"bad bool", map[string]string{"AUTHSVC_DEV_ALLOW_REMOTE": "yes please"}, true, []string{"AUTHSVC_DEV_ALLOW_REMOTE: want true or false"}},
		{"bad address", with(base, "AUTHSVC_GRPC_ADDR", "8443"), false, []string{"AUTHSVC_GRPC_ADDR: want host:port"}},
		{"everything missing at once", map[string]string{}, false, []string{
			"AUTHSVC_PUBLIC_URL", "AUTHSVC_BRAND", "AUTHSVC_REDIS_URL", "AUTHSVC_HMAC_KEYS_FILE", "AUTHSVC_KEK_FILE", "AUTHSVC_SIGNING_KEYS_DIR",
			"AUTHSVC_CLIENTS_FILE", "AUTHSVC_SMS_WEBHOOK_URL", "AUTHSVC_SMS_WEBHOOK_SECRET_FILE", "AUTHSVC_SMTP_HOST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(getenvFrom(tt.env), tt.dev)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("loadConfig = %v, want a *ConfigError", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ce.Problems {
					found = found || strings.Contains(p, w)
				}
				if !found {
					t.Errorf("no problem mentions %q; problems:\n%s", w, err)
				}
			}
			if len(ce.Problems) < len(tt.want) {
				t.Errorf("%d problems, want at least %d (all reported at once)", len(ce.Problems), len(tt.want))
			}
		})
	}
}

// TestLoadConfigBrandInNFC: the brand is kept in NFC, one encoding of each
// accented letter, as every page and message shows it.
func TestLoadConfigBrandInNFC(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(getenvFrom(with(prodFiles(t), "AUTHSVC_BRAND", "Cafe\u0301 Ñu")), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Service.Brand != "Caf\u00e9 \u00d1u" {
		t.Errorf("brand %+q, want NFC", c.Service.Brand)
	}
}

func TestDevRemoteAllowed(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AUTHSVC_HTTP_ADDR": ":8080", "AUTHSVC_DEV_ALLOW_REMOTE": "true"}
	if _, err := loadConfig(getenvFrom(env), true); err != nil {
		t.Fatalf("AUTHSVC_DEV_ALLOW_REMOTE=true: %v", err)
	}
}

// TestSecretFilesNeverEchoed writes bad secret files holding a marker and checks
// that the errors name the variable and never repeat the content.
func TestSecretFilesNeverEchoed(t *testing.T) {
	t.Parallel()
	const marker = "SUPERSECRET-MARKER-7f3a"
	dir := t.TempDir()
	bad := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sigDir := filepath.Join(dir, "sig")
	if err := os.Mkdir(sigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	bad("sig/k1.pem", "-----BEGIN PRIVATE KEY-----\n"+marker+"\n-----END PRIVATE KEY-----\n")
	env := with(prodFiles(t),
		"AUTHSVC_HMAC_KEYS_FILE", bad("hmac", "k1:"+marker+"\n"),
		"AUTHSVC_KEK_FILE", bad("kek", "kek1:"+marker+"\n"),
		"AUTHSVC_SIGNING_KEYS_DIR", sigDir,
		"AUTHSVC_CLIENTS_FILE", bad("clients.json", `{"clients":[{"id":"a","audiences":["crm"],"api_key_sha256":"`+marker+`"}]}`),
		"AUTHSVC_SMTP_PASSWORD_FILE", bad("smtp", "\n\n"+marker+"\n"),
		"AUTHSVC_SMS_WEBHOOK_SECRET_FILE", bad("webhook", marker),
		"AUTHSVC_REDIS_PASSWORD_FILE", bad("redis", ""),
	)
	c, err := loadConfig(getenvFrom(env), false)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	_, err = loadSecrets(c, nil, nil)
	if err == nil {
		t.Fatal("loadSecrets accepted bad files")
	}
	msg := err.Error()
	if strings.Contains(msg, marker) || strings.Contains(msg, "SUPERSECRET") {
		t.Errorf("error repeats a secret:\n%s", msg)
	}
	for _, name := range []string{"AUTHSVC_HMAC_KEYS_FILE", "AUTHSVC_KEK_FILE", "AUTHSVC_SIGNING_KEYS_DIR", "AUTHSVC_CLIENTS_FILE",
		"AUTHSVC_SMTP_PASSWORD_FILE", "AUTHSVC_SMS_WEBHOOK", "AUTHSVC_REDIS_PASSWORD_FILE"} {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not name %s:\n%s", name, msg)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    redisTarget
		wantErr string
	}{
		{url: "redis://redis:6379/2", want: redisTarget{Mode: redisStandalone, Addrs: []string{"redis:6379"}, DB: 2}},
		{url: "redis://redis", want: redisTarget{Mode: redisStandalone, Addrs: []string{"redis:6379"}}},
		{url: "rediss://app@redis.internal:6380?db=3", want: redisTarget{Mode: redisStandalone, TLS: true, Username: "app", Addrs: []string{"redis.internal:6380"}, DB: 3}},
		{url: "redis://[::1]:7000/0", want: redisTarget{Mode: redisStandalone, Addrs: []string{"[::1]:7000"}}},
		{url: "redis-sentinel://s1:26379,s2:26380,s3/mymaster?db=1", want: redisTarget{Mode: redisSentinel, Addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, MasterName: "mymaster", DB: 1}},
		{url: "rediss-sentinel://app@s1/main", want: redisTarget{Mode: redisSentinel, TLS: true, Username: "app", Addrs: []string{"s1:26379"}, MasterName: "main"}},
		{url: "redis-cluster://n1:6379,n2:6380,n3", want: redisTarget{Mode: redisCluster, Addrs: []string{"n1:6379", "n2:6380", "n3:6379"}}},
		{url: "rediss-cluster://n1:7000", want: redisTarget{Mode: redisCluster, TLS: true, Addrs: []string{"n1:7000"}}},
		{url: "memcached://x", wantErr: "unknown scheme"},
		{url: "redis:6379", wantErr: "want redis://"},
		{url: "redis://a:1,b:2", wantErr: "names one host"},
		{url: "redis://:pw@a:1", wantErr: "must not carry a password"},
		{url: "redis-sentinel://user:pw@s1/m", wantErr: "must not carry a password"},
		{url: "redis-sentinel://s1:26379", wantErr: "names the master"},
		{url: "redis-cluster://n1/0", wantErr: "no path"},
		{url: "redis-cluster://n1?db=1", wantErr: "unknown parameter"},
		{url: "redis://a?dial_timeout=1", wantErr: "unknown parameter"},
		{url: "redis://a:99999", wantErr: "bad port"},
		{url: "redis://a/99", wantErr: "0 to 15"},
		{url: "redis://a/1?db=2", wantErr: "twice"},
		{url: "redis-cluster://n1,,n2", wantErr: "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			got, err := parseRedisURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigCheckAndVersion(t *testing.T) {
	t.Parallel()
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"-version"}, getenvFrom(nil), &out, &errOut, nil); err != nil || out.String() != "authsvc dev\n" {
		t.Errorf("-version: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"-config-check"}, getenvFrom(prodFiles(t)), &out, &errOut, nil); err != nil || !strings.Contains(out.String(), "configuration OK") {
		t.Errorf("-config-check on a valid config: %q, %v", out.String(), err)
	}
	err := run(t.Context(), []string{"-config-check"}, getenvFrom(map[string]string{"AUTHSVC_BRAND": "Acme"}), &out, &errOut, nil)
	if err == nil || !strings.Contains(err.Error(), "AUTHSVC_PUBLIC_URL") || !strings.Contains(err.Error(), "AUTHSVC_HMAC_KEYS_FILE") {
		t.Errorf("-config-check on an empty config: %v", err)
	}
	if err := run(t.Context(), []string{"-dev", "-config-check"}, getenvFrom(nil), &out, &errOut, nil); err != nil {
		t.Errorf("-dev -config-check: %v", err)
	}
	if err := run(t.Context(), []string{"extra"}, getenvFrom(nil), &out, &errOut, nil); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestLoadConfigKeyRotationSettings(t *testing.T) {
	t.Parallel()
	env := with(prodFiles(t), "AUTHSVC_SIGNING_PUBLISH_LEAD", "30m", "AUTHSVC_SIGNING_KEYS_RELOAD", "15s")
	c, err := loadConfig(getenvFrom(env), false)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Keys.SigningPublishLead != 30*time.Minute || c.Keys.SigningKeysReload != 15*time.Second {
		t.Errorf("publish lead %s reload %s", c.Keys.SigningPublishLead, c.Keys.SigningKeysReload)
	}
	if o := keyringOptions(c, nil); o.PublishLead != 30*time.Minute || o.Lifetime != c.Assertion.TTL || o.Active != "2026-11" {
		t.Errorf("keyring options %+v", o)
	}
}

// TestLoadConfigEnrollmentSettings: every enrollment and passkey setting is
// read, days and Go durations both work for the retention, and the relying
// party in effect follows the settings.
func TestLoadConfigEnrollmentSettings(t *testing.T) {
	t.Parallel()
	env := with(prodFiles(t),
		"AUTHSVC_ENROLLMENT_WINDOW", "5m", "AUTHSVC_ENROLLMENT_LINK_TTL", "1h", "AUTHSVC_CUSTOMER_RETENTION", "90d",
		"AUTHSVC_FACTOR_REPORT_TTL", "3d", "AUTHSVC_FACTOR_REPORT_HOLD", "90d",
		"AUTHSVC_WEBAUTHN_RP_ID", "Acme.Example", "AUTHSVC_WEBAUTHN_TIMEOUT", "90s",
		"AUTHSVC_WEBAUTHN_ORIGINS", " https://verify.acme.example , https://App.acme.example:8443/")
	c, err := loadConfig(getenvFrom(env), false)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Enrollment != (EnrollmentConfig{Window: 5 * time.Minute, LinkTTL: time.Hour, ReportTTL: 3 * 24 * time.Hour,
		ReportHold: 90 * 24 * time.Hour, Retention: 90 * 24 * time.Hour}) {
		t.Errorf("enrollment %+v", c.Enrollment)
	}
	wantOrigins := []string{"https://verify.acme.example", "https://app.acme.example:8443"}
	if c.WebAuthn.RPID != "acme.example" || !reflect.DeepEqual(c.WebAuthn.Origins, wantOrigins) || c.WebAuthn.CeremonyTimeout != 90*time.Second {
		t.Errorf("webauthn %+v", c.WebAuthn)
	}
	wa, err := newWebAuthn(c, c.Service.PublicURL, nil)
	if err != nil {
		t.Fatalf("newWebAuthn: %v", err)
	}
	if wa.Config.RPID != "acme.example" || wa.Config.RPDisplayName != "Acme" || !reflect.DeepEqual(wa.Config.RPOrigins, wantOrigins) ||
		!wa.Config.Timeouts.Registration.Enforce || !wa.Config.Timeouts.Login.Enforce ||
		wa.Config.Timeouts.Registration.Timeout != 90*time.Second || wa.Config.Timeouts.Login.TimeoutUVD != 90*time.Second {
		t.Errorf("relying party %+v", wa.Config)
	}
	c, err = loadConfig(getenvFrom(with(env, "AUTHSVC_CUSTOMER_RETENTION", "720h")), false)
	if err != nil || c.Enrollment.Retention != 30*24*time.Hour {
		t.Errorf("retention 720h: %v, %v", c, err)
	}
}

// TestDevWebAuthn: dev mode derives the relying party from the dev page URL and
// only warns about passkey settings that cannot work, so the other methods run.
func TestDevWebAuthn(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(getenvFrom(map[string]string{"AUTHSVC_PUBLIC_URL": "http://192.168.1.20:8080", "AUTHSVC_DEV_ALLOW_REMOTE": "true"}), true)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	var logs syncbuf.Buffer
	log := newLogger(LogConfig{Format: "json"}, &logs)
	wa, err := newWebAuthn(c, c.Service.PublicURL, log)
	if err != nil {
		t.Fatalf("newWebAuthn in dev mode: %v", err)
	}
	if wa.Config.RPID != "localhost" || !strings.Contains(logs.String(), "passkeys will not work") {
		t.Errorf("rp id %q, logs %s", wa.Config.RPID, logs.String())
	}
	c, err = loadConfig(getenvFrom(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	wa, err = newWebAuthn(c, mustParseURL(t, "http://localhost:8080"), log)
	if err != nil || wa.Config.RPID != "localhost" || !reflect.DeepEqual(wa.Config.RPOrigins, []string{"http://localhost:8080"}) {
		t.Errorf("dev relying party %+v, %v", wa, err)
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLoadConfigBrandCues: a logo, a colour and official accounts that the pages
// can show are kept; a logo over the size limit or of the wrong type, a colour
// white text cannot be read on and malformed accounts stop the start, each
// with what is wrong.
func TestLoadConfigBrandCues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	svg := write("logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#1d4ed8"/></svg>`))
	env := with(with(with(prodFiles(t), "AUTHSVC_BRAND_LOGO_FILE", svg), "AUTHSVC_BRAND_COLOR", "#0B5FFF"),
		"AUTHSVC_BRAND_ACCOUNTS", "x:@Acme, Instagram:@acme.help")
	c, err := loadConfig(getenvFrom(env), false)
	if err != nil {
		t.Fatal(err)
	}
	cues := c.Service.Cues
	if len(cues.Logo) == 0 || cues.Colour != "#0b5fff" || cues.Accounts["x"] != "@Acme" || cues.Accounts["instagram"] != "@acme.help" {
		t.Fatalf("cues %+v", cues)
	}

	big := write("big.svg", append([]byte(`<svg xmlns="http://www.w3.org/2000/svg">`), bytes.Repeat([]byte(" "), 20<<10)...))
	scripted := write("evil.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	gif := write("logo.gif", []byte("GIF89a\x01\x00\x01\x00"))
	for _, tt := range []struct {
		name, key, value, want string
	}{
		{"logo too big", "AUTHSVC_BRAND_LOGO_FILE", big, "AUTHSVC_BRAND_LOGO_FILE: is over 16384 bytes"},
		{"logo with a script", "AUTHSVC_BRAND_LOGO_FILE", scripted, "AUTHSVC_BRAND_LOGO_FILE: the logo is an SVG with a <script> element"},
		{"logo of another type", "AUTHSVC_BRAND_LOGO_FILE", gif, "AUTHSVC_BRAND_LOGO_FILE: the logo is neither a PNG nor"},
		{"logo missing", "AUTHSVC_BRAND_LOGO_FILE", filepath.Join(dir, "nope.png"), "AUTHSVC_BRAND_LOGO_FILE"},
		{"colour too light", "AUTHSVC_BRAND_COLOR", "#ffcc00", "AUTHSVC_BRAND_COLOR: gives white text a contrast of"},
		{"colour malformed", "AUTHSVC_BRAND_COLOR", "blue", "AUTHSVC_BRAND_COLOR: must be a colour written #rrggbb"},
		{"account malformed", "AUTHSVC_BRAND_ACCOUNTS", "@Acme", "AUTHSVC_BRAND_ACCOUNTS: want NETWORK:HANDLE"},
		{"account twice", "AUTHSVC_BRAND_ACCOUNTS", "x:@a,x:@b", "AUTHSVC_BRAND_ACCOUNTS: x is named twice"},
		{"account hiding text", "AUTHSVC_BRAND_ACCOUNTS", "x:@Ac\u200bme", "AUTHSVC_BRAND_ACCOUNTS: the account on x must not contain U+200B"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(getenvFrom(with(prodFiles(t), tt.key, tt.value)), false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadConfig: %v; want a problem %q", err, tt.want)
			}
		})
	}
}

// TestMaxExtensionsZeroTurnsThemOff: AUTHSVC_MAX_EXTENSIONS=0 is accepted and
// reaches the challenge package as none (a negative number; its 0 is the default).
func TestMaxExtensionsZeroTurnsThemOff(t *testing.T) {
	for _, c := range []struct {
		env  string
		want int
	}{{"", 3}, {"0", -1}, {"7", 7}} {
		env := map[string]string{}
		if c.env != "" {
			env["AUTHSVC_MAX_EXTENSIONS"] = c.env
		}
		cfg, err := loadConfig(func(k string) string { return env[k] }, true)
		if err != nil {
			t.Fatalf("AUTHSVC_MAX_EXTENSIONS=%q: %v", c.env, err)
		}
		if got := maxExtensions(cfg.Verification.MaxExtensions); got != c.want {
			t.Errorf("AUTHSVC_MAX_EXTENSIONS=%q: challenge gets %d, want %d", c.env, got, c.want)
		}
	}
}
