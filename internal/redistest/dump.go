package redistest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Keys returns every key in rdb, sorted: SCAN on the server, or on every master
// of a Cluster. For leak checks and TTL checks; never for service code.
func Keys(tb testing.TB, rdb redis.UniversalClient) []string {
	tb.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, "*", 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		tb.Fatalf("redistest: scan: %v", err)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Dump reads every key of rdb and returns, per key, every part of its value:
// a string's value; a hash's fields and values; a stream's entry ids, fields and
// values; the members of a set, sorted set or list. It fails the test on a type
// it cannot read, so a leak check never passes by skipping data. A key that
// expires between the scan and the read is left out.
func Dump(tb testing.TB, rdb redis.UniversalClient) map[string][]string {
	tb.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	for _, k := range Keys(tb, rdb) {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			tb.Fatalf("redistest: type of %s: %v", k, err)
		}
		var parts []string
		switch typ {
		case "string":
			parts = []string{rdb.Get(ctx, k).Val()}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				parts = append(parts, f, v)
			}
		case "stream":
			for _, e := range rdb.XRange(ctx, k, "-", "+").Val() {
				parts = append(parts, e.ID)
				for f, v := range e.Values {
					parts = append(parts, f, fmt.Sprint(v))
				}
			}
		case "set":
			parts = rdb.SMembers(ctx, k).Val()
		case "zset":
			parts = rdb.ZRange(ctx, k, 0, -1).Val()
		case "list":
			parts = rdb.LRange(ctx, k, 0, -1).Val()
		case "none":
			continue // expired since the scan
		default:
			tb.Fatalf("redistest: key %s has type %s, which Dump does not read", k, typ)
		}
		out[k] = parts
	}
	return out
}
