package grpcapi

import (
	"context"
	"errors"
	"math"
	"time"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/identity"
)

// The adapter serves exactly the generated interface.
var _ authsvcv1.EnrollmentServiceServer = (*enrollmentService)(nil)

// enrollmentService serves authsvc.v1.EnrollmentService over Identities. A
// LinkIdentity or CreateEnrollmentLink of a client without the matching grant
// must be proven by a recent verification of the same client, read through v.
type enrollmentService struct {
	authsvcv1.UnimplementedEnrollmentServiceServer
	ids    Identities
	v      Verifications
	now    func() time.Time
	window time.Duration
}

// errVerificationRequired is the one answer to a LinkIdentity or
// CreateEnrollmentLink that neither a grant nor its verification_id allows: an
// unknown id, another client's, one not VERIFIED, of another customer or
// identity, revoked or too old all look the same (toStatus maps it).
var errVerificationRequired = errors.New("grpcapi: a recent verification is required")

// proof is what a verification must show to allow an enrollment.
type proof struct {
	customerID string
	// network and userID, when set, must be the verification's identity.
	network, userID string
}

// prove returns nil when verification id of client is VERIFIED for p, not
// revoked, and verified within the enrollment window; errVerificationRequired
// when it is not (or does not exist for this client); a store failure as is.
func (s *enrollmentService) prove(ctx context.Context, client, id string, p proof) error {
	if id == "" {
		return errVerificationRequired
	}
	v, err := s.v.Get(ctx, client, id)
	if errors.Is(err, challenge.ErrNotFound) {
		return errVerificationRequired
	}
	if err != nil {
		return err
	}
	switch {
	case v.State != challenge.Verified, v.Revoked, v.CustomerID == "", v.CustomerID != p.customerID,
		p.network != "" && (v.Network != p.network || v.UserID != p.userID),
		s.now().Sub(v.VerifiedAt) > s.window:
		return errVerificationRequired
	}
	setVerificationID(ctx, v.ID)
	return nil
}

// enrollmentProof is the proof verification id of client gives for an enrollment
// of customer: VERIFIED, standing, of that customer, within the enrollment window;
// errVerificationRequired otherwise. dest, when set, must be the contact a LOW
// verification proved (a field violation otherwise).
func (s *enrollmentService) enrollmentProof(ctx context.Context, client, id, customer string, dest *challenge.Destination) (*identity.Proof, error) {
	if id == "" {
		return nil, errVerificationRequired
	}
	p, err := s.v.Proof(ctx, client, id, dest)
	if errors.Is(err, challenge.ErrNotFound) {
		return nil, errVerificationRequired
	}
	if err != nil {
		return nil, err
	}
	if p.CustomerID == "" || p.CustomerID != customer || s.now().Sub(p.VerifiedAt) > s.window {
		return nil, errVerificationRequired
	}
	setVerificationID(ctx, p.VerificationID)
	out := &identity.Proof{VerificationID: p.VerificationID, Level: p.Level, Binding: p.Binding, FactorClient: p.FactorClient}
	if dest != nil && p.Level == assurance.Low {
		if !p.ContactProven {
			return nil, &challenge.ValidationError{Violations: []challenge.Violation{{Field: "destination",
				Description: "is not the contact the verification sent its code or link to"}}}
		}
		ch := delivery.Email
		if dest.Kind == challenge.Phone {
			ch = delivery.SMS
		}
		out.Contact = &identity.Contact{Channel: ch, To: dest.Value}
	}
	return out, nil
}

// linkScope is whose links client c may act on: every client's with may_link
// (the operator trusts it to link any identity to any customer), else its own.
//
// A client without may_link proves a link request with a verification of its own,
// and a client is trusted to name the customer of its own verifications only: it
// picks the identity and the destination, so it can verify any customer id with
// its own social account and mailbox. Such a "proof" must not reach beyond the
// client: it lists, removes and makes only its own links, and its links count
// only for the clients that trust it (package challenge resolves a link for a
// start only when the starting client trusts the client that made it).
func linkScope(c Client) identity.Scope {
	if c.MayLink {
		return identity.AnyLinks
	}
	return identity.OwnLinks
}

// LinkIdentity links an identity as the caller's link. An identity already linked
// to another customer, or by another client to this one, answers
// FAILED_PRECONDITION / IDENTITY_LINKED_ELSEWHERE, the same for both so that the
// answer never says which customer holds it; a client with may_link takes another
// client's link to the same customer over instead.
func (s *enrollmentService) LinkIdentity(ctx context.Context, r *authsvcv1.LinkIdentityRequest) (*authsvcv1.LinkIdentityResponse, error) {
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey()
	}
	if err := checkLinkIdentity(r); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	customer, id := r.GetCustomerId(), r.GetIdentity()
	if !c.MayLink {
		p := proof{customerID: customer, network: id.GetNetwork(), userID: id.GetUserId()}
		if err := s.prove(ctx, c.ID, r.GetVerificationId(), p); err != nil {
			return nil, toStatus(ctx, err, "")
		}
	}
	l, err := s.ids.Link(ctx, c.ID, customer, id.GetNetwork(), id.GetUserId(), linkScope(c))
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	return &authsvcv1.LinkIdentityResponse{Identity: linkedToProto(l)}, nil
}

