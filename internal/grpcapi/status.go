package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/policy"
)

// errorDomain is the ErrorInfo domain of every reason this API sets.
const errorDomain = "authsvc"

// ErrorInfo reasons (domain "authsvc"). They are part of the API: never rename one.
const (
	// ReasonAPIKeyInvalid: UNAUTHENTICATED, the API key is missing or unknown,
	// or is not the key of the client the verified client certificate names.
	ReasonAPIKeyInvalid = "API_KEY_INVALID"
	// ReasonCertificateUnknown: UNAUTHENTICATED, the client certificate was
	// verified but names no client of the clients file, or several.
	ReasonCertificateUnknown = "CERTIFICATE_UNKNOWN"
	// ReasonDeliveryFailed: UNAVAILABLE, the verification was recorded but its
	// message was not sent; metadata "verification_id" names it for a resend.
	ReasonDeliveryFailed = "DELIVERY_FAILED"
	// ReasonStoreUnavailable: UNAVAILABLE, Redis could not be reached in time.
	ReasonStoreUnavailable = "STORE_UNAVAILABLE"
	// ReasonSendInProgress: UNAVAILABLE, another call is sending this
	// verification's message (RetryInfo: 1 s).
	ReasonSendInProgress = "SEND_IN_PROGRESS"
	// ReasonClientOverloaded: RESOURCE_EXHAUSTED, the calling client already has
	// as many unary calls in flight, or WatchVerification streams open, as it may;
	// the call was refused at once and did nothing (RetryInfo: 1 s).
	ReasonClientOverloaded = "CLIENT_OVERLOADED"
	// ReasonResendLimit: RESOURCE_EXHAUSTED, the verification was sent as often as
	// allowed; a new verification is needed.
	ReasonResendLimit = "RESEND_LIMIT"
	// ReasonSendLimit: RESOURCE_EXHAUSTED, a send limit was reached and nothing was
	// sent; metadata "scope" names which ("identity", …) and RetryInfo says when.
	ReasonSendLimit = "SEND_LIMIT"
	// ReasonDestinationBlocked: RESOURCE_EXHAUSTED, SMS to this destination's
	// country or number prefix is held by a fraud breaker (codes sent there are
	// not being entered) and nothing was sent; metadata "scope" is
	// "breaker_country" or "breaker_prefix" and RetryInfo says when it is judged
	// again. Email, authenticator and passkey methods are not affected.
	ReasonDestinationBlocked = "DESTINATION_BLOCKED"
	// ReasonSMSRefused: FAILED_PRECONDITION, the number-intelligence check refused
	// to send an SMS to the destination: StartVerification whose request accepts
	// no other method the customer can use (nothing was recorded), or
	// ResendVerification (nothing was sent); metadata "risk" says why
	// ("sim_swap", "call_forwarding", "line_type", "risk_unavailable").
	ReasonSMSRefused = "SMS_REFUSED"
	// ReasonAssertionInvalid: INVALID_ARGUMENT, the assertion does not verify;
	// metadata "check" names the failed check (size, format, algorithm, type,
	// header, key, signature, expired, not_yet_valid, issuer, audience, claims).
	ReasonAssertionInvalid = "ASSERTION_INVALID"
	// ReasonAssertionRevoked: FAILED_PRECONDITION, the assertion verifies but its
	// verification was canceled or superseded.
	ReasonAssertionRevoked = "ASSERTION_REVOKED"
	// ReasonRPCNotAllowed: PERMISSION_DENIED, the calling client may not call
	// this RPC; metadata "method" names it ("StartVerification", …).
	ReasonRPCNotAllowed = "RPC_NOT_ALLOWED"
	// ReasonAudienceNotAllowed: PERMISSION_DENIED, the calling client may not
	// name this audience. Nothing says which audiences it may name.
	ReasonAudienceNotAllowed = "AUDIENCE_NOT_ALLOWED"
	// ReasonScopeNotAllowed: PERMISSION_DENIED, the calling client may not name
	// a scope of the request; metadata "scope" is the first refused.
	ReasonScopeNotAllowed = "SCOPE_NOT_ALLOWED"
	// ReasonDataClassNotAllowed: PERMISSION_DENIED, the calling client may not
	// ask about this data class; metadata "data_class" names it.
	ReasonDataClassNotAllowed = "DATA_CLASS_NOT_ALLOWED"
	// ReasonGrantRequired: PERMISSION_DENIED, the RPC needs a grant the calling
	// client does not have; metadata "grant" names it ("may_enroll").
	ReasonGrantRequired = "GRANT_REQUIRED"
	// ReasonVerificationRequired: PERMISSION_DENIED, LinkIdentity or
	// CreateEnrollmentLink by a client without the may_link or may_enroll grant,
	// whose verification_id is missing or does not name a VERIFIED, unrevoked
	// verification by this client of this customer (and, to link, of this
	// identity) verified within the enrollment window. An unknown or another
	// client's verification id answers the same.
	ReasonVerificationRequired = "VERIFICATION_REQUIRED"
	// ReasonIdentityLinkedElsewhere: FAILED_PRECONDITION, the social identity is
	// linked to another customer; unlink it there first.
	ReasonIdentityLinkedElsewhere = "IDENTITY_LINKED_ELSEWHERE"
	// ReasonStrongerProofRequired: PERMISSION_DENIED, CreateEnrollmentLink on a
	// verification too weak to bind a factor: a LOW verification binds only a
	// customer's first factor. Metadata "required_level" names the level a
	// verification must reach ("SUBSTANTIAL"): verify with a factor the customer
	// holds. Nothing was created.
	ReasonStrongerProofRequired = "STRONGER_PROOF_REQUIRED"
	// ReasonFirstFactorHold: PERMISSION_DENIED, CreateEnrollmentLink on a LOW
	// verification for a customer who recently reported a factor as not hers: for
	// a while (AUTHSVC_FACTOR_REPORT_HOLD) a LOW proof binds her no first factor;
	// the brand's own system (a client with may_enroll) still can. Nothing was
	// created.
	ReasonFirstFactorHold = "FIRST_FACTOR_HOLD"
	// ReasonNoticeUnavailable: FAILED_PRECONDITION, a first factor after a LOW
	// verification needs a notice to the proven contact, and this deployment has
	// no sender for its channel.
	ReasonNoticeUnavailable = "NOTICE_UNAVAILABLE"
	// ReasonHealthWatchLimit: RESOURCE_EXHAUSTED, the server already has as
	// many grpc.health.v1 Watch streams open as it allows, all callers together;
	// the stream was refused at once (RetryInfo: 10 s). Health Check is not
	// limited.
	ReasonHealthWatchLimit = "HEALTH_WATCH_LIMIT"
	// ReasonMessageTooLarge: RESOURCE_EXHAUSTED, the request message is larger
	// than the server accepts (Config.MaxRecvMsgSize, after decompression);
	// metadata "max_bytes" is that limit. The call did nothing; the same
	// message will never be accepted.
	ReasonMessageTooLarge = "MESSAGE_TOO_LARGE"
	// ReasonHandoverUsed: FAILED_PRECONDITION, the handover was redeemed
	// already (or its code bound by another challenge); it hands over once.
	ReasonHandoverUsed = "HANDOVER_USED"
	// ReasonHandoverExpired: FAILED_PRECONDITION, the offer or its code ran
	// out of time; the platform may create a new handover.
	ReasonHandoverExpired = "HANDOVER_EXPIRED"
	// ReasonHandoverUnbound: FAILED_PRECONDITION, the secure-channel code was
	// never bound through /handover/bind in the customer's browser.
	ReasonHandoverUnbound = "HANDOVER_UNBOUND"
	// ReasonHandoverRevoked: FAILED_PRECONDITION, a newer handover replaced
	// it, or its verification no longer stands (canceled, superseded, erased).
	ReasonHandoverRevoked = "HANDOVER_REVOKED"
	// ReasonHandoverClient: PERMISSION_DENIED, the channels file names another
	// client to redeem this handover.
	ReasonHandoverClient = "HANDOVER_CLIENT"
	// ReasonCallCodeLimit: RESOURCE_EXHAUSTED, as many wrong call codes were
	// tried as a code window allows; metadata "scope" says whose allowance:
	// "caller" (this caller_ref's, or, without caller_ref, the one all calls
	// without it share) or "client" (the phone client's ceiling, across its
	// callers). RetryInfo says when the window ends. Nothing was looked up.
	ReasonCallCodeLimit = "CALL_CODE_LIMIT"
)

