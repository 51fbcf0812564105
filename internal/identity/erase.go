package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
)

// Erased counts what Erase removed.
type Erased struct {
	// Identities is the number of social identities that were linked to the customer.
	Identities int
	// Factors is the number of enrolled factors (authenticator apps and passkeys).
	Factors int
	// Verifications is the number of verification records, pending and finished.
	Verifications int
	// EnrollmentLinks is the number of enrollment links that were still open (used,
	// dead and expired ones are removed too, but not counted).
	EnrollmentLinks int
	// AuditEntries is the number of audit entries removed: those that named one of
	// the customer's identities by its keyed hash (see Erase).
	AuditEntries int
}

// outcome is the erased event's 'o': the counts, named.
func (e Erased) outcome() string {
	return fmt.Sprintf("identities=%d,factors=%d,verifications=%d,enrollment_links=%d,audit_entries=%d",
		e.Identities, e.Factors, e.Verifications, e.EnrollmentLinks, e.AuditEntries)
}

// Erasure works through keys it finds with SCAN: eraseScanCount is the COUNT hint of
// one SCAN call, eraseBatch the most keys one erase_keys script judges.
const (
	eraseScanCount = 1000
	eraseBatch     = 100
)

// Erase removes everything authsvc keeps about a customer, at the request of
// clientID:
//
//   - the link pointers of the customer's linked identities (first, so that nothing
//     resolves to the customer any more);
//   - the credential index entries of its passkeys;
//   - under the customer's tag and each linked identity's tag (found by SCAN on
//     every master): the verifications of the customer (those started for it, 'ck',
//     and those that named no customer but were linked to it, 'lc', or were started
//     by one of its linked identities), with their passkey ceremonies; its
//     enrollment links with their ceremonies; any other pointer to its id; and the
//     per-identity counters of its identities and of the identities its
//     verifications were started for (fields in "v:{tag}:i" that start with their
//     identity hash). The tags of identities named by the customer's own
//     verifications are searched too, for verifications linked to the customer;
//   - the audit entries of verifications that named no customer and were started by
//     one of the customer's identities (linked to it, or whose verification was
//     linked to it): package challenge names the identity in those by its keyed
//     identity hash, which no key deletion can make unlinkable. They are read where
//     such verifications write (the one stream, or on Cluster the identities' tags'
//     streams) and deleted whole;
//   - last, the customer hash: factors (sealed TOTP seeds, passkey public keys),
//     linked identities, the last TOTP step and the audit pseudonym key 'pk'. The
//     same script writes the erased event (client, counts, no customer pseudonym).
//
// Every other audit entry stays as it was: it names the customer and its identities
// only by pseudonyms under 'pk', which is gone, so it can no longer be tied to the
// customer (crypto-shredding), and it ages out with the audit retention. A new
// verification of the customer starts from nothing, with a new key. A verification
// one of the customer's identities started for another customer is that customer's
// and stays.
//
// Each key is judged and deleted by a script on its own slot, together with the
// keys that belong to it, so no record is ever half deleted; keys of other
// customers or identities sharing a tag are left alone. The customer hash goes
// last, so an interrupted Erase leaves the index to what remains and a repeat
// finishes the job. Erase does not lock the customer: a verification or link made
// while it runs may survive it (erase again). Erasing an unknown customer, or one
// erased already, removes nothing and answers zero counts.
//
// SCAN walks the whole keyspace of every master with a MATCH pattern, and the
// audit entries are read through (on standalone and Sentinel, the whole stream):
// Erase is a rare administrative operation and never on a hot path.
func (s *Store) Erase(ctx context.Context, clientID, customerID string) (Erased, error) {
	if err := checkClientID(clientID); err != nil {
		return Erased{}, err
	}
	if err := checkCustomerID(customerID); err != nil {
		return Erased{}, err
	}
	ctag, ch := CustomerTag(s.keys, customerID), CustomerHash(s.keys, customerID)
	ckey := CustomerKey(ctag, ch)
	fields, err := s.rdb.HGetAll(ctx, ckey).Result()
	if err != nil {
		return Erased{}, unavailable(err)
	}

	var out Erased
	p := newErasePlan(ctag)
	// The customer's own counters (package challenge counts the failures of her
	// authenticator apps and passkeys, and her starts that send nothing, against her
	// hash, on her tag).
	p.purge(ctag, ch)
	var pointers []string
	type claim struct{ key, owner string }
	var claims []claim
	for k, v := range fields {
		switch {
		case strings.HasPrefix(k, "L"):
			out.Identities++
			ih := k[1:]
			p.purge(ctag, ih)
			l, err := parseLinked(v)
			if err != nil {
				// Only the store writes entries: a bad one is a bug or tampering. Its
				// pointer cannot be found; the entry goes with the customer hash.
				s.log.Error("erase: a linked identity entry does not parse; its own tag is not searched")
				continue
			}
			itag := IdentityTag(s.keys, l.Network, l.UserID)
			p.link(itag, ih)
			pointers = append(pointers, LinkKey(itag, ih))
		case strings.HasPrefix(k, "X"):
			// An identity unlinked from the customer: what it left while it was
			// linked goes too. Its records that named the customer go wherever they
			// are (by 'lc'); its counters and audit entries only while no other
			// customer holds it now (they would be that customer's).
			ih := k[1:]
			if !validTag(v) {
				s.log.Error("erase: an unlinked identity entry does not parse; its tag is not searched")
				continue
			}
			p.search(v)
			other, err := s.rdb.Get(ctx, LinkKey(v, ih)).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return Erased{}, unavailable(err)
			}
			if other == "" || other == customerID {
				p.link(v, ih)
			}
		case strings.HasPrefix(k, "F"):
			out.Factors++
			f, err := parseFactor(k[1:], v)
			if err != nil {
				s.log.Error("erase: a factor does not parse; its credential index entry is left to expire")
				continue
			}
			if f.Passkey != nil {
				claims = append(claims, claim{CredentialKey(s.keys, f.Passkey.CredentialID), ctag + ":" + ch + ":" + f.ID})
			}
		}
	}

	// Nothing resolves to the customer any more: a pointer is deleted only while it
	// points at this customer.
	for _, key := range pointers {
		if _, err := s.runInt(ctx, unlinkPointerScript, []string{key}, customerID); err != nil {
			return Erased{}, err
		}
	}
	for _, c := range claims {
		if _, err := s.runInt(ctx, credentialReleaseScript, []string{c.key}, c.owner); err != nil {
			return Erased{}, err
		}
	}

	handle := base64.StdEncoding.EncodeToString(NewPasskeyUser(s.keys, customerID, "", nil).WebAuthnID())
	for i := 0; i < len(p.tags); i++ {
		tag := p.tags[i]
		keys, err := s.scanTag(ctx, tag)
		if err != nil {
			return Erased{}, err
		}
		for len(keys) > 0 {
			batch := keys[:min(len(keys), eraseBatch)]
			keys = keys[len(batch):]
			_, reply, err := s.runList(ctx, eraseKeysScript, batch, ms(s.now()), ch, customerID, handle,
				strings.Join(p.linked[tag], ","))
			if err != nil {
				return Erased{}, err
			}
			if len(reply) != 5 {
				return Erased{}, fmt.Errorf("%w: unexpected erase reply", ErrUnavailable)
			}
			n, _ := reply[0].(int64)
			e, _ := reply[1].(int64)
			out.Verifications += int(n)
			out.EnrollmentLinks += int(e)
			ihs, _ := reply[2].([]any)
			for j := range ihs {
				p.purge(tag, strAt(ihs, j))
			}
			idents, _ := reply[3].([]any)
			for j := range idents {
				if network, userID, ok := strings.Cut(strAt(idents, j), linkSep); ok && checkIdentity(network, userID) == nil {
					p.search(IdentityTag(s.keys, network, userID))
				}
			}
			unnamed, _ := reply[4].([]any)
			for j := range unnamed {
				p.name(strAt(unnamed, j))
			}
		}
		if ihs := p.purged[tag]; len(ihs) > 0 {
			args := make([]any, len(ihs))
			for j, ih := range ihs {
				args[j] = ih
			}
			if _, err := s.runInt(ctx, eraseCountersScript, []string{"v:{" + tag + "}:i"}, args...); err != nil {
				return Erased{}, err
			}
		}
	}

	if len(p.named) > 0 {
		streams := []string{audit.StreamKey("", false)}
		if s.cfg.AuditPerTag {
			streams = streams[:0]
			for _, tag := range p.tags {
				streams = append(streams, audit.StreamKey(tag, true))
			}
		}
		for _, stream := range streams {
			n, err := s.purgeTrail(ctx, clientID, stream, p.named)
			if err != nil {
				return Erased{}, err
			}
			out.AuditEntries += n
		}
	}

	token, err := s.randomB32(callTokenLen)
	if err != nil {
		return Erased{}, err
	}
	if _, err := s.run(ctx, eraseCustomerScript, []string{ckey, ReplayKey(ctag, token)}, ms(s.now()), clientID,
		out.outcome(), ReplayWindow.Milliseconds()); err != nil {
		return Erased{}, err
	}
	s.log.Info("customer erased", "client_id", clientID, "identities", out.Identities, "factors", out.Factors,
		"verifications", out.Verifications, "enrollment_links", out.EnrollmentLinks, "audit_entries", out.AuditEntries)
	return out, nil
}

