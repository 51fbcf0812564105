package auditexport

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authsvc/authsvc/internal/audit"
)

// Schema is the table the PostgreSQL sink writes, created (if missing) before its first write.
// One row per event, keyed by its entry id and stream, so that a redelivered event is ignored
// (ON CONFLICT DO NOTHING): each event is in the table exactly once. The key's order, (id_ms,
// id_seq, stream), is stream order within a stream and time order (to within a second) across
// them; ListAuditEvents pages by it. Prune and query by time.
const Schema = `CREATE TABLE IF NOT EXISTS authsvc_audit_events (
  stream          text        NOT NULL,
  id_ms           bigint      NOT NULL,
  id_seq          bigint      NOT NULL,
  id              text        GENERATED ALWAYS AS (id_ms::text || '-' || id_seq::text) STORED,
  time            timestamptz NOT NULL,
  kind            text        NOT NULL,
  client_id       text,
  agent_id        text,
  verification_id text,
  method          text,
  outcome         text,
  reason          text,
  identity        text,
  customer        text,
  destination     text,
  trimmed         integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (id_ms, id_seq, stream)
);
CREATE INDEX IF NOT EXISTS authsvc_audit_events_time ON authsvc_audit_events (time);
CREATE INDEX IF NOT EXISTS authsvc_audit_events_customer ON authsvc_audit_events (customer) WHERE customer IS NOT NULL;
CREATE INDEX IF NOT EXISTS authsvc_audit_events_verification ON authsvc_audit_events (verification_id) WHERE verification_id IS NOT NULL`

// schemaLock is the advisory lock under which replicas create the schema one at a time.
const schemaLock = 0x61756474 // "audt"

// insert writes a batch in one statement; unnest keeps it one round trip.
const insert = `INSERT INTO authsvc_audit_events (stream, id_ms, id_seq, time, kind, client_id, agent_id,
  verification_id, method, outcome, reason, identity, customer, destination, trimmed)
SELECT s, ms, seq, t, k, NULLIF(c, ''), NULLIF(a, ''), NULLIF(v, ''), NULLIF(m, ''), NULLIF(o, ''),
  NULLIF(r, ''), NULLIF(i, ''), NULLIF(u, ''), NULLIF(d, ''), x
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::int[])
  AS b(s, ms, seq, t, k, c, a, v, m, o, r, i, u, d, x)
ON CONFLICT (id_ms, id_seq, stream) DO NOTHING`

// Postgres is a Sink writing to the table of Schema, keeping rows for a retention. The pool
// connects on first use, so an unreachable database fails exports (retried), never start-up.
type Postgres struct {
	pool      *pgxpool.Pool
	retention time.Duration

	mu     sync.Mutex
	schema bool // Schema has been applied
}

// NewPostgres returns a sink over a pool built from cfg; rows older than retention are pruned.
func NewPostgres(cfg *pgxpool.Config, retention time.Duration) (*Postgres, error) {
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &Postgres{pool: pool, retention: retention}, nil
}

// Close closes the pool.
func (p *Postgres) Close() { p.pool.Close() }

