package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/streamgroup"
)

// Group is the consumer group every dispatcher reads the audit streams with.
const Group = "events"

// sinceKey holds when events were first enabled (Unix ms): a stream's group is created from
// there, so that turning events on does not replay the buffer, and a stream created later
// (on Cluster, a hash tag's first event) loses nothing.
const sinceKey = "events:since"

// sinceTTL is how long sinceKey outlives the last dispatcher's maintenance pass.
const sinceTTL = 30 * 24 * time.Hour

// Endpoint is where one client's events go.
type Endpoint struct {
	// Client is the API client id (audit field c) whose events go here.
	Client string
	// URL receives the POSTs: https, or http on a loopback host (development and tests).
	URL string
	// Secret signs them.
	Secret Secret
}

// Config configures a Dispatcher. Zero durations and counts take the defaults named.
type Config struct {
	// Streams are every audit stream (as auditexport.Config.Streams).
	Streams []string
	// Consumer names this replica in the group: the pod's name, so that a restarted pod finds
	// what it held.
	Consumer string
	// Source is the CloudEvents source of every event: the service's URL.
	Source string
	// Endpoints are the clients' endpoints; a client without one gets no events.
	Endpoints []Endpoint
	// Batch is the most entries read from one stream at a time (100).
	Batch int
	// Block is how long a read of a single stream waits for new entries (1s).
	Block time.Duration
	// Sweep is the pause after a pass over several streams that found nothing (2s).
	Sweep time.Duration
	// ClaimIdle is how long an entry may sit untouched with another consumer before this one
	// claims it (2m): that consumer is taken to be dead. A live dispatcher touches what it
	// holds every Maintain.
	ClaimIdle time.Duration
	// Maintain is the period of claiming, touching, creating groups and measuring (20s); it
	// must be well under ClaimIdle.
	Maintain time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts after failures (1s, 5m), for
	// an endpoint and for one event alike; each wait is drawn between half and all of the
	// doubled delay (jitter).
	MinBackoff, MaxBackoff time.Duration
	// MaxAge is how long an event is retried (24h): past it, it is acknowledged undelivered
	// (given up), counted and logged.
	MaxAge time.Duration
	// Timeout bounds one delivery attempt (10s).
	Timeout time.Duration
	// Concurrency is the attempts in flight at once per endpoint (4).
	Concurrency int
	// Queue is how many events one endpoint may hold in memory (1000); beyond it they wait
	// in Redis, unacknowledged (parked), and are read back as the queue drains.
	Queue int
	// Drain bounds the last deliveries and acknowledgements at shutdown (5s).
	Drain time.Duration
	// Client sends the requests (nil: a client over NewTransport). Redirects are never
	// followed.
	Client *http.Client
	// StartedBy, when set, names the client that started a verification (challenge.Service's
	// StartedBy): a handover step's entry names the client that acted, and its event goes to
	// the one that started the verification. An error leaves the entry pending: it is claimed
	// again after ClaimIdle.
	StartedBy func(ctx context.Context, verificationID string) (string, error)
	// DeploymentClient receives the deployment-wide events, which belong to no verification
	// or client (SMS breaker trips and releases, for the platform's fraud team); "" sends
	// them nowhere (they stay in the audit trail).
	DeploymentClient string
}

// NewTransport returns the HTTP transport deliveries need: http.DefaultTransport's settings,
// keeping up to concurrency idle connections per endpoint. (The default keeps two: with more
// attempts in flight, every delivery beyond them would open and close a connection, which
// measured here as p99 latencies of hundreds of milliseconds at a few hundred events a
// second.)
func NewTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	return t
}

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
	def(&c.Sweep, 2*time.Second)
	def(&c.ClaimIdle, 2*time.Minute)
	def(&c.Maintain, 20*time.Second)
	def(&c.MinBackoff, time.Second)
	def(&c.MaxBackoff, 5*time.Minute)
	def(&c.MaxAge, 24*time.Hour)
	def(&c.Timeout, 10*time.Second)
	def(&c.Drain, 5*time.Second)
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Queue <= 0 {
		c.Queue = 1000
	}
}

// CheckURL tells whether raw may receive events: an absolute https URL, or http on a loopback
// host, with no user info or fragment.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.User != nil || u.Fragment != "" {
		return errors.New("must not carry user info or a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return errors.New("must be https (http only on a loopback host)")
	}
	return errors.New("must be https")
}

