package auditexport

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/streamgroup"
)

// Group is the consumer group every exporter reads the audit streams with.
const Group = "audit-export"

// Record is one audit entry on its way to a sink: the event and the stream it came from.
type Record struct {
	// Stream is the Redis stream the entry was read from (audit.StreamKey).
	Stream string
	// Event is the entry; Event.ID is its id within Stream.
	audit.Event
}

// Key identifies the record across every stream: "<stream>/<entry id>". Entry ids are unique
// only within a stream (each hash tag has its own on Redis Cluster).
func (r Record) Key() string { return r.Stream + "/" + r.ID }

// Sink is where exported events go.
type Sink interface {
	// Write stores records durably before it returns nil: the exporter acknowledges them, and
	// Redis may then forget them, only after that. It is called from one goroutine at a time,
	// with records in stream order within each stream. A record can come again (after a failed
	// Write, or one whose acknowledgement was lost), so a sink either ignores a repeat (by Key)
	// or documents that it keeps it.
	Write(ctx context.Context, records []Record) error
}

// Pruner is a Sink that keeps events for a retention of its own: Prune removes what is older
// than that as of now and returns how many went. The exporter calls it every Config.Maintain.
type Pruner interface {
	Prune(ctx context.Context, now time.Time) (int64, error)
}

// Config configures an Exporter. Zero durations and counts take the defaults named.
type Config struct {
	// Streams are every stream the writers may append to: the one "audit:events" on
	// standalone Redis and Sentinel; on Cluster, the stream of every hash tag and "audit:events".
	Streams []string
	// Consumer names this exporter in the group; a pod's name, so that a restarted pod finds
	// what it had read but not acknowledged.
	Consumer string
	// Buffer is how long acknowledged entries stay in Redis (AUTHSVC_AUDIT_BUFFER).
	Buffer time.Duration
	// Batch is the most entries read from one stream at a time (100).
	Batch int
	// Block is how long a read of a single stream waits for new entries (1s).
	Block time.Duration
	// Sweep is the pause after a pass over several streams that found nothing (5s), and after
	// a pass over one stream that does not exist yet.
	Sweep time.Duration
	// ClaimIdle is how long an entry may sit with another consumer, unacknowledged, before this
	// exporter claims it (2m): that consumer is taken to be dead.
	ClaimIdle time.Duration
	// Maintain is the period of claiming, trimming, measuring the lag and pruning the sink (30s).
	Maintain time.Duration
	// ForgetIdle is how long a consumer that holds nothing may go without reading before the
	// group forgets it (1h): a pod that is gone.
	ForgetIdle time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries after a failure (500ms, 1m).
	MinBackoff, MaxBackoff time.Duration
	// Drain bounds the last export at shutdown (2s).
	Drain time.Duration
	// KeepFor names other consumer groups of the streams (package events' "events"): trimming
	// keeps every entry any of them has not acknowledged either.
	KeepFor []string
}

// streamsPerPipeline bounds the streams read (or trimmed) in one pipeline, and so one batch.
const streamsPerPipeline = 256

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	def(&c.Block, time.Second)
	def(&c.Sweep, 5*time.Second)
	def(&c.ClaimIdle, 2*time.Minute)
	def(&c.Maintain, 30*time.Second)
	def(&c.ForgetIdle, time.Hour)
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, time.Minute)
	def(&c.Drain, 2*time.Second)
}

//go:embed trim.lua
var trimSrc string

var trimScript = redis.NewScript(trimSrc)

// Exporter moves audit entries from the Redis streams to a Sink; see the package doc.
type Exporter struct {
	cfg  Config
	rdb  redis.UniversalClient
	sink Sink
	now  func() time.Time
	log  *slog.Logger
	m    *metrics

	// Run's state, touched by its goroutine only.
	pending bool // this consumer may hold entries it has not acknowledged: read those first
	failing string
	behind  bool
}

// New returns an Exporter. now is the clock the writers date entries by (Redis's, see package
// redisclock); it decides what the buffer keeps. Metrics are registered with reg.
func New(cfg Config, rdb redis.UniversalClient, sink Sink, now func() time.Time, log *slog.Logger,
	reg prometheus.Registerer) *Exporter {
	cfg.defaults()
	return &Exporter{cfg: cfg, rdb: rdb, sink: sink, now: now, log: log, m: newMetrics(reg), pending: true}
}