// purgeTrail deletes from stream the audit entries whose identity ('i') is one of
// ihs, reading it through in batches (erase_trail.lua), and returns how many went.
func (s *Store) purgeTrail(ctx context.Context, clientID, stream string, ihs []string) (int, error) {
	names := strings.Join(ihs, ",")
	deleted, after := 0, "-"
	for {
		_, reply, err := s.runList(ctx, eraseTrailScript, []string{stream}, after, eraseScanCount, ms(s.now()), clientID, names)
		if err != nil {
			return deleted, err
		}
		if len(reply) != 3 {
			return deleted, fmt.Errorf("%w: unexpected erase reply", ErrUnavailable)
		}
		read, _ := reply[0].(int64)
		n, _ := reply[2].(int64)
		deleted += int(n)
		if read < eraseScanCount {
			return deleted, nil
		}
		after = strAt(reply, 1)
	}
}

// erasePlan is what an erasure searches: the tags in the order they are searched,
// the linked identities on each tag, the identities whose counters go on each, and
// the identities whose audit entries go.
type erasePlan struct {
	tags   []string
	seen   map[string]bool
	linked map[string][]string
	purged map[string][]string
	named  []string
}

func newErasePlan(ctag string) *erasePlan {
	p := &erasePlan{seen: map[string]bool{}, linked: map[string][]string{}, purged: map[string][]string{}}
	p.search(ctag)
	return p
}

