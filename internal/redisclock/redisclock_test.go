package redisclock

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/redistest"
)

var quiet = slog.New(slog.DiscardHandler)

// server is a reference clock whose answers take rtt on the local clock local:
// half the round trip before it reads its time, half after. down makes it fail.
type server struct {
	ref, local *fakeclock.Clock
	rtt        atomic.Int64
	down       atomic.Bool
	calls      atomic.Int64
}

func (s *server) time(context.Context) (time.Time, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return time.Time{}, errors.New("connection refused")
	}
	half := time.Duration(s.rtt.Load()) / 2
	s.local.Advance(half)
	s.ref.Advance(half)
	t := s.ref.Now()
	s.local.Advance(half)
	s.ref.Advance(half)
	return t, nil
}

// advance moves both clocks, as time passing between calls.
func (s *server) advance(d time.Duration) {
	s.local.Advance(d)
	s.ref.Advance(d)
}

func newServer(skew, rtt time.Duration) *server {
	ref := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s := &server{ref: fakeclock.New(ref), local: fakeclock.New(ref.Add(skew))}
	s.rtt.Store(int64(rtt))
	return s
}

func within(t *testing.T, what string, got, want time.Time, tol time.Duration) {
	t.Helper()
	if d := got.Sub(want); d > tol || d < -tol {
		t.Errorf("%s: %v, want %v ± %v (off by %v)", what, got, want, tol, d)
	}
}

