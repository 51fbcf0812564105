package challenge

import (
	"container/heap"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
)

var (
	//go:embed scripts/lapse.lua
	lapseSrc string
	//go:embed scripts/handover_lapse.lua
	handoverLapseSrc string

	lapseScript         = transition(lapseSrc)
	handoverLapseScript = transition(handoverPrelude + handoverLapseSrc)
)

// A verification that expires by its TTL runs no script: nobody touches it, so nothing would
// write its 'expired' audit event (nor, through package events, tell the platform). A Lapser
// finds them without costing a pending verification a byte or a transition a round trip: it
// reads the audit streams, which already hold every 'started' entry, keeps in memory the
// verifications started and not yet ended, and once one's expiry has passed runs lapse.lua on
// it, which expires it, with its audit event, exactly when it is still pending (by the expiry
// stored in the record, which an extension moves: an 'extended' entry reschedules it). Terminal
// entries it reads (verified, failed, reported, canceled, expired) drop a verification from
// its memory, so it asks Redis only about verifications still pending when they may be due.
//
// At start it reads back LapseConfig.Window of the streams (the longest a verification can
// live plus the time its record outlives it), so a replica started after an expiry still
// emits it while the record exists. Every replica runs one; lapse.lua is idempotent (a
// verification expires once, whoever asks), so they need no coordination, at the cost of
// each replica reading the streams.
//
// Handover offers are followed the same way, so that one left unredeemed gets its
// 'handover_expired' audit event (and its com.authsvc.handover.expired event): a
// 'handover_created' entry tracks the verification's offer from when it can run out
// (the entry's time plus the offer TTL), a newer 'handover_created' of the same verification
// replaces it (the record names one live offer, 'ho'; a replaced offer gets no expired event:
// the newer offer's created event says it is gone), and 'handover_redeemed' forgets it. The
// end of the verification does not: a phone offer can still be redeemed after it (with the
// case context only), and a secure-channel offer whose verification no longer stands was
// still never redeemed, so either gets its expired event when its time runs out. Once due,
// handover_lapse.lua writes the event exactly when the record's live offer is unredeemed and
// its time ran out (an offered one's offer expiry, a bound one's code expiry), and marks the
// handover hash ('l'), so that it is written once whoever asks; it answers when to ask
// again otherwise. The handover hash outlives its offer by 10 minutes: an offer that no
// replica looked at in that time (every one down) gets no event.

// LapseConfig configures a Lapser. Zero values take the defaults named.
type LapseConfig struct {
	// Streams are every audit stream (as the exporter's).
	Streams []string
	// Window is how far back the streams are read at start: MaxTTL + Retention.
	Window time.Duration
	// Sweep is the pause between passes (1s).
	Sweep time.Duration
	// Batch is the most entries read from one stream at a time (500).
	Batch int
}

// Lapser expires verifications whose expiry passed untouched; see NewLapser.
type Lapser struct {
	s   *Service
	cfg LapseConfig
	log *slog.Logger

	cursor  map[string]string // stream → the last entry id read
	pending map[string]time.Time
	due     dueHeap
	// offers are the verifications with an offer not yet redeemed, by when it can run out.
	offers    map[string]time.Time
	offersDue dueHeap
	failing   bool
}

