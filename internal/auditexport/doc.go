// Package auditexport moves the audit trail out of Redis into a sink kept for retention.
//
// Redis holds the trail only as a buffer (package audit): the state-transition scripts append
// each event to a stream atomically with the change it records. An [Exporter], one in every
// authsvc replica, reads those streams with the consumer group [Group], writes what it read to a
// [Sink], and acknowledges (XACK) the entries only after the sink has them durably. It then
// removes acknowledged entries once they are older than the buffer (Config.Buffer), and never an
// entry that is not acknowledged, by this group or by the other groups named in Config.KeepFor
// (package events' dispatcher, which reads the same streams).
//
// # Guarantees
//
//   - At least once. An entry leaves Redis only after a sink's Write returned nil for it. An
//     exporter that dies between the write and the XACK leaves the entry pending: the same
//     consumer (a restarted pod keeps its name) reads its pending entries first, and any other
//     exporter claims (XAUTOCLAIM) entries a consumer has held for Config.ClaimIdle. Redis
//     restarted with its data (AOF or RDB) keeps the group's state with the stream.
//   - Exactly once per id where the sink is idempotent: an event is identified by its stream and
//     entry id ([Record.Key]); the PostgreSQL sink inserts with ON CONFLICT DO NOTHING on that key.
//     The JSON-lines sinks append, so a redelivered entry appears twice; a consumer of the lines
//     de-duplicates by (stream, id).
//   - Ordering by stream id within a stream: each batch is written in stream order. An entry
//     redelivered after a failure, or claimed from a dead consumer, is written after entries
//     exported meanwhile; order by (stream, id) downstream.
//   - A failing sink or an unreachable Redis never blocks a verification: the exporter runs apart
//     from every request, retries with exponential backoff, logs once per outage (no personal
//     data: counts, stream names, error codes) and counts failures; the events wait in the
//     buffer. If every exporter stays down for more than twice the buffer, the writers' hard cap
//     trims entries unexported; the entry appended then carries their number (audit.Event.Trimmed),
//     which the exporter counts (authsvc_audit_trimmed_unexported_total) and logs.
//
// # Streams
//
// On standalone Redis and Sentinel there is one stream, read with a blocking XREADGROUP. On Redis
// Cluster a script may only touch its own slot, so each of the 16,384 hash tags has its own stream
// (audit.StreamKey) and no registry of them can be kept atomically with the events (a registry
// key would sit on another slot). The tag space is closed, though, so the exporter is given every
// stream there can be and sweeps them, pipelined per node, every Config.Sweep; the maintenance
// pass gives a stream the group once it exists.
package auditexport
