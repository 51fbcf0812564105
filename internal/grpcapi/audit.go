package grpcapi

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/audit"
)

// AuditTrail is the audit trail AuditService pages through and the server records
// refused calls in (implemented by *audit.Trail). Store failures wrap
// audit.ErrUnavailable.
type AuditTrail interface {
	// List returns the events q selects, oldest first, and the token of the next
	// page ("" once none remains): a page may hold fewer events than asked, even
	// none, and still have a token. An unknown customer has no events. A token
	// List did not issue is audit.ErrBadPageToken; on Redis Cluster a query that
	// names neither a customer nor a verification is audit.ErrNeedsSubject.
	List(ctx context.Context, q audit.Query) ([]audit.Event, string, error)
	// Append writes e, an event no script writes, in one round trip.
	Append(ctx context.Context, e audit.Event) error
}

// WithAudit serves AuditService.ListAuditEvents over trail and records every call
// the authentication and authorization interceptors refuse as a client_denied
// event in it. Without it, ListAuditEvents answers UNIMPLEMENTED and refused calls
// are only logged and counted.
func WithAudit(trail AuditTrail) Option {
	return func(o *options) { o.trail = trail }
}

// The adapter serves exactly the generated interface.
var _ authsvcv1.AuditServiceServer = (*auditService)(nil)

// auditService serves authsvc.v1.AuditService over an AuditTrail.
type auditService struct {
	authsvcv1.UnimplementedAuditServiceServer
	trail AuditTrail
}

// maxPageToken bounds a page token: every token List issues is far shorter.
const maxPageToken = 128

// ListAuditEvents pages through the trail. A client sees only the events whose
// client is itself, unless its grants include may_audit_all.
func (s *auditService) ListAuditEvents(ctx context.Context, r *authsvcv1.ListAuditEventsRequest) (*authsvcv1.ListAuditEventsResponse, error) {
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey()
	}
	q, err := auditQuery(r)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	if c.perms == nil || !c.perms.mayAuditAll {
		q.ClientID = c.ID
	}
	events, next, err := s.trail.List(ctx, q)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	out := &authsvcv1.ListAuditEventsResponse{Events: make([]*authsvcv1.AuditEvent, 0, len(events)), NextPageToken: next}
	for _, e := range events {
		out.Events = append(out.Events, auditEventToProto(e))
	}
	return out, nil
}

// auditQuery checks r's shape and builds the query. An id of the wrong shape is
// no error: it simply has no events.
func auditQuery(r *authsvcv1.ListAuditEventsRequest) (audit.Query, error) {
	var vs violations
	q := audit.Query{CustomerID: r.GetCustomerId(), VerificationID: r.GetVerificationId(),
		PageSize: int(r.GetPageSize()), PageToken: r.GetPageToken()}
	vs.text("customer_id", q.CustomerID, false, maxCustomerID)
	vs.text("verification_id", q.VerificationID, false, maxVerificationID)
	if ts := r.GetStartTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			vs.add("start_time", "must be a valid timestamp")
		} else {
			q.From = ts.AsTime()
		}
	}
	if ts := r.GetEndTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			vs.add("end_time", "must be a valid timestamp")
		} else {
			q.To = ts.AsTime()
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		vs.add("end_time", "must be after start_time")
	}
	if q.PageSize < 0 {
		vs.add("page_size", "must not be negative; 0 asks for the default (%d)", audit.DefaultPageSize)
	}
	if len(q.PageToken) > maxPageToken {
		vs.add("page_token", "is not a token of a previous response")
	}
	return q, vs.err()
}

func auditEventToProto(e audit.Event) *authsvcv1.AuditEvent {
	return &authsvcv1.AuditEvent{
		EventId:           e.ID,
		Time:              timestamppb.New(e.Time),
		Kind:              e.Kind,
		ClientId:          e.ClientID,
		AgentId:           e.AgentID,
		VerificationId:    e.VerificationID,
		Method:            e.Method,
		Outcome:           e.Outcome,
		Reason:            e.Reason,
		IdentityPseudonym: e.Identity,
		CustomerPseudonym: e.Customer,
		DestinationMask:   e.Destination,
	}
}

// Refused calls are recorded off the call's path: each event is written by a
// goroutine of its own, bounded by denialWriteTimeout, and at most maxDenialWrites
// run at once. A refusal beyond that is dropped and counted: a flood of refused
// calls costs a bounded number of goroutines and Redis writes, never a queue that
// grows with it.
const (
	maxDenialWrites    = 64
	denialWriteTimeout = 2 * time.Second
)

