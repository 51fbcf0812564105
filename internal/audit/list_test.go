package audit_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

// fill appends n events to stream, the i-th at t0 + i minutes, made by mk, in one pipeline.
func fill(t *testing.T, rdb redis.UniversalClient, stream string, n int, mk func(i int) audit.Event) {
	t.Helper()
	ctx := context.Background()
	w := audit.NewWriter(rdb, 30*24*time.Hour, nil)
	pipe := rdb.Pipeline()
	for i := range n {
		e := mk(i)
		if e.Time.IsZero() {
			e.Time = t0.Add(time.Duration(i) * time.Minute)
		}
		w.Script().Eval(ctx, pipe, []string{stream}, w.Args(e)...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("filling %s: %v", stream, err)
	}
}

// mixed is the i-th event of a stream with a little of everything.
func mixed(i int) audit.Event {
	e := audit.Event{
		Kind: audit.Kinds[i%len(audit.Kinds)], ClientID: "crm", Customer: "cB",
		VerificationID: fmt.Sprintf("v%d", i/5), Method: "otp_sms", Outcome: "ok", Reason: "r",
		AgentID: "agent", Identity: "ih", Destination: "+1******89",
	}
	if i%2 == 1 {
		e.ClientID = "bot"
	}
	if i%3 == 0 {
		e.Customer = "cA"
	}
	return e
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			fill(t, b.rdb, "s", 30, mixed)
			at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
			for _, tc := range []struct {
				name string
				f    audit.Filter
				want func(i int) bool
			}{
				{"all", audit.Filter{}, func(int) bool { return true }},
				{"customer", audit.Filter{Customer: "cA"}, func(i int) bool { return i%3 == 0 }},
				{"verification", audit.Filter{VerificationID: "v2"}, func(i int) bool { return i/5 == 2 }},
				{"client", audit.Filter{ClientID: "bot"}, func(i int) bool { return i%2 == 1 }},
				{"from", audit.Filter{From: at(25)}, func(i int) bool { return i >= 25 }},
				{"to", audit.Filter{To: at(3)}, func(i int) bool { return i < 3 }},
				{"range", audit.Filter{From: at(10), To: at(20)}, func(i int) bool { return i >= 10 && i < 20 }},
				{"customer in range", audit.Filter{Customer: "cA", From: at(10), To: at(20)}, func(i int) bool { return i%3 == 0 && i >= 10 && i < 20 }},
				{"none", audit.Filter{ClientID: "nobody"}, func(int) bool { return false }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, token, err := audit.List(context.Background(), b.rdb, []string{"s"}, tc.f, 100, "")
					if err != nil || token != "" {
						t.Fatalf("List: token %q, err %v", token, err)
					}
					var want []time.Time
					for i := range 30 {
						if tc.want(i) {
							want = append(want, at(i))
						}
					}
					var times []time.Time
					for _, e := range got {
						times = append(times, e.Time)
					}
					if !slices.EqualFunc(times, want, time.Time.Equal) {
						t.Errorf("times %v\nwant %v", times, want)
					}
				})
			}

			got, _, err := audit.List(context.Background(), b.rdb, []string{"s"}, audit.Filter{}, 1, "")
			if err != nil || len(got) != 1 {
				t.Fatalf("List one: %v, %v", got, err)
			}
			want := mixed(0)
			want.ID, want.Time = got[0].ID, got[0].Time
			if got[0] != want || got[0].ID == "" || !got[0].Time.Equal(t0) {
				t.Errorf("event %+v\nwant %+v", got[0], want)
			}
		})
	}
}

