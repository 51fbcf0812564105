package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/auditexport"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/events"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/policy"
	"github.com/authsvc/authsvc/internal/redisclock"
	"github.com/authsvc/authsvc/internal/telemetry"
	"github.com/authsvc/authsvc/internal/web"
)

// Addrs are the addresses the servers listen on, once they do.
type Addrs struct {
	GRPC, HTTP, Metrics string
	// PublicURL is the customer pages' base URL in effect.
	PublicURL string
}

// HTTP server limits.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 15 * time.Second
	httpWriteTimeout      = 30 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 32 << 10
	// readinessTimeout bounds the Redis PING behind /readyz.
	readinessTimeout = 2 * time.Second
	// tracingFlushTimeout bounds the export of the last spans at stop.
	tracingFlushTimeout = 5 * time.Second
)

// runOption changes what run builds; tests use them to watch the wiring.
type runOption func(*runOptions)

type runOptions struct {
	// spanExporter, when set, receives the spans and turns tracing on, instead
	// of the exporter the OTEL_* variables name.
	spanExporter sdktrace.SpanExporter
}

// run is the whole program: it parses args, loads the configuration from getenv,
// builds every dependency in order, serves until ctx is done, then shuts down
// gracefully and returns nil. stdout receives -version, -config-check and the dev
// banner; stderr receives the log. ready, when not nil, is called once with the
// bound addresses after every server is serving (tests listen on port 0).
//
// Tracing is configured by the OTEL_* variables of the process environment,
// which the OpenTelemetry SDK reads itself (see package telemetry), not by getenv.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer,
	ready func(Addrs), runOpts ...runOption) error {
	var ro runOptions
	for _, o := range runOpts {
		o(&ro)
	}
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if opts.version {
		_, err := fmt.Fprintf(stdout, "authsvc %s\n", version)
		return err
	}
	cfg, err := loadConfig(getenv, opts.dev)
	if err != nil {
		return err
	}
	hov, err := loadHandover(getenv, cfg.Dev.Enabled)
	if err != nil {
		return err
	}
	if opts.configCheck {
		_, secErr := loadSecrets(cfg, nil, nil)
		_, polErr := loadPolicy(cfg)
		_, evErr := loadEventEndpoints(cfg)
		if err := errors.Join(secErr, polErr, evErr, telemetry.CheckEnv()); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
		_, err := fmt.Fprintln(stdout, "configuration OK")
		return err
	}

	log := newLogger(cfg.Log, stderr)
	redis.SetLogger(redisLogger{log})
	log.Info("starting authsvc", "version", version, "dev", cfg.Dev.Enabled)
	if cfg.Dev.Enabled {
		if ignored := devIgnored(getenv); len(ignored) > 0 {
			log.Warn("dev mode ignores these variables", "variables", ignored)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Tracing first: the webhook senders built with the secrets, the Redis
	// client, the gRPC server and the pages are instrumented with it. Its last
	// spans are exported after everything else has stopped.
	tracing, err := telemetry.New(ctx, telemetry.Config{Version: version, Exporter: ro.spanExporter}, log, reg)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			log.Warn("tracing: the last spans were not exported", "err", err)
		}
	}()
	if tracing.Enabled() {
		log.Info("tracing on", "exporter", tracing.Exporter())
	}

	sec, err := loadSecrets(cfg, log, webhookClient(tracing))
	if err != nil {
		return fmt.Errorf("load secrets: %w", err)
	}
	disclosures, err := loadPolicy(cfg)
	if err != nil {
		return err
	}
	eventEndpoints, err := loadEventEndpoints(cfg)
	if err != nil {
		return fmt.Errorf("load event endpoints: %w", err)
	}
	// Dev mode shows every event delivery on the dev outbox page.
	var devEvents *events.DevLog
	var eventOpts []events.Option
	if cfg.Dev.Enabled {
		devEvents = events.NewDevLog(200)
		eventOpts = append(eventOpts, events.WithRecorder(devEvents))
	}
	log.Info("disclosure policy loaded", "source", cmp.Or(cfg.DisclosurePolicyFile, "built-in"),
		"data_classes", len(disclosures.Rules()))

	// Bind the listeners first: a taken port fails fast, and in dev mode the
	// default public URL names the HTTP port actually bound.
	lis, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer lis.close()
	publicURL := cfg.Service.PublicURL
	if publicURL == nil {
		// Dev mode only: loadConfig requires AUTHSVC_PUBLIC_URL otherwise.
		publicURL = &url.URL{Scheme: "http", Host: "localhost:" + strconv.Itoa(lis.http.Addr().(*net.TCPAddr).Port)}
	}
	issuer := cfg.Assertion.Issuer
	if issuer == "" {
		issuer = publicURL.String()
	}

	// Redis: in dev mode an embedded Redis-protocol server, talked to over TCP by
	// the same client and store as production.
	target := cfg.Redis.Target
	if cfg.Dev.Enabled {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded redis: %w", err)
		}
		defer mr.Close()
		stopClock := runMiniredisClock(mr)
		defer stopClock()
		target = redisTarget{Mode: redisStandalone, Addrs: []string{mr.Addr()}}
	}
	cfg.Redis.Target = target
	rdb := newRedisClient(cfg.Redis, sec.redis)
	tracing.InstrumentRedis(rdb)
	defer func() {
		if err := rdb.Close(); err != nil {
			log.Warn("close redis", "err", err)
		}
	}()
	if err := ping(ctx, rdb, pingTimeout); err != nil {
		return fmt.Errorf("open redis (%s %v): %w", target.Mode, target.Addrs, err)
	}
	log.Info("redis ready", "mode", target.Mode.String(), "addrs", target.Addrs)

	// One clock for every decision, whichever replica makes it: Redis's (TIME),
	// carried on this replica's monotonic clock between samples. Its Now is the
	// now of everything that judges or records a time another replica will compare
	// (expiry, locks, the "enrolled before the verification started" rule,
	// ceremonies, form nonces, the enrollment window, assertions' iat and exp, the
	// audit trail). Timers, tickers and the signing-key schedule stay local.
	clock, err := redisclock.New(ctx, redisclock.TimeOf(rdb), time.Now, log, reg)
	if err != nil {
		return fmt.Errorf("open redis: %w", err)
	}

	minter := assertion.NewMinter(sec.keyring, issuer, cfg.Assertion.TTL)
	verifier := assertion.NewVerifier(sec.keyring, issuer, clock.Now)
	router := delivery.NewRouter(sec.email, sec.sms)

	// Customers, their linked identities and enrolled factors; passkeys are
	// registered and checked against the relying party built here.
	wa, err := newWebAuthn(cfg, publicURL, log)
	if err != nil {
		return fmt.Errorf("build passkey relying party: %w", err)
	}

	auditLog, closeAudit, err := openAuditLog(cfg.Audit.Log, stdout, stderr)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	defer closeAudit()
	// The audit trail is appended to Redis by the transition scripts and kept
	// there as a buffer: entries no exporter has acknowledged stay up to twice
	// the buffer (the hard cap every append trims to); the exporter below trims
	// exported ones after the buffer.
	auditCap := 2 * cfg.Audit.Buffer
	auditSink, closeSink, err := openAuditSink(cfg.Audit, stdout)
	if err != nil {
		return fmt.Errorf("open audit sink: %w", err)
	}
	defer closeSink()

	ids, err := identity.New(identity.Config{
		PublicURL:       publicURL,
		Brand:           cfg.Service.Brand,
		Retention:       cfg.Enrollment.Retention,
		EnrollTTL:       cfg.Enrollment.LinkTTL,
		ReportTTL:       cfg.Enrollment.ReportTTL,
		ReportHold:      cfg.Enrollment.ReportHold,
		CeremonyTimeout: cfg.WebAuthn.CeremonyTimeout,
		AuditRetention:  auditCap,
		AuditPerTag:     target.Mode == redisCluster,
	}, rdb, sec.hashKeys, sec.seals, wa, clock.Now, rand.Reader, log, identity.WithAuditLog(auditLog),
		identity.WithNotifier(router), identity.WithTrust(sec.clients))
	if err != nil {
		return fmt.Errorf("build identity store: %w", err)
	}

	svcOpts := []challenge.Option{challenge.WithFactors(challenge.Factors{Links: ids, Seeds: sec.seals, WebAuthn: wa,
		CeremonyTimeout: cfg.WebAuthn.CeremonyTimeout, Trust: sec.clients}), challenge.WithAuditLog(auditLog),
		challenge.WithHandovers(hov.Lifecycle)}
	if risk, err := riskHookOption(cfg.SMS, webhookClient(tracing)); err != nil {
		return err
	} else if risk != nil {
		svcOpts = append(svcOpts, risk)
	}
	svc, err := challenge.New(challenge.Config{
		PublicURL:     publicURL,
		Brand:         cfg.Service.Brand,
		DefaultTTL:    cfg.Verification.TTL,
		MaxAttempts:   cfg.Verification.MaxAttempts,
		MaxExtensions: maxExtensions(cfg.Verification.MaxExtensions),
		ShardedPubSub: target.Mode == redisCluster,
		Limits:        cfg.Limits,
		EmailRules:    cfg.Verification.EmailRules,
		NumberTypes:   cfg.SMS.NumberTypes,
		Breakers:      cfg.SMS.Breakers,

		AuditRetention:    auditCap,
		CustomerRetention: cfg.Enrollment.Retention,
	}, rdb, router, minter, sec.hashKeys, clock.Now, rand.Reader, log, challenge.NewMetrics(reg), svcOpts...)
	if err != nil {
		return fmt.Errorf("build verification service: %w", err)
	}

	// gRPC serves TLS itself (not through a TLS listener) so that the
	// authenticator sees the client certificate of each connection.
	var grpcTLS *tls.Config
	if sec.serving != nil {
		grpcTLS = sec.serving.grpcConfig()
	}
	grpcCfg := grpcapi.Config{
		Reflection:            cfg.Listen.Reflection,
		Issuer:                issuer,
		EnrollmentWindow:      cfg.Enrollment.Window,
		TLS:                   grpcTLS,
		MaxWatchesPerClient:   cfg.GRPC.MaxWatchesPerClient,
		MaxHealthWatches:      cfg.GRPC.MaxHealthWatches,
		ConnectionTimeout:     cfg.GRPC.HandshakeTimeout,
		MaxHeaderListSize:     cfg.GRPC.MaxHeaderBytes,
		MaxConcurrentStreams:  cfg.GRPC.MaxConcurrentStreams,
		MaxConnectionAge:      cfg.GRPC.MaxConnectionAge,
		MaxConnectionAgeGrace: cfg.GRPC.MaxConnectionAgeGrace,
	}
	grpcSrv, err := grpcapi.New(grpcCfg,
		svc, assertions{Verifier: verifier, Keyring: sec.keyring}, svc, disclosures, ids, sec.clients, clock.Now, log, reg,
		grpcapi.WithAudit(auditTrail(rdb, sec.hashKeys, auditCap, target.Mode == redisCluster, clock.Now, auditSink)),
		grpcapi.WithStatsHandler(tracing.GRPCServerHandler()), grpcapi.WithHandovers(svc, hov.Channels))
	if err != nil {
		return fmt.Errorf("build grpc server: %w", err)
	}
	// Readiness fails from the moment shutdown begins, so that load balancers stop
	// routing pages here during the drain delay, as gRPC health does.
	var draining atomic.Bool
	readiness := func(ctx context.Context) error {
		if draining.Load() {
			return errShuttingDown
		}
		return ping(ctx, rdb, readinessTimeout)
	}
	handler, err := web.New(web.Config{
		PublicURL: publicURL,
		Brand:     cfg.Service.Brand,
		TLS:       publicURL.Scheme == "https",
		DevOutbox: sec.outbox,
		Cues:      cfg.Service.Cues,
		DevEvents: devEvents,
	}, svc, sec.keyring, readiness, sec.hashKeys, clock.Now, log, web.WithEnrollments(ids),
		web.WithHandovers(svc, hov.Channels))
	if err != nil {
		return fmt.Errorf("build web handler: %w", err)
	}

	httpSrv := &http.Server{
		Handler:           tracing.HTTPHandler(handler),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	metricsSrv := &http.Server{
		Handler:           metricsMux,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// gRPC TLS is grpcTLS, above; http.Server.ServeTLS adds the h2 and
	// http/1.1 ALPN protocols.
	grpcLis := lis.grpc
	serveHTTP := func() error { return httpSrv.Serve(lis.http) }
	if sec.serving != nil {
		httpSrv.TLSConfig = sec.serving.httpConfig()
		serveHTTP = func() error { return httpSrv.ServeTLS(lis.http, "", "") }
	}
	addrs := Addrs{
		GRPC: lis.grpc.Addr().String(), HTTP: lis.http.Addr().String(), Metrics: lis.metrics.Addr().String(),
		PublicURL: publicURL.String(),
	}

	// Serve. Each server runs in one goroutine that is joined below; the first
	// to fail ends the run like a signal does.
	var wg sync.WaitGroup
	serveErr := make(chan error, 3)
	serve := func(name string, f func() error) {
		wg.Go(func() {
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("serve %s: %w", name, err)
			}
		})
	}
	lis.handedOff()
	serve("grpc", func() error { return grpcSrv.GRPCServer().Serve(grpcLis) })
	serve("http", serveHTTP)
	serve("metrics", func() error { return metricsSrv.Serve(lis.metrics) })
	// The signing keys are re-read periodically, so that a new version of the
	// mounted Secret (a next key, a retire_at) takes effect without a restart.
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	wg.Go(func() { clock.Run(reloadCtx, redisclock.DefaultInterval) })
	if !cfg.Dev.Enabled && cfg.Keys.SigningKeysReload > 0 {
		wg.Go(func() { reloadKeys(reloadCtx, sec.keyring, cfg.Keys.SigningKeysReload, log) })
	}
	// The clients file likewise, so that a revoked key or certificate is
	// refused without a restart.
	if !cfg.Dev.Enabled && cfg.ClientsReload > 0 {
		wg.Go(func() { reloadClients(reloadCtx, sec.clients, cfg, log) })
	}
	// And the serving certificate and client CA bundle, so that a renewed
	// certificate needs no restart either.
	if sec.serving != nil && cfg.Listen.TLSReload > 0 {
		wg.Go(func() { reloadTLS(reloadCtx, sec.serving, cfg.Listen.TLSReload, log) })
	}

	// The audit exporter runs until the servers have stopped, so that it exports
	// the last events too; a failing sink or database never stops the service.
	exportCtx, stopExport := context.WithCancel(context.WithoutCancel(ctx))
	defer stopExport()
	// The events to the care platform read the same streams with a group of their own,
	// whose unacknowledged entries the exporter's trimming keeps.
	dispatcher, err := newEventDispatcher(cfg, eventEndpoints, rdb, target.Mode == redisCluster, issuer, svc.StartedBy, clock.Now,
		&http.Client{Transport: tracing.HTTPTransport(events.NewTransport(cfg.Events.Concurrency))}, log, reg, eventOpts...)
	if err != nil {
		return fmt.Errorf("build event dispatcher: %w", err)
	}
	var keepFor []string
	if dispatcher != nil {
		keepFor = []string{events.Group}
	}
	exporter := auditexport.New(auditexport.Config{
		Streams:  auditStreams(target.Mode == redisCluster),
		Consumer: consumerName(),
		Buffer:   cfg.Audit.Buffer,
		KeepFor:  keepFor,
	}, rdb, auditSink, clock.Now, log, reg)
	var exportWG sync.WaitGroup
	exportWG.Go(func() { exporter.Run(exportCtx) })
	if dispatcher != nil {
		exportWG.Go(func() { dispatcher.Run(exportCtx) })
	}
	// A verification left to expire runs no script: the lapser writes its 'expired' event
	// (and so the platform's) in the script that makes the expiry durable.
	// On Cluster it reads the 16,384 tags' streams each pass, so it passes less often.
	lapse := challenge.LapseConfig{Streams: auditStreams(target.Mode == redisCluster)}
	if target.Mode == redisCluster {
		lapse.Sweep = 2 * time.Second
	}
	lapser := svc.NewLapser(lapse)
	exportWG.Go(func() { lapser.Run(exportCtx) })

	log.Info("serving", "grpc", addrs.GRPC, "http", addrs.HTTP, "metrics", addrs.Metrics,
		"public_url", addrs.PublicURL, "tls", sec.serving != nil, "client_auth", clientAuthMode(cfg, sec), "reflection", cfg.Listen.Reflection)
	if cfg.Dev.Enabled {
		printBanner(stdout, cfg, addrs)
	}
	if ready != nil {
		ready(addrs)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain", cfg.Listen.ShutdownDrain.String())
	case runErr = <-serveErr:
		log.Error("server failed, shutting down", "err", runErr)
	}
	stopReload()
	draining.Store(true)
	shutdown(log, cfg.Listen, grpcSrv, httpSrv, metricsSrv)
	wg.Wait()
	stopExport()
	exportWG.Wait()
	close(serveErr)
	for err := range serveErr {
		runErr = errors.Join(runErr, err)
	}
	log.Info("stopped")
	return runErr
}

