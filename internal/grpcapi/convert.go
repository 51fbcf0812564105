package grpcapi

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/policy"
)

// The domain's stored values and the proto's wire values are separate number
// spaces: every enum is mapped by an explicit switch, never by a cast.

// methodFromProto returns the domain method of m; ok is false for UNSPECIFIED and
// values this build does not know.
func methodFromProto(m authsvcv1.Method) (challenge.Method, bool) {
	switch m {
	case authsvcv1.Method_METHOD_MAGIC_LINK:
		return challenge.MagicLink, true
	case authsvcv1.Method_METHOD_OTP_SMS:
		return challenge.OTPSMS, true
	case authsvcv1.Method_METHOD_OTP_EMAIL:
		return challenge.OTPEmail, true
	case authsvcv1.Method_METHOD_TOTP:
		return challenge.TOTP, true
	case authsvcv1.Method_METHOD_WEBAUTHN:
		return challenge.WebAuthn, true
	}
	return 0, false
}

func methodToProto(m challenge.Method) authsvcv1.Method {
	switch m {
	case challenge.MagicLink:
		return authsvcv1.Method_METHOD_MAGIC_LINK
	case challenge.OTPSMS:
		return authsvcv1.Method_METHOD_OTP_SMS
	case challenge.OTPEmail:
		return authsvcv1.Method_METHOD_OTP_EMAIL
	case challenge.TOTP:
		return authsvcv1.Method_METHOD_TOTP
	case challenge.WebAuthn:
		return authsvcv1.Method_METHOD_WEBAUTHN
	}
	return authsvcv1.Method_METHOD_UNSPECIFIED
}

// levelFromProto returns the domain level of l; UNSPECIFIED is 0 (the domain's
// "unspecified", read as LOW) and ok is false only for unknown values.
func levelFromProto(l authsvcv1.AssuranceLevel) (assurance.Level, bool) {
	switch l {
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_UNSPECIFIED:
		return 0, true
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW:
		return assurance.Low, true
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL:
		return assurance.Substantial, true
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH:
		return assurance.High, true
	}
	return 0, false
}

func levelToProto(l assurance.Level) authsvcv1.AssuranceLevel {
	switch l {
	case assurance.Low:
		return authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW
	case assurance.Substantial:
		return authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL
	case assurance.High:
		return authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH
	}
	return authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_UNSPECIFIED
}

func stateToProto(s challenge.State) authsvcv1.State {
	switch s {
	case challenge.Pending:
		return authsvcv1.State_STATE_PENDING
	case challenge.Verified:
		return authsvcv1.State_STATE_VERIFIED
	case challenge.Failed:
		return authsvcv1.State_STATE_FAILED
	case challenge.Expired:
		return authsvcv1.State_STATE_EXPIRED
	case challenge.Canceled:
		return authsvcv1.State_STATE_CANCELED
	}
	return authsvcv1.State_STATE_UNSPECIFIED
}

func reasonToProto(r challenge.Reason) authsvcv1.FailureReason {
	switch r {
	case challenge.ReasonAttemptsExhausted:
		return authsvcv1.FailureReason_FAILURE_REASON_ATTEMPTS_EXHAUSTED
	case challenge.ReasonReported:
		return authsvcv1.FailureReason_FAILURE_REASON_REPORTED
	case challenge.ReasonNumberMismatch:
		return authsvcv1.FailureReason_FAILURE_REASON_NUMBER_MISMATCH
	}
	return authsvcv1.FailureReason_FAILURE_REASON_UNSPECIFIED
}

func deliveryToProto(d challenge.DeliveryState) authsvcv1.DeliveryState {
	switch d {
	case challenge.DeliveryNotNeeded:
		return authsvcv1.DeliveryState_DELIVERY_STATE_NOT_NEEDED
	case challenge.DeliverySending:
		return authsvcv1.DeliveryState_DELIVERY_STATE_SENDING
	case challenge.DeliverySent:
		return authsvcv1.DeliveryState_DELIVERY_STATE_SENT
	case challenge.DeliveryFailed:
		return authsvcv1.DeliveryState_DELIVERY_STATE_FAILED
	}
	return authsvcv1.DeliveryState_DELIVERY_STATE_UNSPECIFIED
}

