package events

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// endpoint is one client's endpoint: its queue of events, the ones parked in Redis behind it,
// and its backoff. Its workers (Config.Concurrency) deliver from the queue.
type endpoint struct {
	Endpoint
	d *Dispatcher

	mu       sync.Mutex
	queue    []*item
	parked   []ref
	failures int       // consecutive failed attempts, across events
	gate     time.Time // no attempt before (wall clock): the endpoint's backoff
	failing  bool      // an outage is logged
	wake     chan struct{}
}

func newEndpoint(d *Dispatcher, e Endpoint) *endpoint {
	return &endpoint{Endpoint: e, d: d, wake: make(chan struct{}, 1)}
}

// accept holds it: in the queue while it has room and nothing is parked (so the endpoint's
// events keep their order), else parked (unacknowledged in Redis only). unparked is true for
// an entry read back from the parked ones.
func (ep *endpoint) accept(it *item, unparked bool) {
	ep.mu.Lock()
	park := !unparked && (len(ep.parked) > 0 || len(ep.queue) >= ep.d.cfg.Queue)
	if park {
		ep.parked = append(ep.parked, it.ref)
	} else {
		ep.queue = append(ep.queue, it)
	}
	ep.mu.Unlock()
	ep.d.mu.Lock()
	if park {
		ep.d.held[it.ref] = nil
	} else {
		ep.d.held[it.ref] = it
	}
	ep.d.mu.Unlock()
	if !park {
		ep.signal()
	}
}

// unparkable takes the oldest parked entries the queue has room for, once it is half empty.
func (ep *endpoint) unparkable() []ref {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	room := ep.d.cfg.Queue - len(ep.queue)
	if len(ep.parked) == 0 || room < ep.d.cfg.Queue/2 {
		return nil
	}
	n := min(room, len(ep.parked), ep.d.cfg.Batch*4)
	out := ep.parked[:n:n]
	ep.parked = ep.parked[n:]
	return out
}

// repark puts refs back at the head of the parked ones, after a failed read.
func (ep *endpoint) repark(refs []ref) {
	ep.mu.Lock()
	ep.parked = append(refs, ep.parked...)
	ep.mu.Unlock()
}

func (ep *endpoint) signal() {
	select {
	case ep.wake <- struct{}{}:
	default:
	}
}

// next takes the first event whose time has come, when the endpoint's gate is open; else it
// returns how long to wait.
func (ep *endpoint) next() (*item, time.Duration) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	now := time.Now()
	if now.Before(ep.gate) {
		return nil, ep.gate.Sub(now)
	}
	wait := time.Hour
	for i, it := range ep.queue {
		if !now.Before(it.next) {
			ep.queue = append(ep.queue[:i:i], ep.queue[i+1:]...)
			return it, 0
		}
		wait = min(wait, it.next.Sub(now))
	}
	return nil, wait
}

// work delivers until stop is done; once ctx is done it only finishes (it takes nothing new).
func (ep *endpoint) work(ctx, stop context.Context) {
	for ctx.Err() == nil {
		it, wait := ep.next()
		if it == nil {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-ep.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		ep.deliver(stop, it)
		// Pass the wake-up on: another worker may have work too.
		ep.signal()
	}
}

// deliver makes one attempt at it and settles it: acknowledged when delivered or past its max
// age, else back in the queue with its backoff.
func (ep *endpoint) deliver(ctx context.Context, it *item) {
	d := ep.d
	if d.expired(it.msg) {
		d.giveUp(ep, it)
		return
	}
	it.attempts++
	status, retryAfter, err := ep.post(ctx, it)
	if err == nil {
		d.m.events.WithLabelValues(OutcomeDelivered).Inc()
		d.m.latency.Observe(max(d.now().Sub(it.msg.Time), 0).Seconds())
		d.record(ep, it, OutcomeDelivered, status, "")
		d.ack(it.ref)
		ep.mu.Lock()
		ep.failures = 0
		recovered := ep.failing
		ep.failing = false
		ep.mu.Unlock()
		if recovered {
			d.log.Info("event deliveries succeed again", "client", ep.Client)
		}
		return
	}
	reason := "transport"
	if status != 0 {
		reason = "status"
	}
	d.m.failures.WithLabelValues(reason).Inc()
	d.record(ep, it, "failed", status, errText(status, err))
	if ctx.Err() != nil {
		// Shutting down: the entry stays pending for the next owner.
		return
	}
	if d.expired(it.msg) {
		d.giveUp(ep, it)
		return
	}
	now := time.Now()
	it.next = now.Add(jitter(backoff(d.cfg.MinBackoff, d.cfg.MaxBackoff, it.attempts)))
	ep.mu.Lock()
	if !now.Before(ep.gate) {
		ep.failures++
		ep.gate = now.Add(jitter(backoff(d.cfg.MinBackoff, d.cfg.MaxBackoff, ep.failures)))
	}
	// A receiver that says when to come back (429 or 503 with Retry-After) is heeded, up to
	// MaxBackoff.
	if retryAfter > 0 {
		ep.gate = later(ep.gate, now.Add(min(retryAfter, d.cfg.MaxBackoff)))
	}
	first := !ep.failing
	ep.failing = true
	ep.queue = append([]*item{it}, ep.queue...)
	ep.mu.Unlock()
	if first {
		d.log.Warn("event deliveries failing; events wait and are retried with backoff", "client", ep.Client,
			"reason", reason, "status", status, "err", errText(0, err))
	}
}

// errDelivery is a non-2xx answer.
var errDelivery = errors.New("not a 2xx answer")

// post sends it once and returns the status (0 when none came back) and the Retry-After of a
// 429 or 503 (0 when none).
func (ep *endpoint) post(ctx context.Context, it *item) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, ep.d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(it.msg.Body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "authsvc-events/1")
	ep.Secret.SetHeaders(req.Header, it.msg.ID, ep.d.now(), it.msg.Body)
	resp, err := ep.d.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var after time.Duration
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
				after = time.Duration(secs) * time.Second
			}
		}
		return resp.StatusCode, after, errDelivery
	}
	return resp.StatusCode, 0, nil
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// errText describes a failure without its URL or any body.
func errText(status int, err error) string {
	switch {
	case status != 0:
		return "HTTP " + strconv.Itoa(status)
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		err = ue.Unwrap()
	}
	return safeError(err)
}

// backoff is the n-th delay (n from 1): lo doubled n-1 times, at most hi.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// jitter draws a wait between half and all of d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
