package grpcapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/policy"
)

// Verifications is the verification lifecycle the VerificationService serves
// (implemented by *challenge.Service). Every method takes the calling client's id;
// a verification of another client answers challenge.ErrNotFound, exactly like an
// unknown one. Store failures wrap challenge.ErrUnavailable.
type Verifications interface {
	// Start records a verification and sends its code or link. A repeated request
	// id returns the same verification and sends nothing twice. When the record
	// was made but the message was not sent, it returns a *challenge.SendError.
	Start(ctx context.Context, r challenge.StartRequest) (*challenge.StartResult, error)
	// Get returns a verification of clientID, with its assertion once verified.
	Get(ctx context.Context, clientID, id string) (*challenge.Verification, error)
	// Watch calls send with the current state and after every change, and returns
	// nil once a terminal state has been sent. An error from send ends it.
	Watch(ctx context.Context, clientID, id string, send func(*challenge.Verification) error) error
	// Resend sends a new code or link and returns the verification and, for a
	// magic link, the number to show in the DM.
	Resend(ctx context.Context, r challenge.ResendRequest) (*challenge.Verification, string, error)
	// Cancel ends a pending verification as CANCELED or revokes a verified one;
	// a repeated request id returns the first answer.
	Cancel(ctx context.Context, clientID, id, requestID string) (*challenge.Verification, error)
	// Proof returns what a VERIFIED verification of clientID that still stands
	// proves, for binding a factor; contact, when set, is compared with the
	// contact it proved. challenge.ErrNotFound for anything else.
	Proof(ctx context.Context, clientID, id string, contact *challenge.Destination) (*challenge.Proof, error)
}

// Assertions checks presented assertions and publishes the keys that verify them
// (an *assertion.Verifier together with its *assertion.Keyring).
type Assertions interface {
	// Verify checks token for audience; every refusal wraps assertion.ErrInvalid
	// and holds no token text.
	Verify(token, audience string) (assertion.Claims, error)
	// PublicKeys returns the public keys that verify assertions.
	PublicKeys() []assertion.PublicKey
	// JWKS returns the same keys as a JWKS document (RFC 7517).
	JWKS() []byte
}

// Revocations tells whether a verified assertion is still in force (implemented by
// *challenge.Service).
type Revocations interface {
	// CheckAssertion returns nil while the assertion g names stands (its
	// verification is the live one of its conversation, not revoked, of the
	// record's incarnation), challenge.ErrRevoked once it does not, and an error
	// wrapping challenge.ErrUnavailable when that cannot be told.
	CheckAssertion(ctx context.Context, g challenge.Grant) error
	// RecordDisclosure answers as CheckAssertion does for d.Grant and records the
	// disclosure decision d in the audit trail.
	RecordDisclosure(ctx context.Context, d challenge.Disclosure) error
}

// Disclosures is the disclosure policy AuthorizeDisclosure and
// GetDisclosurePolicy serve (implemented by *policy.Policy).
type Disclosures interface {
	// Decide answers whether dataClass may be revealed in channel ch of
	// conversationID on an assertion stating c, at now. A denial is a Decision
	// with Allowed false, not an error; a data class the policy does not name is
	// policy.ErrUnknownDataClass.
	Decide(c policy.Claims, dataClass string, ch policy.Channel, conversationID string, now time.Time) (policy.Decision, error)
	// Rules returns every rule of the policy, in a stable order.
	Rules() []policy.Rule
}

// Identities is the customer store the EnrollmentService serves (implemented by
// *identity.Store). Every method's customer id is the brand's, as the caller gave
// it. Store failures wrap identity.ErrUnavailable; a bad argument is an
// *identity.ValidationError naming the API field.
type Identities interface {
	// Link links the social identity to the customer as clientID's link and
	// returns the link. An identity linked to another customer, or by another
	// client to this one (unless scope is identity.AnyLinks, which takes that
	// link over), is identity.ErrLinkedElsewhere; linking it again to the same
	// customer returns the existing link.
	Link(ctx context.Context, clientID, customerID, network, userID string, scope identity.Scope) (identity.Linked, error)
	// Unlink removes the link at clientID's request, within scope (clientID's own
	// links, or every client's); identity.ErrNotFound when the identity is not
	// linked to this customer within scope (unknown, unlinked, linked elsewhere
	// or by another client alike).
	Unlink(ctx context.Context, clientID, customerID, network, userID string, scope identity.Scope) error
	// Identities returns the identities linked to the customer, each with the
	// client that made its link; none for an unknown customer.
	Identities(ctx context.Context, customerID string) ([]identity.Linked, error)
	// Factors returns the customer's enrolled factors; none for an unknown
	// customer. The sealed seeds they carry never leave this package.
	Factors(ctx context.Context, customerID string) ([]identity.Factor, error)
	// RemoveFactor removes a factor at once, at clientID's request;
	// identity.ErrNotFound when the customer has no such factor.
	RemoveFactor(ctx context.Context, clientID, customerID, factorID string) error
	// CreateEnrollment records a one-time enrollment of kind for the customer,
	// made by clientID, and returns the page URL and the enrollment, whose
	// Expires says until when the link works. proof is the verification that
	// allows it (the link then works only in the browser that completed it), nil
	// for a client with the may_enroll grant; a proof the binding rule refuses is
	// a *identity.ProofError, a *identity.ValidationError or
	// identity.ErrProofUnbound, and creates nothing.
	CreateEnrollment(ctx context.Context, clientID, customerID string, kind identity.Kind, locale string, proof *identity.Proof) (string, *identity.Enrollment, error)
	// Erase removes everything kept about the customer, at clientID's request,
	// and destroys the key of its audit pseudonyms; an unknown or already erased
	// customer answers zero counts.
	Erase(ctx context.Context, clientID, customerID string) (identity.Erased, error)
}

