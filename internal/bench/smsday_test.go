package bench

import (
	"bytes"
	"container/heap"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redistest"
)

// BenchmarkSMSAttackDay is `make bench`'s replayed day of SMS pumping: a real
// redis-server, challenge.Service with its default SMS defences (number types,
// breakers, the default static limits) and a fake clock. It replays a warm-up day
// of legitimate traffic, then a day of legitimate traffic with a campaign spike
// mixed with a pumping attack, one event at a time in time order, and reports what
// the attack got through, what legitimate customers were refused, the breakers'
// Redis memory and the round trips of the SMS paths. The targets (≤ 2 % of attack
// SMS delivered, ≤ 0.5 % of legitimate SMS refused, the spike never tripped) are
// reported, not enforced: the round-trip budgets are.
func BenchmarkSMSAttackDay(b *testing.B) {
	if !*report {
		b.Skip("the replayed day runs with -report (make bench)")
	}
	d := newSMSDay(b, 7)
	d.replay(b, d.legitDay(d.t0, 1, false), false)
	d.resetCounts()
	day2 := d.t0.Add(24 * time.Hour)
	events := append(d.legitDay(day2, 2, true), d.attackEvents(day2)...)
	d.replay(b, events, true)
	over := d.print(b, os.Stdout)
	for _, o := range over {
		b.Errorf("over budget: %s", o)
	}
	b.ReportMetric(100*d.attackDeliveredShare(), "%attack-delivered")
	b.ReportMetric(100*d.legitRefusedShare(), "%legit-refused")
	b.ReportMetric(0, "ns/op")
}

// smsSender keeps each message's code or link, as the customer's phone would.
type smsSender struct {
	mu   sync.Mutex
	msgs map[string]delivery.Message
}

func (s *smsSender) Send(_ context.Context, m delivery.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _, _ := strings.Cut(m.ID, ".")
	s.msgs[id] = m
	return nil
}

func (s *smsSender) take(id string) (delivery.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	delete(s.msgs, id)
	return m, ok
}

// smsEvent is one step of the replay: a start, or a customer entering a code.
type smsEvent struct {
	at     time.Time
	kind   int // evStart, evEnter
	who    string
	number string
	link   bool // a magic link to the phone rather than a code
	enters bool // the customer will enter the code (or confirm the link)
	spike  bool // part of the campaign spike
	res    *challenge.StartResult
	seq    int
}

const (
	evStart = iota
	evEnter
)

type eventQueue []*smsEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*smsEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// smsCounts are one population's outcomes.
type smsCounts struct {
	starts, sent, entered                  int
	numberType, breaker, static, refusedEr int
}

func (c smsCounts) refused() int { return c.numberType + c.breaker + c.static + c.refusedEr }

type smsDay struct {
	srv     *redistest.Server
	rdb     *redis.Client
	rt      *redistest.Counter
	clock   *fakeclock.Clock
	sender  *smsSender
	svc     *challenge.Service
	reg     *prometheus.Registry
	rnd     *rand.Rand
	t0      time.Time
	seq     int
	memZero int64

	legit, spike, attack map[string]*smsCounts // by variant
	sentRT               rtRow
	refusedRT            rtRow
	codeRT, linkRT       rtRow
}

