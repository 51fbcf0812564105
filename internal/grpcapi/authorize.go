package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// authorizeUnary refuses a call its client's grants do not cover: an RPC not in
// rpcs, an audience, scope or data class the client may not name, a RemoveFactor
// without may_enroll, an EraseCustomer without may_erase, or a LinkIdentity or
// CreateEnrollmentLink with neither its grant nor a verification_id. It runs right
// after authentication, so a refused call reaches neither the limiter nor a
// handler, nor the domain or Redis.
func authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return handler(ctx, req)
	}
	c, ok := clientFrom(ctx)
	if !ok {
		return nil, errAPIKey()
	}
	if err := c.perms.authorize(info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// authorizeStream refuses a stream whose RPC the client may not call. The only
// stream, WatchVerification, names no audience, scope or data class.
func authorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return handler(srv, ss)
	}
	c, ok := clientFrom(ss.Context())
	if !ok {
		return errAPIKey()
	}
	if err := c.perms.authorize(info.FullMethod, nil); err != nil {
		return err
	}
	return handler(srv, ss)
}

// authorize returns nil when p allows a call of fullMethod with req (nil for a
// stream), else the PERMISSION_DENIED status to answer. A nil p allows nothing.
//
// A value that is empty or longer than its field allows is left alone: the
// handler's validation refuses it as INVALID_ARGUMENT before the domain sees it,
// and ErrorInfo metadata never carries an oversized value.
func (p *permissions) authorize(fullMethod string, req any) error {
	if p == nil || !p.rpcs.allows(fullMethod) {
		return errNotAllowed(ReasonRPCNotAllowed, map[string]string{"method": shortName(fullMethod)})
	}
	switch r := req.(type) {
	case *authsvcv1.StartVerificationRequest:
		if !permits(p.audiences, r.GetAudience(), maxAudience) {
			return errNotAllowed(ReasonAudienceNotAllowed, nil)
		}
		for _, s := range r.GetScopes() {
			if !permits(p.scopes, s, maxScope) {
				return errNotAllowed(ReasonScopeNotAllowed, map[string]string{"scope": s})
			}
		}
	case *authsvcv1.VerifyAssertionRequest:
		if !permits(p.audiences, r.GetAudience(), maxAudience) {
			return errNotAllowed(ReasonAudienceNotAllowed, nil)
		}
	case *authsvcv1.AuthorizeDisclosureRequest:
		if !permits(p.audiences, r.GetAudience(), maxAudience) {
			return errNotAllowed(ReasonAudienceNotAllowed, nil)
		}
		if !permits(p.dataClasses, r.GetDataClass(), maxDataClass) {
			return errNotAllowed(ReasonDataClassNotAllowed, map[string]string{"data_class": r.GetDataClass()})
		}
	// Without the grant, the handler checks the named verification (a Redis
	// read); without one, there is nothing to check.
	case *authsvcv1.LinkIdentityRequest:
		if !p.mayLink && r.GetVerificationId() == "" {
			return errNoVerification()
		}
	case *authsvcv1.CreateEnrollmentLinkRequest:
		if !p.mayEnroll && r.GetVerificationId() == "" {
			return errNoVerification()
		}
	case *authsvcv1.RemoveFactorRequest:
		if !p.mayEnroll {
			return errNotAllowed(ReasonGrantRequired, map[string]string{"grant": "may_enroll"})
		}
	case *authsvcv1.EraseCustomerRequest:
		if !p.mayErase {
			return errNotAllowed(ReasonGrantRequired, map[string]string{"grant": "may_erase"})
		}
	}
	return nil
}

// permits reports whether a allows v, or v is empty or longer than maxLen and so
// left to validation.
func permits(a allowList, v string, maxLen int) bool {
	return v == "" || len(v) > maxLen || a.allows(v)
}