// ref names one entry of one stream.
type ref struct{ stream, id string }

// item is an event this replica holds: read, not yet acknowledged.
type item struct {
	ref
	msg      Message
	attempts int
	next     time.Time // no attempt before (wall clock)
}

// Dispatcher delivers the events of the audit streams to the clients' endpoints; see the
// package doc.
type Dispatcher struct {
	cfg  Config
	rdb  redis.UniversalClient
	now  func() time.Time
	log  *slog.Logger
	m    *metrics
	rec  Recorder
	http *http.Client
	eps  map[string]*endpoint

	mu   sync.Mutex
	held map[ref]*item // nil item: parked, or claimed and being loaded
	acks chan ref

	// Run's state, touched by its goroutine only.
	own     map[string]string // stream → the next own-pending id to read; nil once read
	missing map[string]bool   // streams without the group, for the next maintenance
	failing bool
}

// Option adds an optional collaborator.
type Option func(*Dispatcher)

// WithRecorder sends every attempt to r as well (development mode's outbox page).
func WithRecorder(r Recorder) Option { return func(d *Dispatcher) { d.rec = r } }

// New returns a Dispatcher. now is the service clock (Redis's): it dates the webhook
// timestamps and judges MaxAge. Metrics are registered with reg. An endpoint with a bad URL,
// an empty secret or a client named twice is an error.
func New(cfg Config, rdb redis.UniversalClient, now func() time.Time, log *slog.Logger,
	reg prometheus.Registerer, opts ...Option) (*Dispatcher, error) {
	cfg.defaults()
	d := &Dispatcher{cfg: cfg, rdb: rdb, now: now, log: log, m: newMetrics(reg), eps: map[string]*endpoint{},
		held: map[ref]*item{}, acks: make(chan ref, 4096), missing: map[string]bool{}}
	for _, o := range opts {
		o(d)
	}
	d.http = &http.Client{Transport: NewTransport(cfg.Concurrency),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cfg.Client != nil {
		c := *cfg.Client
		c.CheckRedirect = d.http.CheckRedirect
		d.http = &c
	}
	for i, e := range cfg.Endpoints {
		if err := CheckURL(e.URL); err != nil {
			return nil, fmt.Errorf("events: endpoint %d (client %s): url %w", i, e.Client, err)
		}
		if len(e.Secret) < MinSecretLen {
			return nil, fmt.Errorf("events: endpoint %d (client %s): secret shorter than %d bytes", i, e.Client, MinSecretLen)
		}
		if d.eps[e.Client] != nil {
			return nil, fmt.Errorf("events: endpoint %d: client %s has an endpoint already", i, e.Client)
		}
		d.eps[e.Client] = newEndpoint(d, e)
	}
	return d, nil
}

// Run delivers until ctx is done, then for at most Config.Drain finishes the attempts in
// flight and acknowledges what was delivered, and returns. What is left stays pending in
// Redis for this consumer's next run, or another's claim. Failures never end it: Redis errors
// are logged once per outage and retried with backoff; delivery failures are retried per
// event and per endpoint.
func (d *Dispatcher) Run(ctx context.Context) {
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for _, ep := range d.eps {
		for range d.cfg.Concurrency {
			workers.Go(func() { ep.work(ctx, wctx) })
		}
	}
	ackCtx, stopAcks := context.WithCancel(context.WithoutCancel(ctx))
	acked := make(chan struct{})
	go func() { defer close(acked); d.acknowledge(ackCtx) }()

	d.own = map[string]string{}
	for _, s := range d.cfg.Streams {
		d.own[s] = "0"
	}
	backoff := d.cfg.MinBackoff
	var maintained time.Time
	for ctx.Err() == nil {
		if time.Since(maintained) >= d.cfg.Maintain {
			d.maintain(ctx)
			maintained = time.Now()
		}
		d.unpark(ctx)
		n, waited, err := d.pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.redisFailed(err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, d.cfg.MaxBackoff)
			continue
		}
		d.redisOK()
		backoff = d.cfg.MinBackoff
		if n == 0 && !waited && d.own == nil {
			sleep(ctx, d.cfg.Sweep)
		}
	}
	// Let the attempts in flight finish (each is bounded by Timeout), then the last acks.
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	t := time.NewTimer(d.cfg.Drain)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	stopWorkers()
	workers.Wait()
	stopAcks()
	<-acked
}

