package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/verify"
)

// Replay tests: go-redis resends a command whose reply was lost, so a script runs
// again with the same arguments. Each test runs through the lost-reply proxy (20%
// of replies lost; a call that answers unavailable is retried as a client would)
// and with a hook that runs every command twice, which replays every script.

// replayAll is a go-redis hook that, while on, runs every command and pipeline
// twice, as go-redis does when the first reply is lost: the caller sees the second
// reply.
type replayAll struct{ on atomic.Bool }

func (h *replayAll) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *replayAll) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() {
			_ = next(ctx, cmd)
		}
		return next(ctx, cmd)
	}
}

func (h *replayAll) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.on.Load() {
			_ = next(ctx, cmds)
		}
		return next(ctx, cmds)
	}
}

type replayFixture struct {
	*fixture
	proxy *redistest.Proxy // through the proxy, or
	hook  *replayAll       // with every command replayed
}

// newReplayFixture builds a store whose client replays (through the proxy when
// proxied, else with replayAll), with no faults until faults(true).
func newReplayFixture(t *testing.T, proxied bool) *replayFixture {
	t.Helper()
	srv := redistest.Start(t)
	if proxied {
		proxy := redistest.NewProxy(t, srv.Addr())
		proxy.SetSeed(18)
		c := redis.NewClient(&redis.Options{Addr: proxy.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		return &replayFixture{fixture: newFixtureOn(t, srv, c, Config{}), proxy: proxy}
	}
	c := srv.Client(t)
	h := &replayAll{}
	c.AddHook(h)
	return &replayFixture{fixture: newFixtureOn(t, srv, c, Config{}), hook: h}
}

func replayModes(t *testing.T, run func(t *testing.T, f *replayFixture)) {
	for _, proxied := range []bool{true, false} {
		name := "every command replayed"
		if proxied {
			name = "lost replies"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, newReplayFixture(t, proxied))
		})
	}
}

func (f *replayFixture) faults(on bool) {
	switch {
	case f.hook != nil:
		f.hook.on.Store(on)
	case on:
		f.proxy.DropReplies(0.2)
	default:
		f.proxy.DropReplies(0)
	}
}

// proved fails the test when the proxy lost no reply.
func (f *replayFixture) proved(t *testing.T) {
	t.Helper()
	if f.proxy != nil && f.proxy.Dropped() == 0 {
		t.Fatal("the proxy dropped no reply: the test proved nothing")
	}
}

// retried repeats op (a client retrying an unavailable answer) until it answers
// anything but ErrUnavailable, and returns how many calls it took and that answer.
func retried[T any](t *testing.T, op func() (T, error)) (int, T, error) {
	t.Helper()
	for i := 1; ; i++ {
		v, err := op()
		if !errors.Is(err, ErrUnavailable) || i == 20 {
			return i, v, err
		}
	}
}

// TestEraseAuditedOncePerCall: every erasure request is on record (a repeat
// included), and go-redis resending the last step of one is not a second request.
func TestEraseAuditedOncePerCall(t *testing.T) {
	t.Parallel()
	replayModes(t, func(t *testing.T, f *replayFixture) {
		customers := []string{"cust-0", "cust-1", "cust-2", "cust-3", "cust-4", "cust-5"}
		for i, cust := range customers {
			if _, err := f.store.Link(f.ctx, "platform-a", cust, "x", fmt.Sprint("user-", i)); err != nil {
				t.Fatal(err)
			}
			f.enrollTOTP(cust)
		}
		f.faults(true)
		calls, answered := 0, 0
		for _, cust := range append(customers, customers[0]) { // the last, a repeat
			n, _, err := retried(t, func() (Erased, error) { return f.store.Erase(f.ctx, "platform-b", cust) })
			if err != nil {
				t.Fatalf("Erase %s: %v", cust, err)
			}
			calls += n
			answered++
		}
		f.faults(false)
		f.proved(t)
		events := 0
		for _, e := range f.streamEntries(audit.StreamKey("", false)) {
			if e.Values["k"] == audit.Erased && e.Values["o"] != "audit_entries" {
				events++
			}
		}
		// Through the proxy a call that answered unavailable may or may not have
		// reached its last step; none may write two events.
		if events < answered || events > calls || f.hook != nil && events != answered {
			t.Errorf("%d erasure requests (%d calls) wrote %d erased events", answered, calls, events)
		}
	})
}

