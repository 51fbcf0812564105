// Package streamgroup reads one consumer group across many Redis streams: the audit
// buffer is one stream on standalone and Sentinel and one per hash tag on Cluster,
// and both of its readers (package auditexport's exporter and package events'
// dispatcher) read it the same way, a chunk of streams at a time.
package streamgroup

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reader is one consumer of a group.
type Reader struct {
	Group, Consumer string
	// Count bounds the entries one read takes from a stream.
	Count int
	// Block is how long a read of a single stream waits for new entries.
	Block time.Duration
}

// Read reads chunk with XREADGROUP, each stream from the id from returns for it (">"
// for new entries, an id for this consumer's own pending ones after it). A single
// stream read with block waits up to Block for new entries, in one command; any
// other chunk is read without waiting, one command per stream in one pipeline. It
// returns what it read, the streams that have no group (a stream not created yet,
// or a group not created yet: the caller creates it), and whether it waited; a
// stream without the group means it did not.
func (r Reader) Read(ctx context.Context, rdb redis.UniversalClient, chunk []string, from func(stream string) string,
	block bool) (read []redis.XStream, missing []string, waited bool, err error) {
	args := func(s string, wait time.Duration) *redis.XReadGroupArgs {
		return &redis.XReadGroupArgs{Group: r.Group, Consumer: r.Consumer, Streams: []string{s, from(s)},
			Count: int64(r.Count), Block: wait}
	}
	cmds := make([]*redis.XStreamSliceCmd, len(chunk))
	if len(chunk) == 1 && block {
		cmds[0] = rdb.XReadGroup(ctx, args(chunk[0], r.Block))
		waited = true
	} else {
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, s := range chunk {
				cmds[i] = p.XReadGroup(ctx, args(s, -1))
			}
			return nil
		})
	}
	for i, c := range cmds {
		res, err := c.Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case IsNoGroup(err):
			missing = append(missing, chunk[i])
			waited = false
			continue
		case err != nil:
			return nil, nil, false, err
		}
		read = append(read, res...)
	}
	return read, missing, waited, nil
}

// IsNoGroup reports whether err is Redis's refusal of a group (or stream) that does
// not exist.
func IsNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }
