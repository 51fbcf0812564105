package identity

import (
	"context"
	"crypto/hmac"
	"fmt"
	"strconv"
	"strings"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/delivery"
)

// Proof is what allows an enrollment that a verification proves: the verification
// of the customer that the enrolling client completed, and the browser it was
// completed in. CreateEnrollment applies the binding rule (docs/security.md,
// "Binding a factor"):
//
//   - Binding a factor needs a proof from a factor the customer already holds, at
//     SUBSTANTIAL or higher. A passkey bound after a SUBSTANTIAL proof earns
//     SUBSTANTIAL at most (Passkey.MaxLevel): binding never lifts assurance.
//   - The customer's first factor may follow a LOW proof (a code or link to a
//     contact on file), and only then: the enrollment is bound to the browser
//     that completed the verification, and the proven contact is told once the
//     factor is added, with a link that removes it (Report).
//   - Either way the enrollment works only in the browser that completed the
//     verification (Binding); its link is worthless anywhere else.
//
// A nil *Proof is a client with the may_enroll grant: the brand's own system,
// which authenticated the customer itself. Its links are bearer links, meant to be
// opened by that system for the customer.
type Proof struct {
	// VerificationID is the verification, for the log.
	VerificationID string
	// Level is the level the verification earned.
	Level assurance.Level
	// Binding is the keyed hash of the browser that completed the verification
	// (package web); required.
	Binding string
	// Contact is the contact the verification proved (the code or link was sent
	// there), checked by the caller; required for a LOW proof, where it is told
	// of the first factor. Nil otherwise.
	Contact *Contact
	// FactorClient is the client through which the factor that completed the
	// verification was enrolled ("" for a code or link). A factor bound on this
	// proof records it as its own client: a client that trusts another's factor
	// cannot launder that factor's trust into one of its own.
	FactorClient string
}

// Contact is a contact point the notice of a first factor goes to. It is kept
// only sealed, in the enrollment, until the factor is added.
type Contact struct {
	Channel delivery.Channel
	// To is the email address or E.164 number, as the platform gave it.
	To string
}

// Notifier sends the notice of a first factor (*delivery.Router). Its errors name
// neither the address nor the link.
type Notifier interface {
	Send(ctx context.Context, m delivery.Message) error
}

// WithNotifier sends the notices of first factors through n. Without it, a LOW
// proof binds nothing: a first factor needs its notice.
func WithNotifier(n Notifier) Option {
	return func(s *Store) { s.notifier = n }
}

// EnrollmentTrust says whose enrolled factors a client's verifications may use
// (*grpcapi.Clients, from the clients file; the same as package challenge's).
type EnrollmentTrust interface {
	// TrustedEnrollers returns the clients whose enrollments client trusts besides
	// its own; all is true for every client's.
	TrustedEnrollers(client string) (all bool, clients []string)
}

// WithTrust judges "the customer's first factor" by the factors client t says the
// enrolling client trusts: a factor of an untrusted client can neither prove to it
// nor block its customer's first factor. Without it, a client trusts its own
// enrollments only.
func WithTrust(t EnrollmentTrust) Option {
	return func(s *Store) { s.trust = t }
}

// trustArg is the scripts' argument of the clients client trusts: "*", or
// "|client|a|b|" (package challenge builds the same for its scripts).
func (s *Store) trustArg(client string) string {
	if s.trust == nil {
		return "|" + client + "|"
	}
	all, others := s.trust.TrustedEnrollers(client)
	if all {
		return "*"
	}
	return "|" + strings.Join(append([]string{client}, others...), "|") + "|"
}

// kindLevel is the best level a factor of kind can earn.
func kindLevel(k Kind) assurance.Level {
	if k == KindPasskey {
		return assurance.High
	}
	return assurance.Substantial
}

