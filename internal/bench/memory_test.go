package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
)

// memWorkers is the number of goroutines that create the pending verifications.
const memWorkers = 32

// pendingBudget is the design's budget for one pending verification, in bytes.
const pendingBudget = 512

// noopSender accepts every message and keeps nothing: the memory figure needs
// records, not messages, and a recording sender would grow with the run.
type noopSender struct{}

func (noopSender) Send(context.Context, delivery.Message) error { return nil }

// memResult is the outcome of the memory measurement.
type memResult struct {
	pending                 int
	before, after           int64
	keysBefore, keysAfter   int64
	afterTrail              int64 // used_memory once the audit stream is deleted
	events                  int64 // the audit stream's entries, all made by the measured run
	elapsed                 time.Duration
	recordKey, identityKey  string
	encoding, idEncoding    string
	usage, idUsage          int64
	fields                  map[string]string
	listpackEntries, lpSize string
	whatIfs                 []whatIfRow
}

func (m memResult) perPending() float64 {
	return float64(m.after-m.before) / float64(m.pending)
}

// trailPerPending is the audit stream's share of perPending.
func (m memResult) trailPerPending() float64 {
	return float64(m.after-m.afterTrail) / float64(m.pending)
}

// statePerPending is perPending without the audit stream.
func (m memResult) statePerPending() float64 {
	return float64(m.afterTrail-m.before) / float64(m.pending)
}

func (m memResult) eventsPerPending() float64 { return float64(m.events) / float64(m.pending) }

// measureMemory starts a fresh redis-server and a service over it with a no-op
// sender, creates pending verifications of pending distinct customers through
// challenge.Service.Start on memWorkers goroutines, and measures used_memory
// before and after (each reading once the server has settled).
func measureMemory(ctx context.Context, tb testing.TB, pending int) (memResult, error) {
	srv := redistest.Start(tb)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: redisMaxRetries, PoolSize: memWorkers})
	tb.Cleanup(func() { _ = rdb.Close() })
	svc, _, _, _ := newService(tb, rdb, noopSender{})
	res := memResult{pending: pending}

	start := func(run, count int) (*challenge.StartResult, error) {
		var (
			next    atomic.Int64
			first   *challenge.StartResult
			errOnce sync.Once
			err     error
			wg      sync.WaitGroup
		)
		for range memWorkers {
			wg.Go(func() {
				for {
					n := int(next.Add(1)) - 1
					if n >= count {
						return
					}
					r, e := svc.Start(ctx, customerN(run, n).startDomain())
					if e != nil {
						errOnce.Do(func() { err = fmt.Errorf("Start %d: %w", n, e) })
						return
					}
					if n == 0 {
						first = r
					}
				}
			})
		}
		wg.Wait()
		return first, err
	}

	// Warm up: scripts cached, every connection of the pool open and used. The
	// warm-up's audit events go, so that the stream measured is the run's alone.
	if _, err := start(6, 4*memWorkers); err != nil {
		return res, err
	}
	if err := rdb.Del(ctx, auditStream).Err(); err != nil {
		return res, err
	}
	var err error
	if res.before, res.keysBefore, err = settled(ctx, srv, rdb); err != nil {
		return res, err
	}
	t0 := time.Now()
	first, err := start(7, pending)
	if err != nil {
		return res, err
	}
	res.elapsed = time.Since(t0)
	if res.after, res.keysAfter, err = settled(ctx, srv, rdb); err != nil {
		return res, err
	}
	// The audit trail's share: delete its stream (one key on standalone Redis)
	// and measure again.
	if res.events, err = rdb.XLen(ctx, auditStream).Result(); err != nil {
		return res, err
	}
	if err := rdb.Del(ctx, auditStream).Err(); err != nil {
		return res, err
	}
	if res.afterTrail, _, err = settled(ctx, srv, rdb); err != nil {
		return res, err
	}

	// One record, for the breakdown. Its key follows the layout of DESIGN.md,
	// "State in Redis": v:{tag}:<id>, the tag being the id's first part.
	id := first.Verification.ID
	tag, _, _ := strings.Cut(id, "-")
	res.recordKey = "v:{" + tag + "}:" + id
	if res.fields, err = rdb.HGetAll(ctx, res.recordKey).Result(); err != nil {
		return res, err
	}
	if len(res.fields) == 0 {
		return res, fmt.Errorf("record key %q not found: has the key layout changed?", res.recordKey)
	}
	if st := res.fields["st"]; st != "1" {
		return res, fmt.Errorf("record %q: state %q, want 1 (pending)", res.recordKey, st)
	}
	res.encoding = rdb.ObjectEncoding(ctx, res.recordKey).Val()
	res.usage = rdb.MemoryUsage(ctx, res.recordKey, 0).Val()
	// The identity hash of the record's tag: the send log and conversation pointer
	// of every identity with that tag (almost always one identity per tag).
	if n, err := rdb.Exists(ctx, "v:{"+tag+"}:i").Result(); err == nil && n == 1 {
		res.identityKey = "v:{" + tag + "}:i"
	}
	if res.identityKey != "" {
		res.idEncoding = rdb.ObjectEncoding(ctx, res.identityKey).Val()
		res.idUsage = rdb.MemoryUsage(ctx, res.identityKey, 0).Val()
	}
	cfg := rdb.ConfigGet(ctx, "hash-max-listpack-*").Val()
	res.listpackEntries, res.lpSize = cfg["hash-max-listpack-entries"], cfg["hash-max-listpack-value"]

	var ident map[string]string
	if res.identityKey != "" {
		if ident, err = rdb.HGetAll(ctx, res.identityKey).Result(); err != nil {
			return res, err
		}
	}
	ttl, err := rdb.PTTL(ctx, res.recordKey).Result()
	if err != nil {
		return res, err
	}
	res.whatIfs, err = measureWhatIfs(ctx, srv, rdb, pending, res.fields, ident, len(res.identityKey), ttl)
	return res, err
}

