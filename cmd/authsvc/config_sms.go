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

// loadSMS reads the SMS fraud settings.
func loadSMS(r *envReader, s *SMSConfig) {
	action := func(name, def string) challenge.NumberAction {
		a, err := challenge.ParseNumberAction(r.str(name, def))
		if err != nil {
			r.addf("%s: %v", name, err)
		}
		return a
	}
	s.NumberTypes.TollFree = action("AUTHSVC_SMS_TOLL_FREE", "refuse")
	s.NumberTypes.VoIP = action("AUTHSVC_SMS_VOIP", "monitor")
	s.NumberTypes.Unknown = action("AUTHSVC_SMS_UNKNOWN_TYPE", "monitor")

	b := &s.Breakers
	mode, err := challenge.ParseBreakerMode(r.str("AUTHSVC_SMS_BREAKER_MODE", "enforce"))
	if err != nil {
		r.addf("AUTHSVC_SMS_BREAKER_MODE: %v", err)
	}
	b.Mode = mode
	b.Country = r.breakerThreshold("COUNTRY", 50, 3)
	b.Prefix = r.breakerThreshold("PREFIX", 10, 2)
	b.Cooldown = r.duration("AUTHSVC_SMS_BREAKER_COOLDOWN", time.Hour, time.Minute, 7*day)
	b.Grace = r.duration("AUTHSVC_SMS_BREAKER_GRACE", 3*time.Minute, time.Minute, time.Hour)
	if v := strings.TrimSpace(r.getenv("AUTHSVC_SMS_SAFE_LIST")); v != "" {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if len(p) < 3 || len(p) > 16 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
				r.addf("AUTHSVC_SMS_SAFE_LIST: %q is not an E.164 number or prefix such as +4420794 or +14155550100", p)
				continue
			}
			b.SafeList = append(b.SafeList, p)
		}
	}

	s.RiskURL = r.str("AUTHSVC_SMS_RISK_HOOK_URL", "")
	s.RiskTimeout = r.duration("AUTHSVC_SMS_RISK_HOOK_TIMEOUT", delivery.DefaultRiskTimeout, 20*time.Millisecond, 5*time.Second)
	switch fail := r.str("AUTHSVC_SMS_RISK_FAIL", "closed"); fail {
	case "closed":
	case "open":
		s.Risk.FailOpen = true
	default:
		r.addf("AUTHSVC_SMS_RISK_FAIL: want closed or open, got %q", fail)
	}
	s.Risk.SIMSwapWithin = r.days("AUTHSVC_SMS_RISK_SIM_SWAP", 7*day, time.Hour, 90*day)
	switch cf := r.str("AUTHSVC_SMS_RISK_CALL_FORWARDING", "refuse"); cf {
	case "refuse":
	case "allow":
		s.Risk.AllowForwarding = true
	default:
		r.addf("AUTHSVC_SMS_RISK_CALL_FORWARDING: want refuse or allow, got %q", cf)
	}
	if s.RiskURL != "" {
		checkWebhookURL(r, "AUTHSVC_SMS_RISK_HOOK_URL", s.RiskURL)
		s.RiskSecretFile = r.file("AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", true, "a file holding the risk hook's signing secret (32+ bytes)")
	} else if r.getenv("AUTHSVC_SMS_RISK_HOOK_SECRET_FILE") != "" {
		r.addf("AUTHSVC_SMS_RISK_HOOK_SECRET_FILE is set but AUTHSVC_SMS_RISK_HOOK_URL is not: set the hook's URL, or unset the secret")
	}
}

// breakerThreshold reads AUTHSVC_SMS_BREAKER_<KIND>_FLOOR_DAY, _FLOOR_HOUR and _RATIO.
func (r *envReader) breakerThreshold(kind string, floorDay, floorHour int) challenge.BreakerThreshold {
	p := "AUTHSVC_SMS_BREAKER_" + kind + "_"
	return challenge.BreakerThreshold{
		FloorDay:  float64(r.integer(p+"FLOOR_DAY", floorDay, 1, 1_000_000)),
		FloorHour: float64(r.integer(p+"FLOOR_HOUR", floorHour, 1, 100_000)),
		Ratio:     r.ratio(p+"RATIO", 1, 0.05, 20),
	}
}

// ratio reads a decimal number between lo and hi.
func (r *envReader) ratio(name string, def, lo, hi float64) float64 {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		r.addf("%s: want a number between %g and %g, such as 1 or 0.5, got %q", name, lo, hi, v)
		return def
	}
	return f
}

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
