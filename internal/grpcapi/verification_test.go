package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
)

func TestStartGetNeverReturnsTheCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	start := f.start(t, keyA, "req-1")
	v := start.GetVerification()
	if v.GetState() != authsvcv1.State_STATE_PENDING {
		t.Fatalf("state = %v, want PENDING", v.GetState())
	}
	if v.GetDeliveredMethod() != authsvcv1.Method_METHOD_OTP_EMAIL ||
		v.GetDeliveryState() != authsvcv1.DeliveryState_DELIVERY_STATE_SENT {
		t.Errorf("delivery = %v/%v, want OTP_EMAIL/SENT", v.GetDeliveredMethod(), v.GetDeliveryState())
	}
	if !strings.HasPrefix(start.GetCustomerUrl(), "https://verify.example.com/v/") {
		t.Errorf("customer_url = %q, want a /v/ page", start.GetCustomerUrl())
	}
	if start.GetDmText() == "" || !strings.Contains(start.GetDmText(), start.GetCustomerUrl()) {
		t.Errorf("dm_text %q does not carry the page link", start.GetDmText())
	}
	code := f.codeFor(t, v.GetVerificationId())

	get, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: v.GetVerificationId()})
	if err != nil {
		t.Fatal(err)
	}
	g := get.GetVerification()
	if g.GetState() != authsvcv1.State_STATE_PENDING || g.GetVerificationId() != v.GetVerificationId() {
		t.Fatalf("Get = %v %s, want PENDING %s", g.GetState(), g.GetVerificationId(), v.GetVerificationId())
	}
	if g.GetDestinationMask() != "a***@example.com" || g.GetIdentity().GetHandle() == "@alice" ||
		g.GetCreateTime() == nil || g.GetExpireTime() == nil || g.GetVerifyTime() != nil || g.GetAssertion() != nil {
		t.Errorf("Get returned unexpected fields: %v", g)
	}
	if g.GetAttemptsLeft() != 5 || g.GetMinAssurance() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW {
		t.Errorf("attempts_left/min_assurance = %d/%v", g.GetAttemptsLeft(), g.GetMinAssurance())
	}

	// A retried start returns the same verification and sends nothing twice.
	again := f.start(t, keyA, "req-1")
	if again.GetVerification().GetVerificationId() != v.GetVerificationId() || len(f.outbox.List()) != 1 {
		t.Errorf("retried start: id %s, %d messages; want %s, 1", again.GetVerification().GetVerificationId(),
			len(f.outbox.List()), v.GetVerificationId())
	}
	resend, err := f.vc.ResendVerification(as(t, keyA), &authsvcv1.ResendVerificationRequest{
		VerificationId: v.GetVerificationId(), RequestId: "resend-1",
		Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}},
	})
	if err != nil {
		t.Fatal(err)
	}
	newCode := f.codeFor(t, v.GetVerificationId())

	for _, m := range []proto.Message{start, get, again, resend} {
		text := prototext.Format(m)
		for _, secret := range []string{code, newCode, email} {
			if strings.Contains(text, secret) {
				t.Errorf("%T carries a secret or the destination:\n%s", m, text)
			}
		}
	}
	logs := f.logs.String()
	for _, secret := range []string{code, newCode, email, keyA, "1234567890@"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs carry %q", secret)
		}
	}
	if !strings.Contains(logs, `"verification_id":"`+v.GetVerificationId()+`"`) ||
		!strings.Contains(logs, `"client_id":"platform-a"`) {
		t.Errorf("logs lack the call's client and verification ids:\n%s", logs)
	}
}

