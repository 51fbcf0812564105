package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
)

func TestLoadSMSConfig(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	secret := filepath.Join(t.TempDir(), "risk-secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defaults := SMSConfig{
		NumberTypes: challenge.NumberTypes{TollFree: challenge.NumberRefuse, VoIP: challenge.NumberMonitor, Unknown: challenge.NumberMonitor},
		Breakers: challenge.Breakers{Mode: challenge.BreakerEnforce,
			Country:  challenge.BreakerThreshold{FloorDay: 50, FloorHour: 3, Ratio: 1},
			Prefix:   challenge.BreakerThreshold{FloorDay: 10, FloorHour: 2, Ratio: 1},
			Cooldown: time.Hour, Grace: 3 * time.Minute},
		RiskTimeout: 300 * time.Millisecond,
		Risk:        challenge.RiskPolicy{SIMSwapWithin: 7 * day},
	}
	custom := SMSConfig{
		NumberTypes: challenge.NumberTypes{TollFree: challenge.NumberAllow, VoIP: challenge.NumberRefuse, Unknown: challenge.NumberRefuse},
		Breakers: challenge.Breakers{Mode: challenge.BreakerMonitor,
			Country:  challenge.BreakerThreshold{FloorDay: 200, FloorHour: 20, Ratio: 0.5},
			Prefix:   challenge.BreakerThreshold{FloorDay: 5, FloorHour: 2, Ratio: 2},
			Cooldown: 2 * time.Hour, Grace: 5 * time.Minute, SafeList: []string{"+4420794", "+14155550100"}},
		RiskURL: "https://lookup.acme.example/risk", RiskSecretFile: secret, RiskTimeout: 150 * time.Millisecond,
		Risk: challenge.RiskPolicy{FailOpen: true, SIMSwapWithin: 3 * day, AllowForwarding: true},
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want SMSConfig
	}{
		"defaults": {base, defaults},
		"every variable": {with(base,
			"AUTHSVC_SMS_TOLL_FREE", "allow", "AUTHSVC_SMS_VOIP", "refuse", "AUTHSVC_SMS_UNKNOWN_TYPE", "refuse",
			"AUTHSVC_SMS_BREAKER_MODE", "monitor",
			"AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_DAY", "200", "AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_HOUR", "20", "AUTHSVC_SMS_BREAKER_COUNTRY_RATIO", "0.5",
			"AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_DAY", "5", "AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_HOUR", "2", "AUTHSVC_SMS_BREAKER_PREFIX_RATIO", "2",
			"AUTHSVC_SMS_BREAKER_COOLDOWN", "2h", "AUTHSVC_SMS_BREAKER_GRACE", "5m", "AUTHSVC_SMS_SAFE_LIST", "+4420794, +14155550100",
			"AUTHSVC_SMS_RISK_HOOK_URL", "https://lookup.acme.example/risk", "AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", secret,
			"AUTHSVC_SMS_RISK_HOOK_TIMEOUT", "150ms", "AUTHSVC_SMS_RISK_FAIL", "open", "AUTHSVC_SMS_RISK_SIM_SWAP", "3d",
			"AUTHSVC_SMS_RISK_CALL_FORWARDING", "allow"), custom},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := loadConfig(getenvFrom(tc.env), false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.SMS, tc.want) {
				t.Fatalf("SMS config\n got %+v\nwant %+v", c.SMS, tc.want)
			}
		})
	}
}

func TestLoadSMSConfigProblems(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"AUTHSVC_SMS_VOIP", "block"}, `AUTHSVC_SMS_VOIP: "block": want refuse, monitor or allow`},
		{[]string{"AUTHSVC_SMS_BREAKER_MODE", "on"}, `AUTHSVC_SMS_BREAKER_MODE: "on": want enforce, monitor or off`},
		{[]string{"AUTHSVC_SMS_BREAKER_PREFIX_RATIO", "0"}, "AUTHSVC_SMS_BREAKER_PREFIX_RATIO: want a number between 0.05 and 20"},
		{[]string{"AUTHSVC_SMS_BREAKER_GRACE", "10s"}, "AUTHSVC_SMS_BREAKER_GRACE"},
		{[]string{"AUTHSVC_SMS_SAFE_LIST", "4420794"}, `AUTHSVC_SMS_SAFE_LIST: "4420794" is not an E.164 number or prefix`},
		{[]string{"AUTHSVC_SMS_RISK_HOOK_URL", "https://lookup.acme.example/"}, "AUTHSVC_SMS_RISK_HOOK_SECRET_FILE"},
		{[]string{"AUTHSVC_SMS_RISK_HOOK_URL", "http://lookup.acme.example/", "AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", "/nonexistent"}, "AUTHSVC_SMS_RISK_HOOK_URL"},
		{[]string{"AUTHSVC_SMS_RISK_HOOK_SECRET_FILE", "/x"}, "AUTHSVC_SMS_RISK_HOOK_URL is not"},
		{[]string{"AUTHSVC_SMS_RISK_FAIL", "maybe"}, "AUTHSVC_SMS_RISK_FAIL: want closed or open"},
	} {
		_, err := loadConfig(getenvFrom(with(base, tc.env...)), false)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}
