package grpcapi

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
)

// TestHandedOverAssertionOnlyInItsChannel: an assertion a secure channel was
// handed over (hov secure_channel, aud the channel's client) is good for
// disclosures in the secure channel only. Presented for the DM or the phone, where
// the data class itself is allowed, the answer is a denial, CHANNEL_NOT_ALLOWED,
// with no step-up hint: no new verification makes it the DM's or the phone's.
func TestHandedOverAssertionOnlyInItsChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.verifiedIn(t, "hov-1", "browser-1")
	created, err := f.hc.CreateHandover(as(t, keyA), &authsvcv1.CreateHandoverRequest{VerificationId: id,
		Target:    &authsvcv1.CreateHandoverRequest_SecureChannel{SecureChannel: &authsvcv1.SecureChannelTarget{ChannelId: "app"}},
		RequestId: "hov-h1"})
	if err != nil {
		t.Fatal(err)
	}
	hid := created.GetHandover().GetHandoverId()
	code, err := f.svc.BindHandover(context.Background(), hid, f.svc.BindState(hid, "browser-1"),
		handover.Challenge(verifier), "browser-1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.hc.RedeemHandover(as(t, keyB), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
	if err != nil || !res.GetContext().GetVerified() {
		t.Fatalf("RedeemHandover = %v, %v", res, err)
	}
	tok, conv := res.GetContext().GetAssertion().GetToken(), res.GetContext().GetConversationId()
	for _, tc := range []struct {
		channel authsvcv1.DisclosureChannel
		allowed bool
	}{
		{authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL, true},
		{authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM, false},
		{authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PHONE, false},
	} {
		t.Run(tc.channel.String(), func(t *testing.T) {
			// order_status may be shared in the DM, the secure channel and on the phone.
			d, err := f.ac.AuthorizeDisclosure(as(t, keyB), &authsvcv1.AuthorizeDisclosureRequest{Assertion: tok,
				Audience: clientB, DataClass: "order_status", Channel: tc.channel, ConversationId: conv})
			if err != nil {
				t.Fatal(err)
			}
			if d.GetAllowed() != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%v)", d.GetAllowed(), tc.allowed, d.GetDenials())
			}
			if !tc.allowed && (!slices.Equal(d.GetDenials(), []authsvcv1.DisclosureDenial{
				authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CHANNEL_NOT_ALLOWED}) || d.GetAcrValues() != "") {
				t.Fatalf("denial = %v, acr_values %q; want CHANNEL_NOT_ALLOWED alone, no step-up", d.GetDenials(), d.GetAcrValues())
			}
		})
	}
}

// TestRevokedHandoverStatus: a redemption refused because its verification no
// longer stands (canceled, superseded, or no longer its conversation's latest)
// answers as a revoked verification's assertion does: FAILED_PRECONDITION, here
// with reason HANDOVER_REVOKED.
func TestRevokedHandoverStatus(t *testing.T) {
	t.Parallel()
	st, ok := status.FromError(handoverStatus(context.Background(), challenge.ErrHandoverRevoked))
	if !ok || st.Code() != codes.FailedPrecondition {
		t.Fatalf("status = %v", st)
	}
	if ei := errorInfo(t, st); ei.GetReason() != ReasonHandoverRevoked {
		t.Fatalf("reason = %q", ei.GetReason())
	}
}
