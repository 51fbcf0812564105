package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
)

// The SMS fraud defences' settings (docs/configuration.md, "SMS fraud"), in dev
// mode too except the risk hook, which needs a secret file:
//
//	AUTHSVC_SMS_TOLL_FREE                    refuse        toll-free numbers: refuse | monitor | allow
//	AUTHSVC_SMS_VOIP                         monitor       VoIP and personal numbers: refuse | monitor | allow
//	AUTHSVC_SMS_UNKNOWN_TYPE                 monitor       numbers outside every known range: refuse | monitor | allow
//	AUTHSVC_SMS_BREAKER_MODE                 enforce       conversion-aware breakers: enforce | monitor | off
//	AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_DAY    50            a country's unentered codes a day tolerated whatever its conversions (1 to 1000000)
//	AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_HOUR   3             the same an hour (1 to 100000)
//	AUTHSVC_SMS_BREAKER_COUNTRY_RATIO        1             unentered codes tolerated per code entered (0.05 to 20)
//	AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_DAY     10            as for the country, per number prefix
//	AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_HOUR    2
//	AUTHSVC_SMS_BREAKER_PREFIX_RATIO         1
//	AUTHSVC_SMS_BREAKER_COOLDOWN             1h            how long a tripped cell refuses before it is judged again (1m to 7d)
//	AUTHSVC_SMS_BREAKER_GRACE                3m            how long a sent code counts as in flight, not unentered (1m to 1h)
//	AUTHSVC_SMS_SAFE_LIST                    (none)        E.164 numbers and prefixes no breaker counts or refuses, comma-separated
//	AUTHSVC_SMS_RISK_HOOK_URL                (none)        number-intelligence hook asked before every SMS (https; http only on loopback)
//	AUTHSVC_SMS_RISK_HOOK_SECRET_FILE        required with the URL  file holding the hook's HMAC secret (>= 32 bytes)
//	AUTHSVC_SMS_RISK_HOOK_TIMEOUT            300ms         the hook's hard time budget (20ms to 5s)
//	AUTHSVC_SMS_RISK_FAIL                    closed        when the hook fails: closed (no SMS; other methods) | open (send)
//	AUTHSVC_SMS_RISK_SIM_SWAP                7d            a SIM swap more recent than this refuses SMS (1h to 90d)
//	AUTHSVC_SMS_RISK_CALL_FORWARDING         refuse        active call forwarding: refuse | allow
type SMSConfig struct {
	NumberTypes challenge.NumberTypes
	Breakers    challenge.Breakers
	// RiskURL is the risk hook; "" for none.
	RiskURL, RiskSecretFile string
	RiskTimeout             time.Duration
	Risk                    challenge.RiskPolicy
}

