package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/policy"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	const id = "abcde-abcdefghijklmnopqrst"
	live := context.Background()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	storeDown := fmt.Errorf("%w: dial tcp 127.0.0.1:6379: connection refused", challenge.ErrUnavailable)

	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		code   codes.Code
		check  func(t *testing.T, st *status.Status)
		secret string // text of err the caller must not see
	}{
		{name: "nil", ctx: live, err: nil, code: codes.OK},
		{name: "validation", ctx: live, err: &challenge.ValidationError{Violations: []challenge.Violation{
			{Field: "ttl", Description: "must be between 1m0s and 1h0m0s"}, {Field: "locale", Description: "bad"}}},
			code: codes.InvalidArgument, check: func(t *testing.T, st *status.Status) {
				if got := fields(t, st); len(got) != 2 || got[0] != "ttl" || got[1] != "locale" {
					t.Errorf("fields = %v", got)
				}
			}},
		{name: "not found", ctx: live, err: challenge.ErrNotFound, code: codes.NotFound},
		{name: "not pending", ctx: live, err: challenge.ErrNotPending, code: codes.FailedPrecondition,
			check: precondition("STATE", "verification:"+id)},
		{name: "expired", ctx: live, err: challenge.ErrExpired, code: codes.FailedPrecondition,
			check: precondition("STATE", "verification:"+id)},
		{name: "nothing to send", ctx: live, err: challenge.ErrNothingToSend, code: codes.FailedPrecondition,
			check: precondition("METHOD", "verification:"+id)},
		{name: "no method", ctx: live, err: &challenge.NoMethodError{Level: assurance.High}, code: codes.FailedPrecondition,
			check: noMethod("no offered method meets HIGH for this verification; ask the customer to enroll a passkey",
				"ask the customer to enroll a passkey")},
		{name: "no method substantial", ctx: live, err: &challenge.NoMethodError{Level: assurance.Substantial}, code: codes.FailedPrecondition,
			check: noMethod("no offered method meets SUBSTANTIAL for this verification; ask the customer to enroll an authenticator app or a passkey",
				"ask the customer to enroll an authenticator app or a passkey")},
		{name: "identity validation", ctx: live, err: &identity.ValidationError{Field: "identity.network", Description: "must match [a-z0-9_-]{1,32}"},
			code: codes.InvalidArgument, check: field("identity.network")},
		{name: "identity not found", ctx: live, err: fmt.Errorf("unlink: %w", identity.ErrNotFound), code: codes.NotFound},
		{name: "linked elsewhere", ctx: live, err: identity.ErrLinkedElsewhere, code: codes.FailedPrecondition,
			check: reason("IDENTITY_LINKED_ELSEWHERE")},
		{name: "identity store unavailable", ctx: live, err: fmt.Errorf("%w: dial tcp 127.0.0.1:6379", identity.ErrUnavailable),
			code: codes.Unavailable, secret: "6379", check: reason("STORE_UNAVAILABLE")},
		{name: "identity store timeout", ctx: live, err: fmt.Errorf("%w: %w", identity.ErrUnavailable, context.DeadlineExceeded),
			code: codes.Unavailable, check: func(t *testing.T, st *status.Status) {
				reason("STORE_UNAVAILABLE")(t, st)
				if st.Message() != messageIdentityStore {
					t.Errorf("message = %q, want the customer store's", st.Message())
				}
			}},
		{name: "caller gone, identity store down", ctx: canceled, err: fmt.Errorf("%w: i/o timeout", identity.ErrUnavailable),
			code: codes.Canceled},
		{name: "verification required", ctx: live, err: errVerificationRequired, code: codes.PermissionDenied,
			check: reason("VERIFICATION_REQUIRED")},
		{name: "identity wrong code is not an API answer", ctx: live, err: &identity.CodeError{AttemptsLeft: 2},
			code: codes.Internal},
		{name: "request reused", ctx: live, err: challenge.ErrRequestReused, code: codes.InvalidArgument,
			check: field("request_id")},
		{name: "destination mismatch", ctx: live, err: challenge.ErrDestinationMismatch, code: codes.InvalidArgument,
			check: field("destination")},
		{name: "resend limit", ctx: live, err: challenge.ErrResendLimit, code: codes.ResourceExhausted,
			check: retry(30 * time.Second)},
		{name: "send limit", ctx: live, err: &challenge.LimitError{Scope: "identity", RetryAfter: 90 * time.Second},
			code: codes.ResourceExhausted, check: func(t *testing.T, st *status.Status) {
				retry(90*time.Second)(t, st)
				if ei := errorInfo(t, st); ei.GetReason() != ReasonSendLimit || ei.GetMetadata()["scope"] != "identity" {
					t.Errorf("ErrorInfo = %v", ei)
				}
			}},
		{name: "destination blocked", ctx: live, err: &challenge.LimitError{Scope: challenge.ScopeBreakerPrefix, RetryAfter: time.Hour},
			code: codes.ResourceExhausted, check: func(t *testing.T, st *status.Status) {
				retry(time.Hour)(t, st)
				if ei := errorInfo(t, st); ei.GetReason() != ReasonDestinationBlocked || ei.GetMetadata()["scope"] != "breaker_prefix" {
					t.Errorf("ErrorInfo = %v", ei)
				}
			}},
		{name: "sms refused", ctx: live, err: &challenge.SMSRefusedError{Reason: challenge.RiskSIMSwap},
			code: codes.FailedPrecondition, check: func(t *testing.T, st *status.Status) {
				if ei := errorInfo(t, st); ei.GetReason() != ReasonSMSRefused || ei.GetMetadata()["risk"] != "sim_swap" {
					t.Errorf("ErrorInfo = %v", ei)
				}
			}},
		{name: "send in progress", ctx: live, err: challenge.ErrSendInProgress, code: codes.Unavailable,
			check: retry(time.Second)},
		{name: "send error", ctx: live, err: &challenge.SendError{VerificationID: id, Err: errors.New("smtp 554 for bob@example.com")},
			code: codes.Unavailable, secret: "bob@example.com", check: func(t *testing.T, st *status.Status) {
				ei := errorInfo(t, st)
				if ei.GetReason() != "DELIVERY_FAILED" || ei.GetMetadata()["verification_id"] != id {
					t.Errorf("ErrorInfo = %v", ei)
				}
			}},
		{name: "store unavailable", ctx: live, err: storeDown, code: codes.Unavailable, secret: "6379",
			check: reason("STORE_UNAVAILABLE")},
		{name: "store timeout", ctx: live, err: fmt.Errorf("read: %w", context.DeadlineExceeded), code: codes.Unavailable,
			check: reason("STORE_UNAVAILABLE")},
		{name: "caller canceled", ctx: canceled, err: storeDown, code: codes.Canceled, secret: "6379"},
		{name: "caller deadline", ctx: expired, err: context.DeadlineExceeded, code: codes.DeadlineExceeded},
		{name: "caller gone but answer known", ctx: canceled, err: challenge.ErrNotFound, code: codes.NotFound},
		{name: "revoked", ctx: live, err: challenge.ErrRevoked, code: codes.FailedPrecondition,
			check: reason("ASSERTION_REVOKED")},
		{name: "assertion expired", ctx: live, err: assertion.ErrExpired, code: codes.InvalidArgument,
			check: assertionCheckIs("expired")},
		{name: "assertion audience", ctx: live, err: fmt.Errorf("%w: no audience given", assertion.ErrAudience),
			code: codes.InvalidArgument, check: assertionCheckIs("audience")},
		{name: "assertion issuer", ctx: live, err: assertion.ErrIssuer, code: codes.InvalidArgument,
			check: assertionCheckIs("issuer")},
		{name: "assertion signature", ctx: live, err: assertion.ErrSignature, code: codes.InvalidArgument,
			check: assertionCheckIs("signature")},
		{name: "assertion too large", ctx: live, err: assertion.ErrTooLarge, code: codes.InvalidArgument,
			check: assertionCheckIs("size")},
		{name: "unknown data class", ctx: live, err: policy.ErrUnknownDataClass, code: codes.InvalidArgument,
			check: field("data_class")},
		{name: "unknown channel", ctx: live, err: policy.ErrUnknownChannel, code: codes.InvalidArgument,
			check: field("channel")},
		{name: "unknown", ctx: live, err: errors.New("lua: attempt to index a nil value near 'co' for alice@example.com"),
			code: codes.Internal, secret: "alice@example.com", check: func(t *testing.T, st *status.Status) {
				if st.Message() != "internal error" || len(st.Details()) != 0 {
					t.Errorf("internal = %q %v", st.Message(), st.Details())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := toStatus(tt.ctx, tt.err, id)
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("toStatus(%v) = %v, not a status", tt.err, got)
			}
			if st.Code() != tt.code {
				t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), tt.code)
			}
			if tt.secret != "" && strings.Contains(fmt.Sprint(st.Proto()), tt.secret) {
				t.Errorf("status %v carries %q", st.Proto(), tt.secret)
			}
			if tt.check != nil {
				tt.check(t, st)
			}
			// The cause of an opaque answer is kept for the log.
			var ce *causeError
			if tt.code == codes.Internal && (!errors.As(got, &ce) || !errors.Is(ce.cause, tt.err)) {
				t.Errorf("INTERNAL without its cause kept for the log")
			}
		})
	}
}

