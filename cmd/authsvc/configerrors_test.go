package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestLoadConfigBadValue: one bad value gives exactly one problem, and that
// problem names the variable and says what it wants: a duration, a choice, a
// URL, a file, and settings that contradict each other.
func TestLoadConfigBadValue(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		env  []string
		dev  bool
		want string
	}{
		// Durations.
		{"duration without a unit", []string{"AUTHSVC_TLS_RELOAD", "60"}, false,
			`AUTHSVC_TLS_RELOAD: want a duration such as 500ms, 5s or 10m, got "60"`},
		{"duration out of range", []string{"AUTHSVC_SHUTDOWN_TIMEOUT", "1h"}, false,
			"AUTHSVC_SHUTDOWN_TIMEOUT: want between 1s and 10m0s, got 1h0m0s"},
		{"days in words", []string{"AUTHSVC_AUDIT_RETENTION", "ninety days"}, false,
			`AUTHSVC_AUDIT_RETENTION: want a number of days such as 400d, or a duration such as 9600h, got "ninety days"`},
		{"days out of range", []string{"AUTHSVC_FACTOR_REPORT_HOLD", "400d"}, false,
			"AUTHSVC_FACTOR_REPORT_HOLD: want between 1h0m0s and 365d, got 400d"},
		{"duration in dev mode", []string{"AUTHSVC_REDIS_DIAL_TIMEOUT", "1ms"}, true,
			"AUTHSVC_REDIS_DIAL_TIMEOUT: want between 10ms and 1m0s, got 1ms"},
		// Choices.
		{"smtp tls", []string{"AUTHSVC_SMTP_TLS", "SSL"}, false, `AUTHSVC_SMTP_TLS: want starttls, tls or none, got "ssl"`},
		{"client auth", []string{"AUTHSVC_CLIENT_AUTH", "optional"}, false, `AUTHSVC_CLIENT_AUTH: want any or mtls-only, got "optional"`},
		{"log level", []string{"AUTHSVC_LOG_LEVEL", "Trace"}, false, `AUTHSVC_LOG_LEVEL: want debug, info, warn or error, got "trace"`},
		{"log format", []string{"AUTHSVC_LOG_FORMAT", "logfmt"}, true, `AUTHSVC_LOG_FORMAT: want json or text, got "logfmt"`},
		{"audit sink", []string{"AUTHSVC_AUDIT_SINK", "stdout:json"}, false, `AUTHSVC_AUDIT_SINK: stdout takes nothing after it, got "stdout:json"`},
		{"boolean", []string{"AUTHSVC_GRPC_REFLECTION", "on"}, false, `AUTHSVC_GRPC_REFLECTION: want true or false, got "on"`},
		{"number", []string{"AUTHSVC_SMTP_PORT", "smtp"}, false, `AUTHSVC_SMTP_PORT: want a whole number, got "smtp"`},
		// URLs.
		{"public url without a scheme", []string{"AUTHSVC_PUBLIC_URL", "verify.acme.example"}, false,
			`AUTHSVC_PUBLIC_URL: want an origin such as https://verify.acme.example, got "verify.acme.example"`},
		{"webhook over http", []string{"AUTHSVC_SMS_WEBHOOK_URL", "http://sms.acme.example/send"}, false,
			"AUTHSVC_SMS_WEBHOOK_URL: must use https (http only for a loopback host)"},
		{"webhook with user info", []string{"AUTHSVC_SMS_WEBHOOK_URL", "https://u:p@sms.acme.example/send"}, false,
			"AUTHSVC_SMS_WEBHOOK_URL: must not carry user info (the request is signed with the secret file)"},
		{"redis url with a password", []string{"AUTHSVC_REDIS_URL", "redis://:hunter2@redis:6379"}, false,
			"AUTHSVC_REDIS_URL: must not carry a password: put it in a file named by AUTHSVC_REDIS_PASSWORD_FILE (AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE for Sentinels)"},
		{"postgres url not postgres", []string{"AUTHSVC_AUDIT_SINK", "postgres", "AUTHSVC_AUDIT_POSTGRES_URL", "mysql://db/audit"}, false,
			"AUTHSVC_AUDIT_POSTGRES_URL: want postgres://user@host:5432/database, got an unparsable URL"},
		{"origin with a path", []string{"AUTHSVC_WEBAUTHN_ORIGINS", "https://verify.acme.example/pay"}, false,
			`AUTHSVC_WEBAUTHN_ORIGINS: "https://verify.acme.example/pay" is not an origin: want scheme://host[:port] without user info, path, query or fragment`},
		// Files.
		{"file missing", []string{"AUTHSVC_CLIENT_CA_FILE", missing, "AUTHSVC_TLS_CERT_FILE", base["AUTHSVC_HMAC_KEYS_FILE"],
			"AUTHSVC_TLS_KEY_FILE", base["AUTHSVC_KEK_FILE"]}, false, "AUTHSVC_CLIENT_CA_FILE: " + missing + " does not exist"},
		{"file missing in dev mode", []string{"AUTHSVC_DISCLOSURE_POLICY_FILE", missing}, true,
			"AUTHSVC_DISCLOSURE_POLICY_FILE: " + missing + " does not exist"},
		{"a directory for a file", []string{"AUTHSVC_SMTP_CA_FILE", dir}, false, "AUTHSVC_SMTP_CA_FILE: " + dir + " is a directory, want a file"},
		{"a file for a directory", []string{"AUTHSVC_SIGNING_KEYS_DIR", base["AUTHSVC_KEK_FILE"]}, false,
			"AUTHSVC_SIGNING_KEYS_DIR: " + base["AUTHSVC_KEK_FILE"] + " is not a directory"},
		{"required file unset", []string{"AUTHSVC_SMS_WEBHOOK_SECRET_FILE", ""}, false,
			"AUTHSVC_SMS_WEBHOOK_SECRET_FILE is not set: a file holding the SMS webhook's signing secret (32+ bytes)"},
		// Settings that contradict each other.
		{"half a TLS pair", []string{"AUTHSVC_TLS_KEY_FILE", base["AUTHSVC_KEK_FILE"]}, false,
			"AUTHSVC_TLS_CERT_FILE and AUTHSVC_TLS_KEY_FILE: set both (serve TLS) or neither (TLS ends at the ingress)"},
		{"sentinel password without sentinel", []string{"AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", base["AUTHSVC_SMTP_PASSWORD_FILE"]}, false,
			"AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE is set but AUTHSVC_REDIS_URL is not a redis-sentinel URL"},
		{"redis CA without TLS", []string{"AUTHSVC_REDIS_CA_FILE", base["AUTHSVC_HMAC_KEYS_FILE"]}, false,
			"AUTHSVC_REDIS_CA_FILE is set but AUTHSVC_REDIS_URL does not use TLS (rediss://, rediss-sentinel://, rediss-cluster://)"},
		{"mtls-only without a CA", []string{"AUTHSVC_CLIENT_AUTH", "mtls-only"}, false,
			"AUTHSVC_CLIENT_AUTH=mtls-only needs AUTHSVC_CLIENT_CA_FILE: set it to the PEM bundle of the CA that issues client certificates, or set AUTHSVC_CLIENT_AUTH=any"},
		{"email both ways", []string{"AUTHSVC_EMAIL_WEBHOOK_URL", "https://mail.acme.example", "AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE", base["AUTHSVC_SMS_WEBHOOK_SECRET_FILE"]}, false,
			"AUTHSVC_SMTP_HOST and AUTHSVC_EMAIL_WEBHOOK_URL are both set: email goes one way; unset one"},
		{"smtp password without a user", []string{"AUTHSVC_SMTP_USERNAME", ""}, false, "AUTHSVC_SMTP_PASSWORD_FILE is set without AUTHSVC_SMTP_USERNAME"},
		{"postgres settings without the sink", []string{"AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE", base["AUTHSVC_SMTP_PASSWORD_FILE"]}, false,
			"AUTHSVC_AUDIT_POSTGRES_URL or _PASSWORD_FILE is set but AUTHSVC_AUDIT_SINK is not postgres"},
		{"lock longer than its window", []string{"AUTHSVC_IDENTITY_LONGEST_LOCK", "48h"}, false,
			"AUTHSVC_IDENTITY_FAILURE_WINDOW (24h0m0s) is shorter than AUTHSVC_IDENTITY_LONGEST_LOCK (48h0m0s): a lock would be forgotten before it ends; raise the window"},
		{"dev setting outside dev mode", []string{"AUTHSVC_DEV_ALLOW_REMOTE", "true"}, false,
			"AUTHSVC_DEV_ALLOW_REMOTE is set but dev mode is off: unset it, or set AUTHSVC_DEV=true"},
		{"dev on a public address", []string{"AUTHSVC_METRICS_ADDR", "0.0.0.0:9090"}, true,
			`AUTHSVC_METRICS_ADDR: dev mode listens only on loopback (127.0.0.1, ::1, localhost), got "0.0.0.0:9090"; set AUTHSVC_DEV_ALLOW_REMOTE=true to expose an insecure dev server`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := with(base, tt.env...)
			if tt.dev {
				env = with(nil, tt.env...)
			}
			_, err := loadConfig(getenvFrom(env), tt.dev)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("loadConfig = %v, want a *ConfigError", err)
			}
			if !slices.Equal(ce.Problems, []string{tt.want}) {
				t.Errorf("problems\n got %q\nwant %q", ce.Problems, []string{tt.want})
			}
		})
	}
}

