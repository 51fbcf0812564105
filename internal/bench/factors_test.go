package bench

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/softauthn"
)

// enrolled is a customer with an authenticator app and a passkey, enrolled
// through the identity store as the enrollment pages do (not counted).
type enrolled struct {
	id   string
	seed []byte
	key  *softauthn.Authenticator
}

func enrollToken(url string) string {
	_, tok, _ := strings.Cut(url, "/e/")
	return tok
}

// enroll enrolls customer id with both factors. The TOTP confirmation uses the
// previous step's code, so the current step's code can complete a verification
// (a confirmation code never can).
func (s *stack) enroll(ctx context.Context, id string) (*enrolled, error) {
	e := &enrolled{id: id}
	url, _, err := s.ids.CreateEnrollment(ctx, clientID, id, identity.KindTOTP, "en", nil)
	if err != nil {
		return nil, fmt.Errorf("enroll TOTP: %w", err)
	}
	if _, e.seed, err = s.ids.BeginTOTP(ctx, enrollToken(url), ""); err != nil {
		return nil, fmt.Errorf("begin TOTP: %w", err)
	}
	if _, err := s.ids.ConfirmTOTP(ctx, enrollToken(url), totpCode(e.seed, time.Now().Add(-30*time.Second)), "", ""); err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	if e.key, err = softauthn.New(rpID, rpOrigin); err != nil {
		return nil, err
	}
	url, _, err = s.ids.CreateEnrollment(ctx, clientID, id, identity.KindPasskey, "en", nil)
	if err != nil {
		return nil, fmt.Errorf("enroll passkey: %w", err)
	}
	opts, err := s.ids.BeginPasskey(ctx, enrollToken(url), "")
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	raw, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	body, err := e.key.Register(raw)
	if err != nil {
		return nil, err
	}
	if _, err := s.ids.FinishPasskey(ctx, enrollToken(url), bytes.NewReader(body), ""); err != nil {
		return nil, fmt.Errorf("finish passkey registration: %w", err)
	}
	// A factor completes only verifications started after it (by the millisecond).
	time.Sleep(2 * time.Millisecond)
	return e, nil
}

func totpCode(seed []byte, at time.Time) string {
	c, _ := totp.GenerateCodeCustom(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed), at,
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c
}

// factorRows counts the round trips of starting and completing the enrolled
// methods: a TOTP code, and a passkey's begin and finish (a software
// authenticator signs; go-webauthn checks for real).
func (s *stack) factorRows(ctx context.Context, calls int) ([]rtRow, error) {
	start := rtRow{op: "StartVerification (TOTP/WEBAUTHN, customer named)", budget: 2, budgetDoc: "<= 2"}
	code := rtRow{op: "complete: SubmitTOTP (TOTP)", budget: 2, budgetDoc: "<= 2"}
	begin := rtRow{op: "passkey: BeginPasskey", budgetDoc: "-"}
	finish := rtRow{op: "complete: FinishPasskey (WEBAUTHN)", budget: 2, budgetDoc: "<= 2"}
	for i := range rtWarmup + calls {
		warm := i < rtWarmup
		c := customerN(8, i)
		e, err := s.enroll(ctx, fmt.Sprintf("bench-customer-%d", i))
		if err != nil {
			return nil, err
		}
		startReq := func(m authsvcv1.Method, level authsvcv1.AssuranceLevel, n int) *authsvcv1.StartVerificationRequest {
			r := c.startProto(m)
			r.CustomerId, r.MinAssurance, r.Destination = e.id, level, nil
			r.RequestId, r.ConversationId = fmt.Sprint(c.requestID, "-", n), fmt.Sprint(c.conversation, "-", n)
			return r
		}
		var res *authsvcv1.StartVerificationResponse
		if err := s.rtCount(&start, warm, func() (err error) {
			res, err = s.vc.StartVerification(ctx, startReq(authsvcv1.Method_METHOD_TOTP, authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL, 1))
			return err
		}); err != nil {
			return nil, err
		}
		tok, err := pageToken(res.GetCustomerUrl())
		if err != nil {
			return nil, err
		}
		if err := s.rtCount(&code, warm, func() error {
			return wantVerified(s.svc.SubmitTOTP(ctx, tok, totpCode(e.seed, time.Now()), "page-"+c.requestID, ""))
		}); err != nil {
			return nil, err
		}

		pres, err := s.vc.StartVerification(ctx, startReq(authsvcv1.Method_METHOD_WEBAUTHN, authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH, 2))
		if err != nil {
			return nil, fmt.Errorf("StartVerification (WEBAUTHN): %w", err)
		}
		ptok, err := pageToken(pres.GetCustomerUrl())
		if err != nil {
			return nil, err
		}
		var opts []byte
		if err := s.rtCount(&begin, warm, func() (err error) {
			opts, err = s.svc.BeginPasskey(ctx, ptok)
			return err
		}); err != nil {
			return nil, err
		}
		body, err := e.key.Login(opts)
		if err != nil {
			return nil, err
		}
		if err := s.rtCount(&finish, warm, func() error {
			return wantVerified(s.svc.FinishPasskey(ctx, ptok, body, "page-"+c.requestID, ""))
		}); err != nil {
			return nil, err
		}
	}
	return []rtRow{start, code, begin, finish}, nil
}