// Run exports until ctx is done, then exports once more for at most Config.Drain and returns.
// Failures never end it: they are logged once per outage, counted, and retried with backoff.
func (e *Exporter) Run(ctx context.Context) {
	backoff := e.cfg.MinBackoff
	var maintained time.Time
	for ctx.Err() == nil {
		if time.Since(maintained) >= e.cfg.Maintain {
			e.maintain(ctx)
			maintained = time.Now()
		}
		pending := e.pending
		n, waited, err := e.pass(ctx, true)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.failed(err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, e.cfg.MaxBackoff)
			continue
		}
		e.ok("redis")
		e.ok("sink")
		backoff = e.cfg.MinBackoff
		if n == 0 && !waited && !pending {
			sleep(ctx, e.cfg.Sweep)
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Drain)
	defer cancel()
	for {
		pending := e.pending
		if n, _, err := e.pass(dctx, false); err != nil || (n == 0 && !pending) {
			return
		}
	}
}

// stageError is a failure of one stage: "redis" or "sink".
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// pass reads every stream once, from this consumer's own unacknowledged entries while it may
// have some, else the new ones, exports what it read and acknowledges it. It returns how many
// entries it exported and whether it waited for new ones (a blocking read).
func (e *Exporter) pass(ctx context.Context, block bool) (int, bool, error) {
	own := e.pending
	total, waited := 0, false
	for chunk := range slices.Chunk(e.cfg.Streams, streamsPerPipeline) {
		recs, w, err := e.read(ctx, chunk, own, block)
		waited = waited || w
		if err != nil {
			return total, waited, &stageError{"redis", err}
		}
		if err := e.export(ctx, recs); err != nil {
			e.pending = true
			return total, waited, err
		}
		total += len(recs)
	}
	if own && total == 0 {
		e.pending = false
	}
	return total, waited, nil
}

// read reads chunk: this consumer's unacknowledged entries when own, else new ones (waiting up
// to Config.Block when block and there is a single stream). A single stream without the group
// gets it at once; on Cluster, where most of the 16,384 streams may not exist, the maintenance
// pass creates it (trim.lua), so that a sweep costs one command per stream.
func (e *Exporter) read(ctx context.Context, chunk []string, own, block bool) ([]Record, bool, error) {
	from := ">"
	if own {
		from = "0"
	}
	r := streamgroup.Reader{Group: Group, Consumer: e.cfg.Consumer, Count: e.cfg.Batch, Block: e.cfg.Block}
	read, missing, waited, err := r.Read(ctx, e.rdb, chunk, func(string) string { return from }, block && !own)
	if err != nil {
		return nil, false, err
	}
	var recs []Record
	for _, st := range read {
		for _, m := range st.Messages {
			recs = append(recs, record(st.Stream, m))
		}
	}
	if len(missing) > 0 && len(e.cfg.Streams) == 1 {
		if err := e.createGroups(ctx, missing); err != nil {
			return nil, false, err
		}
	}
	return recs, waited, nil
}

// record reads one entry. An entry deleted while pending (erasure, or the hard cap) comes back
// without fields: its Kind is "", and it is acknowledged without being written.
func record(stream string, m redis.XMessage) Record {
	if m.Values == nil {
		return Record{Stream: stream, Event: audit.Event{ID: m.ID}}
	}
	ev, err := audit.ParseEntry(m)
	if err != nil {
		ev = audit.Event{ID: m.ID}
	}
	return Record{Stream: stream, Event: ev}
}

// createGroups creates the export group, from the stream's beginning, on each stream that
// exists; a stream that does not exist yet is left for its first entry (a stream made by
// XGROUP CREATE MKSTREAM would have no TTL).
func (e *Exporter) createGroups(ctx context.Context, streams []string) error {
	cmds := make([]*redis.StatusCmd, len(streams))
	_, _ = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range streams {
			cmds[i] = p.XGroupCreate(ctx, s, Group, "0")
		}
		return nil
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") &&
			!strings.Contains(err.Error(), "requires the key to exist") {
			return err
		}
	}
	return nil
}

