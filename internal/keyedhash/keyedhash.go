// Package keyedhash computes keyed hashes (HMAC-SHA256) of secrets and identifiers,
// so that Redis holds codes, link tokens, contact points and handles only in a form
// that is useless without the service's key.
//
// Every hash is bound to a purpose string (domain separation: a code hash can never
// stand in for a link-token hash) and is computed under a key with an id, so a key can
// rotate: records store the id of the key that hashed them and are checked with that
// key while it stays in the ring.
package keyedhash

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"sync"

	"github.com/authsvc/authsvc/internal/keyfile"
)

// MinKeyLen is the shortest key accepted, in bytes.
const MinKeyLen = 32

// ErrUnknownKey is returned for a key id that is not in the ring.
var ErrUnknownKey = errors.New("keyedhash: unknown key id")

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// Key is one HMAC key with its id.
type Key struct {
	ID     string
	Secret []byte
}

// Ring holds the keys; the first one hashes new records, all of them check old ones.
type Ring struct {
	keys    []Key
	byID    map[string]*keyState
	current string
}

// keyState is one key and a pool of HMAC states keyed with it: a keyed state is
// reset to just after the key (hash.Hash.Reset) instead of being built again,
// which saves the key schedule and its allocations on every sum.
type keyState struct {
	secret []byte
	macs   sync.Pool
}

func newKeyState(secret []byte) *keyState {
	k := &keyState{secret: secret}
	k.macs.New = func() any { return hmac.New(sha256.New, k.secret) }
	return k
}

// NewRing builds a ring; keys[0] is current. Ids must be unique, [A-Za-z0-9_-]{1,16},
// and secrets at least MinKeyLen bytes.
func NewRing(keys ...Key) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyedhash: no keys")
	}
	r := &Ring{byID: make(map[string]*keyState, len(keys)), current: keys[0].ID}
	for i, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("keyedhash: key %d: id must match %s", i+1, keyIDPattern)
		}
		if len(k.Secret) < MinKeyLen {
			return nil, fmt.Errorf("keyedhash: key %q: secret must be at least %d bytes", k.ID, MinKeyLen)
		}
		if _, dup := r.byID[k.ID]; dup {
			return nil, fmt.Errorf("keyedhash: key id %q appears twice", k.ID)
		}
		secret := append([]byte(nil), k.Secret...)
		r.byID[k.ID] = newKeyState(secret)
		r.keys = append(r.keys, Key{ID: k.ID, Secret: secret})
	}
	return r, nil
}

// LoadFile reads a ring from a file with one key a line, "ID:BASE64", current first.
// Blank lines and lines starting with # are skipped. Errors name the line, never a secret.
func LoadFile(path string) (*Ring, error) {
	read, err := keyfile.Read(path, "hmac key file")
	if err != nil {
		return nil, err
	}
	keys := make([]Key, len(read))
	for i, k := range read {
		keys[i] = Key{ID: k.ID, Secret: k.Secret}
	}
	r, err := NewRing(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Current returns the id of the key that hashes new records.
func (r *Ring) Current() string { return r.current }

// Sum hashes parts under the current key for purpose: for what is checked later
// under a stored key id (codes, tokens, contact points, nonces).
func (r *Ring) Sum(purpose string, parts ...[]byte) []byte {
	sum, _ := r.SumWith(r.current, purpose, parts...)
	return sum
}

// Name hashes parts under the naming key for purpose: for what is looked up by a
// value computed again later rather than checked under a stored key id (key
// names and tags, pseudonyms, ids derived from a request). The naming key is the
// last key of the ring, so that a rotation, which puts a new key first, leaves
// every name as it was: customers, links and factors stay reachable. Replacing
// the naming key itself renames all stored data and needs a migration.
func (r *Ring) Name(purpose string, parts ...[]byte) []byte {
	sum, _ := r.SumWith(r.keys[len(r.keys)-1].ID, purpose, parts...)
	return sum
}

// NamingKey returns the id of the key Name uses (the ring's last).
func (r *Ring) NamingKey() string { return r.keys[len(r.keys)-1].ID }

// SumWith hashes parts under the key kid for purpose. Parts are length-prefixed, so
// ("ab","c") and ("a","bc") never collide.
func (r *Ring) SumWith(kid, purpose string, parts ...[]byte) ([]byte, error) {
	k, ok := r.byID[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	// The parts go to the MAC in one write: each write through the hash.Hash
	// interface would make its argument escape to the heap.
	// The buffer grows, if it must, before anything is written to it, so that no
	// part of the input is left behind in an array it outgrew.
	need := 4 + len(purpose)
	for _, p := range parts {
		need += 4 + len(p)
	}
	bp := inputs.Get().(*[]byte)
	in := appendPart(slices.Grow((*bp)[:0], need), []byte(purpose))
	for _, p := range parts {
		in = appendPart(in, p)
	}
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(in)
	sum := m.Sum(make([]byte, 0, sha256.Size))
	k.macs.Put(m)
	// The input holds what was hashed (a code, a token): it does not wait in the
	// pool for its next use.
	clear(in)
	if cap(in) <= maxPooledInput {
		*bp = in
		inputs.Put(bp)
	}
	return sum, nil
}

// inputs pools the buffers SumWith assembles its input in; one larger than
// maxPooledInput is left to the collector.
var inputs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledInput = 4 << 10

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// appendPart appends p to b with its length before it.
func appendPart(b, p []byte) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(p))), p...)
}

// IDs returns the key ids, current first.
func (r *Ring) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.ID
	}
	return ids
}
