package identity

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Linked is a social identity linked to a customer.
type Linked struct {
	Network, UserID string
	// Client is the API client that made the link: only it, the clients that trust
	// its enrollments (package challenge) and the clients with the may_link grant
	// may use, see or remove it. "" for a link made before links recorded their
	// client, which only a client trusting every client's enrollments uses.
	Client string
	Linked time.Time
}

// Scope is whose links a call may act on.
type Scope int

const (
	// OwnLinks: only the links the calling client made itself. A client is trusted
	// to name the customer of its own verifications only, so a link it made on
	// such a proof stays within its own reach.
	OwnLinks Scope = iota
	// AnyLinks: every client's links (a client with the may_link grant, which the
	// operator trusts to link any identity to any customer).
	AnyLinks
)

// flag is the scripts' argument for a scope: "1" for AnyLinks.
func (sc Scope) flag() string {
	if sc == AnyLinks {
		return "1"
	}
	return "0"
}

// linkSep separates the parts of a customer's L<ih> entry and of a link pointer's
// value; validation keeps control characters out of every part.
const linkSep = "\x1f"

// linkPending ends an entry whose link is being made (link_entry wrote it, link_done
// has not yet recorded it). A recorded entry ends in its link time's digits.
const linkPending = linkSep + "p"

// encodeLinked is an L<ih> entry: "<network>\x1f<user id>\x1f<client>\x1f<linked ms>".
// An entry written before links recorded their client has no client part.
func encodeLinked(l Linked) string {
	return l.Network + linkSep + l.UserID + linkSep + l.Client + linkSep + strconv.FormatInt(l.Linked.UnixMilli(), 10)
}

func parseLinked(v string) (Linked, error) {
	parts := strings.Split(strings.TrimSuffix(v, linkPending), linkSep)
	var l Linked
	switch len(parts) {
	case 3:
		l.Network, l.UserID = parts[0], parts[1]
	case 4:
		l.Network, l.UserID, l.Client = parts[0], parts[1], parts[2]
	default:
		return Linked{}, errors.New("identity: malformed linked identity")
	}
	n, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil {
		return Linked{}, errors.New("identity: malformed linked identity")
	}
	l.Linked = time.UnixMilli(n)
	return l, nil
}

// LinkValue is a link pointer's value (LinkKey): "<customer id>\x1f<client>", the
// customer and the client that made the link. Neither may hold a control
// character, so the separator is unambiguous.
func LinkValue(customerID, client string) string { return customerID + linkSep + client }

// ParseLinkValue splits a link pointer's value into the customer and the client
// that made the link. A value without the separator is a link made before links
// recorded their client: the customer id alone, client "".
func ParseLinkValue(v string) (customerID, client string) {
	customerID, client, _ = strings.Cut(v, linkSep)
	return customerID, client
}

// Resolve returns the customer a social identity is linked to and the client that
// made the link ("" for a link made before links recorded their client), in one
// GET. Whether the link counts for a caller is the caller's to judge: a client
// uses only the links of the clients whose enrollments it trusts, and its own.
func (s *Store) Resolve(ctx context.Context, network, userID string) (customerID, client string, ok bool, err error) {
	if err := checkIdentity(network, userID); err != nil {
		return "", "", false, err
	}
	key := LinkKey(IdentityTag(s.keys, network, userID), IdentityHash(s.keys, network, userID))
	v, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, unavailable(err)
	}
	customerID, client = ParseLinkValue(v)
	return customerID, client, true, nil
}

