package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
)

// The production-like run: cmd/authsvc built and started as its own process, its
// configuration from files and environment as in production (API-key client
// authentication, signing keys from a directory, a signed email webhook), against
// a real redis-server. The bench process is only the load generator: the
// platform calling gRPC, the email gateway receiving the webhook, and the
// customer's browser opening the page and posting the code.

// pageHost is the host of the public URL; the bench's HTTP client sends its
// requests to the service's HTTP listener, as an ingress would.
const pageHost = "verify.example.com"

// webhookSecret signs the email webhook (the gateway does not check it: its cost
// is the load generator's, not the service's).
const webhookSecret = "bench-webhook-secret-0123456789abcdef0123456789"

// procServer is a running authsvc process.
type procServer struct {
	cmd        *exec.Cmd
	grpcAddr   string
	httpAddr   string
	tls        *tls.Config // client side; nil for plaintext
	logs       *strings.Builder
	logsMu     *sync.Mutex
	conn       *grpc.ClientConn
	vc         authsvcv1.VerificationServiceClient
	http       *http.Client
	httpScheme string
	metrics    string // the service's metrics address (Prometheus)
}

// buildServer builds cmd/authsvc once per bench run into a perf- temp directory.
func buildServer(tb testing.TB) string {
	tb.Helper()
	if *serverBin != "" {
		return *serverBin
	}
	dir, err := os.MkdirTemp("", "perf-authsvc-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "authsvc")
	args := []string{"build", "-o", bin}
	if *serverProfile != "" {
		args = append(args, "-tags", "benchprofile")
	}
	out, err := exec.Command("go", append(args, "github.com/authsvc/authsvc/cmd/authsvc")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("build cmd/authsvc: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address free at the time of the call.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := l.Addr().String()
	_ = l.Close()
	return a
}

// procFiles writes the production secrets into dir and returns the environment
// naming them; withTLS adds a serving certificate and returns the client's view.
func procFiles(tb testing.TB, dir string, withTLS bool) (map[string]string, *tls.Config) {
	tb.Helper()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	k1, kek := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(kek)
	signing := filepath.Join(dir, "signing")
	if err := os.Mkdir(signing, 0o700); err != nil {
		tb.Fatal(err)
	}
	key, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := assertion.EncodePEM(key)
	if err != nil {
		tb.Fatal(err)
	}
	write(filepath.Join("signing", "bench.pem"), p)
	sum := sha256.Sum256([]byte(apiKey))
	env := map[string]string{
		"AUTHSVC_HMAC_KEYS_FILE":   write("hmac-keys", []byte("k1:"+base64.StdEncoding.EncodeToString(k1)+"\n")),
		"AUTHSVC_KEK_FILE":         write("kek", []byte("kek1:"+base64.StdEncoding.EncodeToString(kek)+"\n")),
		"AUTHSVC_SIGNING_KEYS_DIR": signing,
		"AUTHSVC_CLIENTS_FILE": write("clients.json", []byte(`{"clients":[{"id":"`+clientID+`","api_key_sha256":"`+
			hex.EncodeToString(sum[:])+`","audiences":["crm"],"scopes":["orders:read"]}]}`)),
		"AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE": write("webhook-secret", []byte(webhookSecret+"\n")),
		"AUTHSVC_SMS_WEBHOOK_SECRET_FILE":   write("sms-secret", []byte(webhookSecret+"\n")),
	}
	if !withTLS {
		return env, nil
	}
	certPEM, keyPEM, pool := selfSignedCert(tb, pageHost)
	env["AUTHSVC_TLS_CERT_FILE"] = write("tls.crt", certPEM)
	env["AUTHSVC_TLS_KEY_FILE"] = write("tls.key", keyPEM)
	return env, &tls.Config{RootCAs: pool, ServerName: pageHost, MinVersion: tls.VersionTLS12}
}

// selfSignedCert returns a PEM certificate and key for name and a pool trusting it.
func selfSignedCert(tb testing.TB, name string) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), pool
}

// startProc starts the authsvc binary bin against redisURL, its email webhook at
// hookURL, and waits until it answers health checks.
func startProc(ctx context.Context, tb testing.TB, bin, redisURL, hookURL string, withTLS bool) *procServer {
	tb.Helper()
	dir, err := os.MkdirTemp("", "perf-authsvc-run-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	files, clientTLS := procFiles(tb, dir, withTLS)
	p := &procServer{grpcAddr: freeAddr(tb), httpAddr: freeAddr(tb), metrics: freeAddr(tb), tls: clientTLS,
		logs: &strings.Builder{}, logsMu: &sync.Mutex{}}
	// The production limits, their windows widened: one client and agent of the
	// bench send far more than a real one would. They stay on, so what they cost
	// is measured.
	env := map[string]string{
		"AUTHSVC_GRPC_ADDR":          p.grpcAddr,
		"AUTHSVC_HTTP_ADDR":          p.httpAddr,
		"AUTHSVC_METRICS_ADDR":       p.metrics,
		"AUTHSVC_PUBLIC_URL":         "https://" + pageHost,
		"AUTHSVC_BRAND":              "Acme",
		"AUTHSVC_REDIS_URL":          redisURL,
		"AUTHSVC_ASSERTION_ISSUER":   issuer,
		"AUTHSVC_EMAIL_WEBHOOK_URL":  hookURL,
		"AUTHSVC_SMS_WEBHOOK_URL":    hookURL,
		"AUTHSVC_LIMIT_CLIENT":       "1000000/1000s",
		"AUTHSVC_LIMIT_AGENT":        "1000000/1000s",
		"AUTHSVC_LIMIT_DESTINATION":  "1000000/1000s",
		"AUTHSVC_LIMIT_CLIENT_DAILY": "100000000",
		"AUTHSVC_SHUTDOWN_DRAIN":     "0s",
		"AUTHSVC_LOG_LEVEL":          "info",
		"AUTHSVC_AUDIT_SINK":         "file:" + filepath.Join(dir, "audit.jsonl"),
	}
	for k, v := range files {
		env[k] = v
	}
	if *serverProfile != "" && !withTLS {
		env["BENCHPROFILE_CPU"] = *serverProfile
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	// Production logs one JSON line per call; it goes to a pipe that is drained and
	// kept to the last few KiB, so its cost is the service's, not a terminal's.
	lw := &tailWriter{p: p}
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, lw
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
	p.connect(tb)
	if err := p.waitReady(ctx); err != nil {
		tb.Fatalf("authsvc not ready: %v\nlogs:\n%s", err, p.tail())
	}
	return p
}

// tailWriter keeps the last 8 KiB of the service's log.
type tailWriter struct{ p *procServer }

func (w *tailWriter) Write(b []byte) (int, error) {
	w.p.logsMu.Lock()
	defer w.p.logsMu.Unlock()
	if w.p.logs.Len() > 64<<10 {
		s := w.p.logs.String()
		w.p.logs.Reset()
		w.p.logs.WriteString(s[len(s)-8<<10:])
	}
	w.p.logs.Write(b)
	return len(b), nil
}

func (p *procServer) tail() string {
	p.logsMu.Lock()
	defer p.logsMu.Unlock()
	s := p.logs.String()
	return s[max(0, len(s)-8<<10):]
}

// connect opens the platform's gRPC connection and the browsers' HTTP client.
func (p *procServer) connect(tb testing.TB) {
	tb.Helper()
	creds := insecure.NewCredentials()
	p.httpScheme = "http"
	if p.tls != nil {
		creds = credentials.NewTLS(p.tls)
		p.httpScheme = "https"
	}
	var err error
	p.conn, err = grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.conn.Close() })
	p.vc = authsvcv1.NewVerificationServiceClient(p.conn)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, TLSClientConfig: p.tls,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, p.httpAddr)
		}}
	tb.Cleanup(tr.CloseIdleConnections)
	p.http = &http.Client{Transport: tr, Timeout: callTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (p *procServer) waitReady(ctx context.Context) error {
	hc := healthpb.NewHealthClient(p.conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no SERVING health check within 30 s: %w", err)
		}
		if p.cmd.ProcessState != nil {
			return errors.New("process exited")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpu returns the process's user+system CPU time so far (/proc/<pid>/stat).
func (p *procServer) cpu() (time.Duration, error) { return procCPU(p.cmd.Process.Pid) }

// workCounts are counts of the service's work that, unlike CPU time, do not
// move with the machine's load: what a change saves shows in them in one run.
type workCounts struct {
	ioSyscalls int64   // read- and write-like system calls (/proc/<pid>/io syscr + syscw)
	mallocs    float64 // heap allocations (go_memstats_mallocs_total)
	gcs        float64 // garbage collections (go_gc_duration_seconds_count)
}

func (a workCounts) sub(b workCounts) workCounts {
	return workCounts{a.ioSyscalls - b.ioSyscalls, a.mallocs - b.mallocs, a.gcs - b.gcs}
}

// counts reads the service's workCounts: /proc/<pid>/io and its /metrics.
func (p *procServer) counts(ctx context.Context) (workCounts, error) {
	var c workCounts
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/io")
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "syscr" || k == "syscw" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return c, fmt.Errorf("/proc/<pid>/io %s: %w", k, err)
			}
			c.ioSyscalls += n
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.metrics+"/metrics", nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, fmt.Errorf("metrics: %w", err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		name, v, _ := strings.Cut(line, " ")
		var dst *float64
		switch name {
		case "go_memstats_mallocs_total":
			dst = &c.mallocs
		case "go_gc_duration_seconds_count":
			dst = &c.gcs
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(v, 64); err != nil {
			return c, fmt.Errorf("metrics %s: %w", name, err)
		}
	}
	if c.mallocs == 0 {
		return c, errors.New("metrics: no go_memstats_mallocs_total")
	}
	return c, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on Linux).
const clockTicks = 100

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its closing paren.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// redisCPU returns redis-server's used_cpu_user + used_cpu_sys (INFO cpu).
func redisCPU(ctx context.Context, rdb *redis.Client) (time.Duration, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(infoValue(info, k), 64)
		if err != nil {
			return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
		}
		total += v
	}
	return time.Duration(total * float64(time.Second)), nil
}

// cmdStat is one command's INFO commandstats line.
type cmdStat struct {
	calls int64
	usec  int64
}

// commandStats returns INFO commandstats by command name.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]cmdStat, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]cmdStat{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found {
			continue
		}
		var s cmdStat
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				s.calls = n
			case "usec":
				s.usec = n
			}
		}
		out[name] = s
	}
	return out, nil
}

