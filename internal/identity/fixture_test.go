package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

const (
	testOrigin = "http://localhost:8080"
	testBrand  = "Brand"
)

type fixture struct {
	t     testing.TB
	srv   *redistest.Server
	rdb   redis.UniversalClient
	clock *fakeclock.Clock
	keys  *keyedhash.Ring
	seals *seal.Ring
	store *Store
	logs  *syncbuf.Buffer
	// auditLogs is the audit log the store mirrors its events to (JSON lines).
	auditLogs *syncbuf.Buffer
	ctx       context.Context
}

func testKeys(t testing.TB) *keyedhash.Ring {
	t.Helper()
	keys, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{42}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func testWebAuthn(t testing.TB) *webauthn.WebAuthn {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: testBrand, RPOrigins: []string{testOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	return wa
}

// newFixture starts a redis-server and builds a store on it with default settings.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, Config{})
}

func newFixtureWith(t testing.TB, cfg Config) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	return newFixtureOn(t, srv, srv.Client(t), cfg)
}

// newFixtureOn builds a store on rdb (srv may be nil, for a cluster).
func newFixtureOn(t testing.TB, srv *redistest.Server, rdb redis.UniversalClient, cfg Config) *fixture {
	t.Helper()
	seals, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: srv, rdb: rdb, clock: fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)),
		keys: testKeys(t), seals: seals, logs: &syncbuf.Buffer{}, auditLogs: &syncbuf.Buffer{}, ctx: context.Background()}
	cfg.PublicURL, _ = url.Parse("https://verify.example.com")
	cfg.Brand = testBrand
	f.store, err = New(cfg, rdb, f.keys, seals, testWebAuthn(t), f.clock.Now, rand.Reader,
		slog.New(slog.NewTextHandler(f.logs, nil)), WithAuditLog(audit.NewLog(slog.NewJSONHandler(f.auditLogs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// enroll creates an enrollment link and returns its token.
func (f *fixture) enroll(customerID string, kind Kind) string {
	f.t.Helper()
	u, e, err := f.store.CreateEnrollment(f.ctx, "platform-a", customerID, kind, "en", nil)
	if err != nil {
		f.t.Fatalf("CreateEnrollment: %v", err)
	}
	token, ok := strings.CutPrefix(u, "https://verify.example.com/e/")
	if !ok {
		f.t.Fatalf("enrollment URL %q is not under PublicURL/e/", u)
	}
	if !strings.HasPrefix(token, e.ID+".") {
		f.t.Fatalf("token does not start with the enrollment id")
	}
	return token
}

func (f *fixture) factors(customerID string) []Factor {
	f.t.Helper()
	fs, err := f.store.Factors(f.ctx, customerID)
	if err != nil {
		f.t.Fatalf("Factors: %v", err)
	}
	return fs
}

func (f *fixture) customerHash(customerID string) map[string]string {
	f.t.Helper()
	m, err := f.rdb.HGetAll(f.ctx, CustomerKeyFor(f.keys, customerID)).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// allKeys returns every key in Redis, found with SCAN on every master.
func (f *fixture) allKeys() []string {
	f.t.Helper()
	return redistest.Keys(f.t, f.rdb)
}

// allValues returns every key, field and value in Redis, for leak checks.
func (f *fixture) allValues() []string {
	f.t.Helper()
	dump := redistest.Dump(f.t, f.rdb)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(dump)) {
		out = append(append(out, k), dump[k]...)
	}
	return out
}

// checkTTLs fails when a key has no TTL.
func (f *fixture) checkTTLs() {
	f.t.Helper()
	for _, k := range f.allKeys() {
		ttl, err := f.rdb.PTTL(f.ctx, k).Result()
		if err != nil {
			f.t.Fatal(err)
		}
		if ttl <= 0 {
			f.t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
	}
}
