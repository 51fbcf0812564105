package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// testKey is the API key the tests pass through AUTHSVC_API_KEY.
const testKey = "test-key-7f3a"

// result is the outcome of one authctl invocation.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs authctl with args, the given stdin and environment.
func runCLI(t *testing.T, environ map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code := runEnv(ctx, args, env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string { return environ[k] },
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	base := []string{"verify", "--network", "x", "--user-id", "1234", "--handle", "@alice",
		"--email", "alice@example.com", "--method", "otp_email", "--audience", "crm",
		"--agent", "agent-7", "--conversation", "conv-42", "--no-watch"}
	without := func(flag string) []string {
		var out []string
		for i := 0; i < len(base); i++ {
			if base[i] == flag {
				i++
				continue
			}
			out = append(out, base[i])
		}
		return out
	}
	tests := []struct {
		name    string
		args    []string
		environ map[string]string
		want    string
	}{
		{"no command", nil, nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"missing network", without("--network"), nil, "missing --network"},
		{"missing user id", without("--user-id"), nil, "missing --user-id"},
		{"missing method", without("--method"), nil, "missing --method"},
		{"missing audience", without("--audience"), nil, "missing --audience"},
		{"bad network", append(without("--network"), "--network", "X Corp"), nil, "--network"},
		{"bad method", append(base, "--method", "carrier_pigeon"), nil, `unknown method "carrier_pigeon"`},
		{"bad method in list", append(without("--method"), "--method", "otp_email,sms"), nil, `unknown method "sms"`},
		{"duplicate method", append(base, "--method", "OTP_EMAIL"), nil, "given twice"},
		{"email and phone", append(base, "--phone", "+14155550100"), nil, "either --email or --phone"},
		{"no handle", []string{"verify", "--network", "x", "--user-id", "1", "--method", "otp_email", "--email", "a@example.com",
			"--audience", "crm", "--agent", "a", "--conversation", "c"}, nil, "missing --handle"},
		{"otp_sms without phone", append(base, "--method", "otp_sms"), nil, "otp_sms needs --phone"},
		{"magic link without destination", []string{"verify", "--network", "x", "--user-id", "1", "--handle", "@a", "--method", "magic_link",
			"--audience", "crm", "--agent", "a", "--conversation", "c"}, nil, "magic_link needs --email or --phone"},
		{"bad phone", []string{"verify", "--network", "x", "--user-id", "1", "--handle", "@a", "--method", "otp_sms", "--phone", "0415",
			"--audience", "crm", "--agent", "a", "--conversation", "c"}, nil, "want E.164"},
		{"ttl too long", append(base, "--ttl", "2h"), nil, "--ttl"},
		{"bad assurance", append(base, "--min-assurance", "ultra"), nil, "--min-assurance"},
		{"unknown flag", append(base, "--frob"), nil, "flag provided but not defined"},
		{"stray argument", append(base, "extra"), nil, `unexpected argument "extra"`},
		{"non-loopback without TLS", append(base, "--addr", "authsvc.example.com:8443"),
			map[string]string{"AUTHSVC_API_KEY": testKey}, "use --tls"},
		{"non-loopback without key", append(base, "--addr", "authsvc.example.com:8443", "--tls"), nil, "AUTHSVC_API_KEY"},
		{"watch without id", []string{"watch"}, nil, "missing verification ID"},
		{"get with two ids", []string{"get", "a", "b"}, nil, `unexpected argument "b"`},
		{"resend both destinations", []string{"resend", "v1", "--email", "a@b.c", "--phone", "+14155550100"}, nil, "not both"},
		{"assertion without verify", []string{"assertion", "check", "x"}, nil, "assertion verify"},
		{"assertion without audience", []string{"assertion", "verify", "tok"}, nil, "missing --audience"},
		{"assertion without token", []string{"assertion", "verify", "--audience", "crm"}, nil, "missing TOKEN"},
		{"api key file missing", append(base, "--api-key-file", "/nonexistent/key"), nil, "--api-key-file"},
		{"enroll both contacts", []string{"enroll", "--customer-id", "c", "--method", "totp", "--email", "a@b.c",
			"--phone", "+14155550100"}, nil, "not both"},
		{"enroll bad phone", []string{"enroll", "--customer-id", "c", "--method", "totp", "--phone", "0415"}, nil, "want E.164"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.environ, "", tc.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.want)
			}
		})
	}
}