// hookRecv is the email gateway: it hands each message to the worker waiting for
// its address.
type hookRecv struct {
	mu      sync.Mutex
	waiting map[string]chan string
	srv     *http.Server
	url     string
}

func startHook(tb testing.TB) *hookRecv {
	tb.Helper()
	h := &hookRecv{waiting: map[string]chan string{}}
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	h.url = "http://" + l.Addr().String() + "/send"
	h.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(h.serve)}
	done := make(chan struct{})
	go func() { _ = h.srv.Serve(l); close(done) }()
	tb.Cleanup(func() { _ = h.srv.Close(); <-done })
	return h
}

func (h *hookRecv) serve(w http.ResponseWriter, r *http.Request) {
	var m struct{ To, Text string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&m); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	ch := h.waiting[m.To]
	delete(h.waiting, m.To)
	h.mu.Unlock()
	if ch != nil {
		ch <- m.Text
	}
	w.WriteHeader(http.StatusAccepted)
}

// expect registers to as awaited and returns where its message will arrive.
func (h *hookRecv) expect(to string) chan string {
	ch := make(chan string, 1)
	h.mu.Lock()
	h.waiting[to] = ch
	h.mu.Unlock()
	return ch
}

func (h *hookRecv) forget(to string) {
	h.mu.Lock()
	delete(h.waiting, to)
	h.mu.Unlock()
}

