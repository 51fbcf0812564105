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

//go:embed scripts/lapse.lua
var lapseSrc string

var lapseScript = transition(lapseSrc)

// A verification that expires by its TTL runs no script: nobody touches it, so nothing would
// write its 'expired' audit event (nor, through package events, tell the platform). A Lapser
// finds them without costing a pending verification a byte or a transition a round trip: it
// reads the audit streams, which already hold every 'started' entry, keeps in memory the
// verifications started and not yet ended, and once one's expiry has passed runs lapse.lua on
// it, which expires it, with its audit event, exactly when it is still pending. Terminal
// entries it reads (verified, failed, reported, canceled, expired) drop a verification from
// its memory, so it asks Redis only about verifications still pending when they may be due.
//
// At start it reads back LapseConfig.Window of the streams (the longest a verification can
// live plus the time its record outlives it), so a replica started after an expiry still
// emits it while the record exists. Every replica runs one; lapse.lua is idempotent (a
// verification expires once, whoever asks), so they need no coordination, at the cost of
// each replica reading the streams.

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
	failing bool
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
	return &Lapser{s: s, cfg: cfg, log: s.log.With("component", "lapse"), pending: map[string]time.Time{}}
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
			err = l.expire(ctx)
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
		ms, _, _ := strings.Cut(m.ID, "-")
		n, _ := strconv.ParseInt(ms, 10, 64)
		due := time.UnixMilli(n).Add(l.s.cfg.MinTTL)
		l.pending[id] = due
		heap.Push(&l.due, dueItem{id, due})
	case audit.Verified, audit.Failed, audit.Reported, audit.Canceled, audit.Expired:
		delete(l.pending, id)
	}
}

// expire runs lapse.lua on the tracked verifications that may be due, one call per hash tag.
func (l *Lapser) expire(ctx context.Context) error {
	now := l.s.now()
	byTag := map[string][]string{}
	for l.due.Len() > 0 && !l.due[0].due.After(now) {
		it := heap.Pop(&l.due).(dueItem)
		if d, ok := l.pending[it.id]; !ok || !d.Equal(it.due) {
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
			reply, err := l.s.store.run(ctx, lapseScript, keys, ms(l.s.now()))
			if err != nil {
				errs = append(errs, err)
				// Asked again next pass.
				for _, id := range chunk {
					l.reschedule(id, now)
				}
				continue
			}
			for i, id := range chunk {
				var ex int64
				if i < len(reply) {
					ex, _ = reply[i].(int64)
				}
				if ex == 0 {
					delete(l.pending, id)
					continue
				}
				l.reschedule(id, time.UnixMilli(ex))
			}
		}
	}
	return errors.Join(errs...)
}

func (l *Lapser) reschedule(id string, due time.Time) {
	l.pending[id] = due
	heap.Push(&l.due, dueItem{id, due})
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
