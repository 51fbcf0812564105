package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/challenge"
)

// auditGrants: clientA is a care platform that may do everything but audit other
// clients; clientB is an auditor that may see every client's events.
func auditGrants() map[string]Grants {
	auditor := allGrants()
	auditor.MayAuditAll = true
	return map[string]Grants{clientA: allGrants(), clientB: auditor}
}

// listAll pages through ListAuditEvents with r until the token is empty.
func (f *fixture) listAll(t *testing.T, key string, r *authsvcv1.ListAuditEventsRequest) []*authsvcv1.AuditEvent {
	t.Helper()
	var out []*authsvcv1.AuditEvent
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("paging does not end")
		}
		res, err := f.audc.ListAuditEvents(as(t, key), r)
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		out = append(out, res.GetEvents()...)
		if res.GetNextPageToken() == "" {
			return out
		}
		r.PageToken = res.GetNextPageToken()
	}
}

// kinds returns the kinds of events, in order.
func kinds(events []*authsvcv1.AuditEvent) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, e.GetKind())
	}
	return out
}

// verifyOTP completes the OTP verification of res through the domain's
// SubmitCode, as the customer's page does.
func (f *fixture) verifyOTP(t *testing.T, res *authsvcv1.StartVerificationResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := res.GetVerification().GetVerificationId()
	r, err := f.svc.SubmitCode(ctx, pageToken(t, res.GetCustomerUrl()), f.codeFor(t, id), "nonce-"+id, "")
	if err != nil || r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SubmitCode = %v, %v; want verified", r, err)
	}
}

func TestListAuditEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: auditGrants()})

	// clientA: a verified one and a pending one of cust-42.
	first := f.start(t, keyA, "audit-1")
	f.verifyOTP(t, first)
	v1 := first.GetVerification().GetVerificationId()
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	v2 := f.start(t, keyA, "audit-2").GetVerification().GetVerificationId()
	// clientB: one of another customer, and a disclosure check on v1's assertion.
	other := validStart("audit-3")
	other.CustomerId = "cust-43"
	other.Identity.UserId = "999"
	bres, err := f.vc.StartVerification(as(t, keyB), other)
	if err != nil {
		t.Fatal(err)
	}
	v3 := bres.GetVerification().GetVerificationId()
	get, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: v1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.authorize(t, get.GetVerification().GetAssertion().GetToken(), "order_status", chDM, "conv-audit-1"); err != nil {
		t.Fatal(err)
	}

	t.Run("one verification", func(t *testing.T) {
		got := f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{VerificationId: v1})
		want := []string{audit.Started, audit.Sent, audit.Verified, audit.AssertionIssued}
		if !slices.Equal(kinds(got), want) {
			t.Fatalf("events of %s = %v, want %v", v1, kinds(got), want)
		}
		for i, e := range got {
			if e.GetClientId() != clientA || e.GetVerificationId() != v1 || e.GetAgentId() != "agent-7" ||
				e.GetMethod() != "otp_email" || len(e.GetCustomerPseudonym()) != 16 || len(e.GetIdentityPseudonym()) != 16 ||
				e.GetEventId() == "" || e.GetTime().AsTime().IsZero() {
				t.Errorf("event %d = %v", i, e)
			}
			if i > 0 && e.GetTime().AsTime().Before(got[i-1].GetTime().AsTime()) {
				t.Errorf("event %d is older than the one before it", i)
			}
		}
		if got[0].GetDestinationMask() == "" || strings.Contains(got[0].GetDestinationMask(), email) {
			t.Errorf("started: destination %q, want a mask", got[0].GetDestinationMask())
		}
	})

	t.Run("one customer", func(t *testing.T) {
		got := f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{CustomerId: "cust-42"})
		if len(got) != 6 {
			t.Fatalf("events of cust-42 = %v, want v1's 4 and v2's 2", kinds(got))
		}
		for _, e := range got {
			if v := e.GetVerificationId(); v != v1 && v != v2 {
				t.Errorf("event of %s among cust-42's", v)
			}
		}
		if got[0].GetCustomerPseudonym() != got[5].GetCustomerPseudonym() {
			t.Error("one customer, two pseudonyms")
		}
	})

	t.Run("unknown customer has none", func(t *testing.T) {
		res, err := f.audc.ListAuditEvents(as(t, keyB), &authsvcv1.ListAuditEventsRequest{CustomerId: "cust-nobody"})
		if err != nil || len(res.GetEvents()) != 0 || res.GetNextPageToken() != "" {
			t.Fatalf("unknown customer: %v, %v; want no events and no token", res, err)
		}
	})

	t.Run("time range", func(t *testing.T) {
		got := f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{StartTime: timestamppb.New(cut)})
		for _, e := range got {
			if e.GetVerificationId() == v1 {
				t.Errorf("event of %s before the start time: %v", v1, e)
			}
		}
		if !slices.Equal(kinds(got), []string{audit.Started, audit.Sent}) {
			t.Errorf("clientA's events since the cut = %v, want v2's started and sent", kinds(got))
		}
		got = f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{EndTime: timestamppb.New(cut)})
		if len(got) != 4 || got[0].GetVerificationId() != v1 {
			t.Errorf("clientA's events before the cut = %v, want v1's 4", kinds(got))
		}
	})

	t.Run("paging", func(t *testing.T) {
		all := f.listAll(t, keyB, &authsvcv1.ListAuditEventsRequest{})
		var paged []*authsvcv1.AuditEvent
		pages := 0
		r := &authsvcv1.ListAuditEventsRequest{PageSize: 3}
		for {
			res, err := f.audc.ListAuditEvents(as(t, keyB), r)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.GetEvents()) > 3 {
				t.Fatalf("page of %d events, want at most 3", len(res.GetEvents()))
			}
			pages++
			paged = append(paged, res.GetEvents()...)
			if res.GetNextPageToken() == "" {
				break
			}
			r.PageToken = res.GetNextPageToken()
		}
		if pages < 3 || len(paged) != len(all) {
			t.Fatalf("%d pages of %d events, all at once %d", pages, len(paged), len(all))
		}
		for i := range all {
			if paged[i].GetEventId() != all[i].GetEventId() {
				t.Fatalf("paged event %d = %s, want %s", i, paged[i].GetEventId(), all[i].GetEventId())
			}
		}
	})

	t.Run("a client sees only its own events", func(t *testing.T) {
		// clientA cannot see clientB's verification, nor clientB's disclosure check.
		if got := f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{VerificationId: v3}); len(got) != 0 {
			t.Errorf("clientA sees clientB's verification: %v", kinds(got))
		}
		if got := f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{CustomerId: "cust-43"}); len(got) != 0 {
			t.Errorf("clientA sees clientB's customer: %v", kinds(got))
		}
		for _, e := range f.listAll(t, keyA, &authsvcv1.ListAuditEventsRequest{}) {
			if e.GetClientId() != clientA {
				t.Errorf("clientA sees an event of %q: %v", e.GetClientId(), e)
			}
		}
	})

	t.Run("may_audit_all sees every client", func(t *testing.T) {
		got := f.listAll(t, keyB, &authsvcv1.ListAuditEventsRequest{VerificationId: v1})
		want := []string{audit.Started, audit.Sent, audit.Verified, audit.AssertionIssued, audit.DisclosureAllowed}
		if !slices.Equal(kinds(got), want) {
			t.Fatalf("auditor's events of %s = %v, want %v", v1, kinds(got), want)
		}
		d := got[4]
		if d.GetClientId() != clientB || d.GetOutcome() != "order_status@dm" || d.GetReason() != "" ||
			d.GetCustomerPseudonym() != got[0].GetCustomerPseudonym() {
			t.Errorf("disclosure event = %v", d)
		}
		clients := map[string]bool{}
		for _, e := range f.listAll(t, keyB, &authsvcv1.ListAuditEventsRequest{}) {
			clients[e.GetClientId()] = true
		}
		if !clients[clientA] || !clients[clientB] {
			t.Errorf("auditor sees the events of %v, want both clients", clients)
		}
	})
}

// A policy denial and a revoked assertion are recorded as disclosure_denied with
// their reason and the asking client.
func TestAuthorizeDisclosureAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: auditGrants()})
	v := f.lowAssertion(t, "audited-1")
	if res, err := f.authorize(t, v.token, "shipping_address", chDM, v.conversation); err != nil || res.GetAllowed() {
		t.Fatalf("shipping_address: %v, %v; want a denial", res, err)
	}
	if res, err := f.authorize(t, v.token, "order_status", chSecure, "conv-other"); err != nil || res.GetAllowed() {
		t.Fatalf("other conversation: %v, %v; want a denial", res, err)
	}
	if _, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: v.id, RequestId: "end"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.authorize(t, v.token, "order_status", chDM, v.conversation); err == nil {
		t.Fatal("revoked assertion accepted")
	}
	// Refused before any Redis work: no event.
	if _, err := f.authorize(t, "not a token", "order_status", chDM, v.conversation); err == nil {
		t.Fatal("garbage accepted")
	}
	var got [][3]string
	for _, e := range f.listAll(t, keyB, &authsvcv1.ListAuditEventsRequest{VerificationId: v.id}) {
		if e.GetKind() == audit.DisclosureAllowed || e.GetKind() == audit.DisclosureDenied {
			if e.GetClientId() != clientB {
				t.Errorf("disclosure event of client %q, want the asking client", e.GetClientId())
			}
			got = append(got, [3]string{e.GetKind(), e.GetOutcome(), e.GetReason()})
		}
	}
	want := [][3]string{
		{audit.DisclosureDenied, "shipping_address@dm", "level_too_low"},
		{audit.DisclosureDenied, "order_status@secure_channel", "conversation_mismatch"},
		{audit.DisclosureDenied, "order_status@dm", "revoked"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("disclosure events = %v, want %v", got, want)
	}
}

func TestListAuditEventsBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: auditGrants()})
	now := time.Now()
	tests := []struct {
		name   string
		req    *authsvcv1.ListAuditEventsRequest
		fields []string
	}{
		{"forged token", &authsvcv1.ListAuditEventsRequest{PageToken: "bm90LWEtdG9rZW4"}, []string{"page_token"}},
		{"garbage token", &authsvcv1.ListAuditEventsRequest{PageToken: "%%%"}, []string{"page_token"}},
		{"token of a customer query", &authsvcv1.ListAuditEventsRequest{CustomerId: "cust-nobody", PageToken: "%%%"}, []string{"page_token"}},
		{"oversized token", &authsvcv1.ListAuditEventsRequest{PageToken: strings.Repeat("A", 200)}, []string{"page_token"}},
		{"negative page size", &authsvcv1.ListAuditEventsRequest{PageSize: -1}, []string{"page_size"}},
		{"end before start", &authsvcv1.ListAuditEventsRequest{StartTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(-time.Second))}, []string{"end_time"}},
		{"invalid time", &authsvcv1.ListAuditEventsRequest{StartTime: &timestamppb.Timestamp{Nanos: -1}}, []string{"start_time"}},
		{"long customer id", &authsvcv1.ListAuditEventsRequest{CustomerId: strings.Repeat("c", maxCustomerID+1)}, []string{"customer_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.audc.ListAuditEvents(as(t, keyA), tt.req)
			st := wantCode(t, err, codes.InvalidArgument)
			if got := fields(t, st); !slices.Equal(got, tt.fields) {
				t.Errorf("field violations = %v, want %v", got, tt.fields)
			}
		})
	}
	// An oversized page is lowered, not refused.
	if _, err := f.audc.ListAuditEvents(as(t, keyA), &authsvcv1.ListAuditEventsRequest{PageSize: 5000}); err != nil {
		t.Errorf("page size 5000: %v", err)
	}
	_, err := f.audc.ListAuditEvents(as(t, ""), &authsvcv1.ListAuditEventsRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

// A client file entry without rpcs may not audit: AuditService RPCs must be named.
func TestListAuditEventsNeedsTheRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: map[string]Grants{
		clientA: {Audiences: []string{audience}},
		clientB: {RPCs: []string{"ListAuditEvents"}, Audiences: []string{audience}},
	}})
	_, err := f.audc.ListAuditEvents(as(t, keyA), &authsvcv1.ListAuditEventsRequest{})
	if ei := errorInfo(t, wantCode(t, err, codes.PermissionDenied)); ei.GetReason() != ReasonRPCNotAllowed {
		t.Errorf("ErrorInfo = %v", ei)
	}
	if _, err := f.audc.ListAuditEvents(as(t, keyB), &authsvcv1.ListAuditEventsRequest{}); err != nil {
		t.Errorf("named RPC: %v", err)
	}
}

func TestListAuditEventsRedisDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: auditGrants()})
	f.start(t, keyA, "down-1")
	f.redis.Kill()
	for name, r := range map[string]*authsvcv1.ListAuditEventsRequest{
		"all":      {},
		"customer": {CustomerId: "cust-42"},
	} {
		_, err := f.audc.ListAuditEvents(as(t, keyB), r)
		st := wantCode(t, err, codes.Unavailable)
		if ei := errorInfo(t, st); ei.GetReason() != ReasonStoreUnavailable {
			t.Errorf("%s: ErrorInfo = %v", name, ei)
		}
	}
}

// toStatus answers a Cluster query without a subject as FAILED_PRECONDITION; the
// trail's test (package audit) shows when it is returned.
func TestAuditErrorsMapped(t *testing.T) {
	t.Parallel()
	st := wantCode(t, toStatus(context.Background(), audit.ErrNeedsSubject, ""), codes.FailedPrecondition)
	if st.Message() != "on Redis Cluster, name a customer or a verification" {
		t.Errorf("message %q", st.Message())
	}
	wantCode(t, toStatus(context.Background(), audit.ErrBadPageToken, ""), codes.InvalidArgument)
	wantCode(t, toStatus(context.Background(), audit.ErrUnavailable, ""), codes.Unavailable)
}

