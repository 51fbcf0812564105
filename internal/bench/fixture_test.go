package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/policy"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
)

// The API client the bench calls as, and the service's fixed settings.
const (
	clientID  = "platform-a"
	apiKey    = "bench-key-0123456789abcdef0123456789abcdef"
	issuer    = "https://verify.example.com"
	publicURL = "https://verify.example.com"
	// outboxCapacity bounds the dev outbox ring. Each worker reads its message right
	// after StartVerification returns, so a few messages per worker are plenty; a
	// small ring keeps Outbox.List (a copy under its lock) cheap.
	outboxCapacity = 256
	// redisMaxRetries is what cmd/authsvc configures.
	redisMaxRetries = 2
)

// newRedisClient returns a client with the options cmd/authsvc uses for a
// standalone Redis (go-redis defaults otherwise: pool of 10 per GOMAXPROCS).
func newRedisClient(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: redisMaxRetries})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// newService builds a challenge.Service over rdb with sender, an EdDSA keyring and a
// fresh keyed-hash ring, as cmd/authsvc wires it.
// rpID and rpOrigin are the passkey relying party of the bench (the software
// authenticator answers for it).
const (
	rpID     = "localhost"
	rpOrigin = "http://localhost:8080"
)

func newService(tb testing.TB, rdb redis.UniversalClient, sender challenge.Sender) (*challenge.Service, *assertion.Keyring, *identity.Store, *keyedhash.Ring) {
	tb.Helper()
	signer, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	keyring, err := assertion.NewKeyring([]crypto.Signer{signer}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		tb.Fatal(err)
	}
	ring, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	u, err := url.Parse(publicURL)
	if err != nil {
		tb.Fatal(err)
	}
	// The limits stay on (their scripts run in Start's pipeline, which is what they
	// cost) but their windows are wide: the bench's one client and agent send far
	// more than a real agent would.
	wide := challenge.Rate{N: 10_000_000, Per: time.Hour}
	limits := challenge.Limits{Sends: 1000, Send: challenge.SendLimits{Destination: wide, Prefix: wide,
		Country: wide, Client: wide, Agent: wide, ClientDaily: 10_000_000}}
	// Enrolled factors as cmd/authsvc wires them: the identity store resolves links
	// and enrolls, the seal ring keeps TOTP seeds, the relying party checks passkeys.
	seals, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Acme", RPOrigins: []string{rpOrigin}})
	if err != nil {
		tb.Fatal(err)
	}
	ids, err := identity.New(identity.Config{PublicURL: u, Brand: "Acme"}, rdb, ring, seals, wa, time.Now, rand.Reader, quietLog())
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := challenge.New(challenge.Config{PublicURL: u, Brand: "Acme", Limits: limits}, rdb, sender,
		assertion.NewMinter(keyring, issuer, 5*time.Minute), ring, time.Now, rand.Reader, quietLog(),
		challenge.NewMetrics(prometheus.NewRegistry()),
		challenge.WithFactors(challenge.Factors{Links: ids, Seeds: seals, WebAuthn: wa}))
	if err != nil {
		tb.Fatal(err)
	}
	return svc, keyring, ids, ring
}

// quietLog formats every record at Info and above, as production does, and writes
// it nowhere: the cost of logging is measured, not the terminal's.
func quietLog() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// stack is the service as cmd/authsvc runs it: grpcapi over a real challenge.Service
// on a real redis-server, the dev outbox as sender, served on a loopback port.
type stack struct {
	redis  *redistest.Server
	rdb    *redis.Client // the service's client
	svc    *challenge.Service
	ids    *identity.Store
	outbox *delivery.Outbox
	conn   *grpc.ClientConn
	vc     authsvcv1.VerificationServiceClient
	ac     authsvcv1.AssertionServiceClient
	rtt    *redistest.Counter // round trips of rdb
	timer  *redisTimer        // time spent in rdb calls
	// side reads what the bench checks (the audit stream's length) on its own
	// connection, so that rtt counts the service's round trips only.
	side *redis.Client
}

func newStack(tb testing.TB) *stack {
	tb.Helper()
	s := &stack{redis: redistest.Start(tb), outbox: delivery.NewOutbox(outboxCapacity)}
	s.rdb = newRedisClient(tb, s.redis.Addr())
	s.side = newRedisClient(tb, s.redis.Addr())
	s.rtt = redistest.RoundTrips(s.rdb)
	s.timer = &redisTimer{}
	s.rdb.AddHook(s.timer)
	var (
		keyring *assertion.Keyring
		ring    *keyedhash.Ring
	)
	s.svc, keyring, s.ids, ring = newService(tb, s.rdb, s.outbox)
	clients, err := grpcapi.NewClients(map[string]string{clientID: apiKey})
	if err != nil {
		tb.Fatal(err)
	}
	assertions := struct {
		*assertion.Verifier
		*assertion.Keyring
	}{assertion.NewVerifier(keyring, issuer, time.Now), keyring}
	// The audit trail as cmd/authsvc wires it (ListAuditEvents, refused calls recorded).
	trail := audit.NewTrail(audit.NewWriter(s.rdb, 2*72*time.Hour, time.Now), false, func(id string) audit.Customer {
		return audit.Customer{Key: identity.CustomerKeyFor(ring, id), Tag: identity.CustomerTag(ring, id), Subject: identity.CustomerHash(ring, id)}
	})
	srv, err := grpcapi.New(grpcapi.Config{Issuer: issuer}, s.svc, assertions, s.svc, policy.Default(), s.ids, clients,
		time.Now, quietLog(), prometheus.NewRegistry(), grpcapi.WithAudit(trail))
	if err != nil {
		tb.Fatal(err)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.GRPCServer().Serve(lis) })
	tb.Cleanup(func() {
		srv.GRPCServer().Stop()
		wg.Wait()
	})
	s.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.conn.Close() })
	s.vc = authsvcv1.NewVerificationServiceClient(s.conn)
	s.ac = authsvcv1.NewAssertionServiceClient(s.conn)
	return s
}

