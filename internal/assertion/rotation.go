package assertion

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultPublishLead is the publish lead OpenKeyring uses when given none: twice the
// five minutes for which the JWKS document may be cached.
const DefaultPublishLead = 10 * time.Minute

// KeyringOptions configure OpenKeyring. The zero value is usable.
type KeyringOptions struct {
	// Active pins the signing key by file name without ".pem" or by kid, overriding
	// the schedule in the metadata files (and the publish lead). Empty: the
	// metadata decides.
	Active string
	// Now is the keyring's clock; time.Now when nil.
	Now func() time.Time
	// PublishLead is how long a key must have been published (in this keyring)
	// before it may sign, and how much longer than its last token's lifetime a
	// retired key stays published; DefaultPublishLead when <= 0.
	PublishLead time.Duration
	// Lifetime is the longest lifetime of an assertion signed with the ring (the
	// Minter's); DefaultLifetime when <= 0.
	Lifetime time.Duration
	// Logger receives a line when the active key or the published set changes, and
	// a warning when a key due to sign is held back; nothing when nil.
	Logger *slog.Logger
}

func (o KeyringOptions) withDefaults() KeyringOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PublishLead <= 0 {
		o.PublishLead = DefaultPublishLead
	}
	if o.Lifetime <= 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// KeyMetadata is the content of a key's metadata file: NAME.json beside NAME.pem,
// a JSON object with the members below (unknown members are refused). A key without
// a metadata file may sign at any time and is never retired.
type KeyMetadata struct {
	// KeyID, when present, must be the key's kid: a check that the two files belong
	// together.
	KeyID string `json:"kid,omitempty"`
	// NotBefore is when the key may start signing (RFC 3339).
	NotBefore time.Time `json:"not_before,omitzero"`
	// RetireAt, when set, is when the key stops signing (RFC 3339), after NotBefore.
	RetireAt time.Time `json:"retire_at,omitzero"`
}

// Key states, as KeyState.State reports them.
const (
	// StateNext: published, not yet signing (before not_before, or not yet
	// published for the publish lead).
	StateNext = "next"
	// StateActive: the key that signs.
	StateActive = "active"
	// StateStandby: may sign, is not retired, but a newer key (or the pinned one)
	// signs; published.
	StateStandby = "standby"
	// StateRetired: past retire_at and no longer signing; published until its last
	// token has expired.
	StateRetired = "retired"
	// StateDropped: retired long enough to be unpublished; its tokens are refused and
	// its files may be removed.
	StateDropped = "dropped"
)

// KeyState describes one key of the ring at the keyring's current time.
type KeyState struct {
	KeyID string
	// Name is the file name without ".pem"; empty for NewKeyring keys.
	Name  string
	State string
	// NotBefore and RetireAt are the key's metadata (zero when absent).
	NotBefore, RetireAt time.Time
	// SigningFrom is the earliest time the key may sign: NotBefore, or later when
	// it was published less than the publish lead before it.
	SigningFrom time.Time
	// PublishedUntil is when the key leaves the JWKS; zero while that is not
	// scheduled.
	PublishedUntil time.Time
}

// KeyStates returns every key of the ring, in kid order, with its state now.
func (k *Keyring) KeyStates() []KeyState { return slices.Clone(k.current().states) }

// readMetadata reads the key's metadata file at path, if there is one.
func (rk *ringKey) readMetadata(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	var m KeyMetadata
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyMetadata, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the object", ErrKeyMetadata)
	}
	if m.KeyID != "" && m.KeyID != rk.kid {
		return fmt.Errorf("%w: kid %s is not the key's (%s)", ErrKeyMetadata, m.KeyID, rk.kid)
	}
	if !m.RetireAt.IsZero() && !m.RetireAt.After(m.NotBefore) {
		return fmt.Errorf("%w: retire_at is not after not_before", ErrKeyMetadata)
	}
	rk.notBefore, rk.retireAt = m.NotBefore, m.RetireAt
	return nil
}

// eligibleFrom is when the key may sign: its not_before, but never before it has
// been published for lead.
func (rk *ringKey) eligibleFrom(lead time.Duration) time.Time {
	if rk.seen.IsZero() {
		return rk.notBefore
	}
	if p := rk.seen.Add(lead); p.After(rk.notBefore) {
		return p
	}
	return rk.notBefore
}

func (rk *ringKey) retired(t time.Time) bool {
	return !rk.retireAt.IsZero() && !t.Before(rk.retireAt)
}

