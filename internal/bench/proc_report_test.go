package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/redistest"
)

// procResult is one timed phase of production-like flows.
type procResult struct {
	workers               int
	flows                 int
	elapsed               time.Duration
	start, page, complete latencies
	get, flow             latencies
	serverCPU, redisCPU   time.Duration
	loadCPU               time.Duration      // this process: the platform, the gateway, the browser
	work                  workCounts         // the service's, over the timed part
	commands              map[string]cmdStat // INFO commandstats deltas
	keysBefore            int64
}

func (r procResult) rate() float64 { return perSecond(r.flows, r.elapsed) }

func (r procResult) perFlow(d time.Duration) float64 {
	return float64(d.Microseconds()) / float64(max(r.flows, 1))
}

// procBench is the production-like set-up: a redis-server, the email gateway and
// the authsvc process, plaintext or TLS.
type procBench struct {
	redis *redistest.Server
	side  *redis.Client // the bench's own client: INFO, loading
	hook  *hookRecv
	proc  *procServer
	run   int // keeps the customers of phases apart
}

func newProcBench(ctx context.Context, tb testing.TB, bin string, withTLS bool) *procBench {
	tb.Helper()
	b := &procBench{redis: redistest.Start(tb), hook: startHook(tb), run: 10}
	b.side = newRedisClient(tb, b.redis.Addr())
	b.proc = startProc(ctx, tb, bin, b.redis.URL(), b.hook.url, withTLS)
	return b
}

// phase runs production-like flows on workers for d after a warm-up, and
// measures the service's and redis-server's CPU and Redis's commands over the
// timed part alone.
func (b *procBench) phase(ctx context.Context, workers int, warm, d time.Duration) (procResult, error) {
	res := procResult{workers: workers}
	worker := func(ctx context.Context, w, i int, rec *procRec) error {
		return b.proc.procFlow(ctx, b.hook, customerN(b.run, w*10_000_000+i), rec)
	}
	b.run++
	if _, _, _, err := runFor(ctx, workers, warm, worker); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	b.run++
	var err error
	if res.keysBefore, err = b.side.DBSize(ctx).Result(); err != nil {
		return res, err
	}
	cs0, err := commandStats(ctx, b.side)
	if err != nil {
		return res, err
	}
	rc0, err := redisCPU(ctx, b.side)
	if err != nil {
		return res, err
	}
	w0, err := b.proc.counts(ctx)
	if err != nil {
		return res, err
	}
	sc0, err := b.proc.cpu()
	if err != nil {
		return res, err
	}
	lc0 := cpuTime()
	recs, flows, elapsed, err := runFor(ctx, workers, d, worker)
	if err != nil {
		return res, fmt.Errorf("flows: %w\nservice log (tail):\n%s", err, b.proc.tail())
	}
	lc1 := cpuTime()
	sc1, err := b.proc.cpu()
	if err != nil {
		return res, err
	}
	w1, err := b.proc.counts(ctx)
	if err != nil {
		return res, err
	}
	res.work = w1.sub(w0)
	rc1, err := redisCPU(ctx, b.side)
	if err != nil {
		return res, err
	}
	cs1, err := commandStats(ctx, b.side)
	if err != nil {
		return res, err
	}
	res.flows, res.elapsed = flows, elapsed
	res.serverCPU, res.redisCPU, res.loadCPU = sc1-sc0, rc1-rc0, time.Duration(lc1-lc0)
	res.commands = map[string]cmdStat{}
	for k, v := range cs1 {
		v.calls -= cs0[k].calls
		v.usec -= cs0[k].usec
		// The bench's own INFO calls are not the flow's.
		if v.calls > 0 && k != "info" && k != "dbsize" {
			res.commands[k] = v
		}
	}
	for _, r := range recs {
		res.start, res.page, res.complete = append(res.start, r.start...), append(res.page, r.page...), append(res.complete, r.complete...)
		res.get, res.flow = append(res.get, r.get...), append(res.flow, r.flow...)
	}
	res.start, res.page, res.complete = res.start.merge(), res.page.merge(), res.complete.merge()
	res.get, res.flow = res.get.merge(), res.flow.merge()
	return res, nil
}

