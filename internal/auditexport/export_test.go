package auditexport_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/auditexport"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/pgtest"
	"github.com/authsvc/authsvc/internal/redistest"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const (
	buffer = 72 * time.Hour
	shared = "audit:events"
)

// fast makes an exporter retry, sweep and maintain within milliseconds, so a test waits for
// outcomes rather than for timers. Nothing is asserted about how long anything takes.
func fast(consumer string, streams ...string) auditexport.Config {
	return auditexport.Config{Streams: streams, Consumer: consumer, Buffer: buffer, Batch: 7,
		Block: 50 * time.Millisecond, Sweep: 10 * time.Millisecond, Maintain: 20 * time.Millisecond,
		ClaimIdle: time.Hour, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Drain: 500 * time.Millisecond}
}

// running is an exporter running in a goroutine until stop.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func run(t *testing.T, e *auditexport.Exporter) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	return runWith(t, ctx, cancel, e)
}

func runWith(t *testing.T, ctx context.Context, cancel context.CancelFunc, e *auditexport.Exporter) *running {
	t.Helper()
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); e.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// write appends n events per writer from writers goroutines at once (parallel writers, as
// replicas are) and returns the keys of what was written.
func write(t *testing.T, w *audit.Writer, stream string, writers, n int, kind string) []string {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range n {
				id, err := w.Append(context.Background(), stream, audit.Event{Kind: kind, ClientID: "crm",
					VerificationID: fmt.Sprintf("w%d-%d", g, i), Destination: "a***@e***.com"})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				keys = append(keys, stream+"/"+id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return keys
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
		time.Sleep(20 * time.Millisecond)
	}
}

// sinkUnderTest is a real sink and a way to read back what it holds: each key with the number of
// times it was written.
type sinkUnderTest struct {
	name  string
	sink  auditexport.Sink
	held  func(t *testing.T) map[string]int
	exact bool // each key at most once (idempotent sink)
}

func postgresSink(t *testing.T, retention time.Duration) (*sinkUnderTest, *pgtest.Server) {
	t.Helper()
	pg := pgtest.Start(t)
	cfg, err := pgxpool.ParseConfig(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	s, err := auditexport.NewPostgres(cfg, retention)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	held := func(t *testing.T) map[string]int {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(context.Background(), "SELECT stream || '/' || id FROM authsvc_audit_events")
		if err != nil {
			return map[string]int{} // no table yet: nothing exported
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, k := range keys {
			out[k]++
		}
		return out
	}
	return &sinkUnderTest{name: "postgres", sink: s, held: held, exact: true}, pg
}

func fileSink(t *testing.T) *sinkUnderTest {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s := auditexport.NewFile(path)
	t.Cleanup(func() { _ = s.Close() })
	return &sinkUnderTest{name: "file", sink: s, held: func(t *testing.T) map[string]int {
		t.Helper()
		return readLines(t, path)
	}}
}

// readLines reads a JSON-lines file: each (stream, id) with its count.
func readLines(t *testing.T, path string) map[string]int {
	t.Helper()
	out := map[string]int{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l auditexport.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out[l.Stream+"/"+l.ID]++
	}
	return out
}

// killable passes batches to a sink until it has seen after records; the batch that crosses
// that line is written to the sink and then the exporter is killed before it can acknowledge
// it: the batch is delivered, in the sink, and pending in Redis. Every later write fails.
type killable struct {
	auditexport.Sink
	after int
	kill  func()

	mu   sync.Mutex
	seen int
	dead bool
}

var errKilled = errors.New("exporter killed")

func (k *killable) Write(ctx context.Context, recs []auditexport.Record) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return errKilled
	}
	k.seen += len(recs)
	if k.seen >= k.after {
		err := k.Sink.Write(ctx, recs)
		k.dead = true
		k.kill()
		return errors.Join(errKilled, err)
	}
	return k.Sink.Write(ctx, recs)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The "Done when": an exporter killed mid-stream (with entries delivered, written and
// not acknowledged) and Redis restarted, twice, while parallel writers append: every event
// reaches the sink, exactly once per id in PostgreSQL and at least once in a file; and once time
// has passed, Redis holds only the buffer window.
func TestKilledExporterAndRestartedRedis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mk   func(t *testing.T) *sinkUnderTest
	}{
		{"postgres", func(t *testing.T) *sinkUnderTest { s, _ := postgresSink(t, 90*24*time.Hour); return s }},
		{"file", fileSink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sut := tc.mk(t)
			srv := redistest.StartPersistent(t)
			rdb := srv.Client(t)
			clock := fakeclock.New(t0)
			w := audit.NewWriter(rdb, 2*buffer, clock.Now)
			ctx := context.Background()

			written := write(t, w, shared, 4, 50, audit.Started)

			// Exporter "a" dies after about half, between a write and its XACK.
			actx, kill := context.WithCancel(ctx)
			a := &killable{Sink: sut.sink, after: 100, kill: kill}
			ea := auditexport.New(fast("a", shared), rdb, a, clock.Now, quiet(), prometheus.NewRegistry())
			<-runWith(t, actx, kill, ea).done
			pending, err := rdb.XPending(ctx, shared, auditexport.Group).Result()
			if err != nil || pending.Count == 0 {
				t.Fatalf("XPENDING after the kill = %+v, %v; want entries delivered and not acknowledged", pending, err)
			}
			inSink := sut.held(t)
			if len(inSink) == 0 || len(inSink) >= len(written) {
				t.Fatalf("the sink holds %d of %d events after the kill; want some, not all", len(inSink), len(written))
			}

			// Redis crashes and comes back from its append-only file, with the stream, the group and
			// what "a" left pending.
			srv.Reopen(t)
			eventually(t, "the pending entries after the restart", func() error {
				p, err := rdb.XPending(ctx, shared, auditexport.Group).Result()
				if err != nil || p.Count != pending.Count {
					return fmt.Errorf("XPENDING = %+v, %w; want %d", p, err, pending.Count)
				}
				return nil
			})
			written = append(written, write(t, w, shared, 4, 25, audit.Sent)...)

			// "a" comes back under its name (its pending entries first) beside "b", which claims
			// whatever a dead consumer holds; Redis crashes once more while they export.
			ca, cb := fast("a", shared), fast("b", shared)
			cb.ClaimIdle = time.Millisecond
			run(t, auditexport.New(ca, rdb, sut.sink, clock.Now, quiet(), prometheus.NewRegistry()))
			run(t, auditexport.New(cb, rdb, sut.sink, clock.Now, quiet(), prometheus.NewRegistry()))
			srv.Reopen(t)
			written = append(written, write(t, w, shared, 4, 25, audit.Verified)...)

			eventually(t, "every event in the sink and acknowledged", func() error {
				held := sut.held(t)
				for _, k := range written {
					if held[k] == 0 {
						return fmt.Errorf("%s is not in the sink (%d of %d are)", k, len(held), len(written))
					}
				}
				if len(held) != len(written) {
					return fmt.Errorf("the sink holds %d keys, %d were written", len(held), len(written))
				}
				p, err := rdb.XPending(ctx, shared, auditexport.Group).Result()
				if err != nil || p.Count != 0 {
					return fmt.Errorf("XPENDING = %+v, %w; want none", p, err)
				}
				return nil
			})
			if sut.exact {
				for k, n := range sut.held(t) {
					if n != 1 {
						t.Errorf("%s is in the sink %d times, want exactly once", k, n)
					}
				}
			}

			// Time passes: three days and an hour later a new event arrives. Redis keeps only
			// what is within the buffer.
			clock.Advance(buffer + time.Hour)
			recent := write(t, w, shared, 1, 3, audit.Canceled)
			eventually(t, "the buffer trimmed to its window", func() error {
				msgs, err := rdb.XRange(ctx, shared, "-", "+").Result()
				if err != nil {
					return err
				}
				var keys []string
				for _, m := range msgs {
					keys = append(keys, shared+"/"+m.ID)
				}
				if !slices.Equal(keys, recent) {
					return fmt.Errorf("the stream holds %d entries, want only the %d within the buffer", len(keys), len(recent))
				}
				return nil
			})
		})
	}
}

