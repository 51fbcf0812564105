package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
)

func TestKeysGenerate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCLI(t, nil, "", "keys", "generate", "--dir", dir, "--name", "2026-04", "--alg", "ES256",
		"--not-before", "2026-04-01T00:00:00Z", "--retire-at", "2026-07-01T00:00:00Z")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	info, err := os.Stat(filepath.Join(dir, "2026-04.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "2026-04.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta assertion.KeyMetadata
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if !meta.NotBefore.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) || !meta.RetireAt.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("metadata %+v", meta)
	}
	// The service reads what was written; kid and JWKS entry are printed.
	ring, err := assertion.OpenKeyring(dir, assertion.KeyringOptions{Now: func() time.Time { return meta.NotBefore }})
	if err != nil {
		t.Fatalf("OpenKeyring: %v", err)
	}
	kid := ring.ActiveKeyID()
	if kid != meta.KeyID || !strings.Contains(r.stdout, "kid:        "+kid) {
		t.Errorf("kid %s, metadata %s, output %s", kid, meta.KeyID, r.stdout)
	}
	if pk := ring.PublicKeys()[0]; pk.Algorithm != assertion.AlgES256 || !strings.Contains(r.stdout, `"kid":"`+kid+`"`) {
		t.Errorf("alg %s, output %s", pk.Algorithm, r.stdout)
	}
	if strings.Contains(r.stdout, `"d":`) {
		t.Error("output carries the private key")
	}

	// Never overwrites.
	again := runCLI(t, nil, "", "keys", "generate", "--dir", dir, "--name", "2026-04")
	if again.code != exitFailure || !strings.Contains(again.stderr, "not overwriting") {
		t.Errorf("second generate: exit %d, %s", again.code, again.stderr)
	}
}

func TestKeysGenerateDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	var out, errOut strings.Builder
	code := cmdKeys([]string{"generate", "--dir", dir}, env{stdout: &out, stderr: &errOut}, func() time.Time { return now })
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "20260315-150926.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta assertion.KeyMetadata
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if !meta.NotBefore.Equal(now.Add(24*time.Hour)) || !meta.RetireAt.IsZero() {
		t.Errorf("metadata %+v, want not_before +24h", meta)
	}
	if _, err := assertion.OpenKeyring(dir, assertion.KeyringOptions{Now: func() time.Time { return now }}); err == nil {
		t.Error("a key not due yet was accepted as the only key")
	}
}

func TestKeysGenerateUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"keys"}, "subcommand generate"},
		{[]string{"keys", "rotate"}, "subcommand generate"},
		{[]string{"keys", "generate"}, "--dir is required"},
		{[]string{"keys", "generate", "--dir", dir, "--alg", "RS256"}, "--alg"},
		{[]string{"keys", "generate", "--dir", dir, "--not-before", "tomorrow"}, "--not-before"},
		{[]string{"keys", "generate", "--dir", dir, "--not-before", "now", "--retire-at", "now"}, "after --not-before"},
		{[]string{"keys", "generate", "--dir", dir, "--name", "../x"}, "--name"},
		{[]string{"keys", "generate", "--dir", dir, "--name", "..data"}, "--name"},
	}
	for _, tt := range tests {
		r := runCLI(t, nil, "", tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, %s; want usage error naming %s", tt.args, r.code, r.stderr, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote %d files", len(entries))
	}
}
