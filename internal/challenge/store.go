package challenge

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
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
	//go:embed scripts/limit_cell.lua
	limitCellSrc string
	//go:embed scripts/limit.lua
	limitSrc string
	//go:embed scripts/limits.lua
	limitsSrc string
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
	//go:embed scripts/refused.lua
	refusedSrc string
	//go:embed scripts/standing.lua
	standingSrc string
	//go:embed scripts/get.lua
	getSrc string
)

// Each transition is one script; the prelude holds the guards they share.
var (
	startScript     = transition(startSrc)
	deliveredScript = transition(deliveredSrc)
	resendScript    = transition(resendSrc)
	codeScript      = transition(codeSrc)
	linkScript      = transition(linkSrc)
	reportScript    = transition(reportSrc)
	cancelScript    = transition(cancelSrc)
	expireScript    = transition(expireSrc)
	abortScript     = transition(abortSrc)
	releaseScript   = transition(releaseSrc)
	totpScript      = transition(totpSrc)
	pkbeginScript   = transition(pkbeginSrc)
	passkeyScript   = transition(passkeySrc)
	refusedScript   = transition(refusedSrc)
	// standing and get change nothing; they share the prelude's stands.
	standingScript = transition(standingSrc)
	getScript      = transition(getSrc)
	// read changes nothing and needs no prelude.
	readScript = redis.NewScript(readSrc)
	// The limit scripts run on their own keys' slots and need no prelude; limits
	// runs several cells in one run where every key is on one node.
	limitScript   = redis.NewScript(limitCellSrc + limitSrc)
	limitsScript  = redis.NewScript(limitCellSrc + limitsSrc)
	unlimitScript = redis.NewScript(unlimitSrc)
)

// transition composes a transition script: the audit trail's append function, the
// prelude, then the script's own body run as a function, so that every audit event
// the body writes can be returned to Go after its reply (as a last element
// {'audit', {id, field, value, …}, …}) and mirrored to the audit log.
func transition(src string) *redis.Script {
	sc := redis.NewScript(audit.Lua + prelude + "\nlocal function body()\n" + src + `
end
local reply = body()
if #AUDITED == 0 then
  return reply
end
if type(reply) ~= 'table' then
  reply = {reply}
end
local events = {'audit'}
for _, e in ipairs(AUDITED) do
  events[#events + 1] = e
end
reply[#reply + 1] = events
return reply
`)
	transitions[sc] = true
	return sc
}

// transitions are the scripts that take the audit stream and write events.
var transitions = map[*redis.Script]bool{}

// store runs the scripts. Every error it returns wraps ErrUnavailable: the caller
// fails closed.
type store struct {
	rdb    redis.UniversalClient
	pubCmd string // PUBLISH, or SPUBLISH on Cluster
	// The audit trail: one stream, or one per hash tag on Cluster; events are
	// mirrored to log (nil: not mirrored).
	auditPerTag    bool
	auditRetention time.Duration
	auditLog       *audit.Log
	// oneNode is set where every key is on one server (standalone and Sentinel,
	// not Cluster): pipelined then runs a call's send-limit cells in one script.
	oneNode bool
}

// withAudit adds the audit stream and retention to a transition's keys and
// arguments (the stream on the record's own slot).
func (s *store) withAudit(sc *redis.Script, keys []string, args []any) ([]string, []any) {
	if !transitions[sc] || len(keys) == 0 {
		return keys, args
	}
	tag := keys[0]
	if i, j := strings.IndexByte(tag, '{'), strings.IndexByte(tag, '}'); i >= 0 && j > i {
		tag = tag[i+1 : j]
	}
	keys = append(slices.Clip(keys), audit.StreamKey(tag, s.auditPerTag))
	args = append(slices.Clip(args), "A"+strconv.FormatInt(s.auditRetention.Milliseconds(), 10))
	return keys, args
}

// audited strips the audit events a transition returned after its reply and
// mirrors them to the audit log.
func (s *store) audited(ctx context.Context, reply []any) []any {
	if len(reply) == 0 {
		return reply
	}
	events, ok := reply[len(reply)-1].([]any)
	if !ok || len(events) == 0 || events[0] != "audit" {
		return reply
	}
	if s.auditLog != nil {
		for _, e := range events[1:] {
			if fields, ok := e.([]any); ok {
				s.auditLog.Record(ctx, audit.EventFromReply(fields))
			}
		}
	}
	return reply[:len(reply)-1]
}

// run runs a script with the publish command and the time as ARGV[1] and ARGV[2]
// and returns its reply as a list of strings and numbers.
func (s *store) run(ctx context.Context, sc *redis.Script, keys []string, nowMS string, args ...any) ([]any, error) {
	keys, args = s.withAudit(sc, keys, append([]any{s.pubCmd, nowMS}, args...))
	res, err := sc.Run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch v := res.(type) {
	case []any:
		return s.audited(ctx, v), nil
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
	// unpack adds the packed fields and a few of its own: a map sized for them
	// now does not grow (and rehash) twice on every read.
	rec := make(record, len(m)+unpackedFields)
	for k, v := range m {
		rec[k] = v
	}
	rec.unpack()
	return rec, nil
}

// loadStanding reads a record as load does, in one script that also tells
// whether a VERIFIED record completed with a factor still stands (prelude.lua's
// stands): a record whose factor the customer no longer holds reads as revoked.
// It adds "fc", the client through which that factor was enrolled.
func (s *store) loadStanding(ctx context.Context, id string, nowMS string) (record, error) {
	reply, err := s.run(ctx, getScript, []string{recordKey(id)}, nowMS)
	if err != nil {
		return nil, err
	}
	if len(reply) != 3 {
		return nil, fmt.Errorf("%w: unexpected get reply", ErrUnavailable)
	}
	rec := flatRecord(reply[0])
	if len(rec) == 0 {
		return nil, ErrNotFound
	}
	rec.unpack()
	if n, _ := reply[1].(int64); n == 0 {
		rec["rv"] = "1"
	}
	// Not a stored field: the client of the factor that completed the verification.
	rec["fc"], _ = reply[2].(string)
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
