package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
)

// defaultLimits are the limits in effect when no variable sets one: the defaults
// of the settings table (settings.go) and of challenge.Limits.
var defaultLimits = challenge.Limits{
	Failures: 20, SharedFailures: 30, FirstLock: 30 * time.Second, LongestLock: time.Hour, FailureWindow: 24 * time.Hour,
	Sends: 3, SharedSends: 5, SendWindow: 10 * time.Minute, QuietStarts: 10, SharedQuietStarts: 15,
	Send: challenge.SendLimits{
		Destination: challenge.Rate{N: 5, Per: time.Hour},
		Prefix:      challenge.Rate{N: 20, Per: time.Hour},
		Country:     challenge.Rate{N: 1000, Per: time.Hour},
		Client:      challenge.Rate{N: 600, Per: time.Minute},
		Agent:       challenge.Rate{N: 30, Per: time.Hour},
		ClientDaily: 20_000,
	},
}

func TestLoadConfigLimits(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	custom := defaultLimits
	custom.Failures, custom.FirstLock, custom.LongestLock, custom.FailureWindow = 10, time.Minute, 2*time.Hour, 48*time.Hour
	custom.SharedFailures = 12
	custom.Sends, custom.SharedSends, custom.SendWindow = 5, 9, 30*time.Minute
	custom.QuietStarts, custom.SharedQuietStarts = 4, 7
	custom.Send = challenge.SendLimits{
		Destination: challenge.Rate{N: 3, Per: 30 * time.Minute},
		Prefix:      challenge.Rate{N: 50, Per: 2 * time.Hour},
		Country:     challenge.Rate{N: 200, Per: time.Hour},
		Client:      challenge.Rate{N: 100, Per: time.Second},
		Agent:       challenge.Rate{N: 1, Per: 168 * time.Hour},
		ClientDaily: 500,
		Countries:   []int{1, 44, 34},
	}
	tests := []struct {
		name string
		env  map[string]string
		dev  bool
		want challenge.Limits
	}{
		{"production defaults", base, false, defaultLimits},
		{"dev defaults", nil, true, defaultLimits},
		{"every variable", with(base,
			"AUTHSVC_IDENTITY_FAILURE_LIMIT", "10",
			"AUTHSVC_IDENTITY_FIRST_LOCK", "1m",
			"AUTHSVC_IDENTITY_LONGEST_LOCK", "2h",
			"AUTHSVC_IDENTITY_FAILURE_WINDOW", "48h",
			"AUTHSVC_IDENTITY_SENDS", "5",
			"AUTHSVC_IDENTITY_SEND_WINDOW", "30m",
			"AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT", "12",
			"AUTHSVC_IDENTITY_SHARED_SENDS", "9",
			"AUTHSVC_IDENTITY_QUIET_STARTS", "4",
			"AUTHSVC_IDENTITY_SHARED_QUIET_STARTS", "7",
			"AUTHSVC_LIMIT_DESTINATION", "3/30m",
			"AUTHSVC_LIMIT_PREFIX", " 50 / 2h ",
			"AUTHSVC_LIMIT_COUNTRY", "200/1h",
			"AUTHSVC_LIMIT_CLIENT", "100/1s",
			"AUTHSVC_LIMIT_AGENT", "1/168h",
			"AUTHSVC_LIMIT_CLIENT_DAILY", "500",
			"AUTHSVC_SMS_COUNTRIES", "1, +44,34,44",
		), false, custom},
		{"first lock equal to the longest", with(base, "AUTHSVC_IDENTITY_FIRST_LOCK", "1h"), false, func() challenge.Limits {
			l := defaultLimits
			l.FirstLock = time.Hour
			return l
		}()},
		// Unset, a shared limit follows its per-client one: half again, rounded up.
		{"shared limits follow the per-client ones", with(base, "AUTHSVC_IDENTITY_FAILURE_LIMIT", "100",
			"AUTHSVC_IDENTITY_SENDS", "1", "AUTHSVC_IDENTITY_QUIET_STARTS", "3"), false, func() challenge.Limits {
			l := defaultLimits
			l.Failures, l.SharedFailures = 100, 150
			l.Sends, l.SharedSends = 1, 2
			l.QuietStarts, l.SharedQuietStarts = 3, 5
			return l
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(getenvFrom(tt.env), tt.dev)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if !reflect.DeepEqual(c.Limits, tt.want) {
				t.Errorf("limits\n got %+v\nwant %+v", c.Limits, tt.want)
			}
		})
	}
}

