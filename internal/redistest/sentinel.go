package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinelMaster is the name under which the sentinel monitors the master.
const sentinelMaster = "mymaster"

// sentinelTimeout bounds the wait for the replica to sync and the sentinel to see both servers.
const sentinelTimeout = 15 * time.Second

// Sentinel is a master, one replica of it and one sentinel monitoring them (quorum 1,
// down-after-milliseconds 1000), started by [StartSentinel] for one test. It supports one failover:
// after [Sentinel.KillMaster] the replica becomes the master and there is no replica left.
type Sentinel struct {
	master, replica, sentinel *node
}

// StartSentinel starts a master (with repl-diskless-sync-delay 0, so the first sync is immediate), a
// replica of it and a sentinel, and returns when the replica is in sync and the sentinel sees the
// master as healthy with one replica (within about 15 s; typically well under 1 s). Everything is
// killed in t.Cleanup. It skips t (fails it when CI=true) when redis-server is not installed.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := redisServerPath(t)
	deadline := time.Now().Add(sentinelTimeout)
	s := &Sentinel{}

	s.master = newNode(t, bin, "master", "--repl-diskless-sync-delay", "0")
	launch(t, s.master, 8, 0, freePort)
	mport := strconv.Itoa(s.master.getPort())

	s.replica = newNode(t, bin, "replica",
		"--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", mport)
	launch(t, s.replica, 8, 0, freePort)
	s.waitFor(t, s.replica, deadline, "INFO", "replication", "master_link_status:up")
	// The sentinel learns of replicas from the master's INFO, which it asks for on connecting and
	// then only every 10 s: the master must list the replica before the sentinel starts.
	s.waitFor(t, s.master, deadline, "INFO", "replication",
		"slave0:ip=127.0.0.1,port="+strconv.Itoa(s.replica.getPort())+",state=online")

	s.sentinel = newNode(t, bin, "sentinel", "--sentinel", "--protected-mode", "no")
	s.sentinel.data = false
	s.sentinel.conf = filepath.Join(s.sentinel.dir, "sentinel.conf")
	conf := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]s 1
sentinel down-after-milliseconds %[1]s 1000
sentinel failover-timeout %[1]s 3000
sentinel parallel-syncs %[1]s 1
`, sentinelMaster, mport)
	if err := os.WriteFile(s.sentinel.conf, []byte(conf), 0o600); err != nil {
		t.Fatalf("redistest: writing sentinel config: %v", err)
	}
	launch(t, s.sentinel, 8, 0, freePort)
	s.waitFor(t, s.sentinel, deadline, "INFO", "sentinel", "status=ok,address=127.0.0.1:"+mport+",slaves=1")
	return s
}

// waitFor polls a command on n until its reply contains want, or fails t at the deadline.
func (s *Sentinel) waitFor(t testing.TB, n *node, deadline time.Time, cmd, arg, want string) {
	t.Helper()
	var last string
	for {
		out, err := commandString(n.addr(), probeTimeout, cmd, arg)
		if err == nil && strings.Contains(out, want) {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = out
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s never showed %q in %s %s within %v; last reply:\n%s\nlog:\n%s",
				n.name, want, cmd, arg, sentinelTimeout, tail(last), n.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MasterName returns the name the sentinel monitors the master under ("mymaster").
func (s *Sentinel) MasterName() string { return sentinelMaster }

// SentinelAddrs returns the sentinels' "127.0.0.1:port" addresses (one sentinel).
func (s *Sentinel) SentinelAddrs() []string { return []string{s.sentinel.addr()} }

// Client returns a go-redis FailoverClient for the master, closed in t.Cleanup. It follows a
// failover by itself.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    sentinelMaster,
		SentinelAddrs: s.SentinelAddrs(),
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// KillMaster kills (SIGKILL) the server the sentinel currently reports as master, so that the
// sentinel fails over to the replica; failover typically completes within 2–3 s. When the
// sentinel cannot be asked, the original master is killed.
func (s *Sentinel) KillMaster() {
	victim := s.master
	r, err := command(s.sentinel.addr(), probeTimeout, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinelMaster)
	if a, ok := r.([]any); err == nil && ok && len(a) == 2 {
		if port, _ := a[1].(string); port == strconv.Itoa(s.replica.getPort()) {
			victim = s.replica
		}
	}
	victim.kill()
}
