package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The events file: every problem is reported at once, naming the entry, never the secret.
func TestLoadEventEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.secret", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	short := write("short.secret", "whsec_c2hvcnQ=")
	cases := []struct {
		name, file string
		wantErr    []string
		want       int
	}{
		{"two clients", `{"endpoints":[{"client":"platform-a","url":"https://care.example/hooks","secret_file":"` + good +
			`"},{"client":"platform-b","url":"http://127.0.0.1:9000/x","secret_file":"` + good + `"}]}`, nil, 2},
		{"empty", `{"endpoints":[]}`, nil, 0},
		{"problems", `{"endpoints":[{"client":"platform-a","url":"http://care.example/hooks","secret_file":"` + short +
			`"},{"client":"Bad Id","url":"https://x.example","secret_file":"` + good +
			`"},{"client":"platform-c","url":"https://x.example"},{"client":"platform-d","url":"https://x.example","secret_file":"` +
			filepath.Join(dir, "missing") + `"}]}`,
			[]string{"endpoints[0] (client platform-a): url must be https", "endpoints[0] (client platform-a): secret_file", "24 to 64 bytes",
				"endpoints[1]: client must be", "endpoints[2] (client platform-c): secret_file is required", "endpoints[3] (client platform-d)"}, 0},
		{"duplicate", `{"endpoints":[{"client":"a","url":"https://x.example","secret_file":"` + good +
			`"},{"client":"a","url":"https://y.example","secret_file":"` + good + `"}]}`, []string{"has an endpoint already"}, 0},
		{"unknown field", `{"endpoints":[{"client":"a","url":"https://x.example","secret":"whsec_x"}]}`, []string{"not an events file"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{Events: EventsConfig{File: write(strings.ReplaceAll(tc.name, " ", "-")+".json", tc.file)}}
			eps, err := loadEventEndpoints(c)
			if len(tc.wantErr) == 0 {
				if err != nil || len(eps) != tc.want {
					t.Fatalf("%d endpoints, %v", len(eps), err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "MDEyMzQ1") || strings.Contains(err.Error(), "c2hvcnQ") {
				t.Errorf("the error quotes a secret: %v", err)
			}
		})
	}
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