// loadPolicy returns the disclosure policy: the file the configuration names, or
// the built-in default. A bad file's error names each line to fix.
func loadPolicy(cfg *Config) (*policy.Policy, error) {
	if cfg.DisclosurePolicyFile == "" {
		return policy.Default(), nil
	}
	p, err := policy.LoadFile(cfg.DisclosurePolicyFile)
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_DISCLOSURE_POLICY_FILE: %w", err)
	}
	return p, nil
}

// errShuttingDown is what readiness reports once shutdown has begun.
var errShuttingDown = errors.New("shutting down")

// assertions is what the gRPC AssertionService needs: the verifier's Verify and
// the keyring's public keys.
type assertions struct {
	*assertion.Verifier
	*assertion.Keyring
}

// shutdown stops the servers: health goes NOT_SERVING, the drain delay lets load
// balancers notice, then gRPC stops gracefully (forcibly after the timeout) and
// both HTTP servers shut down within the same timeout.
func shutdown(log *slog.Logger, cfg ListenConfig, g *grpcapi.Server, servers ...*http.Server) {
	g.Drain()
	if cfg.ShutdownDrain > 0 {
		time.Sleep(cfg.ShutdownDrain)
	}
	deadline := time.Now().Add(cfg.ShutdownTimeout)

	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		g.GRPCServer().GracefulStop()
		close(stopped)
	})
	timer := time.NewTimer(time.Until(deadline))
	select {
	case <-stopped:
		timer.Stop()
	case <-timer.C:
		log.Warn("graceful gRPC stop timed out; closing open streams", "timeout", cfg.ShutdownTimeout.String())
		g.GRPCServer().Stop()
	}
	wg.Wait()

	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			log.Warn("graceful HTTP shutdown timed out; closing connections", "err", err)
			_ = s.Close()
		}
	}
}

