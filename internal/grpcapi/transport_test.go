package grpcapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// h2Conn is a bare HTTP/2 client connection to the fixture's server. It sends
// what a grpc-go client refuses to (metadata over the limit the server
// advertises) and reads the server's frames as they come.
type h2Conn struct {
	conn     net.Conn
	fr       *http2.Framer
	settings map[http2.SettingID]uint32
	nextID   uint32
}

// dialH2 connects, exchanges the prefaces and records the server's settings.
func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &h2Conn{conn: conn, fr: http2.NewFramer(conn, conn), settings: map[http2.SettingID]uint32{}, nextID: 1}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := c.fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first server frame %T, want SETTINGS", f)
	}
	if err := sf.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	return c
}

// open sends the headers of a call of method with the metadata md on a new
// stream, in frames of at most 16 KiB; end ends the stream after an empty
// request message. It returns the stream id.
func (c *h2Conn) open(method string, md map[string]string, end bool) (uint32, error) {
	id := c.nextID
	c.nextID += 2
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method}, {Name: ":authority", Value: "localhost"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"}}
	for k, v := range md {
		fields = append(fields, hpack.HeaderField{Name: k, Value: v})
	}
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			return 0, err
		}
	}
	b := block.Bytes()
	for first := true; first || len(b) > 0; first = false {
		chunk := b[:min(len(b), 16<<10)]
		b = b[len(chunk):]
		var err error
		if first {
			err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: chunk, EndHeaders: len(b) == 0})
		} else {
			err = c.fr.WriteContinuation(id, len(b) == 0, chunk)
		}
		if err != nil {
			return 0, err
		}
	}
	if end {
		// An empty message: flag 0 (uncompressed), length 0.
		if err := c.fr.WriteData(id, true, make([]byte, 5)); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// outcome reads frames until stream id ends: the grpc-status of its trailers,
// or an error saying how the stream or the connection was refused.
func (c *h2Conn) outcome(id uint32) (string, error) {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return "", fmt.Errorf("connection: %w", err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				if s := f.PseudoValue("status"); s != "" && s != "200" {
					return "", fmt.Errorf("HTTP status %s", s)
				}
				for _, hf := range f.Fields {
					if hf.Name == "grpc-status" {
						return hf.Value, nil
					}
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "", fmt.Errorf("stream reset: %v", f.ErrCode)
			}
		case *http2.GoAwayFrame:
			return "", fmt.Errorf("goaway: %v", f.ErrCode)
		}
	}
}

// TestMetadataLimit: a call whose metadata is over the limit is refused by the
// transport while it reads the headers, before authentication: with a wrong
// API key, no API_KEY_INVALID is answered, logged, counted or audited.
func TestMetadataLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	const getJwks = authsvcv1.AssertionService_GetJwks_FullMethodName
	wrongKey := map[string]string{"authorization": "Bearer not-a-key"}

	// The control: the same bare client, small metadata, reaches authentication.
	c := dialH2(t, f.conn.Target())
	if got := c.settings[http2.SettingMaxHeaderListSize]; got != DefaultMaxHeaderListSize {
		t.Errorf("advertised SETTINGS_MAX_HEADER_LIST_SIZE = %d, want %d", got, DefaultMaxHeaderListSize)
	}
	id, err := c.open(getJwks, wrongKey, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.outcome(id); err != nil || st != fmt.Sprint(int(codes.Unauthenticated)) {
		t.Fatalf("small metadata, wrong key: grpc-status %q, %v; want UNAUTHENTICATED", st, err)
	}

	// 1 MiB of metadata beside the same wrong key.
	big := map[string]string{"authorization": "Bearer not-a-key"}
	for i := range 1024 {
		big[fmt.Sprintf("x-pad-%04d", i)] = strings.Repeat("p", 1000)
	}
	c = dialH2(t, f.conn.Target())
	st := ""
	if id, err = c.open(getJwks, big, true); err == nil {
		st, err = c.outcome(id)
	}
	if err == nil {
		t.Fatalf("1 MiB of metadata answered grpc-status %s; want the stream or connection refused", st)
	}
	t.Logf("1 MiB of metadata: %v", err)

	// A grpc-go client does not even send it: the server advertised its limit.
	ctx := metadata.NewOutgoingContext(as(t, ""), metadata.New(big))
	if _, err := f.ac.GetJwks(ctx, &authsvcv1.GetJwksRequest{}); err == nil {
		t.Error("a call with 1 MiB of metadata succeeded")
	}

	// Authentication saw only the control.
	f.server.denials.wait()
	if n := requestCount(t, f.reg, getJwks, "Unauthenticated"); n != 1 {
		t.Errorf("UNAUTHENTICATED counted %v times, want 1 (the control)", n)
	}
	if n := len(callLines(t, f.logs.String(), getJwks, "Unauthenticated")); n != 1 {
		t.Errorf("%d log lines of refused GetJwks calls, want 1 (the control)", n)
	}
	if n := deniedCount(t, f.reg, "written"); n != 1 {
		t.Errorf("client_denied events written = %v, want 1 (the control)", n)
	}
}