// noMethod checks the one answer to a start no offered method can serve.
func noMethod(msg, advice string) func(*testing.T, *status.Status) {
	return func(t *testing.T, st *status.Status) {
		t.Helper()
		if st.Message() != msg {
			t.Errorf("message = %q, want %q", st.Message(), msg)
		}
		v := detail[*errdetails.PreconditionFailure](t, st).GetViolations()[0]
		if v.GetType() != "METHOD" || v.GetSubject() != "customer" || v.GetDescription() != advice {
			t.Errorf("violation = %v", v)
		}
	}
}

func precondition(typ, subject string) func(*testing.T, *status.Status) {
	return func(t *testing.T, st *status.Status) {
		t.Helper()
		vs := detail[*errdetails.PreconditionFailure](t, st).GetViolations()
		if len(vs) != 1 || vs[0].GetType() != typ || vs[0].GetSubject() != subject {
			t.Errorf("PreconditionFailure = %v, want %s/%s", vs, typ, subject)
		}
	}
}

func field(name string) func(*testing.T, *status.Status) {
	return func(t *testing.T, st *status.Status) {
		t.Helper()
		if got := fields(t, st); len(got) != 1 || got[0] != name {
			t.Errorf("fields = %v, want [%s]", got, name)
		}
	}
}

func retry(d time.Duration) func(*testing.T, *status.Status) {
	return func(t *testing.T, st *status.Status) {
		t.Helper()
		if got := detail[*errdetails.RetryInfo](t, st).GetRetryDelay().AsDuration(); got != d {
			t.Errorf("retry delay = %v, want %v", got, d)
		}
	}
}