// pass reads every stream once: this consumer's own pending entries first (a restarted pod's),
// then new ones. It returns how many entries it read and whether it waited for new ones.
func (d *Dispatcher) pass(ctx context.Context) (int, bool, error) {
	total, waited := 0, false
	for chunk := range slices.Chunk(d.cfg.Streams, 256) {
		recs, w, err := d.read(ctx, chunk)
		waited = waited || w
		if err != nil {
			return total, waited, err
		}
		for _, r := range recs {
			d.take(r.stream, r.msg, false)
		}
		total += len(recs)
	}
	if d.own != nil && total == 0 {
		d.own = nil
	}
	return total, waited, nil
}

type readEntry struct {
	stream string
	msg    redis.XMessage
}

// read reads chunk: own pending entries after the cursor while there are some, else new ones.
func (d *Dispatcher) read(ctx context.Context, chunk []string) ([]readEntry, bool, error) {
	from := func(s string) string {
		if d.own != nil {
			return d.own[s]
		}
		return ">"
	}
	r := streamgroup.Reader{Group: Group, Consumer: d.cfg.Consumer, Count: d.cfg.Batch, Block: d.cfg.Block}
	read, missing, waited, err := r.Read(ctx, d.rdb, chunk, from, d.own == nil)
	if err != nil {
		return nil, false, err
	}
	for _, s := range missing {
		d.missing[s] = true
	}
	var out []readEntry
	for _, st := range read {
		for _, m := range st.Messages {
			out = append(out, readEntry{st.Stream, m})
		}
		if d.own != nil && len(st.Messages) > 0 {
			d.own[st.Stream] = st.Messages[len(st.Messages)-1].ID
		}
	}
	if len(d.missing) > 0 && len(d.cfg.Streams) == 1 {
		created, err := d.createGroups(ctx)
		if err != nil {
			return nil, false, err
		}
		// Read the new group at once rather than after a sweep's pause.
		waited = waited || created > 0
	}
	return out, waited, nil
}

// take routes one entry read from stream: an event for a client with an endpoint goes to the
// endpoint; anything else is acknowledged at once. unparked is true for a parked entry read
// back: it goes to its endpoint's queue ahead of the entries parked after it.
func (d *Dispatcher) take(stream string, m redis.XMessage, unparked bool) {
	r := ref{stream, m.ID}
	d.mu.Lock()
	if _, held := d.held[r]; held && !unparked {
		// In memory already, or parked: an own pending entry read again, or claimed back.
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	if m.Values == nil {
		// Deleted while pending (the hard cap): nothing to send.
		d.ack(r)
		return
	}
	e, err := audit.ParseEntry(m)
	if err != nil {
		d.ack(r)
		return
	}
	var starter string
	if isHandover(e.Kind) && e.VerificationID != "" && d.cfg.StartedBy != nil {
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
		starter, err = d.cfg.StartedBy(ctx, e.VerificationID)
		cancel()
		if err != nil {
			d.m.redis.Inc()
			return // pending: claimed again after ClaimIdle
		}
		if starter == "" {
			// The verification is gone (expired past its retention, or erased): whoever started
			// it can no longer be known, and the entry names the client that acted (the channel,
			// the IVR, a refused foreign client), which must not receive the platform's event.
			d.m.events.WithLabelValues(OutcomeUnrouted).Inc()
			d.ack(r)
			return
		}
	}
	if isDeployment(e.Kind) {
		starter = d.cfg.DeploymentClient
	}
	msg, ok, err := Render(d.cfg.Source, stream, e, starter)
	if err != nil {
		d.log.Warn("event not rendered; acknowledged undelivered", "event_id", stream+"/"+m.ID, "err", err)
		d.ack(r)
		return
	}
	if !ok {
		d.ack(r)
		return
	}
	ep := d.eps[msg.Client]
	if ep == nil {
		d.m.events.WithLabelValues(OutcomeUnrouted).Inc()
		d.ack(r)
		return
	}
	if d.expired(msg) {
		d.giveUp(ep, &item{ref: r, msg: msg})
		return
	}
	it := &item{ref: r, msg: msg}
	ep.accept(it, unparked)
}

// expired tells whether msg is past Config.MaxAge.
func (d *Dispatcher) expired(msg Message) bool { return d.now().Sub(msg.Time) > d.cfg.MaxAge }

// giveUp acknowledges an event that was not delivered within MaxAge.
func (d *Dispatcher) giveUp(ep *endpoint, it *item) {
	d.m.events.WithLabelValues(OutcomeGivenUp).Inc()
	d.log.Warn("event not delivered within its max age; given up", "event_id", it.msg.ID, "type", it.msg.Type,
		"client", it.msg.Client, "attempts", it.attempts, "max_age", d.cfg.MaxAge.String())
	d.record(ep, it, OutcomeGivenUp, 0, "")
	d.ack(it.ref)
}

// ack forgets r and queues its XACK.
func (d *Dispatcher) ack(r ref) {
	d.mu.Lock()
	delete(d.held, r)
	d.mu.Unlock()
	d.acks <- r
}

// acknowledge sends the queued XACKs in batches until ctx is done, then sends what is left.
// A batch that fails is kept and sent again (an entry delivered but not acknowledged is
// delivered again by the next owner, with the same id).
func (d *Dispatcher) acknowledge(ctx context.Context) {
	batch := map[string][]string{}
	n := 0
	flush := func(ctx context.Context) {
		if n == 0 {
			return
		}
		_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for s, ids := range batch {
				p.XAck(ctx, s, Group, ids...)
			}
			return nil
		})
		if err != nil {
			d.m.redis.Inc()
			return
		}
		clear(batch)
		n = 0
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-d.acks:
			batch[r.stream] = append(batch[r.stream], r.id)
			n++
			if n >= 256 {
				flush(ctx)
			}
		case <-tick.C:
			flush(ctx)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), d.cfg.Drain)
			for {
				select {
				case r := <-d.acks:
					batch[r.stream] = append(batch[r.stream], r.id)
					n++
					continue
				default:
				}
				break
			}
			flush(dctx)
			cancel()
			return
		}
	}
}