// destinationFromProto returns the domain destination of d, nil when d is nil.
// ok is false when d is set but names neither an email nor a phone.
func destinationFromProto(d *authsvcv1.Destination) (dest *challenge.Destination, ok bool) {
	if d == nil {
		return nil, true
	}
	switch k := d.GetKind().(type) {
	case *authsvcv1.Destination_Email:
		return &challenge.Destination{Kind: challenge.Email, Value: k.Email}, true
	case *authsvcv1.Destination_Phone:
		return &challenge.Destination{Kind: challenge.Phone, Value: k.Phone}, true
	}
	return nil, false
}

// timestamp returns t as a Timestamp, nil for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// verificationToProto maps what the platform may see of a verification. The
// domain type holds no secret; the handle is already masked.
func verificationToProto(v *challenge.Verification) *authsvcv1.Verification {
	if v == nil {
		return nil
	}
	min := v.MinAssurance
	if min == 0 {
		min = assurance.Low // the effective level of an unspecified minimum
	}
	out := &authsvcv1.Verification{
		VerificationId:  v.ID,
		State:           stateToProto(v.State),
		Identity:        &authsvcv1.SocialIdentity{Network: v.Network, UserId: v.UserID, Handle: v.HandleMask},
		CustomerId:      v.CustomerID,
		MinAssurance:    levelToProto(min),
		Audience:        v.Audience,
		Scopes:          v.Scopes,
		AgentId:         v.AgentID,
		ConversationId:  v.ConversationID,
		DestinationMask: v.DestinationMask,
		DeliveredMethod: methodToProto(v.DeliveredMethod),
		DeliveryState:   deliveryToProto(v.Delivery),
		AttemptsLeft:    int32(min32(v.AttemptsLeft)),
		CreateTime:      timestamp(v.Created),
		ExpireTime:      timestamp(v.Expires),
		Revoked:         v.Revoked,
		Locale:          v.Locale,

		SmsRefusedReason: v.SMSRefused,
	}
	for _, m := range v.Methods {
		out.Methods = append(out.Methods, methodToProto(m))
	}
	if v.State == challenge.Failed {
		out.FailureReason = reasonToProto(v.Reason)
	}
	if v.State == challenge.Verified {
		out.VerifyTime = timestamp(v.VerifiedAt)
		out.VerifiedMethod = methodToProto(v.Method)
		out.AssuranceLevel = levelToProto(v.Level)
	}
	if a := v.Assertion; a != nil {
		out.Assertion = &authsvcv1.Assertion{Token: a.Token, AssertionId: a.ID, ExpireTime: timestamp(a.Expires)}
	}
	return out
}

func min32(n int) int { return max(0, min(n, math.MaxInt32)) }

// claimsToProto maps verified assertion claims. issuer is the verifier's issuer.
func claimsToProto(c assertion.Claims, issuer string) *authsvcv1.AssertionClaims {
	out := &authsvcv1.AssertionClaims{
		Issuer:         issuer,
		Subject:        c.Subject,
		IssueTime:      timestamp(c.IssuedAt),
		NotBeforeTime:  timestamp(c.NotBefore),
		ExpireTime:     timestamp(c.Expiry),
		AssertionId:    c.ID,
		AuthTime:       timestamp(c.AuthTime),
		Acr:            c.Level.ACR(),
		Amr:            c.AMR,
		AssuranceLevel: levelToProto(c.Level),
		Identity:       &authsvcv1.SocialIdentity{Network: c.Network, UserId: c.UserID, Handle: c.Handle},
		ConversationId: c.ConversationID,
		AgentId:        c.AgentID,
		Scopes:         c.Scopes,
		VerificationId: c.VerificationID,
		Handover:       c.Handover,
	}
	if c.Audience != "" {
		out.Audience = []string{c.Audience}
	}
	// A verification without a customer id has "<network>:<user_id>" as its
	// subject (package challenge); only a real customer id is reported as one.
	if c.Subject != c.Network+":"+c.UserID {
		out.CustomerId = c.Subject
	}
	return out
}

func publicKeyToProto(k assertion.PublicKey) *authsvcv1.JsonWebKey {
	return &authsvcv1.JsonWebKey{Kty: k.KeyType, Crv: k.Curve, X: k.X, Y: k.Y, Kid: k.KeyID, Alg: k.Algorithm, Use: k.Use}
}

