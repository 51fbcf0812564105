package challenge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// extendedEntries are the 'extended' audit entries of verification id.
func extendedEntries(t *testing.T, f *fixture, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range auditEntries(t, f.rdb, "audit:events") {
		if m.Values["v"] == id && m.Values["k"] == audit.Extended {
			out = append(out, m.Values)
		}
	}
	return out
}

// pointerUntil is until when the conversation's pointer keeps verification id
// (conversation.lua's value "<holder>|<until ms>|…"), and its holder.
func pointerUntil(t *testing.T, f *fixture, v *Verification) (string, time.Time) {
	t.Helper()
	p := f.svc.conversation(v.ClientID, v.ConversationID)
	val, err := f.rdb.HGet(context.Background(), p.key, p.field).Result()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(val, "|")
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		t.Fatalf("pointer %q: %v", val, err)
	}
	return parts[0], time.UnixMilli(ms)
}

// startTTL starts an OTP email verification of ttl for an identity and address of its own.
func (f *fixture) startTTL(ttl time.Duration) *StartResult {
	f.t.Helper()
	r := f.startReq(OTPEmail, nil)
	r.Destination = &Destination{Kind: Email, Value: r.RequestID + "@example.com"}
	r.Identity.UserID, r.CustomerID, r.TTL = "user-"+r.RequestID, "cust-"+r.RequestID, ttl
	res, err := f.svc.Start(context.Background(), r)
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	return res
}

// "I need more time": a pending verification's expiry moves forward by its own lifetime,
// once per request however often the request is repeated, at most MaxExtensions times;
// the record, the identity's counters and the conversation's pointer live on as far, one
// 'extended' audit entry per extension says until when, and the verification still
// completes after its first expiry with an assertion that stands (its creation time,
// and so its jti, did not move).
func TestExtend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.startTTL(2 * time.Minute)
	id, tok := res.Verification.ID, pageToken(t, res)
	created, first := f.get(id).Created, res.Verification.Expires
	if page, err := f.svc.OpenCodePage(ctx, tok); err != nil || !page.Extendable {
		t.Fatalf("a new page: %+v, %v", page, err)
	}

	f.clock.Advance(90 * time.Second)
	until, err := f.svc.ExtendCodePage(ctx, tok, "n1")
	if err != nil || !until.Equal(first.Add(2*time.Minute)) {
		t.Fatalf("ExtendCodePage = %v, %v; want %v", until, err, first.Add(2*time.Minute))
	}
	// A repeat of the same request (a double-submitted form, a lost reply) extends nothing more.
	for range 3 {
		if again, err := f.svc.ExtendCodePage(ctx, tok, "n1"); err != nil || !again.Equal(until) {
			t.Fatalf("repeat = %v, %v", again, err)
		}
	}
	v := f.get(id)
	if v.State != Pending || !v.Expires.Equal(until) || !v.Created.Equal(created) {
		t.Fatalf("after one extension: %v, expires %v, created %v (was %v)", v.State, v.Expires, v.Created, created)
	}
	entries := extendedEntries(t, f, id)
	if len(entries) != 1 || entries[0]["e"] != strconv.FormatInt(until.UnixMilli(), 10) || entries[0]["c"] != "platform-a" {
		t.Fatalf("extended entries %v", entries)
	}
	if rec, err := f.svc.store.load(ctx, id); err != nil || rec["xn"] != "1" {
		t.Fatalf("record: %v, %v", rec, err)
	}
	pttl, err := f.rdb.PTTL(ctx, recordKey(id)).Result()
	if want := until.Sub(f.clock.Now()) + f.svc.cfg.Retention; err != nil || pttl < want-time.Second || pttl > want {
		t.Errorf("record TTL %v, want about %v", pttl, want)
	}
	if ittl, err := f.rdb.PTTL(ctx, identityKey(id)).Result(); err != nil || ittl < until.Sub(f.clock.Now()) {
		t.Errorf("identity counters' TTL %v, shorter than the verification", ittl)
	}
	if holder, pu := pointerUntil(t, f, v); holder != id || !pu.Equal(until.Add(f.svc.verifiedTTL())) {
		t.Errorf("pointer %s until %v, want %s until %v", holder, pu, id, until.Add(f.svc.verifiedTTL()))
	}

	// Up to MaxExtensions (3), each by the verification's own lifetime; then refused.
	for i, n := range []string{"n2", "n3"} {
		got, err := f.svc.ExtendCodePage(ctx, tok, n)
		if want := until.Add(time.Duration(i+1) * 2 * time.Minute); err != nil || !got.Equal(want) {
			t.Fatalf("extension %d = %v, %v; want %v", i+2, got, err, want)
		}
	}
	last := f.get(id).Expires
	if page, err := f.svc.OpenCodePage(ctx, tok); err != nil || page.Extendable {
		t.Fatalf("the page after the last extension: %+v, %v", page, err)
	}
	if _, err := f.svc.ExtendCodePage(ctx, tok, "n4"); !errors.Is(err, ErrExtendLimit) {
		t.Fatalf("a fourth extension: %v", err)
	}
	if got := f.get(id).Expires; !got.Equal(last) || len(extendedEntries(t, f, id)) != 3 {
		t.Fatalf("after the refusal: expires %v (was %v), %d entries", got, last, len(extendedEntries(t, f, id)))
	}

	// Past its first expiry, the code still completes it, and its assertion stands.
	f.clock.Advance(first.Sub(f.clock.Now()) + time.Minute)
	if out, err := f.svc.SubmitCode(ctx, tok, f.code(id), "c1", ""); err != nil || out.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode after the first expiry: %+v, %v", out, err)
	}
	if err := f.svc.standing(ctx, f.grant(id)); err != nil {
		t.Errorf("the assertion of an extended verification: %v", err)
	}
	if got := kindsOf(auditEntries(t, f.rdb, "audit:events"), id); slices.Contains(got, "expired") {
		t.Errorf("events %v", got)
	}
}

