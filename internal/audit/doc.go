// Package audit records security events in a Redis Stream, the audit buffer, and reads them back.
// Package auditexport moves them out of Redis to a sink kept for retention.
//
// # What is stored
//
// Every security event of authsvc (see [Kinds]) is one stream entry with these fields, each
// present only when it has a value:
//
//	k  kind (one of Kinds)            t  time (Unix ms), when the id's is a second or more later
//	c  client id                      a  agent id
//	v  verification id                m  method
//	o  outcome                        r  reason
//	i  identity pseudonym             u  customer pseudonym
//	d  masked destination             x  entries trimmed unexported (see Trimming)
//
// Social identities and customers appear only as keyed pseudonyms ([Pseudonym]) and
// destinations only as masks ("a***@e***.com"); a code, token, secret, handle, email address or
// phone number never reaches the stream or the [Log].
//
// # Writing
//
// Most events are written inside the Lua script that makes the state change they record, so
// that audit costs no extra Redis round trip and is atomic with the change: a script prepends
// [Lua], which defines one local function,
//
//	local function audit_event(akey, now_ms, cap_ms, fields)
//
// and calls it as, for example,
//
//	audit_event(KEYS[3], NOW, ARGV[9], {'k', 'verified', 'c', client, 'v', id, 'm', m, 'i', ih})
//
// Pairs whose value is nil or the empty string are skipped. Entry ids are "<ms>-<seq>" with ms
// never below the stream's last id, so ids stay monotonic when one replica's clock is behind
// another's. The id's ms are the event's time, exact to within a second: when the stream was a
// second or more ahead of the writer's clock, 't' keeps the writer's own time. Events no script
// writes (client_denied, erased, disclosure decisions taken without a script) go through
// [Writer], which runs the same function in a small script of its own, alone ([Writer.Append])
// or queued in the caller's pipeline ([Writer.Script], [Writer.Args]).
//
// # Trimming
//
// Redis is a buffer, not the archive: package auditexport reads the streams with a consumer
// group, writes the entries to a sink and acknowledges them, then removes
// acknowledged entries once they are older than the buffer (AUTHSVC_AUDIT_BUFFER). What it has
// not acknowledged it never removes. Each append trims, exactly, the entries older than the hard
// cap (cap_ms, twice the buffer): entries that no exporter acknowledged in all that time. It
// records how many in the new entry's field 'x' ([Event.Trimmed]), so the loss is written into
// the trail itself and the exporter counts and logs it. Each append also raises the stream's TTL
// to the cap, so a stream nobody writes to any more expires as a whole. Nothing else deletes
// entries: erasing a customer deletes the customer's pseudonym key, which leaves its pseudonyms
// unlinkable (crypto-shredding) wherever the entries are.
//
// # Streams and Redis Cluster
//
// A script may only touch keys in its own slot. On standalone Redis and Sentinel every event goes
// to one stream, "audit:events"; on Cluster each hash tag has its own stream, "v:{tag}:a", beside
// the keys its scripts change ([StreamKey]).
//
// # Reading
//
// [List] reads any number of streams in turn, oldest first within each, filtered by customer
// pseudonym, verification, client and time ('t', or the id's), and pages with an opaque token. One call reads
// at most 20 entries per event it may return, so a filter that matches little costs bounded work
// per call and returns a token to continue. [Trail] is a deployment's view of it: it reads the
// one stream of standalone Redis and Sentinel, or on Cluster the one stream of the customer or
// verification a query names (a query that names neither is [ErrNeedsSubject]), turns a
// customer id into its pseudonym with one read of the customer's key, and appends the events
// that belong to no hash tag (client_denied) to "audit:events" on every deployment. Given an
// [Archive] (the exporter's PostgreSQL sink, [WithArchive]), Trail reads that instead of the
// buffer: the whole retention, on Cluster without naming a subject.
//
// # Pseudonyms
//
// A pseudonym is the first 16 hex digits of SHA-1(key || subject), with key the customer's
// pseudonym key (32 random bytes, kept as 64 hex characters). Scripts compute the same value as
// string.sub(redis.sha1hex(key .. subject), 1, 16); Redis's Lua offers no HMAC, and none is needed
// here: see [Pseudonym].
package audit