// switchable fails every write until it is turned on.
type switchable struct {
	auditexport.Sink
	mu sync.Mutex
	on bool
}

var errSinkDown = errors.New("sink down")

func (s *switchable) Write(ctx context.Context, recs []auditexport.Record) error {
	s.mu.Lock()
	on := s.on
	s.mu.Unlock()
	if !on {
		return errSinkDown
	}
	return s.Sink.Write(ctx, recs)
}

func (s *switchable) turnOn() {
	s.mu.Lock()
	s.on = true
	s.mu.Unlock()
}

// metricValue is the sum of a metric's series in reg; -1 when it is not there.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return sum
	}
	return -1
}

// A sink that is down never loses the buffer's entries to the exporter's trimming: they stay
// past the buffer, the lag says how far behind the export is, and only the writers' hard cap
// (twice the buffer) drops them, recording how many in the trail; the exporter counts that.
func TestSinkDownPastTheBuffer(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 2*buffer, clock.Now)
	sink := &switchable{Sink: fileSink(t).sink}
	held := write(t, w, shared, 2, 5, audit.Started)

	reg := prometheus.NewRegistry()
	run(t, auditexport.New(fast("a", shared), rdb, sink, clock.Now, quiet(), reg))
	clock.Advance(buffer + time.Hour)
	eventually(t, "the lag past the buffer", func() error {
		if lag := metricValue(t, reg, "authsvc_audit_export_lag_seconds"); lag < buffer.Seconds() {
			return fmt.Errorf("lag %vs", lag)
		}
		return nil
	})
	if n, err := rdb.XLen(ctx, shared).Result(); err != nil || n != int64(len(held)) {
		t.Fatalf("XLEN = %d, %v past the buffer with the sink down; want all %d kept", n, err, len(held))
	}
	if metricValue(t, reg, "authsvc_audit_export_failures_total") < 1 {
		t.Error("no failure counted")
	}

	// Past the cap, the next append trims them and says so.
	clock.Advance(buffer)
	later := write(t, w, shared, 1, 1, audit.Sent)
	sink.turnOn()
	eventually(t, "the loss counted", func() error {
		if n := metricValue(t, reg, "authsvc_audit_trimmed_unexported_total"); n != float64(len(held)) {
			return fmt.Errorf("trimmed_unexported_total = %v, want %d", n, len(held))
		}
		if n := metricValue(t, reg, "authsvc_audit_exported_total"); n != float64(len(later)) {
			return fmt.Errorf("exported_total = %v, want %d", n, len(later))
		}
		return nil
	})
}

