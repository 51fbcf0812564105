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
// A [Keyring] holds one or more private keys, each with its own algorithm. Every key
// verifies; exactly one (the active key) signs. A key's algorithm is fixed by its type,
// and a token is checked only with the algorithm of the key its kid names, so an
// algorithm cannot be substituted. Rotation is done by building a new Keyring (and a
// new [Minter] and [Verifier] over it): add the new key, make it active once every
// verifier has fetched the new JWKS, and remove the old key once the assertions it
// signed have expired. A Keyring, Minter and Verifier never change after construction
// and are safe for concurrent use.
//
// # Minting
//
// [Minter.Mint] reads no clock: the caller supplies iat, nbf, exp and auth_time, with
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
