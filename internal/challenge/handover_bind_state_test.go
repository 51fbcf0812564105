package challenge

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/audit"
)

// /handover/bind is a GET that changes state. Knowing a handover id (the platform
// has it; it is in the channel's landing URL) must not be enough to make the
// customer's own browser, which carries the binding cookie, bind a PKCE challenge
// of someone else's: the bind needs the state that her page's continue form issued
// to her browser for this handover. Each refusal leaves the handover as it was, so
// her own bind and the channel's redemption still work.
func TestBindNeedsItsState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, tok := f.verifiedInBrowser()
	earlier := f.handover(res.Verification.ID, HandoverSecureChannel)
	// A newer handover replaces the earlier one; her browser had the earlier one's state.
	req := HandoverRequest{ClientID: "platform-a", VerificationID: res.Verification.ID, Kind: HandoverSecureChannel,
		Channel: "app", Redeemer: channelClient, RequestID: "h-newer"}
	h, err := f.svc.CreateHandover(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.svc.OpenHandover(ctx, tok, "b1")
	if err != nil || o.HandoverID != h.ID {
		t.Fatalf("OpenHandover = %+v, %v", o, err)
	}
	if len(o.State) != bindStateLen || o.State != f.svc.BindState(h.ID, "b1") {
		t.Fatalf("the offer's state = %q", o.State)
	}
	if f.svc.BindState(h.ID, "") != "" {
		t.Fatal("a browser without a binding gets a state")
	}

	const attacker = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU" // the S256 of a verifier someone else holds
	for name, state := range map[string]string{
		"no state":              "",
		"another browser's":     f.svc.BindState(h.ID, "b2"),
		"another handover's":    f.svc.BindState(earlier.ID, "b1"),
		"truncated":             o.State[:bindStateLen-1],
		"one character changed": flipLast(o.State),
	} {
		if state == o.State {
			t.Fatalf("%s: the test's state is the right one", name)
		}
		if _, err := f.svc.BindHandover(ctx, h.ID, state, attacker, "b1", []string{"app"}); !errors.Is(err, ErrHandoverBindState) {
			t.Fatalf("%s: bind = %v, want ErrHandoverBindState", name, err)
		}
	}
	if g, err := f.svc.GetHandover(ctx, "platform-a", h.ID); err != nil || g.State != HandoverOffered {
		t.Fatalf("refused binds changed the handover: %+v, %v", g, err)
	}
	refused := 0
	for _, e := range auditEntries(t, f.rdb, audit.StreamKey("", false)) {
		if e.Values["k"] == audit.HandoverRefused && e.Values["r"] == "state_mismatch" {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("6 binds without the state wrote %d state_mismatch entries, want 1", refused)
	}

	// Her own browser's continue, then the channel's bind: bound, and a reload answers the same code.
	code, err := f.svc.BindHandover(ctx, h.ID, o.State, testChallenge, "b1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.svc.BindHandover(ctx, h.ID, o.State, testChallenge, "b1", []string{"app"}); err != nil || again != code {
		t.Fatalf("a reloaded bind = %q, %v", again, err)
	}
	// Replayed (her state leaked from the landing URL): with another challenge, used; without it, refused.
	if _, err := f.svc.BindHandover(ctx, h.ID, o.State, attacker, "b1", []string{"app"}); !errors.Is(err, ErrHandoverUsed) {
		t.Fatalf("a replayed state with another challenge: %v", err)
	}
	if _, err := f.svc.BindHandover(ctx, h.ID, "", testChallenge, "b1", []string{"app"}); err == nil {
		t.Fatal("a bound handover answered its code to a bind without the state")
	}
	r, err := f.svc.RedeemHandover(ctx, channelClient, code, testChallenge)
	if err != nil || !r.Verified || r.HandoverID != h.ID {
		t.Fatalf("the channel's redemption after the refusals: %+v, %v", r, err)
	}
}

func flipLast(s string) string {
	last := "A"
	if strings.HasSuffix(s, "A") {
		last = "B"
	}
	return s[:len(s)-1] + last
}
