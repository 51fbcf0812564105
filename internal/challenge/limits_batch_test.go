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

// TestLimitCellTokensKeptAsBefore: limit_cell keeps a cell's newest tokens by
// cutting the oldest off the front of its ':t1:t2…' string. It must keep exactly
// what the table-based version it replaced kept (the newest keep - 1 tokens and
// the call's), for every number of tokens around both limits (8 and 32), tokens
// of every length.
func TestLimitCellTokensKeptAsBefore(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	// The function of limit_cell.lua, as it was and as it is, side by side.
	src := limitCellSrc + `
local function before(tokens, token, keep)
  local kept = {}
  for t in string.gmatch(tokens, '[^:]+') do
    kept[#kept + 1] = t
  end
  local out = {}
  for i = math.max(1, #kept - keep + 2), #kept do
    out[#out + 1] = kept[i]
  end
  out[#out + 1] = token
  return ':' .. table.concat(out, ':')
end
local function now(tokens, token, keep)
  local _, n = string.gsub(tokens, ':', '')
  local cut = 1
  for _ = 1, n - keep + 1 do
    cut = string.find(tokens, ':', cut + 1, true)
  end
  return string.sub(tokens, cut) .. ':' .. token
end
local out = {}
for i = 1, #ARGV, 2 do
  local keep = tonumber(ARGV[i + 1])
  out[#out + 1] = before(ARGV[i], 'new', keep)
  out[#out + 1] = now(ARGV[i], 'new', keep)
end
return out`
	// The function under test must be the one limit_cell.lua holds.
	if !strings.Contains(limitCellSrc, `local _, n = string.gsub(tokens, ':', '')
    local cut = 1
    for _ = 1, n - keep + 1 do
      cut = string.find(tokens, ':', cut + 1, true)
    end
    return string.sub(tokens, cut) .. ':' .. token`) {
		t.Fatal("limit_cell.lua's with_token is not the one this test checks")
	}
	var args []any
	for _, keep := range []int{8, 32} {
		for n := 0; n <= keep+3; n++ {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, ":%s", strings.Repeat(string(rune('a'+i%26)), 1+i%13))
			}
			args = append(args, b.String(), keep)
		}
	}
	res, err := redis.NewScript(src).Run(ctx, rdb, nil, args...).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(res); i += 2 {
		if res[i] != res[i+1] {
			t.Errorf("tokens %q, keep %v: kept %q, before %q", args[i], args[i+1], res[i+1], res[i])
		}
	}
}