// PreconditionFailure types, retry delays and fixed messages.
const (
	preconditionState       = "STATE"
	preconditionMethod      = "METHOD"
	preconditionQuery       = "QUERY"
	sendInProgressRetry     = time.Second
	resendLimitRetry        = 30 * time.Second
	overloadedRetry         = time.Second
	healthWatchRetry        = 10 * time.Second
	messageNotFound         = "verification not found"
	messageStoreUnavailable = "verification store unavailable; retry later"
	// messageIdentityNotFound answers an unknown link or factor, whether the
	// customer, the identity or the factor is what does not exist.
	messageIdentityNotFound = "no such link or factor for this customer"
	messageIdentityStore    = "customer store unavailable; retry later"
	messageAuditStore       = "audit trail unavailable; retry later"
)

// causeError is a status for the caller that keeps its cause for the log. The
// caller sees only the status: gRPC reads GRPCStatus, never the cause.
type causeError struct {
	st    *status.Status
	cause error
}

func (e *causeError) Error() string              { return e.st.Err().Error() }
func (e *causeError) GRPCStatus() *status.Status { return e.st }

// withDetails returns st with details attached as an error.
func withDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	if d, err := st.WithDetails(details...); err == nil {
		return d.Err()
	}
	return st.Err()
}

// toStatus maps an error of the domain (or of the call's context) to the gRPC
// status the caller sees. It is the only place that does. verificationID is the
// verification the call is about, "" when none; it is an id, safe to return.
// Errors it does not know become INTERNAL "internal error", their cause kept for
// the log.
func toStatus(ctx context.Context, err error, verificationID string) error {
	if err == nil {
		return nil
	}
	// The caller gave up or ran out of time: say so, whatever failed underneath.
	if cerr := ctx.Err(); cerr != nil && (errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, challenge.ErrUnavailable) ||
		errors.Is(err, identity.ErrUnavailable) || errors.Is(err, audit.ErrUnavailable)) {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return status.Error(codes.DeadlineExceeded, "deadline exceeded")
		}
		return status.Error(codes.Canceled, "call canceled")
	}

	var (
		me  *messageError
		ve  *challenge.ValidationError
		ive *identity.ValidationError
		nm  *challenge.NoMethodError
		sr  *challenge.SMSRefusedError
		se  *challenge.SendError
		le  *challenge.LimitError
		pe  *identity.ProofError
	)
	switch {
	case errors.As(err, &me):
		return messageStatus(me)
	case errors.As(err, &ve):
		return badRequest(ve.Violations...)
	case errors.As(err, &ive):
		return badRequest(challenge.Violation{Field: ive.Field, Description: ive.Description})
	case errors.As(err, &sr):
		return withDetails(status.New(codes.FailedPrecondition,
			"an SMS cannot prove possession of this number now; verify with another method"),
			&errdetails.ErrorInfo{Reason: ReasonSMSRefused, Domain: errorDomain, Metadata: map[string]string{"risk": sr.Reason}},
			&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type: preconditionMethod, Subject: "destination.phone",
				Description: "ask for an email code, an authenticator app or a passkey instead"}}})
	case errors.As(err, &nm):
		// The same answer whether the customer is unknown, has no factor that
		// meets the level, or is locked out of a method: nothing to enumerate.
		advice := noMethodAdvice(nm.Level)
		return failedPrecondition(fmt.Sprintf("no offered method meets %s for this verification; %s", levelName(nm.Level), advice),
			preconditionMethod, "customer", advice)
	case errors.Is(err, challenge.ErrNotFound):
		return status.Error(codes.NotFound, messageNotFound)
	case errors.Is(err, challenge.ErrNotPending), errors.Is(err, challenge.ErrAttemptsExhausted):
		return failedPrecondition("verification is not pending", preconditionState, verificationSubject(verificationID),
			"the verification already reached a terminal state")
	case errors.Is(err, challenge.ErrExpired):
		return failedPrecondition("verification expired", preconditionState, verificationSubject(verificationID),
			"the verification's time ran out; start a new one")
	case errors.Is(err, challenge.ErrNothingToSend):
		return failedPrecondition("nothing to resend", preconditionMethod, verificationSubject(verificationID),
			"the verification's method sends no code or link")
	case errors.Is(err, challenge.ErrRequestReused):
		return badRequest(challenge.Violation{Field: "request_id", Description: "was already used with different parameters"})
	case errors.Is(err, challenge.ErrDestinationMismatch):
		return badRequest(challenge.Violation{Field: "destination",
			Description: "differs from the destination the verification was started with"})
	case errors.Is(err, challenge.ErrResendLimit):
		return withDetails(status.New(codes.ResourceExhausted, "resend limit reached; start a new verification"),
			&errdetails.ErrorInfo{Reason: ReasonResendLimit, Domain: errorDomain, Metadata: idMetadata(verificationID)},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(resendLimitRetry)})
	case errors.As(err, &le) && (le.Scope == challenge.ScopeBreakerCountry || le.Scope == challenge.ScopeBreakerPrefix):
		return withDetails(status.New(codes.ResourceExhausted, "SMS to this destination is paused; nothing was sent; use another method"),
			&errdetails.ErrorInfo{Reason: ReasonDestinationBlocked, Domain: errorDomain, Metadata: map[string]string{"scope": le.Scope}},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(le.RetryAfter.Round(time.Second))})
	case errors.As(err, &le):
		return withDetails(status.New(codes.ResourceExhausted, "send limit reached; nothing was sent"),
			&errdetails.ErrorInfo{Reason: ReasonSendLimit, Domain: errorDomain, Metadata: map[string]string{"scope": le.Scope}},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(le.RetryAfter.Round(time.Second))})
	case errors.Is(err, challenge.ErrSendInProgress):
		return withDetails(status.New(codes.Unavailable, "a send is in progress; retry shortly"),
			&errdetails.ErrorInfo{Reason: ReasonSendInProgress, Domain: errorDomain, Metadata: idMetadata(verificationID)},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(sendInProgressRetry)})
	case errors.As(err, &se):
		st, _ := status.New(codes.Unavailable, "message not sent; the verification can be resent").WithDetails(
			&errdetails.ErrorInfo{Reason: ReasonDeliveryFailed, Domain: errorDomain,
				Metadata: map[string]string{"verification_id": se.VerificationID}})
		return &causeError{st: st, cause: err}
	case errors.Is(err, audit.ErrUnavailable):
		st, _ := status.New(codes.Unavailable, messageAuditStore).WithDetails(
			&errdetails.ErrorInfo{Reason: ReasonStoreUnavailable, Domain: errorDomain})
		return &causeError{st: st, cause: err}
	case errors.Is(err, audit.ErrBadPageToken):
		return badRequest(challenge.Violation{Field: "page_token", Description: "is not a token of a previous response"})
	case errors.Is(err, audit.ErrNeedsSubject):
		return failedPrecondition("on Redis Cluster, name a customer or a verification", preconditionQuery, "audit",
			"the audit trail is kept per hash tag on Redis Cluster: set customer_id or verification_id")
	case errors.Is(err, identity.ErrUnavailable):
		// Before the generic store case: its cause may be a store timeout.
		st, _ := status.New(codes.Unavailable, messageIdentityStore).WithDetails(
			&errdetails.ErrorInfo{Reason: ReasonStoreUnavailable, Domain: errorDomain})
		return &causeError{st: st, cause: err}
	case errors.Is(err, challenge.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// A store timeout or a closed pool while the call itself was still live.
		st, _ := status.New(codes.Unavailable, messageStoreUnavailable).WithDetails(
			&errdetails.ErrorInfo{Reason: ReasonStoreUnavailable, Domain: errorDomain})
		return &causeError{st: st, cause: err}
	case errors.Is(err, errVerificationRequired), errors.Is(err, identity.ErrProofUnbound):
		return errNoVerification()
	case errors.As(err, &pe):
		return withDetails(status.New(codes.PermissionDenied, fmt.Sprintf(
			"the customer holds a factor already: binding another needs a verification at %s or higher with a factor she holds",
			levelName(pe.Need))),
			&errdetails.ErrorInfo{Reason: ReasonStrongerProofRequired, Domain: errorDomain,
				Metadata: map[string]string{"required_level": levelName(pe.Need)}})
	case errors.Is(err, identity.ErrFirstFactorHold):
		return withDetails(status.New(codes.PermissionDenied,
			"the customer recently reported a factor as not hers: a LOW verification binds her no factor for now"),
			&errdetails.ErrorInfo{Reason: ReasonFirstFactorHold, Domain: errorDomain})
	case errors.Is(err, identity.ErrNotice):
		st, _ := status.New(codes.FailedPrecondition, "a first factor needs a notice to the proven contact, and no sender serves its channel").WithDetails(
			&errdetails.ErrorInfo{Reason: ReasonNoticeUnavailable, Domain: errorDomain})
		return &causeError{st: st, cause: err}
	case errors.Is(err, identity.ErrNotFound):
		return status.Error(codes.NotFound, messageIdentityNotFound)
	case errors.Is(err, identity.ErrLinkedElsewhere):
		return withDetails(status.New(codes.FailedPrecondition,
			"the identity is linked already, to another customer or by another client; it must be unlinked first"),
			&errdetails.ErrorInfo{Reason: ReasonIdentityLinkedElsewhere, Domain: errorDomain})
	case errors.Is(err, challenge.ErrHandoverState):
		return failedPrecondition("the verification can take no handover", preconditionState, verificationSubject(verificationID),
			"a handover needs a PENDING verification, or a VERIFIED one that is not revoked")
	case errors.Is(err, challenge.ErrRevoked):
		return withDetails(status.New(codes.FailedPrecondition, "assertion revoked"),
			&errdetails.ErrorInfo{Reason: ReasonAssertionRevoked, Domain: errorDomain})
	case errors.Is(err, policy.ErrUnknownDataClass):
		return badRequest(challenge.Violation{Field: "data_class",
			Description: "is not a data class of the disclosure policy; GetDisclosurePolicy lists them"})
	case errors.Is(err, policy.ErrUnknownChannel):
		return badRequest(challenge.Violation{Field: "channel", Description: "must be a known channel"})
	case errors.Is(err, assertion.ErrInvalid):
		return withDetails(status.New(codes.InvalidArgument, "assertion invalid"),
			&errdetails.ErrorInfo{Reason: ReasonAssertionInvalid, Domain: errorDomain,
				Metadata: map[string]string{"check": assertionCheck(err)}})
	}
	return &causeError{st: status.New(codes.Internal, "internal error"), cause: err}
}