func TestWatchPendingThenCanceled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.start(t, keyA, "watch-1").GetVerification().GetVerificationId()

	stream, err := f.vc.WatchVerification(as(t, keyA), &authsvcv1.WatchVerificationRequest{VerificationId: id})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
		t.Fatalf("first state = %v, want PENDING", first.GetVerification().GetState())
	}
	canceled := make(chan error, 1)
	go func() {
		_, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: id, RequestId: "c1"})
		canceled <- err
	}()
	var last *authsvcv1.Verification
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		last = msg.GetVerification()
	}
	if err := <-canceled; err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if last.GetState() != authsvcv1.State_STATE_CANCELED {
		t.Fatalf("last state = %v, want CANCELED", last.GetState())
	}
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.start(t, keyA, "watch-err").GetVerification().GetVerificationId()
	tests := []struct {
		name string
		key  string
		id   string
		want codes.Code
	}{
		{"no key", "", id, codes.Unauthenticated},
		{"another client's", keyB, id, codes.NotFound},
		{"unknown", keyA, "aaa-aaaaaaaaaaaaaaaa", codes.NotFound},
		{"empty id", keyA, "", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream, err := f.vc.WatchVerification(as(t, tt.key), &authsvcv1.WatchVerificationRequest{VerificationId: tt.id})
			if err == nil {
				_, err = stream.Recv()
			}
			wantCode(t, err, tt.want)
		})
	}
}

func TestStartInvalidArgument(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		name   string
		mutate func(r *authsvcv1.StartVerificationRequest)
		field  string
	}{
		{"no identity", func(r *authsvcv1.StartVerificationRequest) { r.Identity = nil }, "identity"},
		{"no network", func(r *authsvcv1.StartVerificationRequest) { r.Identity.Network = "" }, "identity.network"},
		{"bad network", func(r *authsvcv1.StartVerificationRequest) { r.Identity.Network = "X!" }, "identity.network"},
		{"long user id", func(r *authsvcv1.StartVerificationRequest) { r.Identity.UserId = strings.Repeat("1", 129) }, "identity.user_id"},
		{"long handle", func(r *authsvcv1.StartVerificationRequest) { r.Identity.Handle = "@" + strings.Repeat("a", 64) }, "identity.handle"},
		{"no handle", func(r *authsvcv1.StartVerificationRequest) { r.Identity.Handle = "" }, "identity.handle"},
		{"no methods", func(r *authsvcv1.StartVerificationRequest) { r.Methods = nil }, "methods"},
		{"unspecified method", func(r *authsvcv1.StartVerificationRequest) {
			r.Methods = []authsvcv1.Method{authsvcv1.Method_METHOD_UNSPECIFIED}
		}, "methods[0]"},
		{"unknown method", func(r *authsvcv1.StartVerificationRequest) {
			r.Methods = []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_EMAIL, authsvcv1.Method(42)}
		}, "methods[1]"},
		{"repeated method", func(r *authsvcv1.StartVerificationRequest) {
			r.Methods = []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_EMAIL, authsvcv1.Method_METHOD_OTP_EMAIL}
		}, "methods[1]"},
		{"unknown level", func(r *authsvcv1.StartVerificationRequest) { r.MinAssurance = authsvcv1.AssuranceLevel(9) }, "min_assurance"},
		{"malformed email", func(r *authsvcv1.StartVerificationRequest) {
			r.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: "alice at example"}}
		}, "destination.email"},
		{"phone not E.164", func(r *authsvcv1.StartVerificationRequest) {
			r.Methods = []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_SMS}
			r.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: "0415"}}
		}, "destination.phone"},
		{"empty destination", func(r *authsvcv1.StartVerificationRequest) { r.Destination = &authsvcv1.Destination{} }, "destination"},
		{"no destination for OTP_EMAIL", func(r *authsvcv1.StartVerificationRequest) { r.Destination = nil }, "destination"},
		{"ttl 0s", func(r *authsvcv1.StartVerificationRequest) { r.Ttl = durationpb.New(0) }, "ttl"},
		{"ttl below min", func(r *authsvcv1.StartVerificationRequest) { r.Ttl = durationpb.New(30 * time.Second) }, "ttl"},
		{"ttl 2h", func(r *authsvcv1.StartVerificationRequest) { r.Ttl = durationpb.New(2 * time.Hour) }, "ttl"},
		{"ttl malformed", func(r *authsvcv1.StartVerificationRequest) {
			r.Ttl = &durationpb.Duration{Seconds: 60, Nanos: -1}
		}, "ttl"},
		{"no request id", func(r *authsvcv1.StartVerificationRequest) { r.RequestId = "" }, "request_id"},
		{"long request id", func(r *authsvcv1.StartVerificationRequest) { r.RequestId = strings.Repeat("r", 129) }, "request_id"},
		{"no audience", func(r *authsvcv1.StartVerificationRequest) { r.Audience = "" }, "audience"},
		{"no agent", func(r *authsvcv1.StartVerificationRequest) { r.AgentId = "" }, "agent_id"},
		{"no conversation", func(r *authsvcv1.StartVerificationRequest) { r.ConversationId = "" }, "conversation_id"},
		{"bad scope", func(r *authsvcv1.StartVerificationRequest) { r.Scopes = []string{"Orders Read"} }, "scopes[0]"},
		{"bad locale", func(r *authsvcv1.StartVerificationRequest) { r.Locale = "english please" }, "locale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validStart("bad-" + strings.ReplaceAll(tt.name, " ", "-"))
			tt.mutate(r)
			_, err := f.vc.StartVerification(as(t, keyA), r)
			st := wantCode(t, err, codes.InvalidArgument)
			got := fields(t, st)
			if len(got) == 0 || got[0] != tt.field {
				t.Errorf("field violations = %v, want %q first", got, tt.field)
			}
			if strings.Contains(st.Message(), email) {
				t.Errorf("message %q quotes the destination", st.Message())
			}
		})
	}
	if n := len(f.outbox.List()); n != 0 {
		t.Errorf("%d messages sent for bad requests", n)
	}
}