// TestConnectionTimeout: a connection that sends nothing is closed once the
// handshake timeout has passed, over TLS (no ClientHello) and plaintext (no
// HTTP/2 preface) alike, while a client that completes the handshake works.
func TestConnectionTimeout(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "server CA")
	cert := ca.issue(t, leafOpts{usage: x509.ExtKeyUsageServerAuth, dns: []string{"localhost"}, cn: "localhost"})
	cfg := Config{ConnectionTimeout: 200 * time.Millisecond}
	plain := newFixture(t, fixtureOpts{cfg: cfg})
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	withTLS := newFixture(t, fixtureOpts{cfg: cfg})

	for name, addr := range map[string]string{"tls": withTLS.conn.Target(), "plaintext": plain.conn.Target()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Far beyond the 200 ms timeout: reaching it means the server kept the connection.
			if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, conn)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatal("an idle connection was still open after 5 s; the handshake timeout is 200 ms")
			}
		})
	}

	tc, err := grpc.NewClient(withTLS.conn.Target(), grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: ca.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := healthpb.NewHealthClient(tc).Check(as(t, ""), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a TLS client that completes its handshake: %v", err)
	}
}

// TestMaxConcurrentStreams: the server advertises its bound of streams per
// connection and refuses a stream beyond it.
func TestMaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	defaults := newFixture(t, fixtureOpts{})
	if got := dialH2(t, defaults.conn.Target()).settings[http2.SettingMaxConcurrentStreams]; got != DefaultMaxConcurrentStreams {
		t.Errorf("default SETTINGS_MAX_CONCURRENT_STREAMS = %d, want %d", got, DefaultMaxConcurrentStreams)
	}

	f := newFixture(t, fixtureOpts{cfg: Config{MaxConcurrentStreams: 4, MaxWatchesPerClient: 2, MaxInFlightPerClient: 2}})
	c := dialH2(t, f.conn.Target())
	if got := c.settings[http2.SettingMaxConcurrentStreams]; got != 4 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 4", got)
	}
	// Four calls that wait for their request message hold the four places.
	for range 4 {
		if _, err := c.open(authsvcv1.AssertionService_GetJwks_FullMethodName, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	id, err := c.open(authsvcv1.AssertionService_GetJwks_FullMethodName, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.outcome(id)
	if err == nil || !strings.Contains(err.Error(), "REFUSED_STREAM") {
		t.Errorf("a fifth stream: grpc-status %q, %v; want it reset with REFUSED_STREAM", st, err)
	}
}

// TestMaxConnectionAgeEndsWatch: once a connection has lived its age and its
// grace, a WatchVerification still open on it ends UNAVAILABLE, a status the
// platform acts on by watching again; the new watch gets the current state.
func TestMaxConnectionAgeEndsWatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{cfg: Config{MaxConnectionAge: time.Second, MaxConnectionAgeGrace: time.Second}})
	res := f.start(t, keyA, "aged")
	watch := func() authsvcv1.VerificationService_WatchVerificationClient {
		t.Helper()
		s, err := f.vc.WatchVerification(as(t, keyA), &authsvcv1.WatchVerificationRequest{VerificationId: res.GetVerification().GetVerificationId()})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Recv(); err != nil || m.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
			t.Fatalf("first message %v, %v; want PENDING", m, err)
		}
		return s
	}
	s := watch()
	_, err := s.Recv() // nothing changes: only the connection's end ends it, within the 10 s of as()
	wantCode(t, err, codes.Unavailable)
	watch()
}

// TestHealthWatchLimit: grpc.health.v1 Watch streams, which need no key, are
// bounded for the whole server; one beyond is refused at once with details,
// logged and counted, and a place given back can be taken again.
func TestHealthWatchLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{cfg: Config{MaxHealthWatches: 2}})
	hc := healthpb.NewHealthClient(f.conn)
	open := func(ctx context.Context) (healthpb.Health_WatchClient, error) {
		s, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return nil, err
		}
		_, err = s.Recv()
		return s, err
	}
	first, cancelFirst := context.WithCancel(as(t, ""))
	defer cancelFirst()
	for _, ctx := range []context.Context{first, as(t, "")} {
		if _, err := open(ctx); err != nil {
			t.Fatalf("a health watch within the bound: %v", err)
		}
	}
	_, err := open(as(t, ""))
	st := wantCode(t, err, codes.ResourceExhausted)
	if ei := errorInfo(t, st); ei.GetReason() != ReasonHealthWatchLimit {
		t.Errorf("reason %q, want %s", ei.GetReason(), ReasonHealthWatchLimit)
	}
	if d := detail[*errdetails.RetryInfo](t, st).GetRetryDelay().AsDuration(); d != healthWatchRetry {
		t.Errorf("retry delay %v, want %v", d, healthWatchRetry)
	}
	if _, err := hc.Check(as(t, ""), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("Check while the watches are full: %v", err)
	}
	const watchMethod = "/grpc.health.v1.Health/Watch"
	if n := requestCount(t, f.reg, watchMethod, "ResourceExhausted"); n != 1 {
		t.Errorf("refused health watches counted %v times, want 1", n)
	}
	if n := len(callLines(t, f.logs.String(), watchMethod, "ResourceExhausted")); n != 1 {
		t.Errorf("%d log lines of the refused watch, want 1", n)
	}

	cancelFirst()
	for deadline := time.Now().Add(5 * time.Second); f.server.limits.healthInUse() > 1; {
		if time.Now().After(deadline) {
			t.Fatal("a canceled health watch kept its place")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := open(as(t, "")); err != nil {
		t.Errorf("a health watch after one closed: %v", err)
	}
}
