// Package verify holds the method checkers: how a one-time code or a magic-link
// token is made, normalized and compared, how number matching picks the
// numbers a customer chooses from, and how a TOTP code (RFC 6238: SHA-1, 6
// digits, 30-second steps) is checked against an authenticator app's secret.
//
// It keeps no state. Secrets it makes come from crypto/rand; the challenge
// package stores only their keyed hashes and decides, atomically in Redis,
// whether a presented secret completes a verification. A TOTP secret cannot be
// hashed, since checking a code needs it: it is stored sealed (package seal),
// together with the last accepted time step, which MatchTOTP refuses again.
package verify
