package streamgroup_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/streamgroup"
)

// A chunk of streams read in one pipeline: entries of the streams with the group,
// the streams without it named as missing (and no wait claimed); a single stream
// read with block waits; a consumer's own pending entries read back from "0".
func TestRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	for _, s := range []string{"a", "b"} {
		if err := rdb.XGroupCreateMkStream(ctx, s, "g", "0").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, Values: []string{"k", s}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r := streamgroup.Reader{Group: "g", Consumer: "c", Count: 10, Block: 50 * time.Millisecond}
	next := func(string) string { return ">" }
	read, missing, waited, err := r.Read(ctx, rdb, []string{"a", "nogroup", "b"}, next, true)
	if err != nil || waited || len(missing) != 1 || missing[0] != "nogroup" || len(read) != 2 ||
		read[0].Stream != "a" || read[1].Stream != "b" || read[1].Messages[0].Values["k"] != "b" {
		t.Fatalf("chunk: read %v, missing %v, waited %v, err %v", read, missing, waited, err)
	}
	read, _, waited, err = r.Read(ctx, rdb, []string{"a"}, next, true)
	if err != nil || !waited || len(read) != 0 {
		t.Fatalf("single stream, nothing new: read %v, waited %v, err %v", read, waited, err)
	}
	read, _, _, err = r.Read(ctx, rdb, []string{"a", "b"}, func(string) string { return "0" }, false)
	if err != nil || len(read) != 2 || len(read[0].Messages) != 1 {
		t.Fatalf("own pending: read %v, err %v", read, err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "nogroup", Values: []string{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	noGroup := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"nogroup", ">"}, Block: -1}).Err()
	if !streamgroup.IsNoGroup(noGroup) || streamgroup.IsNoGroup(nil) {
		t.Fatal("IsNoGroup: a read of a stream without the group")
	}
}