func newSMSDay(tb testing.TB, seed uint64) *smsDay {
	tb.Helper()
	srv := redistest.Start(tb)
	rdb := newRedisClient(tb, srv.Addr())
	d := &smsDay{srv: srv, rdb: rdb, rt: redistest.RoundTrips(rdb), sender: &smsSender{msgs: map[string]delivery.Message{}},
		reg: prometheus.NewRegistry(), rnd: rand.New(rand.NewPCG(seed, seed)), t0: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	d.clock = fakeclock.New(d.t0)
	signer, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	keyring, err := assertion.NewKeyring([]crypto.Signer{signer}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	u, _ := url.Parse(publicURL)
	// The static limits as deployed (destination 5/h, prefix 20/h), except those a
	// single client and its agents would hit at this volume.
	wide := challenge.Rate{N: 10_000_000, Per: time.Hour}
	limits := challenge.Limits{Send: challenge.SendLimits{Country: wide, Client: wide, Agent: wide, ClientDaily: 10_000_000}}
	d.svc, err = challenge.New(challenge.Config{PublicURL: u, Brand: "Acme", Limits: limits}, rdb, d.sender,
		assertion.NewMinter(keyring, issuer, 5*time.Minute), ring, d.clock.Now, nil, quietLog(),
		challenge.NewMetrics(d.reg))
	if err != nil {
		tb.Fatal(err)
	}
	d.memZero = usedMemory(tb, rdb)
	d.resetCounts()
	return d
}

func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	n, err := strconv.ParseInt(infoValue(rdb.Info(context.Background(), "memory").Val(), "used_memory"), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func (d *smsDay) resetCounts() {
	d.legit, d.spike, d.attack = map[string]*smsCounts{}, map[string]*smsCounts{}, map[string]*smsCounts{}
	d.sentRT = rtRow{op: "StartVerification (OTP_SMS/phone link, sent)", budget: 2, budgetDoc: "<= 2"}
	d.refusedRT = rtRow{op: "StartVerification (refused by a limit or breaker)", budgetDoc: "-"}
	d.codeRT = rtRow{op: "complete: SubmitCode (SMS, credits breakers)", budget: 2, budgetDoc: "<= 2"}
	d.linkRT = rtRow{op: "complete: ConfirmLink (phone, credits breakers)", budget: 2, budgetDoc: "<= 2"}
}

// The legitimate customers' countries: a share of the traffic and a mobile
// number generator in a real range of each.
var smsCountries = []struct {
	name  string
	share float64
	gen   func(r *rand.Rand) string
}{
	{"US", 0.35, func(r *rand.Rand) string {
		areas := []string{"212", "310", "415", "617", "646", "718", "805", "917"}
		return fmt.Sprintf("+1%s%03d%04d", areas[r.IntN(len(areas))], 200+r.IntN(800), r.IntN(10000))
	}},
	// 07[4-5,7-9]: mobile (076 is pagers).
	{"GB", 0.25, func(r *rand.Rand) string { return fmt.Sprintf("+447%c%08d", "45789"[r.IntN(5)], r.IntN(100_000_000)) }},
	{"DE", 0.15, func(r *rand.Rand) string {
		return fmt.Sprintf("+49%s%08d", []string{"151", "160", "170", "176"}[r.IntN(4)], r.IntN(100_000_000))
	}},
	{"FR", 0.15, func(r *rand.Rand) string { return fmt.Sprintf("+33%d%08d", 6+r.IntN(2), r.IntN(100_000_000)) }},
	{"ES", 0.10, func(r *rand.Rand) string { return fmt.Sprintf("+346%08d", r.IntN(100_000_000)) }},
}

// legitPerDay is the legitimate SMS starts of a day, before the spike.
const legitPerDay = 10_000

// diurnal is the relative rate at hour h (UTC): quiet at night, two peaks.
func diurnal(h float64) float64 {
	return 0.25 + math.Max(0, math.Sin((h-7)/15*math.Pi)) + 0.3*math.Exp(-(h-20)*(h-20)/4)
}

// arrivals draws the times of a Poisson process of rate(t) per hour, by thinning,
// over [from, from+span); peak bounds rate.
func (d *smsDay) arrivals(from time.Time, span time.Duration, peak float64, rate func(t time.Time) float64) []time.Time {
	var out []time.Time
	for t := from; ; {
		t = t.Add(time.Duration(d.rnd.ExpFloat64() / peak * float64(time.Hour)))
		if !t.Before(from.Add(span)) {
			return out
		}
		if d.rnd.Float64()*peak < rate(t) {
			out = append(out, t)
		}
	}
}

// legitDay is a day of legitimate starts: bursty (each 10-minute slot's rate is
// scaled by a log-normal factor), 70 % entered, a tenth magic links; with spike,
// GB's campaign multiplies its rate by 10 from 14:00 to 15:00.
func (d *smsDay) legitDay(day time.Time, n int, spike bool) []*smsEvent {
	var sum float64
	for h := range 24 {
		sum += diurnal(float64(h) + 0.5)
	}
	burst := map[int64]float64{}
	var out []*smsEvent
	for _, c := range smsCountries {
		base := legitPerDay * c.share / sum // starts an hour at diurnal 1
		rate := func(t time.Time) float64 {
			slot := t.Unix() / 600
			f, ok := burst[slot]
			if !ok {
				f = math.Min(math.Exp(d.rnd.NormFloat64()*0.5), 4)
				burst[slot] = f
			}
			r := base * diurnal(float64(t.Hour())+float64(t.Minute())/60) * f
			if spike && c.name == "GB" && t.Hour() == 14 {
				r *= 10
			}
			return r
		}
		for _, at := range d.arrivals(day, 24*time.Hour, base*10*4*2.5, rate) {
			out = append(out, &smsEvent{at: at, who: "l" + strconv.Itoa(n), number: c.gen(d.rnd), link: d.rnd.Float64() < 0.1,
				enters: d.rnd.Float64() < 0.7, spike: spike && c.name == "GB" && at.Hour() == 14})
		}
	}
	return out
}

// attackEvents is the pumping: premium-rate numbers; a fast burst into a few 10,000-number
// blocks; a slow drip over many blocks all day. Numbers are ordinary mobile ranges
// of the countries named, codes never entered.
func (d *smsDay) attackEvents(day time.Time) []*smsEvent {
	var out []*smsEvent
	add := func(variant string, n int, from time.Time, span time.Duration, number func(i int) string) {
		for i := range n {
			at := from.Add(time.Duration(d.rnd.Int64N(int64(span))))
			out = append(out, &smsEvent{at: at, who: variant, number: number(i)})
		}
	}
	// Premium-rate ranges: UK 0906, US 1-900 (NXX 200-999), France 0891.
	premium := []func() string{
		func() string { return fmt.Sprintf("+44906%07d", d.rnd.IntN(10_000_000)) },
		func() string { return fmt.Sprintf("+1900%03d%04d", 200+d.rnd.IntN(800), d.rnd.IntN(10_000)) },
		func() string { return fmt.Sprintf("+33891%06d", d.rnd.IntN(1_000_000)) },
	}
	add("premium", 3_000, day.Add(9*time.Hour), 3*time.Hour, func(int) string { return premium[d.rnd.IntN(len(premium))]() })
	// Blocks of 10,000 mobile numbers (a breaker prefix each): a block is its base
	// (country code and national prefix) and a block number of width digits, so that
	// base + block + 4 digits is a full national number.
	type block struct {
		base  string
		width int
	}
	blocks := func(n int, kinds ...block) []string {
		var out []string
		for i := range n {
			k := kinds[i%len(kinds)]
			out = append(out, fmt.Sprintf("%s%0*d", k.base, k.width, 10+i))
		}
		return out
	}
	gb, ng, bd := block{"+447911", 2}, block{"+234803", 3}, block{"+8801712", 2}
	fr, jo := block{"+3361", 3}, block{"+96279", 3}
	// GB, Nigeria, Bangladesh: 12 blocks.
	fast := blocks(12, gb, ng, bd)
	add("fast", 15_000, day.Add(2*time.Hour), 2*time.Hour, func(int) string {
		return fast[d.rnd.IntN(len(fast))] + fmt.Sprintf("%04d", d.rnd.IntN(10_000))
	})
	// 80 other blocks over GB, France, Nigeria, Bangladesh and Jordan.
	slow := blocks(80, gb, fr, ng, bd, jo)[:80]
	for i := range slow {
		slow[i] = strings.Replace(slow[i], "+447911", "+447912", 1)
	}
	add("slow", 8_000, day, 24*time.Hour, func(int) string {
		return slow[d.rnd.IntN(len(slow))] + fmt.Sprintf("%04d", d.rnd.IntN(10_000))
	})
	return out
}

// replay runs events in time order, with the customers' entries they cause.
func (d *smsDay) replay(tb testing.TB, events []*smsEvent, count bool) {
	tb.Helper()
	q := eventQueue{}
	for _, e := range events {
		d.seq++
		e.seq = d.seq
		q = append(q, e)
	}
	heap.Init(&q)
	for q.Len() > 0 {
		e := heap.Pop(&q).(*smsEvent)
		if e.at.After(d.clock.Now()) {
			d.clock.Set(e.at)
		}
		if e.kind == evEnter {
			d.enter(tb, e, count)
			continue
		}
		if next := d.start(tb, e, count); next != nil {
			d.seq++
			next.seq = d.seq
			heap.Push(&q, next)
		}
	}
}

// counts is the population an event counts in.
func (d *smsDay) counts(e *smsEvent) *smsCounts {
	m, key := d.legit, "all"
	switch {
	case e.spike:
		m = d.spike
	case !strings.HasPrefix(e.who, "l"):
		m, key = d.attack, e.who
	}
	if m[key] == nil {
		m[key] = &smsCounts{}
	}
	return m[key]
}

// start starts e's verification and returns the customer's entry, if any.
func (d *smsDay) start(tb testing.TB, e *smsEvent, count bool) *smsEvent {
	tb.Helper()
	m := challenge.OTPSMS
	if e.link {
		m = challenge.MagicLink
	}
	id := strconv.Itoa(e.seq)
	r := challenge.StartRequest{ClientID: clientID, Identity: challenge.Identity{Network: "x", UserID: e.who + id, Handle: "@c" + id},
		Methods: []challenge.Method{m}, Audience: "crm", AgentID: "agent-" + strconv.Itoa(e.seq%2000), ConversationID: "c" + id,
		Destination: &challenge.Destination{Kind: challenge.Phone, Value: e.number}, Locale: "en", RequestID: "r" + id}
	d.rt.Reset()
	res, err := d.svc.Start(context.Background(), r)
	rts := d.rt.Load()
	c := d.counts(e)
	c.starts++
	var ve *challenge.ValidationError
	var le *challenge.LimitError
	switch {
	case err == nil:
		c.sent++
		d.sentRT.add(rts)
	case errors.As(err, &ve) && strings.Contains(ve.Error(), "cannot receive"):
		c.numberType++
	case errors.As(err, &le) && strings.HasPrefix(le.Scope, "breaker_"):
		c.breaker++
		d.refusedRT.add(rts)
	case errors.As(err, &le):
		c.static++
		d.refusedRT.add(rts)
	default:
		c.refusedEr++
		tb.Logf("start %s: %v", e.who, err)
	}
	if err != nil || !e.enters {
		return nil
	}
	// Log-normal entry delay, median ~40 s, at most 9 minutes.
	delay := 15*time.Second + min(time.Duration(math.Exp(3.2+0.8*d.rnd.NormFloat64())*float64(time.Second)), 8*time.Minute)
	return &smsEvent{at: d.clock.Now().Add(delay), kind: evEnter, who: e.who, link: e.link, spike: e.spike, res: res}
}

func (r *rtRow) add(n int64) {
	r.calls++
	r.total += n
	r.maxSeen = max(r.maxSeen, n)
}

// enter types the code, or picks the number of the link.
func (d *smsDay) enter(tb testing.TB, e *smsEvent, count bool) {
	tb.Helper()
	id := e.res.Verification.ID
	msg, ok := d.sender.take(id)
	if !ok {
		tb.Fatalf("no message for %s", id)
	}
	ctx := context.Background()
	d.rt.Reset()
	var out challenge.Result
	var err error
	row := &d.codeRT
	if e.link {
		_, tok, _ := strings.Cut(msg.Link, "/l/")
		n, _ := strconv.Atoi(e.res.MatchNumber)
		out, err = d.svc.ConfirmLink(ctx, tok, n, "p"+id, "")
		row = &d.linkRT
	} else {
		_, tok, _ := strings.Cut(e.res.PageURL, "/v/")
		out, err = d.svc.SubmitCode(ctx, tok, msg.Code, "p"+id, "")
	}
	row.add(d.rt.Load())
	if err != nil || out.Outcome != challenge.OutcomeVerified {
		tb.Fatalf("entering %s: %+v, %v", id, out, err)
	}
	d.counts(e).entered++
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func sum(m map[string]*smsCounts) smsCounts {
	var t smsCounts
	for _, c := range m {
		t.starts, t.sent, t.entered = t.starts+c.starts, t.sent+c.sent, t.entered+c.entered
		t.numberType, t.breaker, t.static, t.refusedEr = t.numberType+c.numberType, t.breaker+c.breaker, t.static+c.static, t.refusedEr+c.refusedEr
	}
	return t
}

func (d *smsDay) attackDeliveredShare() float64 {
	a := sum(d.attack)
	return share(a.sent, a.starts)
}

func (d *smsDay) legitRefusedShare() float64 {
	l := sum(d.legit)
	s := sum(d.spike)
	return share(l.refused()+s.refused(), l.starts+s.starts)
}

// breakerEvents reads authsvc_sms_breaker_events_total: event -> country -> count.
func (d *smsDay) breakerEvents() map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	mfs, _ := d.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "authsvc_sms_breaker_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var country, event string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "country":
					country = l.GetValue()
				case "event":
					event = l.GetValue()
				}
			}
			if out[event] == nil {
				out[event] = map[string]float64{}
			}
			out[event][country] += m.GetCounter().GetValue()
		}
	}
	return out
}

