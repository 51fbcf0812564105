package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrBadPageToken is returned for a page token List did not issue.
var ErrBadPageToken = errors.New("audit: bad page token")

// Page sizes of List.
const (
	// DefaultPageSize is the page size List uses when asked for none (0 or less).
	DefaultPageSize = 100
	// MaxPageSize is the largest page List returns; a larger request is lowered to it.
	MaxPageSize = 1000
)

const (
	// scanFactor bounds the entries one List call reads: scanFactor × the page size.
	scanFactor = 20
	// clockSkew is how far behind the writer of the stream's last entry the clock of another
	// writer is assumed to be, at most. An entry's id is never earlier than its time 't', but can
	// be later by that lag, so a scan for events before To reads ids up to To + clockSkew.
	clockSkew = time.Minute
)

// Filter selects events. Empty fields select everything.
type Filter struct {
	Customer       string    // customer pseudonym ("u"), or ""
	VerificationID string    // verification id ("v"), or ""
	ClientID       string    // client id ("c"), or ""
	From, To       time.Time // From ≤ Time < To; a zero bound is unbounded
}

// match tells whether e passes f.
func (f Filter) match(e Event) bool {
	return (f.Customer == "" || e.Customer == f.Customer) &&
		(f.VerificationID == "" || e.VerificationID == f.VerificationID) &&
		(f.ClientID == "" || e.ClientID == f.ClientID) &&
		(f.From.IsZero() || !e.Time.Before(f.From)) &&
		(f.To.IsZero() || e.Time.Before(f.To))
}

// List pages through streams, one after the other and oldest first within each, and returns at
// most pageSize events that match f (DefaultPageSize when pageSize ≤ 0, at most MaxPageSize).
// One call reads at most 20 × pageSize entries, so a sparse filter costs bounded work: it may
// return fewer events than asked, even none, together with a token. The token (opaque) is ""
// once no entry remains; otherwise pass it back to continue where the call stopped. A token List
// did not issue for these streams is ErrBadPageToken. Store errors wrap ErrUnavailable.
func List(ctx context.Context, rdb redis.UniversalClient, streams []string, f Filter, pageSize int, token string) ([]Event, string, error) {
	cur, err := parseToken(token, len(streams))
	if err != nil {
		return nil, "", err
	}
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	pageSize = min(pageSize, MaxPageSize)
	budget := scanFactor * pageSize

	end := "+"
	if !f.To.IsZero() {
		end = strconv.FormatInt(max(f.To.Add(clockSkew).UnixMilli(), 0), 10)
	}
	var from streamID
	if !f.From.IsZero() {
		from = streamID{ms: uint64(max(f.From.UnixMilli(), 0))}
	}

	var out []Event
	batch := pageSize // grows while a filter keeps matching little
	for cur.stream < len(streams) {
		if budget == 0 {
			return out, cur.String(), nil
		}
		start := from
		if cur.after != nil {
			start = maxID(start, cur.after.next())
		}
		// One entry more than the page needs shows whether more remain after it.
		count := min(max(batch, pageSize-len(out)+1), budget)
		msgs, err := rdb.XRangeN(ctx, streams[cur.stream], start.String(), end, int64(count)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		budget -= len(msgs)
		exhausted := len(msgs) < count
		for i, m := range msgs {
			id, err := parseID(m.ID)
			if err != nil {
				return nil, "", fmt.Errorf("%w: entry id %q: %w", ErrUnavailable, m.ID, err)
			}
			cur.after = &id
			e := parseEvent(m, id)
			if !f.match(e) {
				continue
			}
			out = append(out, e)
			if len(out) == pageSize {
				if exhausted && i == len(msgs)-1 {
					cur = cursor{stream: cur.stream + 1}
					if cur.stream == len(streams) {
						return out, "", nil
					}
				}
				return out, cur.String(), nil
			}
		}
		if exhausted {
			cur = cursor{stream: cur.stream + 1}
			continue
		}
		batch = min(2*batch, MaxPageSize*scanFactor)
	}
	return out, "", nil
}

// ParseEntry reads a stream entry as List does.
func ParseEntry(m redis.XMessage) (Event, error) {
	id, err := parseID(m.ID)
	if err != nil {
		return Event{}, fmt.Errorf("entry id %q: %w", m.ID, err)
	}
	return parseEvent(m, id), nil
}

// parseEvent reads a stream entry. A missing or malformed 't' falls back on the id's time.
func parseEvent(m redis.XMessage, id streamID) Event {
	get := func(field string) string {
		s, _ := m.Values[field].(string)
		return s
	}
	t := time.UnixMilli(int64(min(id.ms, math.MaxInt64)))
	if ms, err := strconv.ParseInt(get(fieldTime), 10, 64); err == nil {
		t = time.UnixMilli(ms)
	}
	trimmed, _ := strconv.Atoi(get(fieldTrimmed))
	return Event{
		ID:             m.ID,
		Time:           t,
		Kind:           get(fieldKind),
		ClientID:       get(fieldClient),
		AgentID:        get(fieldAgent),
		VerificationID: get(fieldVerification),
		Method:         get(fieldMethod),
		Outcome:        get(fieldOutcome),
		Reason:         get(fieldReason),
		Identity:       get(fieldIdentity),
		Customer:       get(fieldCustomer),
		Destination:    get(fieldDestination),
		Expires:        msTime(get(fieldExpires)),
		Trimmed:        trimmed,
	}
}

// streamID is a stream entry id "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

// parseID parses a full entry id.
func parseID(s string) (streamID, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, errors.New("not <ms>-<seq>")
	}
	ms, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return streamID{}, err
	}
	seq, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return streamID{}, err
	}
	return streamID{ms: ms, seq: seq}, nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

// next returns the smallest id after id, so that ranges need no exclusive bounds.
func (id streamID) next() streamID {
	if id.seq == math.MaxUint64 {
		return streamID{ms: id.ms + 1}
	}
	return streamID{ms: id.ms, seq: id.seq + 1}
}

// maxID returns the later of two ids.
func maxID(a, b streamID) streamID {
	if a.ms > b.ms || (a.ms == b.ms && a.seq > b.seq) {
		return a
	}
	return b
}

// cursor is where a List call stopped: in streams[stream], after the entry after (nil: before
// the stream's first entry).
type cursor struct {
	stream int
	after  *streamID
}

// String encodes c as a page token: base64url of "<stream index>:<last id>".
func (c cursor) String() string {
	s := strconv.Itoa(c.stream) + ":"
	if c.after != nil {
		s += c.after.String()
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// parseToken decodes a page token for a list of n streams; "" is the start of the first stream.
func parseToken(token string, n int) (cursor, error) {
	if token == "" {
		return cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return cursor{}, ErrBadPageToken
	}
	idx, last, ok := strings.Cut(string(raw), ":")
	if !ok {
		return cursor{}, ErrBadPageToken
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || i >= n || strconv.Itoa(i) != idx {
		return cursor{}, ErrBadPageToken
	}
	c := cursor{stream: i}
	if last != "" {
		id, err := parseID(last)
		if err != nil || id.String() != last {
			return cursor{}, ErrBadPageToken
		}
		c.after = &id
	}
	return c, nil
}
