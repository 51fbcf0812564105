package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
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
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// Test secrets. They are written to files; none may ever appear in a log.
const (
	testAPIKey        = "platform-a-api-key-0123456789abcdef"
	testSMTPUser      = "authsvc"
	testSMTPPassword  = "smtp-password-never-logged"
	testWebhookSecret = "webhook-secret-never-logged-0123456789abcdef"
	testHost          = "verify.acme.test"
)

// prodSecretFiles are the paths writeProdSecrets wrote.
type prodSecretFiles struct {
	hmac, kek, signingDir, clients, smtpPassword, webhookSecret string
}

// writeProdSecrets writes a keyed-hash key file, a key-encryption key file, a
// signing key directory with two keys (one active), a clients file, an SMTP
// password and a webhook secret.
func writeProdSecrets(t *testing.T, dir string) prodSecretFiles {
	t.Helper()
	f := prodSecretFiles{
		hmac:          filepath.Join(dir, "hmac-keys"),
		kek:           filepath.Join(dir, "kek"),
		signingDir:    filepath.Join(dir, "signing"),
		clients:       filepath.Join(dir, "clients.json"),
		smtpPassword:  filepath.Join(dir, "smtp-password"),
		webhookSecret: filepath.Join(dir, "webhook-secret"),
	}
	write := func(p string, b []byte) {
		t.Helper()
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k1, k2 := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(k2)
	write(f.hmac, []byte("# current first\nk2:"+base64.StdEncoding.EncodeToString(k2)+"\nk1:"+base64.StdEncoding.EncodeToString(k1)+"\n"))
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	write(f.kek, []byte("kek1:"+base64.StdEncoding.EncodeToString(kek)+"\n"))
	if err := os.Mkdir(f.signingDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"2026-10", "2026-11"} {
		key, err := assertion.GenerateKey(assertion.AlgEdDSA)
		if err != nil {
			t.Fatal(err)
		}
		p, err := assertion.EncodePEM(key)
		if err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(f.signingDir, name+".pem"), p)
	}
	sum := sha256.Sum256([]byte(testAPIKey))
	write(f.clients, []byte(`{"clients":[{"id":"platform-a","api_key_sha256":"`+hex.EncodeToString(sum[:])+
		`","audiences":["crm-panel","crm"],"scopes":["profile:read","orders:read"]}]}`))
	write(f.smtpPassword, []byte(testSMTPPassword+"\n"))
	write(f.webhookSecret, []byte(testWebhookSecret+"\n"))
	return f
}

// selfSigned returns a PEM certificate and key for the names and a pool trusting it.
func selfSigned(t *testing.T, names ...string) (certPEM, keyPEM []byte, pool *x509.CertPool, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	return certPEM, keyPEM, pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// instance is one run of the service in a goroutine.
type instance struct {
	addrs  Addrs
	stdout *syncbuf.Buffer
	logs   *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
	// stopped is set once stop has checked the result.
	stopped bool
}

// startService runs the service with args, env and opts and waits until it
// serves. It is stopped (and must stop cleanly) in t.Cleanup unless the test
// stops it.
func startService(t *testing.T, args []string, env map[string]string, opts ...runOption) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{stdout: &syncbuf.Buffer{}, logs: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan Addrs, 1)
	go func() {
		in.done <- run(ctx, args, getenvFrom(env), in.stdout, in.logs, func(a Addrs) { ready <- a }, opts...)
	}()
	select {
	case in.addrs = <-ready:
	case err := <-in.done:
		cancel()
		t.Fatalf("run returned before serving: %v\nlogs:\n%s", err, in.logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("service not ready after 30 s\nlogs:\n%s", in.logs)
	}
	t.Cleanup(func() {
		if !in.stopped {
			in.stop(t)
		}
	})
	return in
}

// stop cancels the run, checks that it returns nil and that no listener is
// left open.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.stopped = true
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil\nlogs:\n%s", err, in.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not return within 30 s of cancel")
	}
	for _, a := range []string{in.addrs.GRPC, in.addrs.HTTP, in.addrs.Metrics} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s still accepts connections after run returned", a)
		}
	}
}

// client is a care platform talking to the service, plus a phone's browser.
type client struct {
	conn  *grpc.ClientConn
	api   authsvcv1.VerificationServiceClient
	key   string
	http  *http.Client
	in    *instance
	roots *x509.CertPool
	// md is more metadata every call sends, name and value pairs (a traceparent).
	md []string
}

