package grpcapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/policy"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// Test clients and their API keys.
const (
	clientA  = "platform-a"
	clientB  = "platform-b"
	keyA     = "key-a-0123456789abcdef0123456789abcdef"
	keyB     = "key-b-0123456789abcdef0123456789abcdef"
	issuer   = "https://authsvc.example.com"
	audience = "crm-panel"
	email    = "alice.customer@example.com"
)

// fixture is a real authsvc gRPC server on a loopback port over a real challenge
// service and identity store (enrolled methods on) on a fresh redis-server.
type fixture struct {
	redis   *redistest.Server
	rdb     *redis.Client
	svc     *challenge.Service
	ids     *identity.Store
	outbox  *delivery.Outbox
	keyring *assertion.Keyring
	signer  crypto.Signer
	server  *Server
	reg     *prometheus.Registry
	logs    *syncbuf.Buffer
	conn    *grpc.ClientConn
	vc      authsvcv1.VerificationServiceClient
	ac      authsvcv1.AssertionServiceClient
	ec      authsvcv1.EnrollmentServiceClient
	audc    authsvcv1.AuditServiceClient
	hc      authsvcv1.HandoverServiceClient
	// auditRDB is the audit trail's own client, so that the round trips counted
	// on rdb are the calls' own, not the refused calls' events written after.
	auditRDB *redis.Client
}

type fixtureOpts struct {
	sender challenge.Sender
	cfg    Config
	// wrap replaces the Verifications the server is given.
	wrap func(Verifications) Verifications
	// lifetime is the assertion lifetime (5 min when zero).
	lifetime time.Duration
	// skew, when set, is added to the time the assertion verifier and the
	// disclosure policy see (the challenge service and Redis keep real time).
	skew *atomic.Int64
	// grants, when set, are the grants of clientA and clientB (both needed);
	// otherwise each may do everything.
	grants map[string]Grants
	// clients, when set, replaces the clients built from keys and grants.
	clients *Clients
}

func newFixture(t *testing.T, opts fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{redis: redistest.Start(t), outbox: delivery.NewOutbox(100), logs: &syncbuf.Buffer{}}
	sender := opts.sender
	if sender == nil {
		sender = f.outbox
	}
	signer, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	f.signer = signer
	if f.keyring, err = assertion.NewKeyring([]crypto.Signer{signer}, 0); err != nil {
		t.Fatal(err)
	}
	ring, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.rdb = f.redis.Client(t)
	seals, err := seal.NewRing(seal.Key{ID: "s1", Secret: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: "verify.example.com", RPDisplayName: "Acme",
		RPOrigins: []string{"https://verify.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{clientA: keyA, clientB: keyB}
	grants := opts.grants
	if grants == nil {
		grants = map[string]Grants{clientA: allGrants(), clientB: allGrants()}
	}
	clients, err := NewClientsWithGrants(keys, grants)
	if err != nil {
		t.Fatal(err)
	}
	if opts.clients != nil {
		clients = opts.clients
	}
	if f.ids, err = identity.New(identity.Config{PublicURL: mustURL(t, "https://verify.example.com"), Brand: "Acme"},
		f.rdb, ring, seals, wa, time.Now, nil, log, identity.WithNotifier(sender), identity.WithTrust(clients)); err != nil {
		t.Fatal(err)
	}
	f.svc, err = challenge.New(challenge.Config{PublicURL: mustURL(t, "https://verify.example.com"), Brand: "Acme"},
		f.rdb, sender, assertion.NewMinter(f.keyring, issuer, cmp.Or(opts.lifetime, 5*time.Minute)), ring,
		time.Now, nil, log, challenge.NewMetrics(prometheus.NewRegistry()),
		challenge.WithFactors(challenge.Factors{Links: f.ids, Seeds: seals, WebAuthn: wa, Trust: clients}))
	if err != nil {
		t.Fatal(err)
	}
	var v Verifications = f.svc
	if opts.wrap != nil {
		v = opts.wrap(v)
	}
	now := time.Now
	if skew := opts.skew; skew != nil {
		now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}
	assertions := struct {
		*assertion.Verifier
		*assertion.Keyring
	}{assertion.NewVerifier(f.keyring, issuer, now), f.keyring}
	f.reg = prometheus.NewRegistry()
	cfg := opts.cfg
	cfg.Issuer = issuer
	f.auditRDB = f.redis.Client(t)
	// The retention is the challenge service's default: every writer of a stream trims it by its own.
	trail := audit.NewTrail(audit.NewWriter(f.auditRDB, 90*24*time.Hour, nil), false, func(id string) audit.Customer {
		return audit.Customer{Key: identity.CustomerKeyFor(ring, id), Tag: identity.CustomerTag(ring, id), Subject: identity.CustomerHash(ring, id)}
	})
	if f.server, err = New(cfg, v, assertions, f.svc, policy.Default(), f.ids, clients, now, log, f.reg, WithAudit(trail),
		WithHandovers(f.svc, testChannels(t))); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = f.server.GRPCServer().Serve(lis)
	}()
	t.Cleanup(func() {
		f.server.GRPCServer().Stop()
		<-served
	})
	f.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.conn.Close() })
	f.vc = authsvcv1.NewVerificationServiceClient(f.conn)
	f.ac = authsvcv1.NewAssertionServiceClient(f.conn)
	f.ec = authsvcv1.NewEnrollmentServiceClient(f.conn)
	f.audc = authsvcv1.NewAuditServiceClient(f.conn)
	f.hc = authsvcv1.NewHandoverServiceClient(f.conn)
	return f
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// as returns a context carrying key as a bearer API key, bounded by 10 s.
func as(t *testing.T, key string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// startRequestFor returns a valid OTP_EMAIL start request.
func validStart(requestID string) *authsvcv1.StartVerificationRequest {
	return &authsvcv1.StartVerificationRequest{
		Identity:       &authsvcv1.SocialIdentity{Network: "x", UserId: "1234567890", Handle: "@alice"},
		CustomerId:     "cust-42",
		Methods:        []authsvcv1.Method{authsvcv1.Method_METHOD_OTP_EMAIL},
		Audience:       audience,
		Scopes:         []string{"orders:read"},
		AgentId:        "agent-7",
		ConversationId: "conv-" + requestID,
		Destination:    &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}},
		RequestId:      requestID,
	}
}