// countryTrips reads the audit trail's breaker_tripped events of country cells:
// country ("+44") -> trips.
func (d *smsDay) countryTrips(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for _, m := range d.rdb.XRange(ctx, "audit:events", "-", "+").Val() {
		if m.Values["k"] == "breaker_tripped" && m.Values["r"] == "country" {
			d, _ := m.Values["d"].(string)
			out[d]++
		}
	}
	return out
}

// breakerMemory sums the breaker buckets: keys, cells, MEMORY USAGE, the largest
// field + value, and buckets without a TTL.
func (d *smsDay) breakerMemory(ctx context.Context) (keys, cells, bytes, largest, noTTL int64) {
	iter := d.rdb.Scan(ctx, 0, "v:{*}:b", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		all := d.rdb.HGetAll(ctx, k).Val()
		for f, v := range all {
			if f != "#" {
				cells++
				largest = max(largest, int64(len(f)+len(v)))
			}
		}
		bytes += d.rdb.MemoryUsage(ctx, k).Val()
		if d.rdb.PTTL(ctx, k).Val() <= 0 {
			noTTL++
		}
	}
	return keys, cells, bytes, largest, noTTL
}

func (d *smsDay) print(tb testing.TB, out io.Writer) (over []string) {
	ctx := context.Background()
	fmt.Fprintf(out, "\n== SMS pumping: a replayed day (real redis-server %s, fake clock, one event at a time)\n",
		infoValue(d.rdb.Info(ctx, "server").Val(), "redis_version"))
	fmt.Fprintf(out, "  defaults: number types (premium, shared-cost, UAN, pager, voicemail, toll-free refused),\n")
	fmt.Fprintf(out, "  breakers enforce (country 50/day 3/h x1, prefix 10/day 2/h x1, grace 3m, cool-down 1h),\n")
	fmt.Fprintf(out, "  static limits destination 5/h, prefix 20/h. A warm-up day of legitimate traffic first.\n")
	fmt.Fprintf(out, "  %-28s %7s %7s %7s %7s %7s %7s %7s\n", "population", "starts", "sent", "entered", "type", "breaker", "static", "other")
	line := func(name string, c smsCounts) {
		fmt.Fprintf(out, "  %-28s %7d %7d %7d %7d %7d %7d %7d\n", name, c.starts, c.sent, c.entered, c.numberType, c.breaker, c.static, c.refusedEr)
	}
	line("legitimate", sum(d.legit))
	line("legitimate: GB spike x10", sum(d.spike))
	for _, v := range []string{"premium", "fast", "slow"} {
		if c := d.attack[v]; c != nil {
			line("attack: "+v, *c)
		}
	}
	a := sum(d.attack)
	line("attack: all", a)
	ev := d.breakerEvents()
	countryTrips := d.countryTrips(ctx)
	spikeTripped := countryTrips["+44"] > 0 || sum(d.spike).breaker > 0
	fmt.Fprintf(out, "  attack SMS delivered        %6.2f %%  (%d of %d; target <= 2 %%)\n", 100*d.attackDeliveredShare(), a.sent, a.starts)
	fmt.Fprintf(out, "  legitimate SMS refused      %6.2f %%  (target <= 0.5 %%)\n", 100*d.legitRefusedShare())
	fmt.Fprintf(out, "  campaign spike tripped      %v  (GB's country cell trips: %.0f; spike sends refused by a breaker: %d)\n",
		spikeTripped, countryTrips["+44"], sum(d.spike).breaker)
	countries := func(m map[string]float64) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("+%s:%.0f", k, m[k]))
		}
		return strings.Join(parts, " ")
	}
	fmt.Fprintf(out, "  breaker trips by country    %s (prefix and country cells)\n", countries(ev["tripped"]))
	fmt.Fprintf(out, "  country cells tripped       %s\n", strings.ReplaceAll(countries(countryTrips), "++", "+"))
	fmt.Fprintf(out, "  breaker releases            %s\n", countries(ev["released"]))
	keys, cells, mem, largest, noTTL := d.breakerMemory(ctx)
	fmt.Fprintf(out, "  breaker state               %d cells in %d buckets, MEMORY USAGE %d B = %.0f B a cell;\n", cells, keys, mem, float64(mem)/float64(max(cells, 1)))
	fmt.Fprintf(out, "                              largest field+value %d B; buckets without a TTL: %d\n", largest, noTTL)
	fmt.Fprintf(out, "  Redis used_memory           %+d B over both days (verification records included)\n", usedMemory(tb, d.rdb)-d.memZero)
	for _, r := range []rtRow{d.sentRT, d.refusedRT, d.codeRT, d.linkRT} {
		fmt.Fprintf(out, "  %-50s %6.2f %4d  %-7s %s\n", r.op, r.avg(), r.maxSeen, r.budgetDoc, r.verdict())
		if !r.holds() {
			over = append(over, fmt.Sprintf("%s: %d round trips, budget %s", r.op, r.maxSeen, r.budgetDoc))
		}
	}
	if noTTL > 0 {
		over = append(over, fmt.Sprintf("%d breaker buckets without a TTL", noTTL))
	}
	return over
}
