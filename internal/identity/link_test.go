package identity

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLinkResolveUnlink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := f.ctx

	if _, _, ok, err := f.store.Resolve(ctx, "x", "1234567"); err != nil || ok {
		t.Fatalf("Resolve before Link = %v, %v; want not linked", ok, err)
	}
	first := f.clock.Now()
	l, err := f.store.Link(ctx, "platform-a", "cust-42", "x", "1234567", OwnLinks)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if l.Network != "x" || l.UserID != "1234567" || !l.Linked.Equal(first) {
		t.Fatalf("Link = %+v", l)
	}
	if id, _, ok, err := f.store.Resolve(ctx, "x", "1234567"); err != nil || !ok || id != "cust-42" {
		t.Fatalf("Resolve = %q, %v, %v; want cust-42", id, ok, err)
	}

	// Linking again is idempotent and keeps the first link time.
	f.clock.Advance(time.Hour)
	again, err := f.store.Link(ctx, "platform-a", "cust-42", "x", "1234567", OwnLinks)
	if err != nil || !again.Linked.Equal(first) {
		t.Fatalf("re-Link = %+v, %v; want the first link time", again, err)
	}
	if _, err := f.store.Link(ctx, "platform-a", "cust-42", "messenger", "abc", OwnLinks); err != nil {
		t.Fatalf("Link a second identity: %v", err)
	}
	ids, err := f.store.Identities(ctx, "cust-42")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].Network != "x" || ids[1].Network != "messenger" {
		t.Fatalf("Identities = %+v; want x then messenger", ids)
	}

	// Another customer cannot take it; its entry is rolled back.
	if _, err := f.store.Link(ctx, "platform-a", "cust-99", "x", "1234567", OwnLinks); !errors.Is(err, ErrLinkedElsewhere) {
		t.Fatalf("Link elsewhere = %v; want ErrLinkedElsewhere", err)
	}
	if ids, _ := f.store.Identities(ctx, "cust-99"); len(ids) != 0 {
		t.Fatalf("loser lists %+v; want nothing", ids)
	}
	for k := range f.customerHash("cust-99") {
		if strings.HasPrefix(k, "L") {
			t.Fatalf("loser's hash keeps %s", k)
		}
	}
	// Nor unlink it.
	if err := f.store.Unlink(ctx, "platform-a", "cust-99", "x", "1234567", OwnLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Unlink of a foreign link = %v; want ErrNotFound", err)
	}
	if id, _, ok, _ := f.store.Resolve(ctx, "x", "1234567"); !ok || id != "cust-42" {
		t.Fatalf("after foreign Unlink, Resolve = %q, %v", id, ok)
	}

	// Keys carry the retention TTL.
	ttl := f.rdb.PTTL(ctx, LinkKey(IdentityTag(f.keys, "x", "1234567"), IdentityHash(f.keys, "x", "1234567"))).Val()
	if ttl < 399*24*time.Hour || ttl > 400*24*time.Hour {
		t.Fatalf("pointer TTL = %v; want the retention", ttl)
	}
	f.checkTTLs()

	if err := f.store.Unlink(ctx, "platform-a", "cust-42", "x", "1234567", OwnLinks); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
	if _, _, ok, err := f.store.Resolve(ctx, "x", "1234567"); err != nil || ok {
		t.Fatalf("Resolve after Unlink = %v, %v", ok, err)
	}
	if ids, _ := f.store.Identities(ctx, "cust-42"); len(ids) != 1 || ids[0].Network != "messenger" {
		t.Fatalf("Identities after Unlink = %+v", ids)
	}
	if err := f.store.Unlink(ctx, "platform-a", "cust-42", "x", "1234567", OwnLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unlink = %v; want ErrNotFound", err)
	}
	// Now free, another customer may link it.
	if _, err := f.store.Link(ctx, "platform-a", "cust-99", "x", "1234567", OwnLinks); err != nil {
		t.Fatalf("Link after Unlink: %v", err)
	}
}

// An Unlink interrupted after the pointer went is finished by the next Unlink.
func TestUnlinkFinishesInterruptedUnlink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	f.rdb.Del(f.ctx, LinkKey(IdentityTag(f.keys, "x", "1"), IdentityHash(f.keys, "x", "1")))
	if err := f.store.Unlink(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatalf("Unlink = %v; want it to remove the leftover entry", err)
	}
	if ids, _ := f.store.Identities(f.ctx, "cust-42"); len(ids) != 0 {
		t.Fatalf("Identities = %+v", ids)
	}
}