// handoverStatus maps the errors of a handover's redemption or lookup: the
// handover's own refusals, "handover not found" for an unknown code, another
// client's handover or a verifier that does not match (alike), and toStatus for
// the rest. The refusals never say whose handover it is.
func handoverStatus(ctx context.Context, err error) error {
	var le *challenge.CallLimitError
	refusal := func(c codes.Code, msg, reason string) error {
		return withDetails(status.New(c, msg), &errdetails.ErrorInfo{Reason: reason, Domain: errorDomain})
	}
	switch {
	case ctx.Err() != nil || errors.Is(err, challenge.ErrUnavailable):
		return toStatus(ctx, err, "")
	case errors.Is(err, challenge.ErrNotFound):
		return status.Error(codes.NotFound, "handover not found")
	case errors.Is(err, challenge.ErrHandoverUsed):
		return refusal(codes.FailedPrecondition, "handover already redeemed", ReasonHandoverUsed)
	case errors.Is(err, challenge.ErrHandoverExpired):
		return refusal(codes.FailedPrecondition, "handover expired", ReasonHandoverExpired)
	case errors.Is(err, challenge.ErrHandoverUnbound):
		return refusal(codes.FailedPrecondition, "handover code not bound to the customer's browser", ReasonHandoverUnbound)
	case errors.Is(err, challenge.ErrHandoverRevoked):
		return refusal(codes.FailedPrecondition, "handover revoked", ReasonHandoverRevoked)
	case errors.Is(err, challenge.ErrHandoverClient):
		return refusal(codes.PermissionDenied, "this client does not redeem this handover", ReasonHandoverClient)
	case errors.As(err, &le):
		return withDetails(status.New(codes.ResourceExhausted, "too many wrong call codes; retry after the window"),
			&errdetails.ErrorInfo{Reason: ReasonCallCodeLimit, Domain: errorDomain, Metadata: map[string]string{"scope": le.Scope}},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(le.RetryAfter.Round(time.Second))})
	}
	return toStatus(ctx, err, "")
}

