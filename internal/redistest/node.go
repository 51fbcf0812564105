package redistest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on the harness's waits.
const (
	// readyTimeout bounds the wait for one redis-server process to answer.
	readyTimeout = 5 * time.Second
	// stopGrace bounds the wait after SIGTERM before SIGKILL follows.
	stopGrace = 5 * time.Second
	// probeTimeout bounds one raw probe command.
	probeTimeout = 500 * time.Millisecond
	// pollInterval is the pause between probes.
	pollInterval = 10 * time.Millisecond
)

// errPortTaken reports that the port a node was started on was not (or no longer) free; the caller
// may retry on another port.
var errPortTaken = errors.New("port already in use")

// node is one redis-server process (a plain server, a cluster node, a replica or a sentinel) that
// may be started, stopped and started again on the same port, in the same directory.
type node struct {
	name    string   // for messages: "redis", "cluster-0", "sentinel", ...
	bin     string   // redis-server
	dir     string   // working directory and --dir, from t.TempDir()
	logPath string   // the process's stdout and stderr
	conf    string   // config file passed first (sentinel), or ""
	data    bool     // pass the no-persistence data options (not for a sentinel)
	extra   []string // options appended after the standard ones

	mu   sync.Mutex
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been reaped
}

// newNode prepares a node in a fresh t.TempDir and registers its kill in t.Cleanup. The TempDir is
// created first so that its removal runs after the kill (cleanups run last-in, first-out).
func newNode(t testing.TB, bin, name string, extra ...string) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{
		name:    name,
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, name+".log"),
		data:    true,
		extra:   extra,
	}
	t.Cleanup(n.kill)
	return n
}

func (n *node) addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
}

func (n *node) getPort() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.port
}

func (n *node) args(port int) []string {
	var a []string
	if n.conf != "" {
		a = append(a, n.conf)
	}
	a = append(a,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--daemonize", "no",
		"--dir", n.dir,
		"--logfile", "",
		"--loglevel", "warning",
	)
	if n.data {
		a = append(a, "--save", "", "--appendonly", "no")
	}
	return append(a, n.extra...)
}

// start starts the process on port and waits until it answers. On failure the process is gone and
// the error is errPortTaken when another process holds the port (or the cluster bus port).
func (n *node) start(port int) error {
	n.mu.Lock()
	if n.done != nil && !closed(n.done) {
		n.mu.Unlock()
		return fmt.Errorf("%s is already running", n.name)
	}
	n.port = port
	n.mu.Unlock()

	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	off, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		logf.Close()
		return err
	}
	cmd := exec.Command(n.bin, n.args(port)...)
	cmd.Dir = n.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logf.Close() // the child holds its own descriptor
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()

	if err := n.waitReady(cmd.Process.Pid, done, off); err != nil {
		n.kill()
		return err
	}
	return nil
}

// waitReady polls the node until INFO answers with the process id of the process just started.
func (n *node) waitReady(pid int, done <-chan struct{}, logOff int64) error {
	addr := n.addr()
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for {
		select {
		case <-done:
			out := n.logFrom(logOff)
			if strings.Contains(out, "already in use") {
				return errPortTaken
			}
			return fmt.Errorf("%s exited during startup on %s; log:\n%s", n.name, addr, tail(out))
		default:
		}
		info, err := commandString(addr, probeTimeout, "INFO", "server")
		if err == nil {
			got, _ := infoField(info, "process_id")
			if got == strconv.Itoa(pid) {
				return nil
			}
			if got != "" {
				// Some other server answers on our port; ours will fail to bind.
				return errPortTaken
			}
			err = fmt.Errorf("INFO server has no process_id")
		}
		lastErr = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s did not answer within %v (last error: %w); log:\n%s",
				n.name, addr, readyTimeout, lastErr, tail(n.logFrom(logOff)))
		}
		select {
		case <-done:
		case <-time.After(pollInterval):
		}
	}
}

// logFrom returns the log written since offset off.
func (n *node) logFrom(off int64) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

// logTail returns the end of the node's whole log, for failure messages.
func (n *node) logTail() string { return tail(n.logFrom(0)) }

// stop sends sig and waits for the process to exit, following up with SIGKILL after stopGrace.
// It is a no-op when the process is not running.
func (n *node) stop(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(stopGrace):
	}
	_ = cmd.Process.Kill()
	<-done
}

// kill stops the process with SIGKILL; it is the node's cleanup.
func (n *node) kill() { n.stop(syscall.SIGKILL) }

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.done != nil && !closed(n.done)
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// tail returns the last lines of a log for a failure message.
func tail(s string) string {
	const max = 2000
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

// launch starts n on ports chosen by pick, retrying while the chosen port turns out to be taken
// (another process may grab a port between the check and the bind). It fails t otherwise.
func launch(t testing.TB, n *node, attempts int, pause time.Duration, pick func() (int, error)) {
	t.Helper()
	var err error
	for i := range attempts {
		if i > 0 && pause > 0 {
			time.Sleep(pause)
		}
		var port int
		if port, err = pick(); err != nil {
			continue
		}
		if err = n.start(port); !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: starting %s: %v", n.name, err)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// clusterBusOffset is the distance between a cluster node's port and its cluster bus port.
const clusterBusOffset = 10000

// freePortPair returns a port P such that P and P+10000 were both free a moment ago.
func freePortPair() (int, error) {
	for range 50 {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
		if p+clusterBusOffset > 65535 {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+clusterBusOffset)))
		if err != nil {
			continue
		}
		ln.Close()
		return p, nil
	}
	return 0, errors.New("no free port P with P+10000 free")
}