// reportProc prints one production-like phase in full.
func reportProc(out io.Writer, name string, r procResult) {
	fmt.Fprintf(out, "  %s: %d workers, %s, %d flows, %.0f flows/s\n", name, r.workers, r.elapsed.Round(time.Millisecond), r.flows, r.rate())
	fmt.Fprintf(out, "    Start (gRPC)        %s\n", r.start.line())
	fmt.Fprintf(out, "    page GET            %s\n", r.page.line())
	fmt.Fprintf(out, "    code POST           %s\n", r.complete.line())
	fmt.Fprintf(out, "    Get (gRPC)          %s\n", r.get.line())
	fmt.Fprintf(out, "    whole flow          %s\n", r.flow.line())
	fmt.Fprintf(out, "    server CPU %6.0f µs/flow   redis CPU %5.0f µs/flow  (process /proc/<pid>/stat; INFO cpu)\n",
		r.perFlow(r.serverCPU), r.perFlow(r.redisCPU))
	fmt.Fprintf(out, "    server work per flow, counted (steady under load, unlike CPU time): %.1f read/write system calls, %.0f heap allocations; %.2f GCs per 1,000 flows\n",
		float64(r.work.ioSyscalls)/float64(max(r.flows, 1)), r.work.mallocs/float64(max(r.flows, 1)), 1000*r.work.gcs/float64(max(r.flows, 1)))
	fmt.Fprintf(out, "    load generator CPU %5.0f µs/flow (this process: platform, email gateway, browser); all three\n",
		r.perFlow(r.loadCPU))
	fmt.Fprintf(out, "    %5.0f µs/flow, against %.0f µs of the machine's %d cores per flow at this rate\n",
		r.perFlow(r.serverCPU+r.redisCPU+r.loadCPU), 1e6*float64(runtime.NumCPU())/max(r.rate(), 1), runtime.NumCPU())
	type row struct {
		name string
		cmdStat
	}
	var rows []row
	var calls int64
	for k, v := range r.commands {
		rows = append(rows, row{k, v})
		calls += v.calls
	}
	slices.SortFunc(rows, func(a, b row) int { return int(b.usec - a.usec) })
	fmt.Fprintf(out, "    Redis commands per flow (INFO commandstats, the commands scripts run included; an EVALSHA's\n")
	fmt.Fprintf(out, "    time includes its script's commands): %.1f calls; calls × µs each:\n", float64(calls)/float64(max(r.flows, 1)))
	var parts []string
	for _, x := range rows[:min(len(rows), 10)] {
		parts = append(parts, fmt.Sprintf("%s %.2f×%.1fµs", strings.ToUpper(x.name), float64(x.calls)/float64(max(r.flows, 1)),
			float64(x.usec)/float64(max(x.calls, 1))))
	}
	fmt.Fprintf(out, "      %s\n", strings.Join(parts, ", "))
}

// growthLine prints one row of the cost-growth table.
func growthLine(out io.Writer, label string, r procResult) {
	fmt.Fprintf(out, "  %-22s %8.0f flows/s  p50 %8s  p99 %8s  server %5.0f µs  redis %5.0f µs per flow\n",
		label, r.rate(), ms(r.flow.quantile(0.5)), ms(r.flow.quantile(0.99)), r.perFlow(r.serverCPU), r.perFlow(r.redisCPU))
}

// samplePending starts one verification through the process and leaves it
// pending; it returns its record's fields and TTL, the realistic record the
// loader copies.
func (b *procBench) samplePending(ctx context.Context) (map[string]string, time.Duration, error) {
	c := customerN(99, 1)
	res, err := b.proc.vc.StartVerification(authed(ctx), c.startProto(authsvcv1.Method_METHOD_OTP_EMAIL))
	if err != nil {
		return nil, 0, err
	}
	id := res.GetVerification().GetVerificationId()
	tag, _, _ := strings.Cut(id, "-")
	key := "v:{" + tag + "}:" + id
	fields, err := b.side.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, 0, err
	}
	if len(fields) == 0 {
		return nil, 0, fmt.Errorf("record %q not found: has the key layout changed?", key)
	}
	ttl, err := b.side.PTTL(ctx, key).Result()
	return fields, ttl, err
}

// loadPending writes n copies of a real pending record under distinct ids and
// hash tags (HSET + PEXPIRE, pipelined 1,000 at a time on 4 connections): the
// keyspace of n pending verifications, built in seconds instead of minutes of
// starts. No DEBUG command, nothing the service would not write itself.
func (b *procBench) loadPending(ctx context.Context, from, n int, fields map[string]string, ttl time.Duration) error {
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	const conns, batch = 4, 1000
	errs := make(chan error, conns)
	for c := range conns {
		go func() {
			var err error
			for lo := from + c*batch; lo < from+n && err == nil; lo += conns * batch {
				_, err = b.side.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := lo; i < min(lo+batch, from+n); i++ {
						key := loadKey(i)
						p.HSet(ctx, key, args...)
						p.PExpire(ctx, key, ttl)
					}
					return nil
				})
			}
			errs <- err
		}()
	}
	var err error
	for range conns {
		err = errors.Join(err, <-errs)
	}
	return err
}

