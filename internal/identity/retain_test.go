package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/redistest"
)

// aged is how long ago, in the retention tests, the customer's keys were last given
// their TTL: they are moved that far towards their expiry before each change.
const aged = 300 * 24 * time.Hour

// retentionSlack is how much shorter than the customer hash's TTL an outlying key's
// may read: the time between reading the one and the other.
const retentionSlack = 2 * time.Second

// retentionCustomer gives cust two linked identities, a first factor bound after a
// LOW proof (whose notice names a report link) and two passkeys; it returns the
// report link's token.
func (f *fixture) retentionCustomer(cust string, n *notices) string {
	f.t.Helper()
	for _, user := range []string{cust + "-a", cust + "-b"} {
		if _, err := f.store.Link(f.ctx, "platform-a", cust, "x", user, OwnLinks); err != nil {
			f.t.Fatalf("Link: %v", err)
		}
	}
	first, _, err := f.bound(cust, KindTOTP, lowProof())
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.confirmTOTP(first, browserA); err != nil {
		f.t.Fatal(err)
	}
	f.enrollPasskey(cust)
	f.enrollPasskey(cust)
	var report string
	for _, m := range n.list() {
		if strings.Contains(m.Link, "/r/"+CustomerTag(f.keys, cust)) {
			report = strings.TrimPrefix(m.Link, "https://verify.example.com/r/")
		}
	}
	if report == "" {
		f.t.Fatal("no report link was sent for the first factor")
	}
	return report
}

// outlying names, through the store's read API, the customer's keys on other slots:
// the pointer of each linked identity and the credential index entry of each passkey.
func (f *fixture) outlying(cust string) []string {
	f.t.Helper()
	ids, err := f.store.Identities(f.ctx, cust)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, l := range ids {
		out = append(out, LinkKey(IdentityTag(f.keys, l.Network, l.UserID), IdentityHash(f.keys, l.Network, l.UserID)))
	}
	for _, fac := range f.factors(cust) {
		if fac.Passkey != nil {
			out = append(out, CredentialKey(f.keys, fac.Passkey.CredentialID))
		}
	}
	return out
}

// age moves the customer hash and its outlying keys d towards their expiry, as if
// the customer had not changed for d.
func (f *fixture) age(cust string, d time.Duration) {
	f.t.Helper()
	for _, k := range append(f.outlying(cust), CustomerKeyFor(f.keys, cust)) {
		ttl, err := f.rdb.PTTL(f.ctx, k).Result()
		if err != nil || ttl <= d {
			f.t.Fatalf("PTTL %s = %v, %v: want more than %v", k, ttl, err, d)
		}
		if err := f.rdb.PExpire(f.ctx, k, ttl-d).Err(); err != nil {
			f.t.Fatal(err)
		}
	}
}

// checkAligned fails unless the customer hash has just been given the retention
// and each of its outlying keys lives at least as long (less retentionSlack) and no
// longer than the retention; and unless every key in Redis has a TTL.
func (f *fixture) checkAligned(cust string) {
	f.t.Helper()
	retention := f.store.cfg.Retention
	hash, err := f.rdb.PTTL(f.ctx, CustomerKeyFor(f.keys, cust)).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	if hash < retention-time.Minute {
		f.t.Fatalf("the customer hash's TTL is %v: the change did not restart the retention (%v)", hash, retention)
	}
	keys := f.outlying(cust)
	if len(keys) == 0 {
		f.t.Fatal("the customer has no outlying keys: the check proves nothing")
	}
	for _, k := range keys {
		ttl, err := f.rdb.PTTL(f.ctx, k).Result()
		if err != nil {
			f.t.Fatal(err)
		}
		if ttl < hash-retentionSlack || ttl > retention {
			f.t.Errorf("%s lives %v, the customer hash %v (retention %v): want at least the hash's, at most the retention",
				k, ttl, hash, retention)
		}
	}
	f.checkTTLs()
}

// TestRetentionAligned is issue 18's "aligned retention": after every change that
// restarts a customer's retention, its link pointers and credential index entries
// (other hash tags, on Cluster other slots) live at least as long as its hash, so a
// listed link keeps resolving and a passkey keeps its uniqueness entry for as long
// as the customer is kept; and no key is left without a TTL, not even one that had
// lost it. Each change follows 300 days without one.
func TestRetentionAligned(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		testRetentionAligned(t, func(t *testing.T, n *notices) *fixture {
			f := newFixture(t)
			WithNotifier(n)(f.store)
			return f
		})
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cluster := redistest.StartCluster(t, 3)
		rdb := cluster.Client(t)
		testRetentionAligned(t, func(t *testing.T, n *notices) *fixture {
			f := newFixtureOn(t, nil, rdb, Config{AuditPerTag: true})
			WithNotifier(n)(f.store)
			return f
		})
	})
}

