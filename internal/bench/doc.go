// Package bench holds `make bench`: the measurements behind the Budgets section
// of the design, run against a real redis-server started by internal/redistest.
//
// The package has no production code. BenchmarkReport (gated by the -report flag,
// which `make bench` passes) runs once and prints a plain-text report:
//
//   - flows: StartVerification (OTP_EMAIL) over gRPC, the code read from the dev
//     outbox, the code submitted through challenge.Service.SubmitCode (the domain
//     method behind the code page's POST), GetVerification over gRPC with the
//     assertion; N concurrent workers for a fixed time; flows/s and p50/p99 per RPC;
//   - bare baselines in the same run: grpc.health.v1 Check against the same server,
//     and the flow's Redis command mix run bare against the same redis-server;
//   - Redis round trips per RPC, beside the design's budgets (AuthorizeDisclosure
//     included), with the audit events each call wrote: the trail is written
//     inside the scripts counted, at no round trip of its own;
//   - events (issue 11): the flows again with an events dispatcher delivering each
//     flow's event, signed, to a local receiver; every event must arrive within 2 s
//     of the flows' end (delivery keeps up with the flow rate);
//   - bytes per pending verification (used_memory delta over many records), and
//     the audit stream's share of it (the stream deleted and memory measured again),
//     with what the audit trail costs Redis a day at 100,000 verified flows, kept
//     90 days (before the exporter) or for the buffer (now).
//
// BenchmarkSMSAttackDay (also gated by -report) replays a day of legitimate SMS
// mixed with an SMS pumping attack against a real redis-server with a fake clock,
// and prints what the attack got through, what real customers were refused, the
// breakers' memory and the SMS paths' round trips.
//
// A budget that does not hold fails the benchmark, so `make bench` exits non-zero:
// the budgets are the contract. BENCHMARKS.md at the repository root explains the
// figures and records a run.
package bench