// A replica's clock 2 s ahead (or behind) reads Redis's time, within half the
// round trip, and keeps reading it as time passes.
func TestNowFollowsTheServerNotTheLocalClock(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{2 * time.Second, -2 * time.Second, 0, 90 * time.Minute} {
		s := newServer(skew, 8*time.Millisecond)
		c, err := New(context.Background(), s.time, s.local.Now, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		within(t, "after the first sample", c.Now(), s.ref.Now(), 4*time.Millisecond+timeResolution)
		// Half the round trip, and the rate allowance for the two samples since.
		if u := c.Uncertainty(); u < 4*time.Millisecond || u > 4*time.Millisecond+100*time.Microsecond {
			t.Errorf("uncertainty %v, want half the round trip", u)
		}
		s.advance(10 * time.Minute)
		within(t, "10 min later", c.Now(), s.ref.Now(), 5*time.Millisecond)
	}
}

// The offset a sample finds is bounded by the round trip: whatever the moment the
// server read its clock within it, Now is off by at most half of it.
func TestSampleBoundedByRoundTrip(t *testing.T) {
	t.Parallel()
	ref := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, 25 * time.Millisecond, 50 * time.Millisecond} {
		refc, local := fakeclock.New(ref), fakeclock.New(ref.Add(2*time.Second))
		src := func(context.Context) (time.Time, error) {
			// The server reads its clock at `at` into a 50 ms round trip.
			refc.Advance(at)
			local.Advance(at)
			t := refc.Now()
			refc.Advance(50*time.Millisecond - at)
			local.Advance(50*time.Millisecond - at)
			return t, nil
		}
		c, err := New(context.Background(), src, local.Now, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		within(t, "Now", c.Now(), refc.Now(), c.Uncertainty())
		if u := c.Uncertainty(); u > 25*time.Millisecond+100*time.Microsecond {
			t.Errorf("uncertainty %v, want at most half the 50 ms round trip", u)
		}
	}
}

// When Redis cannot be reached the clock keeps its last sample and carries on from
// it; the first sample, though, is required.
func TestUnreachableKeepsLastSample(t *testing.T) {
	t.Parallel()
	s := newServer(2*time.Second, 2*time.Millisecond)
	reg := prometheus.NewRegistry()
	c, err := New(context.Background(), s.time, s.local.Now, quiet, reg)
	if err != nil {
		t.Fatal(err)
	}
	s.down.Store(true)
	s.advance(time.Minute)
	if err := c.Sync(context.Background()); err == nil {
		t.Fatal("Sync with Redis down: no error")
	}
	within(t, "a minute into the outage", c.Now(), s.ref.Now(), 2*time.Millisecond)
	c.noteSync(errors.New("down"))
	if got := gather(t, reg, "authsvc_redis_clock_sync_failures_total"); got != 1 {
		t.Errorf("sync failures = %v, want 1", got)
	}
	if got := gather(t, reg, "authsvc_redis_clock_offset_seconds"); got != -2 {
		t.Errorf("offset metric = %v, want -2 (Redis is 2 s behind this replica)", got)
	}
	// A minute at 500 ppm: 30 ms more uncertainty.
	if u := c.Uncertainty(); u < 30*time.Millisecond || u > 32*time.Millisecond {
		t.Errorf("uncertainty a minute after the last sample: %v", u)
	}

	if _, err := New(context.Background(), s.time, s.local.Now, quiet, nil); err == nil {
		t.Fatal("New with Redis down: no error")
	}
}

// gather reads the value of the metric name (a counter or gauge) from reg.
func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A sync keeps its shortest round trip, and a slow answer does not replace a
// tighter sample until the tighter one has aged past it.
func TestNoisySampleDoesNotWorsenTheClock(t *testing.T) {
	t.Parallel()
	s := newServer(2*time.Second, 2*time.Millisecond)
	c, err := New(context.Background(), s.time, s.local.Now, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept := c.a.Load()
	// The server's clock moved 40 ms under us (say, a step), but answers slowly: a
	// 400 ms round trip bounds the sample to ±200 ms, worse than the kept one aged
	// a minute (1 ms + 30 ms).
	s.ref.Advance(40 * time.Millisecond)
	s.rtt.Store(int64(400 * time.Millisecond))
	s.advance(time.Minute)
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.a.Load() != kept {
		t.Fatal("a sample bounded to ±200 ms replaced one bounded to ±31 ms")
	}
	// Fast again: the step is taken up.
	s.rtt.Store(int64(2 * time.Millisecond))
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	within(t, "after a fast sample", c.Now(), s.ref.Now(), 2*time.Millisecond)
}

// Run samples every interval until its context ends.
func TestRunSamplesPeriodically(t *testing.T) {
	t.Parallel()
	s := newServer(0, time.Millisecond)
	c, err := New(context.Background(), s.time, s.local.Now, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := s.calls.Load()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 5*time.Millisecond)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.calls.Load() < first+2*samplesPerSync && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if s.calls.Load() < first+2*samplesPerSync {
		t.Fatalf("Run sampled %d times in 5 s", s.calls.Load()-first)
	}
}

// Against a real redis-server, standalone and Cluster: a replica whose own clock
// is 2 s ahead reads the server's time (the same host's clock here) to within a
// few milliseconds, and keeps doing so while the server is cut off.
func TestRealRedis(t *testing.T) {
	t.Parallel()
	ahead := func() time.Time { return time.Now().Add(2 * time.Second) }
	check := func(t *testing.T, rdb redis.UniversalClient) {
		c, err := New(context.Background(), TimeOf(rdb), ahead, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		within(t, "Now", c.Now(), time.Now(), 50*time.Millisecond)
		if u := c.Uncertainty(); u > 50*time.Millisecond {
			t.Errorf("uncertainty %v on a local redis-server", u)
		}
	}
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		check(t, srv.Client(t))

		// Through a proxy that is then cut: the clock carries on.
		p := redistest.NewProxy(t, srv.Addr())
		rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
			ReadTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rdb.Close() })
		c, err := New(context.Background(), TimeOf(rdb), ahead, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.Cut()
		if err := c.Sync(context.Background()); err == nil {
			t.Fatal("Sync through a cut proxy: no error")
		}
		within(t, "Now while Redis is cut off", c.Now(), time.Now(), 50*time.Millisecond)
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		check(t, redistest.StartCluster(t, 3).Client(t))
	})
}