func TestLoadConfigLimitProblems(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"failure limit out of range", []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT", "101"}, []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT: want between 1 and 100, got 101"}},
		{"failure limit zero", []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT", "0"}, []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT: want between 1 and 100"}},
		{"failure limit not a number", []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT", "many"}, []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT: want a whole number"}},
		{"first lock not a duration", []string{"AUTHSVC_IDENTITY_FIRST_LOCK", "30"}, []string{"AUTHSVC_IDENTITY_FIRST_LOCK: want a duration"}},
		{"longest lock shorter than the first", []string{"AUTHSVC_IDENTITY_FIRST_LOCK", "10m", "AUTHSVC_IDENTITY_LONGEST_LOCK", "5m"},
			[]string{"AUTHSVC_IDENTITY_LONGEST_LOCK (5m0s) is shorter than AUTHSVC_IDENTITY_FIRST_LOCK (10m0s)"}},
		{"window shorter than the longest lock", []string{"AUTHSVC_IDENTITY_FAILURE_WINDOW", "30m"},
			[]string{"AUTHSVC_IDENTITY_FAILURE_WINDOW (30m0s) is shorter than AUTHSVC_IDENTITY_LONGEST_LOCK (1h0m0s)"}},
		{"longest lock over a week", []string{"AUTHSVC_IDENTITY_LONGEST_LOCK", "169h", "AUTHSVC_IDENTITY_FAILURE_WINDOW", "200h"},
			[]string{"AUTHSVC_IDENTITY_LONGEST_LOCK: want between"}},
		{"identity sends out of range", []string{"AUTHSVC_IDENTITY_SENDS", "21", "AUTHSVC_IDENTITY_SEND_WINDOW", "10s"},
			[]string{"AUTHSVC_IDENTITY_SENDS: want between 1 and 20", "AUTHSVC_IDENTITY_SEND_WINDOW: want between 1m0s and 24h0m0s"}},
		{"shared failure limit not above the per-client one", []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT", "10", "AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT", "10"},
			[]string{"AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT (10) is not above AUTHSVC_IDENTITY_FAILURE_LIMIT (10): one client alone could reach it"}},
		{"shared sends below the per-client ones", []string{"AUTHSVC_IDENTITY_SHARED_SENDS", "2"},
			[]string{"AUTHSVC_IDENTITY_SHARED_SENDS (2) is not above AUTHSVC_IDENTITY_SENDS (3): one client alone could reach it and lock or exhaust the identity for every client; raise it, or leave it unset (5)"}},
		{"shared quiet starts not above", []string{"AUTHSVC_IDENTITY_QUIET_STARTS", "20", "AUTHSVC_IDENTITY_SHARED_QUIET_STARTS", "15"},
			[]string{"AUTHSVC_IDENTITY_SHARED_QUIET_STARTS (15) is not above AUTHSVC_IDENTITY_QUIET_STARTS (20)"}},
		{"shared limits out of range", []string{"AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT", "201", "AUTHSVC_IDENTITY_SHARED_SENDS", "41",
			"AUTHSVC_IDENTITY_QUIET_STARTS", "101", "AUTHSVC_IDENTITY_SHARED_QUIET_STARTS", "1"},
			[]string{"AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT: want between 2 and 200, got 201", "AUTHSVC_IDENTITY_SHARED_SENDS: want between 2 and 40",
				"AUTHSVC_IDENTITY_QUIET_STARTS: want between 1 and 100", "AUTHSVC_IDENTITY_SHARED_QUIET_STARTS: want between 2 and 200"}},
		{"rate without a slash", []string{"AUTHSVC_LIMIT_DESTINATION", "5"}, []string{`AUTHSVC_LIMIT_DESTINATION: want N/DURATION, N sends per window, such as 5/1h, got "5"`}},
		{"rate in words", []string{"AUTHSVC_LIMIT_PREFIX", "20 per hour"}, []string{"AUTHSVC_LIMIT_PREFIX: want N/DURATION"}},
		{"rate without a unit", []string{"AUTHSVC_LIMIT_COUNTRY", "1000/3600"}, []string{"AUTHSVC_LIMIT_COUNTRY: want N/DURATION"}},
		{"rate of zero", []string{"AUTHSVC_LIMIT_CLIENT", "0/1m"}, []string{"AUTHSVC_LIMIT_CLIENT: want N between 1 and 1000000, got 0"}},
		{"rate window too long", []string{"AUTHSVC_LIMIT_AGENT", "30/30d"}, []string{"AUTHSVC_LIMIT_AGENT: want N/DURATION"}},
		{"rate window over a week", []string{"AUTHSVC_LIMIT_AGENT", "30/200h"}, []string{"AUTHSVC_LIMIT_AGENT: want DURATION between 1s and 168h0m0s"}},
		{"rate too fast", []string{"AUTHSVC_LIMIT_CLIENT", "5000/1s"}, []string{"AUTHSVC_LIMIT_CLIENT: 5000 per 1s is more than one send per millisecond"}},
		{"client daily out of range", []string{"AUTHSVC_LIMIT_CLIENT_DAILY", "0"}, []string{"AUTHSVC_LIMIT_CLIENT_DAILY: want between 1 and 100000000"}},
		{"client daily as a rate", []string{"AUTHSVC_LIMIT_CLIENT_DAILY", "20000/24h"}, []string{"AUTHSVC_LIMIT_CLIENT_DAILY: want a whole number"}},
		{"unknown calling code", []string{"AUTHSVC_SMS_COUNTRIES", "1,999"}, []string{"AUTHSVC_SMS_COUNTRIES: 999 is not a country calling code"}},
		{"region instead of calling code", []string{"AUTHSVC_SMS_COUNTRIES", "US,GB"}, []string{`AUTHSVC_SMS_COUNTRIES: want country calling codes such as 1,44,34, got "US"`, `got "GB"`}},
		{"empty calling code", []string{"AUTHSVC_SMS_COUNTRIES", "1,,44"}, []string{"AUTHSVC_SMS_COUNTRIES: empty entry"}},
		{"every limit problem at once", []string{
			"AUTHSVC_IDENTITY_FAILURE_LIMIT", "0", "AUTHSVC_IDENTITY_SENDS", "0", "AUTHSVC_LIMIT_DESTINATION", "x",
			"AUTHSVC_LIMIT_PREFIX", "x", "AUTHSVC_LIMIT_COUNTRY", "x", "AUTHSVC_LIMIT_CLIENT", "x", "AUTHSVC_LIMIT_AGENT", "x",
			"AUTHSVC_LIMIT_CLIENT_DAILY", "x", "AUTHSVC_SMS_COUNTRIES", "x",
		}, []string{"AUTHSVC_IDENTITY_FAILURE_LIMIT", "AUTHSVC_IDENTITY_SENDS", "AUTHSVC_LIMIT_DESTINATION", "AUTHSVC_LIMIT_PREFIX",
			"AUTHSVC_LIMIT_COUNTRY", "AUTHSVC_LIMIT_CLIENT:", "AUTHSVC_LIMIT_AGENT", "AUTHSVC_LIMIT_CLIENT_DAILY", "AUTHSVC_SMS_COUNTRIES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(getenvFrom(with(base, tt.env...)), false)
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

func TestLoadConfigEmailProviderRules(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	c, err := loadConfig(getenvFrom(base), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Verification.EmailRules) != 0 {
		t.Errorf("rules by default: %v, want none", c.Verification.EmailRules)
	}
	c, err = loadConfig(getenvFrom(with(base, "AUTHSVC_EMAIL_PROVIDER_RULES", "gmail.com:dots+tags, GoogleMail.com:dots+tags,outlook.com:tags")), false)
	if err != nil {
		t.Fatal(err)
	}
	want := challenge.EmailRules{"gmail.com": {IgnoreDots: true, IgnoreTags: true},
		"googlemail.com": {IgnoreDots: true, IgnoreTags: true}, "outlook.com": {IgnoreTags: true}}
	if !reflect.DeepEqual(c.Verification.EmailRules, want) {
		t.Errorf("rules %v, want %v", c.Verification.EmailRules, want)
	}
	for value, problem := range map[string]string{
		"gmail.com":                     `AUTHSVC_EMAIL_PROVIDER_RULES: entry "gmail.com": want DOMAIN:RULES, e.g. gmail.com:dots+tags`,
		"gmail.com:dots+plus":           `AUTHSVC_EMAIL_PROVIDER_RULES: entry "gmail.com:dots+plus": unknown rule "plus": want dots, tags or dots+tags`,
		"gmail.com:dots,GMAIL.com:tags": `AUTHSVC_EMAIL_PROVIDER_RULES: entry "GMAIL.com:tags": gmail.com has rules already`,
		"gmail:dots":                    `AUTHSVC_EMAIL_PROVIDER_RULES: entry "gmail:dots": "gmail" is not a mail domain`,
	} {
		_, err := loadConfig(getenvFrom(with(base, "AUTHSVC_EMAIL_PROVIDER_RULES", value)), false)
		if err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("AUTHSVC_EMAIL_PROVIDER_RULES=%q: %v, want %q", value, err, problem)
		}
	}
}

// TestRedisLogger checks that go-redis's own messages become warn lines of the
// JSON log, message only.
func TestRedisLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := redisLogger{newLogger(LogConfig{Level: slog.LevelInfo, Format: "json"}, &buf)}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5,
		errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	delete(line, "time")
	want := map[string]any{"level": "WARN",
		"msg": "redis: connection pool: failed to dial after 5 attempts: dial tcp 127.0.0.1:1: connect: connection refused"}
	if !reflect.DeepEqual(line, want) {
		t.Errorf("log line %v, want %v", line, want)
	}

	buf.Reset()
	quiet := redisLogger{newLogger(LogConfig{Level: slog.LevelError, Format: "json"}, &buf)}
	quiet.Printf(context.Background(), "redis: %s", "x")
	if buf.Len() != 0 {
		t.Errorf("logged below the configured level: %q", buf.String())
	}
}