// smsSettings are the SMS fraud defences' rows of the settings table (settings.go).
func (c *Config) smsSettings() []setting {
	s := &c.SMS
	b := &s.Breakers
	return []setting{
		{Name: "AUTHSVC_SMS_TOLL_FREE", Section: "sms-types", Default: "refuse", Value: numberAction(&s.NumberTypes.TollFree),
			Doc: "toll-free numbers: `refuse`, `monitor` (send and count) or `allow`."},
		{Name: "AUTHSVC_SMS_VOIP", Section: "sms-types", Default: "monitor", Value: numberAction(&s.NumberTypes.VoIP),
			Doc: "VoIP and personal numbers (they forward to anything): `refuse`, `monitor` or `allow`."},
		{Name: "AUTHSVC_SMS_UNKNOWN_TYPE", Section: "sms-types", Default: "monitor", Value: numberAction(&s.NumberTypes.Unknown),
			Doc: "numbers outside every range the metadata knows (a new range, or an unassigned number): `refuse`, `monitor` or `allow`."},

		{Name: "AUTHSVC_SMS_BREAKER_MODE", Section: "sms-breakers", Default: "enforce", Value: breakerMode(&b.Mode),
			Doc: "`enforce`; `monitor` (trips are audited and counted, nothing is refused); `off` (no breaker state)."},
		{Name: "AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_DAY", Section: "sms-breakers", Default: "50", Value: floatInt(&b.Country.FloorDay, 1, 1_000_000),
			Doc: "a country's unentered codes a day tolerated whatever its conversions."},
		{Name: "AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_HOUR", Section: "sms-breakers", Default: "3", Value: floatInt(&b.Country.FloorHour, 1, 100_000),
			Doc: "the same over an hour."},
		{Name: "AUTHSVC_SMS_BREAKER_COUNTRY_RATIO", Section: "sms-breakers", Default: "1", Value: ratio(&b.Country.Ratio, 0.05, 20),
			Doc: "unentered codes tolerated per code entered. 1 trips a country whose codes are entered less than half the time " +
				"(real customers enter about 70 %; authgear's published 0.2 assumes near-total conversion)."},
		{Name: "AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_DAY", Section: "sms-breakers", Default: "10", Value: floatInt(&b.Prefix.FloorDay, 1, 1_000_000),
			Doc: "as for the country, per number prefix."},
		{Name: "AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_HOUR", Section: "sms-breakers", Default: "2", Value: floatInt(&b.Prefix.FloorHour, 1, 100_000),
			Doc: "as for the country, per number prefix."},
		{Name: "AUTHSVC_SMS_BREAKER_PREFIX_RATIO", Section: "sms-breakers", Default: "1", Value: ratio(&b.Prefix.Ratio, 0.05, 20),
			Doc: "as for the country, per number prefix."},
		{Name: "AUTHSVC_SMS_BREAKER_COOLDOWN", Section: "sms-breakers", Default: "1h", Value: duration(&b.Cooldown, time.Minute, 7*day),
			Doc: "how long a tripped cell refuses before it is judged again."},
		{Name: "AUTHSVC_SMS_BREAKER_GRACE", Section: "sms-breakers", Default: "3m", Value: duration(&b.Grace, time.Minute, time.Hour),
			Doc: "how long a sent code counts as in flight rather than unentered (codes in flight beyond the hourly threshold count at once: a burst)."},
		{Name: "AUTHSVC_SMS_SAFE_LIST", Section: "sms-breakers", Value: safeList(&b.SafeList), ShowDefault: "empty",
			Doc: "E.164 numbers and prefixes that no breaker counts or refuses, comma-separated, e.g. `+14155550100,+4420794` (a test number, an office range)."},

		{Name: "AUTHSVC_SMS_RISK_HOOK_URL", Section: "sms-risk", Value: webhookURL(&s.RiskURL), ShowDefault: "empty: no hook",
			Doc: "the hook's URL: https (http only on a loopback host)."},
		{Name: "AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", Section: "sms-risk", Value: file(&s.RiskSecretFile), ShowDefault: "required with the URL",
			Doc: "file holding the hook's HMAC secret (at least 32 bytes)."},
		{Name: "AUTHSVC_SMS_RISK_HOOK_TIMEOUT", Section: "sms-risk", Default: "300ms", Value: duration(&s.RiskTimeout, 20*time.Millisecond, 5*time.Second),
			Doc: "the hook's hard time budget, no retries."},
		{Name: "AUTHSVC_SMS_RISK_FAIL", Section: "sms-risk", Default: "closed", Value: choice(&s.Risk.FailOpen, "closed", "open"),
			Doc: "when the hook times out, is unreachable or answers garbage: `closed` refuses the SMS (reason `risk_unavailable`; " +
				"other methods still offered), `open` sends."},
		{Name: "AUTHSVC_SMS_RISK_SIM_SWAP", Section: "sms-risk", Default: "7d", Value: days(&s.Risk.SIMSwapWithin, time.Hour, 90*day),
			Doc: "a SIM swap more recent than this refuses the SMS."},
		{Name: "AUTHSVC_SMS_RISK_CALL_FORWARDING", Section: "sms-risk", Default: "refuse", Value: choice(&s.Risk.AllowForwarding, "refuse", "allow"),
			Doc: "active call forwarding: `refuse` or `allow`."},
	}
}

