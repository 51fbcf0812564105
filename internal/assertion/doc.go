// Package assertion mints and checks the signed assertions authsvc hands out when a
// verification completes, holds the keyring that signs them, and publishes its public
// half as a JWKS (DESIGN.md "Assertions").
//
// # Format
//
// An assertion is a JWS in compact serialization (a JWT) with exactly the protected
// header parameters alg, kid and typ: alg is EdDSA (Ed25519) or ES256 (ECDSA P-256),
// kid is the RFC 7638 SHA-256 thumbprint of the signing key, and typ is [TokenType]
// (explicit typing, RFC 8725 §3.11). The payload is a JSON object with these members,
// in this order:
//
//	iss, sub, aud (array), iat, nbf, exp, jti, auth_time, acr, amr (array),
//	social {network, user_id, handle?}, conversation_id, act {sub}, scope?, vid, ver
//
// acr is an [assurance.Level] ACR value, act is the agent (RFC 8693), scope is a
// space-separated list omitted when empty, vid is the verification id and ver is
// [ClaimsVersion].
//
// # Keyring
//
// A [Keyring] holds one or more private keys, each with its own algorithm. Every
// published key verifies; exactly one (the active key) signs. A key's algorithm is
// fixed by its type, and a token is checked only with the algorithm of the key its
// kid names, so an algorithm cannot be substituted.
//
// # Rotation
//
// [OpenKeyring] reads a directory of NAME.pem files, each with an optional
// NAME.json ([KeyMetadata]: not_before, retire_at). A key's state follows from its
// metadata and the keyring's clock, computed at use, so replicas agree without
// talking to each other:
//
//   - next: published in the JWKS but not signing, until its not_before, and never
//     before it has been published (first loaded by this keyring) for the publish
//     lead. A key already due when the keyring opens counts as published.
//   - active: of the published keys whose not_before has come and whose retire_at
//     has not, the one with the latest not_before signs. If there is none (the
//     successor is held back by the publish lead, or missing), the key retired last
//     keeps signing rather than an unpublished one, and a warning is logged.
//   - standby: may sign but a newer key does; published (a key without retire_at).
//   - retired: past retire_at; published and verifying until the publish lead plus
//     the assertion lifetime plus [Leeway] after it last signed.
//   - dropped: after that; absent from the JWKS, its tokens refused as ErrUnknownKey.
//
// A key whose files are removed is refused at once. [Keyring.Reload] re-reads the
// directory; on error the keys in use are kept. The JWKS bytes and ETag change
// exactly when the published set does. KeyringOptions.Active pins the signing key,
// overriding the schedule. A Keyring, Minter and Verifier are safe for concurrent
// use.
//
// # Minting
//
// [Minter.Mint] reads no clock for the claims (only the keyring reads its clock to
// choose the key): the caller supplies iat, nbf, exp and auth_time, with
// exp no later than iat plus [Minter.Lifetime]. Minting is deterministic for Ed25519
// keys: the same [Claims] signed by the same key give a byte-identical token (times are
// truncated to whole seconds). The service therefore never stores the bearer token: it
// keeps the verification's record and re-creates the token on each read with
// [Minter.Mint] (the active key). While the active key stays the same every read gives
// the same bytes; after a switch of the active key a read gives a token signed by the
// new key with the same claims and jti. [Minter.MintWithKey] re-mints under a named key
// for callers that keep the kid. ES256 signatures are randomized; a re-mint with an
// ES256 key is an equally valid token carrying the same claims, not the same bytes.
//
// # Verifying
//
// [Verifier.Verify] refuses, in this order: a missing audience argument, tokens larger
// than [MaxTokenSize], anything that is not a compact JWS with an EdDSA or ES256 alg,
// a typ other than [TokenType], any header parameter other than alg, kid and typ (so
// jku, jwk, x5u, x5c and crit in particular), a kid not in the keyring or an alg that
// is not that key's, a bad signature, then a wrong iss or aud, exp and nbf/iat outside
// a leeway of [Leeway], a ver other than [ClaimsVersion], an unknown acr and missing
// required claims. Every refusal wraps [ErrInvalid] and a more specific sentinel;
// error text never contains token or key material.
//
// Care tools that do not call authsvc verify assertions with any JWT library and the
// JWKS document from [Keyring.JWKS]; see the package example.
package assertion
