package challenge

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// commandTally counts the Redis commands a client sends, by name.
type commandTally struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *commandTally) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[name]++
}

// take returns the counts so far and starts again from zero.
func (c *commandTally) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *commandTally) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandTally) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (c *commandTally) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.add(cmd.Name())
		}
		return next(ctx, cmds)
	}
}

func TestReportCountsAgainstClientAndAgent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.svc.metrics.reports)
	reports := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "authsvc_reports_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("authsvc_reports_total not gathered")
		return 0
	}
	lines := func() []string {
		var out []string
		for l := range strings.Lines(f.logs.String()) {
			if strings.Contains(l, `msg="verification reported"`) {
				out = append(out, l)
			}
		}
		return out
	}
	tally := &commandTally{n: map[string]int{}}
	f.rdb.AddHook(tally)

	res := f.start(OTPEmail, email)
	id := res.Verification.ID
	code := f.code(id)
	tally.take()
	if r, err := f.svc.ReportCodePage(ctx, pageToken(t, res), "r1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("ReportCodePage: %+v, %v", r, err)
	}
	// The script, then one read for the ids the report counts against.
	if n := tally.take(); n["hgetall"] != 1 {
		t.Errorf("report sent %v; want the script and one HGETALL", n)
	}
	if n := reports(); n != 1 {
		t.Errorf("authsvc_reports_total = %v, want 1", n)
	}
	got := lines()
	if len(got) != 1 {
		t.Fatalf("report log lines = %q, want one", got)
	}
	for _, want := range []string{"level=INFO", "verification_id=" + id, "client_id=platform-a", "agent_id=agent-7"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("log line %q lacks %s", got[0], want)
		}
	}
	for _, secret := range []string{"alice", code} {
		if strings.Contains(got[0], secret) {
			t.Errorf("log line %q contains %q", got[0], secret)
		}
	}
	if v := f.get(id); v.State != Failed || v.Reason != ReasonReported {
		t.Errorf("after the report: %v %v, want FAILED(REPORTED)", v.State, v.Reason)
	}

	// A repeated submission gets the same answer but counts once.
	f.clock.Advance(time.Second)
	if r, err := f.svc.ReportCodePage(ctx, pageToken(t, res), "r1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("repeated report: %+v, %v", r, err)
	}
	// A new report of a finished verification is not a report: no read at all.
	tally.take()
	if r, err := f.svc.ReportCodePage(ctx, pageToken(t, res), "r2"); err != nil || r.Outcome != OutcomeGone {
		t.Fatalf("report after the end: %+v, %v", r, err)
	}
	if n := tally.take(); n["hgetall"] != 0 {
		t.Errorf("a refused report sent %v; want the script alone", n)
	}
	if n, got := reports(), lines(); n != 1 || len(got) != 1 {
		t.Errorf("after repeats: authsvc_reports_total = %v, %d log lines; want 1, 1", n, len(got))
	}

	// A magic link's report counts the same way.
	link := f.start(MagicLink, phone)
	if r, err := f.svc.ReportLink(ctx, f.linkToken(link.Verification.ID), "r1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("ReportLink: %+v, %v", r, err)
	}
	if n := reports(); n != 2 {
		t.Errorf("authsvc_reports_total = %v, want 2", n)
	}
	if got := lines(); len(got) != 2 || !strings.Contains(got[1], "verification_id="+link.Verification.ID) {
		t.Errorf("report log lines = %q", got)
	}
}
