package redistest

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a byte-level TCP proxy from a loopback address to a Redis, with faults that can be
// switched at run time from any goroutine. It is created by [NewProxy] and closed in t.Cleanup.
//
// It does not parse RESP: each chunk read from a client is treated as one command (or one
// pipeline), and each chunk read from the server as one reply chunk.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every connection's goroutines

	delay   atomic.Int64  // time.Duration applied before each reply chunk
	dropP   atomic.Uint64 // math.Float64bits of the drop probability
	conns   atomic.Int64
	dropped atomic.Int64

	mu     sync.Mutex
	rng    *rand.Rand
	cut    bool
	closed bool
	open   map[*proxyConn]struct{}
}

// proxyConn is one client connection and its upstream connection.
type proxyConn struct {
	client, upstream net.Conn
	dropReply        atomic.Bool   // the reply to the last forwarded command must be lost
	done             chan struct{} // closed by close
	once             sync.Once
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.client.Close()
		_ = c.upstream.Close()
	})
}

// NewProxy starts a proxy on 127.0.0.1:0 forwarding every connection to target (host:port).
// It starts with no faults and seed 1. It is closed, with all its connections, in t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{
		target: target,
		ln:     ln,
		rng:    rand.New(rand.NewPCG(1, 1)),
		open:   make(map[*proxyConn]struct{}),
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's "127.0.0.1:port"; point clients here instead of at the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay delays every reply chunk by d before it is passed to the client (0: no delay).
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// DropReplies makes the proxy lose replies with probability prob (0: never, 1: always): after
// forwarding a client's command to the server, it closes the client connection instead of
// delivering the reply, so the command ran but the client saw a broken connection — the fault that
// makes go-redis retry a command that already ran. Connection-setup commands (a chunk starting
// with HELLO, AUTH, CLIENT, SELECT, READONLY or READWRITE) are never dropped, so that a client can
// still connect under DropReplies(1).
func (p *Proxy) DropReplies(prob float64) { p.dropP.Store(math.Float64bits(prob)) }

// SetSeed reseeds the source of DropReplies decisions, for reproducible runs. Decisions are drawn
// in the order chunks arrive, so they are reproducible for one client doing one thing at a time.
func (p *Proxy) SetSeed(seed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rng = rand.New(rand.NewPCG(seed, seed))
}

// Cut closes every current connection and refuses (accepts and resets) new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	open := make([]*proxyConn, 0, len(p.open))
	for c := range p.open {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.close()
	}
}

// Restore undoes Cut: new connections are forwarded again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Conns returns how many client connections have been forwarded to the target so far (refused
// ones are not counted).
func (p *Proxy) Conns() int { return int(p.conns.Load()) }

// Dropped returns how many replies have been dropped by DropReplies so far.
func (p *Proxy) Dropped() int { return int(p.dropped.Load()) }

// close stops accepting, closes every connection and waits for all goroutines.
func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// refusing reports whether new connections must be refused.
func (p *Proxy) refusing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut || p.closed
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(pollInterval)
			continue
		}
		if p.refusing() {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// reset closes c so that its peer sees a reset rather than an orderly end.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// handle connects one client to the target and copies both ways until either side ends.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		reset(client)
		return
	}
	c := &proxyConn{client: client, upstream: up, done: make(chan struct{})}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		reset(client)
		_ = up.Close()
		return
	}
	p.open[c] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	p.conns.Add(1)

	go p.replies(c)
	p.commands(c)

	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
}

// commands copies client → target, deciding for each chunk whether its reply will be lost. The
// decision is recorded before the chunk is forwarded, so a fast reply cannot overtake it.
func (p *Proxy) commands(c *proxyConn) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			if p.shouldDrop(buf[:n]) {
				c.dropReply.Store(true)
			}
			if _, werr := c.upstream.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// replies copies target → client, applying the delay and dropping a reply that must be lost.
func (p *Proxy) replies(c *proxyConn) {
	defer p.wg.Done()
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.upstream.Read(buf)
		if n > 0 {
			if c.dropReply.Load() {
				p.dropped.Add(1)
				return
			}
			if d := time.Duration(p.delay.Load()); d > 0 {
				select {
				case <-time.After(d):
				case <-c.done:
					return
				}
			}
			if _, werr := c.client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// setupCommands are connection-setup commands whose replies are never dropped.
var setupCommands = [][]byte{
	[]byte("HELLO"), []byte("AUTH"), []byte("CLIENT"), []byte("SELECT"),
	[]byte("READONLY"), []byte("READWRITE"),
}

// shouldDrop draws whether the reply to chunk must be lost.
func (p *Proxy) shouldDrop(chunk []byte) bool {
	prob := math.Float64frombits(p.dropP.Load())
	if prob <= 0 {
		return false
	}
	name := firstCommand(chunk)
	for _, s := range setupCommands {
		if bytes.EqualFold(name, s) {
			return false
		}
	}
	if prob >= 1 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < prob
}

// firstCommand returns the name of the first command in a chunk of RESP ("*2\r\n$3\r\nGET\r\n...")
// or of an inline command ("PING\r\n"), or nil when it cannot tell.
func firstCommand(chunk []byte) []byte {
	if len(chunk) == 0 {
		return nil
	}
	if chunk[0] != '*' {
		name, _, _ := bytes.Cut(chunk, []byte(" "))
		name, _, _ = bytes.Cut(name, []byte("\r\n"))
		return name
	}
	_, rest, ok := bytes.Cut(chunk, []byte("\r\n")) // skip "*N"
	if !ok || len(rest) == 0 || rest[0] != '$' {
		return nil
	}
	_, rest, ok = bytes.Cut(rest, []byte("\r\n")) // skip "$len"
	if !ok {
		return nil
	}
	name, _, ok := bytes.Cut(rest, []byte("\r\n"))
	if !ok {
		return nil
	}
	return name
}
