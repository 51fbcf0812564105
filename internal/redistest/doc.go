// Package redistest is the test harness that gives every package's tests a real Redis.
//
// It is test-only: it is imported only from _test.go files and never from production code. It is
// a normal (non-_test) package so that many packages can share it.
//
// The contract:
//
//   - Every server is a fresh redis-server process started by the harness on a free loopback port
//     (never the machine's shared Redis on 6379), with an empty dataset, no persistence (save "",
//     appendonly no) and its own t.TempDir(). No test sees another test's keys. A server per test
//     is cheap (about 0.1 s) and is the default: call [Start] in each test that needs Redis.
//   - The redis-server binary is taken from the environment variable AUTHSVC_REDIS_SERVER when it
//     is set (an explicit path; a wrong path fails the test), otherwise from PATH. redis-cli (needed
//     by [StartCluster]) is taken from AUTHSVC_REDIS_CLI, PATH, or next to redis-server. When a
//     binary is missing the test is skipped with an install hint, or failed when CI=true.
//   - Everything the harness starts (processes, goroutines, clients, proxies) is stopped in
//     t.Cleanup, and every child process is started with Pdeathsig = SIGKILL so it dies with the
//     test binary even if cleanup never runs.
//   - Waits are bounded: a server answers PING within about 5 s, a cluster serves every slot within
//     about 15 s, or the test fails with the tail of the server's log.
//
// Besides standalone servers ([Start], or [StartPersistent] with an append-only file that
// [Server.Reopen] keeps across a crash) the harness starts a Redis Cluster ([StartCluster]), a
// master/replica/sentinel trio ([StartSentinel]), a fault-injecting TCP proxy ([NewProxy]) and a
// go-redis hook that counts network round trips ([RoundTrips]).
package redistest