// TestLoadConfigUnusedSettingsNotJudged: what a mode does not use is not read,
// as before the table: dev mode ignores the production settings, and SMTP's
// are not read while email goes through the webhook.
func TestLoadConfigUnusedSettingsNotJudged(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	webhook := with(base, "AUTHSVC_SMTP_HOST", "", "AUTHSVC_SMTP_USERNAME", "", "AUTHSVC_SMTP_PASSWORD_FILE", "", "AUTHSVC_SMTP_FROM", "",
		"AUTHSVC_EMAIL_WEBHOOK_URL", "https://mail.acme.example", "AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE", base["AUTHSVC_SMS_WEBHOOK_SECRET_FILE"],
		"AUTHSVC_SMTP_PORT", "smtp", "AUTHSVC_SMTP_TLS", "ssl")
	c, err := loadConfig(getenvFrom(webhook), false)
	if err != nil {
		t.Fatalf("SMTP settings with the email webhook: %v", err)
	}
	if c.SMTP != (SMTPConfig{}) {
		t.Errorf("SMTP read while email goes through the webhook: %+v", c.SMTP)
	}
	dev := map[string]string{"AUTHSVC_REDIS_URL": "bogus", "AUTHSVC_SMTP_TLS": "ssl", "AUTHSVC_HMAC_KEYS_FILE": "/nonexistent"}
	if _, err := loadConfig(getenvFrom(dev), true); err != nil {
		t.Errorf("dev mode judged production settings: %v", err)
	}
	if got := devIgnored(getenvFrom(dev)); !slices.Equal(got, []string{"AUTHSVC_REDIS_URL", "AUTHSVC_HMAC_KEYS_FILE", "AUTHSVC_SMTP_TLS"}) {
		t.Errorf("devIgnored = %q", got)
	}
}