// export writes recs to the sink and then acknowledges them.
func (e *Exporter) export(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	live := make([]Record, 0, len(recs))
	for _, r := range recs {
		if r.Kind != "" {
			live = append(live, r)
		}
	}
	if len(live) > 0 {
		if err := e.sink.Write(ctx, live); err != nil {
			return &stageError{"sink", err}
		}
	}
	ids := map[string][]string{}
	for _, r := range recs {
		ids[r.Stream] = append(ids[r.Stream], r.ID)
	}
	if _, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s, l := range ids {
			p.XAck(ctx, s, Group, l...)
		}
		return nil
	}); err != nil {
		return &stageError{"redis", err}
	}
	e.m.exported.Add(float64(len(live)))
	for _, r := range live {
		if r.Trimmed > 0 {
			e.m.trimmedUnexported.Add(float64(r.Trimmed))
			e.log.Warn("audit entries were trimmed from the buffer before any exporter acknowledged them",
				"stream", r.Stream, "entries", r.Trimmed, "before_id", r.ID)
		}
	}
	return nil
}

// maintain claims what dead consumers held, trims acknowledged entries older than the buffer,
// forgets consumers long gone, measures the lag and prunes the sink. Failures are logged and counted; the next run retries.
func (e *Exporter) maintain(ctx context.Context) {
	now := e.now()
	cutoff := strconv.FormatInt(now.Add(-e.cfg.Buffer).UnixMilli(), 10)
	oldest := int64(-1)
	var removed int64
	var errs []error
	trimArgs := []any{Group, cutoff, e.cfg.ForgetIdle.Milliseconds()}
	for _, g := range e.cfg.KeepFor {
		trimArgs = append(trimArgs, g)
	}
	for chunk := range slices.Chunk(e.cfg.Streams, streamsPerPipeline) {
		claims := make([]*redis.XAutoClaimJustIDCmd, len(chunk))
		trims := make([]*redis.Cmd, len(chunk))
		_, _ = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range chunk {
				claims[i] = p.XAutoClaimJustID(ctx, &redis.XAutoClaimArgs{Stream: s, Group: Group,
					Consumer: e.cfg.Consumer, MinIdle: e.cfg.ClaimIdle, Start: "0-0", Count: int64(e.cfg.Batch)})
				trims[i] = trimScript.EvalSha(ctx, p, []string{s}, trimArgs...)
			}
			return nil
		})
		noScript := false
		for i := range chunk {
			if ids, _, err := claims[i].Result(); err == nil && len(ids) > 0 {
				e.pending = true
			} else if err != nil && !streamgroup.IsNoGroup(err) && !errors.Is(err, redis.Nil) {
				errs = append(errs, err)
			}
			res, err := trims[i].Int64Slice()
			switch {
			case err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT"):
				noScript = true
			case err != nil:
				errs = append(errs, err)
			case len(res) == 2:
				removed += res[0]
				if res[1] >= 0 && (oldest < 0 || res[1] < oldest) {
					oldest = res[1]
				}
			}
		}
		if noScript {
			// Loaded for the next run (on every master of a Cluster).
			if err := trimScript.Load(ctx, e.rdb).Err(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	e.m.bufferTrimmed.Add(float64(removed))
	lag := time.Duration(0)
	if oldest >= 0 {
		lag = max(now.Sub(time.UnixMilli(oldest)), 0)
	}
	e.m.lag.Set(lag.Seconds())
	if behind := lag > e.cfg.Buffer; behind != e.behind {
		e.behind = behind
		if behind {
			e.log.Warn("audit export is behind by more than the buffer; entries not exported within twice the buffer will be trimmed",
				"lag", lag.Round(time.Second).String(), "buffer", e.cfg.Buffer.String())
		} else {
			e.log.Info("audit export caught up with the buffer", "lag", lag.Round(time.Second).String())
		}
	}
	if len(errs) > 0 {
		e.failed(&stageError{"redis", errors.Join(errs...)})
	}
	if p, ok := e.sink.(Pruner); ok {
		if n, err := p.Prune(ctx, now); err != nil {
			e.failed(&stageError{"sink", err})
		} else if n > 0 {
			e.log.Debug("audit sink pruned past its retention", "events", n)
		}
	}
}

// failed counts a failure and logs the first of an outage.
func (e *Exporter) failed(err error) {
	stage := "redis"
	var se *stageError
	if errors.As(err, &se) {
		stage = se.stage
		err = se.err
	}
	e.m.failures.WithLabelValues(stage).Inc()
	if e.failing != stage {
		e.failing = stage
		e.log.Warn("audit export failing; events wait in the Redis buffer", "stage", stage, "err", safeError(err))
	}
}

// ok ends an outage of stage, if there was one.
func (e *Exporter) ok(stage string) {
	if e.failing == stage {
		e.failing = ""
		e.log.Info("audit export resumed", "stage", stage)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