func testRetentionAligned(t *testing.T, newFixture func(*testing.T, *notices) *fixture) {
	for i, tc := range []struct {
		name   string
		change func(f *fixture, cust, report string) error
	}{
		{"link a new identity", func(f *fixture, cust, _ string) error {
			_, err := f.store.Link(f.ctx, "platform-a", cust, "messenger", cust+"-c", OwnLinks)
			return err
		}},
		{"link an identity again", func(f *fixture, cust, _ string) error {
			_, err := f.store.Link(f.ctx, "platform-a", cust, "x", cust+"-b", OwnLinks)
			return err
		}},
		{"unlink an identity", func(f *fixture, cust, _ string) error {
			return f.store.Unlink(f.ctx, "platform-a", cust, "x", cust+"-b", OwnLinks)
		}},
		{"enroll an authenticator app", func(f *fixture, cust, _ string) error {
			tok, _, err := f.bound(cust, KindTOTP, &Proof{Level: assurance.Substantial, Binding: browserA, FactorClient: "platform-b"})
			if err != nil {
				return err
			}
			_, err = f.confirmTOTP(tok, browserA)
			return err
		}},
		{"enroll a passkey", func(f *fixture, cust, _ string) error {
			f.enrollPasskey(cust)
			return nil
		}},
		{"remove a passkey", func(f *fixture, cust, _ string) error {
			for _, fac := range f.factors(cust) {
				if fac.Passkey != nil {
					return f.store.RemoveFactor(f.ctx, "platform-a", cust, fac.ID)
				}
			}
			return nil
		}},
		{"remove an authenticator app", func(f *fixture, cust, _ string) error {
			for _, fac := range f.factors(cust) {
				if fac.Kind == KindTOTP {
					return f.store.RemoveFactor(f.ctx, "platform-a", cust, fac.ID)
				}
			}
			return nil
		}},
		{"report the first factor", func(f *fixture, _, report string) error {
			return f.store.Report(f.ctx, report)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &notices{}
			f := newFixture(t, n)
			cust := "cust-retention-" + string(rune('a'+i))
			report := f.retentionCustomer(cust, n)
			f.age(cust, aged)
			// A key that lost its TTL (by hand, or by an older release) gets one back.
			if err := f.rdb.Persist(f.ctx, LinkKey(IdentityTag(f.keys, "x", cust+"-a"), IdentityHash(f.keys, "x", cust+"-a"))).Err(); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
			if err := tc.change(f, cust, report); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			f.checkAligned(cust)
		})
	}
}

// extend touches only keys that still hold the customer's value: a pointer that
// another customer took since (unlinked, then linked elsewhere) keeps its own TTL.
func TestExtendLeavesOthersKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := f.ctx
	if _, err := f.store.Link(ctx, "platform-a", "cust-a", "x", "shared", OwnLinks); err != nil {
		t.Fatal(err)
	}
	ckey := CustomerKeyFor(f.keys, "cust-a")
	entry := f.customerHash("cust-a")["L"+IdentityHash(f.keys, "x", "shared")]
	if err := f.store.Unlink(ctx, "platform-a", "cust-a", "x", "shared", OwnLinks); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Link(ctx, "platform-a", "cust-b", "x", "shared", OwnLinks); err != nil {
		t.Fatal(err)
	}
	pointer := LinkKey(IdentityTag(f.keys, "x", "shared"), IdentityHash(f.keys, "x", "shared"))
	if err := f.rdb.PExpire(ctx, pointer, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	// What cust-a's hash named before the unlink, arriving late.
	f.store.extend(ctx, []any{ckey, "34560000000", "cust-a", "L" + IdentityHash(f.keys, "x", "shared"), entry}, "")
	if ttl := f.rdb.PTTL(ctx, pointer).Val(); ttl > time.Hour {
		t.Fatalf("cust-b's pointer was extended to %v by cust-a's retention", ttl)
	}
	if got := f.rdb.Get(ctx, pointer).Val(); got != LinkValue("cust-b", "platform-a") {
		t.Fatalf("pointer = %q", got)
	}
}
