package challenge

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/identity"
)

// Rate is N sends per sliding window Per.
type Rate struct {
	N   int
	Per time.Duration
}

// SendLimits bound the messages that leave, beyond the identity's own limit. They
// are checked before any message leaves, each on its own key (and slot), pipelined
// beside the verification's own script. Each is a generic cell rate: N sends fit in
// any window Per, then one more every Per/N; a limit costs one small key whatever
// the traffic. Zero values take the defaults noted.
type SendLimits struct {
	// Destination: per email address or phone number (5 per hour).
	Destination Rate
	// Prefix: per phone number without its last 4 digits, the shape of SMS pumping
	// through a block of numbers (20 per hour).
	Prefix Rate
	// Country: per country calling code (1,000 per hour).
	Country Rate
	// Countries are the calling codes SMS may go to, e.g. 1, 44, 34; empty allows all.
	Countries []int
	// Client: per platform client (600 per minute).
	Client Rate
	// Agent: per agent of a client, against an insider starting many verifications
	// (30 per hour).
	Agent Rate
	// ClientDaily is a client's budget of messages per 24 hours (20,000).
	ClientDaily int
}

func (l *SendLimits) setDefaults() {
	def := func(r *Rate, n int, per time.Duration) {
		if r.N == 0 {
			r.N = n
		}
		if r.Per == 0 {
			r.Per = per
		}
	}
	def(&l.Destination, 5, time.Hour)
	def(&l.Prefix, 20, time.Hour)
	def(&l.Country, 1000, time.Hour)
	def(&l.Client, 600, time.Minute)
	def(&l.Agent, 30, time.Hour)
	if l.ClientDaily == 0 {
		l.ClientDaily = 20_000
	}
}

// limit is one window a send must fit in: a string key of its own, or a field of
// a bucket hash.
type limit struct {
	scope string
	key   string
	field string
	rate  Rate
	// cell is set for an SMS breaker's cell (breaker.go), counted by breaker.lua.
	cell *breakerCell
}

// cellBuckets is the number of bucket hashes that hold the per-destination and
// per-prefix cells. There are as many of those cells as destinations in a window,
// and a key of its own costs about 100 bytes before its 13-byte content; a field
// in a shared compact hash costs about 28. 4,096 buckets keep each under the 64
// live fields where it prunes, up to about 250,000 destinations per window.
const cellBuckets = 4096

// sendLimits lists the windows a send to dest for clientID's agentID must fit in,
// counting dest by its canonical form: every spelling of one mailbox shares one
// budget. Keys carry keyed hashes, never a destination, client or agent in clear.
func (s *Service) sendLimits(clientID, agentID string, dest contact) []limit {
	l := s.cfg.Limits.Send
	sum := func(purpose string, parts ...string) []byte {
		b := make([][]byte, len(parts))
		for i, p := range parts {
			b[i] = []byte(p)
		}
		return s.keys.Name(purpose, b...)
	}
	h := func(purpose string, parts ...string) string {
		return base64.RawURLEncoding.EncodeToString(sum(purpose, parts...)[:9])
	}
	// bucketed is a cell in one of cellBuckets hashes, chosen by its keyed hash.
	bucketed := func(scope, kind string, rate Rate, purpose string, parts ...string) limit {
		d := sum(purpose, parts...)
		bucket := (int(d[0])<<8 | int(d[1])) % cellBuckets
		return limit{scope: scope, key: "l:{" + kind + strconv.Itoa(bucket) + "}",
			field: base64.RawURLEncoding.EncodeToString(d[2:11]), rate: rate}
	}
	client := h("limit-client", clientID)
	out := []limit{
		bucketed("destination", "d", l.Destination, "limit-destination", strconv.Itoa(int(dest.Kind)), dest.key),
		{scope: "client", key: "l:{c:" + client + "}", rate: l.Client},
		{scope: "client_daily", key: "l:{c:" + client + "}:day", rate: Rate{N: l.ClientDaily, Per: 24 * time.Hour}},
		{scope: "agent", key: "l:{a:" + h("limit-agent", clientID, agentID) + "}", rate: l.Agent},
	}
	if dest.Kind == Phone && len(dest.key) > 5 {
		out = append(out, bucketed("prefix", "p", l.Prefix, "limit-prefix", dest.key[:len(dest.key)-4]))
		if cc := callingCode(dest.key); cc != 0 {
			out = append(out, limit{scope: "country", key: "l:{cc:" + strconv.Itoa(cc) + "}", rate: l.Country})
		}
	}
	return out
}