// listeners are the three bound sockets.
type listeners struct {
	grpc, http, metrics net.Listener
	// owned is true until the servers take the listeners over.
	owned bool
}

// listen binds the three addresses.
func listen(cfg ListenConfig) (*listeners, error) {
	l := &listeners{owned: true}
	var lc net.ListenConfig
	var err error
	if l.grpc, err = lc.Listen(context.Background(), "tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen grpc (AUTHSVC_GRPC_ADDR): %w", err)
	}
	if l.http, err = lc.Listen(context.Background(), "tcp", cfg.HTTPAddr); err != nil {
		l.close()
		return nil, fmt.Errorf("listen http (AUTHSVC_HTTP_ADDR): %w", err)
	}
	if l.metrics, err = lc.Listen(context.Background(), "tcp", cfg.MetricsAddr); err != nil {
		l.close()
		return nil, fmt.Errorf("listen metrics (AUTHSVC_METRICS_ADDR): %w", err)
	}
	return l, nil
}

// handedOff records that the servers now own (and close) the listeners.
func (l *listeners) handedOff() { l.owned = false }

// close closes the listeners unless the servers own them.
func (l *listeners) close() {
	if !l.owned {
		return
	}
	for _, x := range []net.Listener{l.grpc, l.http, l.metrics} {
		if x != nil {
			_ = x.Close()
		}
	}
}

