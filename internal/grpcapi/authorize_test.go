package grpcapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/redistest"
)

// restrictedGrants: clientA is a care platform that starts verifications for
// audience and scope "orders:read" and may ask about order_status only; clientB
// is a care tool that only checks assertions for audience.
func restrictedGrants() map[string]Grants {
	return map[string]Grants{
		clientA: {
			RPCs:        []string{"StartVerification", "GetVerification", "VerifyAssertion", "AuthorizeDisclosure"},
			Audiences:   []string{audience},
			Scopes:      []string{"orders:read"},
			DataClasses: []string{"order_status"},
		},
		clientB: {
			RPCs:      []string{"VerifyAssertion", "AuthorizeDisclosure", "GetJwks", "GetDisclosurePolicy"},
			Audiences: []string{audience},
		},
	}
}

// TestGrantsRefuse: every call a client's grants do not cover is PERMISSION_DENIED
// with its ErrorInfo reason, and costs no Redis round trip and sends nothing. (Its
// client_denied audit event is written after the answer, on the audit trail's own
// client: see TestRefusedCallsAudited.)
func TestGrantsRefuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: restrictedGrants()})
	v := f.lowAssertion(t, "grants-1")
	sent := len(f.outbox.List())

	startWith := func(mod func(*authsvcv1.StartVerificationRequest)) *authsvcv1.StartVerificationRequest {
		r := validStart("grants-refused")
		mod(r)
		return r
	}
	disclose := func(aud, class string) *authsvcv1.AuthorizeDisclosureRequest {
		return &authsvcv1.AuthorizeDisclosureRequest{Assertion: v.token, Audience: aud, DataClass: class,
			Channel: chDM, ConversationId: v.conversation}
	}
	tests := []struct {
		name     string
		call     func(ctx context.Context) error
		key      string
		reason   string
		metadata map[string]string
	}{
		{"platform may not cancel", func(ctx context.Context) error {
			_, err := f.vc.CancelVerification(ctx, &authsvcv1.CancelVerificationRequest{VerificationId: v.id, RequestId: "c1"})
			return err
		}, keyA, ReasonRPCNotAllowed, map[string]string{"method": "CancelVerification"}},
		{"platform may not fetch the JWKS", func(ctx context.Context) error {
			_, err := f.ac.GetJwks(ctx, &authsvcv1.GetJwksRequest{})
			return err
		}, keyA, ReasonRPCNotAllowed, map[string]string{"method": "GetJwks"}},
		{"tool may not start", func(ctx context.Context) error {
			_, err := f.vc.StartVerification(ctx, validStart("grants-tool"))
			return err
		}, keyB, ReasonRPCNotAllowed, map[string]string{"method": "StartVerification"}},
		{"tool may not get", func(ctx context.Context) error {
			_, err := f.vc.GetVerification(ctx, &authsvcv1.GetVerificationRequest{VerificationId: v.id})
			return err
		}, keyB, ReasonRPCNotAllowed, map[string]string{"method": "GetVerification"}},
		{"tool may not watch", func(ctx context.Context) error {
			stream, err := f.vc.WatchVerification(ctx, &authsvcv1.WatchVerificationRequest{VerificationId: v.id})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}, keyB, ReasonRPCNotAllowed, map[string]string{"method": "WatchVerification"}},
		{"start for another audience", func(ctx context.Context) error {
			_, err := f.vc.StartVerification(ctx, startWith(func(r *authsvcv1.StartVerificationRequest) { r.Audience = "orders" }))
			return err
		}, keyA, ReasonAudienceNotAllowed, nil},
		{"start for an oversized audience", func(ctx context.Context) error {
			_, err := f.vc.StartVerification(ctx, startWith(func(r *authsvcv1.StartVerificationRequest) {
				r.Audience = audience + strings.Repeat("x", maxAudience-len(audience))
			}))
			return err
		}, keyA, ReasonAudienceNotAllowed, nil},
		{"start with another scope", func(ctx context.Context) error {
			_, err := f.vc.StartVerification(ctx, startWith(func(r *authsvcv1.StartVerificationRequest) {
				r.Scopes = []string{"orders:read", "orders:write", "profile:read"}
			}))
			return err
		}, keyA, ReasonScopeNotAllowed, map[string]string{"scope": "orders:write"}},
		{"verify for another audience", func(ctx context.Context) error {
			_, err := f.ac.VerifyAssertion(ctx, &authsvcv1.VerifyAssertionRequest{Assertion: v.token, Audience: "orders"})
			return err
		}, keyA, ReasonAudienceNotAllowed, nil},
		{"tool verifies for another audience", func(ctx context.Context) error {
			_, err := f.ac.VerifyAssertion(ctx, &authsvcv1.VerifyAssertionRequest{Assertion: v.token, Audience: "crm"})
			return err
		}, keyB, ReasonAudienceNotAllowed, nil},
		{"disclosure for another audience", func(ctx context.Context) error {
			_, err := f.ac.AuthorizeDisclosure(ctx, disclose("orders", "order_status"))
			return err
		}, keyA, ReasonAudienceNotAllowed, nil},
		{"disclosure of another data class", func(ctx context.Context) error {
			_, err := f.ac.AuthorizeDisclosure(ctx, disclose(audience, "shipping_address"))
			return err
		}, keyA, ReasonDataClassNotAllowed, map[string]string{"data_class": "shipping_address"}},
	}
	rtt := redistest.RoundTrips(f.rdb)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rtt.Reset()
			st := wantCode(t, tt.call(as(t, tt.key)), codes.PermissionDenied)
			ei := errorInfo(t, st)
			if ei.GetReason() != tt.reason {
				t.Errorf("reason = %q, want %q", ei.GetReason(), tt.reason)
			}
			if len(ei.GetMetadata()) != len(tt.metadata) {
				t.Errorf("metadata = %v, want %v", ei.GetMetadata(), tt.metadata)
			}
			for k, want := range tt.metadata {
				if got := ei.GetMetadata()[k]; got != want {
					t.Errorf("metadata[%q] = %q, want %q", k, got, want)
				}
			}
			// The answer never says what the client, or another, is allowed.
			for _, secret := range []string{audience, "order_status", "orders:read"} {
				if strings.Contains(st.Message(), secret) || (tt.metadata == nil && strings.Contains(ei.String(), secret)) {
					t.Errorf("answer %q / %v names a grant", st.Message(), ei)
				}
			}
			if n := rtt.Load(); n != 0 {
				t.Errorf("%d Redis round trips for a refused call, want 0", n)
			}
			if n := len(f.outbox.List()); n != sent {
				t.Errorf("%d messages sent for a refused call", n-sent)
			}
		})
	}
}

