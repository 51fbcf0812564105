package challenge

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
)

// TestLimitCellsBatchedAnswerAsSeparateRuns: on one node, a call's send-limit
// cells run in one limits.lua run; the answers and what Redis holds after must be
// those of one limit.lua run per cell. Two redis-servers take the same calls, one
// store batching and one not: string cells and bucket fields, fresh, counting,
// refused, replayed tokens, with another script between the cells.
func TestLimitCellsBatchedAnswerAsSeparateRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	batched := &store{rdb: redistest.Start(t).Client(t), pubCmd: "PUBLISH", oneNode: true}
	single := &store{rdb: redistest.Start(t).Client(t), pubCmd: "PUBLISH"}
	now := time.UnixMilli(1_800_000_000_000)
	cells := func(i int) []limit {
		return []limit{
			{scope: "destination", key: "l:{d7}", field: fmt.Sprintf("dest%d", i%3), rate: Rate{N: 2, Per: time.Hour}},
			{scope: "client", key: "l:{c:x}", rate: Rate{N: 5, Per: time.Minute}},
			{scope: "client_daily", key: "l:{c:x}:day", rate: Rate{N: 7, Per: 24 * time.Hour}},
			{scope: "agent", key: "l:{a:y}", rate: Rate{N: 4, Per: time.Hour}},
		}
	}
	for i := range 12 {
		token := fmt.Sprintf("tok%03d-rest", i/2*2) // every other call replays the one before
		at := ms(now.Add(time.Duration(i) * time.Second))
		// Another script between the cells keeps its own place among the replies.
		calls := limitCalls(cells(i)[:2], at, token)
		calls = append(calls, scriptCall{unlimitScript, []string{"l:{u}"}, []any{at, 1000, 1, "", "none"}})
		calls = append(calls, limitCalls(cells(i)[2:], at, token)...)
		got, err := batched.pipelined(ctx, calls)
		if err != nil {
			t.Fatal(err)
		}
		want, err := single.pipelined(ctx, calls)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("call %d: batched answers %v, separate runs %v", i, got, want)
		}
		if i == 11 {
			if denied, _ := limitOutcome(slices.Concat(cells(i)[:2], cells(i)[2:]), slices.Concat(got[:2], got[3:])); denied == nil {
				t.Fatalf("call %d: no cell refused: the calls never reached a limit, so the test shows little", i)
			}
		}
	}
	if a, b := dump(t, batched.rdb), dump(t, single.rdb); a != b {
		t.Fatalf("batched runs left\n%s\nseparate runs\n%s", a, b)
	}
}

// TestLimitCellsBatchedOnlyOnOneNode: a cluster's store keeps one run per cell
// (each cell's key has its own slot), and one cell alone is never batched.
func TestLimitCellsBatchedOnlyOnOneNode(t *testing.T) {
	t.Parallel()
	calls := limitCalls([]limit{{key: "l:{a}"}, {key: "l:{b}"}}, "1", "token-0")
	if out, cells := (&store{}).batchLimits(calls); cells != nil || len(out) != 2 || out[0].sc != limitScript {
		t.Fatalf("cluster store batched: %d calls, cells %v", len(out), cells)
	}
	if out, cells := (&store{oneNode: true}).batchLimits(calls[:1]); cells != nil || len(out) != 1 {
		t.Fatalf("one cell batched: %d calls, cells %v", len(out), cells)
	}
	out, cells := (&store{oneNode: true}).batchLimits(calls)
	if len(out) != 1 || out[0].sc != limitsScript || !slices.Equal(cells, []int{0, 1}) || len(out[0].keys) != 2 || len(out[0].args) != 12 {
		t.Fatalf("one node: %d calls, cells %v", len(out), cells)
	}
}

// dump lists every key of rdb with its value and TTL.
func dump(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	var out string
	for _, k := range keys {
		var v any
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			v = rdb.HGetAll(ctx, k).Val()
		default:
			v = typ
		}
		out += fmt.Sprintf("%s = %v (ttl %v)\n", k, v, rdb.PTTL(ctx, k).Val().Round(time.Hour))
	}
	return out
}

// TestLimitCellKeepsTheNewestTokens: a string cell keeps the tokens of its last
// 32 counted calls, a bucket its last 8 (its field '#'), oldest first, so that a
// replayed call is found and counts nothing. limit_cell cuts the oldest off the
// front of the ':t1:t2…' string; after every call, for counts around both
// limits, what it keeps must be exactly the newest calls' tokens, and the oldest
// dropped must count again when replayed.
func TestLimitCellKeepsTheNewestTokens(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	now := int64(1_800_000_000_000)
	for _, c := range []struct {
		key, field string
		keep       int
	}{{"l:{c:busy}", "", 32}, {"l:{d1}", "dest", 8}} {
		var tokens []string
		for i := range c.keep + 5 {
			// Tokens of several lengths, as no two calls' need be alike.
			tok := fmt.Sprintf("t%d%s", i, strings.Repeat("x", i%7))
			res, err := limitScript.Run(ctx, rdb, []string{c.key}, now, 1_000_000, 1_000_000, c.field, tok, 60_000).Int64Slice()
			if err != nil || res[0] != 1 || res[2] != 1 {
				t.Fatalf("%s call %d: %v, %v", c.key, i, res, err)
			}
			tokens = append(tokens, tok)
			var kept string
			if c.field == "" {
				v := rdb.Get(ctx, c.key).Val()
				kept = v[strings.IndexByte(v, ':'):]
			} else {
				kept = rdb.HGet(ctx, c.key, "#").Val()
			}
			want := ":" + strings.Join(tokens[max(0, len(tokens)-c.keep):], ":")
			if kept != want {
				t.Fatalf("%s after call %d keeps %q, want %q", c.key, i, kept, want)
			}
		}
		// The oldest token still kept is a replay and counts nothing; the first call's,
		// dropped, counts again.
		res, err := limitScript.Run(ctx, rdb, []string{c.key}, now, 1_000_000, 1_000_000, c.field, tokens[len(tokens)-c.keep], 60_000).Int64Slice()
		if err != nil || res[0] != 1 || res[1] != 0 || res[2] != 1 {
			t.Fatalf("%s replay of a kept token: %v, %v", c.key, res, err)
		}
		if v := rdb.Get(ctx, c.key).Val() + rdb.HGet(ctx, c.key, "#").Val(); strings.Count(v, ":") != c.keep {
			t.Fatalf("%s: a replay changed the kept tokens: %q", c.key, v)
		}
		if _, err := limitScript.Run(ctx, rdb, []string{c.key}, now, 1_000_000, 1_000_000, c.field, tokens[0], 60_000).Int64Slice(); err != nil {
			t.Fatal(err)
		}
		if kept := rdb.Get(ctx, c.key).Val() + rdb.HGet(ctx, c.key, "#").Val(); !strings.HasSuffix(kept, ":"+tokens[0]) {
			t.Fatalf("%s: a dropped token's replay was not counted again: %q", c.key, kept)
		}
	}
}
