package grpcapi

import (
	"context"
	"errors"
	"strings"
	"time"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/policy"
)

// The adapters serve exactly the generated interfaces.
var (
	_ authsvcv1.VerificationServiceServer = (*verificationService)(nil)
	_ authsvcv1.AssertionServiceServer    = (*assertionService)(nil)
)

// verificationService serves authsvc.v1.VerificationService over Verifications.
type verificationService struct {
	authsvcv1.UnimplementedVerificationServiceServer
	v Verifications
}

// caller returns the authenticated client's id. The auth interceptor guarantees
// one; without it the call is refused rather than run for nobody.
func caller(ctx context.Context) (string, error) {
	c, ok := clientFrom(ctx)
	if !ok {
		return "", errAPIKey()
	}
	return c.ID, nil
}

func (s *verificationService) StartVerification(ctx context.Context, r *authsvcv1.StartVerificationRequest) (*authsvcv1.StartVerificationResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	req, err := startRequest(client, r)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	res, err := s.v.Start(ctx, req)
	if res != nil && res.Verification != nil {
		setVerificationID(ctx, res.Verification.ID)
	}
	if err != nil {
		var se *challenge.SendError
		if errors.As(err, &se) {
			setVerificationID(ctx, se.VerificationID)
		}
		return nil, toStatus(ctx, err, "")
	}
	return &authsvcv1.StartVerificationResponse{
		Verification: verificationToProto(res.Verification),
		CustomerUrl:  res.PageURL,
		MatchNumber:  res.MatchNumber,
		DmText:       res.DMText,
	}, nil
}

func (s *verificationService) GetVerification(ctx context.Context, r *authsvcv1.GetVerificationRequest) (*authsvcv1.GetVerificationResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := r.GetVerificationId()
	if err := checkVerificationID(id); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	v, err := s.v.Get(ctx, client, id)
	if err != nil {
		return nil, toStatus(ctx, err, id)
	}
	setVerificationID(ctx, v.ID)
	return &authsvcv1.GetVerificationResponse{Verification: verificationToProto(v)}, nil
}

func (s *verificationService) WatchVerification(r *authsvcv1.WatchVerificationRequest, stream authsvcv1.VerificationService_WatchVerificationServer) error {
	ctx := stream.Context()
	client, err := caller(ctx)
	if err != nil {
		return err
	}
	id := r.GetVerificationId()
	if err := checkVerificationID(id); err != nil {
		return toStatus(ctx, err, "")
	}
	var sendErr error
	err = s.v.Watch(ctx, client, id, func(v *challenge.Verification) error {
		setVerificationID(ctx, v.ID)
		sendErr = stream.Send(&authsvcv1.WatchVerificationResponse{Verification: verificationToProto(v)})
		return sendErr
	})
	if err != nil && sendErr != nil && errors.Is(err, sendErr) {
		// The stream broke: the transport's own status says why.
		return sendErr
	}
	return toStatus(ctx, err, id)
}

func (s *verificationService) ResendVerification(ctx context.Context, r *authsvcv1.ResendVerificationRequest) (*authsvcv1.ResendVerificationResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	req, err := resendRequest(client, r)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	v, match, err := s.v.Resend(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, err, req.ID)
	}
	setVerificationID(ctx, v.ID)
	return &authsvcv1.ResendVerificationResponse{Verification: verificationToProto(v), MatchNumber: match}, nil
}

func (s *verificationService) CancelVerification(ctx context.Context, r *authsvcv1.CancelVerificationRequest) (*authsvcv1.CancelVerificationResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkCancel(r); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	v, err := s.v.Cancel(ctx, client, r.GetVerificationId(), r.GetRequestId())
	if err != nil {
		return nil, toStatus(ctx, err, r.GetVerificationId())
	}
	setVerificationID(ctx, v.ID)
	return &authsvcv1.CancelVerificationResponse{Verification: verificationToProto(v)}, nil
}

// assertionService serves authsvc.v1.AssertionService.
type assertionService struct {
	authsvcv1.UnimplementedAssertionServiceServer
	a      Assertions
	r      Revocations
	d      Disclosures
	now    func() time.Time
	issuer string
}

