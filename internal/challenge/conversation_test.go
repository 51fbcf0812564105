package challenge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
)

// gatedSender holds every send until its gate is closed, and says when one waits.
type gatedSender struct {
	*flakySender
	waiting chan struct{}
	gate    chan struct{}
}

func (g *gatedSender) Send(ctx context.Context, m delivery.Message) error {
	g.waiting <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.flakySender.Send(ctx, m)
}

// inConversation is a request of the fixture's client in conversation conv, naming
// the customer or not; the identity and the address are the conversation's own, so
// that tests sharing a Redis do not share their send limits.
func (f *fixture) inConversation(conv string, named bool) StartRequest {
	r := f.startReq(OTPEmail, &Destination{Kind: Email, Value: conv + "@example.com"})
	r.ConversationID, r.Identity.UserID = conv, "user-"+conv
	if !named {
		r.CustomerID = ""
	}
	return r
}

// verified starts r and completes it with its code, returning its id.
func (f *fixture) verified(r StartRequest) string {
	f.t.Helper()
	res, err := f.svc.Start(context.Background(), r)
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	id := res.Verification.ID
	if out, err := f.svc.SubmitCode(context.Background(), pageToken(f.t, res), f.code(id), "n-"+id, ""); err != nil ||
		out.Outcome != OutcomeVerified {
		f.t.Fatalf("SubmitCode = %+v, %v", out, err)
	}
	return id
}

// TestOneLiveGrantPerConversation (issue 18, item 1): a verification that names the
// customer lives on the customer's tag, one that names none on the identity's; a
// new verification of the same client's conversation ends the previous one's grant
// and pending state whichever tags the two land on, in either order, on standalone
// and on Cluster.
func TestOneLiveGrantPerConversation(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	for _, rc := range []struct {
		name string
		f    func(t *testing.T) *fixture
	}{
		{"standalone", newFixture},
		{"cluster", func(t *testing.T) *fixture {
			return newFixtureOn(t, nil, cluster.Client(t), true)
		}},
	} {
		for _, order := range []struct {
			name         string
			first, later bool // whether each names the customer
		}{{"customer then none", true, false}, {"none then customer", false, true}} {
			t.Run(rc.name+"/"+order.name, func(t *testing.T) {
				f := rc.f(t)
				ctx := context.Background()
				conv := fmt.Sprint("conv-live-", rc.name, "-", order.first)
				v1 := f.verified(f.inConversation(conv, order.first))
				g1 := f.grant(v1)
				if err := f.svc.CheckAssertion(ctx, g1); err != nil {
					t.Fatalf("A1 before V2: %v", err)
				}
				// A pending V1b in another conversation of the same client is untouched.
				other, err := f.svc.Start(ctx, f.inConversation(conv+"-other", order.first))
				if err != nil {
					t.Fatal(err)
				}

				v2, err := f.svc.Start(ctx, f.inConversation(conv, order.later))
				if err != nil {
					t.Fatal(err)
				}
				if v1[:tagLen] == v2.Verification.ID[:tagLen] {
					t.Fatalf("V1 and V2 share tag %s: the test does not cross tags", v1[:tagLen])
				}
				if err := f.svc.CheckAssertion(ctx, g1); !errors.Is(err, ErrRevoked) {
					t.Errorf("VerifyAssertion's check of A1 after V2: %v, want ErrRevoked", err)
				}
				if err := f.svc.RecordDisclosure(ctx, Disclosure{Grant: g1, ClientID: "tool", DataClass: "order_status",
					Channel: "dm", Allowed: true}); !errors.Is(err, ErrRevoked) {
					t.Errorf("AuthorizeDisclosure's check of A1 after V2: %v, want ErrRevoked", err)
				}
				if v := f.get(v1); !v.Revoked || v.Assertion != nil {
					t.Errorf("Get(V1) after V2: revoked %v, assertion %v", v.Revoked, v.Assertion != nil)
				}
				if v := f.get(other.Verification.ID); v.State != Pending {
					t.Errorf("another conversation's verification: %v, want PENDING", v.State)
				}

				// A pending V3 in the conversation is ended by V4, whose own code then works.
				v3, err := f.svc.Start(ctx, f.inConversation(conv, order.first))
				if err != nil {
					t.Fatal(err)
				}
				code3 := f.code(v3.Verification.ID)
				v4 := f.verified(f.inConversation(conv, order.later))
				if r, err := f.svc.SubmitCode(ctx, pageToken(t, v3), code3, "late", ""); err != nil || r.Outcome != OutcomeGone {
					t.Errorf("V3's right code after V4: %+v, %v; want gone", r, err)
				}
				if v := f.get(v3.Verification.ID); v.State != Canceled {
					t.Errorf("V3 after V4: %v, want CANCELED", v.State)
				}
				if err := f.svc.CheckAssertion(ctx, f.grant(v4)); err != nil {
					t.Errorf("V4's own assertion: %v", err)
				}
				// Two verifications open in one conversation: never.
				for _, id := range []string{v1, v2.Verification.ID, v3.Verification.ID} {
					if v := f.get(id); v.State == Pending || (v.State == Verified && !v.Revoked) {
						t.Errorf("%s still live beside V4: %v revoked %v", id, v.State, v.Revoked)
					}
				}
			})
		}
	}
}

