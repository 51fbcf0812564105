package grpcapi

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// clientLimiter bounds what one client holds open at once: unary calls in flight
// and open streams (WatchVerification), counted apart, per client id. A call beyond
// a bound is refused at once with RESOURCE_EXHAUSTED, reason CLIENT_OVERLOADED: it
// is never queued, so a client that floods the server gets fast refusals, cannot
// push its own calls past their deadlines, and leaves room for every other client.
// It runs after authentication; the exempt services (health, reflection) are not
// counted against a client. grpc.health.v1 Watch streams, which need no
// credentials and so belong to no client, have one bound for the whole server
// instead: one beyond it is refused at once with RESOURCE_EXHAUSTED, reason
// HEALTH_WATCH_LIMIT.
type clientLimiter struct {
	maxUnary   int
	maxStreams int
	maxHealth  int
	metrics    *metrics

	mu sync.Mutex
	// Calls in flight by client id. An id is removed when its count drops to
	// zero, so the maps hold only clients with calls running.
	unaryInFlight map[string]int
	streamsOpen   map[string]int
	// healthWatches is the number of open grpc.health.v1 Watch streams.
	healthWatches int
}

// healthWatch is the full method name of the grpc.health.v1 Watch stream.
var healthWatch = healthpb.Health_Watch_FullMethodName

func newClientLimiter(maxUnary, maxStreams, maxHealth int, m *metrics) *clientLimiter {
	return &clientLimiter{maxUnary: maxUnary, maxStreams: maxStreams, maxHealth: maxHealth, metrics: m,
		unaryInFlight: map[string]int{}, streamsOpen: map[string]int{}}
}

// acquireHealth takes one of the server's places for a health Watch stream, or
// reports that all are taken.
func (l *clientLimiter) acquireHealth() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.healthWatches >= l.maxHealth {
		return false
	}
	l.healthWatches++
	return true
}

// releaseHealth gives back a place acquireHealth took.
func (l *clientLimiter) releaseHealth() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.healthWatches--
}

// healthInUse returns the number of open health Watch streams.
func (l *clientLimiter) healthInUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.healthWatches
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
	if info.FullMethod == healthWatch {
		if !l.acquireHealth() {
			l.metrics.overloaded.WithLabelValues(l.metrics.label(info.FullMethod)).Inc()
			return errHealthWatchLimit()
		}
		defer l.releaseHealth()
		return handler(srv, ss)
	}
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
