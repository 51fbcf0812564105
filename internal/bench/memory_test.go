package bench

import (
	"context"
	"fmt"
	"io"
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

// pendingBudget is the design's budget for one pending verification, in bytes:
// the state that exists because the verification is pending and goes with it.
const pendingBudget = 512

// eventBudget bounds one audit-trail entry, in bytes. The trail is not pending
// state: Redis keeps it for the audit buffer (72 hours by default) whatever becomes
// of the verification, so it is budgeted per event for capacity planning
// (BENCHMARKS.md, "The audit trail is budgeted apart"). 160 bytes hold the largest
// regular entry, a known customer's with two 16-hex pseudonyms, with room.
const eventBudget = 160

// noopSender accepts every message and keeps nothing: the memory figure needs
// records, not messages, and a recording sender would grow with the run.
type noopSender struct{}

func (noopSender) Send(context.Context, delivery.Message) error { return nil }

// memShape is the request shape of a memory measurement.
type memShape int

const (
	// shapeBench is the bench's long-standing shape: a 24-character conversation
	// id, no customer named (issue 2's flow).
	shapeBench memShape = iota
	// shapeNamed is the same, each start naming its customer.
	shapeNamed
	// shapeX is what an X (Twitter) DM platform sends: a 19-digit user id, a
	// 19-digit conversation id, an 8-character handle and a customer id.
	shapeX
)

// customerX is the n-th customer of run in the X-style shape: 19-digit user and
// conversation ids (snowflakes), the rest as customerN.
func customerX(run, n int) customer {
	c := customerN(run, n)
	c.userID = fmt.Sprintf("1%d%017d", run, n)
	c.conversation = fmt.Sprintf("1%d%017d", run+1, n)
	return c
}

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
	counters, counterFields int64   // identity counters hashes and their fields
	recordAlone             float64 // bytes per copy of the sampled record written raw
	named                   bool    // every start named its customer
	customers               int64   // customer hashes the starts created (named only)
	afterCustomers          int64   // used_memory once the customer hashes are deleted too
}

// statePerPending is the pending verifications' own state: the used_memory
// delta without the audit stream and without the customer hashes.
func (m memResult) statePerPending() float64 {
	return float64(m.afterCustomers-m.before) / float64(m.pending)
}

// perCustomer is a customer hash's bytes (a start that names a customer with no
// hash creates one holding its audit pseudonym key).
func (m memResult) perCustomer() float64 {
	if m.customers == 0 {
		return 0
	}
	return float64(m.afterTrail-m.afterCustomers) / float64(m.customers)
}

// trailPerEvent is the audit stream's bytes per entry.
func (m memResult) trailPerEvent() float64 {
	if m.events == 0 {
		return 0
	}
	return float64(m.after-m.afterTrail) / float64(m.events)
}

// totalPerPending is the whole used_memory delta, trail included.
func (m memResult) totalPerPending() float64 {
	return float64(m.after-m.before) / float64(m.pending)
}

func (m memResult) eventsPerPending() float64 { return float64(m.events) / float64(m.pending) }

