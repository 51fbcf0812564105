package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

// Static limits out of the way: these tests are about the breakers alone.
var looseLimits = SendLimits{
	Destination: Rate{N: 1000, Per: time.Hour}, Prefix: Rate{N: 100000, Per: time.Hour},
	Country: Rate{N: 100000, Per: time.Hour}, Client: Rate{N: 100000, Per: time.Minute},
	Agent: Rate{N: 100000, Per: time.Hour}, ClientDaily: 10_000_000,
}

func breakerFixture(t *testing.T, rdb redis.UniversalClient, srv *redistest.Server, cluster bool, b Breakers) *fixture {
	t.Helper()
	if b.Country.FloorDay == 0 {
		// A country's floor above these tests' volume: the prefix is what trips.
		b.Country = BreakerThreshold{FloorDay: 10_000, FloorHour: 1_000}
	}
	cfg := Config{ShardedPubSub: cluster, Breakers: b}
	cfg.Limits.Send = looseLimits
	return newFixtureWith(t, srv, rdb, cfg)
}

// smsTo starts an OTP_SMS verification to number for a fresh identity (no
// customer, so that no identity limit gets in the way).
func (f *fixture) smsTo(number string) (*StartResult, error) {
	r := f.startReq(OTPSMS, &Destination{Kind: Phone, Value: number})
	r.CustomerID = ""
	// Unique across fixtures on one Redis too.
	r.RequestID += number
	r.Identity.UserID = "u" + r.RequestID
	return f.svc.Start(context.Background(), r)
}

// enter types the code of res on its page.
func (f *fixture) enter(res *StartResult) {
	f.t.Helper()
	out, err := f.svc.SubmitCode(context.Background(), pageToken(f.t, res), f.code(res.Verification.ID), "n-"+res.Verification.ID, "")
	if err != nil || out.Outcome != OutcomeVerified {
		f.t.Fatalf("SubmitCode: %+v, %v", out, err)
	}
}

// traffic sends n SMS into the prefix base (numbers base+"0000"…), one a minute,
// entering the codes whose index satisfies entered, and returns how many sends a
// breaker refused, failing on any other error.
func (f *fixture) traffic(base string, n int, entered func(i int) bool) (refused int) {
	f.t.Helper()
	for i := range n {
		res, err := f.smsTo(fmt.Sprintf("%s%04d", base, i))
		var le *LimitError
		switch {
		case errors.As(err, &le) && strings.HasPrefix(le.Scope, "breaker_"):
			refused++
			if le.RetryAfter <= 0 {
				f.t.Fatalf("a breaker refusal without a retry: %+v", le)
			}
		case err != nil:
			f.t.Fatalf("send %d: %v", i, err)
		case entered(i):
			f.enter(res)
		}
		f.clock.Advance(time.Minute)
	}
	return refused
}