// An extension never takes a verification past its creation plus MaxTTL: the last one is
// cut short there, and the next is refused, however many are left.
func TestExtendStopsAtMaxTTL(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newFixtureWith(t, srv, srv.Client(t), Config{MaxExtensions: 5})
	ctx := context.Background()
	res := f.startTTL(25 * time.Minute)
	id, tok := res.Verification.ID, pageToken(t, res)
	created := f.get(id).Created
	if got, err := f.svc.ExtendCodePage(ctx, tok, "a"); err != nil || !got.Equal(created.Add(50*time.Minute)) {
		t.Fatalf("first = %v, %v", got, err)
	}
	if got, err := f.svc.ExtendCodePage(ctx, tok, "b"); err != nil || !got.Equal(created.Add(time.Hour)) {
		t.Fatalf("second = %v, %v; want the cap %v", got, err, created.Add(time.Hour))
	}
	if page, err := f.svc.OpenCodePage(ctx, tok); err != nil || page.Extendable {
		t.Fatalf("the page at the cap: %+v, %v", page, err)
	}
	if _, err := f.svc.ExtendCodePage(ctx, tok, "c"); !errors.Is(err, ErrExtendMaxTTL) {
		t.Fatalf("past the cap: %v", err)
	}
	if v := f.get(id); !v.Expires.Equal(created.Add(time.Hour)) || !v.Created.Equal(created) || len(extendedEntries(t, f, id)) != 2 {
		t.Fatalf("%+v, %d entries", v, len(extendedEntries(t, f, id)))
	}
}

