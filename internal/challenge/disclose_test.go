package challenge

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// verifiedOTP runs a verification of f to VERIFIED with its code.
func (f *fixture) verifiedOTP() string {
	f.t.Helper()
	res := f.start(OTPEmail, email)
	id := res.Verification.ID
	r, err := f.svc.SubmitCode(context.Background(), pageToken(f.t, res), f.code(id), "n-"+id, "")
	if err != nil || r.Outcome != OutcomeVerified {
		f.t.Fatalf("SubmitCode: %+v, %v", r, err)
	}
	return id
}

// RecordDisclosure answers what CheckAssertion answers and writes the decision's
// event: two round trips, whatever the answer.
func TestRecordDisclosure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id := f.verifiedOTP()
	rtt := redistest.RoundTrips(f.rdb)

	ask := func(d Disclosure) error {
		t.Helper()
		rtt.Reset()
		err := f.svc.RecordDisclosure(ctx, d)
		// The assertion's standing (its record and its conversation's pointer, on
		// two slots, pipelined), then the event on the record's slot.
		if n := rtt.Load(); n != 2 {
			t.Errorf("%+v: %d round trips, want 2", d, n)
		}
		return err
	}
	// Scripts cached, as after a server's first call: EVALSHA, not NOSCRIPT then EVAL.
	for _, sc := range []*redis.Script{discloseScript, standingScript, conversationReadScript} {
		if err := sc.Load(ctx, f.rdb).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ask(Disclosure{Grant: f.grant(id), ClientID: "tool-b", DataClass: "order_status", Channel: "dm", Allowed: true}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	if err := ask(Disclosure{Grant: f.grant(id), ClientID: "tool-b", DataClass: "shipping_address", Channel: "dm",
		Reason: "level_too_low"}); err != nil {
		t.Fatalf("denied by the policy: %v", err)
	}
	if _, err := f.svc.Cancel(ctx, "platform-a", id, "end"); err != nil {
		t.Fatal(err)
	}
	if err := ask(Disclosure{Grant: f.grant(id), ClientID: "tool-b", DataClass: "order_status", Channel: "dm", Allowed: true}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revocation: %v, want ErrRevoked", err)
	}
	// A record that is gone is revoked, and the denial is still recorded.
	gone := id[:tagLen] + "-" + "aaaaaaaaaaaaaaaa"
	if err := ask(Disclosure{Grant: f.grant(gone), ClientID: "tool-b", DataClass: "order_status", Channel: "dm", Allowed: true}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("missing record: %v, want ErrRevoked", err)
	}
	if n, _ := f.rdb.Exists(ctx, recordKey(gone)).Result(); n != 0 {
		t.Error("recording a disclosure created a record")
	}
	// A malformed id costs nothing and records nothing.
	rtt.Reset()
	if err := f.svc.RecordDisclosure(ctx, Disclosure{Grant: Grant{VerificationID: "nope"}, ClientID: "tool-b"}); !errors.Is(err, ErrRevoked) || rtt.Load() != 0 {
		t.Errorf("malformed id: %v after %d round trips", err, rtt.Load())
	}

	msgs := auditEntries(t, f.rdb, audit.StreamKey("", false))
	var got []map[string]any
	for _, m := range msgs {
		if k := m.Values["k"]; k == audit.DisclosureAllowed || k == audit.DisclosureDenied {
			got = append(got, m.Values)
		}
	}
	pk := f.rdb.HGet(ctx, identity.CustomerKeyFor(f.svc.keys, "cust-42"), "pk").Val()
	u := audit.Pseudonym(pk, identity.CustomerHash(f.svc.keys, "cust-42"))
	want := []map[string]string{
		{"k": audit.DisclosureAllowed, "c": "tool-b", "v": id, "o": "order_status@dm", "a": "agent-7", "m": "otp_email", "u": u},
		{"k": audit.DisclosureDenied, "c": "tool-b", "v": id, "o": "shipping_address@dm", "r": "level_too_low", "u": u},
		{"k": audit.DisclosureDenied, "c": "tool-b", "v": id, "o": "order_status@dm", "r": "revoked", "u": u},
		{"k": audit.DisclosureDenied, "c": "tool-b", "v": gone, "o": "order_status@dm", "r": "revoked"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d disclosure events, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("event %d: %s = %v, want %q (%v)", i, k, got[i][k], v, got[i])
			}
		}
	}
	if _, ok := got[0]["r"]; ok {
		t.Errorf("an allowed disclosure carries a reason: %v", got[0])
	}
	if _, ok := got[3]["u"]; ok {
		t.Errorf("the event of a missing record names a customer: %v", got[3])
	}
}

// A replayed disclosure script (go-redis resending it after a lost reply) writes
// no second event; another call writes its own.
func TestRecordDisclosureReplayWritesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id := f.verifiedOTP()
	run := func(token, class string) {
		t.Helper()
		reply, err := f.svc.store.run(ctx, discloseScript, []string{recordKey(id)}, ms(f.clock.Now()),
			token, "tool-b", class+"@dm", "1", "")
		if err != nil || status(reply) != "allowed" {
			t.Fatalf("disclose: %v, %v", reply, err)
		}
	}
	run("call-1", "order_status")
	run("call-1", "order_status") // the replay
	run("call-2", "order_status") // another call
	n := 0
	for _, m := range auditEntries(t, f.rdb, audit.StreamKey("", false)) {
		if m.Values["k"] == audit.DisclosureAllowed {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d events for two calls, one replayed", n)
	}
}

// Under lost replies, every call that answers records its decision exactly once
// and no call records it twice.
func TestRecordDisclosureUnderLostReplies(t *testing.T) {
	t.Parallel()
	f := newFaultFixture(t, Config{}, 21)
	ctx := context.Background()
	res := f.startClean(f.startReq(OTPEmail, email))
	id := res.Verification.ID
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.sink.code(id), "n", ""); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode: %+v, %v", r, err)
	}
	const calls = 100
	answered := map[string]bool{}
	f.proxy.DropReplies(dropRate)
	for i := range calls {
		class := fmt.Sprint("class_", i)
		err := f.svc.RecordDisclosure(ctx, Disclosure{Grant: f.grant(id), ClientID: "tool-b", DataClass: class, Channel: "dm", Allowed: true})
		switch {
		case err == nil:
			answered[class+"@dm"] = true
		case !errors.Is(err, ErrUnavailable):
			t.Fatalf("call %d: %v", i, err)
		}
	}
	f.proxy.DropReplies(0)
	mustHaveDropped(t, f.proxy)
	seen := map[string]int{}
	for _, m := range auditEntries(t, f.direct, audit.StreamKey("", false)) {
		if m.Values["k"] == audit.DisclosureAllowed {
			seen[m.Values["o"].(string)]++
		}
	}
	for o, n := range seen {
		if n > 1 {
			t.Errorf("%s recorded %d times", o, n)
		}
	}
	for o := range answered {
		if seen[o] != 1 {
			t.Errorf("%s answered but recorded %d times", o, seen[o])
		}
	}
}