// UnlinkIdentity removes a link: a client with may_link any link, or one that
// verified the customer recently (through any of her identities: she may be
// dropping an account she no longer controls) only a link it made itself. Without
// the proof, a client could break links at will; without the scope, a proof it
// made for any customer with its own mailbox would break other clients' links. A
// link of another client answers NOT_FOUND, exactly like no link: PERMISSION_DENIED
// would tell a client that holds no real proof that the identity is linked to this
// customer.
func (s *enrollmentService) UnlinkIdentity(ctx context.Context, r *authsvcv1.UnlinkIdentityRequest) (*authsvcv1.UnlinkIdentityResponse, error) {
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey()
	}
	if err := checkUnlinkIdentity(r); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	if !c.MayLink {
		if err := s.prove(ctx, c.ID, r.GetVerificationId(), proof{customerID: r.GetCustomerId()}); err != nil {
			return nil, toStatus(ctx, err, "")
		}
	}
	id := r.GetIdentity()
	if err := s.ids.Unlink(ctx, c.ID, r.GetCustomerId(), id.GetNetwork(), id.GetUserId(), linkScope(c)); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	return &authsvcv1.UnlinkIdentityResponse{}, nil
}

// ListIdentities lists a customer's links on the same proof as UnlinkIdentity:
// the networks and user ids linked to a customer are not every client's to read.
// A client with may_link reads every client's links, another only the links it
// made itself (as UnlinkIdentity removes only those): its proof is a verification
// it made, which shows only that it named this customer, not that she is here.
func (s *enrollmentService) ListIdentities(ctx context.Context, r *authsvcv1.ListIdentitiesRequest) (*authsvcv1.ListIdentitiesResponse, error) {
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey()
	}
	if err := checkListIdentities(r); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	if !c.MayLink {
		if err := s.prove(ctx, c.ID, r.GetVerificationId(), proof{customerID: r.GetCustomerId()}); err != nil {
			return nil, toStatus(ctx, err, "")
		}
	}
	links, err := s.ids.Identities(ctx, r.GetCustomerId())
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	out := &authsvcv1.ListIdentitiesResponse{Identities: make([]*authsvcv1.LinkedIdentity, 0, len(links))}
	scope := linkScope(c)
	for _, l := range links {
		if scope == identity.OwnLinks && l.Client != c.ID {
			continue
		}
		out.Identities = append(out.Identities, linkedToProto(l))
	}
	return out, nil
}

// CreateEnrollmentLink makes an enrollment link. A client without the may_enroll
// grant proves it with a recent verification of the customer (the binding rule
// itself is package identity's: see identity.Proof); the link then works only in
// the browser that completed that verification.
func (s *enrollmentService) CreateEnrollmentLink(ctx context.Context, r *authsvcv1.CreateEnrollmentLinkRequest) (*authsvcv1.CreateEnrollmentLinkResponse, error) {
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey()
	}
	kind, dest, err := checkCreateEnrollmentLink(r)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	var proof *identity.Proof
	if !c.MayEnroll {
		if proof, err = s.enrollmentProof(ctx, c.ID, r.GetVerificationId(), r.GetCustomerId(), dest); err != nil {
			return nil, toStatus(ctx, err, "")
		}
	}
	pageURL, e, err := s.ids.CreateEnrollment(ctx, c.ID, r.GetCustomerId(), kind, r.GetLocale(), proof)
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	res := &authsvcv1.CreateEnrollmentLinkResponse{EnrollmentUrl: pageURL, ExpireTime: timestamp(e.Expires)}
	if e.Bound {
		// Only a link that works in the customer's browser alone is for the DM. A
		// may_enroll link is a bearer link: whoever reads the DM could race her to it.
		res.DmText = enrollmentDMText(r.GetLocale(), kind, pageURL, e.Expires.Sub(e.Created))
	}
	return res, nil
}

func (s *enrollmentService) ListFactors(ctx context.Context, r *authsvcv1.ListFactorsRequest) (*authsvcv1.ListFactorsResponse, error) {
	if _, err := caller(ctx); err != nil {
		return nil, err
	}
	if err := checkCustomerID(r.GetCustomerId()); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	factors, err := s.ids.Factors(ctx, r.GetCustomerId())
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	out := &authsvcv1.ListFactorsResponse{Factors: make([]*authsvcv1.Factor, 0, len(factors))}
	for _, f := range factors {
		out.Factors = append(out.Factors, factorToProto(f))
	}
	return out, nil
}

// RemoveFactor needs the may_enroll grant; the authorization interceptor has
// checked it before this runs.
func (s *enrollmentService) RemoveFactor(ctx context.Context, r *authsvcv1.RemoveFactorRequest) (*authsvcv1.RemoveFactorResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkRemoveFactor(r); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	if err := s.ids.RemoveFactor(ctx, client, r.GetCustomerId(), r.GetFactorId()); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	return &authsvcv1.RemoveFactorResponse{}, nil
}

// EraseCustomer needs the may_erase grant; the authorization interceptor has
// checked it before this runs. Erasing an unknown customer answers zero counts,
// exactly like erasing one that was erased already.
func (s *enrollmentService) EraseCustomer(ctx context.Context, r *authsvcv1.EraseCustomerRequest) (*authsvcv1.EraseCustomerResponse, error) {
	client, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkCustomerID(r.GetCustomerId()); err != nil {
		return nil, toStatus(ctx, err, "")
	}
	e, err := s.ids.Erase(ctx, client, r.GetCustomerId())
	if err != nil {
		return nil, toStatus(ctx, err, "")
	}
	return &authsvcv1.EraseCustomerResponse{
		Identities:      count32(e.Identities),
		Factors:         count32(e.Factors),
		Verifications:   count32(e.Verifications),
		EnrollmentLinks: count32(e.EnrollmentLinks),
	}, nil
}

// count32 is a count as the API's int32, saturated (no customer comes near).
func count32(n int) int32 {
	return int32(min(n, math.MaxInt32))
}