func breakerEvents(t *testing.T, rdb redis.UniversalClient, cluster bool, kind string) []redis.XMessage {
	t.Helper()
	var streams []string
	if cluster {
		// The bucket tags: scan what exists rather than all 16,384 streams.
		err := rdb.(*redis.ClusterClient).ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
			keys, err := c.Keys(ctx, "v:{*}:a").Result()
			streams = append(streams, keys...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		streams = []string{audit.StreamKey("", false)}
	}
	var out []redis.XMessage
	for _, s := range streams {
		for _, m := range auditEntries(t, rdb, s) {
			if m.Values["k"] == kind {
				out = append(out, m)
			}
		}
	}
	return out
}

// A pumping pattern (codes never entered) trips the prefix's breaker; a spike of
// the same volume whose codes are entered trips nothing; email keeps working; the
// cell is released once its cool-down passes and its windows drain. On
// standalone and on Cluster.
func TestBreakerTripsOnPumpingNotOnSpike(t *testing.T) {
	topologies := map[string]func(t *testing.T) (redis.UniversalClient, *redistest.Server){
		"standalone": func(t *testing.T) (redis.UniversalClient, *redistest.Server) {
			srv := redistest.Start(t)
			return srv.Client(t), srv
		},
		"cluster": func(t *testing.T) (redis.UniversalClient, *redistest.Server) {
			return redistest.StartCluster(t, 3).Client(t), nil
		},
	}
	for name, open := range topologies {
		t.Run(name, func(t *testing.T) {
			rdb, srv := open(t)
			cluster := name == "cluster"
			f := breakerFixture(t, rdb, srv, cluster, Breakers{})

			// The spike: 60 sends in an hour into one prefix, 70 % entered.
			if refused := f.traffic("+44791110", 60, func(i int) bool { return i%10 < 7 }); refused != 0 {
				t.Fatalf("a legitimate spike was refused %d times", refused)
			}
			if n := len(breakerEvents(t, rdb, cluster, audit.BreakerTripped)); n != 0 {
				t.Fatalf("%d trips on a legitimate spike", n)
			}

			// Pumping: the same volume into another prefix, nothing entered.
			refused := f.traffic("+44792220", 60, func(int) bool { return false })
			if refused < 45 {
				t.Fatalf("pumping: only %d of 60 sends refused", refused)
			}
			trips := breakerEvents(t, rdb, cluster, audit.BreakerTripped)
			if len(trips) == 0 {
				t.Fatal("no breaker_tripped event")
			}
			for _, m := range trips {
				if m.Values["r"] != "prefix" || m.Values["d"] != maskPrefix("+44792220", 44) || m.Values["o"] != "enforce" {
					t.Errorf("trip event %v", m.Values)
				}
				for _, v := range m.Values {
					if s, _ := v.(string); strings.Contains(s, "792220") {
						t.Errorf("a trip event shows the prefix: %v", m.Values)
					}
				}
			}
			if got := counterValue(f.svc.metrics.sms.breakers.WithLabelValues("44", "refused")); got != float64(refused) {
				t.Errorf("refused metric %v, want %d", got, refused)
			}
			// Email to the same customer's identity is not held.
			if _, err := f.svc.Start(context.Background(), f.startReq(OTPEmail, email)); err != nil {
				t.Fatalf("email while SMS is held: %v", err)
			}
			// A number of the prefix next door still gets its code.
			if _, err := f.smsTo("+447933300001"); err != nil {
				t.Fatalf("another prefix: %v", err)
			}
			// A day later the pumped codes have left the windows: released.
			f.clock.Advance(25 * time.Hour)
			if _, err := f.smsTo("+447922200001"); err != nil {
				t.Fatalf("after the cool-down: %v", err)
			}
			if len(breakerEvents(t, rdb, cluster, audit.BreakerReleased)) == 0 {
				t.Fatal("no breaker_released event")
			}
		})
	}
}

// Monitor mode refuses nothing, and counts and audits what it would have refused.
func TestBreakerMonitor(t *testing.T) {
	srv := redistest.Start(t)
	f := breakerFixture(t, srv.Client(t), srv, false, Breakers{Mode: BreakerMonitor})
	if refused := f.traffic("+44792220", 60, func(int) bool { return false }); refused != 0 {
		t.Fatalf("monitor mode refused %d sends", refused)
	}
	if got := counterValue(f.svc.metrics.sms.breakers.WithLabelValues("44", "monitored")); got < 45 {
		t.Errorf("monitored %v sends, want most of 60", got)
	}
	trips := breakerEvents(t, srv.Client(t), false, audit.BreakerTripped)
	if len(trips) == 0 || trips[0].Values["o"] != "monitor" {
		t.Fatalf("monitor trips: %v", trips)
	}
}

// The safe list bypasses the breakers: a number or a prefix on it is neither
// counted nor refused.
func TestBreakerSafeList(t *testing.T) {
	srv := redistest.Start(t)
	f := breakerFixture(t, srv.Client(t), srv, false, Breakers{SafeList: []string{"+44792220", "+447933300001"}})
	if refused := f.traffic("+44792220", 60, func(int) bool { return false }); refused != 0 {
		t.Fatalf("a safe prefix was refused %d times", refused)
	}
	if n := len(breakerEvents(t, srv.Client(t), false, audit.BreakerTripped)); n != 0 {
		t.Fatalf("%d trips on a safe prefix", n)
	}
	if len(f.svc.breakerCellsOf(contact{Destination: Destination{Kind: Phone}, key: "+447933300001"})) != 0 {
		t.Fatal("a safe number has cells")
	}
}

// Parallel starts into one cell lose no count, and the breaker holds the burst
// however the scripts interleave: each decision is one script on the cell's slot.
func TestBreakerParallelStarts(t *testing.T) {
	srv := redistest.Start(t)
	f := breakerFixture(t, srv.Client(t), srv, false, Breakers{})
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := f.smsTo(fmt.Sprintf("+44795550%04d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	sent := 0
	for err := range errs {
		var le *LimitError
		switch {
		case err == nil:
			sent++
		case !errors.As(err, &le) || le.Scope != ScopeBreakerPrefix:
			t.Fatal(err)
		}
	}
	// A fresh prefix tolerates twice its hourly floor (2) in flight: 5 sends.
	if sent == 0 || sent > 5 {
		t.Fatalf("%d of %d parallel sends into one prefix went", sent, n)
	}
	cells := f.svc.breakerCellsOf(contact{Destination: Destination{Kind: Phone}, key: "+447955500000"})
	for _, c := range cells {
		v, err := srv.Client(t).HGet(context.Background(), c.key, c.field).Result()
		if err != nil {
			t.Fatal(err)
		}
		if parts := strings.Split(v, ","); parts[1] != fmt.Sprint(sent) {
			t.Fatalf("%s cell %q: want %d sends", c.scope, v, sent)
		}
		if len(v)+len(c.field) > 100 {
			t.Errorf("%s cell takes %d bytes", c.scope, len(v)+len(c.field))
		}
		if ttl := srv.Client(t).PTTL(context.Background(), c.key).Val(); ttl <= 0 {
			t.Errorf("bucket %s has no TTL", c.key)
		}
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// A country's threshold follows its own conversions: after a day of 210 codes
// entered, the next day tolerates as many unentered; a country with no history
// trips on its floor (50 a day). Prefixes are out of the way here.
func TestBreakerCountryAdapts(t *testing.T) {
	srv := redistest.Start(t)
	f := breakerFixture(t, srv.Client(t), srv, false, Breakers{
		Country: BreakerThreshold{FloorDay: 50, FloorHour: 3, Ratio: 1},
		Prefix:  BreakerThreshold{FloorDay: 1e6, FloorHour: 1e6, Ratio: 1},
	})
	// send starts n SMS over span into distinct blocks of country base, entering
	// those entered says, and returns the breaker refusals.
	send := func(base string, n int, span time.Duration, entered func(int) bool) (refused int) {
		for i := range n {
			res, err := f.smsTo(fmt.Sprintf("%s%03d%04d", base, i%1000, i))
			var le *LimitError
			switch {
			case errors.As(err, &le) && strings.HasPrefix(le.Scope, "breaker_"):
				refused++
			case err != nil:
				t.Fatalf("send %d: %v", i, err)
			case entered(i):
				f.enter(res)
			}
			f.clock.Advance(span / time.Duration(n))
		}
		return refused
	}
	// Day 1 (a UTC day, as the cells count days): 300 codes into France, 70 % entered.
	f.clock.Set(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
	if refused := send("+3361", 300, 20*time.Hour, func(i int) bool { return i%10 < 7 }); refused != 0 {
		t.Fatalf("day 1 refused %d", refused)
	}
	f.clock.Advance(6 * time.Hour)
	// Day 2: 150 codes nobody enters, spread over the day: under the 210 of day 1.
	if refused := send("+3362", 150, 20*time.Hour, func(int) bool { return false }); refused != 0 {
		t.Fatalf("France, with 210 entered yesterday, refused %d of 150 unentered", refused)
	}
	// Spain has no history: the same drip trips on the floor.
	if refused := send("+3461", 150, 20*time.Hour, func(int) bool { return false }); refused < 50 {
		t.Fatalf("Spain, without history, refused only %d of 150 unentered", refused)
	}
}