// keySet is one load of the key directory. It never changes.
type keySet struct {
	keys []*ringKey // sorted by kid
	pin  *ringKey   // the pinned signer, or nil
}

func newKeySet(keys []*ringKey, pin *ringKey) (*keySet, error) {
	byKID := make(map[string]bool, len(keys))
	for _, rk := range keys {
		if byKID[rk.kid] {
			if rk.file != "" {
				return nil, fmt.Errorf("assertion: key file %q repeats key %s: %w", rk.file, rk.kid, ErrDuplicateKey)
			}
			return nil, fmt.Errorf("assertion: key %s: %w", rk.kid, ErrDuplicateKey)
		}
		byKID[rk.kid] = true
	}
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b *ringKey) int { return strings.Compare(a.kid, b.kid) })
	return &keySet{keys: keys, pin: pin}, nil
}

// key returns the key kid names, or nil (also for a nil set).
func (s *keySet) key(kid string) *ringKey {
	if s == nil {
		return nil
	}
	for _, rk := range s.keys {
		if rk.kid == kid {
			return rk
		}
	}
	return nil
}

// checkSchedule refuses, without a pinned key, two keys that would start signing at
// the same time, and a set in which no key is due to sign at now.
func (s *keySet) checkSchedule(now time.Time) error {
	due := false
	for i, a := range s.keys {
		for _, b := range s.keys[i+1:] {
			if a.notBefore.Equal(b.notBefore) {
				if a.notBefore.IsZero() {
					return fmt.Errorf("%d keys and no active key named: %q and %q have no not_before: %w",
						len(s.keys), a.name, b.name, ErrActiveKey)
				}
				return fmt.Errorf("keys %q and %q have the same not_before: %w", a.name, b.name, ErrActiveKey)
			}
		}
		if !now.Before(a.notBefore) && !a.retired(now) {
			due = true
		}
	}
	if !due {
		return fmt.Errorf("no key is due to sign at %s (all are next or retired): %w", now.UTC().Format(time.RFC3339), ErrActiveKey)
	}
	return nil
}

// signerAt returns the key that signs at t: the pinned key; else the published,
// unretired key with the latest not_before whose time has come; else (when the
// successor is held back or missing) the published key retired last keeps signing,
// unless it had already stopped.
// It returns nil only when no key has been published long enough.
func (s *keySet) signerAt(t time.Time, lead time.Duration) *ringKey {
	if s.pin != nil {
		return s.pin
	}
	var best *ringKey
	for _, rk := range s.keys {
		if t.Before(rk.eligibleFrom(lead)) || rk.retired(t) {
			continue
		}
		if best == nil || rk.notBefore.After(best.notBefore) {
			best = rk
		}
	}
	if best != nil {
		return best
	}
	for _, rk := range s.keys {
		if t.Before(rk.eligibleFrom(lead)) || (!rk.stopped.IsZero() && !t.Before(rk.stopped)) {
			continue
		}
		if best == nil || rk.retireAt.After(best.retireAt) {
			best = rk
		}
	}
	return best
}

// scheduledAt is the key the metadata alone would have sign at t (nil if none).
func (s *keySet) scheduledAt(t time.Time) *ringKey {
	var best *ringKey
	for _, rk := range s.keys {
		if t.Before(rk.notBefore) || rk.retired(t) {
			continue
		}
		if best == nil || rk.notBefore.After(best.notBefore) {
			best = rk
		}
	}
	return best
}

// boundaries returns, sorted, every instant at which signerAt may change.
func (s *keySet) boundaries(lead time.Duration) []time.Time {
	var b []time.Time
	for _, rk := range s.keys {
		for _, t := range []time.Time{rk.notBefore, rk.eligibleFrom(lead), rk.retireAt} {
			if !t.IsZero() {
				b = append(b, t)
			}
		}
	}
	slices.SortFunc(b, time.Time.Compare)
	return slices.CompactFunc(b, time.Time.Equal)
}

// stop returns when rk signs for the last time (the end of its last signing
// period, or its retire_at if it never signed after that), and false when that is
// not scheduled: the key has no retire_at, or nothing takes over from it.
func (s *keySet) stop(rk *ringKey, lead time.Duration, bounds []time.Time) (time.Time, bool) {
	if !rk.stopped.IsZero() {
		return rk.stopped, true
	}
	if rk.retireAt.IsZero() {
		return time.Time{}, false
	}
	if s.signerAt(rk.retireAt, lead) != rk {
		return rk.retireAt, true
	}
	for _, b := range bounds {
		if b.After(rk.retireAt) && s.signerAt(b, lead) != rk {
			return b, true
		}
	}
	return time.Time{}, false
}