// Calls the interceptors refuse become client_denied events, written off the
// call's path; a handler's own PERMISSION_DENIED does not.
func TestRefusedCallsAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: map[string]Grants{
		clientA: {RPCs: []string{"GetVerification", "LinkIdentity"}, Audiences: []string{audience}},
		clientB: {RPCs: []string{AnyValue}, Audiences: []string{AnyValue}, MayAuditAll: true},
	}})
	ctx := as(t, "no-such-key")
	if _, err := f.vc.GetVerification(ctx, &authsvcv1.GetVerificationRequest{VerificationId: "x"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := f.vc.StartVerification(as(t, keyA), validStart("refused-1")); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("RPC not granted: %v", err)
	}
	stream, err := f.vc.WatchVerification(as(t, keyA), &authsvcv1.WatchVerificationRequest{VerificationId: "x"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("stream not granted: %v", err)
	}
	// The handler refuses this one (the verification proves nothing): not audited.
	if _, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42",
		Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: "1"}, VerificationId: "aaa-aaaaaaaaaaaaaaaa"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("LinkIdentity without a proof: %v", err)
	}
	f.server.denials.wait()

	var got [][3]string
	for _, e := range f.listAll(t, keyB, &authsvcv1.ListAuditEventsRequest{}) {
		if e.GetKind() == audit.ClientDenied {
			got = append(got, [3]string{e.GetClientId(), e.GetMethod(), e.GetOutcome()})
		}
	}
	// Written concurrently: compare in a fixed order.
	slices.SortFunc(got, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
	want := [][3]string{
		{"", "GetVerification", ReasonAPIKeyInvalid},
		{clientA, "StartVerification", ReasonRPCNotAllowed},
		{clientA, "WatchVerification", ReasonRPCNotAllowed},
	}
	if !slices.Equal(got, want) {
		t.Errorf("client_denied events = %v, want %v", got, want)
	}
	if n := deniedCount(t, f.reg, "written"); n != 3 {
		t.Errorf("written = %v, want 3", n)
	}
	if strings.Contains(f.logs.String(), "no-such-key") {
		t.Error("a refused key reached the log")
	}
}

// blockingTrail holds every Append until released.
type blockingTrail struct {
	mu       sync.Mutex
	started  int
	release  chan struct{}
	appended []audit.Event
}

func (b *blockingTrail) List(context.Context, audit.Query) ([]audit.Event, string, error) {
	return nil, "", nil
}

func (b *blockingTrail) Append(ctx context.Context, e audit.Event) error {
	b.mu.Lock()
	b.started++
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appended = append(b.appended, e)
	return nil
}

// A flood of refused calls while the trail is slow starts at most the limit of
// writes; the rest are dropped and counted, and nothing waits on the trail.
func TestRefusedCallFloodIsBounded(t *testing.T) {
	t.Parallel()
	const limit = 4
	trail := &blockingTrail{release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	d, err := newDenials(trail, time.Now, slog.New(slog.DiscardHandler), reg, limit)
	if err != nil {
		t.Fatal(err)
	}
	refused := errNotAllowed(ReasonRPCNotAllowed, nil)
	start := time.Now()
	for range 100 {
		d.refused(context.Background(), "/authsvc.v1.VerificationService/StartVerification", refused)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("100 refusals took %v: the call path waited on the trail", el)
	}
	// Other answers are not refusals.
	d.refused(context.Background(), "/authsvc.v1.VerificationService/StartVerification", errors.New("boom"))
	d.refused(context.Background(), "/authsvc.v1.VerificationService/StartVerification", errAPIKey())
	close(trail.release)
	d.wait()
	if len(trail.appended) != limit {
		t.Errorf("%d events written, want %d", len(trail.appended), limit)
	}
	if n := deniedCount(t, reg, "dropped"); n != 100+1-limit {
		t.Errorf("dropped = %v, want %d", n, 100+1-limit)
	}
	if n := deniedCount(t, reg, "written"); n != limit {
		t.Errorf("written = %v, want %d", n, limit)
	}
	for _, e := range trail.appended {
		if e.Kind != audit.ClientDenied || e.Method != "StartVerification" || e.Outcome != ReasonRPCNotAllowed {
			t.Errorf("event %+v", e)
		}
	}
}

// deniedCount returns the authsvc_audit_client_denied_total of result in reg.
func deniedCount(t *testing.T, reg prometheus.Gatherer, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "authsvc_audit_client_denied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no authsvc_audit_client_denied_total{result=%q}", result)
	return 0
}