// loadKey is the i-th loaded record's key: v:{TAG}:TAG-BODY like a real id (a
// 3-character base32 tag of 14 bits, a 16-character body), tags spread evenly.
func loadKey(i int) string {
	const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	t := i % 16384
	tag := string([]byte{b32[t>>9], b32[(t>>4)&31], b32[(t&15)<<1]})
	body := fmt.Sprintf("LOAD%012d", i)
	return "v:{" + tag + "}:" + tag + "-" + body
}

// refResult is a run of the reference flow (-reference): its FLOW line.
type refResult struct {
	rate     float64
	p50, p99 string
	line     string
}

// runReference runs the reference flow's run.sh for d and reads its FLOW line.
func runReference(ctx context.Context, script string, d time.Duration) (refResult, error) {
	out, err := exec.CommandContext(ctx, script, d.String()).CombinedOutput()
	if err != nil {
		return refResult{}, fmt.Errorf("%s: %w\n%s", script, err, out)
	}
	m := refFlow.FindStringSubmatch(string(out))
	if m == nil {
		return refResult{}, fmt.Errorf("%s printed no FLOW line:\n%s", script, out)
	}
	r := refResult{line: strings.TrimSpace(m[0]), p50: m[2], p99: m[3]}
	r.rate, err = strconv.ParseFloat(m[1], 64)
	return r, err
}

// refFlow is the reference's whole-flow line: rate, p50 and p99.
var refFlow = regexp.MustCompile(`(?m)^FLOW .*rate=\s*([\d.]+)/s\s+p50=\s*(\S+)\s+p90=\s*\S+\s+p99=\s*(\S+).*$`)

// prodReport is what section 0 measured, for the BENCH line.
type prodReport struct {
	plain, tls procResult
}

// reportProduction is section 0: the production-like flow, plaintext then TLS,
// with the reference flow run just before and just after it (-reference), then the
// cost-growth table.
func reportProduction(ctx context.Context, tb testing.TB, out io.Writer) (prodReport, error) {
	var pr prodReport
	bin := buildServer(tb)
	var refs []refResult
	reference := func() error {
		if *referenceScript == "" {
			return nil
		}
		r, err := runReference(ctx, *referenceScript, *baseTime)
		refs = append(refs, r)
		return err
	}
	if err := reference(); err != nil {
		return pr, err
	}
	plain := newProcBench(ctx, tb, bin, false)
	var err error
	if pr.plain, err = plain.phase(ctx, *workers, warmupTime, *flowTime); err != nil {
		return pr, fmt.Errorf("plaintext: %w", err)
	}
	if *serverProfile != "" {
		// The plaintext phase's profile ends here (SIGUSR1 stops it).
		if err := plain.proc.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			return pr, err
		}
	}
	secure := newProcBench(ctx, tb, bin, true)
	if pr.tls, err = secure.phase(ctx, *workers, warmupTime, *flowTime); err != nil {
		return pr, fmt.Errorf("TLS: %w", err)
	}
	if err := reference(); err != nil {
		return pr, err
	}
	fmt.Fprintf(out, "\n== 0. Production-like flows: cmd/authsvc as its own process, API-key client auth, a real\n")
	fmt.Fprintf(out, "  redis-server, the code through the signed email webhook, the customer's page GET and\n")
	fmt.Fprintf(out, "  code POST over HTTP, GetVerification with the assertion. The load generator is this process.\n")
	reportProc(out, "plaintext", pr.plain)
	reportProc(out, "TLS (gRPC and pages)", pr.tls)
	if len(refs) == 2 {
		mean := (refs[0].rate + refs[1].rate) / 2
		fmt.Fprintf(out, "  reference flow (%s), before: %s\n", *referenceScript, refs[0].line)
		fmt.Fprintf(out, "  reference flow, after:  %s\n", refs[1].line)
		fmt.Fprintf(out, "  ratio: plaintext %.0f flows/s / reference %.0f flows/s (mean of before and after) = %.2f×; TLS %.2f×\n",
			pr.plain.rate(), mean, pr.plain.rate()/mean, pr.tls.rate()/mean)
		// The reference's processes are not ours to measure; what the machine has
		// per reference flow bounds their CPU, and 0.9× leaves this flow as much.
		fmt.Fprintf(out, "  the machine's %d cores give %.0f µs of CPU per reference flow; 0.9× the reference leaves\n",
			runtime.NumCPU(), 1e6*float64(runtime.NumCPU())/max(mean, 1))
		fmt.Fprintf(out, "  %.0f µs per flow for the service, redis-server and the load generator together (measured: %.0f)\n",
			1e6*float64(runtime.NumCPU())/max(0.9*mean, 1), pr.plain.perFlow(pr.plain.serverCPU+pr.plain.redisCPU+pr.plain.loadCPU))
	}
	tb.Cleanup(func() {}) // the TLS bench stays up until the end: its redis is small
	if *growTime <= 0 {
		return pr, nil
	}
	fmt.Fprintf(out, "\n== 0b. Cost growth (plaintext; %s each after a warm-up)\n", *growTime)
	for _, w := range []int{1, 4, 16, 64} {
		r, err := plain.phase(ctx, w, warmupTime/2, *growTime)
		if err != nil {
			return pr, fmt.Errorf("growth, %d workers: %w", w, err)
		}
		growthLine(out, fmt.Sprintf("%d workers", w), r)
	}
	if *maxPending <= 0 {
		return pr, nil
	}
	fields, ttl, err := plain.samplePending(ctx)
	if err != nil {
		return pr, err
	}
	loaded := 0
	for _, n := range []int{10_000, *maxPending} {
		t0 := time.Now()
		if err := plain.loadPending(ctx, loaded, n-loaded, fields, ttl); err != nil {
			return pr, err
		}
		if err := settleRehash(ctx, plain.side, n, time.Minute); err != nil {
			return pr, err
		}
		load := time.Since(t0)
		loaded = n
		r, err := plain.phase(ctx, *workers, warmupTime/2, *growTime)
		if err != nil {
			return pr, fmt.Errorf("growth, %d pending: %w", n, err)
		}
		growthLine(out, fmt.Sprintf("%d pending, %d w", n, *workers), r)
		fmt.Fprintf(out, "    (%d pending records loaded, and the key tables grown, in %s; %d keys in Redis)\n", n, load.Round(time.Millisecond), r.keysBefore)
	}
	return pr, nil
}

