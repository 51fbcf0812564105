package grpcapi

import (
	"fmt"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/policy"
	"github.com/authsvc/authsvc/internal/text"
)

// Field limits from the proto comments. The adapter checks presence, sizes, enum
// values and durations; the domain checks patterns, destination syntax, ranges and
// the strings a person reads (package text) and answers with the same kind of
// violations. A string the adapter does not pass to the domain (LinkIdentity's
// handle) it checks with package text itself, so both refuse the same strings.
const (
	maxNetwork        = 32
	maxUserID         = 128
	maxHandle         = 64
	maxCustomerID     = 128
	maxAudience       = 128
	maxAgentID        = 128
	maxConversationID = 256
	maxRequestID      = 128
	maxScopes         = 16
	maxScope          = 64
	maxMethods        = 5
	maxLocale         = 35
	maxDestination    = 254
	maxVerificationID = 64
	maxDataClass      = 64
	maxFactorID       = 64
)

// violations collects what is wrong with a request.
type violations []challenge.Violation

func (vs *violations) add(field, format string, args ...any) {
	*vs = append(*vs, challenge.Violation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// text checks a string field's presence and length.
func (vs *violations) text(field, s string, required bool, maxLen int) {
	switch {
	case s == "" && required:
		vs.add(field, "is required")
	case len(s) > maxLen:
		vs.add(field, "must be at most %d bytes", maxLen)
	}
}

// display checks a string a person reads with package text's rules; empty passes.
func (vs *violations) display(field, s string) {
	if _, err := text.Display(s); err != nil {
		vs.add(field, "%s", err)
	}
}

func (vs violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	return &challenge.ValidationError{Violations: vs}
}

// destination checks a destination's shape and converts it. field is its path.
func (vs *violations) destination(field string, d *authsvcv1.Destination) *challenge.Destination {
	dest, ok := destinationFromProto(d)
	if !ok {
		vs.add(field, "set email or phone")
		return nil
	}
	if dest == nil {
		return nil
	}
	sub := field + ".email"
	if dest.Kind == challenge.Phone {
		sub = field + ".phone"
	}
	vs.text(sub, dest.Value, true, maxDestination)
	return dest
}

// startRequest checks r and builds the domain request for client.
func startRequest(client string, r *authsvcv1.StartVerificationRequest) (challenge.StartRequest, error) {
	var vs violations
	out := challenge.StartRequest{
		ClientID:       client,
		CustomerID:     r.GetCustomerId(),
		Audience:       r.GetAudience(),
		Scopes:         r.GetScopes(),
		AgentID:        r.GetAgentId(),
		ConversationID: r.GetConversationId(),
		Locale:         r.GetLocale(),
		RequestID:      r.GetRequestId(),
	}
	if id := r.GetIdentity(); id == nil {
		vs.add("identity", "is required")
	} else {
		vs.text("identity.network", id.GetNetwork(), true, maxNetwork)
		vs.text("identity.user_id", id.GetUserId(), true, maxUserID)
		vs.text("identity.handle", id.GetHandle(), true, maxHandle)
		out.Identity = challenge.Identity{Network: id.GetNetwork(), UserID: id.GetUserId(), Handle: id.GetHandle()}
	}
	vs.text("customer_id", out.CustomerID, false, maxCustomerID)
	switch n := len(r.GetMethods()); {
	case n == 0:
		vs.add("methods", "name at least one method")
	case n > maxMethods:
		vs.add("methods", "at most %d methods", maxMethods)
	default:
		for i, m := range r.GetMethods() {
			dm, ok := methodFromProto(m)
			if !ok {
				vs.add(fmt.Sprintf("methods[%d]", i), "must be a known method other than METHOD_UNSPECIFIED")
				continue
			}
			out.Methods = append(out.Methods, dm)
		}
	}
	if lvl, ok := levelFromProto(r.GetMinAssurance()); ok {
		out.MinAssurance = lvl
	} else {
		vs.add("min_assurance", "must be a known assurance level")
	}
	vs.text("audience", out.Audience, true, maxAudience)
	if len(out.Scopes) > maxScopes {
		vs.add("scopes", "at most %d scopes", maxScopes)
	} else {
		for i, s := range out.Scopes {
			vs.text(fmt.Sprintf("scopes[%d]", i), s, true, maxScope)
		}
	}
	vs.text("agent_id", out.AgentID, true, maxAgentID)
	vs.text("conversation_id", out.ConversationID, true, maxConversationID)
	out.Destination = vs.destination("destination", r.GetDestination())
	vs.text("locale", out.Locale, false, maxLocale)
	if ttl := r.GetTtl(); ttl != nil {
		// An explicit zero is not "unspecified": leave the field out for the default.
		if err := ttl.CheckValid(); err != nil {
			vs.add("ttl", "must be a valid duration")
		} else if d := ttl.AsDuration(); d <= 0 {
			vs.add("ttl", "must be positive; omit it for the default")
		} else {
			out.TTL = d
		}
	}
	vs.text("request_id", out.RequestID, true, maxRequestID)
	return out, vs.err()
}

// verificationID checks a verification id field. Its shape is the domain's
// business: an id of the wrong shape is simply not found.
func (vs *violations) verificationID(id string) {
	vs.text("verification_id", id, true, maxVerificationID)
}

func resendRequest(client string, r *authsvcv1.ResendVerificationRequest) (challenge.ResendRequest, error) {
	var vs violations
	vs.verificationID(r.GetVerificationId())
	out := challenge.ResendRequest{ClientID: client, ID: r.GetVerificationId(), RequestID: r.GetRequestId()}
	out.Destination = vs.destination("destination", r.GetDestination())
	vs.text("request_id", out.RequestID, true, maxRequestID)
	return out, vs.err()
}

func checkVerificationID(id string) error {
	var vs violations
	vs.verificationID(id)
	return vs.err()
}

func checkCancel(r *authsvcv1.CancelVerificationRequest) error {
	var vs violations
	vs.verificationID(r.GetVerificationId())
	vs.text("request_id", r.GetRequestId(), true, maxRequestID)
	return vs.err()
}

func checkVerifyAssertion(r *authsvcv1.VerifyAssertionRequest) error {
	var vs violations
	vs.text("assertion", r.GetAssertion(), true, assertion.MaxTokenSize)
	vs.text("audience", r.GetAudience(), true, maxAudience)
	return vs.err()
}

// checkAuthorizeDisclosure checks r's shape and returns its channel. Whether the
// data class exists is the policy's answer (policy.ErrUnknownDataClass).
func checkAuthorizeDisclosure(r *authsvcv1.AuthorizeDisclosureRequest) (policy.Channel, error) {
	var vs violations
	vs.text("assertion", r.GetAssertion(), true, assertion.MaxTokenSize)
	vs.text("audience", r.GetAudience(), true, maxAudience)
	vs.text("data_class", r.GetDataClass(), true, maxDataClass)
	ch, ok := channelFromProto(r.GetChannel())
	if !ok {
		vs.add("channel", "must be a known channel other than DISCLOSURE_CHANNEL_UNSPECIFIED")
	}
	vs.text("conversation_id", r.GetConversationId(), true, maxConversationID)
	return ch, vs.err()
}

// socialIdentity checks an identity field of the EnrollmentService: network and
// user_id required, handle optional (it is never stored, but refused where the
// start of a verification would refuse it).
func (vs *violations) socialIdentity(id *authsvcv1.SocialIdentity) {
	if id == nil {
		vs.add("identity", "is required")
		return
	}
	vs.text("identity.network", id.GetNetwork(), true, maxNetwork)
	vs.text("identity.user_id", id.GetUserId(), true, maxUserID)
	n := len(*vs)
	vs.text("identity.handle", id.GetHandle(), false, maxHandle)
	if len(*vs) == n {
		vs.display("identity.handle", id.GetHandle())
	}
}

func checkCustomerID(id string) error {
	var vs violations
	vs.text("customer_id", id, true, maxCustomerID)
	return vs.err()
}

func checkLinkIdentity(r *authsvcv1.LinkIdentityRequest) error {
	var vs violations
	vs.text("customer_id", r.GetCustomerId(), true, maxCustomerID)
	vs.socialIdentity(r.GetIdentity())
	vs.text("verification_id", r.GetVerificationId(), false, maxVerificationID)
	return vs.err()
}

func checkUnlinkIdentity(r *authsvcv1.UnlinkIdentityRequest) error {
	var vs violations
	vs.text("customer_id", r.GetCustomerId(), true, maxCustomerID)
	vs.socialIdentity(r.GetIdentity())
	vs.text("verification_id", r.GetVerificationId(), false, maxVerificationID)
	return vs.err()
}

func checkListIdentities(r *authsvcv1.ListIdentitiesRequest) error {
	var vs violations
	vs.text("customer_id", r.GetCustomerId(), true, maxCustomerID)
	vs.text("verification_id", r.GetVerificationId(), false, maxVerificationID)
	return vs.err()
}

// checkCreateEnrollmentLink checks r's shape and returns the factor kind its
// method enrolls and the destination it names (nil for none).
func checkCreateEnrollmentLink(r *authsvcv1.CreateEnrollmentLinkRequest) (identity.Kind, *challenge.Destination, error) {
	var vs violations
	vs.text("customer_id", r.GetCustomerId(), true, maxCustomerID)
	kind, ok := kindFromProto(r.GetMethod())
	if !ok {
		vs.add("method", "must be METHOD_TOTP or METHOD_WEBAUTHN")
	}
	vs.text("verification_id", r.GetVerificationId(), false, maxVerificationID)
	vs.text("locale", r.GetLocale(), false, maxLocale)
	var dest *challenge.Destination
	if r.GetDestination() != nil {
		dest = vs.destination("destination", r.GetDestination())
	}
	return kind, dest, vs.err()
}

func checkRemoveFactor(r *authsvcv1.RemoveFactorRequest) error {
	var vs violations
	vs.text("customer_id", r.GetCustomerId(), true, maxCustomerID)
	vs.text("factor_id", r.GetFactorId(), true, maxFactorID)
	return vs.err()
}