func TestNoMethodMeetsLevel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	r := validStart("high-1")
	r.MinAssurance = authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH
	_, err := f.vc.StartVerification(as(t, keyA), r)
	st := wantCode(t, err, codes.FailedPrecondition)
	pf := detail[*errdetails.PreconditionFailure](t, st).GetViolations()
	if len(pf) != 1 || pf[0].GetType() != "METHOD" || !strings.Contains(pf[0].GetDescription(), "enroll a passkey") {
		t.Errorf("PreconditionFailure = %v", pf)
	}
}

func TestOtherRequestsInvalidArgument(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.start(t, keyA, "other-1").GetVerification().GetVerificationId()
	dest := &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}}
	tests := []struct {
		name  string
		call  func(ctx context.Context) error
		field string
	}{
		{"get without id", func(ctx context.Context) error {
			_, err := f.vc.GetVerification(ctx, &authsvcv1.GetVerificationRequest{})
			return err
		}, "verification_id"},
		{"cancel without request id", func(ctx context.Context) error {
			_, err := f.vc.CancelVerification(ctx, &authsvcv1.CancelVerificationRequest{VerificationId: id})
			return err
		}, "request_id"},
		{"resend without destination", func(ctx context.Context) error {
			_, err := f.vc.ResendVerification(ctx, &authsvcv1.ResendVerificationRequest{VerificationId: id, RequestId: "r1"})
			return err
		}, "destination"},
		{"resend without request id", func(ctx context.Context) error {
			_, err := f.vc.ResendVerification(ctx, &authsvcv1.ResendVerificationRequest{VerificationId: id, Destination: dest})
			return err
		}, "request_id"},
		{"resend to another destination", func(ctx context.Context) error {
			_, err := f.vc.ResendVerification(ctx, &authsvcv1.ResendVerificationRequest{VerificationId: id, RequestId: "r2",
				Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: "mallory@example.com"}}})
			return err
		}, "destination"},
		{"start reusing a request id", func(ctx context.Context) error {
			r := validStart("other-1")
			r.AgentId = "agent-8"
			_, err := f.vc.StartVerification(ctx, r)
			return err
		}, "request_id"},
		{"verify without audience", func(ctx context.Context) error {
			_, err := f.ac.VerifyAssertion(ctx, &authsvcv1.VerifyAssertionRequest{Assertion: "a.b.c"})
			return err
		}, "audience"},
		{"verify without assertion", func(ctx context.Context) error {
			_, err := f.ac.VerifyAssertion(ctx, &authsvcv1.VerifyAssertionRequest{Audience: audience})
			return err
		}, "assertion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := wantCode(t, tt.call(as(t, keyA)), codes.InvalidArgument)
			if got := fields(t, st); len(got) == 0 || got[0] != tt.field {
				t.Errorf("field violations = %v, want %q", got, tt.field)
			}
		})
	}
}

