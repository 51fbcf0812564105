package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

func sampleEvent() audit.Event {
	return audit.Event{
		Kind:           audit.ClientDenied,
		ClientID:       "crm",
		AgentID:        "agent-7",
		VerificationID: "ab12.xyz",
		Method:         "otp_email",
		Outcome:        "denied",
		Reason:         "scope",
		Identity:       audit.Pseudonym("k", "x:42"),
		Customer:       audit.Pseudonym("k", "42"),
		Destination:    "a***@e***.com",
	}
}

func TestWriterAppendAndPipeline(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: t0}
			w := audit.NewWriter(b.rdb, time.Hour, clk.Now)
			e := sampleEvent()

			id, err := w.Append(ctx, "s:direct", e)
			if err != nil {
				t.Fatal(err)
			}
			pipe := b.rdb.Pipeline()
			cmd := w.Script().Eval(ctx, pipe, []string{"s:piped"}, w.Args(e)...)
			pipe.Get(ctx, "unrelated")
			_, _ = pipe.Exec(ctx) // GET answers nil
			if cmd.Err() != nil {
				t.Fatalf("pipelined append: %v", cmd.Err())
			}
			direct, _ := b.rdb.XRange(ctx, "s:direct", "-", "+").Result()
			piped, _ := b.rdb.XRange(ctx, "s:piped", "-", "+").Result()
			if len(direct) != 1 || len(piped) != 1 {
				t.Fatalf("entries: %v and %v", direct, piped)
			}
			if direct[0].ID != id || piped[0].ID != cmd.Val() || id != cmd.Val() {
				t.Errorf("ids %q (returned %q) and %q (returned %v)", direct[0].ID, id, piped[0].ID, cmd.Val())
			}
			if !equalValues(direct[0].Values, piped[0].Values) || len(direct[0].Values) != 10 {
				t.Errorf("Append wrote %v, the pipeline %v", direct[0].Values, piped[0].Values)
			}

			// The event's own time wins over the clock; empty fields are left out.
			at := t0.Add(time.Minute)
			if _, err := w.Append(ctx, "s:direct", audit.Event{Kind: audit.Erased, Time: at, Customer: "c1"}); err != nil {
				t.Fatal(err)
			}
			got, _ := b.rdb.XRange(ctx, "s:direct", "-", "+").Result()
			want := map[string]any{"k": "erased", "u": "c1"}
			if len(got) != 2 || !equalValues(got[1].Values, want) {
				t.Errorf("second entry %v, want %v", got, want)
			}

			if _, err := w.Append(ctx, "s:direct", audit.Event{Kind: "nonsense"}); err == nil {
				t.Error("Append accepted an unknown kind")
			}
		})
	}
}

func TestWriterOneRoundTrip(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	w := audit.NewWriter(rdb, time.Hour, nil)
	if err := w.Script().Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	rt := redistest.RoundTrips(rdb)
	if _, err := w.Append(ctx, audit.StreamKey("", false), sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if n := rt.Load(); n != 1 {
		t.Errorf("Append took %d round trips, want 1", n)
	}
}

func TestWriterUnavailable(t *testing.T) {
	t.Parallel()
	rdb := downClient(t)
	w := audit.NewWriter(rdb, time.Hour, nil)
	if _, err := w.Append(context.Background(), "s", sampleEvent()); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Append with Redis down: %v, want ErrUnavailable", err)
	}
}

func TestEventFromReply(t *testing.T) {
	e := audit.EventFromReply([]any{"1795892932481-3", "k", "verified", "c", "platform-a", "a", "agent-7",
		"v", "abcde-x", "m", "totp", "o", "ok", "r", "why", "i", "ip", "u", "up", "d", "a***@example.com", "t", "1795892932481"})
	want := audit.Event{ID: "1795892932481-3", Time: time.UnixMilli(1795892932481), Kind: "verified", ClientID: "platform-a",
		AgentID: "agent-7", VerificationID: "abcde-x", Method: "totp", Outcome: "ok", Reason: "why", Identity: "ip",
		Customer: "up", Destination: "a***@example.com"}
	if e != want {
		t.Fatalf("EventFromReply = %+v, want %+v", e, want)
	}
	if (audit.EventFromReply(nil) != audit.Event{}) {
		t.Fatal("an empty reply is not an empty event")
	}
}