// Config holds the server's settings. Zero values take the defaults noted.
type Config struct {
	// Reflection registers the gRPC server reflection service (for grpcurl).
	Reflection bool
	// MaxRecvMsgSize bounds a request message, in bytes after decompression
	// (64 KiB; at most 16 MiB). A message over it is answered RESOURCE_EXHAUSTED
	// with ErrorInfo reason MESSAGE_TOO_LARGE; one over 4 times it is cut off by
	// gRPC itself before it is read (see codec.go).
	MaxRecvMsgSize int
	// UnaryTimeout is the deadline of a unary call whose caller set none or a later
	// one (10 s). Streams (WatchVerification) end with their verification instead.
	UnaryTimeout time.Duration
	// MaxInFlightPerClient bounds the unary calls one client may have in flight
	// (64); a call beyond it is refused at once with RESOURCE_EXHAUSTED, reason
	// CLIENT_OVERLOADED.
	MaxInFlightPerClient int
	// MaxWatchesPerClient bounds the WatchVerification streams one client may
	// have open (1000); one more is refused like a call beyond MaxInFlightPerClient.
	MaxWatchesPerClient int
	// MaxHealthWatches bounds the grpc.health.v1 Watch streams open at once on
	// the server, all callers together (1000): they need no credentials, so no
	// client limit counts them. One more is refused at once with
	// RESOURCE_EXHAUSTED, reason HEALTH_WATCH_LIMIT. Health Check is not
	// counted.
	MaxHealthWatches int
	// ConnectionTimeout bounds the setup of a new connection: the TLS handshake
	// and the HTTP/2 preface (5 s). A connection that has not completed it in
	// time is closed.
	ConnectionTimeout time.Duration
	// MaxHeaderListSize bounds a call's metadata, as HTTP/2 counts it: the
	// bytes of every name and value plus 32 per field (16 KiB; 1 KiB to 1 MiB).
	// Beyond it gRPC resets the stream, or closes the connection, while it
	// reads the headers: no interceptor runs, authentication included, and
	// the call is neither logged nor counted.
	MaxHeaderListSize int
	// MaxConcurrentStreams bounds the calls open at once on one connection
	// (1100, or MaxWatchesPerClient + MaxInFlightPerClient when that is more;
	// at most 1048576). It must be at least MaxWatchesPerClient + MaxInFlightPerClient:
	// a client that holds all its watches on one connection (as grpc-go does
	// with one backend) must still get its unary calls through, and a client
	// over the bound does not fail its call but queues it.
	MaxConcurrentStreams int
	// MaxConnectionAge is how long a connection lives before the server asks
	// its client to go away (GOAWAY), so that clients reconnect and spread
	// over replicas (10 min, ±10 %). New calls then go to a new connection;
	// the calls open on the old one may run for MaxConnectionAgeGrace more
	// (65 min: longer than a verification lives, so that no WatchVerification
	// is cut), after which the connection is closed and a stream still open
	// ends UNAVAILABLE.
	MaxConnectionAge, MaxConnectionAgeGrace time.Duration
	// Issuer is the iss the assertion verifier checks; VerifyAssertion echoes it in
	// AssertionClaims.issuer. Optional.
	Issuer string
	// EnrollmentWindow is how recently a verification must have become VERIFIED
	// to prove a LinkIdentity or CreateEnrollmentLink of a client without the
	// may_link or may_enroll grant (10 min), measured by the server's clock.
	EnrollmentWindow time.Duration
	// TLS, when set, serves gRPC over TLS with it; nil serves plaintext (TLS
	// ends at an ingress or mesh). When it verifies client certificates
	// (ClientCAs with tls.VerifyClientCertIfGiven or
	// tls.RequireAndVerifyClientCert), a verified certificate names the client
	// of every call on its connection: see LoadClients and the package doc.
	TLS *tls.Config
}

