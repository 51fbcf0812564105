package erasure_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// hookOn runs f once, just before the first command for which match is true: work
// another replica does at that moment.
type hookOn struct {
	once  sync.Once
	match func(redis.Cmder) bool
	f     func()
}

func (h *hookOn) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *hookOn) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *hookOn) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.match(cmd) {
			h.once.Do(h.f)
		}
		return next(ctx, cmd)
	}
}

// isScan matches the erasure's first SCAN: it has marked the customer by then.
func isScan(cmd redis.Cmder) bool { return strings.EqualFold(cmd.Name(), "scan") }

// touches matches a script call on a key containing part.
func touches(part string) func(redis.Cmder) bool {
	return func(cmd redis.Cmder) bool {
		if !strings.HasPrefix(strings.ToLower(cmd.Name()), "eval") {
			return false
		}
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && strings.Contains(s, part) {
				return true
			}
		}
		return false
	}
}

// TestWorkDuringErasureAttachesNothing (issue 18 review): while EraseCustomer runs,
// a start that names the customer, a link and an enrollment link are refused with
// UNAVAILABLE (try again), so the erasure's search finds everything of hers; after
// it, nothing in Redis names her, and a start for the account the refused link
// named carries no customer.
func TestWorkDuringErasureAttachesNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	w := newWorld(t, srv.Client(t), false)
	email := &challenge.Destination{Kind: challenge.Email, Value: aliceMail}
	w.start(alice, customer, 0, email, challenge.OTPEmail)
	late := person{"x", "late-link-1", "@late"}
	var linkErr, startErr, enrollErr error
	hooked := srv.Client(t)
	hooked.AddHook(&hookOn{match: isScan, f: func() {
		_, linkErr = w.ids.Link(w.ctx, "platform-a", customer, late.network, late.userID, identity.OwnLinks)
		_, startErr = w.svc.Start(w.ctx, challenge.StartRequest{
			ClientID: "platform-a", Identity: challenge.Identity{Network: alice.network, UserID: alice.userID, Handle: alice.handle},
			CustomerID: customer, Methods: []challenge.Method{challenge.OTPEmail}, Audience: "crm", AgentID: "agent-7",
			ConversationID: "conv-during", Destination: email, Locale: "en", RequestID: "req-during"})
		_, _, enrollErr = w.ids.CreateEnrollment(w.ctx, "platform-a", customer, identity.KindTOTP, "en", nil)
	}})
	eraser := newWorld(t, hooked, false)
	if _, err := eraser.ids.Erase(w.ctx, "platform-a", customer); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{"Link": linkErr, "CreateEnrollment": enrollErr} {
		if !errors.Is(err, identity.ErrUnavailable) {
			t.Errorf("%s during the erasure: %v, want ErrUnavailable", what, err)
		}
	}
	if !errors.Is(startErr, challenge.ErrUnavailable) {
		t.Errorf("a start naming the customer during the erasure: %v, want ErrUnavailable", startErr)
	}
	for _, line := range w.everything() {
		if strings.Contains(line, customer) {
			t.Errorf("after the erasure Redis still names the customer: %.120q", line)
		}
	}
	res := w.start(late, "", 0, &challenge.Destination{Kind: challenge.Email, Value: "late@example.com"}, challenge.OTPEmail)
	if res.Verification.CustomerID == customer {
		t.Error("a start that names no customer, after the erasure, resolves to the erased customer")
	}
	// Once it is done, the customer may come back: a new start naming her works.
	w.start(alice, customer, 0, email, challenge.OTPEmail)
}

// TestLinkUnderWayWhenErasureBeginsTakesItsPointerBack: a Link that wrote its entry
// before the erasure began and sets its pointer after the erasure removed the
// customer's pointers finds its entry gone at its last step and takes the pointer
// back: nothing resolves to the erased customer.
func TestLinkUnderWayWhenErasureBeginsTakesItsPointerBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	w := newWorld(t, srv.Client(t), false)
	w.start(alice, customer, 0, &challenge.Destination{Kind: challenge.Email, Value: aliceMail}, challenge.OTPEmail)
	late := person{"x", "late-link-2", "@late2"}
	pointer := identity.LinkKey(identity.IdentityTag(w.keys, late.network, late.userID),
		identity.IdentityHash(w.keys, late.network, late.userID))
	hooked := srv.Client(t)
	linker := newWorld(t, hooked, false)
	// Between the Link's entry and its pointer, the whole erasure runs.
	hooked.AddHook(&hookOn{match: touches(pointer), f: func() {
		if _, err := w.ids.Erase(w.ctx, "platform-a", customer); err != nil {
			t.Errorf("Erase: %v", err)
		}
	}})
	_, err := linker.ids.Link(w.ctx, "platform-a", customer, late.network, late.userID, identity.OwnLinks)
	if !errors.Is(err, identity.ErrUnavailable) {
		t.Errorf("a Link the erasure overtook: %v, want ErrUnavailable", err)
	}
	if v, err := w.rdb.Get(w.ctx, pointer).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("the pointer of a link the erasure overtook: %q, %v; want none", v, err)
	}
	for _, line := range w.everything() {
		if strings.Contains(line, customer) {
			t.Errorf("after the erasure Redis still names the customer: %.120q", line)
		}
	}
	if c, _, ok, err := w.ids.Resolve(w.ctx, late.network, late.userID); ok || err != nil {
		t.Errorf("Resolve after the erasure = %q, %v, %v", c, ok, err)
	}
}