func TestParseVerifyRequest(t *testing.T) {
	t.Parallel()
	g := newGlobals(func(string) string { return "" })
	req, o, err := parseVerify(g, []string{"--network", "x", "--user-id", "1234", "--handle", "@alice",
		"--phone", "+14155550100", "--method", "otp_sms,magic_link", "--method", "webauthn",
		"--audience", "crm", "--scope", "orders:read", "--scope", "profile:read,address:read",
		"--agent", "agent-7", "--conversation", "conv-42", "--customer-id", "42", "--locale", "es",
		"--ttl", "5m", "--min-assurance", "high", "--json", "--addr", "[::1]:7443"})
	if err != nil {
		t.Fatal(err)
	}
	wantMethods := []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_SMS, authsvcv1.Method_METHOD_MAGIC_LINK, authsvcv1.Method_METHOD_WEBAUTHN}
	if len(req.GetMethods()) != 3 {
		t.Fatalf("methods %v", req.GetMethods())
	}
	for i, m := range wantMethods {
		if req.GetMethods()[i] != m {
			t.Errorf("method %d = %v, want %v", i, req.GetMethods()[i], m)
		}
	}
	if got := strings.Join(req.GetScopes(), " "); got != "orders:read profile:read address:read" {
		t.Errorf("scopes %q", got)
	}
	if req.GetDestination().GetPhone() != "+14155550100" || req.GetCustomerId() != "42" || req.GetLocale() != "es" {
		t.Errorf("request %v", req)
	}
	if req.GetTtl().AsDuration() != 5*time.Minute || req.GetMinAssurance() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH {
		t.Errorf("ttl %v level %v", req.GetTtl(), req.GetMinAssurance())
	}
	if !strings.HasPrefix(req.GetRequestId(), "authctl-") || len(req.GetRequestId()) != len("authctl-")+32 {
		t.Errorf("request id %q", req.GetRequestId())
	}
	if !o.json || g.addr != "[::1]:7443" || !isLoopback(g.addr) {
		t.Errorf("json %v addr %q", o.json, g.addr)
	}
}

func TestParseEnrollRequest(t *testing.T) {
	t.Parallel()
	g := newGlobals(func(string) string { return "" })
	req, _, err := parseEnroll(g, []string{"--customer-id", "cust-42", "--method", "totp", "--verification", "abc-x",
		"--email", "alice@example.com", "--locale", "es"})
	if err != nil {
		t.Fatal(err)
	}
	if req.GetDestination().GetEmail() != "alice@example.com" || req.GetVerificationId() != "abc-x" ||
		req.GetMethod() != authsvcv1.Method_METHOD_TOTP || req.GetLocale() != "es" {
		t.Errorf("request %v", req)
	}
}

func TestAPIKeySelection(t *testing.T) {
	t.Parallel()
	keyFile := t.TempDir() + "/key"
	if err := os.WriteFile(keyFile, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr, file, env, want string
		wantErr                     bool
	}{
		{name: "dev key on loopback", addr: "127.0.0.1:7443", want: devAPIKey},
		{name: "dev key on localhost", addr: "localhost:7443", want: devAPIKey},
		{name: "env wins over dev key", addr: "127.0.0.1:7443", env: "from-env", want: "from-env"},
		{name: "file wins over env", addr: "10.0.0.1:8443", file: keyFile, env: "from-env", want: "from-file"},
		{name: "no dev key off loopback", addr: "10.0.0.1:8443", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := &globals{addr: tc.addr, apiKeyFile: tc.file, apiKeyEnv: tc.env}
			got, err := g.apiKey()
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("apiKey() = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "from-") {
				t.Errorf("error reveals a key: %v", err)
			}
		})
	}
}

