package grpcapi

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
)

// blockingStart is a Verifications whose Start, for client A only, waits until
// release is closed (or its context ends); entered hears of every waiting call.
type blockingStart struct {
	Verifications
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStart) Start(ctx context.Context, r challenge.StartRequest) (*challenge.StartResult, error) {
	if r.ClientID == clientA {
		b.entered <- struct{}{}
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Verifications.Start(ctx, r)
}

// distinctStart is a valid start request for its own customer and address, so
// that the send limits of one destination play no part.
func distinctStart(requestID string) *authsvcv1.StartVerificationRequest {
	r := validStart(requestID)
	r.Identity.UserId = "user-" + requestID
	r.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: requestID + "@example.com"}}
	return r
}

// wantOverloaded checks a CLIENT_OVERLOADED refusal.
func wantOverloaded(t *testing.T, err error) {
	t.Helper()
	st := wantCode(t, err, codes.ResourceExhausted)
	if ei := errorInfo(t, st); ei.GetReason() != ReasonClientOverloaded {
		t.Errorf("reason = %q, want %q", ei.GetReason(), ReasonClientOverloaded)
	}
	if d := detail[*errdetails.RetryInfo](t, st).GetRetryDelay().AsDuration(); d != time.Second {
		t.Errorf("retry delay = %v, want 1s", d)
	}
}

func TestClientConcurrencyLimit(t *testing.T) {
	t.Parallel()
	bs := &blockingStart{entered: make(chan struct{}, 8), release: make(chan struct{})}
	f := newFixture(t, fixtureOpts{
		cfg: Config{MaxInFlightPerClient: 2},
		wrap: func(v Verifications) Verifications {
			bs.Verifications = v
			return bs
		},
	})
	released := false
	release := func() {
		if !released {
			released = true
			close(bs.release)
		}
	}
	t.Cleanup(release) // a failed test does not leave calls hanging

	// Client A fills its two places with Starts that wait.
	blocked := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := f.vc.StartVerification(as(t, keyA), distinctStart(fmt.Sprint("held-", i)))
			blocked <- err
		}()
	}
	for range 2 {
		select {
		case <-bs.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the first two calls did not reach Start")
		}
	}

	// A third call of A, of any method, is refused at once; nothing waits.
	began := time.Now()
	_, err := f.vc.StartVerification(as(t, keyA), distinctStart("third"))
	wantOverloaded(t, err)
	_, err = f.ac.GetJwks(as(t, keyA), &authsvcv1.GetJwksRequest{})
	wantOverloaded(t, err)
	if el := time.Since(began); el > time.Second {
		t.Errorf("refusals took %v; they must not wait for a place", el)
	}
	select {
	case <-bs.entered:
		t.Fatal("a refused call reached Start")
	default:
	}

	// Client B is not held back by A, nor are the probes.
	if _, err := f.vc.StartVerification(as(t, keyB), distinctStart("b-1")); err != nil {
		t.Fatalf("client B while A is saturated: %v", err)
	}
	if _, err := f.ac.GetJwks(as(t, keyB), &authsvcv1.GetJwksRequest{}); err != nil {
		t.Fatalf("client B GetJwks: %v", err)
	}
	select {
	case err := <-blocked:
		t.Fatalf("a held call returned before its release: %v", err)
	default:
	}

	release()
	for range 2 {
		if err := <-blocked; err != nil {
			t.Errorf("held call after release: %v", err)
		}
	}
	// Both places are free again: A can run two calls at once once more.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.vc.StartVerification(as(t, keyA), distinctStart(fmt.Sprint("after-", i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call after release: %v", err)
		}
	}
	if u, s := f.server.limits.inUse(); u != 0 || s != 0 {
		t.Errorf("places still taken: %d unary, %d streams", u, s)
	}

	// Refusals are counted by method; no label names the client.
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	overloaded := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "authsvc_grpc_overloaded_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "method" {
					t.Errorf("label %s=%q on authsvc_grpc_overloaded_total", l.GetName(), l.GetValue())
				}
				overloaded[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"/authsvc.v1.VerificationService/StartVerification": 1,
		"/authsvc.v1.AssertionService/GetJwks":              1,
	}
	if fmt.Sprint(overloaded) != fmt.Sprint(want) {
		t.Errorf("authsvc_grpc_overloaded_total = %v, want %v", overloaded, want)
	}
}

func TestWatchLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{cfg: Config{MaxWatchesPerClient: 1, MaxInFlightPerClient: 1}})
	id := f.start(t, keyA, "w-1").GetVerification().GetVerificationId()
	req := &authsvcv1.WatchVerificationRequest{VerificationId: id}

	ctx, cancel := context.WithCancel(as(t, keyA))
	first, err := f.vc.WatchVerification(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatalf("first watch: %v", err)
	}

	// A second watch of A is refused at once; the open one does not count against
	// A's unary calls, nor does A's limit touch B.
	second, err := f.vc.WatchVerification(as(t, keyA), req)
	if err == nil {
		_, err = second.Recv()
	}
	wantOverloaded(t, err)
	if _, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: id}); err != nil {
		t.Fatalf("unary call while a watch is open: %v", err)
	}
	other, err := f.vc.WatchVerification(as(t, keyB), req)
	if err == nil {
		_, err = other.Recv()
	}
	wantCode(t, err, codes.NotFound) // B's watch ran: A's verification is not B's

	// Closing the watch frees its place.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, s := f.server.limits.inUse(); s == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed watch still holds its place")
		}
		time.Sleep(10 * time.Millisecond)
	}
	again, err := f.vc.WatchVerification(as(t, keyA), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Recv(); err != nil {
		t.Fatalf("watch after the first closed: %v", err)
	}
}

// The limiter never lets a client past its bound, keeps clients apart and gives
// every place back.
func TestClientLimiterSaturated(t *testing.T) {
	t.Parallel()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const limit = 3
	l := newClientLimiter(limit, limit, limit, m)
	clients := []string{"a", "b", "c"}
	var held [3]atomic.Int32
	var peak [3]atomic.Int32
	var refused atomic.Int32
	var wg sync.WaitGroup
	for g := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := g % len(clients)
			for range 50 {
				if !l.acquire(l.unaryInFlight, limit, clients[c]) {
					refused.Add(1)
					continue
				}
				n := held[c].Add(1)
				for {
					p := peak[c].Load()
					if n <= p || peak[c].CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(50 * time.Microsecond)
				held[c].Add(-1)
				l.release(l.unaryInFlight, clients[c])
			}
		}()
	}
	wg.Wait()
	for c := range clients {
		if p := peak[c].Load(); p > limit {
			t.Errorf("client %s had %d places at once, limit %d", clients[c], p, limit)
		}
	}
	if refused.Load() == 0 {
		t.Error("the limiter was never saturated; the test proves nothing")
	}
	if u, s := l.inUse(); u != 0 || s != 0 {
		t.Errorf("places still taken: %d unary, %d streams", u, s)
	}
	if n := len(l.unaryInFlight) + len(l.streamsOpen); n != 0 {
		t.Errorf("%d client entries left behind", n)
	}
}
