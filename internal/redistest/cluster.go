package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds creating a cluster: from the first node's start until every node reports
// cluster_state:ok with every slot served.
const clusterTimeout = 15 * time.Second

// Cluster is a Redis Cluster of masters only (no replicas) started by [StartCluster] for one test.
type Cluster struct {
	nodes []*node
}

// StartCluster starts masters (at least 3) fresh cluster-enabled redis-servers, each in its own
// temp dir on a port P whose bus port P+10000 is free too, joins them with `redis-cli --cluster
// create ... --cluster-replicas 0`, and returns when every node reports cluster_state:ok and all
// 16384 slots served (within about 15 s; typically 2–3 s). The nodes are killed in t.Cleanup.
// It skips t (fails it when CI=true) when redis-server or redis-cli is not installed.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: StartCluster needs at least 3 masters, got %d", masters)
	}
	bin := redisServerPath(t)
	cli := redisCLIPath(t, bin)
	deadline := time.Now().Add(clusterTimeout)

	c := &Cluster{}
	for i := range masters {
		n := newNode(t, bin, "cluster-"+strconv.Itoa(i),
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
		)
		launch(t, n, 8, 0, freePortPair)
		c.nodes = append(c.nodes, n)
	}

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, tail(string(out)))
	}

	for _, n := range c.nodes {
		if err := waitClusterOK(n, masters, deadline); err != nil {
			t.Fatalf("redistest: cluster node %s: %v; log:\n%s", n.addr(), err, n.logTail())
		}
	}
	return c
}

// waitClusterOK polls CLUSTER INFO on n until the node sees a healthy cluster of masters nodes
// serving all slots.
func waitClusterOK(n *node, masters int, deadline time.Time) error {
	want := map[string]string{
		"cluster_state":          "ok",
		"cluster_slots_assigned": "16384",
		"cluster_slots_ok":       "16384",
		"cluster_known_nodes":    strconv.Itoa(masters),
		"cluster_size":           strconv.Itoa(masters),
	}
	var last string
	for {
		info, err := commandString(n.addr(), probeTimeout, "CLUSTER", "INFO")
		if err == nil {
			ok := true
			for k, v := range want {
				if got, _ := infoField(info, k); got != v {
					ok = false
					last = fmt.Sprintf("%s=%q, want %q", k, got, v)
					break
				}
			}
			if ok {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready within %v: %s", clusterTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addrs returns the nodes' "127.0.0.1:port" addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr()
	}
	return out
}

// Client returns a go-redis ClusterClient seeded with all nodes, closed in t.Cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}
