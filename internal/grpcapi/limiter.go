package grpcapi

import (
	"context"
	"sync"

	"google.golang.org/grpc"
)

// clientLimiter bounds what one client holds open at once: unary calls in flight
// and open streams (WatchVerification), counted apart, per client id. A call beyond
// a bound is refused at once with RESOURCE_EXHAUSTED, reason CLIENT_OVERLOADED: it
// is never queued, so a client that floods the server gets fast refusals, cannot
// push its own calls past their deadlines, and leaves room for every other client.
// It runs after authentication; the exempt services (health, reflection) are not
// counted.
type clientLimiter struct {
	maxUnary   int
	maxStreams int
	metrics    *metrics

	mu sync.Mutex
	// Calls in flight by client id. An id is removed when its count drops to
	// zero, so the maps hold only clients with calls running.
	unaryInFlight map[string]int
	streamsOpen   map[string]int
}

func newClientLimiter(maxUnary, maxStreams int, m *metrics) *clientLimiter {
	return &clientLimiter{maxUnary: maxUnary, maxStreams: maxStreams, metrics: m,
		unaryInFlight: map[string]int{}, streamsOpen: map[string]int{}}
}

// acquire takes one of limit places of client id in counts, or reports that all
// are taken.
func (l *clientLimiter) acquire(counts map[string]int, limit int, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if counts[id] >= limit {
		return false
	}
	counts[id]++
	return true
}

// release gives back a place acquire took.
func (l *clientLimiter) release(counts map[string]int, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := counts[id] - 1; n > 0 {
		counts[id] = n
	} else {
		delete(counts, id)
	}
}

// inUse returns the places taken across all clients: unary calls, streams.
func (l *clientLimiter) inUse() (unary, streams int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.unaryInFlight {
		unary += n
	}
	for _, n := range l.streamsOpen {
		streams += n
	}
	return unary, streams
}

func (l *clientLimiter) refuse(fullMethod string, streams bool) error {
	l.metrics.overloaded.WithLabelValues(l.metrics.label(fullMethod)).Inc()
	return errClientOverloaded(streams)
}

func (l *clientLimiter) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return handler(ctx, req)
	}
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey() // authentication runs first; fail closed all the same
	}
	if !l.acquire(l.unaryInFlight, l.maxUnary, c.ID) {
		return nil, l.refuse(info.FullMethod, false)
	}
	defer l.release(l.unaryInFlight, c.ID)
	return handler(ctx, req)
}

func (l *clientLimiter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return handler(srv, ss)
	}
	c, ok := clientFrom(ss.Context())
	if !ok {
		return errAPIKey()
	}
	if !l.acquire(l.streamsOpen, l.maxStreams, c.ID) {
		return l.refuse(info.FullMethod, true)
	}
	defer l.release(l.streamsOpen, c.ID)
	return handler(srv, ss)
}
