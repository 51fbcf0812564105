package auditexport

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema is the table the PostgreSQL sink writes, created (if missing) before its first write.
// One row per event, keyed by its stream and entry id, so that a redelivered event is ignored
// (ON CONFLICT DO NOTHING): each event is in the table exactly once. Order by (stream, id_ms,
// id_seq) for stream order; prune and query by time.
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
  PRIMARY KEY (stream, id_ms, id_seq)
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
ON CONFLICT (stream, id_ms, id_seq) DO NOTHING`

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
