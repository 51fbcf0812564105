package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
)

var t0 = time.Now().Truncate(time.Second)

const shared = "audit:events"

// testSecret is a 32-byte secret.
var testSecret = events.Secret([]byte("0123456789abcdef0123456789abcdef"))

// fast makes a dispatcher read, retry and maintain within milliseconds.
func fast(consumer string, streams ...string) events.Config {
	return events.Config{Streams: streams, Consumer: consumer, Source: "https://verify.test", Batch: 7,
		Block: 50 * time.Millisecond, Sweep: 10 * time.Millisecond, Maintain: 30 * time.Millisecond,
		ClaimIdle: time.Hour, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		MaxAge: 24 * time.Hour, Timeout: 2 * time.Second, Drain: 200 * time.Millisecond}
}

// receiver is a real HTTP server standing in for a care platform: it verifies every delivery
// with the Standard Webhooks reference library and counts deliveries per event id.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	wh     *standardwebhooks.Webhook
	down   atomic.Bool
	hang   atomic.Pointer[chan struct{}]
	mu     sync.Mutex
	got    map[string]int
	bodies map[string]map[string]any
	bad    []string
}

func newReceiver(t *testing.T, secret events.Secret) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret.String())
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, wh: wh, got: map[string]int{}, bodies: map[string]map[string]any{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if h := r.hang.Load(); h != nil {
		select {
		case <-*h:
		case <-req.Context().Done():
			return
		}
	}
	if r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.bad = append(r.bad, "signature: "+err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != events.ContentType {
		r.bad = append(r.bad, "content type "+ct)
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		r.bad = append(r.bad, "json: "+err.Error())
		return
	}
	id, _ := ev["id"].(string)
	if id != req.Header.Get(events.HeaderID) {
		r.bad = append(r.bad, fmt.Sprintf("webhook-id %q, event id %q", req.Header.Get(events.HeaderID), id))
	}
	if prev, ok := r.bodies[id]; ok && fmt.Sprint(prev) != fmt.Sprint(ev) {
		r.bad = append(r.bad, "a redelivery of "+id+" differs")
	}
	r.got[id]++
	r.bodies[id] = ev
	w.WriteHeader(http.StatusNoContent)
}

// received returns a copy of the delivery counts by id.
func (r *receiver) received() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	if len(r.bad) > 0 {
		r.t.Errorf("receiver saw bad deliveries: %v", r.bad)
		r.bad = nil
	}
	return out
}

func (r *receiver) endpoint(client string) events.Endpoint {
	return events.Endpoint{Client: client, URL: r.srv.URL + "/hooks/authsvc", Secret: testSecret}
}

// running is a dispatcher running in a goroutine until stop.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func run(t *testing.T, d *events.Dispatcher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); d.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// write appends n entries of kind for client from writers goroutines at once and returns the
// event ids ("<stream>/<entry id>").
func write(t *testing.T, w *audit.Writer, stream string, writers, n int, client, kind string) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range n {
				id, err := w.Append(context.Background(), stream, audit.Event{Kind: kind, ClientID: client,
					AgentID: "agent-7", VerificationID: fmt.Sprintf("abc-w%dx%d", g, i), Method: "otp_email",
					Identity: "1234567890abcdef", Customer: "fedcba0987654321", Destination: "a***@e***.com"})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				ids = append(ids, stream+"/"+id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ids
}

// eventually polls f until it returns nil, failing t with f's last error after a minute.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allOnce checks that got holds every id of want at least once and nothing else.
func allDelivered(got map[string]int, want []string) error {
	for _, id := range want {
		if got[id] == 0 {
			return fmt.Errorf("%s not delivered (%d of %d ids are)", id, len(got), len(want))
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d ids delivered, want %d", len(got), len(want))
	}
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// counter reads a counter (with labels name=value pairs) from reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

type redisGroup = redis.XInfoGroup
