// Package events tells the care platform what happened, as signed CloudEvents delivered at
// least once to each client's HTTPS endpoint.
//
// # The outbox is the audit stream
//
// Every transition script of authsvc already appends its audit entry to a Redis stream inside
// the script that makes the change (package audit): the entry exists if and only if the
// transition happened, a process that dies right after the transition loses nothing, and
// emitting an event costs the transition no round trip at all. The [Dispatcher] reads those
// streams with a consumer group of its own, [Group] ("events"), beside the audit exporter's
// (package auditexport), and turns the entries whose kind is in the catalogue ([Types]) into
// events for the client that started the verification (audit field c). Other kinds are
// acknowledged at once. The exporter's trim keeps every entry this group has not acknowledged.
//
// # The event
//
// CloudEvents 1.0, structured JSON mode (Content-Type application/cloudevents+json), built with
// github.com/cloudevents/sdk-go/v2:
//
//	{"specversion":"1.0","id":"audit:events/1764000000000-0","source":"https://verify.acme.example",
//	 "type":"com.authsvc.verification.verified","subject":"<verification id>",
//	 "time":"2026-12-07T16:00:00Z","datacontenttype":"application/json",
//	 "data":{"verification_id":"…","client_id":"platform-a","agent_id":"agent-0042",
//	         "state":"VERIFIED","method":"otp_email","outcome":"ok","customer":"3f0c…"}}
//
// The id is the stream and the entry id: the same on every delivery of one transition, so the
// receiver deduplicates by it. Data holds ids and pseudonymous values only ([Data]): never a
// handle, a contact point, a code, a link or a token, none of which the audit entry holds.
//
// # Signing
//
// Each POST carries the Standard Webhooks headers: webhook-id (the event id),
// webhook-timestamp (Unix seconds) and webhook-signature, "v1," and the base64 of
// HMAC-SHA256(secret, id.timestamp.body) with the client's secret ("whsec_" + base64, read
// from a file). [Secret.Verify] is the receiver's check; any Standard Webhooks library does the
// same.
//
// # Delivery
//
//   - At least once. An entry is acknowledged only after a 2xx from the endpoint, or once it is
//     older than Config.MaxAge (given up: counted in authsvc_events_total{outcome="given_up"}
//     and logged). Until then it stays pending in the group: a restarted pod (same consumer
//     name) reads its own pending entries first, and any other replica claims (XAUTOCLAIM) the
//     entries a consumer has not touched for Config.ClaimIdle. A live dispatcher touches what it
//     holds (XCLAIM JUSTID) every Config.Maintain, so only a dead one's entries move.
//   - Per endpoint. Each endpoint has its own queue, workers (Config.Concurrency) and
//     backoff: exponential with jitter, per event and per endpoint, so a dead receiver is not
//     hammered and does not hold up the others. Past Config.Queue events in memory, an
//     endpoint's further events stay parked in Redis (pending, unacknowledged) and are read back
//     in order as its queue drains.
//   - Order is not guaranteed (retries and replicas reorder); "time" and the verification's
//     state in "data" tell a receiver which event is the latest.
//   - A failing endpoint or Redis never blocks a verification: events wait in the stream.
//
// # Streams
//
// As for the exporter: one stream on standalone Redis and Sentinel, read with a blocking
// XREADGROUP; on Cluster one per hash tag, swept in pipelines every Config.Sweep. A stream gets
// the group from the time events were first enabled (key "events:since"), so enabling events
// sends no history and a hash tag's stream created later loses nothing.
package events