// On Redis Cluster the exporter sweeps the stream of every hash tag (and the shared one) and
// trims each to the buffer.
func TestClusterSweepsEveryTag(t *testing.T) {
	t.Parallel()
	rdb := redistest.StartCluster(t, 3).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 2*buffer, clock.Now)
	sut := fileSink(t)

	var streams []string
	for _, tag := range identity.Tags() {
		streams = append(streams, audit.StreamKey(tag, true))
	}
	streams = append(streams, shared)
	var written []string
	for i, tag := range []string{"aaa", "p77", "hq2", "kzz", "b3m", "nnn"} {
		written = append(written, write(t, w, audit.StreamKey(tag, true), 2, 3+i, audit.Started)...)
	}
	written = append(written, write(t, w, shared, 1, 2, audit.ClientDenied)...)

	cfg := fast("a", streams...)
	run(t, auditexport.New(cfg, rdb, sut.sink, clock.Now, quiet(), prometheus.NewRegistry()))
	eventually(t, "every tag's events in the sink", func() error {
		held := sut.held(t)
		for _, k := range written {
			if held[k] == 0 {
				return fmt.Errorf("%s not exported (%d of %d are)", k, len(held), len(written))
			}
		}
		return nil
	})
	clock.Advance(buffer + time.Hour)
	eventually(t, "every stream trimmed to the buffer", func() error {
		for _, s := range []string{audit.StreamKey("aaa", true), audit.StreamKey("nnn", true), shared} {
			if n, err := rdb.XLen(ctx, s).Result(); err != nil || n != 0 {
				return fmt.Errorf("XLEN %s = %d, %w", s, n, err)
			}
		}
		return nil
	})
}

