package challenge

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/keyedhash"
)

// Proof is what a VERIFIED verification proves about its customer, for binding a
// factor to her; package identity decides what it allows (see identity.Proof).
type Proof struct {
	VerificationID string
	// ClientID is the client that started the verification.
	ClientID string
	// CustomerID is the customer it verified: the one named, or the identity's
	// linked customer; "" when it verified none.
	CustomerID      string
	Network, UserID string
	// Method and Level are how it was completed and the level that earned.
	Method     Method
	Level      assurance.Level
	VerifiedAt time.Time
	// Binding is the keyed hash of the browser that completed it (package web);
	// "" for a verification completed before browsers were bound.
	Binding string
	// ContactProven is true when the contact passed to Proof is the one the
	// verification sent its code or link to (compared by keyed hash).
	ContactProven bool
	// FactorClient is the client through which the factor that completed the
	// verification was enrolled; "" for a code or link.
	FactorClient string
}

// Proof returns what verification id of clientID proves: one round trip. It must be
// VERIFIED and still stand (not revoked, its factor still held): anything else,
// and an unknown or another client's id alike, is ErrNotFound. given, when not
// nil, is compared with the contact the verification proved (ContactProven); a
// destination that is not valid is a *ValidationError on field "destination".
func (s *Service) Proof(ctx context.Context, clientID, id string, given *Destination) (*Proof, error) {
	var dest contact
	if given != nil {
		var problem string
		if dest, problem = given.check(s.cfg.EmailRules); problem != "" {
			return nil, &ValidationError{Violations: []Violation{{Field: "destination", Description: problem}}}
		}
	}
	if !validID(id) {
		return nil, ErrNotFound
	}
	now := s.now()
	rec, err := s.store.loadStanding(ctx, id, ms(now))
	if err != nil {
		return nil, err
	}
	v := s.view(rec, id, now)
	if rec["cl"] != clientID || v.State != Verified || v.Revoked {
		return nil, ErrNotFound
	}
	// A proof stands as its assertion does: only while its verification is its
	// conversation's live one (a newer start superseded it, even if the newer
	// start's second round trip never ended it on its record).
	g := Grant{VerificationID: id, AssertionID: s.jti(id, strconv.FormatInt(v.Created.UnixMilli(), 10)),
		ClientID: clientID, ConversationID: v.ConversationID}
	if err := s.standing(ctx, g); errors.Is(err, ErrRevoked) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	p := &Proof{VerificationID: id, ClientID: v.ClientID, CustomerID: v.CustomerID, Network: v.Network,
		UserID: v.UserID, Method: v.Method, Level: v.Level, VerifiedAt: v.VerifiedAt, Binding: rec["bb"],
		FactorClient: rec["fc"]}
	// Only a code or link proves a contact: the one it was sent to.
	sent := v.Method == OTPEmail || v.Method == OTPSMS || v.Method == MagicLink
	if given != nil && sent && rec["dh"] != "" {
		// Compared by its canonical form, as a resend is: any spelling of the mailbox.
		h, err := s.keys.SumWith(rec["hk"], "destination", []byte{byte(dest.Kind)}, []byte(dest.key))
		p.ContactProven = err == nil && keyedhash.Equal(h[:macLen], []byte(rec["dh"]))
	}
	return p, nil
}
