package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a standalone redis-server started by [Start] for one test. Its methods are safe for
// concurrent use, except that Restart must be called from the test's goroutine (it may fail t).
type Server struct {
	n     *node
	admin *redis.Client // one connection for UsedMemory, so its own overhead stays constant
}

// Start starts a fresh, empty redis-server on a free port of 127.0.0.1 and returns when it answers
// (within about 5 s). The server is killed and its directory removed in t.Cleanup. Start skips t
// when redis-server is not installed (fails it when CI=true); see the package documentation.
func Start(t testing.TB) *Server {
	t.Helper()
	n := newNode(t, redisServerPath(t), "redis")
	launch(t, n, 8, 0, freePort)
	s := &Server{n: n}
	s.admin = redis.NewClient(&redis.Options{Addr: s.Addr(), PoolSize: 1, DisableIdentity: true})
	t.Cleanup(func() { _ = s.admin.Close() })
	return s
}

// StartPersistent is Start with an append-only file fsynced on every write (appendonly yes,
// appendfsync always), so that [Server.Reopen] after a crash keeps every write the server
// acknowledged, as a production Redis with AOF does.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	n := newNode(t, redisServerPath(t), "redis", "--appendonly", "yes", "--appendfsync", "always")
	launch(t, n, 8, 0, freePort)
	s := &Server{n: n}
	s.admin = redis.NewClient(&redis.Options{Addr: s.Addr(), PoolSize: 1, DisableIdentity: true})
	t.Cleanup(func() { _ = s.admin.Close() })
	return s
}

// Reopen starts the server again on the same port with the data it has on disk (for a server
// from StartPersistent, every acknowledged write), killing it first (SIGKILL, a crash) if it is
// still running, and returns when it answers. Existing clients reconnect by themselves.
func (s *Server) Reopen(t testing.TB) {
	t.Helper()
	s.n.kill()
	port := s.n.getPort()
	launch(t, s.n, 20, 100*time.Millisecond, func() (int, error) { return port, nil })
}

// Addr returns the server's "127.0.0.1:port". It does not change across Restart.
func (s *Server) Addr() string { return s.n.addr() }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.n.getPort() }

// URL returns a redis:// URL for database 0, e.g. "redis://127.0.0.1:40123/0".
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a go-redis client with default options for this server, closed in t.Cleanup.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server with SIGTERM and waits until it has exited (SIGKILL after 5 s).
// It is a no-op when the server is not running.
func (s *Server) Stop() { s.n.stop(syscall.SIGTERM) }

// Kill stops the server with SIGKILL and waits until it has exited.
// It is a no-op when the server is not running.
func (s *Server) Kill() { s.n.kill() }

// Running reports whether the server process is alive.
func (s *Server) Running() bool { return s.n.running() }

// Restart starts the server again on the same port with an empty dataset, killing it first if it
// is still running, and returns when it answers. Existing clients reconnect by themselves (after
// the back-off of their connection pool). It fails t if the port cannot be bound again within
// about 2 s.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.n.kill()
	for _, f := range []string{"dump.rdb", "appendonly.aof", "appendonlydir"} {
		_ = os.RemoveAll(filepath.Join(s.n.dir, f))
	}
	port := s.n.getPort()
	launch(t, s.n, 20, 100*time.Millisecond, func() (int, error) { return port, nil })
}

// UsedMemory returns INFO memory "used_memory": the bytes Redis has allocated. Deltas of it over
// many keys measure the memory cost per key (MEMORY USAGE under-counts).
func (s *Server) UsedMemory(ctx context.Context) (int64, error) {
	return s.memoryField(ctx, "used_memory")
}

// DataMemory is UsedMemory less what the server's clients hold ("mem_clients_normal": query
// and reply buffers, which Redis grows and shrinks on its own schedule). Deltas of it measure
// stored data without the noise of a busy connection pool.
func (s *Server) DataMemory(ctx context.Context) (int64, error) {
	used, err := s.memoryField(ctx, "used_memory")
	if err != nil {
		return 0, err
	}
	clients, err := s.memoryField(ctx, "mem_clients_normal")
	if err != nil {
		return 0, err
	}
	return used - clients, nil
}

func (s *Server) memoryField(ctx context.Context, name string) (int64, error) {
	info, err := s.admin.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	v, ok := infoField(info, name)
	if !ok {
		return 0, fmt.Errorf("redistest: INFO memory has no %s", name)
	}
	return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
}
