package events_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// The receiver is down for 30 s (of the service clock, compressed: the backoffs are
// milliseconds), then up: every event arrives, none is lost, a duplicate only ever carries the
// id it had, every signature verifies with the Standard Webhooks library, and the entries that
// are not events (started, sent, …) are acknowledged without a delivery.
func TestReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	rcv := newReceiver(t, testSecret)
	rcv.down.Store(true)

	reg := prometheus.NewRegistry()
	cfg := fast("a", shared)
	cfg.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), reg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)

	var want []string
	for _, kind := range []string{audit.Verified, audit.Failed, audit.Expired, audit.Canceled, audit.Reported} {
		want = append(want, write(t, w, shared, 3, 4, "crm", kind)...)
	}
	write(t, w, shared, 2, 5, "crm", audit.Started)     // not events
	write(t, w, shared, 1, 3, "nobody", audit.Verified) // no endpoint
	eventually(t, "attempts fail while the receiver is down", func() error {
		if n := counter(t, reg, "authsvc_events_attempt_failures_total", "reason", "status"); n < 10 {
			return fmt.Errorf("%v failed attempts", n)
		}
		return nil
	})
	if got := rcv.received(); len(got) != 0 {
		t.Fatalf("delivered while down: %v", got)
	}
	clock.Advance(30 * time.Second)
	more := write(t, w, shared, 2, 3, "crm", audit.Verified) // written during the outage
	want = append(want, more...)
	rcv.down.Store(false)
	eventually(t, "every event delivered once the receiver is up", func() error {
		return allDelivered(rcv.received(), want)
	})
	eventually(t, "every entry acknowledged", func() error {
		p, err := rdb.XPending(ctx, shared, events.Group).Result()
		if err != nil {
			return err
		}
		if p.Count != 0 {
			return fmt.Errorf("%d pending", p.Count)
		}
		return nil
	})
	if n := counter(t, reg, "authsvc_events_total", "outcome", "delivered"); n < float64(len(want)) {
		t.Errorf("delivered counter %v, want >= %d", n, len(want))
	}
	if n := counter(t, reg, "authsvc_events_total", "outcome", "unrouted"); n != 3 {
		t.Errorf("unrouted counter %v, want 3", n)
	}
}