// A verification that ended (verified, canceled, reported, expired, erased) gets no more
// time, and nothing is written.
func TestExtendRefusedOnceEnded(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t)
	ctx := context.Background()
	ids, err := identity.New(identity.Config{PublicURL: f.svc.cfg.PublicURL, Brand: "Acme"}, f.udb, f.svc.keys,
		f.seals, f.wa, f.clock.Now, rand.Reader, f.svc.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		end  func(res *StartResult)
		want error
	}{
		{"verified", func(res *StartResult) {
			id := res.Verification.ID
			if out, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(id), "c", ""); err != nil || out.Outcome != OutcomeVerified {
				t.Fatalf("%+v, %v", out, err)
			}
		}, ErrNotPending},
		{"canceled", func(res *StartResult) {
			if _, err := f.svc.Cancel(ctx, "platform-a", res.Verification.ID, "x"); err != nil {
				t.Fatal(err)
			}
		}, ErrNotPending},
		{"reported", func(res *StartResult) {
			if _, err := f.svc.ReportCodePage(ctx, pageToken(t, res), "r"); err != nil {
				t.Fatal(err)
			}
		}, ErrNotPending},
		{"expired", func(*StartResult) { f.clock.Advance(3 * time.Minute) }, ErrExpired},
		{"erased", func(res *StartResult) {
			cust := f.get(res.Verification.ID).CustomerID
			if _, err := ids.Erase(ctx, "platform-a", cust); err != nil {
				t.Fatal(err)
			}
		}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.startTTL(2 * time.Minute)
			id := res.Verification.ID
			tc.end(res)
			if _, err := f.svc.ExtendCodePage(ctx, pageToken(t, res), "late"); !errors.Is(err, tc.want) {
				t.Fatalf("ExtendCodePage: %v, want %v", err, tc.want)
			}
			if n := len(extendedEntries(t, f.fixture, id)); n != 0 {
				t.Errorf("%d extended entries", n)
			}
			if tc.name != "erased" {
				if v := f.get(id); !v.Expires.Equal(res.Verification.Expires) {
					t.Errorf("expiry moved: %v", v.Expires)
				}
			}
		})
	}
}

