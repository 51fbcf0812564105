package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/verify"
)

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	pub, _ := url.Parse("https://verify.example.com")
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer func() { _ = rdb.Close() }()
	seals, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys, wa, log := testKeys(t), testWebAuthn(t), slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{PublicURL: pub, Brand: "Acme"}, true},
		{"relative url", Config{PublicURL: &url.URL{Path: "/x"}, Brand: "Acme"}, false},
		{"no url", Config{Brand: "Acme"}, false},
		{"no brand", Config{PublicURL: pub}, false},
		{"brand with newline", Config{PublicURL: pub, Brand: "A\ncme"}, false},
		{"short retention", Config{PublicURL: pub, Brand: "Acme", Retention: time.Minute}, false},
		{"negative attempts", Config{PublicURL: pub, Brand: "Acme", MaxCodeAttempts: -1}, false},
		{"too many attempts", Config{PublicURL: pub, Brand: "Acme", MaxCodeAttempts: 1000}, false},
		{"short ceremony", Config{PublicURL: pub, Brand: "Acme", CeremonyTimeout: time.Second}, false},
		{"short audit retention", Config{PublicURL: pub, Brand: "Acme", AuditRetention: time.Minute}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, rdb, keys, seals, wa, time.Now, nil, log)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v; want ok=%v", err, tc.ok)
			}
			if tc.ok && (s.cfg.Retention != 400*24*time.Hour || s.cfg.EnrollTTL != 15*time.Minute ||
				s.cfg.CeremonyTimeout != 2*time.Minute || s.cfg.MaxCodeAttempts != 5 ||
				s.cfg.AuditRetention != 90*24*time.Hour || s.cfg.AuditPerTag) {
				t.Fatalf("defaults = %+v", s.cfg)
			}
		})
	}
	if _, err := New(Config{PublicURL: pub, Brand: "Acme"}, rdb, keys, seals, nil, time.Now, nil, log); err == nil {
		t.Fatal("New without webauthn succeeded")
	}
}

// With Redis down, every method fails closed with ErrUnavailable.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	if _, err := f.store.Link(ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	totpToken := f.enroll("cust-42", KindTOTP)
	_, secret, err := f.store.BeginTOTP(ctx, totpToken, "")
	if err != nil {
		t.Fatal(err)
	}
	openTOTP := f.enroll("cust-42", KindTOTP)
	pkToken, cc := f.passkeyCeremony("cust-42")
	body := register(t, newAuthenticator(t), cc)
	code := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))

	f.srv.Stop()

	calls := map[string]func() error{
		"Resolve":    func() error { _, _, _, err := f.store.Resolve(ctx, "x", "1"); return err },
		"Link":       func() error { _, err := f.store.Link(ctx, "platform-a", "cust-42", "x", "2", OwnLinks); return err },
		"Unlink":     func() error { return f.store.Unlink(ctx, "platform-a", "cust-42", "x", "1", OwnLinks) },
		"Identities": func() error { _, err := f.store.Identities(ctx, "cust-42"); return err },
		"Factors":    func() error { _, err := f.store.Factors(ctx, "cust-42"); return err },
		"RemoveFactor": func() error {
			return f.store.RemoveFactor(ctx, "platform-a", "cust-42", "abcdefghij")
		},
		"CreateEnrollment": func() error {
			_, _, err := f.store.CreateEnrollment(ctx, "platform-a", "cust-42", KindTOTP, "", nil)
			return err
		},
		"OpenEnrollment": func() error { _, err := f.store.OpenEnrollment(ctx, totpToken, ""); return err },
		"BeginTOTP":      func() error { _, _, err := f.store.BeginTOTP(ctx, openTOTP, ""); return err },
		"ConfirmTOTP":    func() error { _, err := f.store.ConfirmTOTP(ctx, totpToken, code, "", ""); return err },
		"BeginPasskey":   func() error { _, err := f.store.BeginPasskey(ctx, pkToken, ""); return err },
		"FinishPasskey": func() error {
			_, err := f.store.FinishPasskey(ctx, pkToken, bytes.NewReader(body), "")
			return err
		},
		"Erase": func() error { _, err := f.store.Erase(ctx, "platform-a", "cust-42"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := call()
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s = %v; want ErrUnavailable", name, err)
			}
			if strings.Contains(err.Error(), "cust-42") || strings.Contains(err.Error(), code) {
				t.Fatalf("error text leaks input: %v", err)
			}
		})
	}
}

// A stored value that does not parse fails closed.
func TestCorruptValuesFailClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := CustomerKeyFor(f.keys, "cust-42")
	f.rdb.HSet(f.ctx, key, "Fabcdefghij", "2|0|Passkey|!!not-base64", "Lxyz", "no separators")
	if _, err := f.store.Factors(f.ctx, "cust-42"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Factors = %v; want ErrUnavailable", err)
	}
	if _, err := f.store.Identities(f.ctx, "cust-42"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Identities = %v; want ErrUnavailable", err)
	}
	// A pending seed that does not open is not a seed.
	token := f.enroll("cust-42", KindTOTP)
	if _, _, err := f.store.BeginTOTP(f.ctx, token, ""); err != nil {
		t.Fatal(err)
	}
	f.rdb.HSet(f.ctx, EnrollmentKey(enrollmentID(token)), "sd", "dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if _, err := f.store.ConfirmTOTP(f.ctx, token, "123456", "", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ConfirmTOTP = %v; want ErrUnavailable", err)
	}
}

// Session data is bound to the enrollment's customer: a ceremony begun for one
// customer cannot register a passkey for another through another link.
func TestPasskeySessionBoundToEnrollment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tokenA, ccA := f.passkeyCeremony("cust-a")
	tokenB, _ := f.passkeyCeremony("cust-b")
	a := newAuthenticator(t)
	// B's session, A's response: the challenge and the user handle differ.
	if _, err := f.finish(tokenB, register(t, a, ccA)); !errors.Is(err, ErrCeremony) {
		t.Fatalf("cross-enrollment finish = %v; want ErrCeremony", err)
	}
	if _, err := f.finish(tokenA, register(t, a, ccA)); err != nil {
		t.Fatalf("A's own finish: %v", err)
	}
	if len(f.factors("cust-b")) != 0 {
		t.Fatal("B got a factor")
	}
}