func TestDescribeError(t *testing.T) {
	t.Parallel()
	st := status.New(codes.InvalidArgument, "invalid request")
	st, err := st.WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "identity.network", Description: "must match [a-z0-9_-]{1,32}"},
			{Field: "methods", Description: "at least one method is required"},
		}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(30 * time.Second)},
		&errdetails.ErrorInfo{Reason: "SEND_LIMIT", Domain: "authsvc.v1", Metadata: map[string]string{"limit": "3/h"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	got := describeError(st.Err())
	for _, want := range []string{
		"INVALID_ARGUMENT: invalid request",
		"\n  identity.network: must match [a-z0-9_-]{1,32}",
		"\n  methods: at least one method is required",
		"\n  retry after 30s",
		"\n  reason: SEND_LIMIT (authsvc.v1)",
		"\n  limit: 3/h",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("describeError() = %q, missing %q", got, want)
		}
	}
}

// fakeService is the CLI's network peer: an in-process authsvc.v1 server
// whose answers the test scripts. It is a double of the remote service, not of
// any storage.
type fakeService struct {
	authsvcv1.UnimplementedVerificationServiceServer
	authsvcv1.UnimplementedAssertionServiceServer

	// final is the terminal state WatchVerification ends with.
	final authsvcv1.State

	mu       sync.Mutex
	auth     []string // authorization metadata seen, one per call
	started  *authsvcv1.StartVerificationRequest
	verified *authsvcv1.VerifyAssertionRequest
}

// testToken is an unsigned JWT-shaped token whose payload the CLI decodes.
var testToken = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF1dGhzdmMrand0In0." +
	base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://auth.example.com","sub":"42","aud":"crm","acr":"low","amr":["otp","mail"]}`)) +
	".c2lnbmF0dXJl"

func (f *fakeService) verification(state authsvcv1.State) *authsvcv1.Verification {
	v := &authsvcv1.Verification{
		VerificationId:  "vf_0123456789",
		State:           state,
		Identity:        &authsvcv1.SocialIdentity{Network: "x", UserId: "1234", Handle: "@a***e"},
		CustomerId:      "42",
		Methods:         []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_EMAIL},
		Audience:        "crm",
		AgentId:         "agent-7",
		ConversationId:  "conv-42",
		DestinationMask: "a***@example.com",
		DeliveredMethod: authsvcv1.Method_METHOD_OTP_EMAIL,
		DeliveryState:   authsvcv1.DeliveryState_DELIVERY_STATE_SENT,
		AttemptsLeft:    5,
		CreateTime:      timestamppb.New(time.Unix(1_800_000_000, 0)),
		ExpireTime:      timestamppb.New(time.Unix(1_800_000_600, 0)),
	}
	switch state {
	case authsvcv1.State_STATE_VERIFIED:
		v.VerifiedMethod = authsvcv1.Method_METHOD_OTP_EMAIL
		v.AssuranceLevel = authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW
		v.VerifyTime = timestamppb.New(time.Unix(1_800_000_100, 0))
		v.Assertion = &authsvcv1.Assertion{Token: testToken, AssertionId: "as_1", ExpireTime: timestamppb.New(time.Unix(1_800_000_400, 0))}
	case authsvcv1.State_STATE_FAILED:
		v.FailureReason = authsvcv1.FailureReason_FAILURE_REASON_REPORTED
	}
	return v
}

func (f *fakeService) StartVerification(_ context.Context, req *authsvcv1.StartVerificationRequest) (*authsvcv1.StartVerificationResponse, error) {
	f.mu.Lock()
	f.started = req
	f.mu.Unlock()
	return &authsvcv1.StartVerificationResponse{
		Verification: f.verification(authsvcv1.State_STATE_PENDING),
		CustomerUrl:  "https://auth.example.com/v/vf_0123456789#secret",
		MatchNumber:  "47",
		DmText:       "To confirm it's you, open https://auth.example.com/v/vf_0123456789#secret and pick 47.",
	}, nil
}

