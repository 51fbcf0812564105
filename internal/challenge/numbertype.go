package challenge

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NumberAction is what authsvc does with an SMS destination of a number type
// whose fate is configurable.
type NumberAction int

// Actions on a configurable number type.
const (
	// numberDefault is an action left unset: the type's default applies.
	numberDefault NumberAction = iota
	// NumberRefuse answers a field violation: the number cannot receive codes.
	NumberRefuse
	// NumberMonitor sends, and counts the number's type (authsvc_sms_numbers_total).
	NumberMonitor
	// NumberAllow sends.
	NumberAllow
)

// ParseNumberAction reads "refuse", "monitor" or "allow".
func ParseNumberAction(s string) (NumberAction, error) {
	switch strings.TrimSpace(s) {
	case "refuse":
		return NumberRefuse, nil
	case "monitor":
		return NumberMonitor, nil
	case "allow":
		return NumberAllow, nil
	}
	return 0, fmt.Errorf("%q: want refuse, monitor or allow", s)
}

func (a NumberAction) String() string {
	switch a {
	case NumberMonitor:
		return "monitor"
	case NumberAllow:
		return "allow"
	}
	return "refuse"
}

// NumberTypes says which numbers an SMS code or a magic link by SMS may go to, by
// the type github.com/nyaruka/phonenumbers (libphonenumber's metadata) gives a
// number. Premium-rate, shared-cost, UAN, pager and voicemail numbers are always
// refused: they cannot keep a code, and premium and shared-cost ranges are where
// SMS pumping collects its fees. Zero values are the defaults noted.
type NumberTypes struct {
	// TollFree: toll-free numbers (refuse). They rarely take SMS, and some
	// carriers bill the sender for them.
	TollFree NumberAction
	// VoIP: VoIP and personal numbers, which forward to anything (monitor).
	VoIP NumberAction
	// Unknown: numbers the metadata cannot place in an assigned range of their
	// country (monitor): a new range the metadata does not know yet, or a number
	// no one holds.
	Unknown NumberAction
}

func (n *NumberTypes) setDefaults() {
	if n.TollFree == numberDefault {
		n.TollFree = NumberRefuse
	}
	if n.VoIP == numberDefault {
		n.VoIP = NumberMonitor
	}
	if n.Unknown == numberDefault {
		n.Unknown = NumberMonitor
	}
}

// numberTypeCannotReceive is the violation's text: about the number alone, the
// same for every customer, so it reveals nothing about anyone.
const numberTypeCannotReceive = "this number cannot receive verification codes"

// numberType names a number's type for the metrics and the log: a closed set.
func numberType(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return "fixed_line"
	case phonenumbers.MOBILE:
		return "mobile"
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return "fixed_line_or_mobile"
	case phonenumbers.TOLL_FREE:
		return "toll_free"
	case phonenumbers.PREMIUM_RATE:
		return "premium_rate"
	case phonenumbers.SHARED_COST:
		return "shared_cost"
	case phonenumbers.VOIP:
		return "voip"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal"
	case phonenumbers.PAGER:
		return "pager"
	case phonenumbers.UAN:
		return "uan"
	case phonenumbers.VOICEMAIL:
		return "voicemail"
	}
	return "unknown"
}

// classify returns the type of an E.164 number (as Destination.check leaves it)
// and what to do with it. A number that does not parse is "unknown".
func (n NumberTypes) classify(e164 string) (kind string, action NumberAction) {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "unknown", n.Unknown
	}
	t := phonenumbers.GetNumberType(num)
	kind = numberType(t)
	switch t {
	case phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.UAN, phonenumbers.PAGER, phonenumbers.VOICEMAIL:
		return kind, NumberRefuse
	case phonenumbers.TOLL_FREE:
		return kind, n.TollFree
	case phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER:
		return kind, n.VoIP
	case phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		// A fixed line may still take SMS (text-to-landline); the gateway decides.
		return kind, NumberAllow
	}
	return "unknown", n.Unknown
}

// actionFor is the action on a number of type kind (numberType's names).
func (n NumberTypes) actionFor(kind string) NumberAction {
	switch kind {
	case "premium_rate", "shared_cost", "uan", "pager", "voicemail":
		return NumberRefuse
	case "toll_free":
		return n.TollFree
	case "voip", "personal":
		return n.VoIP
	case "unknown":
		return n.Unknown
	}
	return NumberAllow
}

// checkNumberType adds a violation to v when dest is a phone number that may not
// receive codes, and counts the types it lets through on watch. Nothing in the
// answer depends on who the number belongs to.
func (s *Service) checkNumberType(v *ValidationError, dest contact) {
	if dest.Kind != Phone || dest.key == "" {
		return
	}
	kind, action := s.cfg.NumberTypes.classify(dest.key)
	s.metrics.observeNumberType(kind, action)
	if action == NumberRefuse {
		v.add("destination.phone", numberTypeCannotReceive)
	}
}
