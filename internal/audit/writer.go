package audit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every store error: the stream could not be written or read.
var ErrUnavailable = errors.New("audit: store unavailable")

//go:embed append.lua
var appendSrc string

// appendScript appends one event from ARGV through audit_event.
var appendScript = redis.NewScript(Lua + appendSrc)

// Writer appends events that no script writes. It is safe for concurrent use.
type Writer struct {
	rdb  redis.UniversalClient
	keep time.Duration
	now  func() time.Time
}

// NewWriter returns a Writer whose appends trim entries older than keep (the buffer's hard cap,
// see the package doc), timed by now (time.Now when nil).
func NewWriter(rdb redis.UniversalClient, keep time.Duration, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{rdb: rdb, keep: keep, now: now}
}

// Append writes e to the stream streamKey in one round trip and returns the entry's id. The entry
// is timed at e.Time, or at the Writer's clock when e.Time is zero; e.ID is ignored. e.Kind must
// be one of Kinds. Store errors wrap ErrUnavailable.
func (w *Writer) Append(ctx context.Context, streamKey string, e Event) (string, error) {
	if !slices.Contains(Kinds, e.Kind) {
		return "", fmt.Errorf("audit: unknown event kind %q", e.Kind)
	}
	id, err := appendScript.Run(ctx, w.rdb, []string{streamKey}, w.Args(e)...).Text()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return id, nil
}

// Script returns the append script, for callers that queue an append beside other commands:
//
//	w.Script().Eval(ctx, pipe, []string{streamKey}, w.Args(e)...)
//
// It has one key, the stream. In a pipeline use Eval (or EvalSha after Load): a queued EvalSha
// cannot fall back to EVAL when the server answers NOSCRIPT. The entry is the one Append writes.
func (w *Writer) Script() *redis.Script { return appendScript }

// Args returns the script's ARGV for e, in the order the script reads them: the time and the
// hard cap in milliseconds, then the values of the fields k c a v m o r i u d ("" for none).
// The time is e.Time, or the Writer's clock when e.Time is zero. e.Kind must be one of Kinds.
func (w *Writer) Args(e Event) []any {
	t := e.Time
	if t.IsZero() {
		t = w.now()
	}
	return []any{
		strconv.FormatInt(t.UnixMilli(), 10),
		strconv.FormatInt(w.keep.Milliseconds(), 10),
		e.Kind, e.ClientID, e.AgentID, e.VerificationID, e.Method, e.Outcome, e.Reason,
		e.Identity, e.Customer, e.Destination,
	}
}