// messageStatus is the answer to a request the codec refused (see codec.go):
// RESOURCE_EXHAUSTED with reason MESSAGE_TOO_LARGE and the limit for one too
// large, INVALID_ARGUMENT with a BadRequest for one that does not decode. The
// message and details are fixed or name a field path, never request contents;
// e itself (sizes, the field) goes to the log.
func messageStatus(e *messageError) error {
	var err error
	switch {
	case e.fault == faultTooLarge:
		err = withDetails(status.New(codes.ResourceExhausted, "request message too large"),
			&errdetails.ErrorInfo{Reason: ReasonMessageTooLarge, Domain: errorDomain,
				Metadata: map[string]string{"max_bytes": strconv.Itoa(e.limit)}})
	case e.fault == faultInvalidUTF8 && e.field != "":
		err = badRequest(challenge.Violation{Field: e.field, Description: "must be valid UTF-8"})
	case e.fault == faultInvalidUTF8:
		err = withDetails(status.New(codes.InvalidArgument, "invalid request: a string field is not valid UTF-8"),
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Description: "a string field is not valid UTF-8"}}})
	default:
		err = withDetails(status.New(codes.InvalidArgument, "invalid request: not a valid protobuf message"),
			&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Description: "the request is not a valid protobuf encoding of its message"}}})
	}
	return &causeError{st: status.Convert(err), cause: e}
}

