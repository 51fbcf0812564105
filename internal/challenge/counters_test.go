package challenge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/identity"
)

// sameTag returns n user ids of network x whose identities share one hash tag.
func sameTag(t *testing.T, f *fixture, n int) (tag string, users []string) {
	t.Helper()
	tag = identity.IdentityTag(f.svc.keys, "x", "u0")
	users = []string{"u0"}
	for i := 1; len(users) < n; i++ {
		if i > 50_000_000 {
			t.Fatal("no identities sharing a tag found")
		}
		u := fmt.Sprint("u", i)
		if identity.IdentityTag(f.svc.keys, "x", u) == tag {
			users = append(users, u)
		}
	}
	return tag, users
}

// TestSharedCountersPruned: identities whose verifications share a hash tag share
// its counters hash; a new verification drops the fields no decision will read
// again (a send log out of its window, failures out of the failure window; and
// conversation pointers, which earlier versions kept here), at most once a minute
// per hash, and keeps every field that still decides something.
func TestSharedCountersPruned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tag, users := sameTag(t, f, 12)
	ikey := "v:{" + tag + "}:i"
	ids := make([]string, len(users))
	start := func(i int) *StartResult {
		t.Helper()
		r := f.startReq(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("user%d@example.com", i)})
		r.Identity = Identity{Network: "x", UserID: users[i], Handle: "@user"}
		r.CustomerID = ""
		res, err := f.svc.Start(ctx, r)
		if err != nil {
			t.Fatalf("Start %d: %v", i, err)
		}
		if res.Verification.ID[:tagLen] != tag {
			t.Fatalf("verification %s is not under tag %s", res.Verification.ID, tag)
		}
		ids[i] = res.Verification.ID
		return res
	}
	ihs := make([]string, len(users))
	var second *StartResult
	for i, u := range users[:10] {
		ihs[i] = identity.IdentityHash(f.svc.keys, "x", u)
		if res := start(i); i == 1 {
			second = res
		}
	}
	// One wrong code: the identity's email family now has failure counters, the
	// client's (k) and the family's last failure (t).
	tok := pageToken(t, second)
	if _, err := f.svc.SubmitCode(ctx, tok, wrongCode(f.code(ids[1])), "wrong-1", ""); err != nil {
		t.Fatal(err)
	}
	fields := func() []string {
		t.Helper()
		keys, err := f.rdb.HKeys(ctx, ikey).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		return keys
	}
	count := func(keys []string, ih string, kind byte) int {
		n := 0
		for _, k := range keys {
			if len(k) > len(ih) && k[:len(ih)] == ih && k[len(ih)] == kind {
				n++
			}
		}
		return n
	}
	before := fields()
	for i := range 10 {
		if count(before, ihs[i], 's') != 1 || count(before, ihs[i], 'c') != 0 {
			t.Fatalf("identity %d: fields %q, want its send log (conversations have their own pointers)", i, before)
		}
	}
	if count(before, ihs[1], 'k') != 1 || count(before, ihs[1], 't') != 1 {
		t.Fatalf("no failure counters for identity 1 in %q", before)
	}

	// Past the send window; the first five verifications are gone (their TTL ran out).
	f.clock.Advance(11 * time.Minute)
	for _, id := range ids[:5] {
		if err := f.rdb.Del(ctx, recordKey(id)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ihs[10] = identity.IdentityHash(f.svc.keys, "x", users[10])
	start(10)
	after := fields()
	for i := range 10 {
		if n := count(after, ihs[i], 's'); n != 0 {
			t.Errorf("identity %d: send log out of its window kept", i)
		}
	}
	if count(after, ihs[10], 's') != 1 {
		t.Errorf("the new identity's own fields are missing from %q", after)
	}
	if count(after, ihs[1], 'k') != 1 || count(after, ihs[1], 't') != 1 {
		t.Errorf("failure counters inside their window were dropped: %q", after)
	}

	// A hash is pruned at most once a minute: a send log that leaves its window
	// just after a prune stays until the next one, a minute later.
	for i := 5; i < 10; i++ {
		start(i) // enough fields for a prune to run
	}
	f.clock.Advance(10*time.Minute - time.Second)
	ihs[11] = identity.IdentityHash(f.svc.keys, "x", users[11])
	start(11) // prunes, and identity 10's send is still inside its window
	f.clock.Advance(2 * time.Second)
	start(11)
	if n := count(fields(), ihs[10], 's'); n != 1 {
		t.Errorf("pruned twice within a minute: identity 10 has %d send logs", n)
	}
	f.clock.Advance(61 * time.Second)
	start(11)
	if n := count(fields(), ihs[10], 's'); n != 0 {
		t.Errorf("a minute later, a send log out of its window is still there")
	}

	// Past the failure window: the failure counters go too.
	f.clock.Advance(25 * time.Hour)
	for _, id := range ids[5:] {
		if err := f.rdb.Del(ctx, recordKey(id)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Enough fields again for a prune to run.
	for i := 5; i <= 10; i++ {
		start(i)
	}
	final := fields()
	if count(final, ihs[1], 'k') != 0 || count(final, ihs[1], 't') != 0 {
		t.Errorf("failure counters out of their window kept: %q", final)
	}
	for i := 5; i < 10; i++ {
		if count(final, ihs[i], 's') != 1 {
			t.Errorf("identity %d lost its live fields: %q", i, final)
		}
	}
}

// TestPerClientCountersPruned: the per-client fields go like the others once they
// can decide nothing: a client's failures forgotten and unlocked, a drained start
// cell, a send log whose entries are all out of the window; the live ones stay.
func TestPerClientCountersPruned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	req := f.startReq(OTPEmail, email)
	ikey := "v:{" + tagOf(f.svc.keys, req) + "}:i"
	now := f.clock.Now().UnixMilli()
	at := func(d time.Duration) int64 { return now + d.Milliseconds() }
	b36 := func(d time.Duration) string { return strconv.FormatInt(at(d), 36) }
	live := map[string]any{
		"AAAAAAAAAAAAkABC4": fmt.Sprint("3,", at(time.Hour), ",1,", at(-time.Minute)), // remembered
		"AAAAAAAAAAAAkDEF4": fmt.Sprint("3,", at(-time.Hour), ",1,", at(time.Minute)), // forgotten, still locked
		"AAAAAAAAAAAAqABC":  at(time.Minute),
		"AAAAAAAAAAAAt4":    at(-time.Hour),
		"AAAAAAAAAAAAp4":    fmt.Sprint("1,", at(-time.Hour)),
		"AAAAAAAAAAAAs":     "ABC" + b36(-11*time.Minute) + ",DEF" + b36(-time.Minute),
	}
	stale := map[string]any{
		"BBBBBBBBBBBBkABC4": fmt.Sprint("2,", at(-time.Second), ",0,0"),
		"BBBBBBBBBBBBq":     at(-time.Second),
		"BBBBBBBBBBBBqABC":  at(0),
		"BBBBBBBBBBBBt4":    at(-25 * time.Hour),
		"BBBBBBBBBBBBn4":    2,
		"BBBBBBBBBBBBl4":    at(-24 * time.Hour),
		"BBBBBBBBBBBBp4":    fmt.Sprint("1,", at(-24*time.Hour)),
		"BBBBBBBBBBBBs":     "ABC" + b36(-11*time.Minute) + "," + fmt.Sprint(at(-10*time.Minute)),
	}
	for _, m := range []map[string]any{live, stale} {
		if err := f.rdb.HSet(ctx, ikey, m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	got, err := f.rdb.HGetAll(ctx, ikey).Result()
	if err != nil {
		t.Fatal(err)
	}
	for k := range live {
		if _, ok := got[k]; !ok {
			t.Errorf("live field %s pruned", k)
		}
	}
	for k := range stale {
		if _, ok := got[k]; ok {
			t.Errorf("stale field %s kept", k)
		}
	}
}
