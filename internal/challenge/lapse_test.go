package challenge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// runLapser runs a Lapser of f's service over the one stream until the test ends.
func runLapser(t *testing.T, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := f.svc.NewLapser(LapseConfig{Streams: []string{"audit:events"}, Sweep: 5 * time.Millisecond, Batch: 3})
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A verification left to expire by its TTL, which no script touches, still gets its 'expired'
// audit event (and so its event to the platform), once, in the script that makes the expiry
// durable; verifications that ended otherwise, or that are not due yet, get none.
func TestLapserExpiresUntouchedVerifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	n := 0
	start := func(ttl time.Duration) *StartResult {
		n++
		r := f.startReq(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("lapse%d@example.com", n)})
		r.Identity.UserID = fmt.Sprint(9000 + n)
		r.CustomerID = fmt.Sprint("cust-l", n)
		r.TTL = ttl
		res, err := f.svc.Start(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	short := func() string { return start(time.Minute).Verification.ID }
	left := []string{short(), short(), short(), short()}
	v := start(time.Minute)
	verified := v.Verification.ID
	if res, err := f.svc.SubmitCode(ctx, pageToken(t, v), f.code(verified), "r1", ""); err != nil || f.get(verified).State != Verified {
		t.Fatalf("submit: %+v, %v", res, err)
	}
	canceled := short()
	if _, err := f.svc.Cancel(ctx, "platform-a", canceled, "c1"); err != nil {
		t.Fatal(err)
	}
	later := start(30 * time.Minute)

	runLapser(t, f)
	time.Sleep(50 * time.Millisecond)
	if n := countKind(t, f, audit.Expired); n != 0 {
		t.Fatalf("%d expired events before any expiry", n)
	}
	f.clock.Advance(2 * time.Minute)
	// (Get already answers EXPIRED past the expiry; the event is what the lapser adds.)
	waitFor(t, "every untouched verification's expired event", func() error {
		if n := countKind(t, f, audit.Expired); n != len(left) {
			return fmt.Errorf("%d expired events", n)
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond) // more passes: nothing is expired twice
	msgs := auditEntries(t, f.rdb, "audit:events")
	for _, id := range left {
		if got := kindsOf(msgs, id); !slices.Equal(got, []string{"started", "sent", "expired"}) {
			t.Errorf("%s: events %v", id, got)
		}
	}
	for _, id := range []string{verified, canceled, later.Verification.ID} {
		if slices.Contains(kindsOf(msgs, id), "expired") {
			t.Errorf("%s got an expired event", id)
		}
	}
	if st := f.get(later.Verification.ID).State; st != Pending {
		t.Errorf("the 30-minute verification is %v", st)
	}
	f.clock.Advance(30 * time.Minute)
	waitFor(t, "the longer one expires at its own expiry", func() error {
		if got := kindsOf(auditEntries(t, f.rdb, "audit:events"), later.Verification.ID); !slices.Contains(got, "expired") {
			return fmt.Errorf("events %v", got)
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond)
	if n := countKind(t, f, audit.Expired); n != len(left)+1 {
		t.Errorf("%d expired events, want %d", n, len(left)+1)
	}
}

// A replica started after the expiry (every one was down) reads the window back and still
// expires them while their records exist.
func TestLapserStartedLate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r := f.startReq(OTPSMS, phone)
	r.TTL = time.Minute
	res, err := f.svc.Start(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(20 * time.Minute)
	runLapser(t, f)
	waitFor(t, "expired", func() error {
		if n := countKind(t, f, audit.Expired); n != 1 {
			return fmt.Errorf("%d expired events", n)
		}
		return nil
	})
	if got := kindsOf(auditEntries(t, f.rdb, "audit:events"), res.Verification.ID); got[len(got)-1] != "expired" {
		t.Errorf("events %v", got)
	}
}

func countKind(t *testing.T, f *fixture, kind string) int {
	t.Helper()
	n := 0
	for _, m := range auditEntries(t, f.rdb, "audit:events") {
		if m.Values["k"] == kind {
			n++
		}
	}
	return n
}

// On Cluster the lapser reads every tag's stream and expires each verification in a script on
// its own tag's slot, its event on that tag's stream.
func TestLapserOnCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	rdb := cluster.Client(t)
	f := newFixtureOn(t, nil, rdb, true)
	ctx := context.Background()
	var ids []string
	for i := range 4 {
		r := f.startReq(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("cl%d@example.com", i)})
		r.Identity.UserID = fmt.Sprint(7000 + i)
		r.CustomerID = fmt.Sprint("cust-c", i)
		r.TTL = time.Minute
		res, err := f.svc.Start(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Verification.ID)
	}
	var streams []string
	for _, tag := range identity.Tags() {
		streams = append(streams, audit.StreamKey(tag, true))
	}
	lctx, cancel := context.WithCancel(ctx)
	l := f.svc.NewLapser(LapseConfig{Streams: streams, Sweep: 10 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); l.Run(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f.clock.Advance(2 * time.Minute)
	waitFor(t, "each verification's expired event on its tag's stream", func() error {
		for _, id := range ids {
			tag, _, _ := strings.Cut(id, "-")
			if got := kindsOf(auditEntries(t, rdb, audit.StreamKey(tag, true)), id); !slices.Equal(got, []string{"started", "sent", "expired"}) {
				return fmt.Errorf("%s: %v", id, got)
			}
		}
		return nil
	})
}

// StartedBy names the client that started a verification, "" once it is gone.
func TestStartedBy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.start(OTPEmail, email)
	ctx := context.Background()
	if got, err := f.svc.StartedBy(ctx, res.Verification.ID); err != nil || got != "platform-a" {
		t.Fatalf("StartedBy = %q, %v", got, err)
	}
	if got, err := f.svc.StartedBy(ctx, "zzz-AAAAAAAAAAAAAAAA"); err != nil || got != "" {
		t.Fatalf("StartedBy of nothing = %q, %v", got, err)
	}
}