// settled returns used_memory and the key count once two readings 300 ms apart
// agree within 0.1% (incremental rehashing and client buffers have settled), or
// the last reading after about 5 s.
func settled(ctx context.Context, srv *redistest.Server, rdb *redis.Client) (int64, int64, error) {
	var last int64 = -1
	for range 16 {
		time.Sleep(300 * time.Millisecond)
		m, err := srv.UsedMemory(ctx)
		if err != nil {
			return 0, 0, err
		}
		if last >= 0 && abs(m-last)*1000 <= last {
			last = m
			break
		}
		last = m
	}
	keys, err := rdb.DBSize(ctx).Result()
	return last, keys, err
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// printFields writes the record's fields with their sizes, largest first, and
// the sums.
func printFields(w io.Writer, fields map[string]string) {
	names := make([]string, 0, len(fields))
	var nameBytes, valueBytes int
	for k, v := range fields {
		names = append(names, k)
		nameBytes += len(k)
		valueBytes += len(v)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := len(fields[b]) - len(fields[a]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "  fields (%d), value bytes largest first:\n", len(fields))
	var line strings.Builder
	for i, k := range names {
		fmt.Fprintf(&line, "  %-4s %3d", k, len(fields[k]))
		if i%6 == 5 || i == len(names)-1 {
			fmt.Fprintf(w, "   %s\n", line.String())
			line.Reset()
		}
	}
	fmt.Fprintf(w, "  sum: %d bytes of field names + %d bytes of values = %d bytes of payload\n",
		nameBytes, valueBytes, nameBytes+valueBytes)
}

// The identity index a what-if variant writes beside each record.
const (
	noIndex    = iota
	hashIndex  // the identity hash as stored: conversation field -> verification id
	plainIndex // a string key per conversation holding the id
)

// whatIf is one variant of the stored layout, measured by writing copies of the
// sampled record (and of its identity index) straight into a flushed
// redis-server, with the same key lengths and TTLs.
type whatIf struct {
	name  string
	index int
	edit  func(map[string]string)
	// fromStored starts from the record as stored instead of the variant above.
	fromStored bool
}

// whatIfs are the layouts the report compares. The record already stores the
// earlier proposals (fields no script reads packed into chunks of at most 64
// bytes, the send claim time dropped once sent); what remains is the identity
// hash's share, and what the record would cost without it.
var whatIfs = []whatIf{
	{name: "as stored: record + identity hash", index: hashIndex},
	{name: "record alone (identity hash's share = difference)"},
	{name: " - empty or zero fields not stored (at)", edit: func(f map[string]string) {
		if f["at"] == "0" {
			delete(f, "at")
		}
	}},
	{name: " - co and dh HMACs cut from 16 to 8 bytes", edit: func(f map[string]string) {
		for _, k := range []string{"co", "dh"} {
			if len(f[k]) > 8 {
				f[k] = f[k][:8]
			}
		}
	}},
	{name: "all of the above + identity hash as now", index: hashIndex},
}

// whatIfRow is a measured variant.
type whatIfRow struct {
	name    string
	fields  int
	payload int
	perKey  float64
}

// measureWhatIfs flushes the server of rdb and measures each variant over n
// copies. rec and ident are the sampled record and identity hash; recTTL their TTL.
func measureWhatIfs(ctx context.Context, srv *redistest.Server, rdb *redis.Client, n int,
	rec, ident map[string]string, identKeyLen int, ttl time.Duration) ([]whatIfRow, error) {
	cur := maps.Clone(rec)
	var rows []whatIfRow
	for _, v := range whatIfs {
		if v.fromStored {
			cur = maps.Clone(rec)
		}
		if v.edit != nil {
			v.edit(cur)
		}
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			return nil, err
		}
		before, _, err := settled(ctx, srv, rdb)
		if err != nil {
			return nil, err
		}
		recArgs := hashArgs(cur)
		idArgs := hashArgs(ident)
		var idValue string
		for _, val := range ident {
			idValue = val
		}
		const batch = 1000
		for lo := 0; lo < n; lo += batch {
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := lo; i < min(lo+batch, n); i++ {
					// Key lengths as stored: 36 for a record, identKeyLen for an identity hash.
					k := fmt.Sprintf("v:{%05d}:%05d-%020d", i%100_000, i%100_000, i)
					p.HSet(ctx, k, recArgs...)
					p.PExpire(ctx, k, ttl)
					ik := fmt.Sprintf("v:{%05d}:i:%0*d", i%100_000, identKeyLen-11, i)
					switch v.index {
					case hashIndex:
						if len(idArgs) == 0 {
							break
						}
						p.HSet(ctx, ik, idArgs...)
						p.PExpire(ctx, ik, ttl)
					case plainIndex:
						// Keyed by client and conversation: as long as the hash's key plus its field.
						p.Set(ctx, ik+"c:0123456", idValue, ttl)
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		after, _, err := settled(ctx, srv, rdb)
		if err != nil {
			return nil, err
		}
		payload := 0
		for k, val := range cur {
			payload += len(k) + len(val)
		}
		rows = append(rows, whatIfRow{name: v.name, fields: len(cur), payload: payload,
			perKey: float64(after-before) / float64(n)})
	}
	return rows, rdb.FlushAll(ctx).Err()
}

func hashArgs(m map[string]string) []any {
	out := make([]any, 0, 2*len(m))
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}