// 50 parallel requests for more time on one verification, each its own, extend it
// MaxExtensions times, no more: one audit entry each, and the rest are refused.
func TestExtendParallel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.startTTL(5 * time.Minute)
	id, tok := res.Verification.ID, pageToken(t, res)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for i := range 50 {
		wg.Go(func() {
			_, err := f.svc.ExtendCodePage(ctx, tok, fmt.Sprint("p", i))
			k := "extended"
			if err != nil {
				k = err.Error()
				if !errors.Is(err, ErrExtendLimit) {
					t.Errorf("request %d: %v", i, err)
				}
			}
			mu.Lock()
			got[k]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got["extended"] != 3 || got[ErrExtendLimit.Error()] != 47 {
		t.Fatalf("outcomes %v", got)
	}
	if v := f.get(id); !v.Expires.Equal(res.Verification.Expires.Add(15 * time.Minute)) {
		t.Errorf("expires %v, want %v", v.Expires, res.Verification.Expires.Add(15*time.Minute))
	}
	if n := len(extendedEntries(t, f, id)); n != 3 {
		t.Errorf("%d extended entries", n)
	}
}

// A magic-link page gives more time with its own token, checked against the link the
// record holds; another token gets nothing.
func TestExtendLinkPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.start(MagicLink, email)
	id := res.Verification.ID
	tok := f.linkToken(id)
	before := f.get(id).Expires
	forged := id + "." + strings.Repeat("A", 22)
	if _, err := f.svc.ExtendLinkPage(ctx, forged, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a forged link: %v", err)
	}
	if _, err := f.svc.ExtendCodePage(ctx, forged, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a forged code page: %v", err)
	}
	got, err := f.svc.ExtendLinkPage(ctx, tok, "x")
	if err != nil || !got.Equal(before.Add(f.svc.cfg.DefaultTTL)) {
		t.Fatalf("ExtendLinkPage = %v, %v", got, err)
	}
	if page, err := f.svc.OpenLinkPage(ctx, tok); err != nil || !page.Expires.Equal(got) {
		t.Fatalf("the link page: %+v, %v", page, err)
	}
}

// The Lapser, which emits 'expired' for verifications nobody touched, does not at the
// first expiry of an extended one, and does at its new expiry, once.
func TestLapserHonoursExtension(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res := f.startTTL(time.Minute)
	id := res.Verification.ID
	runLapser(t, f)
	if _, err := f.svc.ExtendCodePage(ctx, pageToken(t, res), "m"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(90 * time.Second) // past the first expiry, before the new one
	time.Sleep(200 * time.Millisecond)
	if got := kindsOf(auditEntries(t, f.rdb, "audit:events"), id); slices.Contains(got, "expired") || f.get(id).State != Pending {
		t.Fatalf("at the first expiry: %v, %v", got, f.get(id).State)
	}
	f.clock.Advance(time.Minute)
	waitFor(t, "the expiry at the new time", func() error {
		if got := kindsOf(auditEntries(t, f.rdb, "audit:events"), id); !slices.Equal(got, []string{"started", "sent", "extended", "expired"}) {
			return fmt.Errorf("events %v", got)
		}
		return nil
	})
}

// Every command run twice (go-redis resending a script whose reply was lost), on
// standalone and Cluster: each request extends once, writes one audit entry, and the
// conversation's pointer (on its own slot on Cluster) follows.
func TestExtendUnderReplays(t *testing.T) {
	t.Parallel()
	for _, mode := range []replayMode{everyCommand, onCluster} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			f := newReplayFixture(t, mode, Config{})
			ctx := context.Background()
			res := f.startTTL(2 * time.Minute)
			id, tok := res.Verification.ID, pageToken(t, res)
			for i, n := range []string{"a", "b"} {
				got, err := f.svc.ExtendCodePage(ctx, tok, n)
				if want := res.Verification.Expires.Add(time.Duration(i+1) * 2 * time.Minute); err != nil || !got.Equal(want) {
					t.Fatalf("extension %d = %v, %v; want %v", i+1, got, err, want)
				}
			}
			n := 0
			for _, m := range f.auditOf(t, []string{id}) {
				if m.Values["v"] == id && m.Values["k"] == audit.Extended {
					n++
				}
			}
			v := f.get(id)
			if n != 2 || !v.Expires.Equal(res.Verification.Expires.Add(4*time.Minute)) {
				t.Fatalf("%d entries, expires %v", n, v.Expires)
			}
			p := f.svc.conversation(v.ClientID, v.ConversationID)
			val, err := f.direct.HGet(ctx, p.key, p.field).Result()
			if want := id + "|" + strconv.FormatInt(v.Expires.Add(f.svc.verifiedTTL()).UnixMilli(), 10) + "|"; err != nil || !strings.HasPrefix(val, want) {
				t.Fatalf("pointer %q, %v; want %q…", val, err, want)
			}
		})
	}
}

// A platform watching the verification sees the extension: still pending, with the new
// expiry.
func TestWatchSeesExtension(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := f.startTTL(2 * time.Minute)
	seen := make(chan *Verification, 10)
	go func() {
		_ = f.svc.Watch(ctx, "platform-a", res.Verification.ID, func(v *Verification) error {
			seen <- v
			return nil
		})
	}()
	if v := <-seen; v.State != Pending || !v.Expires.Equal(res.Verification.Expires) {
		t.Fatalf("first: %+v", v)
	}
	until, err := f.svc.ExtendCodePage(ctx, pageToken(t, res), "w")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-seen:
		if v.State != Pending || !v.Expires.Equal(until) {
			t.Fatalf("after the extension: %v, expires %v; want %v", v.State, v.Expires, until)
		}
	case <-ctx.Done():
		t.Fatal("the watcher never saw the extension")
	}
}