// TestRevocationHoldsWhileTheNewSendIsInFlight: from the moment a new verification
// of the conversation is recorded, before its code has even left, the previous
// grant no longer stands.
func TestRevocationHoldsWhileTheNewSendIsInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	v1 := f.verified(f.inConversation("conv-flight", true))
	g1 := f.grant(v1)
	gated := &gatedSender{flakySender: f.sender, waiting: make(chan struct{}, 1), gate: make(chan struct{})}
	f.svc.sender = gated
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Start(ctx, f.inConversation("conv-flight", false))
		done <- err
	}()
	select {
	case <-gated.waiting:
	case err := <-done:
		t.Fatalf("Start returned before sending: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the new verification never reached its send")
	}
	if err := f.svc.CheckAssertion(ctx, g1); !errors.Is(err, ErrRevoked) {
		t.Errorf("A1 while V2's send is in flight: %v, want ErrRevoked", err)
	}
	if err := f.svc.RecordDisclosure(ctx, Disclosure{Grant: g1, ClientID: "tool", DataClass: "order_status",
		Channel: "dm", Allowed: true}); !errors.Is(err, ErrRevoked) {
		t.Errorf("a disclosure on A1 while V2's send is in flight: %v, want ErrRevoked", err)
	}
	close(gated.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRefusedStartGivesTheConversationBack: a start that makes no verification (a
// limit refuses it, or it repeats a request) leaves the conversation's live grant
// where it was.
func TestRefusedStartGivesTheConversationBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	v1 := f.verified(f.inConversation("conv-back", true))
	g1 := f.grant(v1)
	// No method meets HIGH for this customer: nothing is made.
	r := f.inConversation("conv-back", true)
	r.Methods, r.MinAssurance, r.Destination = []Method{WebAuthn}, 3, nil
	var nm *NoMethodError
	if _, err := f.svc.Start(ctx, r); !errors.As(err, &nm) {
		t.Fatalf("Start: %v, want NoMethodError", err)
	}
	if err := f.svc.CheckAssertion(ctx, g1); err != nil {
		t.Errorf("A1 after a refused start: %v", err)
	}
	// The identity's send window is full: refused, nothing made.
	for i := range 5 {
		r := f.inConversation(fmt.Sprint("conv-fill-", i), true)
		r.Identity.UserID = "user-conv-back" // the same person, in other conversations
		if _, err := f.svc.Start(ctx, r); err != nil {
			var le *LimitError
			if errors.As(err, &le) {
				break
			}
			t.Fatal(err)
		}
	}
	var le *LimitError
	if _, err := f.svc.Start(ctx, f.inConversation("conv-back", true)); !errors.As(err, &le) {
		t.Fatalf("a start over the send window: %v, want *LimitError", err)
	}
	if err := f.svc.CheckAssertion(ctx, g1); err != nil {
		t.Errorf("A1 after a start a limit refused: %v", err)
	}
	if v := f.get(v1); v.State != Verified || v.Revoked {
		t.Errorf("V1: %v revoked %v", v.State, v.Revoked)
	}
}

// TestRepeatedOldStartDoesNotTakeTheConversationBack: a platform's retry of an
// older start (the same request id) after a newer verification of the conversation
// answers the old verification, and the newer grant keeps standing.
func TestRepeatedOldStartDoesNotTakeTheConversationBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r1 := f.inConversation("conv-repeat", true)
	v1 := f.verified(r1)
	v2 := f.verified(f.inConversation("conv-repeat", false))
	g2 := f.grant(v2)
	res, err := f.svc.Start(ctx, r1)
	if err != nil || res.Verification.ID != v1 {
		t.Fatalf("repeat of V1's start = %v, %v", res, err)
	}
	if err := f.svc.CheckAssertion(ctx, g2); err != nil {
		t.Errorf("A2 after a repeat of V1's start: %v", err)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(v1)); !errors.Is(err, ErrRevoked) {
		t.Errorf("A1 after a repeat of its start: %v, want ErrRevoked", err)
	}
}

// TestRevokedStaysRevokedAfterDataLoss (issue 18, item 8): Redis restarted empty,
// the platform retries the start with the same request id and the customer
// completes it again: the assertion minted before the loss stays refused, and the
// new one has another jti.
func TestRevokedStaysRevokedAfterDataLoss(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r := f.inConversation("conv-loss", true)
	v1 := f.verified(r)
	before := f.get(v1).Assertion
	g1 := f.grant(v1)
	f.srv.Restart(t)
	if err := f.svc.CheckAssertion(ctx, g1); !errors.Is(err, ErrRevoked) {
		t.Fatalf("A1 after the loss: %v, want ErrRevoked", err)
	}
	f.clock.Advance(3 * time.Second)
	res, err := f.svc.Start(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verification.ID != v1 {
		t.Fatalf("the retried start made %s, want the same id %s", res.Verification.ID, v1)
	}
	if out, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(v1), "again", ""); err != nil || out.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode = %+v, %v", out, err)
	}
	after := f.get(v1).Assertion
	if after == nil || after.ID == before.ID {
		t.Fatalf("jti before %q after %v: want a new one", before.ID, after)
	}
	if err := f.svc.CheckAssertion(ctx, g1); !errors.Is(err, ErrRevoked) {
		t.Errorf("A1 after the record was made again and completed: %v, want ErrRevoked", err)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(v1)); err != nil {
		t.Errorf("the new assertion: %v", err)
	}
	claims, err := f.verifier.Verify(after.Token, "crm")
	if err != nil || claims.ID != after.ID || claims.ClientID != "platform-a" {
		t.Errorf("the new assertion's claims: %+v, %v", claims, err)
	}
}