// newClient connects to in: over TLS with roots when roots is not nil. HTTP
// requests for the public host are sent to the service's HTTP listener.
func newClient(t *testing.T, in *instance, key string, roots *x509.CertPool) *client {
	t.Helper()
	creds := insecure.NewCredentials()
	if roots != nil {
		creds = credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: testHost, MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(in.addrs.GRPC, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		// The public URL's host resolves to the service, as the ingress would.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			if host, _, _ := net.SplitHostPort(addr); host == testHost || host == "localhost" {
				addr = in.addrs.HTTP
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}
	c := &client{conn: conn, api: authsvcv1.NewVerificationServiceClient(conn), key: key, in: in, roots: roots,
		http: &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(func() {
		_ = conn.Close()
		tr.CloseIdleConnections()
	})
	return c
}

func (c *client) ctx(t *testing.T) context.Context {
	return metadata.AppendToOutgoingContext(t.Context(), append([]string{"authorization", "Bearer " + c.key}, c.md...)...)
}

// get fetches a URL and returns the body, failing on a non-200 status.
func (c *client) get(t *testing.T, u string) string {
	t.Helper()
	resp, err := c.http.Get(u)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d\n%s", redactPath(u), resp.StatusCode, b)
	}
	return string(b)
}

// post submits a form to the page at pageURL and returns the status and body.
func (c *client) post(t *testing.T, pageURL string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, pageURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// redactPath keeps a page token out of test output.
func redactPath(u string) string {
	if i := strings.LastIndex(u, "/"); i >= 0 {
		return u[:i+1] + "…"
	}
	return u
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)" class="stack">`)
	codeLine    = regexp.MustCompile(`(?m)^\s*(\d{6})\s*$`)
	magicLink   = regexp.MustCompile(`https?://[^\s"<>]+/l/[A-Za-z0-9._~-]+`)
)

// mainForm returns the action and hidden fields of the page's primary form.
func mainForm(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatchIndex(page)
	if m == nil {
		t.Fatalf("no form on the page:\n%s", page)
	}
	action := html.UnescapeString(page[m[2]:m[3]])
	rest := page[m[1]:]
	rest = rest[:strings.Index(rest, "</form>")]
	v := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(rest, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	if v.Get("nonce") == "" {
		t.Fatalf("form has no nonce:\n%s", page)
	}
	return action, v
}

// testSMTP is a real SMTP server (go-smtp) with STARTTLS and AUTH PLAIN.
type testSMTP struct {
	port int
	// caFile is a PEM file trusting the server's certificate.
	caFile string

	mu   sync.Mutex
	msgs []smtpMessage
	got  chan struct{}
}

type smtpMessage struct {
	to   []string
	body string
}

func startSMTP(t *testing.T) *testSMTP {
	t.Helper()
	certPEM, _, _, cert := selfSigned(t, "localhost")
	ts := &testSMTP{caFile: filepath.Join(t.TempDir(), "smtp-ca.pem"), got: make(chan struct{}, 16)}
	if err := os.WriteFile(ts.caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: ts}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	})
	return ts
}

// next waits for the next received message.
func (ts *testSMTP) next(t *testing.T) smtpMessage {
	t.Helper()
	select {
	case <-ts.got:
	case <-time.After(15 * time.Second):
		t.Fatal("no email arrived at the SMTP server")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	m := ts.msgs[0]
	ts.msgs = ts.msgs[1:]
	return m
}

type smtpSession struct {
	srv  *testSMTP
	auth bool
	to   []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != testSMTPUser || pass != testSMTPPassword {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body := msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, smtpMessage{to: s.to, body: subject + "\n" + strings.ReplaceAll(string(b), "\r\n", "\n")})
	s.srv.mu.Unlock()
	s.srv.got <- struct{}{}
	return nil
}

func (s *smtpSession) Reset()        { s.to = nil }
func (s *smtpSession) Logout() error { return nil }

// webhookMessage is the part of the webhook body the tests read.
type webhookMessage struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Kind    string `json:"kind"`
	Text    string `json:"text"`
}

