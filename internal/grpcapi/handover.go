package grpcapi

import (
	"context"
	"strings"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
)

// Handovers is the handover lifecycle HandoverService serves (implemented by
// *challenge.Service). Unknown and other clients' handovers are
// challenge.ErrNotFound; store failures wrap challenge.ErrUnavailable.
type Handovers interface {
	// CreateHandover offers a handover on a PENDING or VERIFIED verification of
	// r.ClientID; a repeated request id returns the same handover.
	CreateHandover(ctx context.Context, r challenge.HandoverRequest) (*challenge.Handover, error)
	// GetHandover returns a handover clientID created.
	GetHandover(ctx context.Context, clientID, id string) (*challenge.Handover, error)
	// RedeemHandover redeems a bound secure-channel code, once, for the PKCE
	// challenge of the verifier presented.
	RedeemHandover(ctx context.Context, clientID, code, challenge string) (*challenge.Redemption, error)
	// RedeemCallCode redeems a call code's digits, once, within the failure
	// limits of the caller callerRef names ("" for none) and of the client.
	RedeemCallCode(ctx context.Context, clientID, digits, callerRef string) (*challenge.Redemption, error)
}

// WithHandovers adds HandoverService over h, with the deployment's channels and
// phone line in reg.
func WithHandovers(h Handovers, reg *handover.Registry) Option {
	return func(o *options) { o.handovers, o.channels = h, reg }
}

// handoverService serves authsvc.v1.HandoverService: validate, one domain call, map.
type handoverService struct {
	authsvcv1.UnimplementedHandoverServiceServer
	h        Handovers
	channels *handover.Registry
}

// maxCaseReference bounds CreateHandoverRequest.case_reference.
const maxCaseReference = 64

// maxCallerRef bounds RedeemCallCodeRequest.caller_ref.
const maxCallerRef = 128

// validCallerRef reports whether ref is a caller reference: 1 to maxCallerRef
// characters of printable ASCII without spaces.
func validCallerRef(ref string) bool {
	if ref == "" || len(ref) > maxCallerRef {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] <= ' ' || ref[i] > '~' {
			return false
		}
	}
	return true
}

func (s *handoverService) CreateHandover(ctx context.Context, r *authsvcv1.CreateHandoverRequest) (*authsvcv1.CreateHandoverResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	req, err := s.createRequest(client, r)
	if err != nil {
		return nil, toStatus(ctx, err, r.GetVerificationId())
	}
	setVerificationID(ctx, req.VerificationID)
	h, err := s.h.CreateHandover(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, err, req.VerificationID)
	}
	return &authsvcv1.CreateHandoverResponse{Handover: handoverToProto(h)}, nil
}

// createRequest checks a CreateHandoverRequest and resolves its target with the
// deployment's channels.
func (s *handoverService) createRequest(client string, r *authsvcv1.CreateHandoverRequest) (challenge.HandoverRequest, error) {
	var vs violations
	vs.verificationID(r.GetVerificationId())
	vs.text("case_reference", r.GetCaseReference(), false, maxCaseReference)
	if ref := r.GetCaseReference(); ref != "" && strings.ContainsFunc(ref, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		vs.add("case_reference", "must be printable text")
	}
	vs.text("request_id", r.GetRequestId(), false, maxRequestID)
	out := challenge.HandoverRequest{ClientID: client, VerificationID: r.GetVerificationId(),
		CaseReference: r.GetCaseReference(), RequestID: r.GetRequestId()}
	switch t := r.GetTarget().(type) {
	case *authsvcv1.CreateHandoverRequest_SecureChannel:
		id := t.SecureChannel.GetChannelId()
		vs.text("secure_channel.channel_id", id, true, 32)
		if ch := s.channels.Channel(id); ch != nil {
			out.Kind, out.Channel, out.Redeemer = challenge.HandoverSecureChannel, ch.ID, ch.Client
		} else if id != "" {
			vs.add("secure_channel.channel_id", "is not a channel of this deployment")
		}
	case *authsvcv1.CreateHandoverRequest_Phone:
		if p := s.channels.Phone(); p != nil {
			out.Kind, out.Redeemer = challenge.HandoverPhone, p.Client
		} else {
			vs.add("phone", "this deployment has no phone line configured")
		}
	default:
		vs.add("target", "set secure_channel or phone")
	}
	return out, vs.err()
}

