package redistest

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Counter counts network round trips of a go-redis client; see [RoundTrips]. It is safe for
// concurrent use.
type Counter struct {
	n atomic.Int64
}

// Load returns the round trips counted since the hook was added or the last Reset.
func (c *Counter) Load() int64 { return c.n.Load() }

// Reset sets the count to zero.
func (c *Counter) Reset() { c.n.Store(0) }

// RoundTrips adds a hook to c that counts network round trips and returns its counter: one per
// command sent through the client's Process (so a go-redis Script.Run is one when the server has
// the script cached — EVALSHA — and two when it answers NOSCRIPT and EVAL follows), and one per
// pipeline or transaction (MULTI/EXEC) of any length.
//
// What it does not count: retries inside one Process call (a lost reply retried by go-redis counts
// once), the commands that set up a new connection (HELLO, CLIENT SETINFO, ...; go-redis runs them
// through the hooks nested inside the call that needed the connection), and, on a ClusterClient, that a pipeline spread
// over several nodes or redirected by MOVED/ASK costs one round trip per node; the budgets it
// checks are about what the code asks for, on one slot.
func RoundTrips(c redis.UniversalClient) *Counter {
	ctr := &Counter{}
	c.AddHook(roundTripHook{ctr})
	return ctr
}

// roundTripHook is the redis.Hook behind RoundTrips.
type roundTripHook struct{ c *Counter }

// inCall marks a context as inside a counted call of one Counter. go-redis runs the commands that
// set up a new connection (HELLO, CLIENT SETINFO, ...) through the same hooks, nested inside the
// call that needed the connection and with its context; those are not the caller's round trips.
type inCall struct{ c *Counter }

// count counts the call unless it is nested in a counted call, and returns the context to pass on.
func (h roundTripHook) count(ctx context.Context) context.Context {
	if ctx.Value(inCall(h)) != nil {
		return ctx
	}
	h.c.n.Add(1)
	return context.WithValue(ctx, inCall(h), true)
}

// DialHook passes dials through uncounted.
func (h roundTripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one round trip per command.
func (h roundTripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return next(h.count(ctx), cmd)
	}
}

// ProcessPipelineHook counts one round trip per non-empty pipeline or transaction.
func (h roundTripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 {
			ctx = h.count(ctx)
		}
		return next(ctx, cmds)
	}
}
