package challenge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/redistest"
)

// TestLinkResolvesOnlyForTrustingClients: any client can link an identity it names
// to any customer on a verification it made itself (its own account, its own
// mailbox), so a link is its maker's word. A start that names no customer takes
// the linked customer as its subject (the start script, on the identity's slot)
// or finds her factors through the link (customerOf, before the start) only when
// the starting client made the link or trusts its maker's enrollments; a link of
// no known client (made before links recorded it) only for a client that trusts
// every client. A verification completes as the linked customer's only while the
// very link it was started on stands: made again by another client, it ends.
// Standalone and Cluster (the pointer, the record and the customer's hash on their
// own slots).
func TestLinkResolvesOnlyForTrustingClients(t *testing.T) {
	t.Parallel()
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		runLinkTrust(t, newFactorFixture(t))
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cluster := redistest.StartCluster(t, 3)
		runLinkTrust(t, newFactorFixtureOn(t, nil, cluster.Client(t), Config{ShardedPubSub: true}))
	})
}

func runLinkTrust(t *testing.T, f *factorFixture) {
	ctx := context.Background()
	trust := &trustTable{m: map[string][]string{}}
	f.svc.factors.Trust = trust
	seed := newSeed(t)
	// Her app, enrolled through platform-a itself: usable whenever the link counts.
	f.enrollTOTP("cust-9", seed)
	f.clock.Advance(time.Second)

	// Each phase verifies an identity of its own, and each start sends to a mailbox
	// of its own, so the send limits stay out of the way.
	sent := 0
	codeStart := func(user string) *StartResult {
		t.Helper()
		sent++
		req := f.startReq(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("%s-%d@example.com", user, sent)})
		req.CustomerID, req.Identity.UserID = "", user
		res, err := f.svc.Start(ctx, req)
		if err != nil {
			t.Fatalf("code start for %s: %v", user, err)
		}
		return res
	}
	factorStart := func(user string) (*StartResult, error) {
		req := f.startReq(TOTP, nil)
		req.CustomerID, req.Identity.UserID, req.MinAssurance = "", user, assurance.Substantial
		return f.svc.Start(ctx, req)
	}
	subject := func(res *StartResult) string {
		t.Helper()
		if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(res.Verification.ID), "n", ""); err != nil ||
			r.Outcome != OutcomeVerified {
			t.Fatalf("SubmitCode = %+v, %v", r, err)
		}
		v := f.get(res.Verification.ID)
		claims, err := f.verifier.Verify(v.Assertion.Token, "crm")
		if err != nil {
			t.Fatal(err)
		}
		return claims.Subject
	}

	// platform-b, which platform-a does not trust, links its puppet account to her.
	f.linkBy("platform-b", "cust-9", "x", "puppet")
	res := codeStart("puppet")
	if res.Verification.CustomerID != "" {
		t.Fatalf("platform-a's start for the puppet names %q", res.Verification.CustomerID)
	}
	if sub := subject(res); sub == "cust-9" {
		t.Fatalf("platform-a's assertion for the puppet names the customer")
	}
	var nm *NoMethodError
	if _, err := factorStart("puppet"); !errors.As(err, &nm) {
		t.Fatalf("a factor start for the puppet: %v; want NoMethodError (her factors not found through the link)", err)
	}

	// Trusting platform-b's enrollments, platform-a uses its links too.
	trust.set("platform-a", "platform-b")
	if sub := subject(codeStart("puppet")); sub != "cust-9" {
		t.Fatalf("with the trust, subject %q", sub)
	}
	if res, err := factorStart("puppet"); err != nil || res.Verification.CustomerID != "cust-9" {
		t.Fatalf("with the trust, factor start = %+v, %v", res, err)
	}
	trust.set("platform-a")

	// Its own link counts for a client that trusts no one.
	f.link("cust-9", "x", "own")
	if sub := subject(codeStart("own")); sub != "cust-9" {
		t.Fatalf("its own link: subject %q", sub)
	}
	if res, err := factorStart("own"); err != nil || res.Verification.CustomerID != "cust-9" {
		t.Fatalf("its own link, factor start = %+v, %v", res, err)
	}

	// The link is made again by another client before the code is typed: the
	// verification, started on platform-a's own link, ends.
	pending := codeStart("own")
	if pending.Verification.CustomerID != "cust-9" {
		t.Fatalf("customer %q", pending.Verification.CustomerID)
	}
	code := f.code(pending.Verification.ID)
	f.linkBy("platform-c", "cust-9", "x", "own")
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, pending), code, "late", ""); err != nil || r.Outcome != OutcomeGone {
		t.Fatalf("the right code once another client's link replaced it: %+v, %v; want gone", r, err)
	}
	if v := f.get(pending.Verification.ID); v.Assertion != nil {
		t.Fatal("an assertion was minted on a link that no longer stands")
	}

	// A link of no known client (made before links recorded their client): only a
	// client that trusts every client uses it, and its verification completes.
	f.linkBy("", "cust-9", "x", "legacy")
	trust.set("platform-a", "platform-b", "platform-c")
	if res := codeStart("legacy"); res.Verification.CustomerID != "" {
		t.Fatalf("a legacy link for a client trusting some clients: %q", res.Verification.CustomerID)
	}
	if _, err := factorStart("legacy"); !errors.As(err, &nm) {
		t.Fatalf("a legacy link's factor start: %v; want NoMethodError", err)
	}
	trust.set("platform-a", "*")
	if sub := subject(codeStart("legacy")); sub != "cust-9" {
		t.Fatalf("a legacy link for a client trusting every client: subject %q", sub)
	}
	if res, err := factorStart("legacy"); err != nil || res.Verification.CustomerID != "cust-9" {
		t.Fatalf("a legacy link for a client trusting every client, factor start = %+v, %v", res, err)
	}
	// A legacy link taken over by a client (may_link, package identity) ends a
	// verification started on it.
	pending = codeStart("legacy")
	code = f.code(pending.Verification.ID)
	f.linkBy("platform-b", "cust-9", "x", "legacy")
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, pending), code, "late", ""); err != nil || r.Outcome != OutcomeGone {
		t.Fatalf("the right code once the legacy link was taken over: %+v, %v; want gone", r, err)
	}
}
