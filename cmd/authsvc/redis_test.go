package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
)

// TestRedisRestartFailsNoCommand: after Redis restarts, every connection in the
// pool is dead. go-redis must find that out when it takes a connection from the
// pool (its socket peek), not by failing a command on it: with more dead
// connections pooled than a command has retries, the commands right after the
// restart would fail (UNAVAILABLE to the platform) while Redis is up. A dialer
// that hides the descriptor from go-redis, to save the peek's system call, did
// exactly that (4 of 6 commands failed).
func TestRedisRestartFailsNoCommand(t *testing.T) {
	srv := redistest.Start(t)
	target, err := parseRedisURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := newRedisClient(RedisConfig{Target: target, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second}, redisSecrets{})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()

	// Twelve connections in the pool, each used once.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if err := rdb.Do(ctx, "BLPOP", "nothing-"+strconv.Itoa(i), "0.2").Err(); err != nil && !errors.Is(err, redis.Nil) {
				t.Errorf("BLPOP: %v", err)
			}
		})
	}
	wg.Wait()
	if n := rdb.PoolStats().IdleConns; n < 10 {
		t.Fatalf("%d idle connections in the pool, want at least 10", n)
	}

	srv.Restart(t)
	for i := range 6 {
		if err := rdb.Set(ctx, "k"+strconv.Itoa(i), "v", time.Minute).Err(); err != nil {
			t.Fatalf("command %d after the restart: %v", i, err)
		}
	}
}