// TestGrantsAllow: what the grants cover still works, and a malformed value is
// still the validation's INVALID_ARGUMENT rather than a refusal.
func TestGrantsAllow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: restrictedGrants()})
	v := f.lowAssertion(t, "grants-2") // StartVerification and GetVerification as clientA
	for _, key := range []string{keyA, keyB} {
		if _, err := f.ac.VerifyAssertion(as(t, key), &authsvcv1.VerifyAssertionRequest{Assertion: v.token, Audience: audience}); err != nil {
			t.Errorf("VerifyAssertion: %v", err)
		}
		if _, err := f.ac.AuthorizeDisclosure(as(t, key), &authsvcv1.AuthorizeDisclosureRequest{Assertion: v.token,
			Audience: audience, DataClass: "order_status", Channel: chDM, ConversationId: v.conversation}); err != nil {
			t.Errorf("AuthorizeDisclosure: %v", err)
		}
	}
	// clientB lists no data classes: it may ask about every one.
	if _, err := f.ac.AuthorizeDisclosure(as(t, keyB), &authsvcv1.AuthorizeDisclosureRequest{Assertion: v.token,
		Audience: audience, DataClass: "shipping_address", Channel: chDM, ConversationId: v.conversation}); err != nil {
		t.Errorf("AuthorizeDisclosure shipping_address: %v", err)
	}
	if _, err := f.ac.GetJwks(as(t, keyB), &authsvcv1.GetJwksRequest{}); err != nil {
		t.Errorf("GetJwks: %v", err)
	}
	if _, err := f.ac.GetDisclosurePolicy(as(t, keyB), &authsvcv1.GetDisclosurePolicyRequest{}); err != nil {
		t.Errorf("GetDisclosurePolicy: %v", err)
	}

	noScopes := validStart("grants-no-scopes")
	noScopes.Scopes = nil
	if _, err := f.vc.StartVerification(as(t, keyA), noScopes); err != nil {
		t.Errorf("StartVerification without scopes: %v", err)
	}
	for name, mod := range map[string]func(*authsvcv1.StartVerificationRequest){
		"no audience":        func(r *authsvcv1.StartVerificationRequest) { r.Audience = "" },
		"oversized scope":    func(r *authsvcv1.StartVerificationRequest) { r.Scopes = []string{strings.Repeat("s", maxScope+1)} },
		"empty scope":        func(r *authsvcv1.StartVerificationRequest) { r.Scopes = []string{""} },
		"oversized audience": func(r *authsvcv1.StartVerificationRequest) { r.Audience = strings.Repeat("a", maxAudience+1) },
	} {
		r := validStart("grants-bad")
		mod(r)
		_, err := f.vc.StartVerification(as(t, keyA), r)
		if st := wantCode(t, err, codes.InvalidArgument); len(fields(t, st)) == 0 {
			t.Errorf("%s: no field violation", name)
		}
	}
	_, err := f.ac.AuthorizeDisclosure(as(t, keyA), &authsvcv1.AuthorizeDisclosureRequest{Assertion: v.token,
		Audience: audience, DataClass: "", Channel: chDM, ConversationId: v.conversation})
	wantCode(t, err, codes.InvalidArgument)
}