// errClientOverloaded is the answer to a call beyond the calling client's
// concurrency limit (streams: its limit of open watches). It is not a domain error:
// the limiter answers it before any handler runs.
func errClientOverloaded(streams bool) error {
	msg := "too many calls in flight for this client; retry shortly"
	if streams {
		msg = "too many open watches for this client; close one or retry later"
	}
	return withDetails(status.New(codes.ResourceExhausted, msg),
		&errdetails.ErrorInfo{Reason: ReasonClientOverloaded, Domain: errorDomain},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(overloadedRetry)})
}

// errHealthWatchLimit is the answer to a grpc.health.v1 Watch beyond the
// server's bound of open health watches. Like errClientOverloaded, the limiter
// answers it before any handler runs.
func errHealthWatchLimit() error {
	return withDetails(status.New(codes.ResourceExhausted, "too many health watches open on this server; use Check or retry later"),
		&errdetails.ErrorInfo{Reason: ReasonHealthWatchLimit, Domain: errorDomain},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(healthWatchRetry)})
}

// errNotAllowed is the answer to a call its client's grants do not cover. It is
// not a domain error: the authorization interceptor answers it before any handler
// runs. metadata holds only the caller's own input (a method, scope or data
// class name), never what the client is allowed.
func errNotAllowed(reason string, metadata map[string]string) error {
	msg := "not allowed for this client"
	switch reason {
	case ReasonRPCNotAllowed:
		msg = "this client may not call this method"
	case ReasonAudienceNotAllowed:
		msg = "this client may not name this audience"
	case ReasonScopeNotAllowed:
		msg = "this client may not name this scope"
	case ReasonDataClassNotAllowed:
		msg = "this client may not ask about this data class"
	case ReasonGrantRequired:
		msg = "this client lacks the grant this method needs"
	}
	return withDetails(status.New(codes.PermissionDenied, msg),
		&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain, Metadata: metadata})
}

