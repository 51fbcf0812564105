// Package challenge is the verification lifecycle: it records a verification for
// a social identity, sends its code or magic link, lets the customer complete it
// on a page, and reports its state to the platform with a signed assertion once
// it is VERIFIED.
//
// # Contract
//
//   - State lives only in Redis; the Service is stateless and safe for concurrent
//     use. Every transition is one Lua script (scripts/*.lua) that checks state,
//     the stored expiry (judged by the injected clock, not only the key TTL) and
//     attempts together: PENDING → VERIFIED | FAILED | EXPIRED | CANCELED, and
//     terminal states never change.
//   - A verification id carries a tag derived from a keyed hash of the identity;
//     every key of that identity's verifications is "v:{tag}:…", so each script
//     runs on one slot on standalone, Sentinel and Cluster alike.
//   - Mutating scripts are idempotent by request id: a repeat returns the first
//     answer and counts, sends or consumes nothing twice. A retried Start lands on
//     the same record because the id is derived from the client and its request id.
//     go-redis resends a script whose reply was lost: what has no request id of
//     its own (the send limits, their refunds, a refusal's audit event) goes by
//     the call's random token, and a resent script answers as it first did.
//   - Secrets are never stored in clear: codes and link tokens as keyed hashes,
//     the destination as mask + keyed hash, the handle masked; the page link is a
//     MAC of the id and is not stored at all. The assertion is not stored either:
//     it is re-minted from the record (deterministically with EdDSA).
//   - A destination is counted by its canonical form, one per mailbox or number:
//     an email's domain as its lower-case A-label, its local part case-folded and
//     in NFKC, then the provider's dot and +tag rules (Config.EmailRules); a phone
//     number in E.164. The send limits, the keyed hash a resend must match, the
//     request fingerprint and the mask all use it; the message goes to the spelling
//     the platform gave.
//   - Fail closed: every store, randomness or signing error is ErrUnavailable and
//     nothing is verified. Pages learn only "gone" for unknown, expired, used and
//     canceled links.
//   - Watchers are woken by pub/sub on every transition, never by polling.
//   - Handovers (handover.go) live on their verification's tag and are created,
//     bound and redeemed by one script each that reads the record with them: what
//     a redemption hands over is what the record says then (a revoked, superseded
//     or erased verification hands over nothing). No handover code is stored.
//
// Budgets (DESIGN.md): Start is two round trips (script, then the send's outcome),
// a code completion one, a magic-link completion two, Get one; creating and
// redeeming a secure-channel handover one each, a phone handover two each.
package challenge