// callingCode returns the country calling code of an E.164 number, or 0.
func callingCode(e164 string) int {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return 0
	}
	return int(n.GetCountryCode())
}

// countryAllowed reports whether SMS may go to dest's country.
func (s *Service) countryAllowed(dest contact) bool {
	allowed := s.cfg.Limits.Send.Countries
	if dest.Kind != Phone || len(allowed) == 0 {
		return true
	}
	cc := callingCode(dest.key)
	for _, c := range allowed {
		if c == cc {
			return true
		}
	}
	return false
}

// replayWindow is how long a replay marker, or a string cell's tokens, are kept
// (see identity.ReplayWindow).
const replayWindow = identity.ReplayWindow

// cellTokenLen is how much of a call token the send-limit cells keep (36 bits):
// a cell, or a bucket of cells, keeps the tokens of its last few calls, so a
// collision is out of reach, and a shorter token costs less in every bucket.
const cellTokenLen = 6

// limitCalls counts one send of the call with token in every window of limits. A
// replay of a call that a window counted answers as the call did and counts
// nothing (limit.lua).
func limitCalls(limits []limit, nowMS, token string) []scriptCall {
	calls := make([]scriptCall, len(limits))
	for i, l := range limits {
		calls[i] = scriptCall{limitScript, []string{l.key},
			[]any{nowMS, l.rate.Per.Milliseconds(), l.rate.N, l.field, token[:cellTokenLen], replayWindow.Milliseconds()}}
	}
	return calls
}

// limitOutcome reads the replies of limitCalls: the refusal with the longest wait,
// and the windows that counted the send.
func limitOutcome(limits []limit, replies [][]any) (*LimitError, []limit) {
	var denied *LimitError
	var added []limit
	for i, r := range replies {
		if intAt(r, 2) == 1 {
			added = append(added, limits[i])
		}
		if intAt(r, 0) == 0 {
			wait := time.Duration(intAt(r, 1)) * time.Millisecond
			if denied == nil || wait > denied.RetryAfter {
				denied = &LimitError{Scope: limits[i].scope, RetryAfter: wait}
			}
		}
	}
	return denied, added
}

// refundTimeout bounds a refund.
const refundTimeout = 2 * time.Second

// refund takes the send of the call with token back from the windows that counted
// it, once (unlimit.lua), and runs extra in the same round trip. It runs detached
// from the caller (a refund must not be lost to a canceled call) and reports
// failures to the log: a lost refund only makes a limit stricter.
func (s *Service) refund(ctx context.Context, token string, added []limit, extra ...scriptCall) {
	s.refundWithin(ctx, refundTimeout, token, added, extra...)
}

// refundWithin is refund bounded by timeout.
func (s *Service) refundWithin(ctx context.Context, timeout time.Duration, token string, added []limit, extra ...scriptCall) {
	calls := extra
	now := ms(s.now())
	for _, l := range added {
		if l.cell != nil {
			calls = append(calls, s.breakerCall("u", l, now, token[:cellTokenLen]))
			continue
		}
		calls = append(calls, scriptCall{unlimitScript, []string{l.key},
			[]any{now, l.rate.Per.Milliseconds(), l.rate.N, l.field, token[:cellTokenLen]}})
	}
	if len(calls) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := s.store.pipelined(rctx, calls); err != nil {
		s.log.WarnContext(ctx, "taking back a send failed", "err", err)
	}
}

