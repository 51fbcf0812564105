// Package pgtest is the test harness that gives a test a real PostgreSQL server of its own.
//
// It is test-only, like package redistest: imported only from _test.go files, a normal package so
// that several packages can share it. The contract mirrors redistest's:
//
//   - Every server is a fresh cluster: initdb into the test's t.TempDir(), then a postgres process
//     listening on a free port of 127.0.0.1, its Unix socket in the same directory (or none, when
//     that path would be too long for a socket), fsync off (a test does not crash PostgreSQL). The
//     database "authsvc" belongs to the superuser "authsvc" and trusts local connections.
//   - The binaries are taken from the directory AUTHSVC_PG_BIN when it is set (a wrong directory
//     fails the test), otherwise from PATH, otherwise from /usr/lib/postgresql/<version>/bin, the
//     newest first, where Debian puts them (off PATH). When they are missing the test is skipped
//     with an install hint, or failed when CI=true.
//   - PostgreSQL refuses to run as root. Under root the harness runs initdb and postgres as the
//     "postgres" user (Debian's package creates it), else as "nobody", and hands that user the
//     data directory (and lets it traverse the test's temporary directory).
//   - postgres is a child of the test binary with Pdeathsig = SIGKILL, stopped in t.Cleanup; it
//     answers within about 20 s or the test fails with the end of its log.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPGBin names an explicit directory holding initdb and postgres.
const EnvPGBin = "AUTHSVC_PG_BIN"

// installHint is the message of the skip (or, under CI=true, the failure) for missing binaries.
const installHint = "apt-get install -y postgresql"

const (
	readyTimeout = 20 * time.Second
	stopGrace    = 10 * time.Second
	// maxSocketPath keeps "<dir>/.s.PGSQL.<port>" under the 107 bytes of a Unix socket path.
	maxSocketPath = 90
)

// Server is one PostgreSQL server started by Start.
type Server struct {
	bin, data string
	cred      *syscall.Credential
	port      int
	dir       string
	cmd       *exec.Cmd
	done      chan struct{}
}

// Start initialises a fresh cluster in a t.TempDir(), starts postgres on a free loopback port and
// returns once it accepts connections. It is stopped in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cred := credential(t, dir)

	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "authsvc", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}

	var s *Server
	var err error
	for range 8 {
		port, perr := freePort()
		if perr != nil {
			t.Fatalf("pgtest: %v", perr)
		}
		if s, err = start(bin, dir, data, cred, port); err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) {
			t.Fatalf("pgtest: %v", err)
		}
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.stop)
	if err := s.createDatabase(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// URL returns a connection URL for the database "authsvc" as user "authsvc" (no password).
func (s *Server) URL() string {
	return "postgres://authsvc@127.0.0.1:" + strconv.Itoa(s.port) + "/authsvc?sslmode=disable"
}

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

var errPortTaken = errors.New("port taken")

// Stop stops the server (a fast shutdown) and waits until it has exited; clients then fail
// until Restart.
func (s *Server) Stop() { s.stop() }

// Restart starts the stopped server again on the same port with its data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	for range 20 {
		var n *Server
		if n, err = start(s.bin, s.dir, s.data, s.cred, s.port); err == nil {
			s.cmd, s.done = n.cmd, n.done
			return
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pgtest: restart: %v", err)
}

// start runs postgres on port and waits until it accepts connections.
func start(bin, dir, data string, cred *syscall.Credential, port int) (*Server, error) {
	sock := dir
	if len(sock) > maxSocketPath {
		sock = "" // no Unix socket rather than one postgres cannot bind
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	off, _ := logf.Seek(0, 2)
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+sock,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=40", "-c", "shared_buffers=16MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{bin: bin, data: data, cred: cred, port: port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-s.done:
			out := logFrom(logPath, off)
			if strings.Contains(out, "already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("postgres exited during start-up; log:\n%s", out)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, "postgres://authsvc@127.0.0.1:"+strconv.Itoa(port)+"/postgres?sslmode=disable")
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("postgres did not answer within %v (%w); log:\n%s", readyTimeout, err, logFrom(logPath, off))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) createDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://authsvc@127.0.0.1:"+strconv.Itoa(s.port)+"/postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, "CREATE DATABASE authsvc")
	return err
}

// stop ends postgres with a fast shutdown (SIGINT), then SIGKILL after stopGrace. It is a no-op
// once postgres has exited.
func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return
	case <-time.After(stopGrace):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// binDir finds the directory holding initdb and postgres, or skips (fails under CI=true) t.
func binDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvPGBin); d != "" {
		if !executable(filepath.Join(d, "initdb")) || !executable(filepath.Join(d, "postgres")) {
			t.Fatalf("%s=%q does not hold initdb and postgres", EnvPGBin, d)
		}
		return d
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		// Resolve a symlink (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb), so that
		// postgres is taken from the same installation.
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if d := filepath.Dir(p); executable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	msg := "PostgreSQL (initdb, postgres) not found on PATH or under /usr/lib/postgresql/*/bin: " + installHint
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// version is the major version in /usr/lib/postgresql/<version>/bin, 0 when not a number.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// credential returns the user to run PostgreSQL as: nil (this process's) unless it is root, then
// "postgres" or "nobody", who is given dir and may traverse its parent.
func credential(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("pgtest: running as root and neither user postgres nor nobody exists; PostgreSQL refuses to run as root")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// t.TempDir's parent is private to this process's user (0700): let the server's user through.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func logFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	out := string(b[off:])
	if len(out) > 2000 {
		out = "…" + out[len(out)-2000:]
	}
	return out
}