// authed returns ctx carrying the bench client's API key.
func authed(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+apiKey)
}

// A customer whose verifications the bench starts. Field sizes are those of a
// realistic request: a 20-digit network user id, an 8-character handle, an email
// on file, a 24-character conversation id and a UUID-like request id.
type customer struct {
	userID, handle, email, conversation, requestID string
}

// customerN returns the n-th customer of a run (1 to 9); run keeps runs apart.
func customerN(run, n int) customer {
	return customer{
		userID:       fmt.Sprintf("%d%019d", run, n),
		handle:       fmt.Sprintf("@c%06d", n%1_000_000),
		email:        fmt.Sprintf("customer%07d@example.com", n),
		conversation: fmt.Sprintf("conv-%d%018d", run, n),
		requestID:    fmt.Sprintf("%08x-%04x-4000-8000-%012x", n, run, n),
	}
}

// startProto is the StartVerification request for c with method m.
func (c customer) startProto(m authsvcv1.Method) *authsvcv1.StartVerificationRequest {
	return &authsvcv1.StartVerificationRequest{
		Identity:       &authsvcv1.SocialIdentity{Network: "x", UserId: c.userID, Handle: c.handle},
		Methods:        []authsvcv1.Method{m},
		Audience:       "crm",
		Scopes:         []string{"orders:read"},
		AgentId:        "agent-0042",
		ConversationId: c.conversation,
		Destination:    &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: c.email}},
		RequestId:      c.requestID,
	}
}

// startDomain is the same request as challenge.Service.Start takes it.
func (c customer) startDomain() challenge.StartRequest {
	return challenge.StartRequest{
		ClientID:       clientID,
		Identity:       challenge.Identity{Network: "x", UserID: c.userID, Handle: c.handle},
		Methods:        []challenge.Method{challenge.OTPEmail},
		Audience:       "crm",
		Scopes:         []string{"orders:read"},
		AgentID:        "agent-0042",
		ConversationID: c.conversation,
		Destination:    &challenge.Destination{Kind: challenge.Email, Value: c.email},
		RequestID:      c.requestID,
	}
}

var codeLine = regexp.MustCompile(`(?m)^\s+(\d{6,8})\s*$`)

// message returns the text of the newest outbox message of verification id.
func (s *stack) message(id string) (string, error) {
	for _, e := range s.outbox.List() {
		if strings.HasPrefix(e.ID, id+".") {
			return e.Text, nil
		}
	}
	return "", fmt.Errorf("no outbox message for %s (outbox ring of %d overrun?)", id, outboxCapacity)
}

// code returns the one-time code sent for verification id.
func (s *stack) code(id string) (string, error) {
	text, err := s.message(id)
	if err != nil {
		return "", err
	}
	m := codeLine.FindStringSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("outbox message for %s has no code line", id)
	}
	return m[1], nil
}

// linkToken returns the token of the magic link sent for verification id: what
// follows /l/ in the link.
func (s *stack) linkToken(id string) (string, error) {
	text, err := s.message(id)
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(text, "/l/"+id+".")
	if !ok {
		return "", fmt.Errorf("outbox message for %s has no magic link", id)
	}
	return id + "." + strings.Fields(rest)[0], nil
}

// pageToken returns the page token of a customer URL: the segment after /v/.
func pageToken(customerURL string) (string, error) {
	u, err := url.Parse(customerURL)
	if err != nil {
		return "", err
	}
	tok, ok := strings.CutPrefix(u.Path, "/v/")
	if !ok || tok == "" {
		return "", fmt.Errorf("customer url path %q is not /v/<token>", u.Path)
	}
	return tok, nil
}

// redisTimer is a go-redis hook that adds up the wall time of the calls made
// through a client (one command or one pipeline each), from the caller's side.
type redisTimer struct {
	nanos atomic.Int64
	calls atomic.Int64
}

type timedCall struct{}

func (h *redisTimer) reset() {
	h.nanos.Store(0)
	h.calls.Store(0)
}

func (h *redisTimer) timed(ctx context.Context, f func(context.Context) error) error {
	if ctx.Value(timedCall{}) != nil {
		return f(ctx) // connection set-up nested in a timed call
	}
	start := time.Now()
	err := f(context.WithValue(ctx, timedCall{}, true))
	h.nanos.Add(int64(time.Since(start)))
	h.calls.Add(1)
	return err
}

func (h *redisTimer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *redisTimer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.timed(ctx, func(ctx context.Context) error { return next(ctx, cmd) })
	}
}

func (h *redisTimer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.timed(ctx, func(ctx context.Context) error { return next(ctx, cmds) })
	}
}
