// Package redisclock provides the one clock every authsvc replica decides by:
// Redis's, as TIME reports it, carried forward between samples on the replica's
// monotonic clock.
//
// Replicas compare times that other replicas wrote: a verification's creation and
// expiry, a factor's enrollment time (a factor enrolled after a verification started
// can never complete it), a lock's end, a ceremony's deadline, a form nonce's issue
// time, an assertion's issue time. The Lua scripts take the time as an argument
// (they never read TIME, so tests can drive them with a fake clock), so before this
// package each replica passed its own wall clock, and two replicas 2 s apart could
// let a factor enrolled just after a start complete it, or expire and unlock 2 s
// early or late. Through a Clock, every replica passes the same time, whatever its
// own wall clock says.
//
// # Contract
//
//   - Now is T + (local() − L): T is what TIME answered in the sample kept (the
//     anchor), L the local clock's reading at the midpoint of that sample's round
//     trip. With time.Now as the local clock the difference is taken on the
//     monotonic clock, so the replica's wall clock, and any step NTP makes to it,
//     play no part at all.
//   - Each sample is bounded by its round trip: Now is off from the server's
//     clock by at most half the round trip (plus TIME's microsecond), plus the
//     local clock's rate error since the sample (taken as at most 500 ppm: 30 ms a
//     minute, in practice far less). Uncertainty reports that bound.
//   - New samples at once and fails when Redis does not answer; Run samples again
//     every interval. A sync takes several samples and keeps the one with the
//     shortest round trip, and it replaces the anchor only when its bound is no
//     worse than the anchor's bound aged by the rate allowance: a slow answer
//     does not make the clock worse.
//   - When Redis cannot be reached the clock keeps its last anchor and carries on
//     from it; there is nothing else to do, since no decision can be made without
//     Redis anyway.
//   - A new sample moves Now by the correction it brings (normally milliseconds):
//     Now is not guaranteed never to go back.
//   - On Cluster every replica samples the same server: the master serving the slot
//     of the key name "redisclock" (see TimeOf). After a failover that is another
//     server, whose clock the replicas then share.
package redisclock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// DefaultInterval is how often Run samples Redis's clock in production.
const DefaultInterval = 30 * time.Second

const (
	// samplesPerSync is how many TIME round trips one sync takes; it keeps the shortest.
	samplesPerSync = 3
	// sampleTimeout bounds one round trip.
	sampleTimeout = 2 * time.Second
	// maxDrift is the local clock's rate error allowed for between samples (500 ppm,
	// the most NTP slews a clock by).
	maxDrift = 500e-6
	// timeResolution is TIME's resolution: it answers whole microseconds.
	timeResolution = time.Microsecond
)

// Source reads the reference clock once.
type Source func(ctx context.Context) (time.Time, error)

// clusterKey names the slot whose master a Cluster's replicas all read TIME from.
const clusterKey = "redisclock"

// TimeOf reads TIME from rdb: on a Cluster client, from the master serving the slot
// of the key name "redisclock", so that every replica reads the same server's clock.
func TimeOf(rdb redis.UniversalClient) Source {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return func(ctx context.Context) (time.Time, error) {
			m, err := c.MasterForKey(ctx, clusterKey)
			if err != nil {
				return time.Time{}, err
			}
			return m.Time(ctx).Result()
		}
	}
	return func(ctx context.Context) (time.Time, error) { return rdb.Time(ctx).Result() }
}

// anchor is one kept sample: the server's time and the local reading it goes with.
type anchor struct {
	remote time.Time // wall only
	local  time.Time // with a monotonic reading when the local clock has one
	bound  time.Duration
	offset time.Duration // remote − local wall clock, for the metric and the log
}

// Clock is Redis's clock as one replica sees it. It is safe for concurrent use.
type Clock struct {
	src   Source
	local func() time.Time
	log   *slog.Logger
	a     atomic.Pointer[anchor]
	// mu serializes syncs (Run's and any caller's).
	mu sync.Mutex
	// failing is true after a failed sync until the next one succeeds (for the log).
	failing bool

	offsetGauge      prometheus.GaugeFunc
	uncertaintyGauge prometheus.GaugeFunc
	failures         prometheus.Counter
}

