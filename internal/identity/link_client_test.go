package identity

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

// A link records the client that made it, in the pointer and in the customer's
// entry, and Resolve and Identities name it.
func TestLinkRecordsItsClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l, err := f.store.Link(f.ctx, "platform-a", "cust|42", "x", "1", OwnLinks)
	if err != nil {
		t.Fatal(err)
	}
	if l.Client != "platform-a" {
		t.Fatalf("Link = %+v; want the client", l)
	}
	pointer := LinkKey(IdentityTag(f.keys, "x", "1"), IdentityHash(f.keys, "x", "1"))
	// A customer id may hold '|' (but no control character): the separator is 0x1f.
	if got := f.rdb.Get(f.ctx, pointer).Val(); got != "cust|42\x1fplatform-a" {
		t.Fatalf("pointer = %q", got)
	}
	entry := f.customerHash("cust|42")["L"+IdentityHash(f.keys, "x", "1")]
	if want := "x\x1f1\x1fplatform-a\x1f" + strconv.FormatInt(f.clock.Now().UnixMilli(), 10); entry != want {
		t.Fatalf("entry = %q, want %q", entry, want)
	}
	if c, by, ok, err := f.store.Resolve(f.ctx, "x", "1"); err != nil || !ok || c != "cust|42" || by != "platform-a" {
		t.Fatalf("Resolve = %q, %q, %v, %v", c, by, ok, err)
	}
	if ls, err := f.store.Identities(f.ctx, "cust|42"); err != nil || len(ls) != 1 || ls[0].Client != "platform-a" {
		t.Fatalf("Identities = %+v, %v", ls, err)
	}
}

// A client's scope is its own links: another client can neither link the same
// identity (to this customer or another: the same error), nor unlink it (the same
// error as no link at all). With AnyLinks (may_link) a client unlinks any link and
// takes another client's link to the same customer over, linked now and recorded
// in the audit trail as its own.
func TestLinkScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.clock.Now()
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	hash := func() map[string]string { return f.customerHash("cust-42") }
	before := hash()
	f.clock.Advance(time.Minute)
	for _, cust := range []string{"cust-42", "cust-99"} {
		if _, err := f.store.Link(f.ctx, "platform-b", cust, "x", "1", OwnLinks); !errors.Is(err, ErrLinkedElsewhere) {
			t.Fatalf("another client's Link to %s = %v; want ErrLinkedElsewhere", cust, err)
		}
	}
	if err := f.store.Unlink(f.ctx, "platform-b", "cust-42", "x", "1", OwnLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client's Unlink = %v; want ErrNotFound", err)
	}
	if c, by, ok, _ := f.store.Resolve(f.ctx, "x", "1"); !ok || c != "cust-42" || by != "platform-a" {
		t.Fatalf("after the other client's calls, Resolve = %q, %q, %v", c, by, ok)
	}
	if after := hash(); after["L"+IdentityHash(f.keys, "x", "1")] != before["L"+IdentityHash(f.keys, "x", "1")] {
		t.Fatalf("the entry changed: %q, was %q", after["L"+IdentityHash(f.keys, "x", "1")], before["L"+IdentityHash(f.keys, "x", "1")])
	}
	if ls, _ := f.store.Identities(f.ctx, "cust-99"); len(ls) != 0 {
		t.Fatalf("the refused customer lists %+v", ls)
	}

	// may_link takes it over: the link is platform-b's now, linked now.
	l, err := f.store.Link(f.ctx, "platform-b", "cust-42", "x", "1", AnyLinks)
	if err != nil || l.Client != "platform-b" || !l.Linked.Equal(f.clock.Now()) {
		t.Fatalf("take over = %+v, %v; want platform-b's link of now (first %v)", l, err, first)
	}
	if _, by, _, _ := f.store.Resolve(f.ctx, "x", "1"); by != "platform-b" {
		t.Fatalf("Resolve names %q after the take-over", by)
	}
	if ls, _ := f.store.Identities(f.ctx, "cust-42"); len(ls) != 1 || ls[0].Client != "platform-b" || !ls[0].Linked.Equal(l.Linked) {
		t.Fatalf("Identities after the take-over = %+v", ls)
	}
	// A repeat of the take-over records nothing more.
	if _, err := f.store.Link(f.ctx, "platform-b", "cust-42", "x", "1", AnyLinks); err != nil {
		t.Fatal(err)
	}
	var by []string
	for _, e := range f.streamEntries(audit.StreamKey("", false)) {
		if e.Values["k"] == audit.IdentityLinked {
			by = append(by, e.Values["c"].(string))
		}
	}
	if !slices.Equal(by, []string{"platform-a", "platform-b"}) {
		t.Fatalf("identity_linked by %v; want platform-a then platform-b", by)
	}
	// may_link still takes no link to another customer.
	if _, err := f.store.Link(f.ctx, "platform-b", "cust-99", "x", "1", AnyLinks); !errors.Is(err, ErrLinkedElsewhere) {
		t.Fatalf("may_link Link elsewhere = %v", err)
	}

	// The maker lost it; may_link unlinks any client's link.
	if err := f.store.Unlink(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the former maker's Unlink = %v; want ErrNotFound", err)
	}
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "2", OwnLinks); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Unlink(f.ctx, "platform-c", "cust-42", "x", "2", AnyLinks); err != nil {
		t.Fatalf("may_link Unlink of another client's link: %v", err)
	}
	if err := f.store.Unlink(f.ctx, "platform-b", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatalf("the new maker's Unlink: %v", err)
	}
	if ls, _ := f.store.Identities(f.ctx, "cust-42"); len(ls) != 0 {
		t.Fatalf("Identities after both unlinks = %+v", ls)
	}
}