func (s *assertionService) GetJwks(ctx context.Context, _ *authsvcv1.GetJwksRequest) (*authsvcv1.GetJwksResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	keys := s.a.PublicKeys()
	out := &authsvcv1.GetJwksResponse{Keys: make([]*authsvcv1.JsonWebKey, 0, len(keys)), JwksJson: string(s.a.JWKS())}
	for _, k := range keys {
		out.Keys = append(out.Keys, publicKeyToProto(k))
	}
	return out, nil
}

// VerifyAssertion checks the token locally, then asks whether its verification
// still stands: a valid but revoked assertion is FAILED_PRECONDITION.
func (s *assertionService) VerifyAssertion(ctx context.Context, r *authsvcv1.VerifyAssertionRequest) (*authsvcv1.VerifyAssertionResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	if err := checkVerifyAssertion(r); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	claims, err := s.verify(ctx, r.GetAssertion(), r.GetAudience())
	if err != nil {
		return nil, err
	}
	return &authsvcv1.VerifyAssertionResponse{Claims: claimsToProto(claims, s.issuer)}, nil
}

// verify checks token for audience locally, then asks whether its verification
// still stands: one Redis read. Its errors are gRPC statuses.
func (s *assertionService) verify(ctx context.Context, token, audience string) (assertion.Claims, error) {
	claims, err := s.a.Verify(token, audience)
	if err != nil {
		return assertion.Claims{}, toStatus(ctx, err, "")
	}
	setVerificationID(ctx, claims.VerificationID)
	if err := s.r.CheckAssertion(ctx, challenge.GrantOf(claims)); err != nil {
		return assertion.Claims{}, toStatus(ctx, err, claims.VerificationID)
	}
	return claims, nil
}

// AuthorizeDisclosure verifies the assertion locally as VerifyAssertion does,
// asks the policy, then checks revocation and records the decision in the audit
// trail: two Redis round trips (the revocation check, then the event on the
// verification's slot; challenge.Service.RecordDisclosure). A denial is an answer
// (allowed=false), not an error; a revoked assertion is FAILED_PRECONDITION, as
// for VerifyAssertion, and is recorded as a denial. A call refused before any
// Redis work (an assertion that does not verify, a data class the policy does not
// know) records nothing: an untrusted token names no verification whose trail it
// could join, and a forged token must not make authsvc write to Redis.
func (s *assertionService) AuthorizeDisclosure(ctx context.Context, r *authsvcv1.AuthorizeDisclosureRequest) (*authsvcv1.AuthorizeDisclosureResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := checkAuthorizeDisclosure(r)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	claims, err := s.a.Verify(r.GetAssertion(), r.GetAudience())
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	setVerificationID(ctx, claims.VerificationID)
	pc := policy.Claims{Level: claims.Level, AuthTime: claims.AuthTime, ConversationID: claims.ConversationID}
	if claims.Handover != "" {
		// A handed-over assertion is for its channel alone (the policy's
		// ChannelNotAllowed elsewhere). The verifier accepts only hov values that
		// name a channel; any other fails closed.
		var ok bool
		if pc.Handover, ok = policy.ParseChannel(claims.Handover); !ok {
			return nil, toStatus(ctx, assertion.ErrInvalid, "")
		}
	}
	d, err := s.d.Decide(pc, r.GetDataClass(), ch, r.GetConversationId(), s.now())
	if err != nil {
		return nil, toStatus(ctx, err, claims.VerificationID)
	}
	reasons := make([]string, len(d.Denials))
	for i, dn := range d.Denials {
		reasons[i] = dn.String()
	}
	if err := s.r.RecordDisclosure(ctx, challenge.Disclosure{Grant: challenge.GrantOf(claims), ClientID: client,
		DataClass: r.GetDataClass(), Channel: ch.String(), Allowed: d.Allowed, Reason: strings.Join(reasons, ",")}); err != nil {
		return nil, toStatus(ctx, err, claims.VerificationID)
	}
	return decisionToProto(d, claimsToProto(claims, s.issuer)), nil
}

// GetDisclosurePolicy returns the rules in force.
func (s *assertionService) GetDisclosurePolicy(ctx context.Context, _ *authsvcv1.GetDisclosurePolicyRequest) (*authsvcv1.GetDisclosurePolicyResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	rules := s.d.Rules()
	out := &authsvcv1.GetDisclosurePolicyResponse{Rules: make([]*authsvcv1.DisclosureRule, 0, len(rules))}
	for _, r := range rules {
		out.Rules = append(out.Rules, ruleToProto(r))
	}
	return out, nil
}
