package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The endpoints and their secrets: every problem is reported at once, naming the client,
// never the secret.
func TestEventsConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("platform-a", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	write("ivr", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	write("short", "whsec_c2hvcnQ=")
	cases := []struct {
		name      string
		env       map[string]string
		configErr []string // from loadConfig
		loadErr   []string // from loadEventEndpoints
		want      int
	}{
		{"two clients", map[string]string{"AUTHSVC_EVENTS_ENDPOINTS": "platform-a=https://care.example/hooks, ivr=http://127.0.0.1:9000/x",
			"AUTHSVC_EVENTS_SECRETS_DIR": dir}, nil, nil, 2},
		{"none", map[string]string{}, nil, nil, 0},
		{"no secrets dir", map[string]string{"AUTHSVC_EVENTS_ENDPOINTS": "platform-a=https://care.example/hooks"},
			[]string{"AUTHSVC_EVENTS_SECRETS_DIR is not set"}, nil, 0},
		{"bad entries", map[string]string{"AUTHSVC_EVENTS_ENDPOINTS": "platform-a=http://care.example/hooks,Bad Id=https://x.example,ivr=https://a,ivr=https://b,nourl",
			"AUTHSVC_EVENTS_SECRETS_DIR": dir},
			[]string{"client platform-a: url must be https", "entry 2: want CLIENT=URL", "client ivr has two endpoints", "entry 5"}, nil, 0},
		{"bad secrets", map[string]string{"AUTHSVC_EVENTS_ENDPOINTS": "short=https://x.example,missing=https://y.example",
			"AUTHSVC_EVENTS_SECRETS_DIR": dir}, nil, []string{"client short", "24 to 64 bytes", "client missing"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(func(k string) string { return tc.env[k] }, false)
			if cerr := configProblems(err); len(tc.configErr) > 0 {
				for _, w := range tc.configErr {
					if !strings.Contains(cerr, w) {
						t.Errorf("config error lacks %q:\n%s", w, cerr)
					}
				}
				return
			} else if strings.Contains(cerr, "AUTHSVC_EVENTS") {
				t.Fatalf("config error: %s", cerr)
			}
			if c == nil {
				// Production needs much more; take the events part alone.
				c = &Config{}
				r := &envReader{getenv: func(k string) string { return tc.env[k] }}
				r.read(c.eventsSettings(), &c.Dev.Enabled)
			}
			eps, err := loadEventEndpoints(c)
			if len(tc.loadErr) == 0 {
				if err != nil || len(eps) != tc.want {
					t.Fatalf("%d endpoints, %v", len(eps), err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.loadErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "c2hvcnQ") {
				t.Errorf("the error quotes a secret: %v", err)
			}
		})
	}
}

// configProblems is the text of a *ConfigError ("" for none).
func configProblems(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// AUTHSVC_EVENTS_MAX_AGE cannot outlast the audit buffer the events wait in.
func TestEventsMaxAgeWithinBuffer(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AUTHSVC_AUDIT_BUFFER": "2h", "AUTHSVC_EVENTS_MAX_AGE": "3h"}
	_, err := loadConfig(func(k string) string { return env[k] }, true)
	if err == nil || !strings.Contains(err.Error(), "AUTHSVC_EVENTS_MAX_AGE (3h0m0s) is longer than AUTHSVC_AUDIT_BUFFER") {
		t.Fatalf("err %v", err)
	}
}