// NewLapser returns a Lapser of the service's verifications.
func (s *Service) NewLapser(cfg LapseConfig) *Lapser {
	if cfg.Window <= 0 {
		cfg.Window = s.cfg.MaxTTL + s.cfg.Retention
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	return &Lapser{s: s, cfg: cfg, log: s.log.With("component", "lapse"), pending: map[string]time.Time{},
		offers: map[string]time.Time{}}
}

// Run reads and expires until ctx is done. Redis failures are logged once per outage and
// retried.
func (l *Lapser) Run(ctx context.Context) {
	// The cursor is the last id read: one before the window, so that its first entry is read.
	start := strconv.FormatInt(max(l.s.now().Add(-l.cfg.Window).UnixMilli()-1, 0), 10) + "-0"
	l.cursor = make(map[string]string, len(l.cfg.Streams))
	for _, st := range l.cfg.Streams {
		l.cursor[st] = start
	}
	for ctx.Err() == nil {
		full, err := l.read(ctx)
		if err == nil {
			err = errors.Join(l.expire(ctx), l.expireOffers(ctx))
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !l.failing {
				l.failing = true
				l.log.Warn("expiry sweep failing; expired verifications get their event once Redis answers", "err", err)
			}
		} else if l.failing {
			l.failing = false
			l.log.Info("expiry sweep resumed")
		}
		if !full || err != nil {
			t := time.NewTimer(l.cfg.Sweep)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// read reads every stream from its cursor; full tells whether a stream had more to read.
func (l *Lapser) read(ctx context.Context) (bool, error) {
	full := false
	for chunk := range slices.Chunk(l.cfg.Streams, 256) {
		cmds := make([]*redis.XMessageSliceCmd, len(chunk))
		_, _ = l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, st := range chunk {
				cmds[i] = p.XRangeN(ctx, st, after(l.cursor[st]), "+", int64(l.cfg.Batch))
			}
			return nil
		})
		for i, c := range cmds {
			msgs, err := c.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return false, err
			}
			if len(msgs) == l.cfg.Batch {
				full = true
			}
			for _, m := range msgs {
				l.see(m)
			}
			if len(msgs) > 0 {
				l.cursor[chunk[i]] = msgs[len(msgs)-1].ID
			}
		}
	}
	return full, nil
}

// see follows one audit entry: a start is tracked from the earliest it can expire, an end
// forgets it.
func (l *Lapser) see(m redis.XMessage) {
	id, _ := m.Values["v"].(string)
	if id == "" {
		return
	}
	switch m.Values["k"] {
	case audit.Started:
		if _, ok := l.pending[id]; ok {
			return
		}
		due := entryTime(m.ID).Add(l.s.cfg.MinTTL)
		l.pending[id] = due
		heap.Push(&l.due, dueItem{id, due})
	case audit.Extended:
		// The customer gave it more time: ask no sooner than its new expiry. lapse.lua
		// reads the stored expiry all the same, so an entry read late (or never) only
		// costs a question answered "not yet".
		e, _ := m.Values["e"].(string)
		until, err := strconv.ParseInt(e, 10, 64)
		if _, ok := l.pending[id]; ok && err == nil {
			reschedule(l.pending, &l.due, id, time.UnixMilli(until))
		}
	case audit.Verified, audit.Failed, audit.Reported, audit.Canceled, audit.Expired:
		delete(l.pending, id)
	case audit.HandoverCreated:
		// The newest offer of a verification is its live one.
		due := entryTime(m.ID).Add(l.s.handover.OfferTTL)
		l.offers[id] = due
		heap.Push(&l.offersDue, dueItem{id, due})
	case audit.HandoverRedeemed:
		delete(l.offers, id)
	}
}

// entryTime is the time of a stream entry id.
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}

// expire runs lapse.lua on the tracked verifications that may be due, one call per hash tag.
func (l *Lapser) expire(ctx context.Context) error {
	return l.run(ctx, lapseScript, l.pending, &l.due)
}

// expireOffers runs handover_lapse.lua on the verifications whose tracked offer may be due.
func (l *Lapser) expireOffers(ctx context.Context) error {
	return l.run(ctx, handoverLapseScript, l.offers, &l.offersDue)
}

// run runs sc on the verifications of tracked that are due by the heap due, one call per hash
// tag. sc answers, per record, 0 (forget it) or when to ask again (ms).
func (l *Lapser) run(ctx context.Context, sc *redis.Script, tracked map[string]time.Time, due *dueHeap) error {
	now := l.s.now()
	byTag := map[string][]string{}
	for due.Len() > 0 && !(*due)[0].due.After(now) {
		it := heap.Pop(due).(dueItem)
		if d, ok := tracked[it.id]; !ok || !d.Equal(it.due) {
			continue // ended, or rescheduled
		}
		tag, _, _ := strings.Cut(it.id, "-")
		byTag[tag] = append(byTag[tag], it.id)
	}
	var errs []error
	for _, ids := range byTag {
		for chunk := range slices.Chunk(ids, 100) {
			keys := make([]string, len(chunk))
			for i, id := range chunk {
				keys[i] = recordKey(id)
			}
			reply, err := l.s.store.run(ctx, sc, keys, ms(l.s.now()))
			if err != nil {
				errs = append(errs, err)
				// Asked again next pass.
				for _, id := range chunk {
					reschedule(tracked, due, id, now)
				}
				continue
			}
			for i, id := range chunk {
				var ex int64
				if i < len(reply) {
					ex, _ = reply[i].(int64)
				}
				if ex == 0 {
					delete(tracked, id)
					continue
				}
				reschedule(tracked, due, id, time.UnixMilli(ex))
			}
		}
	}
	return errors.Join(errs...)
}

func reschedule(tracked map[string]time.Time, h *dueHeap, id string, due time.Time) {
	tracked[id] = due
	heap.Push(h, dueItem{id, due})
}

// after is the entry id right after id, for a range that excludes id.
func after(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return id
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return id
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

type dueItem struct {
	id  string
	due time.Time
}

// dueHeap orders verifications by when to ask about them.
type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// StartedBy returns the client that started verification id (its record's client), or "" when
// the record is gone. Package events routes a handover step, whose audit entry names the client
// that acted (the brand channel, the IVR), to the platform that started the verification.
func (s *Service) StartedBy(ctx context.Context, id string) (string, error) {
	if !validID(id) {
		return "", nil
	}
	cl, err := s.rdb.HGet(ctx, recordKey(id), "cl").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return cl, nil
}