// ensureSchema applies Schema once, under an advisory lock so that replicas starting together
// do not race on CREATE TABLE.
func (p *Postgres) ensureSchema(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.schema {
		return nil
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
		return err
	}
	for _, stmt := range strings.Split(Schema, ";\n") {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	p.schema = true
	return nil
}

// Write inserts records in one statement, committed before it returns; rows already there
// (a redelivery) are left as they are.
func (p *Postgres) Write(ctx context.Context, records []Record) error {
	if err := p.ensureSchema(ctx); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	cols := struct {
		s, k, c, a, v, m, o, r, i, u, d []string
		ms, seq                         []int64
		t                               []time.Time
		x                               []int32
	}{}
	for _, rec := range records {
		ms, seq, err := splitID(rec.ID)
		if err != nil {
			return err
		}
		cols.s = append(cols.s, rec.Stream)
		cols.ms, cols.seq = append(cols.ms, ms), append(cols.seq, seq)
		cols.t = append(cols.t, rec.Time)
		cols.k, cols.c, cols.a = append(cols.k, rec.Kind), append(cols.c, rec.ClientID), append(cols.a, rec.AgentID)
		cols.v, cols.m = append(cols.v, rec.VerificationID), append(cols.m, rec.Method)
		cols.o, cols.r = append(cols.o, rec.Outcome), append(cols.r, rec.Reason)
		cols.i, cols.u, cols.d = append(cols.i, rec.Identity), append(cols.u, rec.Customer), append(cols.d, rec.Destination)
		cols.x = append(cols.x, int32(min(rec.Trimmed, 1<<31-1))) //nolint:gosec // bounded above
	}
	_, err := p.pool.Exec(ctx, insert, cols.s, cols.ms, cols.seq, cols.t, cols.k, cols.c, cols.a, cols.v,
		cols.m, cols.o, cols.r, cols.i, cols.u, cols.d, cols.x)
	return err
}

// Prune deletes the rows older than the retention as of now.
func (p *Postgres) Prune(ctx context.Context, now time.Time) (int64, error) {
	if err := p.ensureSchema(ctx); err != nil {
		return 0, err
	}
	tag, err := p.pool.Exec(ctx, "DELETE FROM authsvc_audit_events WHERE time < $1", now.Add(-p.retention))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// List reads the table for Trail.List (it implements audit.Archive): at most pageSize events
// that match f, oldest first by (id_ms, id_seq, stream), and the token of the next page. The
// token is the last row's key. Errors wrap audit.ErrUnavailable, except a token List did not
// issue, which is audit.ErrBadPageToken.
func (p *Postgres) List(ctx context.Context, f audit.Filter, pageSize int, token string) ([]audit.Event, string, error) {
	after, err := parsePageToken(token)
	if err != nil {
		return nil, "", err
	}
	if pageSize <= 0 {
		pageSize = audit.DefaultPageSize
	}
	pageSize = min(pageSize, audit.MaxPageSize)
	if err := p.ensureSchema(ctx); err != nil {
		return nil, "", fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
	}
	// Only the filters in use go into the query, so that the planner sees each index it can use.
	where, args := []string{"(id_ms, id_seq, stream) > ($1, $2, $3)"}, []any{after.ms, after.seq, after.stream}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	for _, c := range []struct{ col, v string }{
		{"customer", f.Customer}, {"verification_id", f.VerificationID}, {"client_id", f.ClientID},
	} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	if !f.From.IsZero() {
		add("time >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("time < ?", f.To)
	}
	args = append(args, pageSize+1)
	rows, err := p.pool.Query(ctx, `SELECT id_ms, id_seq, stream, time, kind, coalesce(client_id, ''), coalesce(agent_id, ''),
  coalesce(verification_id, ''), coalesce(method, ''), coalesce(outcome, ''), coalesce(reason, ''),
  coalesce(identity, ''), coalesce(customer, ''), coalesce(destination, ''), trimmed
FROM authsvc_audit_events WHERE `+strings.Join(where, " AND ")+`
ORDER BY id_ms, id_seq, stream LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
	}
	defer rows.Close()
	var out []audit.Event
	var last rowKey
	for rows.Next() {
		var e audit.Event
		var k rowKey
		var trimmed int32
		if err := rows.Scan(&k.ms, &k.seq, &k.stream, &e.Time, &e.Kind, &e.ClientID, &e.AgentID, &e.VerificationID,
			&e.Method, &e.Outcome, &e.Reason, &e.Identity, &e.Customer, &e.Destination, &trimmed); err != nil {
			return nil, "", fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
		}
		if len(out) == pageSize {
			return out, last.String(), nil // one more row: a next page exists
		}
		e.ID, e.Trimmed = strconv.FormatInt(k.ms, 10)+"-"+strconv.FormatInt(k.seq, 10), int(trimmed)
		out, last = append(out, e), k
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
	}
	return out, "", nil
}

// rowKey is a row's primary key, and a page token: the last row a page returned.
type rowKey struct {
	ms, seq int64
	stream  string
}

// String encodes k as a page token: base64url of "pg:<ms>-<seq>:<stream>".
func (k rowKey) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte("pg:" + strconv.FormatInt(k.ms, 10) + "-" +
		strconv.FormatInt(k.seq, 10) + ":" + k.stream))
}

// parsePageToken decodes a token of rowKey.String; "" is before the first row.
func parsePageToken(token string) (rowKey, error) {
	if token == "" {
		return rowKey{ms: -1}, nil
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return rowKey{}, audit.ErrBadPageToken
	}
	rest, ok := strings.CutPrefix(string(raw), "pg:")
	id, stream, ok2 := strings.Cut(rest, ":")
	ms, seq, err := splitID(id)
	if !ok || !ok2 || err != nil || stream == "" {
		return rowKey{}, audit.ErrBadPageToken
	}
	k := rowKey{ms: ms, seq: seq, stream: stream}
	if k.String() != token {
		return rowKey{}, audit.ErrBadPageToken
	}
	return k, nil
}

// splitID parses an entry id "<ms>-<seq>".
func splitID(id string) (int64, int64, error) {
	a, b, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("audit entry id %q is not <ms>-<seq>", id)
	}
	return ms, seq, nil
}

// safeError is err as the exporter logs it. A PostgreSQL error is reduced to its code and
// message: its detail can quote a row, and so an event's fields.
func safeError(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return "SQLSTATE " + pg.Code + ": " + pg.Message
	}
	return err.Error()
}