// scriptCall is one script run in a pipeline.
type scriptCall struct {
	sc   *redis.Script
	keys []string
	args []any
}

// pipelined runs scripts on independent keys in one round trip (on Cluster, one
// per node, in parallel). Scripts missing from a server's cache, as after a
// restart, are sent again in full in a second round trip.
func (s *store) pipelined(ctx context.Context, calls []scriptCall) ([][]any, error) {
	calls, cells := s.batchLimits(calls)
	for i, c := range calls {
		calls[i].keys, calls[i].args = s.withAudit(c.sc, c.keys, c.args)
	}
	cmds := make([]*redis.Cmd, len(calls))
	run := func(idx []int, full bool) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range idx {
				c := calls[i]
				if full {
					cmds[i] = c.sc.Eval(ctx, p, c.keys, c.args...)
				} else {
					cmds[i] = c.sc.EvalSha(ctx, p, c.keys, c.args...)
				}
			}
			return nil
		})
		return err
	}
	all := make([]int, len(calls))
	for i := range all {
		all[i] = i
	}
	if err := run(all, false); err != nil {
		var missing []int
		for i, c := range cmds {
			if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
				missing = append(missing, i)
			}
		}
		if len(missing) == 0 {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if err := run(missing, true); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	out := make([][]any, len(cmds))
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		switch v := c.Val().(type) {
		case []any:
			out[i] = s.audited(ctx, v)
		case int64:
			out[i] = []any{v}
		default:
			return nil, fmt.Errorf("%w: unexpected script reply %T", ErrUnavailable, v)
		}
	}
	return unbatchLimits(out, cells)
}

// batchLimits puts the send-limit cells of calls (limitScript runs) into one
// limitsScript run at the place of the first, where every key is on one server:
// one script run instead of one per cell, each cell counted as its own run would
// count it. It returns the calls to send and the original places of the batched
// cells (nil when nothing was batched). calls itself is not changed.
func (s *store) batchLimits(calls []scriptCall) ([]scriptCall, []int) {
	var cells []int
	if s.oneNode {
		for i, c := range calls {
			if c.sc == limitScript {
				cells = append(cells, i)
			}
		}
	}
	if len(cells) < 2 {
		return slices.Clone(calls), nil
	}
	batch := scriptCall{sc: limitsScript, keys: make([]string, 0, len(cells)), args: make([]any, 0, 6*len(cells))}
	out := make([]scriptCall, 0, len(calls)-len(cells)+1)
	for i, c := range calls {
		if c.sc != limitScript {
			out = append(out, c)
			continue
		}
		if i == cells[0] {
			out = append(out, scriptCall{}) // the batch's place, filled below
		}
		batch.keys = append(batch.keys, c.keys...)
		batch.args = append(batch.args, c.args...)
	}
	out[cells[0]] = batch
	return out, cells
}

// unbatchLimits restores the replies of batchLimits' calls to the places of the
// calls they were made from: the batch's reply holds one reply per cell.
func unbatchLimits(replies [][]any, cells []int) ([][]any, error) {
	if cells == nil {
		return replies, nil
	}
	batch := replies[cells[0]]
	if len(batch) != len(cells) {
		return nil, fmt.Errorf("%w: limits script answered %d cells of %d", ErrUnavailable, len(batch), len(cells))
	}
	out := make([][]any, 0, len(replies)+len(cells)-1)
	k, rest := 0, 0
	for i := range len(replies) + len(cells) - 1 {
		if k < len(cells) && cells[k] == i {
			r, ok := batch[k].([]any)
			if !ok {
				return nil, fmt.Errorf("%w: unexpected limit cell reply %T", ErrUnavailable, batch[k])
			}
			out = append(out, r)
			k++
			if k == 1 {
				rest++ // the batch's own place in replies
			}
			continue
		}
		out = append(out, replies[rest])
		rest++
	}
	return out, nil
}