// startWebhook is an SMS gateway that accepts only correctly signed POSTs.
func startWebhook(t *testing.T) (string, <-chan webhookMessage) {
	t.Helper()
	got := make(chan webhookMessage, 16)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := delivery.VerifySignature([]byte(testWebhookSecret), r.Header.Get(delivery.HeaderTimestamp),
			r.Header.Get(delivery.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("webhook signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m webhookMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook body: %v", err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		got <- m
		w.WriteHeader(http.StatusAccepted)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	})
	return "http://" + l.Addr().String() + "/sms", got
}

// jwksKeys decodes the served JWKS into public keys by kid, as a care tool would.
func jwksKeys(t *testing.T, doc string) map[string]any {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid, Kty, Crv, X, Y, Alg, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(doc), &set); err != nil {
		t.Fatalf("JWKS: %v\n%s", err, doc)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			t.Fatalf("JWKS x: %v", err)
		}
		switch {
		case k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA":
			keys[k.Kid] = ed25519.PublicKey(x)
		case k.Kty == "EC" && k.Crv == "P-256" && k.Alg == "ES256":
			y, _ := base64.RawURLEncoding.DecodeString(k.Y)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				t.Fatalf("JWKS EC key: %v", err)
			}
			keys[k.Kid] = pub
		default:
			t.Fatalf("JWKS key of unexpected type %s/%s/%s", k.Kty, k.Crv, k.Alg)
		}
		if k.Use != "sig" {
			t.Errorf("JWKS key use %q, want sig", k.Use)
		}
	}
	if len(keys) == 0 {
		t.Fatal("JWKS has no keys")
	}
	return keys
}

// wantClaims is what the assertion must state.
type wantClaims struct {
	issuer, audience, subject, network, userID, conversation, agent, vid, acr string
	amr, scopes                                                               []string
	verifiedAt                                                                time.Time
	ttl                                                                       time.Duration
}

// checkAssertion verifies token with github.com/golang-jwt/jwt/v5 against the
// JWKS and checks every claim DESIGN.md lists.
func checkAssertion(t *testing.T, token string, keys map[string]any, w wantClaims) {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"EdDSA", "ES256"}), jwt.WithIssuer(w.issuer), jwt.WithAudience(w.audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	if err != nil || !tok.Valid {
		t.Fatalf("assertion does not verify with the served JWKS: %v", err)
	}
	if typ := tok.Header["typ"]; typ != assertion.TokenType {
		t.Errorf("typ %v, want %s", typ, assertion.TokenType)
	}
	str := func(name string) string {
		s, ok := claims[name].(string)
		if !ok || s == "" {
			t.Errorf("claim %s = %v, want a string", name, claims[name])
		}
		return s
	}
	num := func(name string) time.Time {
		f, ok := claims[name].(float64)
		if !ok {
			t.Errorf("claim %s = %v, want a number", name, claims[name])
		}
		return time.Unix(int64(f), 0)
	}
	strs := func(v any) []string {
		a, _ := v.([]any)
		out := make([]string, 0, len(a))
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	if got := str("iss"); got != w.issuer {
		t.Errorf("iss %q, want %q", got, w.issuer)
	}
	if got := str("sub"); got != w.subject {
		t.Errorf("sub %q, want %q", got, w.subject)
	}
	if got := strs(claims["aud"]); len(got) != 1 || got[0] != w.audience {
		t.Errorf("aud %v, want [%s]", got, w.audience)
	}
	iat, nbf, exp, authTime := num("iat"), num("nbf"), num("exp"), num("auth_time")
	if d := iat.Sub(w.verifiedAt.Truncate(time.Second)); d < -time.Second || d > time.Second {
		t.Errorf("iat %v, want the verification time %v", iat, w.verifiedAt)
	}
	if !nbf.Equal(iat) || !authTime.Equal(iat) {
		t.Errorf("nbf %v auth_time %v, want both = iat %v", nbf, authTime, iat)
	}
	if exp.Sub(iat) != w.ttl {
		t.Errorf("exp - iat = %s, want %s", exp.Sub(iat), w.ttl)
	}
	if len(str("jti")) < 16 {
		t.Errorf("jti %q too short", claims["jti"])
	}
	if got := str("acr"); got != w.acr {
		t.Errorf("acr %q, want %q", got, w.acr)
	}
	if got := strs(claims["amr"]); strings.Join(got, " ") != strings.Join(w.amr, " ") {
		t.Errorf("amr %v, want %v", got, w.amr)
	}
	social, _ := claims["social"].(map[string]any)
	if social["network"] != w.network || social["user_id"] != w.userID {
		t.Errorf("social %v, want network %q user_id %q", social, w.network, w.userID)
	}
	if got := str("conversation_id"); got != w.conversation {
		t.Errorf("conversation_id %q, want %q", got, w.conversation)
	}
	if act, _ := claims["act"].(map[string]any); act["sub"] != w.agent {
		t.Errorf("act %v, want sub %q", claims["act"], w.agent)
	}
	if got := str("scope"); got != strings.Join(w.scopes, " ") {
		t.Errorf("scope %q, want %q", got, strings.Join(w.scopes, " "))
	}
	if got := str("vid"); got != w.vid {
		t.Errorf("vid %q, want %q", got, w.vid)
	}
}

// assertLogsClean fails when the captured log holds any of the secrets.
func assertLogsClean(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	if strings.TrimSpace(logs) == "" {
		t.Fatal("no logs captured")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs contain a secret or personal datum (%d bytes long, starts %q)", len(s), s[:min(3, len(s))])
		}
	}
}

