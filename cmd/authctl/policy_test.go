package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

func (f *fakeService) GetDisclosurePolicy(context.Context, *authsvcv1.GetDisclosurePolicyRequest) (*authsvcv1.GetDisclosurePolicyResponse, error) {
	return &authsvcv1.GetDisclosurePolicyResponse{Rules: []*authsvcv1.DisclosureRule{
		{DataClass: "order_status", Description: "Status of an order", MinLevel: authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW,
			MaxAge: durationpb.New(30 * time.Minute), Channels: []authsvcv1.DisclosureChannel{
				authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM, authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PHONE}},
		{DataClass: "account_changes", Description: "Changing the email\x1b[2J on file", MinLevel: authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH,
			MaxAge: durationpb.New(5*time.Minute + 30*time.Second), Channels: []authsvcv1.DisclosureChannel{
				authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL}},
	}}, nil
}

// sheetLine returns the cheat sheet line of a data class.
func sheetLine(t *testing.T, out, class string) string {
	t.Helper()
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, class+" ") {
			return line
		}
	}
	t.Fatalf("no line for %s in:\n%s", class, out)
	return ""
}

func wantAll(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func TestPolicyFromService(t *testing.T) {
	t.Parallel()
	f := &fakeService{}
	addr := startFake(t, f)
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": addr, "AUTHSVC_API_KEY": testKey}, "", "policy")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantAll(t, "header", r.stdout, "DATA", "WHAT IT IS", "MINIMUM PROOF", "PROVED WITHIN", "MAY BE SHARED IN", "the service at "+addr)
	wantAll(t, "order_status", sheetLine(t, r.stdout, "order_status"),
		"Status of an order", "code or link sent to email/phone", "30 min", "DM, phone")
	wantAll(t, "account_changes", sheetLine(t, r.stdout, "account_changes"),
		"passkey with fingerprint/face/PIN", "5 min 30 s", "secure channel")
	wantAll(t, "footer", r.stdout, "Never share account data in a public reply.")
	if strings.Contains(r.stdout, "\x1b") {
		t.Error("a control character from the server reached the terminal")
	}
	if seen := f.authSeen(); len(seen) != 1 || seen[0] != "Bearer "+testKey {
		t.Errorf("authorization sent: %v", seen)
	}
}

func TestPolicyFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(good, []byte("data_classes:\n  - data_class: shipping_address\n    description: Delivery address on file\n"+
		"    min_level: substantial\n    max_age: 15m\n    channels: [dm, secure_channel]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No server is needed, nor an API key, for a file.
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": "authsvc.example.com:8443"}, "", "policy", "--file", good)
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantAll(t, "shipping_address", sheetLine(t, r.stdout, "shipping_address"),
		"Delivery address on file", "authenticator app or passkey", "15 min", "DM, secure channel")
	wantAll(t, "sheet", r.stdout, good, "Never share account data in a public reply.")

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("data_classes:\n  - data_class: refunds\n    description: Refunds\n"+
		"    min_level: high\n    max_age: 48h\n    channels: [public_reply]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, nil, "", "policy", "--file", bad)
	if r.code != exitUsage || r.stdout != "" {
		t.Fatalf("bad file: exit %d stdout %q", r.code, r.stdout)
	}
	wantAll(t, "bad file", r.stderr, bad+":5: data class refunds: max_age must be at most 24h", bad+":6: data class refunds: public_reply is never allowed")

	r = runCLI(t, nil, "", "policy", "--file", filepath.Join(dir, "missing.yaml"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing file: exit %d stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", "policy", "extra")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unexpected argument "extra"`) {
		t.Errorf("stray argument: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestPlainDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30 min", time.Hour + 30*time.Minute: "1 h 30 min", 45 * time.Second: "45 s",
		24 * time.Hour: "24 h", 0: "-", time.Millisecond: "under 1 s",
	} {
		if got := plainDuration(d); got != want {
			t.Errorf("plainDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