// procRec holds one worker's latencies of a production-like flow phase.
type procRec struct {
	start, page, complete, get, flow latencies
}

// procFlow runs one verification against the process as production sees it:
// StartVerification over gRPC with the API key, the code received by the email
// gateway (the signed webhook), the customer's page opened (GET) and the code
// posted with the form's nonce (POST), then GetVerification, which must return
// VERIFIED with an assertion.
func (p *procServer) procFlow(ctx context.Context, hook *hookRecv, c customer, rec *procRec) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	msg := hook.expect(c.email)
	defer hook.forget(c.email)

	t0 := time.Now()
	res, err := p.vc.StartVerification(authed(ctx), c.startProto(authsvcv1.Method_METHOD_OTP_EMAIL))
	t1 := time.Now()
	if err != nil {
		return fmt.Errorf("StartVerification: %w", err)
	}
	var text string
	select {
	case text = <-msg:
	case <-ctx.Done():
		return errors.New("no email webhook for the verification")
	}
	m := codeLine.FindStringSubmatch(text)
	if m == nil {
		return errors.New("email has no code line")
	}
	tok, err := pageToken(res.GetCustomerUrl())
	if err != nil {
		return err
	}

	t2 := time.Now()
	action, form, cookies, err := p.openPage(ctx, tok)
	t3 := time.Now()
	if err != nil {
		return err
	}
	form.Set("code", m[1])
	if err := p.postCode(ctx, action, form, cookies); err != nil {
		return err
	}
	t4 := time.Now()

	g, err := p.vc.GetVerification(authed(ctx), &authsvcv1.GetVerificationRequest{VerificationId: res.GetVerification().GetVerificationId()})
	t5 := time.Now()
	if err != nil {
		return fmt.Errorf("GetVerification: %w", err)
	}
	if st := g.GetVerification().GetState(); st != authsvcv1.State_STATE_VERIFIED {
		return fmt.Errorf("GetVerification: state %v, want VERIFIED", st)
	}
	if g.GetVerification().GetAssertion().GetToken() == "" {
		return errors.New("GetVerification: VERIFIED without an assertion")
	}
	rec.start.add(t1.Sub(t0))
	rec.page.add(t3.Sub(t2))
	rec.complete.add(t4.Sub(t3))
	rec.get.add(t5.Sub(t4))
	rec.flow.add(t5.Sub(t0))
	return nil
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)" class="stack">`)
)