// errNoMatch is returned by extract when a pattern is not found.
var errNoMatch = errors.New("no match")

// extract returns the first submatch (or match) of re in s.
func extract(re *regexp.Regexp, s string) (string, error) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return "", errNoMatch
	}
	return m[len(m)-1], nil
}

// The public URL and issuer of a production instance (newProduction).
const (
	prodPublicURL = "https://" + testHost
	prodIssuer    = "https://issuer.acme.test"
)

// production is what a production-mode instance is configured with: a real
// redis-server, a real SMTP server with STARTTLS and AUTH, a signed SMS webhook,
// secrets in files and TLS on the service's own listeners.
type production struct {
	redis *redistest.Server
	mail  *testSMTP
	sms   <-chan webhookMessage
	files prodSecretFiles
	// roots trusts the serving certificate, leaf.
	roots *x509.CertPool
	leaf  *x509.Certificate
	env   map[string]string
}

// newProduction prepares a production configuration; startService(t, nil, p.env)
// runs it.
func newProduction(t *testing.T) *production {
	t.Helper()
	p := &production{redis: redistest.Start(t), mail: startSMTP(t)}
	var smsURL string
	smsURL, p.sms = startWebhook(t)
	dir := t.TempDir()
	p.files = writeProdSecrets(t, dir)
	certPEM, keyPEM, roots, cert := selfSigned(t, testHost)
	p.roots, p.leaf = roots, cert.Leaf
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	f := p.files
	p.env = map[string]string{
		"AUTHSVC_GRPC_ADDR":               "127.0.0.1:0",
		"AUTHSVC_HTTP_ADDR":               "127.0.0.1:0",
		"AUTHSVC_METRICS_ADDR":            "127.0.0.1:0",
		"AUTHSVC_TLS_CERT_FILE":           certFile,
		"AUTHSVC_TLS_KEY_FILE":            keyFile,
		"AUTHSVC_SHUTDOWN_DRAIN":          "1s",
		"AUTHSVC_PUBLIC_URL":              prodPublicURL,
		"AUTHSVC_BRAND":                   "Acme",
		"AUTHSVC_REDIS_URL":               p.redis.URL(),
		"AUTHSVC_HMAC_KEYS_FILE":          f.hmac,
		"AUTHSVC_KEK_FILE":                f.kek,
		"AUTHSVC_SIGNING_KEYS_DIR":        f.signingDir,
		"AUTHSVC_SIGNING_KEY_ACTIVE":      "2026-11",
		"AUTHSVC_ASSERTION_ISSUER":        prodIssuer,
		"AUTHSVC_CLIENTS_FILE":            f.clients,
		"AUTHSVC_SMTP_HOST":               "127.0.0.1",
		"AUTHSVC_SMTP_PORT":               strconv.Itoa(p.mail.port),
		"AUTHSVC_SMTP_USERNAME":           testSMTPUser,
		"AUTHSVC_SMTP_PASSWORD_FILE":      f.smtpPassword,
		"AUTHSVC_SMTP_FROM":               "Acme <no-reply@acme.example>",
		"AUTHSVC_SMTP_CA_FILE":            p.mail.caFile,
		"AUTHSVC_SMS_WEBHOOK_URL":         smsURL,
		"AUTHSVC_SMS_WEBHOOK_SECRET_FILE": f.webhookSecret,
		"AUTHSVC_LOG_LEVEL":               "debug",
	}
	return p
}
