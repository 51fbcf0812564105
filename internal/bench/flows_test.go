package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
)

// callTimeout bounds one flow, one health check or one Redis mix.
const callTimeout = 10 * time.Second

// flowRec holds one worker's latencies of a flow phase.
type flowRec struct {
	start, complete, get, flow latencies
}

// flow runs one verification end to end: StartVerification (OTP_EMAIL) over gRPC,
// the code read from the outbox, SubmitCode through the domain's page method,
// GetVerification over gRPC, which must return VERIFIED with an assertion.
func (s *stack) flow(ctx context.Context, c customer, rec *flowRec) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	actx := authed(ctx)

	t0 := time.Now()
	res, err := s.vc.StartVerification(actx, c.startProto(authsvcv1.Method_METHOD_OTP_EMAIL))
	t1 := time.Now()
	if err != nil {
		return fmt.Errorf("StartVerification: %w", err)
	}
	id := res.GetVerification().GetVerificationId()
	code, err := s.code(id)
	if err != nil {
		return err
	}
	tok, err := pageToken(res.GetCustomerUrl())
	if err != nil {
		return err
	}

	t2 := time.Now()
	r, err := s.svc.SubmitCode(ctx, tok, code, "page-"+c.requestID, "")
	t3 := time.Now()
	if err != nil {
		return fmt.Errorf("SubmitCode: %w", err)
	}
	if r.Outcome != challenge.OutcomeVerified {
		return fmt.Errorf("SubmitCode: outcome %d, want verified", r.Outcome)
	}

	g, err := s.vc.GetVerification(actx, &authsvcv1.GetVerificationRequest{VerificationId: id})
	t4 := time.Now()
	if err != nil {
		return fmt.Errorf("GetVerification: %w", err)
	}
	if st := g.GetVerification().GetState(); st != authsvcv1.State_STATE_VERIFIED {
		return fmt.Errorf("GetVerification: state %v, want VERIFIED", st)
	}
	if g.GetVerification().GetAssertion().GetToken() == "" {
		return errors.New("GetVerification: VERIFIED without an assertion")
	}

	rec.start.add(t1.Sub(t0))
	rec.complete.add(t3.Sub(t2))
	rec.get.add(t4.Sub(t3))
	rec.flow.add(t4.Sub(t0))
	return nil
}

// flowWorker returns the workerFunc of a flow phase; run keeps the customers of
// phases apart (every flow is a distinct customer and conversation).
func (s *stack) flowWorker(run int) workerFunc[flowRec] {
	return func(ctx context.Context, w, i int, rec *flowRec) error {
		return s.flow(ctx, customerN(run, w*10_000_000+i), rec)
	}
}

// healthWorker is one grpc.health.v1 Check against the same server and connection.
func (s *stack) healthWorker() workerFunc[latencies] {
	hc := healthpb.NewHealthClient(s.conn)
	return func(ctx context.Context, _, _ int, rec *latencies) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		t0 := time.Now()
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		rec.add(time.Since(t0))
		if err != nil {
			return fmt.Errorf("health check: %w", err)
		}
		if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health check: %v", res.GetStatus())
		}
		return nil
	}
}

// bareScript is the trivial script of the bare mix: one HSET on a small key.
var bareScript = redis.NewScript(`redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1`)

// bareMixDoc describes the bare Redis mix, for the report.
const bareMixDoc = "3 x EVALSHA of a one-HSET script + 1 x HGETALL of a copy of a real verified record"

// bareMix prepares and returns the bare Redis mix, the same round trips as a flow
// makes (start script, delivered script, code script, HGETALL for Get), done bare:
// three EVALSHAs of a trivial script and one HGETALL of a verified record's copy,
// each worker on its own keys. record is the copy's fields.
func bareMix(ctx context.Context, rdb *redis.Client, workers int, record map[string]string) (workerFunc[latencies], error) {
	if len(record) == 0 {
		return nil, errors.New("bare mix: empty record")
	}
	fields := make([]any, 0, 2*len(record))
	for k, v := range record {
		fields = append(fields, k, v)
	}
	for w := range workers {
		if err := rdb.HSet(ctx, bareKey(w, "rec"), fields...).Err(); err != nil {
			return nil, fmt.Errorf("bare mix: %w", err)
		}
	}
	if err := bareScript.Load(ctx, rdb).Err(); err != nil {
		return nil, fmt.Errorf("bare mix: %w", err)
	}
	return func(ctx context.Context, w, i int, rec *latencies) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		key := bareKey(w, "small")
		n := strconv.Itoa(i)
		t0 := time.Now()
		for _, f := range []string{"a", "b", "c"} {
			if err := bareScript.EvalSha(ctx, rdb, []string{key}, f, n).Err(); err != nil {
				return fmt.Errorf("bare EVALSHA: %w", err)
			}
		}
		m, err := rdb.HGetAll(ctx, bareKey(w, "rec")).Result()
		rec.add(time.Since(t0))
		if err != nil {
			return fmt.Errorf("bare HGETALL: %w", err)
		}
		if len(m) != len(record) {
			return fmt.Errorf("bare HGETALL: %d fields, want %d", len(m), len(record))
		}
		return nil
	}, nil
}

func bareKey(w int, kind string) string { return "bare:{" + strconv.Itoa(w) + "}:" + kind }
