package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authsvc/authsvc/internal/events"
)

// eventsBudgetDrain bounds how long after the flows stop the last of their events may arrive:
// delivery keeps up with the flow rate when the backlog at the end is that small.
const eventsBudgetDrain = 2 * time.Second

// eventsResult is the events phase: the flows run again with the dispatcher delivering their
// events to a local receiver.
type eventsResult struct {
	flows     int
	elapsed   time.Duration
	written   int // event entries written during the phase (verified)
	delivered int // distinct events the receiver got
	dups      int // deliveries of an id received before
	drain     time.Duration
	lat       latencies // transition to receipt
}

// eventReceiver is the platform's endpoint: it checks each signature and records ids and the
// latency from the transition.
type eventReceiver struct {
	secret events.Secret
	mu     sync.Mutex
	seen   map[string]bool
	dups   int
	lat    latencies
	bad    int
}

func (r *eventReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	now := time.Now()
	if err := r.secret.Verify(req.Header, body, now); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
	}
	_ = json.Unmarshal(body, &ev)
	r.mu.Lock()
	if r.seen[ev.ID] {
		r.dups++
	} else {
		r.seen[ev.ID] = true
		r.lat.add(now.Sub(ev.Time))
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *eventReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// measureEvents runs the flows of section 1 again for the flow time with an events dispatcher
// (its own Redis client, as a replica's is) delivering to a local receiver, then waits for the
// last event.
func (s *stack) measureEvents(ctx context.Context, tb testing.TB) (eventsResult, error) {
	var res eventsResult
	secret := events.Secret([]byte(strings.Repeat("k", 32)))
	rcv := &eventReceiver{secret: secret, seen: map[string]bool{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	d, err := events.New(events.Config{Streams: []string{auditStream}, Consumer: "bench", Source: issuer,
		Endpoints: []events.Endpoint{{Client: clientID, URL: srv.URL + "/events", Secret: secret}}},
		newRedisClient(tb, s.redis.Addr()), time.Now, quietLog(), prometheus.NewRegistry())
	if err != nil {
		return res, err
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(dctx) }()
	defer func() { stop(); <-done }()
	// The group starts at the dispatcher's first read: events of earlier flows are not sent.
	var since string
	for deadline := time.Now().Add(10 * time.Second); since == ""; time.Sleep(10 * time.Millisecond) {
		if groups, err := s.side.XInfoGroups(ctx, auditStream).Result(); err == nil {
			for _, g := range groups {
				if g.Name == events.Group {
					since = g.LastDeliveredID
				}
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the dispatcher created no group")
		}
	}
	_, res.flows, res.elapsed, err = runFor(ctx, *workers, *flowTime, s.flowWorker(9)) // customers of no other phase
	if err != nil {
		return res, err
	}
	end := time.Now()
	entries, err := s.side.XRange(ctx, auditStream, "("+since, "+").Result()
	if err != nil {
		return res, err
	}
	for _, m := range entries {
		if events.TypeOf(fmt.Sprint(m.Values["k"])) != "" {
			res.written++
		}
	}
	for rcv.count() < res.written && time.Since(end) < time.Minute {
		time.Sleep(time.Millisecond)
	}
	res.drain = time.Since(end)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	res.delivered, res.dups, res.lat = len(rcv.seen), rcv.dups, rcv.lat.merge()
	if rcv.bad > 0 {
		return res, fmt.Errorf("%d deliveries did not verify", rcv.bad)
	}
	return res, nil
}

// reportEvents prints section 5 and adds what is over budget to over.
func reportEvents(out io.Writer, r eventsResult, flowRate float64, over *[]string) {
	rate := perSecond(r.flows, r.elapsed)
	fmt.Fprintf(out, "\n== 5. Events: the flows of section 1 again, %s, with an events dispatcher (own Redis\n", r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "  client, as a replica's) delivering each flow's verified event, signed, to a local receiver\n")
	fmt.Fprintf(out, "  (httptest on 127.0.0.1) that checks every signature\n")
	fmt.Fprintf(out, "  flows          %7d   %8.0f flows/s  (%.2f of section 1's rate, same run)\n", r.flows, rate, rate/flowRate)
	fmt.Fprintf(out, "  events         %7d written, %d delivered, %d delivered again (same id)\n", r.written, r.delivered, r.dups)
	fmt.Fprintf(out, "  delivered      %8.0f events/s over the phase and its drain\n", perSecond(r.delivered, r.elapsed+r.drain))
	fmt.Fprintf(out, "  transition to receipt  %s\n", r.lat.line())
	verdict := "PASS"
	if r.delivered < r.written || r.drain > eventsBudgetDrain {
		verdict = "OVER"
		*over = append(*over, fmt.Sprintf("event delivery: %d of %d delivered, the last %s after the flows stopped (budget %s)",
			r.delivered, r.written, r.drain.Round(time.Millisecond), eventsBudgetDrain))
	}
	fmt.Fprintf(out, "  keeps up       the last event %s after the flows stopped (budget %s)  %s\n",
		r.drain.Round(time.Millisecond), eventsBudgetDrain, verdict)
	fmt.Fprintf(out, "  emitting       0 extra round trips: an event is the audit entry its transition's script\n")
	fmt.Fprintf(out, "                 writes (section 3's audit events column); nothing else runs on the path\n")
	fmt.Fprintf(out, "  pending bytes  0 added: the events group's cursor and pending list hold read, undelivered\n")
	fmt.Fprintf(out, "                 events only; expired events come from the streams (challenge.Lapser)\n")
}
