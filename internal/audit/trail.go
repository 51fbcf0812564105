package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNeedsSubject is Trail.List's answer, on Redis Cluster, to a query that names neither a
// customer nor a verification: the trail is one stream per hash tag there, and a query must say
// which to read.
var ErrNeedsSubject = errors.New("audit: on Redis Cluster, name a customer or a verification")

// Customer says where a customer's pseudonym key is kept and what the customer's pseudonym is
// made of. Package identity owns the layout (identity.CustomerKeyFor, CustomerTag and
// CustomerHash); a deployment passes a function that builds it to NewTrail.
type Customer struct {
	// Key is the customer's hash; its field "pk" holds the pseudonym key (64 hex digits) that
	// the verification scripts create on the customer's first verification.
	Key string
	// Tag is the customer's hash tag: its stream on Redis Cluster.
	Tag string
	// Subject is what the customer's pseudonym is made of: Pseudonym(pk, Subject).
	Subject string
}

// Query selects audit events for Trail.List. Empty fields select everything.
type Query struct {
	// CustomerID is the brand's customer id: the events whose customer pseudonym is this
	// customer's.
	CustomerID string
	// VerificationID selects the events of one verification.
	VerificationID string
	// ClientID selects the events of one API client ("c").
	ClientID string
	// From ≤ event time < To; a zero bound is unbounded.
	From, To time.Time
	// PageSize is as for List: DefaultPageSize when 0 or less, at most MaxPageSize.
	PageSize int
	// PageToken continues a previous call with the same query; "" starts at the beginning.
	PageToken string
}

// tagLen is the length of a hash tag, and so of a verification id's first part.
const tagLen = 3

// Trail is a deployment's audit trail: the streams the verification scripts write (one on
// standalone Redis and Sentinel, one per hash tag on Cluster, see StreamKey) and the events
// no script writes. It is safe for concurrent use.
type Trail struct {
	w       *Writer
	perTag  bool
	locate  func(customerID string) Customer
	archive Archive
}

// Archive is where exported events are kept for their retention and can be read back: the
// database the exporter writes (package auditexport's PostgreSQL sink).
type Archive interface {
	// List returns at most pageSize events that match f (DefaultPageSize when pageSize ≤ 0, at
	// most MaxPageSize), oldest first across every stream, and the token of the next page (""
	// once none remain). A token it did not issue is ErrBadPageToken; a store error wraps
	// ErrUnavailable.
	List(ctx context.Context, f Filter, pageSize int, token string) ([]Event, string, error)
}

// TrailOption configures a Trail.
type TrailOption func(*Trail)

// WithArchive makes Trail.List read a instead of the Redis buffer.
func WithArchive(a Archive) TrailOption { return func(t *Trail) { t.archive = a } }

// NewTrail returns the trail that w writes to. perTag is true on Redis Cluster (each hash tag
// keeps its own stream); locate says where a customer's pseudonym key is kept.
func NewTrail(w *Writer, perTag bool, locate func(customerID string) Customer, opts ...TrailOption) *Trail {
	t := &Trail{w: w, perTag: perTag, locate: locate}
	for _, o := range opts {
		o(t)
	}
	return t
}

// List returns the events q selects, oldest first within a stream, and the token of the next
// page ("" once nothing remains); see List for paging and the bound on the work of one call.
// With an archive (WithArchive) it reads the archive instead of the Redis buffer: every event
// exported and not yet past the archive's retention, oldest first across streams, on Cluster too
// (a query need not name a subject).
// Reading a customer's events costs one HGET of its pseudonym key first: an unknown customer,
// or one no verification has named yet (no key), has no events, and its answer is the same
// as that of a customer without any. On Redis Cluster the query reads one stream, the
// verification's (its id's tag) when it names one, else the customer's (its tag), and a query
// that names neither is ErrNeedsSubject. A token List did not issue is ErrBadPageToken; store
// errors wrap ErrUnavailable.
func (t *Trail) List(ctx context.Context, q Query) ([]Event, string, error) {
	// A bad token is refused before any Redis work, whatever the query names.
	if _, err := parseToken(q.PageToken, 1); err != nil && t.archive == nil {
		return nil, "", err
	}
	var c Customer
	if q.CustomerID != "" {
		c = t.locate(q.CustomerID)
	}
	stream := sharedStream
	if t.perTag && t.archive == nil {
		switch {
		case q.VerificationID != "":
			tag, ok := tagOf(q.VerificationID)
			if !ok {
				return nil, "", nil // no stream holds events of an id of another shape
			}
			stream = StreamKey(tag, true)
		case q.CustomerID != "":
			stream = StreamKey(c.Tag, true)
		default:
			return nil, "", ErrNeedsSubject
		}
	}
	f := Filter{VerificationID: q.VerificationID, ClientID: q.ClientID, From: q.From, To: q.To}
	if q.CustomerID != "" {
		pk, err := t.w.rdb.HGet(ctx, c.Key, "pk").Result()
		switch {
		case errors.Is(err, redis.Nil):
			return nil, "", nil
		case err != nil:
			return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
		case len(pk) != pseudonymKeyLen:
			return nil, "", nil
		}
		f.Customer = Pseudonym(pk, c.Subject)
	}
	if t.archive != nil {
		return t.archive.List(ctx, f, q.PageSize, q.PageToken)
	}
	return List(ctx, t.w.rdb, []string{stream}, f, q.PageSize, q.PageToken)
}

// pseudonymKeyLen is the length of a customer's pseudonym key: 32 bytes in hex.
const pseudonymKeyLen = 64

// tagOf returns the hash tag a verification id starts with: "<tag>-<body>", the tag
// tagLen characters of lower-case base32. ok is false for an id of another shape.
func tagOf(verificationID string) (tag string, ok bool) {
	if len(verificationID) <= tagLen || verificationID[tagLen] != '-' {
		return "", false
	}
	for _, c := range verificationID[:tagLen] {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return "", false
		}
	}
	return verificationID[:tagLen], true
}

// Append writes e, an event that no script writes (a refused call, say), in one round trip.
// Such events belong to no hash tag, so they go to the stream "audit:events" on every
// deployment: the shared stream on standalone Redis and Sentinel, and on Cluster a stream of
// its own, which List does not read there (a query must name a customer or a verification).
// Store errors wrap ErrUnavailable.
func (t *Trail) Append(ctx context.Context, e Event) error {
	_, err := t.w.Append(ctx, sharedStream, e)
	return err
}
