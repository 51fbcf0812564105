package redistest

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// holdPort listens on a free loopback port (or on port when it is non-zero) until the test ends.
func holdPort(t *testing.T, port int) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestStartOnTakenPort(t *testing.T) {
	t.Parallel()
	bin := redisServerPath(t)

	t.Run("by a listener", func(t *testing.T) {
		port := holdPort(t, 0)
		n := newNode(t, bin, "redis")
		if err := n.start(port); !errors.Is(err, errPortTaken) {
			t.Fatalf("start on a held port: %v, want errPortTaken", err)
		}
		if n.running() {
			t.Fatal("node still running after a failed start")
		}
	})

	t.Run("by another redis", func(t *testing.T) {
		other := Start(t)
		n := newNode(t, bin, "redis")
		if err := n.start(other.Port()); !errors.Is(err, errPortTaken) {
			t.Fatalf("start on another redis's port: %v, want errPortTaken", err)
		}
		if !other.Running() {
			t.Fatal("the other redis died")
		}
	})

	t.Run("cluster bus port", func(t *testing.T) {
		port, err := freePortPair()
		if err != nil {
			t.Fatal(err)
		}
		holdPort(t, port+clusterBusOffset)
		n := newNode(t, bin, "cluster", "--cluster-enabled", "yes")
		if err := n.start(port); !errors.Is(err, errPortTaken) {
			t.Fatalf("start with the bus port held: %v, want errPortTaken", err)
		}
	})

	t.Run("launch retries", func(t *testing.T) {
		held := holdPort(t, 0)
		n := newNode(t, bin, "redis")
		calls := 0
		launch(t, n, 3, 0, func() (int, error) {
			calls++
			if calls == 1 {
				return held, nil
			}
			return freePort()
		})
		if calls != 2 || !n.running() || n.getPort() == held {
			t.Fatalf("calls = %d, running = %v, port = %d (held %d)", calls, n.running(), n.getPort(), held)
		}
	})
}

func TestFirstCommand(t *testing.T) {
	t.Parallel()
	for chunk, want := range map[string]string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n":                       "GET",
		"*3\r\n$5\r\nhello\r\n$1\r\n3\r\n*1\r\n$4\r\nPING\r\n": "hello",
		"PING\r\n":       "PING",
		"SET k v\r\n":    "SET",
		"*2\r\n$3\r\nGE": "",
		"":               "",
	} {
		if got := string(firstCommand([]byte(chunk))); got != want {
			t.Errorf("firstCommand(%q) = %q, want %q", chunk, got, want)
		}
	}
}

func TestReadReply(t *testing.T) {
	t.Parallel()
	in := "+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*3\r\n$1\r\na\r\n:1\r\n-ERR x\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	if v, err := readReply(r); v != "OK" || err != nil {
		t.Fatalf("simple: %v %v", v, err)
	}
	if _, err := readReply(r); err == nil || err.Error() != "ERR bad" {
		t.Fatalf("error: %v", err)
	}
	if v, err := readReply(r); v != int64(42) || err != nil {
		t.Fatalf("int: %v %v", v, err)
	}
	if v, err := readReply(r); v != "hello" || err != nil {
		t.Fatalf("bulk: %v %v", v, err)
	}
	if v, err := readReply(r); v != nil || err != nil {
		t.Fatalf("null: %v %v", v, err)
	}
	v, err := readReply(r)
	a, ok := v.([]any)
	if err != nil || !ok || len(a) != 3 || a[0] != "a" || a[1] != int64(1) || a[2] != replyError("ERR x") {
		t.Fatalf("array: %#v %v", v, err)
	}
}