// measureMemory starts a fresh redis-server and a service over it with a no-op
// sender, creates pending verifications of pending distinct customers through
// challenge.Service.Start on memWorkers goroutines (each naming its customer when
// named), and measures used_memory
// before and after (each reading once the server has settled).
func measureMemory(ctx context.Context, tb testing.TB, pending int, shape memShape) (memResult, error) {
	named := shape != shapeBench
	srv := redistest.Start(tb)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: redisMaxRetries, PoolSize: memWorkers})
	tb.Cleanup(func() { _ = rdb.Close() })
	svc, _, _, _ := newService(tb, rdb, noopSender{})
	res := memResult{pending: pending, named: named}

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
					c := customerN(run, n)
					if shape == shapeX {
						c = customerX(run, n)
					}
					req := c.startDomain()
					if named {
						req.CustomerID = fmt.Sprintf("cust-%d%08d", run, n)
					}
					r, e := svc.Start(ctx, req)
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
	// The customer hashes' share: delete them and measure again.
	res.afterCustomers = res.afterTrail
	if named {
		if res.customers, err = deleteMatching(ctx, rdb, "v:{*}:c:*"); err != nil {
			return res, err
		}
		if res.afterCustomers, _, err = settled(ctx, srv, rdb); err != nil {
			return res, err
		}
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
	// The identity counters hash of the record's tag: the send logs and
	// conversation pointers of the identities whose verifications carry that tag.
	res.identityKey = "v:{" + tag + "}:i"
	res.idEncoding = rdb.ObjectEncoding(ctx, res.identityKey).Val()
	res.idUsage = rdb.MemoryUsage(ctx, res.identityKey, 0).Val()
	if res.counters, res.counterFields, err = countersHashes(ctx, rdb); err != nil {
		return res, err
	}
	cfg := rdb.ConfigGet(ctx, "hash-max-listpack-*").Val()
	res.listpackEntries, res.lpSize = cfg["hash-max-listpack-entries"], cfg["hash-max-listpack-value"]

	ttl, err := rdb.PTTL(ctx, res.recordKey).Result()
	if err != nil {
		return res, err
	}
	res.recordAlone, err = measureRecordAlone(ctx, srv, rdb, pending, res.fields, len(res.recordKey), ttl)
	return res, err
}

// deleteMatching deletes every key matching pattern and returns how many there were.
func deleteMatching(ctx context.Context, rdb *redis.Client, pattern string) (int64, error) {
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, err
	}
	for lo := 0; lo < len(keys); lo += 1000 {
		if err := rdb.Del(ctx, keys[lo:min(lo+1000, len(keys))]...).Err(); err != nil {
			return 0, err
		}
	}
	return int64(len(keys)), nil
}

// countersHashes counts the identity counters hashes ("v:{tag}:i") and their fields.
func countersHashes(ctx context.Context, rdb *redis.Client) (keys, fields int64, err error) {
	iter := rdb.Scan(ctx, 0, "v:{*}:i", 1000).Iterator()
	var names []string
	for iter.Next(ctx) {
		names = append(names, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, 0, err
	}
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range names {
			p.HLen(ctx, k)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for _, c := range cmds {
		fields += c.(*redis.IntCmd).Val()
	}
	return int64(len(names)), fields, nil
}

// settled returns used_memory less the clients' buffers (redistest's DataMemory: the
// pool's 32 connections hold buffers Redis resizes on its own schedule, a noise of up
// to 10 bytes per verification) and the key count once two readings 300 ms apart
// agree within 0.1% (incremental rehashing and client buffers have settled), or
// the last reading after about 5 s.
func settled(ctx context.Context, srv *redistest.Server, rdb *redis.Client) (int64, int64, error) {
	var last int64 = -1
	for range 16 {
		time.Sleep(300 * time.Millisecond)
		m, err := srv.DataMemory(ctx)
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

// measureRecordAlone flushes the server of rdb, writes n copies of the record rec
// (HSET + PEXPIRE, keys of keyLen bytes, the record's TTL) and returns the
// used_memory delta per copy: what the record costs without anything it shares.
func measureRecordAlone(ctx context.Context, srv *redistest.Server, rdb *redis.Client, n int,
	rec map[string]string, keyLen int, ttl time.Duration) (float64, error) {
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return 0, err
	}
	before, _, err := settled(ctx, srv, rdb)
	if err != nil {
		return 0, err
	}
	args := hashArgs(rec)
	const batch = 1000
	for lo := 0; lo < n; lo += batch {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+batch, n); i++ {
				k := fmt.Sprintf("v:{%03d}:%0*d", i%1000, keyLen-8, i)
				p.HSet(ctx, k, args...)
				p.PExpire(ctx, k, ttl)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	after, _, err := settled(ctx, srv, rdb)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), rdb.FlushAll(ctx).Err()
}

func hashArgs(m map[string]string) []any {
	out := make([]any, 0, 2*len(m))
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}