func (f *fakeService) WatchVerification(req *authsvcv1.WatchVerificationRequest, stream grpc.ServerStreamingServer[authsvcv1.WatchVerificationResponse]) error {
	if req.GetVerificationId() != "vf_0123456789" {
		return status.Error(codes.NotFound, "verification not found")
	}
	pending := f.verification(authsvcv1.State_STATE_PENDING)
	// The first message repeats: the CLI prints a state once.
	for _, v := range []*authsvcv1.Verification{pending, pending, f.verification(f.final)} {
		if err := stream.Send(&authsvcv1.WatchVerificationResponse{Verification: v}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeService) GetVerification(_ context.Context, req *authsvcv1.GetVerificationRequest) (*authsvcv1.GetVerificationResponse, error) {
	return &authsvcv1.GetVerificationResponse{Verification: f.verification(f.final)}, nil
}

func (f *fakeService) VerifyAssertion(_ context.Context, req *authsvcv1.VerifyAssertionRequest) (*authsvcv1.VerifyAssertionResponse, error) {
	f.mu.Lock()
	f.verified = req
	f.mu.Unlock()
	if req.GetAssertion() != testToken {
		st, _ := status.New(codes.InvalidArgument, "assertion refused").WithDetails(
			&errdetails.ErrorInfo{Reason: "ASSERTION_EXPIRED", Domain: "authsvc.v1"})
		return nil, st.Err()
	}
	return &authsvcv1.VerifyAssertionResponse{Claims: &authsvcv1.AssertionClaims{
		Issuer: "https://auth.example.com", Subject: "42", Audience: []string{req.GetAudience()},
		Acr: "low", Amr: []string{"otp", "mail"}, VerificationId: "vf_0123456789",
	}}, nil
}

func (f *fakeService) GetJwks(context.Context, *authsvcv1.GetJwksRequest) (*authsvcv1.GetJwksResponse, error) {
	return &authsvcv1.GetJwksResponse{JwksJson: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","kid":"k1","alg":"EdDSA","use":"sig"}]}`}, nil
}

func (f *fakeService) authSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// startFake serves f on a loopback port and returns its address.
func startFake(t *testing.T, f *fakeService) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	record := func(ctx context.Context) {
		md, _ := metadata.FromIncomingContext(ctx)
		f.mu.Lock()
		f.auth = append(f.auth, strings.Join(md.Get("authorization"), ","))
		f.mu.Unlock()
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			record(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			record(ss.Context())
			return h(srv, ss)
		}),
	)
	authsvcv1.RegisterVerificationServiceServer(srv, f)
	authsvcv1.RegisterAssertionServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

var verifyArgs = []string{"verify", "--network", "x", "--user-id", "1234", "--handle", "@alice",
	"--email", "alice@example.com", "--method", "otp_email,magic_link", "--audience", "crm",
	"--scope", "orders:read", "--agent", "agent-7", "--conversation", "conv-42", "--customer-id", "42"}

func TestVerifyWatchesUntilVerified(t *testing.T) {
	t.Parallel()
	f := &fakeService{final: authsvcv1.State_STATE_VERIFIED}
	addr := startFake(t, f)
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": addr, "AUTHSVC_API_KEY": testKey}, "", verifyArgs...)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{
		"vf_0123456789",
		"To confirm it's you, open https://auth.example.com/v/vf_0123456789#secret and pick 47.",
		"Match number: 47",
		"https://auth.example.com/v/vf_0123456789#secret",
		"█", // the terminal QR code
		"PENDING, delivery SENT, 5 attempts left",
		"VERIFIED via otp_email (assurance low)",
		`"iss": "https://auth.example.com"`,
		`"amr": [`,
		testToken,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	_, watched, _ := strings.Cut(r.stdout, "Watching vf_0123456789")
	if n := strings.Count(watched, "PENDING, delivery"); n != 1 {
		t.Errorf("the watch printed PENDING %d times, want once", n)
	}
	if strings.Contains(r.stdout+r.stderr, testKey) {
		t.Error("the API key was printed")
	}
	for _, got := range f.authSeen() {
		if got != "Bearer "+testKey {
			t.Errorf("authorization metadata %q, want the bearer key", got)
		}
	}
	if len(f.authSeen()) != 2 {
		t.Errorf("calls seen %d, want 2 (start, watch)", len(f.authSeen()))
	}
	f.mu.Lock()
	req := f.started
	f.mu.Unlock()
	if req.GetIdentity().GetHandle() != "@alice" || req.GetDestination().GetEmail() != "alice@example.com" ||
		len(req.GetMethods()) != 2 || req.GetRequestId() == "" || req.GetScopes()[0] != "orders:read" {
		t.Errorf("request sent: %v", req)
	}
}

func TestVerifyFailedExitsOne(t *testing.T) {
	t.Parallel()
	f := &fakeService{final: authsvcv1.State_STATE_FAILED}
	addr := startFake(t, f)
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": addr}, "", verifyArgs...)
	if r.code != exitDenied {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, exitDenied, r.stderr)
	}
	if !strings.Contains(r.stdout, "FAILED (REPORTED)") {
		t.Errorf("stdout lacks the failure reason:\n%s", r.stdout)
	}
	// No key configured on loopback: the documented dev-mode key is sent.
	if got := f.authSeen(); len(got) == 0 || got[0] != "Bearer "+devAPIKey {
		t.Errorf("authorization %q, want the dev-mode key", got)
	}
}

func TestVerifyJSONEvents(t *testing.T) {
	t.Parallel()
	f := &fakeService{final: authsvcv1.State_STATE_VERIFIED}
	addr := startFake(t, f)
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": addr}, "", append(verifyArgs, "--json")...)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var events []event
	for _, l := range lines {
		var ev event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		events = append(events, ev)
	}
	if len(events) != 3 || events[0].Event != "started" || events[0].MatchNumber != "47" ||
		events[1].Event != "state" || events[2].Event != "state" {
		t.Fatalf("events: %s", r.stdout)
	}
	var last struct {
		State     string `json:"state"`
		Assertion struct {
			Token string `json:"token"`
		} `json:"assertion"`
	}
	if err := json.Unmarshal(events[2].Verification, &last); err != nil {
		t.Fatal(err)
	}
	if last.State != "STATE_VERIFIED" || last.Assertion.Token != testToken || !strings.Contains(string(events[2].Claims), `"sub":"42"`) {
		t.Errorf("last event: %s", lines[2])
	}
}

func TestWatchUnknownIDIsRPCError(t *testing.T) {
	t.Parallel()
	addr := startFake(t, &fakeService{final: authsvcv1.State_STATE_VERIFIED})
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": addr}, "", "watch", "vf_nope")
	if r.code != exitFailure || !strings.Contains(r.stderr, "NOT_FOUND: verification not found") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestGetAndJwks(t *testing.T) {
	t.Parallel()
	addr := startFake(t, &fakeService{final: authsvcv1.State_STATE_EXPIRED})
	environ := map[string]string{"AUTHSVC_ADDR": addr}
	r := runCLI(t, environ, "", "get", "vf_0123456789")
	if r.code != exitOK || !strings.Contains(r.stdout, "EXPIRED") {
		t.Errorf("get: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, environ, "", "jwks")
	if r.code != exitOK || !strings.Contains(r.stdout, `"kid": "k1"`) {
		t.Errorf("jwks: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestAssertionVerify(t *testing.T) {
	t.Parallel()
	f := &fakeService{}
	addr := startFake(t, f)
	environ := map[string]string{"AUTHSVC_ADDR": addr}

	r := runCLI(t, environ, "\n"+testToken+"\n", "assertion", "verify", "-", "--audience", "crm")
	if r.code != exitOK {
		t.Fatalf("stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"verification_id": "vf_0123456789"`) {
		t.Errorf("claims not printed:\n%s", r.stdout)
	}
	f.mu.Lock()
	got := f.verified
	f.mu.Unlock()
	if got.GetAssertion() != testToken || got.GetAudience() != "crm" {
		t.Errorf("request %v", got)
	}

	r = runCLI(t, environ, "", "assertion", "verify", "--audience", "crm", "eyJ.stale.token")
	if r.code != exitDenied || !strings.Contains(r.stderr, "reason: ASSERTION_EXPIRED") {
		t.Errorf("refused: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUnreachableServerIsRPCError(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	r := runCLI(t, map[string]string{"AUTHSVC_ADDR": addr}, "", "--timeout", "2s", "get", "vf_1")
	if r.code != exitFailure || !strings.Contains(r.stderr, "UNAVAILABLE") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