// ringView is the state of a key set over the interval [from, until) (until zero:
// without end), during which nothing changes.
type ringView struct {
	set         *keySet
	from, until time.Time
	active      *ringKey
	byKID       map[string]*ringKey // published keys
	resign      map[string]bool     // published keys MintWithKey may use
	jwks        []byte
	etag        string
	public      []PublicKey
	states      []KeyState
	summary     string // what is logged when it changes
}

func (v *ringView) covers(t time.Time) bool {
	return !t.Before(v.from) && (v.until.IsZero() || t.Before(v.until))
}

// current returns the view for the keyring's time now, computing it (once per
// change of state) when the cached one does not cover now.
func (k *Keyring) current() *ringView {
	now := k.opts.Now()
	set := k.set.Load()
	if v := k.view.Load(); v != nil && v.set == set && v.covers(now) {
		return v
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	set = k.set.Load()
	prev := k.view.Load()
	if prev != nil && prev.set == set && prev.covers(now) {
		return prev
	}
	v := set.view(now, k.opts)
	k.view.Store(v)
	if k.lastSummary != v.summary {
		k.lastSummary = v.summary
		k.logView(v, now)
	}
	return v
}

// logView reports a new state of the ring.
func (k *Keyring) logView(v *ringView, now time.Time) {
	log := k.opts.Logger
	published := make([]string, 0, len(v.byKID))
	for _, st := range v.states {
		if st.State != StateDropped {
			published = append(published, st.KeyID)
		}
	}
	active := ""
	if v.active != nil {
		active = v.active.kid
	}
	log.Info("signing keys", "active", active, "published", published)
	if v.set.pin != nil {
		return
	}
	if due := v.set.scheduledAt(now); due != nil && due != v.active {
		log.Warn("signing key due by not_before is held back: it has not been published for the publish lead; the previous key keeps signing",
			"kid", due.kid, "name", due.name, "signing_from", due.eligibleFrom(k.opts.PublishLead).UTC().Format(time.RFC3339), "active", active)
	}
	if v.active != nil && v.active.retired(now) {
		log.Warn("the signing key is past its retire_at and no published successor may sign yet: add a key",
			"kid", v.active.kid, "name", v.active.name)
	}
}

// view computes the state of s at now.
func (s *keySet) view(now time.Time, o KeyringOptions) *ringView {
	lead, keep := o.PublishLead, o.PublishLead+o.Lifetime+Leeway
	bounds := s.boundaries(lead)
	edges := slices.Clone(bounds)
	v := &ringView{set: s, active: s.signerAt(now, lead), byKID: map[string]*ringKey{}, resign: map[string]bool{}}
	var doc bytes.Buffer
	doc.WriteString(`{"keys":[`)
	var summary strings.Builder
	for _, rk := range s.keys {
		st := KeyState{KeyID: rk.kid, Name: rk.name, NotBefore: rk.notBefore, RetireAt: rk.retireAt,
			SigningFrom: rk.eligibleFrom(lead)}
		published := true
		if stop, ok := s.stop(rk, lead, bounds); ok {
			st.PublishedUntil = stop.Add(keep)
			edges = append(edges, st.PublishedUntil)
			published = now.Before(st.PublishedUntil)
		}
		switch {
		case rk == v.active:
			st.State, published = StateActive, true
		case !published:
			st.State = StateDropped
		case rk.retired(now):
			st.State = StateRetired
		case now.Before(st.SigningFrom):
			st.State = StateNext
		default:
			st.State = StateStandby
		}
		v.states = append(v.states, st)
		fmt.Fprintf(&summary, "%s=%s;", rk.kid, st.State)
		if !published {
			continue
		}
		if len(v.byKID) > 0 {
			doc.WriteByte(',')
		}
		doc.Write(rk.jwk)
		v.byKID[rk.kid] = rk
		v.resign[rk.kid] = st.State != StateNext
		v.public = append(v.public, rk.pub)
	}
	doc.WriteString(`]}`)
	v.jwks = doc.Bytes()
	sum := sha256.Sum256(v.jwks)
	v.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	if s.pin == nil {
		if due := s.scheduledAt(now); due != nil && due != v.active {
			fmt.Fprintf(&summary, "held=%s;", due.kid)
		}
	}
	v.summary = summary.String()
	for _, e := range edges {
		if !e.After(now) && e.After(v.from) {
			v.from = e
		}
		if e.After(now) && (v.until.IsZero() || e.Before(v.until)) {
			v.until = e
		}
	}
	return v
}