// denials records the calls the authentication and authorization interceptors
// refuse as client_denied events: c the client the call claimed when known (an
// API key that names none leaves it empty), m the RPC's short name, o the
// refusal's ErrorInfo reason (API_KEY_INVALID, RPC_NOT_ALLOWED, …).
//
// Its outer interceptor runs right before authentication and its inner one
// right after authorization: a call that reaches the inner one was not refused
// by them, so a PERMISSION_DENIED a handler answers (a LinkIdentity without a
// valid verification, say) is not mistaken for one. A nil *denials records
// nothing: its interceptors only pass the call on.
type denials struct {
	trail   AuditTrail
	now     func() time.Time
	log     *slog.Logger
	slots   chan struct{}
	wg      sync.WaitGroup
	results *prometheus.CounterVec
}

func newDenials(trail AuditTrail, now func() time.Time, log *slog.Logger, reg prometheus.Registerer, limit int) (*denials, error) {
	d := &denials{trail: trail, now: now, log: log, slots: make(chan struct{}, limit),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_audit_client_denied_total",
			Help: "Refused calls recorded as client_denied audit events, by result: written, failed (store error or timeout) or dropped (too many writes in flight).",
		}, []string{"result"})}
	for _, r := range []string{"written", "failed", "dropped"} {
		d.results.WithLabelValues(r)
	}
	if err := reg.Register(d.results); err != nil {
		return nil, err
	}
	return d, nil
}

// passed marks a call that got through authentication and authorization.
type passed struct{ ok atomic.Bool }

type passedKey struct{}

func (d *denials) outerUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if d == nil {
		return handler(ctx, req)
	}
	p := &passed{}
	resp, err := handler(context.WithValue(ctx, passedKey{}, p), req)
	if err != nil && !p.ok.Load() {
		d.refused(ctx, info.FullMethod, err)
	}
	return resp, err
}

func (d *denials) innerUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if d == nil {
		return handler(ctx, req)
	}
	if p, ok := ctx.Value(passedKey{}).(*passed); ok {
		p.ok.Store(true)
	}
	return handler(ctx, req)
}

func (d *denials) outerStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if d == nil {
		return handler(srv, ss)
	}
	p := &passed{}
	ctx := ss.Context()
	err := handler(srv, &contextStream{ServerStream: ss, ctx: context.WithValue(ctx, passedKey{}, p)})
	if err != nil && !p.ok.Load() {
		d.refused(ctx, info.FullMethod, err)
	}
	return err
}

func (d *denials) innerStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if d == nil {
		return handler(srv, ss)
	}
	if p, ok := ss.Context().Value(passedKey{}).(*passed); ok {
		p.ok.Store(true)
	}
	return handler(srv, ss)
}

// refused records err, the answer to a call of fullMethod that the interceptors
// refused, when it is UNAUTHENTICATED or PERMISSION_DENIED.
func (d *denials) refused(ctx context.Context, fullMethod string, err error) {
	st := status.Convert(err)
	if st.Code() != codes.Unauthenticated && st.Code() != codes.PermissionDenied {
		return
	}
	reason := st.Code().String()
	for _, det := range st.Details() {
		if ei, ok := det.(*errdetails.ErrorInfo); ok && ei.GetReason() != "" {
			reason = ei.GetReason()
			break
		}
	}
	e := audit.Event{Time: d.now(), Kind: audit.ClientDenied, Method: shortName(fullMethod), Outcome: reason}
	if ci := callInfoFrom(ctx); ci != nil {
		ci.mu.Lock()
		e.ClientID = ci.clientID
		ci.mu.Unlock()
	}
	select {
	case d.slots <- struct{}{}:
	default:
		d.results.WithLabelValues("dropped").Inc()
		return
	}
	d.wg.Go(func() {
		defer func() { <-d.slots }()
		// Detached from the call, which has been answered: only the timeout bounds it.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), denialWriteTimeout)
		defer cancel()
		if err := d.trail.Append(wctx, e); err != nil {
			d.results.WithLabelValues("failed").Inc()
			d.log.WarnContext(wctx, "recording a refused call in the audit trail failed",
				"method", e.Method, "reason", e.Outcome, "err", err)
			return
		}
		d.results.WithLabelValues("written").Inc()
	})
}

// wait returns once every write started so far has ended.
func (d *denials) wait() { d.wg.Wait() }
