package main

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/redistest"
)

// TestPlainRedisConnectionsSurviveAClosedIdleConnection: go-redis does not peek
// at the plaintext connections it takes from its pool (see plainDialer), so a
// pooled connection that Redis has closed is found out by the command that uses
// it; that command must still be answered, on a new connection, and not fail.
func TestPlainRedisConnectionsSurviveAClosedIdleConnection(t *testing.T) {
	srv := redistest.Start(t)
	target, err := parseRedisURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := newRedisClient(RedisConfig{Target: target, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second}, redisSecrets{})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()

	for round := range 3 {
		// One pooled connection, whose id Redis knows.
		id, err := rdb.Do(ctx, "CLIENT", "ID").Int64()
		if err != nil {
			t.Fatalf("round %d: CLIENT ID: %v", round, err)
		}
		if err := srv.Client(t).Do(ctx, "CLIENT", "KILL", "ID", strconv.FormatInt(id, 10)).Err(); err != nil {
			t.Fatalf("round %d: CLIENT KILL: %v", round, err)
		}
		key := "k" + strconv.Itoa(round)
		if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
			t.Fatalf("round %d: a command on a connection Redis closed failed: %v", round, err)
		}
		if got, err := srv.Client(t).Get(ctx, key).Result(); err != nil || got != "v" {
			t.Fatalf("round %d: the command was not carried out once: %q, %v", round, got, err)
		}
		after, err := rdb.Do(ctx, "CLIENT", "ID").Int64()
		if err != nil || after == id {
			t.Fatalf("round %d: still on the closed connection %d (now %d, %v)", round, id, after, err)
		}
	}
}

// TestPlainDialerHidesTheDescriptor: the peek go-redis would make is skipped
// only because the connection does not offer its descriptor; a Go or go-redis
// change that reached it through the wrapper would bring the syscall back.
func TestPlainDialerHidesTheDescriptor(t *testing.T) {
	srv := redistest.Start(t)
	c, err := plainDialer(time.Second)(context.Background(), "tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, ok := c.(syscall.Conn); ok {
		t.Fatal("the plaintext Redis connection offers its descriptor: go-redis would peek at it before every command")
	}
	if _, ok := c.(interface{ NetConn() net.Conn }); ok {
		t.Fatal("the plaintext Redis connection can be unwrapped to its descriptor")
	}
}