// checkSMS: the risk hook's URL and its secret go together.
func checkSMS(r *envReader, s *SMSConfig) {
	switch {
	case s.RiskURL != "":
		if s.RiskSecretFile == "" {
			r.addf("AUTHSVC_SMS_RISK_HOOK_SECRET_FILE is not set: a file holding the risk hook's signing secret (32+ bytes)")
		}
	case s.RiskSecretFile != "":
		r.addf("AUTHSVC_SMS_RISK_HOOK_SECRET_FILE is set but AUTHSVC_SMS_RISK_HOOK_URL is not: set the hook's URL, or unset the secret")
	}
}

// numberAction reads refuse, monitor or allow.
func numberAction(p *challenge.NumberAction) value {
	return valueFunc(func(r *envReader, name, raw string) {
		a, err := challenge.ParseNumberAction(raw)
		if err != nil {
			r.refuse(name, "%v", err)
			return
		}
		*p = a
	})
}

// breakerMode reads enforce, monitor or off.
func breakerMode(p *challenge.BreakerMode) value {
	return valueFunc(func(r *envReader, name, raw string) {
		m, err := challenge.ParseBreakerMode(raw)
		if err != nil {
			r.refuse(name, "%v", err)
			return
		}
		*p = m
	})
}

// choice reads one of two words into a flag: off for the first, on for the second.
func choice(p *bool, off, on string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		switch raw {
		case off:
			*p = false
		case on:
			*p = true
		default:
			r.refuse(name, "want %s or %s, got %q", off, on, raw)
		}
	})
}

// floatInt reads a whole number from lo to hi (as integer does) into a float field.
func floatInt(p *float64, lo, hi int) value {
	var n int
	whole := intValue{&n, lo, hi}
	return boundedValue{valueFunc(func(r *envReader, name, raw string) {
		n = int(*p)
		whole.set(r, name, raw)
		*p = float64(n)
	}), whole.bounds()}
}

// ratio reads a decimal number from lo to hi.
func ratio(p *float64, lo, hi float64) value {
	return boundedValue{valueFunc(func(r *envReader, name, raw string) {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || f < lo || f > hi {
			r.refuse(name, "want a number between %g and %g, such as 1 or 0.5, got %q", lo, hi, raw)
			return
		}
		*p = f
	}), strconv.FormatFloat(lo, 'g', -1, 64) + " to " + strconv.FormatFloat(hi, 'g', -1, 64)}
}

// safeList reads E.164 numbers and prefixes, comma-separated.
func safeList(p *[]string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		for _, e := range strings.Split(raw, ",") {
			e = strings.TrimSpace(e)
			if len(e) < 3 || len(e) > 16 || e[0] != '+' || strings.Trim(e[1:], "0123456789") != "" {
				r.refuse(name, "%q is not an E.164 number or prefix such as +4420794 or +14155550100", e)
				continue
			}
			*p = append(*p, e)
		}
	})
}

// boundedValue is a value whose docs give its bounds.
type boundedValue struct {
	valueFunc
	b string
}

func (v boundedValue) bounds() string { return v.b }

// riskHookOption builds the risk hook, when one is configured, as the
// verification service's option; nil when none.
func riskHookOption(s SMSConfig, client *http.Client) (challenge.Option, error) {
	if s.RiskURL == "" {
		return nil, nil
	}
	secret, err := readSecretFile("AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", s.RiskSecretFile)
	if err != nil {
		return nil, err
	}
	hook, err := delivery.NewRiskHook(delivery.RiskHookConfig{URL: s.RiskURL, Secret: []byte(secret), Timeout: s.RiskTimeout, Client: client})
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_SMS_RISK_HOOK_URL / AUTHSVC_SMS_RISK_HOOK_SECRET_FILE: %w", err)
	}
	return challenge.WithRiskHook(hook, s.Risk), nil
}
