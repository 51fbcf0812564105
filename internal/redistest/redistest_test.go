package redistest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
)

// eventually retries f every 50 ms until it returns nil or timeout passes, then fails t with
// f's last error.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStartSetGet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	if s.Port() == 6379 || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q; want 127.0.0.1 on a port other than 6379", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL = %q, want %q", s.URL(), want)
	}
	if !s.Running() {
		t.Fatal("Running = false after Start")
	}
	c := s.Client(t)
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("DBSIZE = %d, %v; want an empty server", n, err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v", got, err)
	}

	// The URL works with go-redis's own parser.
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c2 := redis.NewClient(opt)
	defer func() { _ = c2.Close() }()
	if got, err := c2.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k via URL = %q, %v", got, err)
	}
}

func TestStartIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	if err := a.Client(t).Set(ctx, "only-in-a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client(t).Get(ctx, "only-in-a").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET in b = %v, want redis.Nil", err)
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	addr := s.Addr()
	c := s.Client(t)
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Kill()
	if s.Running() {
		t.Fatal("Running = true after Kill")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded with the server killed")
	}

	s.Restart(t)
	if !s.Running() || s.Addr() != addr {
		t.Fatalf("after Restart: Running = %v, Addr = %s (was %s)", s.Running(), s.Addr(), addr)
	}
	// The same client reconnects by itself.
	eventually(t, 5*time.Second, "PING after Restart", func(ctx context.Context) error {
		return c.Ping(ctx).Err()
	})
	if err := c.Get(ctx, "before").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET before = %v after Restart, want redis.Nil (empty dataset)", err)
	}

	// Stop (SIGTERM) then Restart works too.
	s.Stop()
	if s.Running() {
		t.Fatal("Running = true after Stop")
	}
	s.Restart(t)
	eventually(t, 5*time.Second, "SET after second Restart", func(ctx context.Context) error {
		return c.Set(ctx, "after", "2", 0).Err()
	})
}

func TestPersistentReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.StartPersistent(t)
	c := s.Client(t)
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	s.Reopen(t) // SIGKILL, then start on the same data
	eventually(t, 5*time.Second, "XLEN after Reopen", func(ctx context.Context) error {
		n, err := c.XLen(ctx, "s").Result()
		if err == nil && n != 1 {
			return fmt.Errorf("XLEN = %d, want 1: the acknowledged write survives a crash", n)
		}
		return err
	})
}

func TestUsedMemory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	before, err := s.UsedMemory(ctx)
	if err != nil || before <= 0 {
		t.Fatalf("UsedMemory = %d, %v", before, err)
	}
	c := s.Client(t)
	pipe := c.Pipeline()
	for i := range 10000 {
		pipe.Set(ctx, "key:"+strconv.Itoa(i), strings.Repeat("x", 100), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := s.UsedMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if per := (after - before) / 10000; per < 100 || per > 1000 {
		t.Fatalf("used_memory grew %d bytes per 100-byte key (%d → %d); want 100..1000", per, before, after)
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node Redis Cluster (~3 s); skipped with -short")
	}
	t.Parallel()
	ctx := t.Context()
	cl := redistest.StartCluster(t, 3)
	if len(cl.Addrs()) != 3 {
		t.Fatalf("Addrs = %v", cl.Addrs())
	}
	c := cl.Client(t)
	rt := redistest.RoundTrips(c)

	// Every node is a master serving a third of the slots.
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil || len(shards) != 3 {
		t.Fatalf("CLUSTER SHARDS = %d shards, %v", len(shards), err)
	}
	rt.Reset()

	script := redis.NewScript(`redis.call("SET", KEYS[1], ARGV[1]); redis.call("SET", KEYS[2], ARGV[1]); return redis.call("GET", KEYS[2])`)
	got, err := script.Eval(ctx, c, []string{"v:{t1}:a", "v:{t1}:b"}, "x").Result()
	if err != nil || got != "x" {
		t.Fatalf("EVAL on one hash tag = %v, %v", got, err)
	}
	if n := rt.Load(); n != 1 {
		t.Fatalf("round trips for one EVAL on a cluster = %d, want 1", n)
	}
	// Keys of the same tag went to the same node; keys of two tags in one script are refused.
	_, err = script.Eval(ctx, c, []string{"v:{t1}:a", "v:{t2}:b"}, "x").Result()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("EVAL on two hash tags: err = %v, want CROSSSLOT", err)
	}

	// Sharded pub/sub: SSUBSCRIBE on the channel's shard, SPUBLISH delivers.
	sub := c.SSubscribe(ctx, "w:{t1}")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	if err := c.SPublish(ctx, "w:{t1}", "hello").Err(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msg, err := sub.ReceiveMessage(rctx)
	if err != nil || msg.Channel != "w:{t1}" || msg.Payload != "hello" {
		t.Fatalf("SSUBSCRIBE got %+v, %v", msg, err)
	}
}

func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts master, replica and sentinel and waits for a failover (~3 s); skipped with -short")
	}
	t.Parallel()
	ctx := t.Context()
	s := redistest.StartSentinel(t)
	if s.MasterName() != "mymaster" || len(s.SentinelAddrs()) != 1 {
		t.Fatalf("MasterName = %q, SentinelAddrs = %v", s.MasterName(), s.SentinelAddrs())
	}
	c := s.Client(t)
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Make sure the write reached the replica before the master dies.
	if n, err := c.Wait(ctx, 1, time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}

	start := time.Now()
	s.KillMaster()
	eventually(t, 15*time.Second, "SET after failover", func(ctx context.Context) error {
		return c.Set(ctx, "after", "2", 0).Err()
	})
	t.Logf("writes succeed again %v after KillMaster", time.Since(start).Round(10*time.Millisecond))
	if got, err := c.Get(ctx, "before").Result(); err != nil || got != "1" {
		t.Fatalf("GET before on the promoted replica = %q, %v", got, err)
	}
}