func reason(r string) func(*testing.T, *status.Status) {
	return func(t *testing.T, st *status.Status) {
		t.Helper()
		if ei := errorInfo(t, st); ei.GetReason() != r {
			t.Errorf("reason = %q, want %q", ei.GetReason(), r)
		}
	}
}

func assertionCheckIs(check string) func(*testing.T, *status.Status) {
	return func(t *testing.T, st *status.Status) {
		t.Helper()
		ei := errorInfo(t, st)
		if ei.GetReason() != "ASSERTION_INVALID" || ei.GetMetadata()["check"] != check {
			t.Errorf("ErrorInfo = %v, want ASSERTION_INVALID check=%s", ei, check)
		}
	}
}

func TestEnumMappingsAreExplicit(t *testing.T) {
	t.Parallel()
	for v := range authsvcv1.Method_name {
		m := authsvcv1.Method(v)
		dm, ok := methodFromProto(m)
		if m == authsvcv1.Method_METHOD_UNSPECIFIED {
			if ok {
				t.Errorf("UNSPECIFIED method accepted")
			}
			continue
		}
		if !ok || methodToProto(dm) != m {
			t.Errorf("method %v does not round-trip (domain %v)", m, dm)
		}
	}
	if _, ok := methodFromProto(authsvcv1.Method(99)); ok {
		t.Error("unknown method value accepted")
	}
	for v := range authsvcv1.AssuranceLevel_name {
		l := authsvcv1.AssuranceLevel(v)
		dl, ok := levelFromProto(l)
		if !ok || levelToProto(dl) != l {
			t.Errorf("level %v does not round-trip (domain %v)", l, dl)
		}
	}
	if _, ok := levelFromProto(authsvcv1.AssuranceLevel(7)); ok {
		t.Error("unknown level value accepted")
	}
	states := map[challenge.State]authsvcv1.State{
		challenge.Pending: authsvcv1.State_STATE_PENDING, challenge.Verified: authsvcv1.State_STATE_VERIFIED,
		challenge.Failed: authsvcv1.State_STATE_FAILED, challenge.Expired: authsvcv1.State_STATE_EXPIRED,
		challenge.Canceled: authsvcv1.State_STATE_CANCELED, 0: authsvcv1.State_STATE_UNSPECIFIED,
	}
	for d, p := range states {
		if got := stateToProto(d); got != p {
			t.Errorf("state %v → %v, want %v", d, got, p)
		}
	}
	reasons := map[challenge.Reason]authsvcv1.FailureReason{
		challenge.ReasonNone:              authsvcv1.FailureReason_FAILURE_REASON_UNSPECIFIED,
		challenge.ReasonAttemptsExhausted: authsvcv1.FailureReason_FAILURE_REASON_ATTEMPTS_EXHAUSTED,
		challenge.ReasonReported:          authsvcv1.FailureReason_FAILURE_REASON_REPORTED,
		challenge.ReasonNumberMismatch:    authsvcv1.FailureReason_FAILURE_REASON_NUMBER_MISMATCH,
	}
	for d, p := range reasons {
		if got := reasonToProto(d); got != p {
			t.Errorf("reason %v → %v, want %v", d, got, p)
		}
	}
	for v := range authsvcv1.DisclosureChannel_name {
		c := authsvcv1.DisclosureChannel(v)
		dc, ok := channelFromProto(c)
		if c == authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_UNSPECIFIED {
			if ok {
				t.Error("UNSPECIFIED channel accepted")
			}
			continue
		}
		if !ok || channelToProto(dc) != c {
			t.Errorf("channel %v does not round-trip (domain %v)", c, dc)
		}
	}
	if _, ok := channelFromProto(authsvcv1.DisclosureChannel(99)); ok {
		t.Error("unknown channel value accepted")
	}
	denials := map[policy.Denial]authsvcv1.DisclosureDenial{
		0:                           authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_UNSPECIFIED,
		policy.LevelTooLow:          authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_LEVEL_TOO_LOW,
		policy.TooOld:               authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_TOO_OLD,
		policy.ChannelNotAllowed:    authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CHANNEL_NOT_ALLOWED,
		policy.ConversationMismatch: authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CONVERSATION_MISMATCH,
	}
	if len(denials) != len(authsvcv1.DisclosureDenial_name) {
		t.Errorf("%d denials mapped, the proto has %d", len(denials), len(authsvcv1.DisclosureDenial_name))
	}
	for d, p := range denials {
		if got := denialToProto(d); got != p {
			t.Errorf("denial %v → %v, want %v", d, got, p)
		}
	}
	deliveries := map[challenge.DeliveryState]authsvcv1.DeliveryState{
		challenge.DeliveryNotNeeded: authsvcv1.DeliveryState_DELIVERY_STATE_NOT_NEEDED,
		challenge.DeliverySending:   authsvcv1.DeliveryState_DELIVERY_STATE_SENDING,
		challenge.DeliverySent:      authsvcv1.DeliveryState_DELIVERY_STATE_SENT,
		challenge.DeliveryFailed:    authsvcv1.DeliveryState_DELIVERY_STATE_FAILED,
	}
	for d, p := range deliveries {
		if got := deliveryToProto(d); got != p {
			t.Errorf("delivery %v → %v, want %v", d, got, p)
		}
	}
}

