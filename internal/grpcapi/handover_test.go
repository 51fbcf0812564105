package grpcapi

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/redistest"
)

// verifier is a PKCE verifier (RFC 7636 appendix B).
const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

// verifiedIn starts a verification as clientA and completes it in the browser
// whose binding hash is binding; it returns the verification id.
func (f *fixture) verifiedIn(t *testing.T, requestID, binding string) string {
	t.Helper()
	res := f.start(t, keyA, requestID)
	id := res.GetVerification().GetVerificationId()
	r, err := f.svc.SubmitCode(context.Background(), pageToken(t, res.GetCustomerUrl()), f.codeFor(t, id), "n-"+requestID, binding)
	if err != nil || r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SubmitCode = %+v, %v", r, err)
	}
	return id
}

func TestHandoverSecureChannelOverGRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.verifiedIn(t, "ho-1", "browser-1")
	created, err := f.hc.CreateHandover(as(t, keyA), &authsvcv1.CreateHandoverRequest{VerificationId: id,
		Target:        &authsvcv1.CreateHandoverRequest_SecureChannel{SecureChannel: &authsvcv1.SecureChannelTarget{ChannelId: "app"}},
		CaseReference: "CASE-9", RequestId: "h-1"})
	if err != nil {
		t.Fatal(err)
	}
	h := created.GetHandover()
	if h.GetState() != authsvcv1.HandoverState_HANDOVER_STATE_OFFERED || h.GetChannelId() != "app" {
		t.Fatalf("handover = %v", h)
	}
	code, err := f.svc.BindHandover(context.Background(), h.GetHandoverId(), f.svc.BindState(h.GetHandoverId(), "browser-1"),
		handover.Challenge(verifier), "browser-1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	// The platform may not redeem it; the channel redeems it once.
	_, err = f.hc.RedeemHandover(as(t, keyA), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
	if ei := errorInfo(t, wantCode(t, err, codes.PermissionDenied)); ei.GetReason() != ReasonHandoverClient {
		t.Fatalf("reason = %q", ei.GetReason())
	}
	res, err := f.hc.RedeemHandover(as(t, keyB), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	c := res.GetContext()
	if !c.GetVerified() || c.GetCustomerId() != "cust-42" || c.GetCaseReference() != "CASE-9" ||
		c.GetIdentity().GetUserId() != "1234567890" || c.GetAssuranceLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW {
		t.Fatalf("context = %v", c)
	}
	tok := c.GetAssertion().GetToken()
	va, err := f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: tok, Audience: clientB})
	if err != nil || va.GetClaims().GetHandover() != "secure_channel" {
		t.Fatalf("VerifyAssertion = %v, %v", va, err)
	}
	d, err := f.ac.AuthorizeDisclosure(as(t, keyB), &authsvcv1.AuthorizeDisclosureRequest{Assertion: tok, Audience: clientB,
		DataClass: "order_status", Channel: authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL,
		ConversationId: c.GetConversationId()})
	if err != nil || !d.GetAllowed() {
		t.Fatalf("AuthorizeDisclosure = %v, %v", d, err)
	}
	_, err = f.hc.RedeemHandover(as(t, keyB), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
	if ei := errorInfo(t, wantCode(t, err, codes.FailedPrecondition)); ei.GetReason() != ReasonHandoverUsed {
		t.Fatalf("reason = %q", ei.GetReason())
	}
	got, err := f.hc.GetHandover(as(t, keyA), &authsvcv1.GetHandoverRequest{HandoverId: h.GetHandoverId()})
	if err != nil || got.GetHandover().GetState() != authsvcv1.HandoverState_HANDOVER_STATE_REDEEMED {
		t.Fatalf("GetHandover = %v, %v", got, err)
	}
	_, err = f.hc.GetHandover(as(t, keyB), &authsvcv1.GetHandoverRequest{HandoverId: h.GetHandoverId()})
	wantCode(t, err, codes.NotFound)
}

func TestHandoverPhoneOverGRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	res := f.start(t, keyA, "ph-1")
	id := res.GetVerification().GetVerificationId()
	if _, err := f.hc.CreateHandover(as(t, keyA), &authsvcv1.CreateHandoverRequest{VerificationId: id,
		Target: &authsvcv1.CreateHandoverRequest_Phone{Phone: &authsvcv1.PhoneTarget{}}, CaseReference: "CASE-7"}); err != nil {
		t.Fatal(err)
	}
	page, err := f.svc.OpenCodePage(context.Background(), pageToken(t, res.GetCustomerUrl()))
	if err != nil || page.Phone == nil {
		t.Fatalf("page = %+v, %v", page, err)
	}
	spoken := handover.GroupCallCode(page.Phone.CallCode)
	got, err := f.hc.RedeemCallCode(as(t, keyB), &authsvcv1.RedeemCallCodeRequest{CallCode: spoken})
	if err != nil {
		t.Fatal(err)
	}
	c := got.GetContext()
	if c.GetVerified() || c.GetAssertion() != nil || c.GetCustomerId() != "" || c.GetCaseReference() != "CASE-7" ||
		!strings.Contains(c.GetAssuranceNote(), "NOT verified") {
		t.Fatalf("context of a customer who never verified = %v", c)
	}
}

func TestHandoverBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.verifiedIn(t, "bad-1", "b")
	pending := f.start(t, keyA, "bad-2").GetVerification().GetVerificationId()
	if _, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: pending, RequestId: "c"}); err != nil {
		t.Fatal(err)
	}
	secure := func(ch string) *authsvcv1.CreateHandoverRequest_SecureChannel {
		return &authsvcv1.CreateHandoverRequest_SecureChannel{SecureChannel: &authsvcv1.SecureChannelTarget{ChannelId: ch}}
	}
	create := func(r *authsvcv1.CreateHandoverRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := f.hc.CreateHandover(ctx, r); return err }
	}
	redeem := func(code, v string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := f.hc.RedeemHandover(ctx, &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: v})
			return err
		}
	}
	wellFormed := id[:3] + ".aaaaaaaaaaaaaaaa~" + strings.Repeat("A", 22)
	tests := []struct {
		name   string
		key    string
		call   func(context.Context) error
		code   codes.Code
		fields []string
		reason string
	}{
		{"no verification", keyA, create(&authsvcv1.CreateHandoverRequest{Target: secure("app")}), codes.InvalidArgument, []string{"verification_id"}, ""},
		{"no target", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: id}), codes.InvalidArgument, []string{"target"}, ""},
		{"unknown channel", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: id, Target: secure("fax")}), codes.InvalidArgument, []string{"secure_channel.channel_id"}, ""},
		{"empty channel", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: id, Target: secure("")}), codes.InvalidArgument, []string{"secure_channel.channel_id"}, ""},
		{"long case", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: id, Target: secure("app"), CaseReference: strings.Repeat("c", 65)}), codes.InvalidArgument, []string{"case_reference"}, ""},
		{"control in case", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: id, Target: secure("app"), CaseReference: "a\nb"}), codes.InvalidArgument, []string{"case_reference"}, ""},
		{"foreign verification", keyB, create(&authsvcv1.CreateHandoverRequest{VerificationId: id, Target: secure("app")}), codes.NotFound, nil, ""},
		{"unknown verification", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: "abc-aaaaaaaaaaaaaaaa", Target: secure("app")}), codes.NotFound, nil, ""},
		{"canceled verification", keyA, create(&authsvcv1.CreateHandoverRequest{VerificationId: pending, Target: secure("app")}), codes.FailedPrecondition, nil, ""},
		{"no code", keyB, redeem("", verifier), codes.InvalidArgument, []string{"code"}, ""},
		{"malformed code", keyB, redeem("not-a-code", verifier), codes.InvalidArgument, []string{"code"}, ""},
		{"short verifier", keyB, redeem(wellFormed, "short"), codes.InvalidArgument, []string{"code_verifier"}, ""},
		{"both bad", keyB, redeem("x", "y"), codes.InvalidArgument, []string{"code", "code_verifier"}, ""},
		{"unknown code", keyB, redeem(wellFormed, verifier), codes.NotFound, nil, ""},
		{"call code letters", keyB, func(ctx context.Context) error {
			_, err := f.hc.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: "12345abcde"})
			return err
		}, codes.InvalidArgument, []string{"call_code"}, ""},
		{"call code short", keyB, func(ctx context.Context) error {
			_, err := f.hc.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: "123 456"})
			return err
		}, codes.InvalidArgument, []string{"call_code"}, ""},
		{"caller ref with a space", keyB, func(ctx context.Context) error {
			_, err := f.hc.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: "1234567890", CallerRef: "+34 600 000 000"})
			return err
		}, codes.InvalidArgument, []string{"caller_ref"}, ""},
		{"caller ref too long", keyB, func(ctx context.Context) error {
			_, err := f.hc.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: "1234567890", CallerRef: strings.Repeat("r", 129)})
			return err
		}, codes.InvalidArgument, []string{"caller_ref"}, ""},
		{"caller ref not ascii", keyB, func(ctx context.Context) error {
			_, err := f.hc.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: "1234567890", CallerRef: "llamante-ñ"})
			return err
		}, codes.InvalidArgument, []string{"caller_ref"}, ""},
		{"no handover id", keyA, func(ctx context.Context) error {
			_, err := f.hc.GetHandover(ctx, &authsvcv1.GetHandoverRequest{})
			return err
		}, codes.InvalidArgument, []string{"handover_id"}, ""},
		{"unknown handover", keyA, func(ctx context.Context) error {
			_, err := f.hc.GetHandover(ctx, &authsvcv1.GetHandoverRequest{HandoverId: "nope"})
			return err
		}, codes.NotFound, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := wantCode(t, tt.call(as(t, tt.key)), tt.code)
			if tt.fields != nil {
				if got := fields(t, st); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("fields = %v, want %v", got, tt.fields)
				}
			}
			if tt.code == codes.FailedPrecondition {
				if pf := detail[*errdetails.PreconditionFailure](t, st); len(pf.GetViolations()) != 1 {
					t.Fatalf("precondition failure = %v", pf)
				}
			}
		})
	}
	// Nothing refused above made a handover.
	if n, err := f.rdb.Keys(context.Background(), "v:*:h:*").Result(); err != nil || len(n) != 0 {
		t.Fatalf("handover keys after refused calls: %v %v", n, err)
	}
}

func TestHandoverCallCodeLimitOverGRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[codes.Code]int{}
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.hc.RedeemCallCode(as(t, keyB), &authsvcv1.RedeemCallCodeRequest{CallCode: strings.Repeat(string(rune('0'+i%10)), 10)})
			mu.Lock()
			seen[status.Code(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if seen[codes.NotFound] != 20 || seen[codes.ResourceExhausted] != 180 {
		t.Fatalf("outcomes = %v", seen)
	}
	// Those calls named no caller: they used up the allowance calls without one share.
	_, err := f.hc.RedeemCallCode(as(t, keyB), &authsvcv1.RedeemCallCodeRequest{CallCode: "1234567890"})
	st := wantCode(t, err, codes.ResourceExhausted)
	if ei := errorInfo(t, st); ei.GetReason() != ReasonCallCodeLimit || ei.GetMetadata()["scope"] != "caller" {
		t.Fatalf("error info = %v", ei)
	}
	if ri := detail[*errdetails.RetryInfo](t, st); ri.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("retry info = %v", ri)
	}
	// A caller who names themselves has an allowance of their own: a wrong code is
	// not found, not limited; past their own allowance, limited with scope "caller".
	for i := range 11 {
		_, err := f.hc.RedeemCallCode(as(t, keyB), &authsvcv1.RedeemCallCodeRequest{CallCode: "1234567890", CallerRef: "ivr-caller-1"})
		want := codes.NotFound
		if i == 10 {
			want = codes.ResourceExhausted
		}
		if st := wantCode(t, err, want); want == codes.ResourceExhausted && errorInfo(t, st).GetMetadata()["scope"] != "caller" {
			t.Fatalf("the caller's own limit: %v", errorInfo(t, st))
		}
	}
	if strings.Contains(f.logs.String(), "ivr-caller-1") {
		t.Fatal("a caller reference reached the log")
	}
}

func TestHandoverRedisDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.verifiedIn(t, "down-1", "b")
	f.redis.Kill()
	calls := map[string]func(ctx context.Context) error{
		"create": func(ctx context.Context) error {
			_, err := f.hc.CreateHandover(ctx, &authsvcv1.CreateHandoverRequest{VerificationId: id,
				Target: &authsvcv1.CreateHandoverRequest_Phone{Phone: &authsvcv1.PhoneTarget{}}})
			return err
		},
		"redeem": func(ctx context.Context) error {
			_, err := f.hc.RedeemHandover(ctx, &authsvcv1.RedeemHandoverRequest{
				Code: id[:3] + ".aaaaaaaaaaaaaaaa~" + strings.Repeat("A", 22), CodeVerifier: verifier})
			return err
		},
		"call": func(ctx context.Context) error {
			_, err := f.hc.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: "1234567890"})
			return err
		},
		"get": func(ctx context.Context) error {
			_, err := f.hc.GetHandover(ctx, &authsvcv1.GetHandoverRequest{HandoverId: id[:3] + ".aaaaaaaaaaaaaaaa"})
			return err
		},
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(as(t, keyA), 5*time.Second)
		err := call(ctx)
		cancel()
		if name == "redeem" {
			// A code this service never made is refused before Redis: nothing to look up.
			wantCode(t, err, codes.NotFound)
			continue
		}
		if ei := errorInfo(t, wantCode(t, err, codes.Unavailable)); ei.GetReason() != ReasonStoreUnavailable {
			t.Errorf("%s: reason %q", name, ei.GetReason())
		}
	}
}