// errNoVerification is the answer to a LinkIdentity or CreateEnrollmentLink that
// neither the client's grants nor a recent verification allow. It is the same
// for a missing, unknown, foreign, unverified, mismatched, revoked or stale
// verification, so it tells nothing about another client's verifications.
func errNoVerification() error {
	return withDetails(status.New(codes.PermissionDenied,
		"verification_id must name a VERIFIED verification of this customer by this client within the enrollment window"),
		&errdetails.ErrorInfo{Reason: ReasonVerificationRequired, Domain: errorDomain})
}

// badRequest answers INVALID_ARGUMENT with one field violation per problem. The
// message names the first; descriptions never quote the request.
func badRequest(vs ...challenge.Violation) error {
	msg := "invalid request"
	if len(vs) > 0 {
		msg = "invalid " + vs[0].Field + ": " + vs[0].Description
		if len(vs) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(vs)-1)
		}
	}
	br := &errdetails.BadRequest{}
	for _, v := range vs {
		br.FieldViolations = append(br.FieldViolations,
			&errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
	}
	return withDetails(status.New(codes.InvalidArgument, msg), br)
}

func failedPrecondition(msg, typ, subject, desc string) error {
	return withDetails(status.New(codes.FailedPrecondition, msg), &errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: typ, Subject: subject, Description: desc}},
	})
}