func TestProxy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	direct := s.Client(t)
	p := redistest.NewProxy(t, s.Addr())
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: 2})
	t.Cleanup(func() { _ = c.Close() })

	if err := direct.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET through proxy = %q, %v", got, err)
	}
	if p.Conns() < 1 {
		t.Fatalf("Conns = %d", p.Conns())
	}

	t.Run("DropReplies", func(t *testing.T) {
		p.DropReplies(1)
		err := c.Set(ctx, "lost", "ran", 0).Err()
		p.DropReplies(0)
		if err == nil {
			t.Fatal("SET with every reply dropped succeeded")
		}
		// The command ran although its reply never arrived.
		if got, gerr := direct.Get(ctx, "lost").Result(); gerr != nil || got != "ran" {
			t.Fatalf("GET lost on the server = %q, %v (client saw %v)", got, gerr, err)
		}
		if p.Dropped() < 1 {
			t.Fatalf("Dropped = %d", p.Dropped())
		}
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after DropReplies(0) = %v", err)
		}
	})

	t.Run("Delay", func(t *testing.T) {
		p.SetDelay(100 * time.Millisecond)
		start := time.Now()
		err := c.Ping(ctx).Err()
		took := time.Since(start)
		p.SetDelay(0)
		if err != nil || took < 100*time.Millisecond {
			t.Fatalf("PING with 100ms delay: %v after %v", err, took)
		}
	})

	t.Run("CutRestore", func(t *testing.T) {
		p.Cut()
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("PING through a cut proxy succeeded")
		}
		conns := p.Conns()
		p.Restore()
		eventually(t, 5*time.Second, "PING after Restore", func(ctx context.Context) error {
			return c.Ping(ctx).Err()
		})
		if p.Conns() <= conns {
			t.Fatalf("Conns = %d after Restore, want > %d (a new connection)", p.Conns(), conns)
		}
	})
}

