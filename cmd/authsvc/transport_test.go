package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// defaultGRPC is the gRPC transport configuration when no variable sets one.
var defaultGRPC = GRPCConfig{
	HandshakeTimeout: 5 * time.Second, MaxHeaderBytes: 16384, MaxConcurrentStreams: 1100,
	MaxConnectionAge: 10 * time.Minute, MaxConnectionAgeGrace: 65 * time.Minute,
	MaxWatchesPerClient: 1000, MaxHealthWatches: 1000,
}

func TestLoadConfigGRPC(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	tests := []struct {
		name string
		env  map[string]string
		dev  bool
		want GRPCConfig
	}{
		{"production defaults", base, false, defaultGRPC},
		{"dev defaults", nil, true, defaultGRPC},
		{"every variable", with(base,
			"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT", "2s",
			"AUTHSVC_GRPC_MAX_HEADER_BYTES", "8192",
			"AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS", "600",
			"AUTHSVC_GRPC_MAX_CONNECTION_AGE", "30m",
			"AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE", "2h",
			"AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT", "500",
			"AUTHSVC_GRPC_MAX_HEALTH_WATCHES", "50",
		), false, GRPCConfig{HandshakeTimeout: 2 * time.Second, MaxHeaderBytes: 8192, MaxConcurrentStreams: 600,
			MaxConnectionAge: 30 * time.Minute, MaxConnectionAgeGrace: 2 * time.Hour, MaxWatchesPerClient: 500, MaxHealthWatches: 50}},
		// Streams per connection left unset follow more watches per client.
		{"more watches", with(base, "AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT", "5000"), false, func() GRPCConfig {
			g := defaultGRPC
			g.MaxWatchesPerClient, g.MaxConcurrentStreams = 5000, 5064
			return g
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(getenvFrom(tt.env), tt.dev)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if c.GRPC != tt.want {
				t.Errorf("grpc\n got %+v\nwant %+v", c.GRPC, tt.want)
			}
		})
	}
}

func TestLoadConfigGRPCProblems(t *testing.T) {
	t.Parallel()
	base := prodFiles(t)
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"handshake timeout too short", []string{"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT", "500ms"}, []string{"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT: want between 1s and 1m0s"}},
		{"handshake timeout off", []string{"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT", "0s"}, []string{"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT: want between"}},
		{"header bytes too many", []string{"AUTHSVC_GRPC_MAX_HEADER_BYTES", "16777216"}, []string{"AUTHSVC_GRPC_MAX_HEADER_BYTES: want between 1024 and 1048576"}},
		{"header bytes with a unit", []string{"AUTHSVC_GRPC_MAX_HEADER_BYTES", "16KiB"}, []string{"AUTHSVC_GRPC_MAX_HEADER_BYTES: want a whole number"}},
		{"streams below the watches", []string{"AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS", "100"},
			[]string{"AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS (100) is below AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT + 64 unary calls (1064)"}},
		{"streams below raised watches", []string{"AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS", "1100", "AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT", "2000"},
			[]string{"raise it to at least 2064"}},
		{"connection age too short", []string{"AUTHSVC_GRPC_MAX_CONNECTION_AGE", "10s"}, []string{"AUTHSVC_GRPC_MAX_CONNECTION_AGE: want between 1m0s and 24h0m0s"}},
		{"grace zero", []string{"AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE", "0s"}, []string{"AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE: want between 10s and 24h0m0s"}},
		{"watches zero", []string{"AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT", "0"}, []string{"AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT: want between 1 and 100000"}},
		{"health watches too many", []string{"AUTHSVC_GRPC_MAX_HEALTH_WATCHES", "1000000"}, []string{"AUTHSVC_GRPC_MAX_HEALTH_WATCHES: want between 1 and 100000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(getenvFrom(with(base, tt.env...)), false)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("loadConfig = %v, want a *ConfigError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no problem mentions %q; problems:\n%s", w, err)
				}
			}
		})
	}
}

// TestTransportLimitsReachTheService checks the wiring: the configured limits
// are the ones the running gRPC server enforces.
func TestTransportLimitsReachTheService(t *testing.T) {
	in := startService(t, []string{"-dev"}, map[string]string{
		"AUTHSVC_GRPC_ADDR": "127.0.0.1:0", "AUTHSVC_HTTP_ADDR": "127.0.0.1:0", "AUTHSVC_METRICS_ADDR": "127.0.0.1:0",
		"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT": "1s", "AUTHSVC_GRPC_MAX_HEADER_BYTES": "4096",
		"AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS": "2000", "AUTHSVC_GRPC_MAX_HEALTH_WATCHES": "1",
	})

	// The server advertises its metadata and stream bounds.
	conn, err := net.Dial("tcp", in.addrs.GRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	f, err := http2.NewFramer(conn, conn).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %T, want SETTINGS", f)
	}
	if v, _ := sf.Value(http2.SettingMaxHeaderListSize); v != 4096 {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want 4096", v)
	}
	if v, _ := sf.Value(http2.SettingMaxConcurrentStreams); v != 2000 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 2000", v)
	}

	// An idle connection is closed after the 1 s handshake timeout.
	idle, err := net.Dial("tcp", in.addrs.GRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, idle)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Error("an idle connection was still open after 5 s; the handshake timeout is 1 s")
	}

	// One health watch at most.
	c := newClient(t, in, devAPIKey, nil)
	hc := healthpb.NewHealthClient(c.conn)
	w, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if err != nil {
		t.Fatalf("the first health watch: %v", err)
	}
	w, err = hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("a second health watch: %v, want RESOURCE_EXHAUSTED", err)
	}
	var reason string
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			reason = ei.GetReason()
		}
	}
	if reason != "HEALTH_WATCH_LIMIT" {
		t.Errorf("details %v, want ErrorInfo HEALTH_WATCH_LIMIT", st.Details())
	}
}
