// Package identity keeps customers, the social identities linked to them and the
// factors they enrolled (authenticator apps and passkeys).
//
// # Contract
//
//   - A customer is the brand's customer_id. Everything about one customer lives in
//     one Redis hash, CustomerKey, under the customer's tag: "v:{ctag}:c:<ch>". The
//     verification lifecycle (package challenge) puts a verification of a known
//     customer under the same tag, so a completion that checks a factor and moves
//     the verification is one script on one slot.
//   - A social identity {network, user_id} is linked to at most one customer. The
//     link is a pointer under the identity's own tag (LinkKey) plus an entry in the
//     customer's hash; linking writes the customer's entry first and unlinking
//     removes the pointer first, so a crash between the two steps leaves an entry
//     that nothing resolves to, never a pointer to a customer that does not list it.
//   - Factor secrets are never stored in clear: TOTP seeds are sealed (AES-256-GCM
//     under a key-encryption key with a key id, package seal); passkeys store only
//     public keys. Factor ids are random and reveal nothing.
//   - Every key has a TTL: the customer's retention, refreshed on every write.
//
// # Customer hash layout
//
//	cu          the customer id (the brand's, as given)
//	F<fid>      a factor: "<kind>|<created ms>|<label>|<payload>" (see Factor)
//	c<fid>      a passkey's last sign count
//	u<fid>      a factor's last use (ms)
//	ts          the last accepted TOTP step of this customer (any factor)
//	L<ih>       a linked identity: "<network>\x1f<user id>\x1f<linked ms>"
//
// Scripts read a factor's kind and creation time with the Lua pattern
// "^(%d)|(%d+)|": those two leading fields never change shape. A TOTP factor's
// seed is sealed with SeedAAD(ch, fid) as authenticated data.
//
// # Enrollment links
//
// A factor is enrolled on the customer's own page, from a one-time link
// "/e/<id>.<mac>": the id is "<ctag>-<20 random lower-case base32 chars>", the MAC
// a keyed hash of the id (recomputed, never stored). The enrollment is a hash at
// EnrollmentKey, under the customer's tag, with the TTL EnrollTTL:
//
//	st          1 open, 2 used, 3 dead (too many wrong codes)
//	cl          the client that asked for it
//	ch, cu      the customer hash and customer id
//	kd          the factor kind (Kind)
//	lo          the page's locale
//	ct, ex      created and expires (ms); ex is checked against the service clock
//	at          wrong TOTP confirmation codes so far
//	sd          the pending TOTP seed, sealed with the enrollment id as authenticated
//	            data; deleted when the link is used or dies
//	fi          the factor stored when the link was used
//	r<req>      the recorded answer to one confirmation request (a retried request
//	            answers the same and counts once)
//
// A passkey ceremony's SessionData (JSON) is kept at SessionKey, with the TTL
// CeremonyTimeout, and deleted when it is taken to finish the ceremony.
//
// # Credential index
//
// A passkey credential id belongs to at most one factor of one customer:
// CredentialKey (its own tag) holds "<ctag>:<ch>:<fid>" with the retention TTL. It
// is claimed before the factor is stored and released after the factor is removed.
package identity
