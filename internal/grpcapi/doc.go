// Package grpcapi serves the authsvc.v1 gRPC API (VerificationService,
// AssertionService, EnrollmentService, AuditService and HandoverService) over the verification
// lifecycle in package challenge, the assertion keyring in package assertion, the
// customer store in package identity and the audit trail in package audit. It is
// a transport adapter and owns no rule of the domain.
//
// # Contract
//
//   - Every handler is thin: it checks the shape of the request (required fields,
//     sizes, enum values, durations), calls one domain method with the calling
//     client's id, and maps the result. Rules the domain owns (patterns, destination
//     syntax, the ttl range, which method can be used) come back as
//     *challenge.ValidationError and are answered the same way as the adapter's own
//     checks: INVALID_ARGUMENT with a google.rpc.BadRequest whose field paths are the
//     proto's ("identity.network", "destination.email").
//   - One function, toStatus in status.go, turns domain errors into gRPC statuses
//     with google.rpc details. An error it does not know becomes INTERNAL with the
//     fixed message "internal error"; the cause goes to the log, never to the caller.
//     Store failures are UNAVAILABLE, never INTERNAL.
//   - A request that does not decode never reaches a handler, in any service
//     (health and reflection included), and is answered, logged and counted
//     like any other call: a string field that is not valid UTF-8 is
//     INVALID_ARGUMENT with a BadRequest naming the field ("invalid
//     identity.handle: must be valid UTF-8"), a broken encoding
//     INVALID_ARGUMENT with a fixed description, and a message over
//     Config.MaxRecvMsgSize RESOURCE_EXHAUSTED with ErrorInfo reason
//     MESSAGE_TOO_LARGE and metadata {"max_bytes": ...}. None quotes the
//     request or grpc-go's own error text. The server's codec finds these and
//     marks the message; an interceptor right after authentication (for a
//     stream, its RecvMsg) answers (codec.go). A message over 4 times
//     Config.MaxRecvMsgSize is refused by gRPC itself before it is read, with
//     RESOURCE_EXHAUSTED and no details, and is neither logged nor counted.
//   - Callers authenticate with "authorization: Bearer <api key>", with a client
//     certificate when Config.TLS verifies them (mutual TLS), or with both. Keys
//     are kept as SHA-256 sums and compared in constant time against every entry;
//     a missing or unknown key is UNAUTHENTICATED with ErrorInfo reason
//     API_KEY_INVALID. A verified certificate names the client whose clients-file
//     cert is one of its URI or DNS SANs (never its subject); one that names no
//     client, or several, is UNAUTHENTICATED with reason CERTIFICATE_UNKNOWN, even
//     beside a valid key, and a key of another client than the certificate's is
//     API_KEY_INVALID. Clients.Reload swaps the clients for every later call, so a
//     revoked key or cert is refused without a restart. The grpc.health.v1 and
//     server reflection services need no credentials. A client sees only its own
//     verifications: another client's id answers exactly like an unknown one.
//   - Each client has [Grants]: the RPCs it may call and the audiences, scopes and
//     data classes it may name. An interceptor right after authentication checks
//     them before the limiter and the handler run, so a refused call costs no Redis
//     round trip: PERMISSION_DENIED with ErrorInfo reason RPC_NOT_ALLOWED (metadata
//     "method"), AUDIENCE_NOT_ALLOWED (no metadata: nothing says what the client
//     may name), SCOPE_NOT_ALLOWED (metadata "scope") or DATA_CLASS_NOT_ALLOWED
//     (metadata "data_class"). The metadata is only ever the caller's own input.
//   - Each client may have at most Config.MaxInFlightPerClient unary calls in flight
//     and Config.MaxWatchesPerClient WatchVerification streams open. A call beyond
//     that is refused at once, never queued: RESOURCE_EXHAUSTED with ErrorInfo
//     reason CLIENT_OVERLOADED and RetryInfo (1 s). One client's load does not
//     refuse another's calls; health and reflection are not counted.
//   - Transport limits hold before any interceptor, authentication included
//     (Config): a connection must finish its TLS handshake and HTTP/2 preface
//     within ConnectionTimeout (5 s) or is closed; a call's metadata over
//     MaxHeaderListSize (16 KiB) resets its stream, or closes the connection,
//     while the headers are read; a connection carries at most
//     MaxConcurrentStreams calls at once (1100, never below one client's
//     watches and calls), and one more is refused (REFUSED_STREAM; grpc-go
//     clients queue it). After MaxConnectionAge (10 min) a connection is sent
//     GOAWAY so clients reconnect and spread over replicas; the calls on it
//     may run MaxConnectionAgeGrace (65 min, longer than a verification
//     lives) more, then a stream still open ends UNAVAILABLE. The
//     grpc.health.v1 Watch streams, which need no credentials, are bounded
//     for the whole server (MaxHealthWatches, 1000): one more is
//     RESOURCE_EXHAUSTED with ErrorInfo reason HEALTH_WATCH_LIMIT and
//     RetryInfo (10 s). Keepalive: clients may ping every 10 s at most; the
//     server pings a connection idle for a minute and drops it after 20 s
//     without an answer.
//   - No RPC returns a customer's code or link token, and no log line, error message
//     or metric label carries a code, token, API key, phone number or email. Logs
//     carry the method, code, duration, client id and verification id (plus the
//     cause of INTERNAL and UNAVAILABLE answers); metric labels are the fixed full
//     method name and the status code.
//   - VerifyAssertion answers INVALID_ARGUMENT with ErrorInfo reason
//     ASSERTION_INVALID and metadata {"check": ...} naming the check that failed
//     (never any token text) for a token that does not verify, and
//     FAILED_PRECONDITION with ErrorInfo reason ASSERTION_REVOKED for a valid token
//     whose verification was canceled or superseded. UNAUTHENTICATED is reserved for
//     the caller's own credentials and PERMISSION_DENIED for what a caller may do;
//     a bad assertion is a bad argument.
//   - EnrollmentService: LinkIdentity needs the client's may_link grant, or a
//     verification_id naming a VERIFIED, unrevoked verification of the same
//     client whose customer and identity are the request's and that was verified
//     within Config.EnrollmentWindow by the server's clock; CreateEnrollmentLink
//     needs may_enroll, or such a verification of the same customer (any
//     identity). Anything else (no id, an unknown or another client's id, a
//     pending, mismatched, revoked or stale verification) is one answer:
//     PERMISSION_DENIED with ErrorInfo reason VERIFICATION_REQUIRED. Without the
//     grant and without an id the interceptor refuses before any Redis work;
//     with an id the proof costs one read. RemoveFactor needs may_enroll and
//     EraseCustomer may_erase (PERMISSION_DENIED, reason GRANT_REQUIRED,
//     metadata "grant"); erasing an unknown customer answers zero counts.
//     UnlinkIdentity and ListIdentities take the proof of LinkIdentity without the
//     identity. Without may_link a client lists, unlinks and makes only its own
//     links (a proof is a verification it made, naming a customer it chose);
//     may_link reaches every client's and takes another client's link to the
//     same customer over (linkScope). A link to an identity linked to another
//     customer, or by another client, is FAILED_PRECONDITION with reason
//     IDENTITY_LINKED_ELSEWHERE, the same for both; an unknown link, one of
//     another client, or an unknown factor is NOT_FOUND. No
//     answer or log line names a customer id, user id or handle. A client file
//     entry without rpcs gets no EnrollmentService RPC: they must be named.
//   - A StartVerification no offered method can serve at the level is
//     FAILED_PRECONDITION with one message per level ("no offered method meets
//     HIGH for this verification; ask the customer to enroll a passkey"),
//     whether the customer is unknown, has no such factor or is locked out.
//   - AuthorizeDisclosure checks the assertion as VerifyAssertion does (same
//     verifier, same revocation check, same statuses), asks the disclosure policy
//     at the server's clock (a handed-over assertion, hov set, in its own channel
//     only: CHANNEL_NOT_ALLOWED elsewhere), and records the decision: the revocation check and
//     the audit event (disclosure_allowed, or disclosure_denied with the policy's
//     reasons or "revoked"; c the calling client, v the assertion's verification,
//     o "<data class>@<channel>") cost two Redis round trips: the standing of the
//     assertion (its record and its conversation's pointer, on two slots), then
//     the event on the verification's slot (challenge.Service.RecordDisclosure).
//     A call refused before
//     any Redis work (an assertion that does not verify, a data class the policy
//     does not name) records nothing and costs no round trip: an untrusted token
//     names no verification, and forged tokens must not make authsvc write. A
//     denial is an answer, never an error: allowed=false with every reason, the
//     data class's required level and channels, and, when a new verification in
//     this conversation would allow it, the RFC 9470 acr_values and max_age to
//     step up with. A data class the policy does not name is INVALID_ARGUMENT with
//     a field violation on data_class that quotes nothing. GetDisclosurePolicy
//     returns the rules in force, in the policy's order.
//   - HandoverService (served with [WithHandovers]) resolves a CreateHandover's
//     target with the deployment's channels file (an unknown channel, or phone
//     without a phone line, is INVALID_ARGUMENT) and passes package challenge
//     ids only. RedeemHandover checks the code's and the RFC 7636 verifier's
//     shape before anything else and passes the verifier's S256 challenge;
//     RedeemCallCode passes the call code's digits and the optional caller_ref
//     (checked for shape: printable ASCII, at most 128 bytes; never logged).
//     Refusals map in handoverStatus (status.go): NOT_FOUND "handover not
//     found" for an unknown code alike whoever made it, FAILED_PRECONDITION with
//     HANDOVER_USED, _EXPIRED, _UNBOUND or _REVOKED, PERMISSION_DENIED
//     HANDOVER_CLIENT, RESOURCE_EXHAUSTED CALL_CODE_LIMIT with metadata scope
//     ("caller" or "client") and RetryInfo. No client calls it
//     without naming its RPCs in the clients file.
//   - AuditService.ListAuditEvents (served with [WithAudit]) pages through the
//     audit trail, oldest first, filtered by customer_id (its pseudonym, found
//     with one read of the customer's key: an unknown customer has no events,
//     like one without any), verification_id and start_time/end_time;
//     page_size defaults to 100 and is lowered to 1000; a page_token the server
//     did not issue is INVALID_ARGUMENT on page_token. A client sees only the
//     events whose client is itself (another client's verification shows
//     nothing, not an error) unless its grants include may_audit_all. On Redis
//     Cluster the trail is one stream per hash tag, so a query must name a
//     customer or a verification: a bare time range is FAILED_PRECONDITION "on
//     Redis Cluster, name a customer or a verification". Store failures are
//     UNAVAILABLE (STORE_UNAVAILABLE).
//   - With [WithAudit], every call the authentication or authorization
//     interceptor refuses (UNAUTHENTICATED, PERMISSION_DENIED) is recorded as a
//     client_denied event: c the client the call claimed when known, m the RPC's
//     short name, o the ErrorInfo reason. A handler's own refusal is not. The
//     event is written after the answer, off the call's path, by a goroutine
//     bounded by a 2 s timeout; at most 64 such writes run at once, and a refusal
//     beyond that is dropped and counted (authsvc_audit_client_denied_total
//     {result="dropped"}), so a flood of refused calls cannot pile up
//     goroutines. These events belong to no hash tag: they go to the stream
//     "audit:events", which ListAuditEvents reads on standalone Redis and
//     Sentinel and, on Cluster, only an operator does.
//
// # Assembly
//
// [New] takes the domain through small interfaces declared here ([Verifications],
// [Assertions], [Revocations], [Disclosures], [Identities]); in production they
// are a *challenge.Service (which is both Verifications and Revocations), an
// assertion Verifier together with its Keyring, e.g. struct{ *assertion.Verifier;
// *assertion.Keyring }{v, k}, a *policy.Policy and an *identity.Store. The clock
// New takes must be the verifier's. [WithAudit] adds an [AuditTrail] (an
// *audit.Trail over the same Redis, with the services' audit retention).
// [Server.GRPCServer] returns the configured *grpc.Server; [Server.Drain] marks every
// health status NOT_SERVING before a graceful stop.
package grpcapi
