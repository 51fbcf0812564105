package challenge

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
)

//go:embed scripts/disclose.lua
var discloseSrc string

var discloseScript = transition(discloseSrc)

// Disclosure is a disclosure decision taken on a verified assertion, as the audit trail
// records it.
type Disclosure struct {
	// Grant is the assertion the decision was taken on.
	Grant Grant
	// ClientID is the client that asks, which need not be the verification's.
	ClientID string
	// DataClass and Channel are what would be revealed, and where ("order_status", "dm").
	DataClass, Channel string
	// Allowed is the policy's answer.
	Allowed bool
	// Reason says why the policy denies it (its denials, "level_too_low,too_old"); unused
	// when Allowed.
	Reason string
}

// RecordDisclosure tells whether the assertion d.Grant names, already checked for
// signature and lifetime, still stands, exactly as CheckAssertion does, and records the
// decision in the audit trail: two round trips, the checks of CheckAssertion and then
// the record's script (the conversation's pointer lives on another slot than the record,
// and the event must say what was decided). The event is disclosure_allowed, or
// disclosure_denied with r the policy's reason or "revoked", with c the asking client, v
// the verification, o "<data class>@<channel>" and the verification's agent, method and
// pseudonyms. It returns nil while the assertion stands (whatever the policy decided),
// ErrRevoked once it was revoked or its record is gone (then the event is a denial,
// "revoked"), and an error wrapping ErrUnavailable when that cannot be told: the caller
// must not disclose. An id of another shape is ErrRevoked without a round trip or an
// event. A replay of the script by go-redis writes no second event.
func (s *Service) RecordDisclosure(ctx context.Context, d Disclosure) error {
	id := d.Grant.VerificationID
	if !validID(id) {
		return ErrRevoked
	}
	revoked := "0"
	switch err := s.standing(ctx, d.Grant); {
	case errors.Is(err, ErrRevoked):
		revoked = "1"
	case err != nil:
		return err
	}
	token, err := s.callToken()
	if err != nil {
		return err
	}
	allowed, reason := "0", d.Reason
	if d.Allowed {
		allowed, reason = "1", ""
	}
	reply, err := s.store.run(ctx, discloseScript, []string{recordKey(id)}, ms(s.now()),
		token, d.ClientID, d.DataClass+"@"+d.Channel, allowed, reason, revoked)
	if err != nil {
		return err
	}
	switch status(reply) {
	case "allowed", "denied":
		return nil
	case "revoked":
		return ErrRevoked
	}
	return fmt.Errorf("%w: unexpected disclose reply %v", ErrUnavailable, reply)
}