// Defaults of Config.
const (
	// DefaultMaxRecvMsgSize is the default bound of a request message (64 KiB).
	DefaultMaxRecvMsgSize = 64 << 10
	// maxMaxRecvMsgSize is the largest Config.MaxRecvMsgSize.
	maxMaxRecvMsgSize = 16 << 20
	// DefaultUnaryTimeout is the default deadline of a unary call (10 s).
	DefaultUnaryTimeout = 10 * time.Second
	// DefaultMaxInFlightPerClient is the default bound of one client's unary
	// calls in flight.
	DefaultMaxInFlightPerClient = 64
	// DefaultMaxWatchesPerClient is the default bound of one client's open
	// WatchVerification streams.
	DefaultMaxWatchesPerClient = 1000
	// DefaultEnrollmentWindow is the default Config.EnrollmentWindow.
	DefaultEnrollmentWindow = 10 * time.Minute
	// DefaultMaxHealthWatches is the default bound of open health Watch streams.
	DefaultMaxHealthWatches = 1000
	// DefaultConnectionTimeout is the default Config.ConnectionTimeout.
	DefaultConnectionTimeout = 5 * time.Second
	// DefaultMaxHeaderListSize is the default Config.MaxHeaderListSize (16 KiB).
	DefaultMaxHeaderListSize = 16 << 10
	// DefaultMaxConcurrentStreams is the default Config.MaxConcurrentStreams:
	// the default watches and unary calls of one client, and room for health
	// and reflection.
	DefaultMaxConcurrentStreams = 1100
	// DefaultMaxConnectionAge is the default Config.MaxConnectionAge.
	DefaultMaxConnectionAge = 10 * time.Minute
	// DefaultMaxConnectionAgeGrace is the default Config.MaxConnectionAgeGrace:
	// a verification lives at most an hour, and its watch ends when it does.
	DefaultMaxConnectionAgeGrace = 65 * time.Minute
	// Bounds of Config.MaxHeaderListSize and Config.MaxConcurrentStreams.
	minMaxHeaderListSize    = 1 << 10
	maxMaxHeaderListSize    = 1 << 20
	maxMaxConcurrentStreams = 1 << 20
)

// Fixed transport limits.
const (
	maxSendMsgSize = 1 << 20
	// Keepalive: clients may ping at most every 10 s; the server pings a connection
	// idle for a minute and drops it when no answer comes within 20 s, so a vanished
	// watcher does not hold its Redis subscription for long.
	keepaliveMinTime = 10 * time.Second
	keepaliveTime    = time.Minute
	keepaliveTimeout = 20 * time.Second
	// streamWorkersPerCore: a unary call spends most of its time waiting on Redis,
	// not on a core, so one worker per core leaves most concurrent calls to a new
	// goroutine each (make bench: stack growth 4 % of the service's CPU). Idle
	// workers cost their stacks only; maxStreamWorkers bounds them on a host with
	// many cores.
	streamWorkersPerCore = 32
	maxStreamWorkers     = 512
)

// The service names reported by grpc.health.v1, besides the overall "".
var servedServices = []string{
	authsvcv1.VerificationService_ServiceDesc.ServiceName,
	authsvcv1.AssertionService_ServiceDesc.ServiceName,
	authsvcv1.EnrollmentService_ServiceDesc.ServiceName,
}

// Server is the assembled gRPC server.
type Server struct {
	cfg    Config
	grpc   *grpc.Server
	health *health.Server
	limits *clientLimiter
	// denials records refused calls in the audit trail; nil without WithAudit.
	denials *denials
}