func TestVerificationToProto(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := &challenge.Verification{
		ID: "abcde-abcdefghijklmnopqrst", State: challenge.Failed, Reason: challenge.ReasonReported,
		Methods: []challenge.Method{challenge.OTPSMS, challenge.TOTP}, MinAssurance: assurance.Substantial,
		Created: at, Expires: at.Add(10 * time.Minute), AttemptsLeft: 3,
	}
	p := verificationToProto(v)
	if p.GetFailureReason() != authsvcv1.FailureReason_FAILURE_REASON_REPORTED ||
		p.GetMinAssurance() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL ||
		len(p.GetMethods()) != 2 || p.GetMethods()[1] != authsvcv1.Method_METHOD_TOTP ||
		!p.GetCreateTime().AsTime().Equal(at) || p.GetVerifyTime() != nil || p.GetAssertion() != nil ||
		p.GetAttemptsLeft() != 3 {
		t.Errorf("failed verification = %v", p)
	}
	v.State, v.VerifiedAt, v.Method, v.Level = challenge.Verified, at.Add(time.Minute), challenge.TOTP, assurance.Substantial
	v.Assertion = &challenge.Assertion{Token: "t", ID: "j", Expires: at.Add(6 * time.Minute)}
	p = verificationToProto(v)
	if p.GetFailureReason() != authsvcv1.FailureReason_FAILURE_REASON_UNSPECIFIED ||
		p.GetVerifiedMethod() != authsvcv1.Method_METHOD_TOTP || !p.GetVerifyTime().AsTime().Equal(at.Add(time.Minute)) ||
		p.GetAssertion().GetAssertionId() != "j" {
		t.Errorf("verified verification = %v", p)
	}
}
