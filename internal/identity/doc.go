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
//   - A social identity {network, user_id} is linked to at most one customer, by one
//     client. The link is a pointer under the identity's own tag (LinkKey, holding
//     LinkValue: the customer id and the client that made the link) plus an entry in
//     the customer's hash; linking writes the customer's entry first (pending) and
//     unlinking removes the pointer first, so a crash between the two steps leaves
//     an entry that nothing resolves to, never a pointer to a customer that does not
//     list it. Once the pointer is set, a last step marks the entry done and records
//     the link in the audit trail.
//   - Factor secrets are never stored in clear: TOTP seeds are sealed (AES-256-GCM
//     under a key-encryption key with a key id, package seal); passkeys store only
//     public keys. Factor ids are random and reveal nothing.
//   - Every key has a TTL. The customer hash's is the retention, restarted by every
//     change to its links and factors; its link pointers and credential index
//     entries, on other slots, are extended to at least the same retention right
//     after each such change (see retain.go), so they live at least as long as the
//     hash and never longer than the retention after its last change.
//   - Every change the audit trail records is recorded by the script that makes it
//     (see Audit), and Erase removes everything kept about a customer (see Erasure).
//
// # Customer hash layout
//
//	cu          the customer id (the brand's, as given)
//	F<fid>      a factor: "<kind>|<created ms>|<client>|<label>|<payload>" (see
//	            Factor.Encode; the client is the one its trust is judged by, and a
//	            factor stored before factors recorded it has no client field)
//	c<fid>      a passkey's last sign count
//	u<fid>      a factor's last use (ms)
//	ts          the last accepted TOTP step of this customer (any factor)
//	L<ih>       a linked identity: "<network>\x1f<user id>\x1f<client>\x1f<linked ms>",
//	            the client being the one that made the link (an entry written before
//	            links recorded it has no client part), followed by "\x1fp" while the
//	            link is being made (Link's last step removes it)
//	pk          the audit pseudonym key: 64 hex digits (32 random bytes), created by
//	            the first script that writes an audit event about the customer (here,
//	            or package challenge's start)
//	rh          after a report of a first factor: until when (ms) a LOW proof binds
//	            her no first factor (Config.ReportHold)
//
// Scripts read a factor's kind, creation time and client with the Lua pattern
// "^(%d)|(%d+)|" and the field after it: those leading fields never change shape.
// A TOTP factor's seed is sealed with SeedAAD(ch, fid) as authenticated data.
//
// # Binding a factor
//
// CreateEnrollment takes the Proof that allows it and applies the binding rule
// (see Proof, and docs/security.md): the link works only in the browser that
// completed the proving verification; a SUBSTANTIAL or HIGH proof binds any factor
// (a passkey capped at the proof's level); a LOW proof binds only the first factor
// the enrolling client trusts, with a notice to the proven contact sent before the
// factor is stored, naming a report link (Report) that removes every factor the
// customer holds and puts her on hold.
//
// # Enrollment links
//
// A factor is enrolled on the customer's own page, from a one-time link
// "/e/<id>.<mac>": the id is "<ctag>-<20 random lower-case base32 chars>", the MAC
// a keyed hash of the id (recomputed, never stored). The enrollment is a hash at
// EnrollmentKey, under the customer's tag, with the TTL EnrollTTL:
//
//	st          1 open, 2 used, 3 dead (too many wrong codes, or a first factor that
//	            found the customer holds one)
//	cl          the client that asked for it
//	oc          the client of the factor that proved it, which the new factor records
//	            instead of cl (absent for a code or link proof, or may_enroll)
//	bb          the keyed hash of the browser the link works in (absent: may_enroll)
//	bs          "1" for a first factor after a LOW proof
//	cp          a passkey's level cap (the proof's level, when below HIGH)
//	nk, nc      a first factor's notice: the channel, and the proven contact sealed
//	            with the enrollment id; nc is deleted once the link is used
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
// A first factor's report link "/r/<id>.<mac>" is shaped the same way; its record
// is ReportKey (see report.go).
//
// A passkey ceremony's SessionData (JSON) is kept at SessionKey, with the TTL
// CeremonyTimeout, and deleted when it is taken to finish the ceremony.
//
// # Credential index
//
// A passkey credential id belongs to at most one factor of one customer:
// CredentialKey (its own tag) holds "<ctag>:<ch>:<fid>" with the retention TTL,
// extended with the customer hash's. It is claimed before the factor is stored and
// released after the factor is removed.
//
// # Audit
//
// The scripts that change a customer write their audit event themselves (package
// audit's audit_event, prepended with scripts/audit.lua; see audited in audit.go),
// to audit.StreamKey of the customer's tag: the one stream "audit:events", or on
// Cluster (Config.AuditPerTag) the customer's tag's own stream, where a query for
// the customer reads. Events, each with c the client that asked, u the customer's
// pseudonym and i an identity's, both under the customer's key 'pk'
// (audit.Pseudonym: the first 16 hex digits of SHA-1(pk || ch) and SHA-1(pk || ih)):
//
//	factor_enrolled    TOTP confirmed or passkey registered (m totp | webauthn, o ok;
//	                   c is the client that created the enrollment link)
//	factor_removed     RemoveFactor (m, o ok)
//	factor_reported    Report (m the reported factor's kind, c its client, o removed |
//	                   already_removed, r "customer_report:<n>_removed")
//	identity_linked    Link's last step (o ok, i), also when a link changes client
//	                   (taken over with AnyLinks: c is the new maker)
//	identity_unlinked  Unlink's entry step (o ok, i)
//	erased             Erase's last step: c and o (the counts) only; and on a stream
//	                   whose newest entry Erase removed, o "audit_entries"
//
// Events are kept for Config.AuditRetention and mirrored to the audit log
// (WithAuditLog). A customer id, user id, handle or keyed hash never reaches them.
//
// # Erasure
//
// Erase removes a customer: its link pointers and credential index entries, then,
// under the customer's tag and its identities' tags (found with SCAN on every
// master), every verification of the customer and its passkey ceremony, its
// enrollment links and their ceremonies, and its identities' counters; then the
// audit entries that name one of its identities by keyed hash (verifications that
// named no customer); last the customer hash with 'pk'. The trail's other entries
// stay: their pseudonyms were made with 'pk', which is gone, so they can no longer
// be tied to the customer (crypto-shredding). See Erase for the exact rules.
package identity