// channelFromProto returns the policy channel of c; ok is false for UNSPECIFIED
// and values this build does not know.
func channelFromProto(c authsvcv1.DisclosureChannel) (policy.Channel, bool) {
	switch c {
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PUBLIC_REPLY:
		return policy.PublicReply, true
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM:
		return policy.DM, true
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL:
		return policy.SecureChannel, true
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PHONE:
		return policy.Phone, true
	}
	return 0, false
}

func channelToProto(c policy.Channel) authsvcv1.DisclosureChannel {
	switch c {
	case policy.PublicReply:
		return authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PUBLIC_REPLY
	case policy.DM:
		return authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM
	case policy.SecureChannel:
		return authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL
	case policy.Phone:
		return authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PHONE
	}
	return authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_UNSPECIFIED
}

func channelsToProto(cs []policy.Channel) []authsvcv1.DisclosureChannel {
	out := make([]authsvcv1.DisclosureChannel, 0, len(cs))
	for _, c := range cs {
		out = append(out, channelToProto(c))
	}
	return out
}

func denialToProto(d policy.Denial) authsvcv1.DisclosureDenial {
	switch d {
	case policy.LevelTooLow:
		return authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_LEVEL_TOO_LOW
	case policy.TooOld:
		return authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_TOO_OLD
	case policy.ChannelNotAllowed:
		return authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CHANNEL_NOT_ALLOWED
	case policy.ConversationMismatch:
		return authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CONVERSATION_MISMATCH
	}
	return authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_UNSPECIFIED
}

// duration returns d as a Duration, nil for zero.
func duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// decisionToProto maps a disclosure decision made on claims (already mapped).
// The step-up hint (acr_values, max_age) is set only when the policy gave one.
func decisionToProto(d policy.Decision, claims *authsvcv1.AssertionClaims) *authsvcv1.AuthorizeDisclosureResponse {
	out := &authsvcv1.AuthorizeDisclosureResponse{
		Allowed:         d.Allowed,
		AcrValues:       d.ACRValues,
		MaxAge:          duration(d.MaxAge),
		RequiredLevel:   levelToProto(d.Rule.MinLevel),
		AllowedChannels: channelsToProto(d.Rule.Channels),
		Claims:          claims,
	}
	for _, r := range d.Denials {
		out.Denials = append(out.Denials, denialToProto(r))
	}
	return out
}

func ruleToProto(r policy.Rule) *authsvcv1.DisclosureRule {
	return &authsvcv1.DisclosureRule{
		DataClass:   r.DataClass,
		Description: r.Description,
		MinLevel:    levelToProto(r.MinLevel),
		MaxAge:      duration(r.MaxAge),
		Channels:    channelsToProto(r.Channels),
	}
}

// kindFromProto returns the factor kind a CreateEnrollmentLink method enrolls;
// ok is false for every method but TOTP and WEBAUTHN.
func kindFromProto(m authsvcv1.Method) (identity.Kind, bool) {
	switch m {
	case authsvcv1.Method_METHOD_TOTP:
		return identity.KindTOTP, true
	case authsvcv1.Method_METHOD_WEBAUTHN:
		return identity.KindPasskey, true
	}
	return 0, false
}

func kindToProto(k identity.Kind) authsvcv1.Method {
	switch k {
	case identity.KindTOTP:
		return authsvcv1.Method_METHOD_TOTP
	case identity.KindPasskey:
		return authsvcv1.Method_METHOD_WEBAUTHN
	}
	return authsvcv1.Method_METHOD_UNSPECIFIED
}

func linkedToProto(l identity.Linked) *authsvcv1.LinkedIdentity {
	return &authsvcv1.LinkedIdentity{Network: l.Network, UserId: l.UserID, LinkTime: timestamp(l.Linked)}
}

// factorToProto maps what the platform may see of a factor: never its sealed
// seed or its credential.
func factorToProto(f identity.Factor) *authsvcv1.Factor {
	return &authsvcv1.Factor{
		FactorId:       f.ID,
		Method:         kindToProto(f.Kind),
		Label:          f.Label,
		CreateTime:     timestamp(f.Created),
		LastUseTime:    timestamp(f.LastUsed),
		BackupEligible: f.Passkey != nil && f.Passkey.BackupEligible,
	}
}