func TestNotFoundLooksTheSameForEveryone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.start(t, keyA, "nf-1").GetVerification().GetVerificationId()
	var messages []string
	for _, tt := range []struct{ key, id string }{
		{keyA, "aaa-aaaaaaaaaaaaaaaa"}, // well-formed, never issued
		{keyA, "not-an-id"},
		{keyB, id}, // another client's
	} {
		_, err := f.vc.GetVerification(as(t, tt.key), &authsvcv1.GetVerificationRequest{VerificationId: tt.id})
		st := wantCode(t, err, codes.NotFound)
		messages = append(messages, st.Message())
		if len(st.Details()) != 0 {
			t.Errorf("NotFound carries details %v", st.Details())
		}
		_, err = f.vc.CancelVerification(as(t, tt.key), &authsvcv1.CancelVerificationRequest{VerificationId: tt.id, RequestId: "x"})
		wantCode(t, err, codes.NotFound)
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("NotFound messages differ: %q", messages)
		}
	}
	// Client B's attempt did not cancel client A's verification.
	get, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil || get.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
		t.Fatalf("after B's cancel: %v, %v; want PENDING", get.GetVerification().GetState(), err)
	}
}

func TestCancelTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.start(t, keyA, "cancel-1").GetVerification().GetVerificationId()
	cancel := func(requestID string) (*authsvcv1.CancelVerificationResponse, error) {
		return f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: id, RequestId: requestID})
	}
	first, err := cancel("c1")
	if err != nil || first.GetVerification().GetState() != authsvcv1.State_STATE_CANCELED {
		t.Fatalf("first cancel: %v, %v", first.GetVerification().GetState(), err)
	}
	repeat, err := cancel("c1")
	if err != nil || repeat.GetVerification().GetState() != authsvcv1.State_STATE_CANCELED {
		t.Fatalf("repeated request id: %v, %v; want the first answer", repeat.GetVerification().GetState(), err)
	}
	_, err = cancel("c2")
	st := wantCode(t, err, codes.FailedPrecondition)
	pf := detail[*errdetails.PreconditionFailure](t, st).GetViolations()
	if len(pf) != 1 || pf[0].GetType() != "STATE" || pf[0].GetSubject() != "verification:"+id {
		t.Errorf("PreconditionFailure = %v", pf)
	}
	// A resend of a canceled verification is refused the same way.
	_, err = f.vc.ResendVerification(as(t, keyA), &authsvcv1.ResendVerificationRequest{VerificationId: id, RequestId: "r1",
		Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}}})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestDeliveryFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{sender: failingSender{}})
	_, err := f.vc.StartVerification(as(t, keyA), validStart("fail-1"))
	st := wantCode(t, err, codes.Unavailable)
	ei := errorInfo(t, st)
	id := ei.GetMetadata()["verification_id"]
	if ei.GetReason() != "DELIVERY_FAILED" || id == "" {
		t.Fatalf("ErrorInfo = %v", ei)
	}
	if strings.Contains(st.Message(), "503") {
		t.Errorf("message %q leaks the gateway's error", st.Message())
	}
	get, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if v := get.GetVerification(); v.GetState() != authsvcv1.State_STATE_PENDING ||
		v.GetDeliveryState() != authsvcv1.DeliveryState_DELIVERY_STATE_FAILED {
		t.Errorf("after a failed send: %v/%v, want PENDING/FAILED", v.GetState(), v.GetDeliveryState())
	}
	if !strings.Contains(f.logs.String(), "503 from upstream") {
		t.Errorf("the cause of DELIVERY_FAILED is not in the log")
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	id := f.start(t, keyA, "down-0").GetVerification().GetVerificationId()
	// A verified one, whose assertion must not verify while revocation cannot be checked.
	done := f.start(t, keyA, "down-verified")
	doneID := done.GetVerification().GetVerificationId()
	if r, err := f.svc.SubmitCode(context.Background(), pageToken(t, done.GetCustomerUrl()), f.codeFor(t, doneID), "n", ""); err != nil || r.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SubmitCode = %+v, %v", r, err)
	}
	got, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: doneID})
	if err != nil || got.GetVerification().GetAssertion().GetToken() == "" {
		t.Fatalf("GetVerification = %v, %v", got, err)
	}
	token := got.GetVerification().GetAssertion().GetToken()
	f.redis.Kill()

	const deadline = 5 * time.Second
	calls := map[string]func(ctx context.Context) error{
		"start": func(ctx context.Context) error {
			_, err := f.vc.StartVerification(ctx, validStart("down-1"))
			return err
		},
		"get": func(ctx context.Context) error {
			_, err := f.vc.GetVerification(ctx, &authsvcv1.GetVerificationRequest{VerificationId: id})
			return err
		},
		"cancel": func(ctx context.Context) error {
			_, err := f.vc.CancelVerification(ctx, &authsvcv1.CancelVerificationRequest{VerificationId: id, RequestId: "c"})
			return err
		},
		"resend": func(ctx context.Context) error {
			_, err := f.vc.ResendVerification(ctx, &authsvcv1.ResendVerificationRequest{VerificationId: id, RequestId: "r",
				Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}}})
			return err
		},
		"watch": func(ctx context.Context) error {
			stream, err := f.vc.WatchVerification(ctx, &authsvcv1.WatchVerificationRequest{VerificationId: id})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		},
		"verify assertion": func(ctx context.Context) error {
			_, err := f.ac.VerifyAssertion(ctx, &authsvcv1.VerifyAssertionRequest{Assertion: token, Audience: audience})
			return err
		},
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(as(t, keyA), deadline)
		began := time.Now()
		err := call(ctx)
		cancel()
		st := wantCode(t, err, codes.Unavailable)
		if ei := errorInfo(t, st); ei.GetReason() != "STORE_UNAVAILABLE" {
			t.Errorf("%s: reason = %q", name, ei.GetReason())
		}
		el := time.Since(began)
		if el >= deadline {
			t.Errorf("%s took %v", name, el)
		}
		t.Logf("%s with Redis down: %v in %v", name, st.Code(), el)
		if strings.Contains(st.Message(), "127.0.0.1") || strings.Contains(st.Message(), "refused") {
			t.Errorf("%s: message %q leaks the cause", name, st.Message())
		}
	}

	f.redis.Restart(t)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, err = f.vc.StartVerification(as(t, keyA), validStart("up-1")); err == nil {
			t.Logf("Start works again %v after the restart", time.Since(end.Add(-10*time.Second)))
			return
		}
	}
	t.Fatalf("Start after restart: %v", err)
}