// unpark reads back, from Redis, the parked entries of endpoints whose queue has room.
func (d *Dispatcher) unpark(ctx context.Context) {
	for _, ep := range d.eps {
		refs := ep.unparkable()
		if len(refs) == 0 {
			continue
		}
		byStream := map[string][]string{}
		for _, r := range refs {
			byStream[r.stream] = append(byStream[r.stream], r.id)
		}
		cmds := map[string]*redis.XMessageSliceCmd{}
		_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for s, ids := range byStream {
				cmds[s] = p.XClaim(ctx, &redis.XClaimArgs{Stream: s, Group: Group, Consumer: d.cfg.Consumer,
					MinIdle: 0, Messages: ids})
			}
			return nil
		})
		var loaded []readEntry
		failed := false
		for s, c := range cmds {
			msgs, err := c.Result()
			if err != nil {
				failed = true
				continue
			}
			got := map[string]bool{}
			for _, m := range msgs {
				got[m.ID] = true
				loaded = append(loaded, readEntry{s, m})
			}
			for _, id := range byStream[s] {
				if !got[id] {
					// Gone from the stream or from the group (trimmed, or acknowledged by
					// another replica that claimed it): nothing left to send.
					d.ack(ref{s, id})
				}
			}
		}
		if failed {
			d.m.redis.Inc()
			ep.repark(refs)
			continue
		}
		slices.SortFunc(loaded, func(a, b readEntry) int { return compareIDs(a.msg.ID, b.msg.ID) })
		for _, r := range loaded {
			d.take(r.stream, r.msg, true)
		}
	}
}