// TestCreateEnrollmentUnderReplaysAnswersOK: a create whose reply was lost is
// resent and finds its own enrollment: it answers the link, which works, never an
// id collision.
func TestCreateEnrollmentUnderReplaysAnswersOK(t *testing.T) {
	t.Parallel()
	replayModes(t, func(t *testing.T, f *replayFixture) {
		var links []string
		f.faults(true)
		for i := range 30 {
			_, u, err := retried(t, func() (string, error) {
				u, _, err := f.store.CreateEnrollment(f.ctx, "platform-a", fmt.Sprint("cust-", i), KindTOTP, "en", nil)
				if err != nil && strings.Contains(err.Error(), "collision") {
					t.Errorf("CreateEnrollment %d: %v", i, err)
				}
				return u, err
			})
			if err != nil {
				t.Fatalf("CreateEnrollment %d: %v", i, err)
			}
			links = append(links, u)
		}
		f.faults(false)
		f.proved(t)
		for _, u := range links {
			if _, err := f.store.OpenEnrollment(f.ctx, strings.TrimPrefix(u, "https://verify.example.com/e/"), ""); err != nil {
				t.Errorf("the link answered: %v", err)
			}
		}
	})
}

// TestLinkTakenElsewhereUnderReplaysLeavesNoEntry: linking an identity that is
// another customer's answers ErrLinkedElsewhere and rolls back the entry it wrote,
// also when its first step was resent.
func TestLinkTakenElsewhereUnderReplaysLeavesNoEntry(t *testing.T) {
	t.Parallel()
	replayModes(t, func(t *testing.T, f *replayFixture) {
		for i := range 20 {
			if _, err := f.store.Link(f.ctx, "platform-a", fmt.Sprint("first-", i), "x", fmt.Sprint("user-", i)); err != nil {
				t.Fatal(err)
			}
		}
		f.faults(true)
		for i := range 20 {
			if _, _, err := retried(t, func() (Linked, error) {
				return f.store.Link(f.ctx, "platform-a", fmt.Sprint("second-", i), "x", fmt.Sprint("user-", i))
			}); !errors.Is(err, ErrLinkedElsewhere) {
				t.Fatalf("Link %d to a second customer: %v", i, err)
			}
		}
		f.faults(false)
		f.proved(t)
		for i := range 20 {
			if h := f.customerHash(fmt.Sprint("second-", i)); h["L"+IdentityHash(f.keys, "x", fmt.Sprint("user-", i))] != "" {
				t.Errorf("second-%d keeps an entry for an identity linked elsewhere", i)
			}
		}
	})
}

// TestConfirmTOTPWrongCodesUnderReplaysCountOnce: each wrong confirmation code,
// submitted twice with its form's nonce, counts once toward the link's limit and
// both submissions answer the same, however often go-redis resends them.
func TestConfirmTOTPWrongCodesUnderReplaysCountOnce(t *testing.T) {
	t.Parallel()
	replayModes(t, func(t *testing.T, f *replayFixture) {
		for c := range 10 {
			token := f.enroll(fmt.Sprint("cust-", c), KindTOTP)
			_, secret, err := f.store.BeginTOTP(f.ctx, token, "")
			if err != nil {
				t.Fatal(err)
			}
			wrong := "000000"
			if codeAt(t, secret, verify.TOTPStep(f.clock.Now())) == wrong ||
				codeAt(t, secret, verify.TOTPStep(f.clock.Now())-1) == wrong {
				wrong = "999999"
			}
			f.faults(true)
			for k := range 3 {
				for range 2 { // a double-submitted form
					_, _, err := retried(t, func() (*Factor, error) {
						return f.store.ConfirmTOTP(f.ctx, token, wrong, fmt.Sprint("nonce-", k), "")
					})
					var ce *CodeError
					if !errors.As(err, &ce) || ce.AttemptsLeft != 5-(k+1) {
						t.Fatalf("link %d, wrong code %d: %v, want %d attempts left", c, k+1, err, 5-(k+1))
					}
				}
			}
			f.faults(false)
			id, _, _ := strings.Cut(token, ".")
			if at := f.rdb.HGet(f.ctx, EnrollmentKey(id), "at").Val(); at != "3" {
				t.Fatalf("link %d counts %s wrong codes, want 3", c, at)
			}
		}
		f.proved(t)
	})
}
