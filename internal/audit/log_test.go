package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/authsvc/authsvc/internal/audit"
)

func TestLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := audit.NewLog(slog.NewJSONHandler(&buf, nil))
	e := audit.Event{
		ID: "1700000000000-0", Time: t0, Kind: audit.Verified,
		ClientID: "crm", VerificationID: "ab12.xyz", Method: "totp", Customer: "0123456789abcdef",
	}
	l.Record(context.Background(), e)
	l.Record(context.Background(), audit.Event{Time: t0, Kind: audit.ClientDenied, ClientID: "rogue"})

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal(lines[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"time": "2023-11-14T22:13:20Z", "level": "INFO", "msg": "audit",
		"id": "1700000000000-0", "kind": "verified", "client_id": "crm",
		"verification_id": "ab12.xyz", "method": "totp", "customer": "0123456789abcdef",
	}
	if !equalValues(got, want) {
		t.Errorf("line %s\nwant %v", lines[0], want)
	}
	got = nil
	if err := json.Unmarshal(lines[1], &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got["client_id"] != "rogue" || got["kind"] != "client_denied" {
		t.Errorf("line %s: want only time, level, msg, kind, client_id", lines[1])
	}
}

func TestLogDisabled(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := audit.NewLog(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l.Record(context.Background(), audit.Event{Kind: audit.Started})
	if buf.Len() != 0 {
		t.Errorf("a handler above Info got %s", buf.String())
	}
}
