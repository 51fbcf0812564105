// Package verify holds the method checkers: how a one-time code or a magic-link
// token is made, normalized and compared, and how number matching picks the
// numbers a customer chooses from.
//
// It keeps no state. Secrets it makes come from crypto/rand; the challenge
// package stores only their keyed hashes and decides, atomically in Redis,
// whether a presented secret completes a verification.
package verify