// One JSON line per event: the audit log's fields and the stream, empty ones left out.
func TestJSONLine(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	err := auditexport.NewStream(&b).Write(context.Background(), []auditexport.Record{{Stream: shared,
		Event: audit.Event{ID: "1793610000000-3", Time: time.UnixMilli(1793610000000), Kind: audit.Verified,
			ClientID: "crm", VerificationID: "abc-4oo7ot43zhcfpdyz", Method: "otp_email", Customer: "4d3ea7c26d1b5855"}}})
	want := `{"time":"2026-11-02T09:00:00.000Z","level":"INFO","msg":"audit","stream":"audit:events","id":"1793610000000-3",` +
		`"kind":"verified","client_id":"crm","verification_id":"abc-4oo7ot43zhcfpdyz","method":"otp_email","customer":"4d3ea7c26d1b5855"}` + "\n"
	if err != nil || b.String() != want {
		t.Errorf("line = %s, %v\nwant  %s", b.String(), err, want)
	}
}

// PostgreSQL keeps each event once however often it is written, and prunes by age.
func TestPostgresIdempotentAndPruned(t *testing.T) {
	t.Parallel()
	sut, _ := postgresSink(t, 90*24*time.Hour)
	pg := sut.sink.(*auditexport.Postgres)
	ctx := context.Background()
	old := auditexport.Record{Stream: shared, Event: audit.Event{ID: "1-0", Time: t0.Add(-91 * 24 * time.Hour), Kind: audit.Started}}
	recent := auditexport.Record{Stream: shared, Event: audit.Event{ID: "2-0", Time: t0, Kind: audit.Sent, Destination: "a***@e***.com"}}
	other := auditexport.Record{Stream: "v:{aaa}:a", Event: audit.Event{ID: "2-0", Time: t0, Kind: audit.Sent}}
	for range 2 {
		if err := pg.Write(ctx, []auditexport.Record{old, recent, other}); err != nil {
			t.Fatal(err)
		}
	}
	if held := sut.held(t); len(held) != 3 || held[recent.Key()] != 1 || held[other.Key()] != 1 {
		t.Fatalf("held %v after writing three events twice; want each once", held)
	}
	if n, err := pg.Prune(ctx, t0); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want the one event older than the retention", n, err)
	}
	if held := sut.held(t); held[old.Key()] != 0 || len(held) != 2 {
		t.Errorf("held %v after the prune", held)
	}
}

// With the PostgreSQL sink, the trail is read from the table: every exported event, paged oldest
// first, filtered as in the buffer, and on Cluster without naming a subject.
func TestTrailReadsTheArchive(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 2*buffer, clock.Now)
	sut, _ := postgresSink(t, 90*24*time.Hour)
	pg := sut.sink.(*auditexport.Postgres)

	const custKey, subject = "v:{abc}:c:h", "subject"
	pk := strings.Repeat("ab", 32)
	if err := rdb.HSet(ctx, custKey, "pk", pk).Err(); err != nil {
		t.Fatal(err)
	}
	var wantV1, wantCust []string
	for i := range 30 {
		e := audit.Event{Kind: audit.Sent, ClientID: "crm", VerificationID: "v2"}
		switch i % 3 {
		case 0:
			e.VerificationID = "v1"
		case 1:
			e.Customer = audit.Pseudonym(pk, subject)
		}
		id, err := w.Append(ctx, shared, e)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			wantV1 = append(wantV1, id)
		case 1:
			wantCust = append(wantCust, id)
		}
		clock.Advance(time.Second)
	}
	run(t, auditexport.New(fast("a", shared), rdb, pg, clock.Now, quiet(), prometheus.NewRegistry()))
	eventually(t, "all exported", func() error {
		if n := len(sut.held(t)); n != 30 {
			return fmt.Errorf("%d of 30 in the table", n)
		}
		return nil
	})

	trail := audit.NewTrail(w, true, func(string) audit.Customer {
		return audit.Customer{Key: custKey, Tag: "abc", Subject: subject}
	}, audit.WithArchive(pg))
	all := func(q audit.Query) []string {
		t.Helper()
		var ids []string
		for {
			evs, next, err := trail.List(ctx, q)
			if err != nil {
				t.Fatalf("List(%+v): %v", q, err)
			}
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			if next == "" {
				return ids
			}
			q.PageToken = next
		}
	}
	if got := all(audit.Query{VerificationID: "v1", PageSize: 4}); !slices.Equal(got, wantV1) {
		t.Errorf("v1: %v, want %v", got, wantV1)
	}
	if got := all(audit.Query{CustomerID: "cust", PageSize: 3}); !slices.Equal(got, wantCust) {
		t.Errorf("customer: %v, want %v", got, wantCust)
	}
	if got := all(audit.Query{PageSize: 7}); len(got) != 30 {
		t.Errorf("no filter on Cluster: %d events, want all 30", len(got))
	}
	if got := all(audit.Query{From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second)}); len(got) != 10 {
		t.Errorf("a time range of 10 s: %d events, want 10", len(got))
	}
	if _, _, err := trail.List(ctx, audit.Query{PageToken: "bm90LWEtdG9rZW4"}); !errors.Is(err, audit.ErrBadPageToken) {
		t.Errorf("a made-up token: %v, want ErrBadPageToken", err)
	}
}

