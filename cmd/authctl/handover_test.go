package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// fakeHandovers is a HandoverService that records what it was asked.
type fakeHandovers struct {
	authsvcv1.UnimplementedHandoverServiceServer
	mu        sync.Mutex
	created   *authsvcv1.CreateHandoverRequest
	redeems   int
	callerRef string
}

func (f *fakeHandovers) handover(kind authsvcv1.HandoverKind) *authsvcv1.Handover {
	return &authsvcv1.Handover{HandoverId: "abc.defghijklmnopqrs", VerificationId: "abc-0123456789abcdef", Kind: kind,
		State: authsvcv1.HandoverState_HANDOVER_STATE_OFFERED, ChannelId: "app",
		ExpireTime: timestamppb.New(time.Unix(1_800_000_600, 0))}
}

func (f *fakeHandovers) CreateHandover(_ context.Context, r *authsvcv1.CreateHandoverRequest) (*authsvcv1.CreateHandoverResponse, error) {
	f.mu.Lock()
	f.created = r
	f.mu.Unlock()
	return &authsvcv1.CreateHandoverResponse{Handover: f.handover(authsvcv1.HandoverKind_HANDOVER_KIND_SECURE_CHANNEL)}, nil
}

func (f *fakeHandovers) GetHandover(_ context.Context, r *authsvcv1.GetHandoverRequest) (*authsvcv1.GetHandoverResponse, error) {
	if r.GetHandoverId() != "abc.defghijklmnopqrs" {
		return nil, status.Error(codes.NotFound, "handover not found")
	}
	return &authsvcv1.GetHandoverResponse{Handover: f.handover(authsvcv1.HandoverKind_HANDOVER_KIND_SECURE_CHANNEL)}, nil
}

func (f *fakeHandovers) RedeemHandover(_ context.Context, r *authsvcv1.RedeemHandoverRequest) (*authsvcv1.RedeemHandoverResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redeems++
	if f.redeems > 1 {
		return nil, status.Error(codes.FailedPrecondition, "handover already redeemed")
	}
	return &authsvcv1.RedeemHandoverResponse{Context: &authsvcv1.HandoverContext{HandoverId: "abc.defghijklmnopqrs",
		Kind: authsvcv1.HandoverKind_HANDOVER_KIND_SECURE_CHANNEL, Verified: true, CustomerId: "42",
		Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: "1234"}, CaseReference: "CASE-1",
		AssuranceLevel: authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW, Amr: []string{"otp", "mail"},
		Assertion: &authsvcv1.Assertion{Token: testToken}, AssuranceNote: "verified digitally"}}, nil
}

func (f *fakeHandovers) RedeemCallCode(_ context.Context, r *authsvcv1.RedeemCallCodeRequest) (*authsvcv1.RedeemCallCodeResponse, error) {
	f.mu.Lock()
	f.callerRef = r.GetCallerRef()
	f.mu.Unlock()
	return &authsvcv1.RedeemCallCodeResponse{Context: &authsvcv1.HandoverContext{HandoverId: "abc.defghijklmnopqrs",
		Kind: authsvcv1.HandoverKind_HANDOVER_KIND_PHONE, CaseReference: "CASE-2",
		AssuranceNote: "NOT verified digitally: run your own identity checks"}}, nil
}

func startFakeHandovers(t *testing.T, f *fakeHandovers) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authsvcv1.RegisterHandoverServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestHandoverCommands(t *testing.T) {
	f := &fakeHandovers{}
	env := map[string]string{"AUTHSVC_ADDR": startFakeHandovers(t, f), "AUTHSVC_API_KEY": testKey}

	r := runCLI(t, env, "", "handover", "create", "--verification", "abc-0123456789abcdef", "--channel", "app", "--case", "CASE-1")
	if r.code != exitOK || !strings.Contains(r.stdout, "handover abc.defghijklmnopqrs (secure_channel)") {
		t.Fatalf("create: %+v", r)
	}
	if sc := f.created.GetSecureChannel(); sc.GetChannelId() != "app" || f.created.GetCaseReference() != "CASE-1" {
		t.Fatalf("create sent %v", f.created)
	}
	if r := runCLI(t, env, "", "handover", "create", "--verification", "v", "--phone"); r.code != exitOK || f.created.GetPhone() == nil {
		t.Fatalf("create --phone: %+v %v", r, f.created)
	}
	if r := runCLI(t, env, "", "handover", "show", "abc.defghijklmnopqrs", "--json"); r.code != exitOK ||
		!strings.Contains(r.stdout, `"handover_id":"abc.defghijklmnopqrs"`) {
		t.Fatalf("show --json: %+v", r)
	}
	if r := runCLI(t, env, "", "handover", "show", "nope"); r.code != exitFailure || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("show unknown: %+v", r)
	}
	r = runCLI(t, env, "", "handover", "redeem", "abc.defghijklmnopqrs~secret", "--verifier", strings.Repeat("v", 43))
	if r.code != exitOK || !strings.Contains(r.stdout, "customer 42") || !strings.Contains(r.stdout, testToken) {
		t.Fatalf("redeem: %+v", r)
	}
	if r := runCLI(t, env, "", "handover", "redeem", "abc.defghijklmnopqrs~secret", "--verifier", strings.Repeat("v", 43)); r.code != exitFailure {
		t.Fatalf("second redeem: %+v", r)
	}
	r = runCLI(t, env, "", "handover", "redeem", "--call-code", "123 456 7890")
	if r.code != exitDenied || !strings.Contains(r.stdout, "NOT verified") {
		t.Fatalf("redeem --call-code of an unverified customer: %+v", r)
	}
	r = runCLI(t, env, "", "handover", "redeem", "--call-code", "123 456 7890", "--caller-ref", "ivr-caller-7f3a")
	f.mu.Lock()
	sent := f.callerRef
	f.mu.Unlock()
	if r.code != exitDenied || sent != "ivr-caller-7f3a" {
		t.Fatalf("redeem --call-code --caller-ref: %+v, sent %q", r, sent)
	}
	for _, args := range [][]string{
		{"handover"}, {"handover", "create", "--verification", "v"},
		{"handover", "create", "--verification", "v", "--phone", "--channel", "app"},
		{"handover", "show"}, {"handover", "redeem", "CODE"}, {"handover", "redeem", "--call-code", "1", "CODE"},
		{"handover", "redeem", "CODE", "--verifier", "v", "--caller-ref", "r"},
		{"handover", "frob"},
	} {
		if r := runCLI(t, env, "", args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want usage error; %s", args, r.code, r.stderr)
		}
	}
}