func (f *fixture) start(t *testing.T, key, requestID string) *authsvcv1.StartVerificationResponse {
	t.Helper()
	res, err := f.vc.StartVerification(as(t, key), validStart(requestID))
	if err != nil {
		t.Fatalf("StartVerification: %v", err)
	}
	return res
}

var codeLine = regexp.MustCompile(`(?m)^\s+(\d{6,8})\s*$`)

// codeFor returns the code of the newest outbox message for verification id.
func (f *fixture) codeFor(t *testing.T, id string) string {
	t.Helper()
	for _, e := range f.outbox.List() {
		if strings.HasPrefix(e.ID, id+".") {
			m := codeLine.FindStringSubmatch(e.Text)
			if m == nil {
				t.Fatalf("outbox message for %s has no code line", id)
			}
			return m[1]
		}
	}
	t.Fatalf("no outbox message for %s", id)
	return ""
}

// pageToken returns the page token of a customer URL: the segment after /v/.
func pageToken(t *testing.T, customerURL string) string {
	t.Helper()
	u := mustURL(t, customerURL)
	tok, ok := strings.CutPrefix(u.Path, "/v/")
	if !ok || tok == "" {
		t.Fatalf("customer url path %q is not /v/<token>", u.Path)
	}
	return tok
}

// wantCode fails t unless err is a status with code c, and returns the status.
func wantCode(t *testing.T, err error, c codes.Code) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if st.Code() != c {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), c)
	}
	return st
}

// detail returns the first detail of st of type T.
func detail[T proto.Message](t *testing.T, st *status.Status) T {
	t.Helper()
	for _, d := range st.Details() {
		if v, ok := d.(T); ok {
			return v
		}
	}
	var zero T
	t.Fatalf("status %v (%q) has no %T detail; details: %v", st.Code(), st.Message(), zero, st.Details())
	return zero
}

// fields returns the field paths of a status's BadRequest.
func fields(t *testing.T, st *status.Status) []string {
	t.Helper()
	var out []string
	for _, v := range detail[*errdetails.BadRequest](t, st).GetFieldViolations() {
		out = append(out, v.GetField())
	}
	return out
}

// errorReason returns the ErrorInfo of st after checking its domain.
func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	ei := detail[*errdetails.ErrorInfo](t, st)
	if ei.GetDomain() != errorDomain {
		t.Errorf("ErrorInfo domain = %q, want %q", ei.GetDomain(), errorDomain)
	}
	return ei
}

// failingSender refuses every message, like a gateway that is down.
type failingSender struct{}

func (failingSender) Send(context.Context, delivery.Message) error {
	return errors.New("gateway: 503 from upstream")
}

// testChannels is the handover configuration of the fixture: channel "app" and
// the phone line, both redeemed by clientB.
func testChannels(t *testing.T) *handover.Registry {
	t.Helper()
	reg, err := handover.New(handover.Config{
		Channels: []handover.Channel{{ID: "app", Names: map[string]string{"en": "Acme app", "es": "app de Acme"},
			RedirectURLs: []string{"https://app.example.com/handover"}, Client: clientB}},
		Phone: &handover.Phone{Number: "+34900123456", Client: clientB},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