func (s *handoverService) GetHandover(ctx context.Context, r *authsvcv1.GetHandoverRequest) (*authsvcv1.GetHandoverResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var vs violations
	vs.text("handover_id", r.GetHandoverId(), true, maxVerificationID)
	if err := vs.err(); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	h, err := s.h.GetHandover(ctx, client, r.GetHandoverId())
	if err != nil {
		return nil, handoverStatus(ctx, err)
	}
	setVerificationID(ctx, h.VerificationID)
	return &authsvcv1.GetHandoverResponse{Handover: handoverToProto(h)}, nil
}

func (s *handoverService) RedeemHandover(ctx context.Context, r *authsvcv1.RedeemHandoverRequest) (*authsvcv1.RedeemHandoverResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var vs violations
	if _, _, ok := challenge.SplitHandoverCode(r.GetCode()); !ok {
		vs.text("code", r.GetCode(), true, 128)
		if r.GetCode() != "" {
			vs.add("code", "is not a handover code")
		}
	}
	if !handover.ValidVerifier(r.GetCodeVerifier()) {
		vs.add("code_verifier", "must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)")
	}
	if err := vs.err(); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	red, err := s.h.RedeemHandover(ctx, client, r.GetCode(), handover.Challenge(r.GetCodeVerifier()))
	if err != nil {
		return nil, handoverStatus(ctx, err)
	}
	setVerificationID(ctx, red.VerificationID)
	return &authsvcv1.RedeemHandoverResponse{Context: redemptionToProto(red)}, nil
}

func (s *handoverService) RedeemCallCode(ctx context.Context, r *authsvcv1.RedeemCallCodeRequest) (*authsvcv1.RedeemCallCodeResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var vs violations
	digits, ok := handover.NormalizeCallCode(r.GetCallCode())
	if !ok {
		vs.add("call_code", "must be %d digits (spaces and dashes are ignored)", handover.CallCodeDigits)
	}
	if ref := r.GetCallerRef(); ref != "" && !validCallerRef(ref) {
		vs.add("caller_ref", "must be 1 to %d characters of printable ASCII without spaces", maxCallerRef)
	}
	if err := vs.err(); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	red, err := s.h.RedeemCallCode(ctx, client, digits, r.GetCallerRef())
	if err != nil {
		return nil, handoverStatus(ctx, err)
	}
	setVerificationID(ctx, red.VerificationID)
	return &authsvcv1.RedeemCallCodeResponse{Context: redemptionToProto(red)}, nil
}

func handoverKindToProto(k challenge.HandoverKind) authsvcv1.HandoverKind {
	switch k {
	case challenge.HandoverSecureChannel:
		return authsvcv1.HandoverKind_HANDOVER_KIND_SECURE_CHANNEL
	case challenge.HandoverPhone:
		return authsvcv1.HandoverKind_HANDOVER_KIND_PHONE
	}
	return authsvcv1.HandoverKind_HANDOVER_KIND_UNSPECIFIED
}

func handoverToProto(h *challenge.Handover) *authsvcv1.Handover {
	return &authsvcv1.Handover{HandoverId: h.ID, VerificationId: h.VerificationID, Kind: handoverKindToProto(h.Kind),
		State: authsvcv1.HandoverState(h.State), ChannelId: h.Channel, ExpireTime: timestamp(h.Expires)}
}

// Assurance notes: what a phone agent's screen says, plainly.
const (
	noteVerified   = "verified digitally; the assertion states the level and when"
	noteUnverified = "NOT verified digitally: this is the case context only; run your own identity checks"
)

func redemptionToProto(r *challenge.Redemption) *authsvcv1.HandoverContext {
	out := &authsvcv1.HandoverContext{HandoverId: r.HandoverID, Kind: handoverKindToProto(r.Kind),
		VerificationId: r.VerificationID, Verified: r.Verified, ConversationId: r.ConversationID,
		AgentId: r.AgentID, CaseReference: r.CaseReference, AssuranceNote: noteUnverified}
	if !r.Verified {
		return out
	}
	out.AssuranceNote = noteVerified
	out.Identity = &authsvcv1.SocialIdentity{Network: r.Network, UserId: r.UserID}
	out.CustomerId = r.CustomerID
	out.AssuranceLevel = levelToProto(r.Level)
	out.Amr = r.AMR
	out.VerifyTime = timestamp(r.VerifiedAt)
	if a := r.Assertion; a != nil {
		out.Assertion = &authsvcv1.Assertion{Token: a.Token, AssertionId: a.ID, ExpireTime: timestamp(a.Expires)}
	}
	return out
}