// An entry a client's interrupted Unlink left (its pointer gone) is finished only
// by that client, or with AnyLinks.
func TestUnlinkLeftoverEntryIsTheMakers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	f.rdb.Del(f.ctx, LinkKey(IdentityTag(f.keys, "x", "1"), IdentityHash(f.keys, "x", "1")))
	if err := f.store.Unlink(f.ctx, "platform-b", "cust-42", "x", "1", OwnLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client's Unlink of the leftover = %v; want ErrNotFound", err)
	}
	if ls, _ := f.store.Identities(f.ctx, "cust-42"); len(ls) != 1 {
		t.Fatalf("Identities = %+v; want the leftover entry", ls)
	}
	if err := f.store.Unlink(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatalf("the maker's Unlink of the leftover: %v", err)
	}
}

// plantLegacyLink writes a link as releases before links recorded their client
// did: the pointer holds the customer id alone, the entry has no client part.
func (f *fixture) plantLegacyLink(customer, network, userID string) {
	f.t.Helper()
	ih := IdentityHash(f.keys, network, userID)
	entry := network + linkSep + userID + linkSep + strconv.FormatInt(f.clock.Now().UnixMilli(), 10)
	f.plant(CustomerKeyFor(f.keys, customer), "L"+ih, entry, "cu", customer)
	f.plant(LinkKey(IdentityTag(f.keys, network, userID), ih), customer)
}