// listAll pages through streams and returns the pages.
func listAll(t *testing.T, rdb redis.UniversalClient, streams []string, f audit.Filter, size int) [][]audit.Event {
	t.Helper()
	var pages [][]audit.Event
	token := ""
	for {
		page, next, err := audit.List(context.Background(), rdb, streams, f, size, token)
		if err != nil {
			t.Fatalf("List after %d pages: %v", len(pages), err)
		}
		if len(page) > size {
			t.Fatalf("page of %d, asked for %d", len(page), size)
		}
		pages = append(pages, page)
		if next == "" {
			return pages
		}
		if next == token || len(pages) > 10_000 {
			t.Fatalf("List does not advance (token %q)", next)
		}
		token = next
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			fill(t, b.rdb, "a", 25, func(i int) audit.Event { return audit.Event{Kind: audit.Sent, Reason: fmt.Sprint("a", i)} })
			fill(t, b.rdb, "b", 15, func(i int) audit.Event { return audit.Event{Kind: audit.Sent, Reason: fmt.Sprint("b", i)} })
			var want []string
			for i := range 25 {
				want = append(want, fmt.Sprint("a", i))
			}
			for i := range 15 {
				want = append(want, fmt.Sprint("b", i))
			}

			pages := listAll(t, b.rdb, []string{"a", "b", "missing"}, audit.Filter{}, 7)
			var got []string
			for _, p := range pages {
				for _, e := range p {
					got = append(got, e.Reason)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("events %v\nwant %v", got, want)
			}
			if len(pages) > 7 {
				t.Errorf("%d pages for 40 events of 7", len(pages))
			}

			// The last page of the last stream carries no token.
			pages = listAll(t, b.rdb, []string{"a", "b"}, audit.Filter{}, 8)
			if len(pages) != 5 {
				t.Errorf("%d pages of 8 for 40 events, want 5", len(pages))
			}
			// A page may end at the end of a stream; the next starts on the next stream.
			pages = listAll(t, b.rdb, []string{"a", "b"}, audit.Filter{}, 5)
			if len(pages) != 8 || pages[5][0].Reason != "b0" {
				t.Errorf("%d pages of 5, want 8, the sixth starting with b0", len(pages))
			}
		})
	}
}

func TestListScanBound(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	const n = 10_000
	fill(t, rdb, "s", n, func(i int) audit.Event {
		return audit.Event{Kind: audit.Started, ClientID: "crm", Time: t0.Add(time.Duration(i) * time.Millisecond)}
	})
	fill(t, rdb, "s", 1, func(int) audit.Event {
		return audit.Event{Kind: audit.Verified, ClientID: "needle", Time: t0.Add(time.Hour)}
	})

	ctx := context.Background()
	f := audit.Filter{ClientID: "needle"}
	page, token, err := audit.List(ctx, rdb, []string{"s"}, f, 10, "")
	if err != nil || len(page) != 0 || token == "" {
		t.Fatalf("first call: %d events, token %q, err %v; want none and a token", len(page), token, err)
	}
	rt := redistest.RoundTrips(rdb)
	calls := 1
	var found []audit.Event
	for token != "" {
		rt.Reset()
		page, token, err = audit.List(ctx, rdb, []string{"s"}, f, 10, token)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		found = append(found, page...)
		if rt.Load() > 8 {
			t.Fatalf("one call took %d round trips", rt.Load())
		}
	}
	if len(found) != 1 || found[0].ClientID != "needle" {
		t.Errorf("found %v, want the needle", found)
	}
	// Each call reads at most 20 × 10 entries: at least n/200 calls.
	if calls < n/200 || calls > n/200+2 {
		t.Errorf("%d calls over %d entries, want about %d", calls, n, n/200)
	}
}

// TestListLaggingWriter: an entry written by a replica whose clock is behind has an id later
// than its time; a time range still finds it by its time.
func TestListLaggingWriter(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	fill(t, rdb, "s", 1, func(int) audit.Event { return audit.Event{Kind: audit.Started, Time: t0.Add(10 * time.Second)} })
	fill(t, rdb, "s", 1, func(int) audit.Event { return audit.Event{Kind: audit.Sent, Time: t0.Add(5 * time.Second)} })
	got, _, err := audit.List(context.Background(), rdb, []string{"s"}, audit.Filter{From: t0, To: t0.Add(6 * time.Second)}, 10, "")
	if err != nil || len(got) != 1 || got[0].Kind != audit.Sent || !got[0].Time.Equal(t0.Add(5*time.Second)) {
		t.Errorf("List = %+v, %v; want the lagging entry", got, err)
	}
}

func TestListBadToken(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tok := range []string{"!!!", enc("x"), enc("2:"), enc("-1:"), enc("01:"), enc("0:abc"), enc("0:1-"), enc("0:1-2-3"), enc("0:01-2"), enc("0:1-0") + "="} {
		if _, _, err := audit.List(context.Background(), rdb, []string{"a", "b"}, audit.Filter{}, 10, tok); !errors.Is(err, audit.ErrBadPageToken) {
			t.Errorf("token %q: %v, want ErrBadPageToken", tok, err)
		}
	}
	for _, tok := range []string{enc("1:"), enc("0:1700000000000-3")} {
		if _, _, err := audit.List(context.Background(), rdb, []string{"a", "b"}, audit.Filter{}, 10, tok); err != nil {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

func TestListUnavailable(t *testing.T) {
	t.Parallel()
	_, _, err := audit.List(context.Background(), downClient(t), []string{"s"}, audit.Filter{}, 10, "")
	if !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("List with Redis stopped: %v, want ErrUnavailable", err)
	}
}
