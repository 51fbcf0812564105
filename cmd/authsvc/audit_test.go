package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/pgtest"
)

// An unreachable audit database never blocks a verification: the flow completes, the service
// logs and counts the failure, and the events reach the table once the database is back.
func TestAuditSinkOutage(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	pg.Stop()
	p := newProduction(t)
	p.env["AUTHSVC_AUDIT_SINK"] = "postgres"
	p.env["AUTHSVC_AUDIT_POSTGRES_URL"] = pg.URL()
	// The platform may also read its audit events.
	sum := sha256.Sum256([]byte(testAPIKey))
	if err := os.WriteFile(p.files.clients, []byte(`{"clients":[{"id":"platform-a","api_key_sha256":"`+hex.EncodeToString(sum[:])+
		`","audiences":["crm-panel"],"scopes":["profile:read","orders:read"],"rpcs":["*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startService(t, nil, p.env)
	c := newClient(t, in, testAPIKey, p.roots)

	got := runFlow(t, c, flow{
		method:      authsvcv1.Method_METHOD_OTP_EMAIL,
		destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: "outage@mail.example"}},
		handle:      "@outage", userID: "3001",
		secret: func(t *testing.T) string {
			code, err := extract(codeLine, p.mail.next(t).body)
			if err != nil {
				t.Fatal("no code in the email")
			}
			return code
		},
	}, prodPublicURL, prodIssuer)
	id := got.v.GetVerificationId()

	failures := regexp.MustCompile(`(?m)^authsvc_audit_export_failures_total\{stage="sink"\} (\d+)`)
	pollUntil(t, "a counted sink failure", func() error {
		m := failures.FindStringSubmatch(c.get(t, "http://"+in.addrs.Metrics+"/metrics"))
		if m == nil || m[1] == "0" {
			return fmt.Errorf("authsvc_audit_export_failures_total{stage=\"sink\"} is %v", m)
		}
		return nil
	})
	if !strings.Contains(in.logs.String(), "audit export failing; events wait in the Redis buffer") {
		t.Errorf("no log line says the export is failing:\n%s", in.logs)
	}

	pg.Restart(t)
	pollUntil(t, "the verification's events in the database", func() error {
		conn, err := pgx.Connect(context.Background(), pg.URL())
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(context.Background(),
			"SELECT kind FROM authsvc_audit_events WHERE verification_id = $1 ORDER BY stream, id_ms, id_seq", id)
		if err != nil {
			return err
		}
		kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if want := "started sent verified assertion_issued"; strings.Join(kinds, " ") != want {
			return fmt.Errorf("kinds %v, want %s", kinds, want)
		}
		return nil
	})

	// ListAuditEvents reads the database: the buffer could be gone.
	if err := p.redis.Client(t).Del(context.Background(), "audit:events").Err(); err != nil {
		t.Fatal(err)
	}
	audits := authsvcv1.NewAuditServiceClient(c.conn)
	res, err := audits.ListAuditEvents(c.ctx(t), &authsvcv1.ListAuditEventsRequest{VerificationId: id})
	if err != nil || len(res.GetEvents()) != 4 || res.GetEvents()[0].GetKind() != "started" {
		t.Errorf("ListAuditEvents = %v, %v; want the verification's 4 events from the database", res, err)
	}
	in.stop(t)
	assertLogsClean(t, in.logs.String(), got.secret, got.token, "outage@mail.example")
}

// pollUntil polls f until it returns nil, failing t with f's last error after a minute.
func pollUntil(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