// auditTrail is the audit trail AuditService reads and refused calls are
// recorded in: the streams the verification and identity scripts write, with the
// same hard cap (every writer of a stream trims it by its own), the customer
// layout of package identity, and now, the clock its events are dated by. With
// a sink that can be read back (PostgreSQL), AuditService reads that instead of
// the buffer.
func auditTrail(rdb redis.UniversalClient, keys *keyedhash.Ring, keep time.Duration, cluster bool,
	now func() time.Time, sink auditexport.Sink) *audit.Trail {
	var opts []audit.TrailOption
	if a, ok := sink.(audit.Archive); ok {
		opts = append(opts, audit.WithArchive(a))
	}
	return audit.NewTrail(audit.NewWriter(rdb, keep, now), cluster, func(customerID string) audit.Customer {
		return audit.Customer{Key: identity.CustomerKeyFor(keys, customerID), Tag: identity.CustomerTag(keys, customerID),
			Subject: identity.CustomerHash(keys, customerID)}
	}, opts...)
}

// openAuditLog opens the audit log mirror: JSON lines on stdout, stderr or a file
// (appended to, 0600), or nothing for "off".
func openAuditLog(where string, stdout, stderr io.Writer) (*audit.Log, func(), error) {
	switch where {
	case "off":
		return nil, func() {}, nil
	case "stdout":
		return audit.NewLog(slog.NewJSONHandler(stdout, nil)), func() {}, nil
	case "stderr":
		return audit.NewLog(slog.NewJSONHandler(stderr, nil)), func() {}, nil
	}
	f, err := os.OpenFile(where, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return audit.NewLog(slog.NewJSONHandler(f, nil)), func() { _ = f.Close() }, nil
}

// openAuditSink opens where the audit exporter writes: JSON lines on stdout or
// to a file, or the PostgreSQL table. Nothing is connected or opened here: a
// sink that cannot be reached fails exports (logged, counted, retried), never
// the start.
func openAuditSink(c AuditConfig, stdout io.Writer) (auditexport.Sink, func(), error) {
	switch c.Sink {
	case auditSinkFile:
		f := auditexport.NewFile(c.File)
		return f, func() { _ = f.Close() }, nil
	case auditSinkPostgres:
		pc, err := pgxpool.ParseConfig(c.PostgresURL)
		if err != nil {
			return nil, nil, errors.New("AUTHSVC_AUDIT_POSTGRES_URL: not a PostgreSQL connection URL")
		}
		if c.PostgresPasswordFile != "" {
			if pc.ConnConfig.Password, err = readSecretFile("AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE", c.PostgresPasswordFile); err != nil {
				return nil, nil, err
			}
		}
		if pc.ConnConfig.ConnectTimeout == 0 {
			pc.ConnConfig.ConnectTimeout = 5 * time.Second
		}
		pc.MaxConns = 4
		p, err := auditexport.NewPostgres(pc, c.Retention)
		if err != nil {
			return nil, nil, err
		}
		return p, p.Close, nil
	}
	return auditexport.NewStream(stdout), func() {}, nil
}

// auditStreams are the streams the audit exporter reads: the one stream of
// standalone Redis and Sentinel, or on Cluster the stream of every hash tag
// and the one of the events no tag owns.
func auditStreams(cluster bool) []string {
	shared := audit.StreamKey("", false)
	if !cluster {
		return []string{shared}
	}
	tags := identity.Tags()
	out := make([]string, 0, len(tags)+1)
	for _, tag := range tags {
		out = append(out, audit.StreamKey(tag, true))
	}
	return append(out, shared)
}

// consumerName names this replica in the audit export group: the pod's name
// (its hostname), so that a restarted container first exports what it had
// read and not acknowledged; random when there is none.
func consumerName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "authsvc-" + rand.Text()[:8]
}

// newLogger returns the debug log: JSON or text on w at the configured level,
// each line logged in a traced request carrying its trace_id and span_id.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: c.Level}
	if c.Format == "text" {
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, o)))
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, o)))
}

// webhookClient is the HTTP client of the webhook senders: traced when tracing
// is on, else nil (the senders' default).
func webhookClient(t *telemetry.Tracing) *http.Client {
	if !t.Enabled() {
		return nil
	}
	return &http.Client{Transport: t.HTTPTransport(delivery.NewTransport())}
}

// redisLogger carries go-redis's own messages (a failed dial, a connection a hook
// refused) into the service log at warn level, message only, so that stderr
// stays one JSON object per line. The messages may name Redis addresses, never
// a password. go-redis keeps one logger per process: the last run wins.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// runMiniredisClock advances the embedded server's key expiry with the wall
// clock (miniredis only expires keys when told time has passed), so dev mode
// forgets verifications as Redis would. The returned func stops and joins it.
func runMiniredisClock(mr *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// maxExtensions is AUTHSVC_MAX_EXTENSIONS for challenge.Config, where 0 takes the
// default: the setting's 0 (none) is a negative number there.
func maxExtensions(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