func verificationSubject(id string) string {
	if id == "" {
		return "verification"
	}
	return "verification:" + id
}

func idMetadata(id string) map[string]string {
	if id == "" {
		return nil
	}
	return map[string]string{"verification_id": id}
}

func levelName(l assurance.Level) string {
	if !l.Valid() {
		return "the requested level"
	}
	return strings.ToUpper(l.String())
}

// noMethodAdvice says what would let a customer reach a level. It depends only
// on the level, never on what the customer has or whether she exists.
func noMethodAdvice(l assurance.Level) string {
	switch l {
	case assurance.High:
		return "ask the customer to enroll a passkey"
	case assurance.Substantial:
		return "ask the customer to enroll an authenticator app or a passkey"
	}
	return "offer a method with a destination on file"
}

// assertionCheck names the check an assertion failed, for ErrorInfo metadata.
// The specific sentinels come before ErrClaims, which ErrIssuer and ErrAudience wrap.
func assertionCheck(err error) string {
	checks := []struct {
		err  error
		name string
	}{
		{assertion.ErrTooLarge, "size"},
		{assertion.ErrMalformed, "format"},
		{assertion.ErrAlgorithm, "algorithm"},
		{assertion.ErrType, "type"},
		{assertion.ErrForbiddenHeader, "header"},
		{assertion.ErrUnknownKey, "key"},
		{assertion.ErrSignature, "signature"},
		{assertion.ErrExpired, "expired"},
		{assertion.ErrNotYetValid, "not_yet_valid"},
		{assertion.ErrIssuer, "issuer"},
		{assertion.ErrAudience, "audience"},
		{assertion.ErrClaims, "claims"},
	}
	for _, c := range checks {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "invalid"
}
