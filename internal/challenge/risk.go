package challenge

import (
	"context"
	"errors"
	"time"

	"github.com/authsvc/authsvc/internal/delivery"
)

// RiskChecker looks a phone number up before an SMS send (a number-intelligence
// hook, delivery.RiskHook). Lookup answers within its own time budget; an error
// names no number.
type RiskChecker interface {
	Lookup(ctx context.Context, number, requestID string) (delivery.NumberRisk, error)
}

// RiskPolicy says what the risk hook's answers do. Zero values take the defaults
// noted.
type RiskPolicy struct {
	// FailOpen sends when the hook times out, is unreachable or answers garbage.
	// By default (false) SMS is refused then, and the customer's other methods
	// are offered: a number the hook could not clear does not prove possession.
	FailOpen bool
	// SIMSwapWithin: a SIM swap more recent than this refuses SMS (7 days).
	SIMSwapWithin time.Duration
	// AllowForwarding lets active call forwarding pass (by default it refuses SMS).
	AllowForwarding bool
}

// WithRiskHook makes every SMS send ask c first, and follow p.
func WithRiskHook(c RiskChecker, p RiskPolicy) Option {
	return func(s *Service) {
		if p.SIMSwapWithin == 0 {
			p.SIMSwapWithin = 7 * 24 * time.Hour
		}
		s.risk, s.riskPolicy = c, p
	}
}

// Why the risk hook refused SMS for a verification: a closed set, shown to the
// platform (Verification.SMSRefused) and written to the audit trail.
const (
	RiskSIMSwap        = "sim_swap"
	RiskCallForwarding = "call_forwarding"
	RiskLineType       = "line_type"
	RiskUnavailable    = "risk_unavailable"
)

// SMSRefusedError says the risk hook refused SMS to the number: on Start, the
// customer has no other method the request accepts and nothing was recorded; on
// Resend, nothing was sent.
type SMSRefusedError struct{ Reason string }

func (e *SMSRefusedError) Error() string {
	return "challenge: SMS refused by the risk check: " + e.Reason
}

// hookLineTypes are the hook's line types (Twilio Lookup's, snake_cased) that
// map to a phonenumbers type whose policy then applies.
var hookLineTypes = map[string]string{
	"premium": "premium_rate", "shared_cost": "shared_cost", "uan": "uan", "voicemail": "voicemail",
	"pager": "pager", "toll_free": "toll_free", "fixed_voip": "voip", "non_fixed_voip": "voip",
	"personal": "personal", "unknown": "unknown",
}

// screen asks the risk hook about an SMS send's number and says why it must not
// go ("" to send). The lookup is logged and counted without the number.
func (s *Service) screen(ctx context.Context, dest contact, requestID string) string {
	if s.risk == nil || dest.Kind != Phone {
		return ""
	}
	r, err := s.risk.Lookup(ctx, dest.key, requestID)
	if err != nil {
		result := "error"
		switch {
		case errors.Is(err, delivery.ErrRiskTimeout):
			result = "timeout"
		case errors.Is(err, delivery.ErrRiskGarbage):
			result = "garbage"
		}
		decision, reason := "refuse", RiskUnavailable
		if s.riskPolicy.FailOpen {
			decision, reason = "send", ""
		}
		s.metrics.observeRisk(result, decision)
		s.log.WarnContext(ctx, "risk hook failed", "verification_id", requestID, "result", result, "decision", decision, "err", err)
		return reason
	}
	reason := ""
	switch {
	case !r.SIMSwap.IsZero() && s.now().Sub(r.SIMSwap) < s.riskPolicy.SIMSwapWithin:
		reason = RiskSIMSwap
	case r.CallForwarding && !s.riskPolicy.AllowForwarding:
		reason = RiskCallForwarding
	case hookLineTypes[r.LineType] != "" && s.cfg.NumberTypes.actionFor(hookLineTypes[r.LineType]) == NumberRefuse:
		reason = RiskLineType
	}
	if reason == "" {
		s.metrics.observeRisk("pass", "send")
		return ""
	}
	s.metrics.observeRisk(reason, "refuse")
	s.log.InfoContext(ctx, "risk hook refused sms", "verification_id", requestID, "reason", reason)
	return reason
}