// Link links a social identity to a customer at the request of clientID, as
// clientID's link. Linking it again to the same customer succeeds and keeps the
// first link time (and refreshes the retention). An identity linked to another
// customer, or by another client to this one, is ErrLinkedElsewhere, the same
// answer for both, so that Link tells no one which customer holds an identity;
// with AnyLinks (the may_link grant) another client's link to this customer (a
// link made before links recorded their client included) becomes clientID's,
// linked now.
//
// The customer's entry is written first (pending) and the identity's pointer second,
// so a crash in between leaves an entry that nothing resolves to; when the pointer
// is taken, the entry this call wrote is rolled back. Once the pointer is this
// client's link to the customer, a third step on the customer's slot marks the entry
// done as this client's and records identity_linked in the audit trail, once (a
// repeated Link finishes a link an interrupted one left pending). The customer's
// other pointers and credential index entries are then extended with its retention
// (see retain.go).
func (s *Store) Link(ctx context.Context, clientID, customerID, network, userID string, scope Scope) (Linked, error) {
	if err := checkClientID(clientID); err != nil {
		return Linked{}, err
	}
	if err := checkCustomerID(customerID); err != nil {
		return Linked{}, err
	}
	if err := checkIdentity(network, userID); err != nil {
		return Linked{}, err
	}
	ih := IdentityHash(s.keys, network, userID)
	custKey := CustomerKeyFor(s.keys, customerID)
	field := "L" + ih
	retention := s.cfg.Retention.Milliseconds()
	now := s.now()
	entry := encodeLinked(Linked{Network: network, UserID: userID, Client: clientID, Linked: now})

	res, retained, err := s.exec(ctx, linkEntryScript, []string{custKey}, field, entry+linkPending, customerID, retention)
	if err != nil {
		return Linked{}, err
	}
	// The customer's keys on other slots are extended once, after the last step that
	// restarted its retention (link_entry, or link_done when it runs), whatever the
	// outcome; all but the pointer this call sets itself, with the retention, after
	// link_entry: it trails the hash by link_done's round trip at most.
	pointer, except := LinkKey(IdentityTag(s.keys, network, userID), ih), ""
	defer func() { s.extend(ctx, retained, except) }()
	reply, _ := res.([]any)
	if strAt(reply, 0) == "-1" {
		return Linked{}, errErasing
	}
	created, stored := strAt(reply, 0) == "1", strAt(reply, 1)
	linked, err := parseLinked(stored)
	if err != nil {
		return Linked{}, unavailable(err)
	}
	if linked.Network != network || linked.UserID != userID {
		return Linked{}, fmt.Errorf("%w: linked identity entry does not match its key", ErrUnavailable)
	}

	ok, err := s.runInt(ctx, linkPointerScript, []string{pointer}, LinkValue(customerID, clientID), retention,
		customerID, scope.flag())
	if err != nil {
		// The pointer may or may not be set: the entry stays, which is the safe side
		// (an entry nothing resolves to).
		return Linked{}, err
	}
	if ok == 0 {
		if created {
			if _, err := s.runInt(ctx, linkRollbackScript, []string{custKey}, field, stored); err != nil {
				s.log.Warn("link rollback failed; an unresolved entry stays until retention", "error", err)
			}
		}
		return Linked{}, ErrLinkedElsewhere
	}
	except = pointer
	if strings.HasSuffix(stored, linkPending) || linked.Client != clientID {
		pk, err := s.freshPseudonymKey()
		if err != nil {
			return Linked{}, err
		}
		res, done, err := s.exec(ctx, linkDoneScript, []string{custKey}, field, ms(now), clientID, pk, retention)
		if err != nil {
			// The link stands (the pointer is set); a repeated Link records it.
			return Linked{}, err
		}
		if n, _ := res.(int64); n < 0 {
			// The customer was erased, or the identity unlinked, while this link was
			// under way: its pointer must not outlive the entry.
			if _, err := s.runInt(ctx, unlinkPointerScript, []string{pointer}, customerID, clientID, OwnLinks.flag()); err != nil {
				s.log.Warn("taking back the pointer of a link whose entry is gone failed", "error", err)
			}
			except = ""
			return Linked{}, errErasing
		}
		if done != nil {
			retained = done
		}
		if linked.Client != clientID {
			// Another client's entry (taken over, or left by an earlier link) is
			// this client's link from now on.
			linked.Client, linked.Linked = clientID, now
		}
	}
	return linked, nil
}

// Unlink removes a link at the request of clientID: with OwnLinks only a link
// clientID made, with AnyLinks (the may_link grant, erasure) any client's. The
// pointer goes first (only if it points at this customer and is within scope),
// then the customer's entry, whose script records identity_unlinked in the audit
// trail. ErrNotFound when the identity is not linked to this customer, or is linked
// by a client outside scope: the same answer, so that a client learns nothing of
// another client's links. A pointer already gone with the entry still present (an
// interrupted Unlink or Link) is finished quietly, within the same scope.
func (s *Store) Unlink(ctx context.Context, clientID, customerID, network, userID string, scope Scope) error {
	if err := checkClientID(clientID); err != nil {
		return err
	}
	if err := checkCustomerID(customerID); err != nil {
		return err
	}
	if err := checkIdentity(network, userID); err != nil {
		return err
	}
	ih := IdentityHash(s.keys, network, userID)
	res, err := s.runInt(ctx, unlinkPointerScript, []string{LinkKey(IdentityTag(s.keys, network, userID), ih)},
		customerID, clientID, scope.flag())
	if err != nil {
		return err
	}
	if res < 0 {
		// Linked to another customer, or by a client outside scope: its link is not
		// ours to touch.
		return ErrNotFound
	}
	pk, err := s.freshPseudonymKey()
	if err != nil {
		return err
	}
	// Once the pointer this call removed is gone, the entry goes whoever it names:
	// it is the same link's.
	entryScope := scope
	if res == 1 {
		entryScope = AnyLinks
	}
	removed, err := s.runInt(ctx, unlinkEntryScript, []string{CustomerKeyFor(s.keys, customerID)}, "L"+ih,
		s.cfg.Retention.Milliseconds(), ms(s.now()), clientID, pk, IdentityTag(s.keys, network, userID), entryScope.flag())
	if err != nil {
		return err
	}
	if res == 0 && removed == 0 {
		return ErrNotFound
	}
	return nil
}

// Identities lists the social identities linked to a customer, oldest first, each
// with the client that made its link: whose links a caller may see is the caller's
// to judge.
func (s *Store) Identities(ctx context.Context, customerID string) ([]Linked, error) {
	if err := checkCustomerID(customerID); err != nil {
		return nil, err
	}
	fields, err := s.rdb.HGetAll(ctx, CustomerKeyFor(s.keys, customerID)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	var out []Linked
	for k, v := range fields {
		if !strings.HasPrefix(k, "L") {
			continue
		}
		l, err := parseLinked(v)
		if err != nil {
			return nil, unavailable(err)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Linked.Equal(out[j].Linked) {
			return out[i].Linked.Before(out[j].Linked)
		}
		if out[i].Network != out[j].Network {
			return out[i].Network < out[j].Network
		}
		return out[i].UserID < out[j].UserID
	})
	return out, nil
}