// Parallel Links of one identity to two customers: exactly one customer wins, every
// call for it succeeds, every call for the other fails, and pointer and entries agree.
func TestLinkParallel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 50
	customers := []string{"cust-a", "cust-b"}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.store.Link(f.ctx, "platform-a", customers[i%2], "x", "shared", OwnLinks)
		}()
	}
	wg.Wait()
	winner, _, ok, err := f.store.Resolve(f.ctx, "x", "shared")
	if err != nil || !ok {
		t.Fatalf("Resolve = %v, %v", ok, err)
	}
	for i, err := range errs {
		switch {
		case customers[i%2] == winner && err != nil:
			t.Errorf("call %d for the winner: %v", i, err)
		case customers[i%2] != winner && !errors.Is(err, ErrLinkedElsewhere):
			t.Errorf("call %d for the loser: %v; want ErrLinkedElsewhere", i, err)
		}
	}
	for _, c := range customers {
		ids, err := f.store.Identities(f.ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if c == winner && (len(ids) != 1 || ids[0].UserID != "shared") {
			t.Errorf("winner %s lists %+v", c, ids)
		}
		if c != winner && len(ids) != 0 {
			t.Errorf("loser %s lists %+v", c, ids)
		}
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	long := strings.Repeat("1", 129)
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"no customer", func() error { _, err := f.store.Link(f.ctx, "platform-a", "", "x", "1", OwnLinks); return err }, "customer_id"},
		{"long customer", func() error { _, err := f.store.Link(f.ctx, "platform-a", long, "x", "1", OwnLinks); return err }, "customer_id"},
		{"control in customer", func() error { _, err := f.store.Link(f.ctx, "platform-a", "a\nb", "x", "1", OwnLinks); return err }, "customer_id"},
		{"bad network", func() error { _, err := f.store.Link(f.ctx, "platform-a", "c", "X!", "1", OwnLinks); return err }, "identity.network"},
		{"long network", func() error {
			_, err := f.store.Link(f.ctx, "platform-a", "c", strings.Repeat("x", 33), "1", OwnLinks)
			return err
		}, "identity.network"},
		{"no user", func() error { _, _, _, err := f.store.Resolve(f.ctx, "x", ""); return err }, "identity.user_id"},
		{"long user", func() error { return f.store.Unlink(f.ctx, "platform-a", "c", "x", long, OwnLinks) }, "identity.user_id"},
		{"separator in user", func() error { _, err := f.store.Link(f.ctx, "platform-a", "c", "x", "a\x1fb", OwnLinks); return err }, "identity.user_id"},
		{"identities", func() error { _, err := f.store.Identities(f.ctx, ""); return err }, "customer_id"},
		{"factors", func() error { _, err := f.store.Factors(f.ctx, long); return err }, "customer_id"},
		{"factor id", func() error { return f.store.RemoveFactor(f.ctx, "platform-a", "c", "NOT-AN-ID!") }, "factor_id"},
		{"client", func() error { _, _, err := f.store.CreateEnrollment(f.ctx, "", "c", KindTOTP, "", nil); return err }, "client_id"},
		{"link client", func() error { _, err := f.store.Link(f.ctx, "", "c", "x", "1", OwnLinks); return err }, "client_id"},
		{"unlink client", func() error { return f.store.Unlink(f.ctx, "a\nb", "c", "x", "1", OwnLinks) }, "client_id"},
		{"remove client", func() error { return f.store.RemoveFactor(f.ctx, "", "c", "abcdefghij") }, "client_id"},
		{"kind", func() error { _, _, err := f.store.CreateEnrollment(f.ctx, "p", "c", Kind(9), "", nil); return err }, "method"},
		{"locale", func() error {
			_, _, err := f.store.CreateEnrollment(f.ctx, "p", "c", KindTOTP, "en_US!", nil)
			return err
		}, "locale"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ve *ValidationError
			err := tc.call()
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("err = %v; want a ValidationError on %s", err, tc.field)
			}
		})
	}
	if keys := f.rdb.Keys(f.ctx, "*").Val(); len(keys) != 0 {
		t.Fatalf("invalid calls wrote %v", keys)
	}
}