// TestHandoverLeavesNoSecretInClear runs both handovers to the end, then searches
// every Redis key, field, value and stream entry and every log line for the
// handle, the contact, the codes, the verifier and the assertions.
func TestHandoverLeavesNoSecretInClear(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	id := f.verifiedIn(t, "sec-1", "browser-1")
	h, err := f.hc.CreateHandover(as(t, keyA), &authsvcv1.CreateHandoverRequest{VerificationId: id,
		Target: &authsvcv1.CreateHandoverRequest_SecureChannel{SecureChannel: &authsvcv1.SecureChannelTarget{ChannelId: "app"}}})
	if err != nil {
		t.Fatal(err)
	}
	hid := h.GetHandover().GetHandoverId()
	code, err := f.svc.BindHandover(ctx, hid, f.svc.BindState(hid, "browser-1"), handover.Challenge(verifier), "browser-1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	red, err := f.hc.RedeemHandover(as(t, keyB), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.hc.RedeemHandover(as(t, keyB), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
	res := f.start(t, keyA, "sec-2")
	if _, err := f.hc.CreateHandover(as(t, keyA), &authsvcv1.CreateHandoverRequest{VerificationId: res.GetVerification().GetVerificationId(),
		Target: &authsvcv1.CreateHandoverRequest_Phone{Phone: &authsvcv1.PhoneTarget{}}}); err != nil {
		t.Fatal(err)
	}
	page, err := f.svc.OpenCodePage(ctx, pageToken(t, res.GetCustomerUrl()))
	if err != nil || page.Phone == nil {
		t.Fatal(err)
	}
	call, err := f.hc.RedeemCallCode(as(t, keyB), &authsvcv1.RedeemCallCodeRequest{CallCode: page.Phone.CallCode})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(code, "~")
	needles := map[string]string{
		"handle": "@alice", "contact": email, "channel code": code, "code secret": secret, "verifier": verifier,
		"call code": page.Phone.CallCode, "assertion": red.GetContext().GetAssertion().GetToken(),
		"page token": pageToken(t, res.GetCustomerUrl()),
	}
	if tok := call.GetContext().GetAssertion().GetToken(); tok != "" {
		needles["phone assertion"] = tok
	}
	var haystack []string
	for k, vals := range redistest.Dump(t, f.rdb) {
		haystack = append(haystack, k)
		haystack = append(haystack, vals...)
	}
	haystack = append(haystack, strings.Split(f.logs.String(), "\n")...)
	for what, needle := range needles {
		for _, line := range haystack {
			if strings.Contains(line, needle) {
				t.Errorf("%s in clear: %q", what, line)
			}
		}
	}
	if len(haystack) < 20 {
		t.Fatalf("searched only %d lines", len(haystack))
	}
}

// TestHandoverRedeemedOnceOverGRPC: 50 parallel RedeemHandover calls with the
// right code and verifier: one context, 49 HANDOVER_USED.
func TestHandoverRedeemedOnceOverGRPC(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.verifiedIn(t, "once-1", "browser-1")
	created, err := f.hc.CreateHandover(as(t, keyA), &authsvcv1.CreateHandoverRequest{VerificationId: id,
		Target: &authsvcv1.CreateHandoverRequest_SecureChannel{SecureChannel: &authsvcv1.SecureChannelTarget{ChannelId: "app"}}})
	if err != nil {
		t.Fatal(err)
	}
	hid := created.GetHandover().GetHandoverId()
	code, err := f.svc.BindHandover(context.Background(), hid, f.svc.BindState(hid, "browser-1"), handover.Challenge(verifier),
		"browser-1", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range 50 {
		wg.Go(func() {
			_, err := f.hc.RedeemHandover(as(t, keyB), &authsvcv1.RedeemHandoverRequest{Code: code, CodeVerifier: verifier})
			outcome := "ok"
			if err != nil {
				outcome = status.Code(err).String()
				if st, _ := status.FromError(err); len(st.Details()) > 0 {
					if ei, ok := st.Details()[0].(*errdetails.ErrorInfo); ok {
						outcome += "/" + ei.GetReason()
					}
				}
			}
			mu.Lock()
			seen[outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if seen["ok"] != 1 || seen["FailedPrecondition/"+ReasonHandoverUsed] != 49 {
		t.Fatalf("outcomes = %v", seen)
	}
}