// openPage GETs the customer's code page and returns its main form's action,
// hidden fields and the cookies the page set (the browser binding).
func (p *procServer) openPage(ctx context.Context, tok string) (string, url.Values, []*http.Cookie, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.httpScheme+"://"+pageHost+"/v/"+tok, nil)
	if err != nil {
		return "", nil, nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return "", nil, nil, fmt.Errorf("page GET: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, nil, fmt.Errorf("page GET: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, nil, fmt.Errorf("page GET: status %d", resp.StatusCode)
	}
	page := string(b)
	m := formAction.FindStringSubmatchIndex(page)
	if m == nil {
		return "", nil, nil, errors.New("page GET: no form")
	}
	action := html.UnescapeString(page[m[2]:m[3]])
	rest := page[m[1]:]
	rest = rest[:strings.Index(rest, "</form>")]
	v := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(rest, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	if v.Get("nonce") == "" {
		return "", nil, nil, errors.New("page GET: form has no nonce")
	}
	return action, v, resp.Cookies(), nil
}

// postCode posts the code form as the page's browser would, and wants the
// verified page.
func (p *procServer) postCode(ctx context.Context, action string, form url.Values, cookies []*http.Cookie) error {
	u, err := url.Parse(action)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.httpScheme+"://"+pageHost+u.Path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("code POST: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("code POST: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "verified") {
		return fmt.Errorf("code POST: status %d, not the verified page", resp.StatusCode)
	}
	return nil
}
