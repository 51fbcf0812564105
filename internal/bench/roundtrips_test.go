package bench

import (
	"context"
	"fmt"
	"strconv"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/challenge"
)

// rtWarmup is the number of calls of each kind made before counting, so that
// scripts are cached (EVALSHA, not NOSCRIPT + EVAL) and connections are open.
const rtWarmup = 10

// rtRow is the round trips of one operation over many calls.
type rtRow struct {
	op        string
	calls     int
	total     int64
	maxSeen   int64
	budget    int    // 0: the design sets none
	budgetDoc string // as the design states it
	events    int64  // audit events the counted calls added to the audit stream
}

func (r rtRow) avg() float64 { return float64(r.total) / float64(r.calls) }

// eventsPerCall is the audit events one call wrote, on average.
func (r rtRow) eventsPerCall() float64 { return float64(r.events) / float64(r.calls) }

// holds reports whether every call kept the budget (true when there is none).
func (r rtRow) holds() bool { return r.budget == 0 || r.maxSeen <= int64(r.budget) }

func (r rtRow) verdict() string {
	switch {
	case r.budget == 0:
		return "(no budget)"
	case r.holds():
		return "PASS"
	}
	return "OVER"
}

// auditStream is the audit trail of the bench's standalone Redis.
var auditStream = audit.StreamKey("", false)

// rtCount runs f with the stack's round-trip counter reset and adds what it counted
// to row (unless warm-up): its round trips on the service's client and the entries
// it added to the audit stream (read before and after on the side client, which
// the counter does not see).
func (s *stack) rtCount(row *rtRow, warm bool, f func() error) error {
	before, err := s.side.XLen(context.Background(), auditStream).Result()
	if err != nil {
		return fmt.Errorf("%s: audit stream length: %w", row.op, err)
	}
	s.rtt.Reset()
	if err := f(); err != nil {
		return fmt.Errorf("%s: %w", row.op, err)
	}
	n := s.rtt.Load()
	after, err := s.side.XLen(context.Background(), auditStream).Result()
	if err != nil {
		return fmt.Errorf("%s: audit stream length: %w", row.op, err)
	}
	if !warm {
		row.calls++
		row.total += n
		row.maxSeen = max(row.maxSeen, n)
		row.events += after - before
	}
	return nil
}