// A link made before links recorded their client is a link of client "": it
// resolves and lists with no client, keeps its retention and erasure, and no
// client's own scope reaches it; a may_link client unlinks it or takes it over.
func TestLegacyLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.plantLegacyLink("cust-42", "x", "1")
	pointer := LinkKey(IdentityTag(f.keys, "x", "1"), IdentityHash(f.keys, "x", "1"))
	if c, by, ok, err := f.store.Resolve(f.ctx, "x", "1"); err != nil || !ok || c != "cust-42" || by != "" {
		t.Fatalf("Resolve = %q, %q, %v, %v; want cust-42 by no client", c, by, ok, err)
	}
	if ls, err := f.store.Identities(f.ctx, "cust-42"); err != nil || len(ls) != 1 || ls[0].Client != "" || ls[0].UserID != "1" {
		t.Fatalf("Identities = %+v, %v", ls, err)
	}
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); !errors.Is(err, ErrLinkedElsewhere) {
		t.Fatalf("a client's Link of the legacy link = %v; want ErrLinkedElsewhere", err)
	}
	if err := f.store.Unlink(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a client's Unlink of the legacy link = %v; want ErrNotFound", err)
	}
	if got := f.rdb.Get(f.ctx, pointer).Val(); got != "cust-42" {
		t.Fatalf("pointer = %q; want it untouched", got)
	}

	// The customer's next change extends the legacy pointer with her hash.
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "2", OwnLinks); err != nil {
		t.Fatal(err)
	}
	if ttl := f.rdb.PTTL(f.ctx, pointer).Val(); ttl < 399*24*time.Hour {
		t.Fatalf("legacy pointer TTL = %v; want extended to the retention", ttl)
	}

	// A may_link client takes it over in place.
	if l, err := f.store.Link(f.ctx, "platform-b", "cust-42", "x", "1", AnyLinks); err != nil || l.Client != "platform-b" {
		t.Fatalf("take over = %+v, %v", l, err)
	}
	if got := f.rdb.Get(f.ctx, pointer).Val(); got != LinkValue("cust-42", "platform-b") {
		t.Fatalf("pointer after the take-over = %q", got)
	}

	// And unlinks one.
	f.plantLegacyLink("cust-43", "x", "3")
	if err := f.store.Unlink(f.ctx, "platform-b", "cust-43", "x", "3", AnyLinks); err != nil {
		t.Fatalf("may_link Unlink of a legacy link: %v", err)
	}
	if _, _, ok, _ := f.store.Resolve(f.ctx, "x", "3"); ok {
		t.Fatal("the legacy link still resolves")
	}

	// Erasure finds a legacy link and deletes its pointer.
	f.plantLegacyLink("cust-44", "x", "4")
	if e, err := f.store.Erase(f.ctx, "platform-b", "cust-44"); err != nil || e.Identities != 1 {
		t.Fatalf("Erase = %+v, %v", e, err)
	}
	if n := f.rdb.Exists(f.ctx, LinkKey(IdentityTag(f.keys, "x", "4"), IdentityHash(f.keys, "x", "4"))).Val(); n != 0 {
		t.Fatal("the erased customer's legacy pointer stays")
	}
}

// On Cluster the pointer and the entry live on different slots: a client's scope
// and a take-over hold there too, and erasure finds a link of any client.
func TestLinkScopeCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	f := newFixtureOn(t, nil, cluster.Client(t), Config{AuditPerTag: true})
	for i := range 20 {
		user := strconv.Itoa(i)
		if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", user, OwnLinks); err != nil {
			t.Fatal(err)
		}
		if err := f.store.Unlink(f.ctx, "platform-b", "cust-42", "x", user, OwnLinks); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another client's Unlink = %v", err)
		}
		if i%2 == 0 {
			if _, err := f.store.Link(f.ctx, "platform-b", "cust-42", "x", user, AnyLinks); err != nil {
				t.Fatal(err)
			}
		}
	}
	ls, err := f.store.Identities(f.ctx, "cust-42")
	if err != nil || len(ls) != 20 {
		t.Fatalf("Identities = %d, %v", len(ls), err)
	}
	for _, l := range ls {
		n, _ := strconv.Atoi(l.UserID)
		_, by, _, _ := f.store.Resolve(f.ctx, "x", l.UserID)
		want := "platform-a"
		if n%2 == 0 {
			want = "platform-b"
		}
		if l.Client != want || by != want {
			t.Errorf("x/%s: entry by %q, pointer by %q; want %q", l.UserID, l.Client, by, want)
		}
	}
	if e, err := f.store.Erase(f.ctx, "platform-b", "cust-42"); err != nil || e.Identities != 20 {
		t.Fatalf("Erase = %+v, %v", e, err)
	}
	if keys := f.allKeys(); slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "}:k:") }) {
		t.Fatalf("pointers left after erasure: %v", keys)
	}
}
