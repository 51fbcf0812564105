package audit_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
)

// t0 is a fixed time the tests start from.
var t0 = time.UnixMilli(1_700_000_000_000).UTC()

// backend is a Redis the Lua must work on.
type backend struct {
	name string
	rdb  redis.UniversalClient
}

// backends returns a fresh real redis-server and a fresh miniredis (dev mode's server).
func backends(t *testing.T) []backend {
	t.Helper()
	mr := miniredis.RunT(t)
	mc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = mc.Close() })
	return []backend{
		{"redis", redistest.Start(t).Client(t)},
		{"miniredis", mc},
	}
}

// clock is a fake clock set by hand.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// downClient returns a client (without retries) of a Redis that has been stopped.
func downClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	srv.Stop()
	return rdb
}