// proofFields checks a proof against the binding rule and returns the enrollment
// fields that carry it: bb (the browser), bs "1" for a first factor after a LOW
// proof (the script checks the customer holds none), cp (the passkey's cap) and
// the sealed contact (nc, its channel in nk, its mask for the page in nm).
// contactMissing is true for a LOW proof without its contact: the script answers
// the customer's factors first (a destination would not help), then that.
func (s *Store) proofFields(id string, kind Kind, p *Proof) (fields []any, bootstrap, contactMissing bool, err error) {
	if p == nil {
		return nil, false, false, nil
	}
	if p.Binding == "" {
		return nil, false, false, ErrProofUnbound
	}
	fields = []any{"bb", p.Binding}
	if p.FactorClient != "" {
		fields = append(fields, "oc", p.FactorClient)
	}
	switch {
	case p.Level >= assurance.Substantial:
		if p.Level < kindLevel(kind) {
			fields = append(fields, "cp", int(p.Level))
		}
		return fields, false, false, nil
	case p.Level == assurance.Low:
		fields = append(fields, "bs", "1")
		if p.Contact == nil {
			return fields, true, true, nil
		}
		if s.notifier == nil {
			return nil, false, false, fmt.Errorf("%w: no notifier for first factors", ErrNotice)
		}
		sealed, err := s.seals.Seal(s.random, []byte(p.Contact.To), contactAAD(id, p.Contact.Channel))
		if err != nil {
			return nil, false, false, unavailable(err)
		}
		fields = append(fields, "nk", int(p.Contact.Channel), "nc", sealed)
		return fields, true, false, nil
	}
	return nil, false, false, &ProofError{Need: assurance.Substantial}
}

// contactAAD binds a sealed contact to its enrollment and channel.
func contactAAD(id string, c delivery.Channel) []byte {
	return []byte(id + "|contact|" + strconv.Itoa(int(c)))
}

// bound reports whether binding is the browser an enrollment is bound to; an
// enrollment of a client with the may_enroll grant is bound to none.
func (e enrollment) bound(binding string) bool {
	bb := e["bb"]
	return bb == "" || hmac.Equal([]byte(bb), []byte(binding))
}

// notice is the notice of a first factor, ready to send once its code or
// registration checks out, and the report link record the store script writes.
type notice struct {
	msg      delivery.Message
	reportID string
}

// prepareNotice builds the notice of a first factor fid of kind for enrollment e
// (nil when e is not a first factor's): its report link and the message to the
// contact the verification proved.
func (s *Store) prepareNotice(id string, e enrollment, kind Kind) (*notice, error) {
	if e["bs"] != "1" {
		return nil, nil
	}
	ch, err := strconv.Atoi(e["nk"])
	if err != nil || e["nc"] == "" {
		return nil, fmt.Errorf("%w: first factor without its contact", ErrUnavailable)
	}
	to, err := s.seals.Open(e["nc"], contactAAD(id, delivery.Channel(ch)))
	if err != nil {
		return nil, unavailable(err)
	}
	rid, link, err := s.newReportLink(id[:TagLen])
	if err != nil {
		return nil, err
	}
	factor := delivery.FactorTOTP
	if kind == KindPasskey {
		factor = delivery.FactorPasskey
	}
	return &notice{reportID: rid, msg: delivery.Message{
		ID: "factor." + rid, Channel: delivery.Channel(ch), To: string(to), Locale: e["lo"],
		Kind: delivery.KindFactorAdded, Link: link, Factor: factor, Brand: s.cfg.Brand,
		PageHost: s.cfg.PublicURL.Host, ExpiresIn: s.cfg.ReportTTL,
	}}, nil
}

// send sends a first factor's notice before the factor is stored: no factor
// after a LOW proof without its notice. A failure is ErrNotice and stores nothing.
func (s *Store) send(ctx context.Context, n *notice, enrollmentID string) error {
	if n == nil {
		return nil
	}
	if s.notifier == nil {
		return fmt.Errorf("%w: no notifier", ErrNotice)
	}
	if err := s.notifier.Send(ctx, n.msg); err != nil {
		s.log.WarnContext(ctx, "first factor not added: its notice was not sent", "enrollment", enrollmentID,
			"channel", n.msg.Channel.String(), "err", err)
		return fmt.Errorf("%w: %w", ErrNotice, err)
	}
	return nil
}

// reportArgs are the store scripts' last arguments for a first factor's report
// record (none for another enrollment): its key comes as the scripts' third key.
func (s *Store) reportArgs(n *notice) (keys []string, args []any) {
	if n == nil {
		return nil, []any{"", 0}
	}
	return []string{ReportKey(n.reportID)}, []any{n.reportID, s.cfg.ReportTTL.Milliseconds()}
}

// checkProofStatus turns an enrollment script's refusal into its error.
func checkProofStatus(st string) error {
	switch st {
	case "factors":
		return &ProofError{Need: assurance.Substantial}
	case "contact":
		return &ValidationError{Field: "destination",
			Description: "is required to bind a first factor after a LOW verification: the contact it proved, which is told of the factor"}
	case "hold":
		return ErrFirstFactorHold
	case "browser":
		return ErrWrongBrowser
	case "shown":
		return ErrSeedShown
	}
	return nil
}