// roundTrips counts the Redis round trips of each RPC on the service's client,
// one call at a time (nothing else runs), over calls calls after rtWarmup calls.
// Start, Get, Resend and Cancel go through gRPC; the two completions through the
// page methods of challenge.Service (what the customer pages call).
func (s *stack) roundTrips(ctx context.Context, calls int) ([]rtRow, error) {
	ctx = authed(ctx)
	start := rtRow{op: "StartVerification (OTP_EMAIL)", budget: 2, budgetDoc: "<= 2"}
	code := rtRow{op: "complete: SubmitCode (OTP)", budget: 2, budgetDoc: "<= 2"}
	link := rtRow{op: "complete: ConfirmLink (MAGIC_LINK)", budget: 2, budgetDoc: "<= 2"}
	get := rtRow{op: "GetVerification (VERIFIED, mints)", budget: 1, budgetDoc: "= 1"}
	disclose := rtRow{op: "AuthorizeDisclosure (allowed)", budget: 2, budgetDoc: "<= 2"}
	getPending := rtRow{op: "GetVerification (PENDING)", budget: 1, budgetDoc: "= 1"}
	resend := rtRow{op: "ResendVerification", budgetDoc: "-"}
	cancel := rtRow{op: "CancelVerification (PENDING)", budgetDoc: "-"}

	n := rtWarmup + calls
	for i := range n {
		warm := i < rtWarmup
		// OTP: start, get while pending, complete, get with the assertion.
		c := customerN(3, i)
		var res *authsvcv1.StartVerificationResponse
		if err := s.rtCount(&start, warm, func() (err error) {
			res, err = s.vc.StartVerification(ctx, c.startProto(authsvcv1.Method_METHOD_OTP_EMAIL))
			return err
		}); err != nil {
			return nil, err
		}
		id := res.GetVerification().GetVerificationId()
		otp, err := s.code(id)
		if err != nil {
			return nil, err
		}
		tok, err := pageToken(res.GetCustomerUrl())
		if err != nil {
			return nil, err
		}
		if err := s.rtCount(&getPending, warm, func() error {
			return s.getState(ctx, id, authsvcv1.State_STATE_PENDING)
		}); err != nil {
			return nil, err
		}
		if err := s.rtCount(&code, warm, func() error {
			return wantVerified(s.svc.SubmitCode(ctx, tok, otp, "page-"+c.requestID, ""))
		}); err != nil {
			return nil, err
		}
		var assertion string
		if err := s.rtCount(&get, warm, func() (err error) {
			assertion, err = s.verifiedAssertion(ctx, id)
			return err
		}); err != nil {
			return nil, err
		}
		// A care tool checks the assertion before showing the order status.
		if err := s.rtCount(&disclose, warm, func() error {
			r, err := s.ac.AuthorizeDisclosure(ctx, &authsvcv1.AuthorizeDisclosureRequest{Assertion: assertion,
				Audience: "crm", DataClass: "order_status", Channel: authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM,
				ConversationId: c.conversation})
			if err == nil && !r.GetAllowed() {
				err = fmt.Errorf("denied: %v", r.GetDenials())
			}
			return err
		}); err != nil {
			return nil, err
		}

		// MAGIC_LINK: start (not counted here), complete by picking the number.
		ml := customerN(4, i)
		mres, err := s.vc.StartVerification(ctx, ml.startProto(authsvcv1.Method_METHOD_MAGIC_LINK))
		if err != nil {
			return nil, fmt.Errorf("StartVerification (MAGIC_LINK): %w", err)
		}
		mid := mres.GetVerification().GetVerificationId()
		ltok, err := s.linkToken(mid)
		if err != nil {
			return nil, err
		}
		number, err := strconv.Atoi(mres.GetMatchNumber())
		if err != nil {
			return nil, fmt.Errorf("match number %q: %w", mres.GetMatchNumber(), err)
		}
		if err := s.rtCount(&link, warm, func() error {
			return wantVerified(s.svc.ConfirmLink(ctx, ltok, number, "page-"+ml.requestID, ""))
		}); err != nil {
			return nil, err
		}

		// Resend, then cancel, a pending OTP verification.
		rc := customerN(5, i)
		rres, err := s.vc.StartVerification(ctx, rc.startProto(authsvcv1.Method_METHOD_OTP_EMAIL))
		if err != nil {
			return nil, fmt.Errorf("StartVerification: %w", err)
		}
		rid := rres.GetVerification().GetVerificationId()
		if err := s.rtCount(&resend, warm, func() error {
			_, err := s.vc.ResendVerification(ctx, &authsvcv1.ResendVerificationRequest{
				VerificationId: rid,
				Destination:    &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: rc.email}},
				RequestId:      "resend-" + rc.requestID,
			})
			return err
		}); err != nil {
			return nil, err
		}
		if err := s.rtCount(&cancel, warm, func() error {
			r, err := s.vc.CancelVerification(ctx, &authsvcv1.CancelVerificationRequest{
				VerificationId: rid, RequestId: "cancel-" + rc.requestID,
			})
			if err == nil && r.GetVerification().GetState() != authsvcv1.State_STATE_CANCELED {
				err = fmt.Errorf("state %v, want CANCELED", r.GetVerification().GetState())
			}
			return err
		}); err != nil {
			return nil, err
		}
	}
	factors, err := s.factorRows(ctx, calls)
	if err != nil {
		return nil, err
	}
	return append([]rtRow{start, code, link, get, getPending, disclose, resend, cancel}, factors...), nil
}

func (s *stack) getState(ctx context.Context, id string, want authsvcv1.State) error {
	g, err := s.vc.GetVerification(ctx, &authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil {
		return err
	}
	if st := g.GetVerification().GetState(); st != want {
		return fmt.Errorf("state %v, want %v", st, want)
	}
	return nil
}

// verifiedAssertion gets verification id, which must be VERIFIED, and returns
// its assertion.
func (s *stack) verifiedAssertion(ctx context.Context, id string) (string, error) {
	g, err := s.vc.GetVerification(ctx, &authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil {
		return "", err
	}
	if st := g.GetVerification().GetState(); st != authsvcv1.State_STATE_VERIFIED {
		return "", fmt.Errorf("state %v, want VERIFIED", st)
	}
	tok := g.GetVerification().GetAssertion().GetToken()
	if tok == "" {
		return "", fmt.Errorf("VERIFIED without an assertion")
	}
	return tok, nil
}

func wantVerified(r challenge.Result, err error) error {
	if err != nil {
		return err
	}
	if r.Outcome != challenge.OutcomeVerified {
		return fmt.Errorf("outcome %d, want verified", r.Outcome)
	}
	return nil
}