// blockingGet is a Verifications whose Get waits for its context to end, to show
// that the server bounds a unary call.
type blockingGet struct{ Verifications }

func (blockingGet) Get(ctx context.Context, _, _ string) (*challenge.Verification, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestUnaryTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{
		cfg:  Config{UnaryTimeout: 200 * time.Millisecond},
		wrap: func(v Verifications) Verifications { return blockingGet{v} },
	})
	began := time.Now()
	_, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: "aaa-aaaaaaaaaaaaaaaa"})
	wantCode(t, err, codes.DeadlineExceeded)
	if el := time.Since(began); el > 5*time.Second {
		t.Errorf("call took %v with a 200ms server deadline", el)
	}
}

// panickingGet is a Verifications whose Get panics.
type panickingGet struct{ Verifications }

func (panickingGet) Get(context.Context, string, string) (*challenge.Verification, error) {
	var v []int
	return nil, fmt.Errorf("unreachable %d", v[len(v)]) // an index out of range: a runtime panic
}

func TestPanicIsInternal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{wrap: func(v Verifications) Verifications { return panickingGet{v} }})
	_, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: "aaa-aaaaaaaaaaaaaaaa"})
	st := wantCode(t, err, codes.Internal)
	if st.Message() != "internal error" {
		t.Errorf("message = %q", st.Message())
	}
	if !strings.Contains(f.logs.String(), "panic in grpc handler") {
		t.Errorf("panic not logged")
	}
	// The server still serves.
	f.start(t, keyA, "after-panic")
}