// A pod that is gone, and holds nothing, does not stay a consumer of the group for good:
// rollouts bring new pod names, and every name would otherwise stay in every stream's group.
func TestGoneConsumersForgotten(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 2*buffer, clock.Now)
	sut := fileSink(t)
	written := write(t, w, shared, 1, 3, audit.Started)
	gone := run(t, auditexport.New(fast("gone", shared), rdb, sut.sink, clock.Now, quiet(), prometheus.NewRegistry()))
	eventually(t, "exported by the first pod", func() error {
		if n := len(sut.held(t)); n != len(written) {
			return fmt.Errorf("%d of %d exported", n, len(written))
		}
		return nil
	})
	gone.stop()

	cfg := fast("next", shared)
	cfg.ForgetIdle = time.Millisecond
	run(t, auditexport.New(cfg, rdb, sut.sink, clock.Now, quiet(), prometheus.NewRegistry()))
	// (With ForgetIdle this short the running pod is forgotten between reads too, and comes back
	// with its next read: what matters is that the gone one does not.)
	eventually(t, "the gone pod forgotten", func() error {
		cs, err := rdb.XInfoConsumers(ctx, shared, auditexport.Group).Result()
		if err != nil {
			return err
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		if slices.Contains(names, "gone") {
			return fmt.Errorf("consumers %v", names)
		}
		return nil
	})
}

// The events dispatcher reads the same streams with a group of its own: trimming never removes
// an entry that group has not acknowledged, even once the exporter has it and it is older than
// the buffer; once the events group acknowledges it, it goes.
func TestTrimKeepsWhatTheEventsGroupHolds(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	clock := fakeclock.New(t0)
	w := audit.NewWriter(rdb, 2*buffer, clock.Now)
	sut := fileSink(t)
	written := write(t, w, shared, 1, 6, audit.Verified)
	if err := rdb.XGroupCreate(ctx, shared, "events", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// The events group has read everything and acknowledged the first two only.
	msgs, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "events", Consumer: "d", Streams: []string{shared, ">"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := msgs[0].Messages
	if err := rdb.XAck(ctx, shared, "events", ids[0].ID, ids[1].ID).Err(); err != nil {
		t.Fatal(err)
	}
	cfg := fast("a", shared)
	cfg.KeepFor = []string{"events", "absent"}
	run(t, auditexport.New(cfg, rdb, sut.sink, clock.Now, quiet(), prometheus.NewRegistry()))
	eventually(t, "exported", func() error {
		if n := len(sut.held(t)); n != len(written) {
			return fmt.Errorf("%d of %d exported", n, len(written))
		}
		return nil
	})
	clock.Advance(buffer + time.Hour)
	eventually(t, "trimmed up to what the events group holds", func() error {
		n, err := rdb.XLen(ctx, shared).Result()
		if err != nil || n != 4 {
			return fmt.Errorf("XLEN %d, %w", n, err)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // several maintenance passes
	if n := rdb.XLen(ctx, shared).Val(); n != 4 {
		t.Fatalf("XLEN %d after more passes, want 4", n)
	}
	rest := make([]string, 0, 4)
	for _, m := range ids[2:] {
		rest = append(rest, m.ID)
	}
	if err := rdb.XAck(ctx, shared, "events", rest...).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "trimmed once the events group acknowledged", func() error {
		if n := rdb.XLen(ctx, shared).Val(); n != 0 {
			return fmt.Errorf("XLEN %d", n)
		}
		return nil
	})
}