// TestConfigurationDocExamples: the error outputs docs/configuration.md shows
// are what authsvc prints. Each example is a command line (variables, then
// authsvc and its flags) and the problems it prints; an example with
// -config-check starts from a complete production environment.
func TestConfigurationDocExamples(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	example := regexp.MustCompile("(?m)^```text\n\\$ ((?:AUTHSVC_\\S+ )*)authsvc((?: -\\S+)*)\nauthsvc: invalid configuration:\n((?:  .*\n)+)```")
	found := example.FindAllStringSubmatch(string(md), -1)
	if len(found) < 4 {
		t.Fatalf("found %d examples, want at least 4", len(found))
	}
	for _, m := range found {
		vars, flags, want := strings.Fields(m[1]), strings.Fields(m[2]), strings.Split(strings.TrimSuffix(m[3], "\n"), "\n")
		env := map[string]string{}
		if slices.Contains(flags, "-config-check") {
			env = prodFiles(t)
		}
		for _, v := range vars {
			name, value, _ := strings.Cut(v, "=")
			env[name] = value
		}
		_, err := loadConfig(getenvFrom(env), slices.Contains(flags, "-dev"))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("$ %sauthsvc%s: %v, want the problems the docs show", m[1], m[2], err)
			continue
		}
		got := strings.Split(ce.Error(), "\n")[1:]
		if want[len(want)-1] == "  ..." { // the docs show the first problems only
			want = want[:len(want)-1]
			got = got[:min(len(got), len(want))]
		}
		if !slices.Equal(got, want) {
			t.Errorf("$ %sauthsvc%s prints\n%s\nbut the docs show\n%s", m[1], m[2], strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