// maintain claims what dead consumers held, touches what this replica holds (so that no other
// claims it), creates missing groups and measures the backlog.
func (d *Dispatcher) maintain(ctx context.Context) {
	var errs []error
	if len(d.missing) > 0 {
		if _, err := d.createGroups(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// While any dispatcher runs, events stay enabled since the same time: a hash tag's stream
	// that appears (or comes back after expiring) months later still gets the group from then,
	// so its first entries, written before the next maintenance pass, are not skipped.
	if err := d.rdb.Expire(ctx, sinceKey, sinceTTL).Err(); err != nil {
		errs = append(errs, err)
	}
	// Touch: XCLAIM to ourselves with JUSTID resets each entry's idle time without counting a
	// delivery.
	d.mu.Lock()
	byStream := map[string][]string{}
	oldest := time.Time{}
	for r, it := range d.held {
		byStream[r.stream] = append(byStream[r.stream], r.id)
		t := idTime(r.id)
		if it != nil {
			t = it.msg.Time
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	backlog := len(d.held)
	d.mu.Unlock()
	d.m.backlog.Set(float64(backlog))
	lag := time.Duration(0)
	if !oldest.IsZero() {
		lag = max(d.now().Sub(oldest), 0)
	}
	d.m.lag.Set(lag.Seconds())
	if _, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s, ids := range byStream {
			for c := range slices.Chunk(ids, 500) {
				p.XClaimJustID(ctx, &redis.XClaimArgs{Stream: s, Group: Group, Consumer: d.cfg.Consumer, MinIdle: 0, Messages: c})
			}
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		errs = append(errs, err)
	}
	// Claim what consumers that stopped touching theirs held.
	for chunk := range slices.Chunk(d.cfg.Streams, 256) {
		claims := make([]*redis.XAutoClaimCmd, len(chunk))
		_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range chunk {
				claims[i] = p.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s, Group: Group, Consumer: d.cfg.Consumer,
					MinIdle: d.cfg.ClaimIdle, Start: "0-0", Count: int64(d.cfg.Batch)})
			}
			return nil
		})
		for i, c := range claims {
			msgs, _, err := c.Result()
			if err != nil {
				if !streamgroup.IsNoGroup(err) && !errors.Is(err, redis.Nil) {
					errs = append(errs, err)
				}
				continue
			}
			for _, m := range msgs {
				d.take(chunk[i], m, false)
			}
		}
	}
	if len(errs) > 0 {
		d.redisFailed(errors.Join(errs...))
	}
}

// createGroups gives the streams found without the group one, from when events were first
// enabled (sinceKey), and returns how many it created. A stream that does not exist yet is
// left for its first entry.
func (d *Dispatcher) createGroups(ctx context.Context) (int, error) {
	now := d.now().UnixMilli()
	if err := d.rdb.SetNX(ctx, sinceKey, now, sinceTTL).Err(); err != nil {
		return 0, err
	}
	since, err := d.rdb.Get(ctx, sinceKey).Int64()
	if err != nil {
		return 0, err
	}
	_ = d.rdb.Expire(ctx, sinceKey, sinceTTL).Err()
	start := strconv.FormatInt(max(since-1, 0), 10) + "-0"
	streams := make([]string, 0, len(d.missing))
	for s := range d.missing {
		streams = append(streams, s)
	}
	cmds := make([]*redis.StatusCmd, len(streams))
	_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range streams {
			cmds[i] = p.XGroupCreate(ctx, s, Group, start)
		}
		return nil
	})
	created := 0
	for i, c := range cmds {
		err := c.Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") &&
			!strings.Contains(err.Error(), "requires the key to exist") {
			return created, err
		}
		if err == nil {
			created++
		}
		delete(d.missing, streams[i])
	}
	return created, nil
}

// record sends an attempt to the recorder, when there is one.
func (d *Dispatcher) record(ep *endpoint, it *item, outcome string, status int, errText string) {
	if d.rec == nil {
		return
	}
	d.rec.Record(Attempt{Time: d.now(), EventID: it.msg.ID, Type: it.msg.Type, Client: it.msg.Client, URL: ep.URL,
		Outcome: outcome, Status: status, Error: errText, N: it.attempts, Body: it.msg.Body})
}

// redisFailed counts a Redis failure and logs the first of an outage.
func (d *Dispatcher) redisFailed(err error) {
	d.m.redis.Inc()
	if !d.failing {
		d.failing = true
		d.log.Warn("event streams unreadable; events wait in Redis", "err", safeError(err))
	}
}

func (d *Dispatcher) redisOK() {
	if d.failing {
		d.failing = false
		d.log.Info("event streams readable again")
	}
}

// safeError is an error's text cut to its first line and 200 bytes: Redis errors name
// commands and keys, never values.
func safeError(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// idTime is the time of an entry id "<ms>-<seq>".
func idTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}

// compareIDs orders entry ids.
func compareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	x, _ := strconv.ParseUint(am, 10, 64)
	y, _ := strconv.ParseUint(bm, 10, 64)
	if x != y {
		if x < y {
			return -1
		}
		return 1
	}
	p, _ := strconv.ParseUint(as, 10, 64)
	q, _ := strconv.ParseUint(bs, 10, 64)
	switch {
	case p < q:
		return -1
	case p > q:
		return 1
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
