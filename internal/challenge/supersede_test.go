package challenge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
)

// Issue 18 review (fixed): a superseded PENDING verification stays completable while the
// new one's send is in flight (supersede.lua only runs in the second round trip,
// after the send). Completed in that window it reads VERIFIED, not revoked, with an
// assertion, and serves as a Proof (LinkIdentity / CreateEnrollmentLink).
func TestSupersededBeforeTheNewSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	v1, err := f.svc.Start(ctx, f.inConversation("conv-r18", true))
	if err != nil {
		t.Fatal(err)
	}
	code1 := f.code(v1.Verification.ID)
	gated := &gatedSender{flakySender: f.sender, waiting: make(chan struct{}, 1), gate: make(chan struct{})}
	f.svc.sender = gated
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Start(ctx, f.inConversation("conv-r18", false))
		done <- err
	}()
	select {
	case <-gated.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("V2 never reached its send")
	}
	out, err := f.svc.SubmitCode(ctx, pageToken(t, v1), code1, "r18-late", "")
	if err == nil && out.Outcome == OutcomeVerified {
		t.Errorf("V1 (superseded by V2 whose send is in flight) completed: %+v", out)
		if v := f.get(v1.Verification.ID); !v.Revoked && v.Assertion != nil {
			t.Errorf("Get(V1) is VERIFIED, not revoked, with an assertion while V2 holds the conversation")
		}
		if p, err := f.svc.Proof(ctx, "platform-a", v1.Verification.ID, nil); err == nil {
			t.Errorf("V1 is accepted as a proof for %s while superseded", p.CustomerID)
		}
	}
	close(gated.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Issue 18 review (fixed): if the start's second round trip (delivered + supersede) is
// lost (replica killed mid-send, Redis blip, Cluster node), nothing ever supersedes
// the old record: the platform's retry of the same request id ("exists"/"resend")
// runs giveBack(), not supersede. V1 stays PENDING and completable for its whole TTL,
// and then reads VERIFIED, not revoked, and is a valid Proof.
func TestLostSupersedeIsRetried(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	pc := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = pc.Close() })
	f := newFixtureOn(t, srv, pc, false)
	ctx := context.Background()
	v1, err := f.svc.Start(ctx, f.inConversation("conv-r18b", true))
	if err != nil {
		t.Fatal(err)
	}
	code1 := f.code(v1.Verification.ID)
	gated := &gatedSender{flakySender: f.sender, waiting: make(chan struct{}, 1), gate: make(chan struct{})}
	f.svc.sender = gated
	r2 := f.inConversation("conv-r18b", false)
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Start(ctx, r2)
		done <- err
	}()
	<-gated.waiting
	proxy.Cut() // what follows the send (recording it) is lost
	close(gated.gate)
	if err := <-done; err != nil {
		t.Logf("V2's start with its last round trip lost: %v", err)
	}
	proxy.Restore()
	f.svc.sender = f.sender
	// The platform retries V2 as told (same request id).
	if _, err := f.svc.Start(ctx, r2); err != nil {
		t.Logf("retry of V2: %v", err)
	}
	f.clock.Advance(time.Minute)
	out, err := f.svc.SubmitCode(ctx, pageToken(t, v1), code1, "r18b-late", "")
	if err == nil && out.Outcome == OutcomeVerified {
		t.Errorf("V1 completed after V2 took the conversation (supersede lost, never retried)")
		if v := f.get(v1.Verification.ID); !v.Revoked && v.Assertion != nil {
			t.Errorf("Get(V1): VERIFIED, not revoked, assertion minted")
		}
		if _, err := f.svc.Proof(ctx, "platform-a", v1.Verification.ID, nil); err == nil {
			t.Errorf("V1 accepted as an enrollment/link proof")
		}
		if err := f.svc.CheckAssertion(ctx, f.grant(v1.Verification.ID)); !errors.Is(err, ErrRevoked) {
			t.Errorf("CheckAssertion(A1) = %v", err)
		}
	}
}

// Issue 18 review (fixed): a start whose script ran but whose pointer take failed (its
// slot's node unreachable: the pipeline answers UNAVAILABLE) is retried by the
// platform with the same request id, as docs/integrators.md says. The retry is a
// "resend", and Start's "resend" branch gives the pointer BACK to the previous
// holder (giveBack: holder(prev) != id). Result: the OLD verification's assertion
// A1 stands again, V1 is never superseded, and the new verification's own assertion
// is refused once completed.
func TestRetriedStartKeepsTheConversation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conv := "conv-r18c"
	v1 := f.verified(f.inConversation(conv, true))
	g1 := f.grant(v1)
	p := f.svc.conversation("platform-a", conv)
	held, err := f.rdb.HGet(ctx, p.key, p.field).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The pointer's node fails the take only (simulated with a wrong-type key).
	f.rdb.Del(ctx, p.key)
	f.rdb.Set(ctx, p.key, "x", 0)
	r2 := f.inConversation(conv, false)
	if _, err := f.svc.Start(ctx, r2); err == nil {
		t.Fatal("want the first call of V2 to fail")
	}
	f.rdb.Del(ctx, p.key)
	f.rdb.HSet(ctx, p.key, p.field, held)
	if err := f.svc.CheckAssertion(ctx, g1); err != nil {
		t.Logf("A1 before the retry: %v", err)
	}
	res2, err := f.svc.Start(ctx, r2) // the platform's retry, same request id
	if err != nil {
		t.Fatalf("retry of V2: %v", err)
	}
	if err := f.svc.CheckAssertion(ctx, g1); err == nil {
		t.Errorf("A1 (V1, customer named) STANDS after V2 (no customer) was started in the same conversation")
	}
	if v := f.get(v1); v.State == Verified && !v.Revoked {
		t.Errorf("V1 never superseded: VERIFIED, not revoked")
	}
	id2 := res2.Verification.ID
	if out, err := f.svc.SubmitCode(ctx, pageToken(t, res2), f.code(id2), "r18c", ""); err != nil || out.Outcome != OutcomeVerified {
		t.Fatalf("V2 completion: %+v %v", out, err)
	}
	if err := f.svc.CheckAssertion(ctx, f.grant(id2)); err != nil {
		t.Errorf("A2 (the conversation's newest verification) refused: %v", err)
	}
}
