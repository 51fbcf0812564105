package challenge

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/prelude.lua
var prelude string

var (
	//go:embed scripts/start.lua
	startSrc string
	//go:embed scripts/delivered.lua
	deliveredSrc string
	//go:embed scripts/resend.lua
	resendSrc string
	//go:embed scripts/code.lua
	codeSrc string
	//go:embed scripts/link.lua
	linkSrc string
	//go:embed scripts/report.lua
	reportSrc string
	//go:embed scripts/cancel.lua
	cancelSrc string
	//go:embed scripts/expire.lua
	expireSrc string
	//go:embed scripts/abort.lua
	abortSrc string
	//go:embed scripts/release.lua
	releaseSrc string
	//go:embed scripts/limit.lua
	limitSrc string
	//go:embed scripts/unlimit.lua
	unlimitSrc string
	//go:embed scripts/read.lua
	readSrc string
	//go:embed scripts/totp.lua
	totpSrc string
	//go:embed scripts/pkbegin.lua
	pkbeginSrc string
	//go:embed scripts/passkey.lua
	passkeySrc string
)

// Each transition is one script; the prelude holds the guards they share.
var (
	startScript     = redis.NewScript(prelude + startSrc)
	deliveredScript = redis.NewScript(prelude + deliveredSrc)
	resendScript    = redis.NewScript(prelude + resendSrc)
	codeScript      = redis.NewScript(prelude + codeSrc)
	linkScript      = redis.NewScript(prelude + linkSrc)
	reportScript    = redis.NewScript(prelude + reportSrc)
	cancelScript    = redis.NewScript(prelude + cancelSrc)
	expireScript    = redis.NewScript(prelude + expireSrc)
	abortScript     = redis.NewScript(prelude + abortSrc)
	releaseScript   = redis.NewScript(prelude + releaseSrc)
	totpScript      = redis.NewScript(prelude + totpSrc)
	pkbeginScript   = redis.NewScript(prelude + pkbeginSrc)
	passkeyScript   = redis.NewScript(prelude + passkeySrc)
	// read changes nothing and needs no prelude.
	readScript = redis.NewScript(readSrc)
	// The limit scripts run on their own keys' slots and need no prelude.
	limitScript   = redis.NewScript(limitSrc)
	unlimitScript = redis.NewScript(unlimitSrc)
)

// store runs the scripts. Every error it returns wraps ErrUnavailable: the caller
// fails closed.
type store struct {
	rdb    redis.UniversalClient
	pubCmd string // PUBLISH, or SPUBLISH on Cluster
}

// run runs a script with the publish command and the time as ARGV[1] and ARGV[2]
// and returns its reply as a list of strings and numbers.
func (s *store) run(ctx context.Context, sc *redis.Script, keys []string, nowMS string, args ...any) ([]any, error) {
	argv := append([]any{s.pubCmd, nowMS}, args...)
	res, err := sc.Run(ctx, s.rdb, keys, argv...).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch v := res.(type) {
	case []any:
		return v, nil
	case int64:
		return []any{v}, nil
	}
	return nil, fmt.Errorf("%w: unexpected script reply %T", ErrUnavailable, res)
}

// load reads a record in one round trip; a missing record is ErrNotFound.
func (s *store) load(ctx context.Context, id string) (record, error) {
	m, err := s.rdb.HGetAll(ctx, recordKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	rec := record(m)
	rec.unpack()
	return rec, nil
}

// status is the first element of a script reply.
func status(reply []any) string {
	if len(reply) == 0 {
		return ""
	}
	s, _ := reply[0].(string)
	return s
}

// intAt returns element i of a script reply as an int.
func intAt(reply []any, i int) int {
	if i >= len(reply) {
		return 0
	}
	switch v := reply[i].(type) {
	case int64:
		return int(v)
	case string:
		var n int
		_, _ = fmt.Sscan(v, &n)
		return n
	}
	return 0
}
