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
	Linked          time.Time
}

// linkSep separates the parts of a customer's L<ih> entry; validation keeps control
// characters out of every part.
const linkSep = "\x1f"

// linkPending ends an entry whose link is being made (link_entry wrote it, link_done
// has not yet recorded it).
const linkPending = linkSep + "p"

func encodeLinked(l Linked) string {
	return l.Network + linkSep + l.UserID + linkSep + strconv.FormatInt(l.Linked.UnixMilli(), 10)
}

func parseLinked(v string) (Linked, error) {
	parts := strings.Split(strings.TrimSuffix(v, linkPending), linkSep)
	if len(parts) != 3 {
		return Linked{}, errors.New("identity: malformed linked identity")
	}
	n, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Linked{}, errors.New("identity: malformed linked identity")
	}
	return Linked{Network: parts[0], UserID: parts[1], Linked: time.UnixMilli(n)}, nil
}

// Resolve returns the customer a social identity is linked to, in one GET.
func (s *Store) Resolve(ctx context.Context, network, userID string) (customerID string, ok bool, err error) {
	if err := checkIdentity(network, userID); err != nil {
		return "", false, err
	}
	key := LinkKey(IdentityTag(s.keys, network, userID), IdentityHash(s.keys, network, userID))
	id, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, unavailable(err)
	}
	return id, true, nil
}

// Link links a social identity to a customer at the request of clientID. Linking
// it again to the same customer succeeds and keeps the first link time (and
// refreshes the retention); an identity linked to another customer is
// ErrLinkedElsewhere.
//
// The customer's entry is written first (pending) and the identity's pointer second,
// so a crash in between leaves an entry that nothing resolves to; when the pointer
// is taken, the entry this call wrote is rolled back. Once the pointer is the
// customer's, a third step on the customer's slot marks the entry done and records
// identity_linked in the audit trail, once (a repeated Link finishes a link an
// interrupted one left pending). The customer's other pointers and credential index
// entries are then extended with its retention (see retain.go).
func (s *Store) Link(ctx context.Context, clientID, customerID, network, userID string) (Linked, error) {
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
	entry := encodeLinked(Linked{Network: network, UserID: userID, Linked: s.now()})

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

	ok, err := s.runInt(ctx, linkPointerScript, []string{pointer}, customerID, retention)
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
	if strings.HasSuffix(stored, linkPending) {
		pk, err := s.freshPseudonymKey()
		if err != nil {
			return Linked{}, err
		}
		res, done, err := s.exec(ctx, linkDoneScript, []string{custKey}, field, ms(s.now()), clientID, pk, retention)
		if err != nil {
			// The link stands (the pointer is set); a repeated Link records it.
			return Linked{}, err
		}
		if n, _ := res.(int64); n < 0 {
			// The customer was erased, or the identity unlinked, while this link was
			// under way: its pointer must not outlive the entry.
			if _, err := s.runInt(ctx, unlinkPointerScript, []string{pointer}, customerID); err != nil {
				s.log.Warn("taking back the pointer of a link whose entry is gone failed", "error", err)
			}
			except = ""
			return Linked{}, errErasing
		}
		if done != nil {
			retained = done
		}
	}
	return linked, nil
}

// Unlink removes a link at the request of clientID. The pointer goes first (only
// if it points at this customer), then the customer's entry, whose script records
// identity_unlinked in the audit trail. ErrNotFound when the identity is not linked
// to this customer. A pointer already gone with the entry still present (an
// interrupted Unlink or Link) is finished quietly.
func (s *Store) Unlink(ctx context.Context, clientID, customerID, network, userID string) error {
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
	res, err := s.runInt(ctx, unlinkPointerScript, []string{LinkKey(IdentityTag(s.keys, network, userID), ih)}, customerID)
	if err != nil {
		return err
	}
	if res < 0 {
		// Linked to another customer: its link is not ours to touch.
		return ErrNotFound
	}
	pk, err := s.freshPseudonymKey()
	if err != nil {
		return err
	}
	removed, err := s.runInt(ctx, unlinkEntryScript, []string{CustomerKeyFor(s.keys, customerID)}, "L"+ih,
		s.cfg.Retention.Milliseconds(), ms(s.now()), clientID, pk, IdentityTag(s.keys, network, userID))
	if err != nil {
		return err
	}
	if res == 0 && removed == 0 {
		return ErrNotFound
	}
	return nil
}

// Identities lists the social identities linked to a customer, oldest first.
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
