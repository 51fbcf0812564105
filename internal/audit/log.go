package audit

import (
	"context"
	"log/slog"
	"time"
)

// Log writes events as structured records to an audit log kept apart from the debug log: a JSON
// line per event when the handler is a slog.JSONHandler on a file or stderr. It is safe for
// concurrent use when its handler is.
type Log struct {
	h slog.Handler
}

// NewLog returns a Log writing to h.
func NewLog(h slog.Handler) *Log { return &Log{h: h} }

// Record writes e at level Info with the message "audit", the record's time e.Time (now when
// zero) and one attribute per non-empty field: id, kind, client_id, agent_id, verification_id,
// method, outcome, reason, identity, customer, destination. A handler error is dropped: the
// stream, not this log, is the record of truth.
func (l *Log) Record(ctx context.Context, e Event) {
	if !l.h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	r := slog.NewRecord(t, slog.LevelInfo, "audit", 0)
	for _, a := range [...]struct{ k, v string }{
		{"id", e.ID},
		{"kind", e.Kind},
		{"client_id", e.ClientID},
		{"agent_id", e.AgentID},
		{"verification_id", e.VerificationID},
		{"method", e.Method},
		{"outcome", e.Outcome},
		{"reason", e.Reason},
		{"identity", e.Identity},
		{"customer", e.Customer},
		{"destination", e.Destination},
		{"expires", expires(e.Expires)},
	} {
		if a.v != "" {
			r.AddAttrs(slog.String(a.k, a.v))
		}
	}
	_ = l.h.Handle(ctx, r)
}

// expires is an Extended event's new expiry for the log ("" for none).
func expires(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