// dropPattern runs n SETs through a fresh proxy seeded with seed and dropping half the replies,
// and returns which failed.
func dropPattern(t *testing.T, s *redistest.Server, seed uint64, n int) string {
	t.Helper()
	p := redistest.NewProxy(t, s.Addr())
	p.SetSeed(seed)
	p.DropReplies(0.5)
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1})
	defer func() { _ = c.Close() }()
	var b strings.Builder
	for i := range n {
		if c.Set(t.Context(), "k"+strconv.Itoa(i), i, 0).Err() != nil {
			b.WriteByte('x')
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

func TestProxyDropsReproducibly(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	a, b := dropPattern(t, s, 42, 40), dropPattern(t, s, 42, 40)
	if a != b {
		t.Fatalf("same seed, different drops:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Fatalf("DropReplies(0.5) over 40 commands gave %s", a)
	}
	if c := dropPattern(t, s, 43, 40); c == a {
		t.Fatalf("seeds 42 and 43 gave the same drops %s", a)
	}
}

func TestProxyConcurrentControls(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	p := redistest.NewProxy(t, s.Addr())
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, PoolSize: 4})
	t.Cleanup(func() { _ = c.Close() })

	// Faults flip while clients run; nothing races (go test -race) and everything stops.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					_ = c.Incr(ctx, "n").Err()
				}
			}
		})
	}
	for i := range 20 {
		switch i % 4 {
		case 0:
			p.DropReplies(0.3)
		case 1:
			p.SetDelay(time.Millisecond)
		case 2:
			p.Cut()
		case 3:
			p.Restore()
			p.DropReplies(0)
			p.SetDelay(0)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	eventually(t, 5*time.Second, "PING after the faults", func(ctx context.Context) error {
		return c.Ping(ctx).Err()
	})
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	c := s.Client(t)
	rt := redistest.RoundTrips(c)

	check := func(what string, want int64) {
		t.Helper()
		if got := rt.Load(); got != want {
			t.Fatalf("%s: %d round trips, want %d", what, got, want)
		}
		rt.Reset()
	}

	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	check("one SET", 1)

	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "2", 0)
		p.Incr(ctx, "b")
		p.Get(ctx, "a")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("a pipeline of 3", 1)

	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "b")
		p.Incr(ctx, "b")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("a MULTI/EXEC of 2", 1)

	cached := redis.NewScript(`return redis.call("INCR", KEYS[1])`)
	if err := cached.Load(ctx, c).Err(); err != nil {
		t.Fatal(err)
	}
	rt.Reset()
	if err := cached.Run(ctx, c, []string{"b"}).Err(); err != nil {
		t.Fatal(err)
	}
	check("Script.Run with the sha cached (EVALSHA)", 1)

	uncached := redis.NewScript(`return redis.call("DECR", KEYS[1])`)
	if err := uncached.Run(ctx, c, []string{"b"}).Err(); err != nil {
		t.Fatal(err)
	}
	check("Script.Run with the sha not cached (EVALSHA NOSCRIPT, then EVAL)", 2)
}

// fakeTB records Skip and Fatal instead of ending the real test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) { f.skipped = fmt.Sprint(args...); runtime.Goexit() }

func (f *fakeTB) Fatal(args ...any) { f.failed = fmt.Sprint(args...); runtime.Goexit() }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runFake runs f with a fakeTB on its own goroutine (Skip and Fatal end that goroutine) and returns
// what it recorded.
func runFake(t *testing.T, f func(testing.TB)) *fakeTB {
	fake := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(fake)
	}()
	<-done
	return fake
}

// Not parallel: it changes the environment.
func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(redistest.EnvRedisServer, "")
	t.Setenv(redistest.EnvRedisCLI, "")
	const msg = "redis-server not found: apt-get install -y redis-server"

	t.Setenv("CI", "")
	if f := runFake(t, func(tb testing.TB) { redistest.Start(tb) }); f.skipped != msg || f.failed != "" {
		t.Fatalf("without CI: skipped %q, failed %q; want a skip %q", f.skipped, f.failed, msg)
	}
	if f := runFake(t, func(tb testing.TB) { redistest.StartCluster(tb, 3) }); f.skipped != msg {
		t.Fatalf("StartCluster without CI: skipped %q, failed %q", f.skipped, f.failed)
	}

	t.Setenv("CI", "true")
	if f := runFake(t, func(tb testing.TB) { redistest.Start(tb) }); f.failed != msg || f.skipped != "" {
		t.Fatalf("with CI=true: skipped %q, failed %q; want a failure %q", f.skipped, f.failed, msg)
	}

	// An explicit path that is wrong fails even outside CI.
	t.Setenv("CI", "")
	t.Setenv(redistest.EnvRedisServer, "/nonexistent/redis-server")
	if f := runFake(t, func(tb testing.TB) { redistest.StartSentinel(tb) }); f.failed == "" {
		t.Fatalf("%s pointing nowhere: skipped %q, want a failure", redistest.EnvRedisServer, f.skipped)
	}
}

func TestDumpReadsEveryType(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	rdb.Set(ctx, "s", "sv", 0)
	rdb.HSet(ctx, "h", "hf", "hv")
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: "x", ID: "1-1", Values: []string{"xf", "xv"}})
	rdb.SAdd(ctx, "set", "m")
	rdb.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "zm"})
	rdb.RPush(ctx, "l", "lv")
	got := redistest.Dump(t, rdb)
	want := map[string][]string{"s": {"sv"}, "h": {"hf", "hv"}, "x": {"1-1", "xf", "xv"}, "set": {"m"}, "z": {"zm"}, "l": {"lv"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Dump = %v, want %v", got, want)
	}
	if keys := redistest.Keys(t, rdb); fmt.Sprint(keys) != "[h l s set x z]" {
		t.Fatalf("Keys = %v", keys)
	}
}
