package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authsvc/authsvc/internal/pgtest"
)

func TestStart(t *testing.T) {
	t.Parallel()
	a, b := pgtest.Start(t), pgtest.Start(t)
	if a.Port() == b.Port() {
		t.Fatalf("two servers on one port %d", a.Port())
	}
	ctx := context.Background()
	for _, s := range []*pgtest.Server{a, b} {
		conn, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			t.Fatalf("connect %s: %v", s.URL(), err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("create table: %v", err) // each server is fresh: no table t yet
		}
		_ = conn.Close(ctx)
	}
}