// The pointer follows only the verification that holds the conversation: once a newer
// verification took it, the older one's extension (were it still pending) moves
// nothing, and takes nothing back.
func TestExtendLeavesANewerHolderAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	older := f.inConversation("conv-ext", true)
	first, err := f.svc.Start(ctx, older)
	if err != nil {
		t.Fatal(err)
	}
	newer := older
	newer.RequestID += "-newer"
	second, err := f.svc.Start(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	v := f.get(second.Verification.ID)
	holder, until := pointerUntil(t, f, v)
	if holder != second.Verification.ID {
		t.Fatalf("holder %s", holder)
	}
	p := f.svc.conversation(v.ClientID, v.ConversationID)
	later := ms(until.Add(time.Hour))
	replies, err := f.svc.store.pipelined(ctx, []scriptCall{{conversationExtendScript, []string{p.key},
		[]any{ms(f.clock.Now()), p.field, first.Verification.ID, later}}})
	if err != nil || status(replies[0]) != "displaced" {
		t.Fatalf("%v, %v", replies, err)
	}
	if h, u := pointerUntil(t, f, v); h != second.Verification.ID || !u.Equal(until) {
		t.Fatalf("pointer %s until %v, want %s until %v", h, u, second.Verification.ID, until)
	}
	// And the older verification, superseded, gets no more time itself.
	if _, err := f.svc.ExtendCodePage(ctx, pageToken(t, first), "late"); !errors.Is(err, ErrNotPending) {
		t.Fatalf("extending the superseded verification: %v", err)
	}
}

// A watcher's only timer is the verification's expiry. Once an extension moved it, the
// watcher waits for the new expiry: it does not ask Redis every second from the old one
// on (WatchVerification polls nothing), however long the extension.
func TestWatchFollowsExtendedExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tally := &commandTally{n: map[string]int{}}
	f.rdb.AddHook(tally)
	res := f.startTTL(time.Minute)
	f.clock.Advance(time.Minute - time.Second) // the first expiry is a second away
	seen := make(chan *Verification, 10)
	go func() {
		_ = f.svc.Watch(ctx, "platform-a", res.Verification.ID, func(v *Verification) error {
			seen <- v
			return nil
		})
	}()
	if v := <-seen; v.State != Pending {
		t.Fatalf("first: %+v", v)
	}
	until, err := f.svc.ExtendCodePage(ctx, pageToken(t, res), "w")
	if err != nil {
		t.Fatal(err)
	}
	if v := <-seen; !v.Expires.Equal(until) {
		t.Fatalf("after the extension: expires %v, want %v", v.Expires, until)
	}
	f.clock.Advance(2 * time.Second) // past the first expiry, a minute before the new one
	tally.take()
	time.Sleep(3 * time.Second)
	if n := tally.take(); len(n) != 0 {
		t.Errorf("the watcher sent %v in 3 s before the new expiry; want nothing", n)
	}
	if v := f.get(res.Verification.ID); v.State != Pending {
		t.Fatalf("state %v", v.State)
	}
}

// TestExtendTurnedOff: with MaxExtensions negative (AUTHSVC_MAX_EXTENSIONS=0) the
// page offers no more time and an extension is refused, its expiry unmoved and
// nothing audited.
func TestExtendTurnedOff(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newFixtureWith(t, srv, srv.Client(t), Config{MaxExtensions: -1})
	ctx := context.Background()
	res := f.startTTL(2 * time.Minute)
	id, tok := res.Verification.ID, pageToken(t, res)
	if page, err := f.svc.OpenCodePage(ctx, tok); err != nil || page.Extendable {
		t.Fatalf("the page with extensions off: %+v, %v", page, err)
	}
	if _, err := f.svc.ExtendCodePage(ctx, tok, "n1"); !errors.Is(err, ErrExtendLimit) {
		t.Fatalf("ExtendCodePage with extensions off: %v, want ErrExtendLimit", err)
	}
	if v := f.get(id); !v.Expires.Equal(res.Verification.Expires) || len(extendedEntries(t, f, id)) != 0 {
		t.Fatalf("expires %v (was %v), %d extended entries", v.Expires, res.Verification.Expires, len(extendedEntries(t, f, id)))
	}
}
