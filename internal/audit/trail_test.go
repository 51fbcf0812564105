package audit_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

// The customers of the trail tests: cust-1 and cust-2 have pseudonym keys, cust-3
// has a hash without one, cust-4 nothing at all. Each has its own tag.
var trailCustomers = map[string]audit.Customer{
	"cust-1": {Key: "v:{aaa}:c:one", Tag: "aaa", Subject: "one"},
	"cust-2": {Key: "v:{bbb}:c:two", Tag: "bbb", Subject: "two"},
	"cust-3": {Key: "v:{ccccc}:c:three", Tag: "ccccc", Subject: "three"},
	"cust-4": {Key: "v:{ddddd}:c:four", Tag: "ddddd", Subject: "four"},
}

var trailKeys = map[string]string{"cust-1": strings.Repeat("1", 64), "cust-2": strings.Repeat("2", 64)}

func locate(id string) audit.Customer { return trailCustomers[id] }

// seedTrail writes the customers' keys and, for each of cust-1 and cust-2, the
// events of two verifications (of clients crm and bot) to the streams a deployment
// with perTag would write them to.
func seedTrail(t *testing.T, rdb redis.UniversalClient, perTag bool) {
	t.Helper()
	ctx := context.Background()
	for id, pk := range trailKeys {
		if err := rdb.HSet(ctx, trailCustomers[id].Key, "pk", pk, "F1", "x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.HSet(ctx, trailCustomers["cust-3"].Key, "F1", "x").Err(); err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(rdb, 24*time.Hour, nil)
	n := 0
	for _, id := range []string{"cust-1", "cust-2"} {
		c := trailCustomers[id]
		u := audit.Pseudonym(trailKeys[id], c.Subject)
		for _, client := range []string{"crm", "bot"} {
			v := c.Tag + "-" + strings.Repeat(client[:1], 16)
			for _, kind := range []string{audit.Started, audit.Sent, audit.Verified} {
				n++
				e := audit.Event{Time: t0.Add(time.Duration(n) * time.Second), Kind: kind, ClientID: client, VerificationID: v, Customer: u}
				if _, err := w.Append(ctx, audit.StreamKey(c.Tag, perTag), e); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func listed(t *testing.T, tr *audit.Trail, q audit.Query) []audit.Event {
	t.Helper()
	var out []audit.Event
	for range 100 {
		evs, next, err := tr.List(context.Background(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		out = append(out, evs...)
		if next == "" {
			return out
		}
		q.PageToken = next
	}
	t.Fatal("paging does not end")
	return nil
}

func verificationsOf(evs []audit.Event) []string {
	var out []string
	for _, e := range evs {
		if !slices.Contains(out, e.VerificationID) {
			out = append(out, e.VerificationID)
		}
	}
	slices.Sort(out)
	return out
}

// checkTrail runs the queries every deployment answers alike.
func checkTrail(t *testing.T, tr *audit.Trail) {
	t.Helper()
	v1crm, v1bot := "aaa-"+strings.Repeat("c", 16), "aaa-"+strings.Repeat("b", 16)
	for _, tc := range []struct {
		name string
		q    audit.Query
		want []string // verifications, sorted
	}{
		{"customer", audit.Query{CustomerID: "cust-1"}, []string{v1bot, v1crm}},
		{"customer, one client", audit.Query{CustomerID: "cust-1", ClientID: "crm"}, []string{v1crm}},
		{"verification", audit.Query{VerificationID: v1bot}, []string{v1bot}},
		{"verification of another client", audit.Query{VerificationID: v1bot, ClientID: "crm"}, nil},
		{"verification and customer", audit.Query{VerificationID: v1bot, CustomerID: "cust-1"}, []string{v1bot}},
		{"verification of another customer", audit.Query{VerificationID: v1bot, CustomerID: "cust-2"}, nil},
		{"customer without a key", audit.Query{CustomerID: "cust-3"}, nil},
		{"unknown customer", audit.Query{CustomerID: "cust-4"}, nil},
		{"malformed verification id", audit.Query{VerificationID: "AAAAA-x"}, nil},
		{"customer, small pages", audit.Query{CustomerID: "cust-2", PageSize: 1}, []string{"bbb-" + strings.Repeat("b", 16), "bbb-" + strings.Repeat("c", 16)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := listed(t, tr, tc.q)
			if got := verificationsOf(evs); !slices.Equal(got, tc.want) {
				t.Errorf("verifications %v, want %v", got, tc.want)
			}
			if len(evs) != 3*len(tc.want) {
				t.Errorf("%d events, want %d", len(evs), 3*len(tc.want))
			}
		})
	}
	t.Run("time range", func(t *testing.T) {
		evs := listed(t, tr, audit.Query{CustomerID: "cust-1", From: t0.Add(2 * time.Second), To: t0.Add(5 * time.Second)})
		if len(evs) != 3 {
			t.Errorf("%d events between 2 s and 5 s, want 3", len(evs))
		}
	})
	t.Run("bad token", func(t *testing.T) {
		for _, q := range []audit.Query{{PageToken: "%%"}, {CustomerID: "cust-4", PageToken: "MTo"}, {VerificationID: "x", PageToken: "bad"}} {
			if _, _, err := tr.List(context.Background(), q); !errors.Is(err, audit.ErrBadPageToken) {
				t.Errorf("List(%+v) = %v, want ErrBadPageToken", q, err)
			}
		}
	})
}

func TestTrailStandalone(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client(t)
	seedTrail(t, rdb, false)
	tr := audit.NewTrail(audit.NewWriter(rdb, 24*time.Hour, nil), false, locate)
	checkTrail(t, tr)
	// A bare query reads the one stream: every event.
	if evs := listed(t, tr, audit.Query{}); len(evs) != 12 {
		t.Errorf("bare query: %d events, want 12", len(evs))
	}
	if evs := listed(t, tr, audit.Query{ClientID: "bot"}); len(evs) != 6 {
		t.Errorf("one client: %d events, want 6", len(evs))
	}
	// Append writes to the one stream (timed beside the others: an append trims
	// what is older than its time minus the retention).
	if err := tr.Append(context.Background(), audit.Event{Time: t0.Add(time.Minute), Kind: audit.ClientDenied, Outcome: "API_KEY_INVALID"}); err != nil {
		t.Fatal(err)
	}
	if evs := listed(t, tr, audit.Query{}); len(evs) != 13 || evs[12].Kind != audit.ClientDenied {
		t.Errorf("after Append: %d events, the last %+v", len(evs), evs[len(evs)-1])
	}
}

func TestTrailCluster(t *testing.T) {
	t.Parallel()
	rdb := redistest.StartCluster(t, 3).Client(t)
	seedTrail(t, rdb, true)
	tr := audit.NewTrail(audit.NewWriter(rdb, 24*time.Hour, nil), true, locate)
	checkTrail(t, tr)
	for _, q := range []audit.Query{{}, {ClientID: "crm"}, {From: t0}} {
		if _, _, err := tr.List(context.Background(), q); !errors.Is(err, audit.ErrNeedsSubject) {
			t.Errorf("List(%+v) = %v, want ErrNeedsSubject", q, err)
		}
	}
	// Append writes to "audit:events", which no query on Cluster reads.
	if err := tr.Append(context.Background(), audit.Event{Kind: audit.ClientDenied, Outcome: "API_KEY_INVALID"}); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(context.Background(), "audit:events").Val(); n != 1 {
		t.Errorf("audit:events holds %d entries, want 1", n)
	}
}

func TestTrailDown(t *testing.T) {
	t.Parallel()
	tr := audit.NewTrail(audit.NewWriter(downClient(t), 24*time.Hour, nil), false, locate)
	for _, q := range []audit.Query{{}, {CustomerID: "cust-1"}} {
		if _, _, err := tr.List(context.Background(), q); !errors.Is(err, audit.ErrUnavailable) {
			t.Errorf("List(%+v) = %v, want ErrUnavailable", q, err)
		}
	}
	if err := tr.Append(context.Background(), audit.Event{Kind: audit.ClientDenied}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Append = %v, want ErrUnavailable", err)
	}
	// A bad token is refused before any Redis work.
	if _, _, err := tr.List(context.Background(), audit.Query{PageToken: "%%"}); !errors.Is(err, audit.ErrBadPageToken) {
		t.Errorf("bad token on a down Redis: %v", err)
	}
}