// New assembles the server: the three authsvc.v1 services (VerificationService
// over v, AssertionService over a, r and d, EnrollmentService over ids, with v
// checking the verifications that prove an enrollment), API-key authentication
// against clients, each client's grants, per-client concurrency limits, recovery,
// metrics registered with reg, logging to log, deadlines, message size limits
// and the answers to requests that do not decode (codec.go), the transport
// limits (connection setup time, metadata size, streams per connection,
// connection age, open health watches), keepalive enforcement, grpc.health.v1
// (every service SERVING) and, when cfg.Reflection is set, server reflection.
// now is the clock disclosure decisions and the enrollment window are measured
// by: the clock a's verifier checks lifetimes with. WithAudit adds AuditService
// and the recording of refused calls; WithStatsHandler, tracing.
func New(cfg Config, v Verifications, a Assertions, r Revocations, d Disclosures, ids Identities, clients *Clients,
	now func() time.Time, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.MaxRecvMsgSize == 0 {
		cfg.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if cfg.UnaryTimeout == 0 {
		cfg.UnaryTimeout = DefaultUnaryTimeout
	}
	if cfg.MaxInFlightPerClient == 0 {
		cfg.MaxInFlightPerClient = DefaultMaxInFlightPerClient
	}
	if cfg.MaxWatchesPerClient == 0 {
		cfg.MaxWatchesPerClient = DefaultMaxWatchesPerClient
	}
	if cfg.EnrollmentWindow == 0 {
		cfg.EnrollmentWindow = DefaultEnrollmentWindow
	}
	cfg.applyTransportDefaults()
	if err := cfg.checkTransport(); err != nil {
		return nil, err
	}
	switch {
	case cfg.MaxRecvMsgSize < 0 || cfg.MaxRecvMsgSize > maxMaxRecvMsgSize:
		return nil, fmt.Errorf("grpcapi: MaxRecvMsgSize must be between 1 and %d", maxMaxRecvMsgSize)
	case cfg.UnaryTimeout < 0:
		return nil, errors.New("grpcapi: UnaryTimeout must not be negative")
	case cfg.MaxInFlightPerClient < 0:
		return nil, errors.New("grpcapi: MaxInFlightPerClient must not be negative")
	case cfg.MaxWatchesPerClient < 0:
		return nil, errors.New("grpcapi: MaxWatchesPerClient must not be negative")
	case cfg.EnrollmentWindow < 0:
		return nil, errors.New("grpcapi: EnrollmentWindow must not be negative")
	case v == nil || a == nil || r == nil || d == nil || ids == nil || now == nil || log == nil || reg == nil:
		return nil, errors.New("grpcapi: missing dependency")
	case clients.empty():
		return nil, errors.New("grpcapi: no API clients configured")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	obs := &observer{log: log, metrics: m}
	codec, err := newRequestCodec(cfg.MaxRecvMsgSize)
	if err != nil {
		return nil, err
	}
	auth := &authenticator{clients: clients}
	limits := newClientLimiter(cfg.MaxInFlightPerClient, cfg.MaxWatchesPerClient, cfg.MaxHealthWatches, m)
	var den *denials // nil (interceptors that pass through) without an audit trail
	if o.trail != nil {
		if den, err = newDenials(o.trail, now, log, reg, maxDenialWrites); err != nil {
			return nil, fmt.Errorf("grpcapi: register metrics: %w", err)
		}
	}
	serverOpts := []grpc.ServerOption{
		// den's interceptors enclose authentication and authorization, to record what they refuse.
		// The codec's guards answer a request it could not decode, right after authentication
		// (a stream's when its handler receives the request).
		grpc.ChainUnaryInterceptor(obs.unary, recoverUnary(log), den.outerUnary, auth.unary, codec.guardUnary, authorizeUnary,
			den.innerUnary, limits.unary, deadlineUnary(cfg.UnaryTimeout)),
		grpc.ChainStreamInterceptor(obs.stream, recoverStream(log), den.outerStream, auth.stream, codec.guardStream, authorizeStream,
			den.innerStream, limits.stream),
		serverCreds(cfg.TLS),
		grpc.ForceServerCodecV2(codec),
		// The memory guard: the codec enforces MaxRecvMsgSize itself, with the contract's answer.
		grpc.MaxRecvMsgSize(maxRecvMsgFactor * cfg.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(maxSendMsgSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: keepaliveMinTime, PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout,
			MaxConnectionAge: cfg.MaxConnectionAge, MaxConnectionAgeGrace: cfg.MaxConnectionAgeGrace}),
		// Transport limits: they hold before any interceptor, authentication included.
		grpc.ConnectionTimeout(cfg.ConnectionTimeout),
		grpc.MaxHeaderListSize(uint32(cfg.MaxHeaderListSize)),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxConcurrentStreams)),
		// Calls run on a pool of long-lived goroutines instead of a new goroutine
		// (and a new stack to grow) per call; when every worker is busy (a
		// WatchVerification holds one for its life) a call still gets a goroutine
		// of its own, so nothing waits for a worker.
		grpc.NumStreamWorkers(uint32(min(streamWorkersPerCore*runtime.GOMAXPROCS(0), maxStreamWorkers))),
	}
	if o.stats != nil {
		serverOpts = append(serverOpts, grpc.StatsHandler(o.stats))
	}
	gs := grpc.NewServer(serverOpts...)
	authsvcv1.RegisterVerificationServiceServer(gs, &verificationService{v: v})
	authsvcv1.RegisterAssertionServiceServer(gs, &assertionService{a: a, r: r, d: d, now: now, issuer: cfg.Issuer})
	authsvcv1.RegisterEnrollmentServiceServer(gs, &enrollmentService{ids: ids, v: v, now: now, window: cfg.EnrollmentWindow})
	served := servedServices
	if o.trail != nil {
		authsvcv1.RegisterAuditServiceServer(gs, &auditService{trail: o.trail})
		served = append(slices.Clip(served), authsvcv1.AuditService_ServiceDesc.ServiceName)
	}
	if o.handovers != nil {
		authsvcv1.RegisterHandoverServiceServer(gs, &handoverService{h: o.handovers, channels: o.channels})
		served = append(slices.Clip(served), authsvcv1.HandoverService_ServiceDesc.ServiceName)
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range served {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	if cfg.Reflection {
		reflection.Register(gs)
	}
	// Metric labels come only from the methods registered above.
	m.known = map[string]bool{}
	for svc, info := range gs.GetServiceInfo() {
		for _, mi := range info.Methods {
			m.known["/"+svc+"/"+mi.Name] = true
		}
	}
	return &Server{cfg: cfg, grpc: gs, health: hs, limits: limits, denials: den}, nil
}

// applyTransportDefaults sets the zero transport limits to their defaults.
func (c *Config) applyTransportDefaults() {
	if c.MaxHealthWatches == 0 {
		c.MaxHealthWatches = DefaultMaxHealthWatches
	}
	if c.ConnectionTimeout == 0 {
		c.ConnectionTimeout = DefaultConnectionTimeout
	}
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = max(DefaultMaxConcurrentStreams, c.MaxWatchesPerClient+c.MaxInFlightPerClient)
	}
	if c.MaxConnectionAge == 0 {
		c.MaxConnectionAge = DefaultMaxConnectionAge
	}
	if c.MaxConnectionAgeGrace == 0 {
		c.MaxConnectionAgeGrace = DefaultMaxConnectionAgeGrace
	}
}

// checkTransport checks the transport limits, defaults applied.
func (c *Config) checkTransport() error {
	switch {
	case c.MaxHealthWatches < 0:
		return errors.New("grpcapi: MaxHealthWatches must not be negative")
	case c.ConnectionTimeout < 0:
		return errors.New("grpcapi: ConnectionTimeout must not be negative")
	case c.MaxHeaderListSize < minMaxHeaderListSize || c.MaxHeaderListSize > maxMaxHeaderListSize:
		return fmt.Errorf("grpcapi: MaxHeaderListSize must be between %d and %d", minMaxHeaderListSize, maxMaxHeaderListSize)
	case c.MaxConcurrentStreams < 0 || c.MaxConcurrentStreams > maxMaxConcurrentStreams:
		return fmt.Errorf("grpcapi: MaxConcurrentStreams must be between 1 and %d", maxMaxConcurrentStreams)
	case c.MaxInFlightPerClient >= 0 && c.MaxWatchesPerClient >= 0 &&
		c.MaxConcurrentStreams < c.MaxWatchesPerClient+c.MaxInFlightPerClient:
		return fmt.Errorf("grpcapi: MaxConcurrentStreams (%d) is below MaxWatchesPerClient + MaxInFlightPerClient (%d): "+
			"a client holding its watches on one connection would have its calls queue behind them",
			c.MaxConcurrentStreams, c.MaxWatchesPerClient+c.MaxInFlightPerClient)
	case c.MaxConnectionAge < 0:
		return errors.New("grpcapi: MaxConnectionAge must not be negative")
	case c.MaxConnectionAgeGrace < 0:
		return errors.New("grpcapi: MaxConnectionAgeGrace must not be negative")
	}
	return nil
}

// GRPCServer returns the assembled *grpc.Server, ready for Serve. It returns the
// same server on every call.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Option configures New beyond its required dependencies.
type Option func(*options)

type options struct {
	trail     AuditTrail
	stats     stats.Handler
	handovers Handovers
	channels  *handover.Registry
}

// WithStatsHandler adds h to the server, to observe every call from before its
// metadata is read (tracing: see package telemetry). A nil h adds nothing.
func WithStatsHandler(h stats.Handler) Option {
	return func(o *options) { o.stats = h }
}

// Drain sets every health status to NOT_SERVING, for good: load balancers stop
// sending new calls while a GracefulStop lets running ones finish.
func (s *Server) Drain() { s.health.Shutdown() }