// search adds tag to the tags searched.
func (p *erasePlan) search(tag string) {
	if !p.seen[tag] {
		p.seen[tag] = true
		p.tags = append(p.tags, tag)
	}
}

// link records a linked identity ih on its tag: its verifications without a
// customer and its counters there go.
func (p *erasePlan) link(tag, ih string) {
	p.search(tag)
	if !slices.Contains(p.linked[tag], ih) {
		p.linked[tag] = append(p.linked[tag], ih)
	}
	p.purge(tag, ih)
	p.name(ih)
}

// name records that the audit entries naming ih by its identity hash go.
func (p *erasePlan) name(ih string) {
	if ih != "" && !slices.Contains(p.named, ih) {
		p.named = append(p.named, ih)
	}
}

// purge records that the counters of ih on tag go.
func (p *erasePlan) purge(tag, ih string) {
	if ih != "" && !slices.Contains(p.purged[tag], ih) {
		p.purged[tag] = append(p.purged[tag], ih)
	}
}

// scanTag returns every key under a hash tag, "v:{tag}:…", found with SCAN on every
// master (on Cluster, the tag's slot lives on one of them), sorted.
func (s *Store) scanTag(ctx context.Context, tag string) ([]string, error) {
	pattern := "v:{" + tag + "}:*"
	var mu sync.Mutex
	found := map[string]bool{}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, pattern, eraseScanCount).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			found[it.Val()] = true
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// validTag reports whether s has the shape of a hash tag.
func validTag(s string) bool { return len(s) == TagLen && isLowerB32(s) }