// A replica killed in the middle of its deliveries leaves them pending; another replica
// claims them once they have sat untouched for ClaimIdle and delivers them.
func TestKilledReplicaMidDelivery(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	rcv := newReceiver(t, testSecret)
	hang := make(chan struct{})
	rcv.hang.Store(&hang)

	cfgA := fast("a", shared)
	cfgA.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
	cfgA.Drain = time.Millisecond
	a, err := events.New(cfgA, rdb, clock.Now, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ra := run(t, a)
	want := write(t, w, shared, 2, 10, "crm", audit.Verified)
	eventually(t, "replica a holds every event", func() error {
		p, err := rdb.XPending(ctx, shared, events.Group).Result()
		if err != nil {
			return err
		}
		if p.Count != int64(len(want)) || p.Consumers["a"] != int64(len(want)) {
			return fmt.Errorf("pending %+v", p)
		}
		return nil
	})
	ra.stop() // killed: its requests in flight are cut off, nothing is acknowledged
	rcv.hang.Store(nil)
	close(hang)
	if got := rcv.received(); len(got) != 0 {
		t.Fatalf("delivered by the killed replica: %v", got)
	}

	cfgB := fast("b", shared)
	cfgB.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
	cfgB.ClaimIdle = 300 * time.Millisecond
	b, err := events.New(cfgB, rdb, clock.Now, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)
	eventually(t, "replica b delivers what a held", func() error {
		return allDelivered(rcv.received(), want)
	})
	eventually(t, "nothing pending", func() error {
		p, err := rdb.XPending(ctx, shared, events.Group).Result()
		if err != nil {
			return err
		}
		if p.Count != 0 {
			return fmt.Errorf("pending %+v", p)
		}
		return nil
	})
}

// A live replica that retries for longer than ClaimIdle keeps its events: it touches them, so
// no other replica claims them while it lives.
func TestLiveReplicaKeepsItsEvents(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	rcv := newReceiver(t, testSecret)
	rcv.down.Store(true)
	var ds []*events.Dispatcher
	for _, name := range []string{"a", "b"} {
		cfg := fast(name, shared)
		cfg.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
		cfg.ClaimIdle = 150 * time.Millisecond
		d, err := events.New(cfg, rdb, clock.Now, quiet(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	run(t, ds[0])
	want := write(t, w, shared, 1, 5, "crm", audit.Verified)
	eventually(t, "a holds them", func() error {
		p, err := rdb.XPending(ctx, shared, events.Group).Result()
		if err != nil || p.Consumers["a"] != 5 {
			return fmt.Errorf("pending %+v, %w", p, err)
		}
		return nil
	})
	run(t, ds[1])
	time.Sleep(600 * time.Millisecond) // four ClaimIdles
	p, err := rdb.XPending(ctx, shared, events.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Consumers["b"] != 0 {
		t.Errorf("b claimed events a holds and retries: %+v", p)
	}
	rcv.down.Store(false)
	eventually(t, "delivered", func() error { return allDelivered(rcv.received(), want) })
}

// One dead endpoint does not hold up another: with a queue of 3, the dead one's further events
// are parked in Redis, the live one gets all of its own, and once the dead one is back its
// parked events arrive too.
func TestDeadEndpointDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	dead, live := newReceiver(t, testSecret), newReceiver(t, testSecret)
	dead.down.Store(true)
	reg := prometheus.NewRegistry()
	cfg := fast("a", shared)
	cfg.Queue = 3
	cfg.Concurrency = 2
	cfg.Endpoints = []events.Endpoint{dead.endpoint("dead"), live.endpoint("live")}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), reg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	var wantDead, wantLive []string
	for range 3 {
		wantDead = append(wantDead, write(t, w, shared, 2, 5, "dead", audit.Verified)...)
		wantLive = append(wantLive, write(t, w, shared, 1, 5, "live", audit.Canceled)...)
	}
	eventually(t, "the live endpoint gets all of its events", func() error {
		return allDelivered(live.received(), wantLive)
	})
	if n := counter(t, reg, "authsvc_events_backlog"); n == 0 {
		eventually(t, "the backlog shows the dead endpoint's events", func() error {
			if n := counter(t, reg, "authsvc_events_backlog"); n < float64(len(wantDead)) {
				return fmt.Errorf("backlog %v", n)
			}
			return nil
		})
	}
	dead.down.Store(false)
	eventually(t, "the dead endpoint, back, gets its parked events too", func() error {
		return allDelivered(dead.received(), wantDead)
	})
}

// An event not delivered within MaxAge is given up: acknowledged, counted, never sent.
func TestGivenUpAfterMaxAge(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	rcv := newReceiver(t, testSecret)
	rcv.down.Store(true)
	reg := prometheus.NewRegistry()
	cfg := fast("a", shared)
	cfg.MaxAge = time.Hour
	cfg.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), reg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	write(t, w, shared, 1, 4, "crm", audit.Expired)
	eventually(t, "attempts fail", func() error {
		if n := counter(t, reg, "authsvc_events_attempt_failures_total", "reason", "status"); n < 4 {
			return fmt.Errorf("%v failed attempts", n)
		}
		return nil
	})
	clock.Advance(time.Hour + time.Minute)
	eventually(t, "given up and acknowledged", func() error {
		if n := counter(t, reg, "authsvc_events_total", "outcome", "given_up"); n != 4 {
			return fmt.Errorf("given up %v", n)
		}
		p, err := rdb.XPending(ctx, shared, events.Group).Result()
		if err != nil || p.Count != 0 {
			return fmt.Errorf("pending %+v, %w", p, err)
		}
		return nil
	})
	rcv.down.Store(false)
	time.Sleep(50 * time.Millisecond)
	if got := rcv.received(); len(got) != 0 {
		t.Errorf("given-up events delivered: %v", got)
	}
}

// Events are enabled from the moment the group is first created: the buffer's history is not
// replayed, and what is written afterwards arrives.
func TestEnablingSendsNoHistory(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	write(t, w, shared, 1, 5, "crm", audit.Verified)
	clock.Advance(time.Second)
	rcv := newReceiver(t, testSecret)
	cfg := fast("a", shared)
	cfg.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	eventually(t, "the group exists", func() error {
		gs, err := rdb.XInfoGroups(context.Background(), shared).Result()
		if err != nil || !slices.ContainsFunc(gs, func(g redisGroup) bool { return g.Name == events.Group }) {
			return fmt.Errorf("groups %v, %w", gs, err)
		}
		return nil
	})
	clock.Advance(time.Second)
	want := write(t, w, shared, 1, 3, "crm", audit.Verified)
	eventually(t, "new events delivered, old ones not", func() error { return allDelivered(rcv.received(), want) })
}

// On Redis Cluster each hash tag's stream is swept, and the group is created on the streams
// that appear after the dispatcher started.
func TestClusterSweepsEveryTag(t *testing.T) {
	t.Parallel()
	rdb := redistest.StartCluster(t, 3).Client(t)
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	var streams []string
	for _, tag := range identity.Tags() {
		streams = append(streams, audit.StreamKey(tag, true))
	}
	streams = append(streams, shared)
	rcv := newReceiver(t, testSecret)
	cfg := fast("a", streams...)
	cfg.Endpoints = []events.Endpoint{rcv.endpoint("crm")}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	// Let the first maintenance pass record when events were enabled.
	eventually(t, "events enabled", func() error {
		return rdb.Get(context.Background(), "events:since").Err()
	})
	clock.Advance(time.Second)
	var want []string
	for i, tag := range []string{"aaa", "p77", "hq2", "kzz", "b3m", "nnn"} {
		want = append(want, write(t, w, audit.StreamKey(tag, true), 2, 2+i, "crm", audit.Verified)...)
	}
	eventually(t, "every tag's events delivered", func() error { return allDelivered(rcv.received(), want) })
	for id := range rcv.received() {
		if !strings.HasPrefix(id, "v:{") {
			t.Errorf("event id %q does not name its stream", id)
		}
	}
}

// A receiver answering 429 with Retry-After is not asked again before then (up to MaxBackoff).
func TestRetryAfterHeeded(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	var attempts []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		if len(attempts) == 1 {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	cfg := fast("a", shared)
	cfg.Concurrency = 1
	cfg.MaxBackoff = 2 * time.Second
	cfg.Endpoints = []events.Endpoint{{Client: "crm", URL: srv.URL, Secret: testSecret}}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	write(t, w, shared, 1, 1, "crm", audit.Verified)
	eventually(t, "delivered on the second attempt", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(attempts) < 2 {
			return fmt.Errorf("%d attempts", len(attempts))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if gap := attempts[1].Sub(attempts[0]); gap < 900*time.Millisecond {
		t.Errorf("asked again after %s despite Retry-After: 1", gap)
	}
}

// An SMS breaker's trip goes to the deployment client's endpoint (the fraud team's receiver),
// once, beside the verification events of that client; with no deployment client configured
// it is acknowledged undelivered, and nothing else is held up.
func TestBreakerEventsToTheDeploymentClient(t *testing.T) {
	t.Parallel()
	for _, to := range []string{"fraud", ""} {
		rdb := redistest.Start(t).Client(t)
		clock := fakeclock.New(t0)
		w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
		fraud, platform := newReceiver(t, testSecret), newReceiver(t, testSecret)
		cfg := fast("a", shared)
		cfg.Endpoints = []events.Endpoint{fraud.endpoint("fraud"), platform.endpoint("platform")}
		cfg.DeploymentClient = to
		d, err := events.New(cfg, rdb, clock.Now, quiet(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		run(t, d)
		var trips []string
		for _, kind := range []string{audit.BreakerTripped, audit.BreakerReleased} {
			id, err := w.Append(context.Background(), shared, audit.Event{Kind: kind, Reason: "prefix",
				Outcome: "enforce", Destination: "+4479****"})
			if err != nil {
				t.Fatal(err)
			}
			trips = append(trips, shared+"/"+id)
		}
		verified := write(t, w, shared, 1, 3, "platform", audit.Verified)
		eventually(t, "the platform's own events", func() error { return allDelivered(platform.received(), verified) })
		if to == "" {
			if got := fraud.received(); len(got) != 0 {
				t.Errorf("no deployment client, yet %v delivered", got)
			}
			continue
		}
		eventually(t, "the breaker events reach the deployment client", func() error {
			return allDelivered(fraud.received(), trips)
		})
	}
}

// A handover step's entry names the client that acted (the channel's backend, the IVR, or a
// refused foreign client): its event goes to the client that started the verification, and
// when that can no longer be known (the record expired or was erased) it goes nowhere, never
// to the actor.
func TestHandoverStepsGoToTheStarterOnly(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 144*time.Hour, clock.Now)
	platform, channel := newReceiver(t, testSecret), newReceiver(t, testSecret)
	cfg := fast("a", shared)
	cfg.Endpoints = []events.Endpoint{platform.endpoint("platform"), channel.endpoint("channel")}
	cfg.StartedBy = func(_ context.Context, vid string) (string, error) {
		if vid == "abc-known" {
			return "platform", nil
		}
		return "", nil
	}
	d, err := events.New(cfg, rdb, clock.Now, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	var want []string
	for _, vid := range []string{"abc-gone", "abc-known"} {
		for _, kind := range []string{events.HandoverRedeemed, events.HandoverRefused} {
			id, err := w.Append(context.Background(), shared, audit.Event{Kind: kind, ClientID: "channel",
				VerificationID: vid, Method: "phone", Reason: "client"})
			if err != nil {
				t.Fatal(err)
			}
			if vid == "abc-known" {
				want = append(want, shared+"/"+id)
			}
		}
	}
	// The platform's own event after them: once it arrives, the earlier entries were routed.
	want = append(want, write(t, w, shared, 1, 1, "platform", audit.Verified)...)
	eventually(t, "the platform gets its handover steps", func() error { return allDelivered(platform.received(), want) })
	if got := channel.received(); len(got) != 0 {
		t.Errorf("the acting client received the platform's handover events: %v", got)
	}
}
