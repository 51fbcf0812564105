package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
)

// An offer left unredeemed gets exactly one 'handover_expired' audit entry once its time ran
// out, however many Lapsers run; a redeemed one gets none, and a replaced one none of its own
// (its verification's entry comes when the newer offer runs out). The entry becomes the
// platform's com.authsvc.handover.expired event, with ids and the kind only.
func TestLapserExpiresUnredeemedHandovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	n := 0
	start := func() string {
		n++
		r := f.startReq(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("hol%d@example.com", n)})
		r.Identity.UserID = fmt.Sprint(8000 + n)
		r.CustomerID = fmt.Sprint("cust-h", n)
		r.TTL = 30 * time.Minute
		res, err := f.svc.Start(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return res.Verification.ID
	}
	create := func(vid string, kind HandoverKind, reqID string) *Handover {
		req := HandoverRequest{ClientID: "platform-a", VerificationID: vid, Kind: kind, Channel: "app",
			Redeemer: channelClient, RequestID: reqID}
		if kind == HandoverPhone {
			req.Channel, req.Redeemer = "", ivrClient
		}
		h, err := f.svc.CreateHandover(ctx, req)
		if err != nil {
			t.Fatalf("CreateHandover: %v", err)
		}
		return h
	}
	leftPhone, leftChannel, redeemed, replaced := start(), start(), start(), start()
	lp := create(leftPhone, HandoverPhone, "r1")
	create(leftChannel, HandoverSecureChannel, "r1")
	rh := create(redeemed, HandoverPhone, "r1")
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, f.svc.callCode(rh.ID), ""); err != nil {
		t.Fatalf("RedeemCallCode: %v", err)
	}
	create(replaced, HandoverPhone, "r1")

	runLapser(t, f)
	runLapser(t, f) // a second replica
	time.Sleep(50 * time.Millisecond)
	f.clock.Advance(5 * time.Minute)
	// The replacement runs out 5 minutes after the offer it replaced.
	newer := create(replaced, HandoverSecureChannel, "r2")
	time.Sleep(50 * time.Millisecond)
	if n := countKind(t, f, audit.HandoverExpired); n != 0 {
		t.Fatalf("%d handover_expired entries before any offer ran out", n)
	}

	f.clock.Advance(6 * time.Minute)
	waitFor(t, "the left offers' handover_expired entries", func() error {
		if n := countKind(t, f, audit.HandoverExpired); n != 2 {
			return fmt.Errorf("%d handover_expired entries", n)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // more passes of both Lapsers: nothing twice
	msgs := auditEntries(t, f.rdb, "audit:events")
	for id, m := range map[string]string{leftPhone: "phone", leftChannel: "secure_channel"} {
		var got []redis.XMessage
		for _, e := range msgs {
			if e.Values["v"] == id && e.Values["k"] == audit.HandoverExpired {
				got = append(got, e)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s: %d handover_expired entries", id, len(got))
		}
		if c, mm := got[0].Values["c"], got[0].Values["m"]; c != "platform-a" || mm != m {
			t.Errorf("%s: c %v, m %v", id, c, mm)
		}
		if _, ok := got[0].Values["r"]; ok {
			t.Errorf("%s: a reason %v", id, got[0].Values["r"])
		}
	}
	for _, id := range []string{redeemed, replaced} {
		if slices.Contains(kindsOf(msgs, id), audit.HandoverExpired) {
			t.Errorf("%s got a handover_expired entry: %v", id, kindsOf(msgs, id))
		}
	}
	// The marker changes nothing a caller sees: the offer reads and refuses as expired.
	if h, err := f.svc.GetHandover(ctx, "platform-a", lp.ID); err != nil || h.State != HandoverExpired {
		t.Errorf("GetHandover = %+v, %v", h, err)
	}
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, f.svc.callCode(lp.ID), ""); !errors.Is(err, ErrHandoverExpired) && !errors.Is(err, ErrNotFound) {
		t.Errorf("a late call code: %v", err)
	}

	f.clock.Advance(5 * time.Minute)
	waitFor(t, "the replacement's handover_expired entry", func() error {
		if got := kindsOf(auditEntries(t, f.rdb, "audit:events"), replaced); !slices.Contains(got, audit.HandoverExpired) {
			return fmt.Errorf("events %v", got)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond)
	msgs = auditEntries(t, f.rdb, "audit:events")
	if n := countKind(t, f, audit.HandoverExpired); n != 3 {
		t.Errorf("%d handover_expired entries, want 3", n)
	}
	var last redis.XMessage
	for _, e := range msgs {
		if e.Values["v"] == replaced && e.Values["k"] == audit.HandoverExpired {
			last = e
		}
	}
	if last.Values["m"] != "secure_channel" {
		t.Errorf("the replacement's entry: %v (handover %s)", last.Values, newer.ID)
	}

	// What the platform gets: com.authsvc.handover.expired, to the client that started it.
	e, err := audit.ParseEntry(last)
	if err != nil {
		t.Fatal(err)
	}
	starter, err := f.svc.StartedBy(ctx, replaced)
	if err != nil {
		t.Fatal(err)
	}
	msg, ok, err := events.Render("https://verify.test", "audit:events", e, starter)
	if err != nil || !ok || msg.Type != "com.authsvc.handover.expired" || msg.Client != "platform-a" {
		t.Fatalf("Render = %+v, %v, %v", msg, ok, err)
	}
	var ce event.Event
	if err := json.Unmarshal(msg.Body, &ce); err != nil {
		t.Fatal(err)
	}
	var d events.Data
	if err := ce.DataAs(&d); err != nil || d.VerificationID != replaced || d.ClientID != "platform-a" ||
		d.ActorClientID != "" || d.Method != "secure_channel" || d.Reason != "" {
		t.Errorf("data %+v, %v", d, err)
	}
}

// A bound secure-channel code runs out at the code's expiry, not the offer's: before it,
// nothing; after it, one entry.
func TestLapserExpiresBoundHandoverAtCodeExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res, _ := f.verifiedInBrowser()
	h := f.handover(res.Verification.ID, HandoverSecureChannel)
	runLapser(t, f)
	f.clock.Advance(9 * time.Minute)
	if _, err := f.svc.BindHandover(ctx, h.ID, f.svc.BindState(h.ID, "b1"), testChallenge, "b1", []string{"app"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(90 * time.Second) // past the offer, within the code's 2 minutes
	time.Sleep(100 * time.Millisecond)
	if n := countKind(t, f, audit.HandoverExpired); n != 0 {
		t.Fatalf("%d handover_expired entries while the bound code is live", n)
	}
	f.clock.Advance(time.Minute)
	waitFor(t, "the bound code's handover_expired entry", func() error {
		if n := countKind(t, f, audit.HandoverExpired); n != 1 {
			return fmt.Errorf("%d handover_expired entries", n)
		}
		return nil
	})
}
