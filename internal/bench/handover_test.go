package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/redistest"
)

var handovers = flag.Int("handovers", 20_000, "pending handovers created for the handover memory figure")

// benchVerifier is a PKCE verifier (RFC 7636 appendix B).
const benchVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

// handoverRows counts the round trips of creating and redeeming each kind of
// handover (challenge.Service: what HandoverService and the pages call; the gRPC
// layer adds no Redis work), and of binding, which has no budget.
func (s *stack) handoverRows(ctx context.Context, calls int) ([]rtRow, error) {
	create := rtRow{op: "CreateHandover (secure channel)", budget: 2, budgetDoc: "<= 2"}
	bind := rtRow{op: "handover bind (/handover/bind)", budgetDoc: "-"}
	redeem := rtRow{op: "RedeemHandover (secure channel)", budget: 2, budgetDoc: "<= 2"}
	createPhone := rtRow{op: "CreateHandover (phone)", budget: 2, budgetDoc: "<= 2"}
	redeemCall := rtRow{op: "RedeemCallCode (phone)", budget: 2, budgetDoc: "<= 2"}
	challengeS := handover.Challenge(benchVerifier)
	for i := range rtWarmup + calls {
		warm := i < rtWarmup
		c := customerN(11, i) // run 9 is the events phase's, on the same server
		res, err := s.svc.Start(ctx, c.startDomain())
		if err != nil {
			return nil, err
		}
		id := res.Verification.ID
		otp, err := s.code(id)
		if err != nil {
			return nil, err
		}
		tok, err := pageToken(res.PageURL)
		if err != nil {
			return nil, err
		}
		if err := wantVerified(s.svc.SubmitCode(ctx, tok, otp, "page-"+c.requestID, "browser")); err != nil {
			return nil, err
		}
		var h *challenge.Handover
		if err := s.rtCount(&create, warm, func() (err error) {
			h, err = s.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: id,
				Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: "acme-app", CaseReference: "CASE-1234567",
				RequestID: "h-" + c.requestID})
			return err
		}); err != nil {
			return nil, err
		}
		var code string
		if err := s.rtCount(&bind, warm, func() (err error) {
			code, err = s.svc.BindHandover(ctx, h.ID, s.svc.BindState(h.ID, "browser"), challengeS, "browser", []string{"app"})
			return err
		}); err != nil {
			return nil, err
		}
		if err := s.rtCount(&redeem, warm, func() error {
			_, err := s.svc.RedeemHandover(ctx, "acme-app", code, challengeS)
			return err
		}); err != nil {
			return nil, err
		}
		if err := s.rtCount(&createPhone, warm, func() (err error) {
			_, err = s.svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: id,
				Kind: challenge.HandoverPhone, Redeemer: "acme-ivr", RequestID: "p-" + c.requestID})
			return err
		}); err != nil {
			return nil, err
		}
		o, err := s.svc.OpenHandover(ctx, tok, "browser")
		if err != nil {
			return nil, err
		}
		if err := s.rtCount(&redeemCall, warm, func() error {
			r, err := s.svc.RedeemCallCode(ctx, "acme-ivr", o.CallCode, "")
			if err == nil && !r.Verified {
				err = fmt.Errorf("call code redeemed without its verification")
			}
			return err
		}); err != nil {
			return nil, err
		}
	}
	return []rtRow{create, bind, redeem, createPhone, redeemCall}, nil
}

// handoverMem is the memory figure of pending handovers.
type handoverMem struct {
	n                 int
	state, audit, all int64 // bytes added: handover state (hash and record fields), audit stream, both
}

// measureHandoverMemory creates n pending verifications on a fresh redis-server,
// then a secure-channel handover on each (offered, not yet bound), and returns
// what the handovers added: used_memory (less client buffers, settled) and, apart,
// the audit stream's share (MEMORY USAGE with every entry sampled).
func measureHandoverMemory(ctx context.Context, tb testing.TB, n int) (handoverMem, error) {
	srv := redistest.Start(tb)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: redisMaxRetries, PoolSize: memWorkers})
	tb.Cleanup(func() { _ = rdb.Close() })
	svc, _, _, _ := newService(tb, rdb, noopSender{})
	ids := make([]string, n)
	if err := parallel(n, func(i int) error {
		r, err := svc.Start(ctx, customerN(10, i).startDomain())
		if err == nil {
			ids[i] = r.Verification.ID
		}
		return err
	}); err != nil {
		return handoverMem{}, err
	}
	m0, _, err := settled(ctx, srv, rdb)
	if err != nil {
		return handoverMem{}, err
	}
	a0 := streamBytes(ctx, rdb)
	if err := parallel(n, func(i int) error {
		_, err := svc.CreateHandover(ctx, challenge.HandoverRequest{ClientID: clientID, VerificationID: ids[i],
			Kind: challenge.HandoverSecureChannel, Channel: "app", Redeemer: "acme-app", CaseReference: "CASE-1234567",
			RequestID: fmt.Sprint("h-", i)})
		return err
	}); err != nil {
		return handoverMem{}, err
	}
	m1, _, err := settled(ctx, srv, rdb)
	if err != nil {
		return handoverMem{}, err
	}
	a1 := streamBytes(ctx, rdb)
	return handoverMem{n: n, all: m1 - m0, audit: a1 - a0, state: (m1 - m0) - (a1 - a0)}, nil
}

// streamBytes is the audit stream's MEMORY USAGE, every entry sampled.
func streamBytes(ctx context.Context, rdb *redis.Client) int64 {
	n, _ := rdb.MemoryUsage(ctx, auditStream, 0).Result()
	return n
}

// parallel runs f(0..n-1) on memWorkers goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for range memWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// reportHandoverMemory writes the handover memory figure and checks its budget.
func reportHandoverMemory(out io.Writer, m handoverMem, over *[]string) {
	per := func(b int64) float64 { return float64(b) / float64(m.n) }
	fmt.Fprintf(out, "  handovers      %7d\n", m.n)
	fmt.Fprintf(out, "  state          %7.1f B/handover   budget <= 300  %s\n", per(m.state), passOver(per(m.state) <= 300))
	fmt.Fprintf(out, "  audit event    %7.1f B/handover   (handover_created, in the audit buffer)\n", per(m.audit))
	fmt.Fprintf(out, "  total          %7.1f B/handover\n", per(m.all))
	if per(m.state) > 300 {
		*over = append(*over, fmt.Sprintf("pending handover: %.0f bytes, budget 300", per(m.state)))
	}
}

func passOver(ok bool) string {
	if ok {
		return "PASS"
	}
	return "OVER"
}