// New builds the clock and takes its first sample: an error when Redis does not
// answer. local is the replica's own clock (time.Now in production); reg, when not
// nil, registers the clock's metrics.
func New(ctx context.Context, src Source, local func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*Clock, error) {
	if src == nil || local == nil || log == nil {
		return nil, errors.New("redisclock: missing dependency")
	}
	c := &Clock{src: src, local: local, log: log}
	if err := c.Sync(ctx); err != nil {
		return nil, err
	}
	c.offsetGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authsvc_redis_clock_offset_seconds",
		Help: "Redis's clock (TIME) less this replica's wall clock, as last sampled. Decisions use Redis's.",
	}, func() float64 { return c.a.Load().offset.Seconds() })
	c.uncertaintyGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authsvc_redis_clock_uncertainty_seconds",
		Help: "The most the clock decisions use can be off from Redis's: half the kept sample's round trip plus drift since.",
	}, func() float64 { return c.Uncertainty().Seconds() })
	c.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authsvc_redis_clock_sync_failures_total",
		Help: "Periodic samples of Redis's clock that failed; the clock kept its last sample.",
	})
	if reg != nil {
		reg.MustRegister(c.offsetGauge, c.uncertaintyGauge, c.failures)
	}
	a := c.a.Load()
	log.Info("redis clock sampled", "offset", a.offset.String(), "uncertainty", a.bound.String())
	return c, nil
}

// Now is Redis's time as this replica reckons it (see the package doc).
func (c *Clock) Now() time.Time {
	a := c.a.Load()
	return a.remote.Add(c.local().Sub(a.local))
}

// Uncertainty is the most Now can be off from the sampled server's clock: half the
// kept sample's round trip, plus the rate allowance since it was taken.
func (c *Clock) Uncertainty() time.Duration {
	a := c.a.Load()
	return a.bound + drift(c.local().Sub(a.local))
}

func drift(elapsed time.Duration) time.Duration {
	return time.Duration(float64(max(elapsed, 0)) * maxDrift)
}

// Sync samples Redis's clock and keeps the sample if it is no worse than the one
// kept (see the package doc). It returns an error, and keeps the clock as it was,
// when no sample succeeded.
func (c *Clock) Sync(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *anchor
	var errs []error
	for range samplesPerSync {
		a, err := c.sample(ctx)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if best == nil || a.bound < best.bound {
			best = a
		}
	}
	if best == nil {
		return fmt.Errorf("redisclock: read Redis TIME: %w", errors.Join(errs...))
	}
	if cur := c.a.Load(); cur == nil || best.bound <= cur.bound+drift(best.local.Sub(cur.local)) {
		c.a.Store(best)
	}
	return nil
}

// sample takes one TIME round trip.
func (c *Clock) sample(ctx context.Context) (*anchor, error) {
	ctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	t0 := c.local()
	remote, err := c.src(ctx)
	t1 := c.local()
	if err != nil {
		return nil, err
	}
	rtt := max(t1.Sub(t0), 0)
	mid := t0.Add(rtt / 2)
	return &anchor{remote: remote.Round(0), local: mid, bound: rtt/2 + timeResolution,
		offset: remote.Sub(mid.Round(0))}, nil
}

// Run samples Redis's clock every interval until ctx ends. A failed sample is
// counted and logged (once until a sample succeeds again); the clock carries on
// from its last sample.
func (c *Clock) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.Sync(ctx)
		if ctx.Err() != nil {
			return
		}
		c.noteSync(err)
	}
}

// noteSync counts and logs a periodic sync's outcome.
func (c *Clock) noteSync(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		c.failures.Inc()
		if !c.failing {
			c.log.Warn("redis clock: sample failed; carrying on from the last sample", "error", err,
				"uncertainty", c.Uncertainty().String())
		}
		c.failing = true
	case c.failing:
		a := c.a.Load()
		c.log.Info("redis clock: sampled again", "offset", a.offset.String(), "uncertainty", a.bound.String())
		c.failing = false
	}
}