// settleRehash finishes Redis's growing of its key tables after a load of n
// records, within most. A load that takes the keys past a power of two doubles the
// main and the expires dict, and Redis moves the entries over bit by bit: one
// bucket each time a command looks a key up, and a millisecond per cron tick when
// idle (minutes for a million keys). Measured in that time the flows pay for the
// move (dictRehash alone was 10 % of redis-server's CPU right after loading
// 1,000,000 records, and its CPU per flow 78 % above the 10,000 row's), which is
// the load's cost, not the steady state's that the row is for. A busy server's own
// lookups finish the move; here the loaded keys are looked up (EXISTS, pipelined)
// until both tables are one again.
func settleRehash(ctx context.Context, rdb *redis.Client, n int, most time.Duration) error {
	deadline := time.Now().Add(most)
	for next := 0; ; {
		settled, err := tablesSettled(ctx, rdb)
		if err != nil || settled {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis still rehashing its key tables after %s", most)
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for range 20_000 {
				p.Exists(ctx, loadKey(next%max(n, 1)))
				next++
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// tablesSettled reports whether db 0's main and expires dicts are one table each:
// a table has a power of two of slots, and MEMORY STATS counts 8 bytes a slot over
// both tables while there are two, and per entry 40 bytes in the main dict (entry
// and key object) and 24 in the expires dict (redis-server 7.0).
func tablesSettled(ctx context.Context, rdb *redis.Client) (bool, error) {
	stats, err := rdb.Do(ctx, "MEMORY", "STATS").Result()
	if err != nil {
		return false, err
	}
	db := asMap(asMap(stats)["db.0"])
	main, ok1 := db["overhead.hashtable.main"].(int64)
	expires, ok2 := db["overhead.hashtable.expires"].(int64)
	if !ok1 || !ok2 {
		main, expires = -1, -1 // an empty db 0 has no entry
	}
	info, err := rdb.Info(ctx, "keyspace").Result()
	if err != nil {
		return false, err
	}
	var keys, expiring int64
	if i := strings.Index(info, "db0:keys="); i >= 0 {
		if _, err := fmt.Sscanf(info[i:], "db0:keys=%d,expires=%d", &keys, &expiring); err != nil {
			return false, fmt.Errorf("INFO keyspace: %w", err)
		}
	}
	one := func(overhead, entries, entry int64) bool {
		slots := (overhead - entry*entries) / 8
		return overhead < 0 || entries == 0 || slots > 0 && slots&(slots-1) == 0
	}
	return one(main, keys, 40) && one(expires, expiring, 24), nil
}

// asMap reads a RESP3 map, or a RESP2 flat array of names and values, by name.
func asMap(v any) map[string]any {
	out := map[string]any{}
	switch m := v.(type) {
	case map[any]any:
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			out[fmt.Sprint(m[i])] = m[i+1]
		}
	}
	return out
}
