package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadHandover(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "channels.json")
	if err := os.WriteFile(good, []byte(devChannels), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"channels": [{"id": "app", "names": {"en": "A", "es": "A"},
		"redirect_urls": ["http://app.example.com/h"], "client": "dev"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := loadHandover(env("AUTHSVC_CHANNELS_FILE", good, "AUTHSVC_HANDOVER_TTL", "5m"), false)
	if err != nil || c.Channels.Channel("app") == nil || c.Channels.Phone() == nil || c.Lifecycle.OfferTTL.Minutes() != 5 {
		t.Fatalf("loadHandover = %+v, %v", c, err)
	}
	if lc := c.Lifecycle; lc.CallFailures != 20 || lc.CallerFailures != 10 || lc.ClientFailures != 200 {
		t.Fatalf("call-code limits = %d, %d, %d; want the defaults 20, 10, 200", lc.CallFailures, lc.CallerFailures, lc.ClientFailures)
	}
	if c, err := loadHandover(env(), false); err != nil || !c.Channels.Empty() {
		t.Fatalf("no file, production: %+v, %v", c, err)
	}
	if c, err := loadHandover(env(), true); err != nil || c.Channels.Channel("app") == nil {
		t.Fatalf("no file, dev mode: %+v, %v", c, err)
	}
	for name, e := range map[string]func(string) string{
		"http redirect":  env("AUTHSVC_CHANNELS_FILE", bad),
		"missing file":   env("AUTHSVC_CHANNELS_FILE", filepath.Join(dir, "nope.json")),
		"ttl too long":   env("AUTHSVC_HANDOVER_TTL", "11m"),
		"code ttl long":  env("AUTHSVC_HANDOVER_CODE_TTL", "3m"),
		"failures zero":  env("AUTHSVC_CALL_CODE_FAILURES", "0"),
		"caller zero":    env("AUTHSVC_CALL_CODE_CALLER_FAILURES", "0"),
		"ceiling low":    env("AUTHSVC_CALL_CODE_FAILURES", "300"),
		"ceiling below":  env("AUTHSVC_CALL_CODE_CALLER_FAILURES", "50", "AUTHSVC_CALL_CODE_CLIENT_FAILURES", "40"),
		"not a duration": env("AUTHSVC_HANDOVER_TTL", "soon"),
	} {
		if _, err := loadHandover(e, false); err == nil || !strings.Contains(err.Error(), "AUTHSVC_") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