// TestLimitsReachTheService checks the wiring: the configured limits are the ones
// the running service enforces.
func TestLimitsReachTheService(t *testing.T) {
	in := startService(t, []string{"-dev"}, map[string]string{
		"AUTHSVC_GRPC_ADDR": "127.0.0.1:0", "AUTHSVC_HTTP_ADDR": "127.0.0.1:0", "AUTHSVC_METRICS_ADDR": "127.0.0.1:0",
		"AUTHSVC_LIMIT_DESTINATION": "1/1h", "AUTHSVC_SMS_COUNTRIES": "44",
		"AUTHSVC_EMAIL_PROVIDER_RULES": "gmail.com:dots+tags",
	})
	c := newClient(t, in, devAPIKey, nil)
	start := func(userID string, method authsvcv1.Method, dest *authsvcv1.Destination) error {
		_, err := c.api.StartVerification(c.ctx(t), &authsvcv1.StartVerificationRequest{
			Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: userID, Handle: "@u" + userID},
			Methods:  []authsvcv1.Method{method}, Audience: "crm", AgentId: "agent-" + userID,
			ConversationId: "conv-" + userID, Destination: dest, RequestId: "req-" + userID,
		})
		return err
	}
	email := &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: "shared@example.com"}}
	if err := start("1", authsvcv1.Method_METHOD_OTP_EMAIL, email); err != nil {
		t.Fatalf("first start: %v", err)
	}
	// A second identity, the same address: the destination allows 1 per hour.
	err := start("2", authsvcv1.Method_METHOD_OTP_EMAIL, email)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("second start to the same address: %v, want RESOURCE_EXHAUSTED", err)
	}
	var scope string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "SEND_LIMIT" {
			scope = info.GetMetadata()["scope"]
		}
	}
	if scope != "destination" {
		t.Errorf("details %v, want ErrorInfo SEND_LIMIT with scope destination", st.Details())
	}
	// SMS only to +44.
	us := &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: "+14155550100"}}
	if err := start("3", authsvcv1.Method_METHOD_OTP_SMS, us); status.Code(err) != codes.InvalidArgument {
		t.Errorf("SMS to +1 with AUTHSVC_SMS_COUNTRIES=44: %v, want INVALID_ARGUMENT", err)
	}
	uk := &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: "+447700900123"}}
	if err := start("4", authsvcv1.Method_METHOD_OTP_SMS, uk); err != nil {
		t.Errorf("SMS to +44: %v", err)
	}
	// The provider rules: another spelling of one Gmail mailbox shares its budget.
	gmail := func(address string) *authsvcv1.Destination {
		return &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: address}}
	}
	if err := start("5", authsvcv1.Method_METHOD_OTP_EMAIL, gmail("j.doe@gmail.com")); err != nil {
		t.Fatalf("start to j.doe@gmail.com: %v", err)
	}
	if err := start("6", authsvcv1.Method_METHOD_OTP_EMAIL, gmail("JDoe+shop@GMAIL.com")); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("start to another spelling of the same Gmail mailbox: %v, want RESOURCE_EXHAUSTED", err)
	}
	metrics := c.get(t, "http://"+in.addrs.Metrics+"/metrics")
	if !strings.Contains(metrics, `authsvc_send_limited_total{scope="destination"} 2`) {
		t.Errorf("metrics lack the refused send:\n%s", metrics)
	}
}
