package challenge

import (
	"context"
	"testing"
)

// Issue 18 review (fixed): one lost reply on the start's first round trip (go-redis
// resends the pipeline; replayAll does it deterministically) makes the replayed
// take answer the NEW id as "previous holder", so Start's supersede(prev, id) is
// skipped (p == id). The previous verification of the conversation is never
// canceled on its record: a pending one stays completable for its whole TTL and
// then reads VERIFIED, not revoked, and proves enrollments/links.
func TestReplayedStartStillSupersedes(t *testing.T) {
	t.Parallel()
	f := newReplayFixture(t, everyCommand, Config{})
	ctx := context.Background()
	v1, err := f.svc.Start(ctx, f.inConversation("conv-r18d", true))
	if err != nil {
		t.Fatal(err)
	}
	id1 := v1.Verification.ID
	code1 := f.sink.code(id1)
	if _, err := f.svc.Start(ctx, f.inConversation("conv-r18d", false)); err != nil {
		t.Fatal(err)
	}
	if v := f.get(id1); v.State != Canceled {
		t.Errorf("V1 after V2 (replayed first round trip): %v, want CANCELED", v.State)
	}
	out, err := f.svc.SubmitCode(ctx, pageToken(t, v1), code1, "r18d", "")
	if err == nil && out.Outcome == OutcomeVerified {
		t.Errorf("V1 completed after V2 took its conversation")
		if _, err := f.svc.Proof(ctx, "platform-a", id1, nil); err == nil {
			t.Errorf("and it is accepted as a Proof")
		}
	}
}
