package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// The test clients of the mTLS tests: platform-a has only a certificate,
// platform-b only a key.
const (
	certClientSAN = "spiffe://acme.test/care-platform"
	keyClientKey  = "platform-b-api-key-0123456789abcdef"
	unknownVID    = "aaa-aaaaaaaaaaaaaaaa"
)

// clientCA is a CA for client certificates, made for one test.
type clientCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newClientCA(t *testing.T) *clientCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &clientCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a client certificate naming uri.
func (ca *clientCA) issue(t *testing.T, uri string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func keySum(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtlsEnv is a valid production environment serving TLS with a client CA, and
// its files.
type mtlsEnv struct {
	env         map[string]string
	clientsFile string
	ca          *clientCA
	roots       *x509.CertPool // trusts the server certificate
}

// clientsBoth is a clients file of platform-a (cert only) and platform-b (key only).
var clientsBoth = `{"clients": [
  {"id": "platform-a", "cert": {"uri_san": "` + certClientSAN + `"}, "audiences": ["crm-panel"]},
  {"id": "platform-b", "api_key_sha256": "` + keySum(keyClientKey) + `", "audiences": ["crm-panel"]}
]}`

func newMTLSEnv(t *testing.T, clients string) *mtlsEnv {
	t.Helper()
	dir := t.TempDir()
	e := &mtlsEnv{env: prodFiles(t), clientsFile: filepath.Join(dir, "clients.json"), ca: newClientCA(t)}
	certPEM, keyPEM, roots, _ := selfSigned(t, testHost)
	e.roots = roots
	paths := map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "client-ca.pem": e.ca.pem, "clients.json": []byte(clients)}
	for name, b := range paths {
		writeTestFile(t, filepath.Join(dir, name), b)
	}
	e.env = with(e.env,
		"AUTHSVC_TLS_CERT_FILE", filepath.Join(dir, "tls.crt"),
		"AUTHSVC_TLS_KEY_FILE", filepath.Join(dir, "tls.key"),
		"AUTHSVC_CLIENT_CA_FILE", filepath.Join(dir, "client-ca.pem"),
		"AUTHSVC_CLIENTS_FILE", e.clientsFile)
	return e
}

func TestLoadConfigClientAuth(t *testing.T) {
	t.Parallel()
	e := newMTLSEnv(t, clientsBoth)
	c, err := loadConfig(getenvFrom(e.env), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.ClientCAFile != e.env["AUTHSVC_CLIENT_CA_FILE"] || c.Listen.ClientAuth != clientAuthAny || c.ClientsReload != 30*time.Second {
		t.Errorf("client CA %q, client auth %q, clients reload %s", c.Listen.ClientCAFile, c.Listen.ClientAuth, c.ClientsReload)
	}
	if c, err = loadConfig(getenvFrom(with(e.env, "AUTHSVC_CLIENT_AUTH", "MTLS-only", "AUTHSVC_CLIENTS_RELOAD", "5s")), false); err != nil {
		t.Fatal(err)
	}
	if c.Listen.ClientAuth != clientAuthMTLSOnly || c.ClientsReload != 5*time.Second {
		t.Errorf("client auth %q, clients reload %s", c.Listen.ClientAuth, c.ClientsReload)
	}

	noTLS := with(e.env, "AUTHSVC_TLS_CERT_FILE", "", "AUTHSVC_TLS_KEY_FILE", "")
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"client CA without TLS":   {noTLS, "AUTHSVC_CLIENT_CA_FILE is set but authsvc does not serve TLS: set AUTHSVC_TLS_CERT_FILE and AUTHSVC_TLS_KEY_FILE"},
		"mtls-only without a CA":  {with(e.env, "AUTHSVC_CLIENT_CA_FILE", "", "AUTHSVC_CLIENT_AUTH", "mtls-only"), "AUTHSVC_CLIENT_AUTH=mtls-only needs AUTHSVC_CLIENT_CA_FILE"},
		"unknown client auth":     {with(e.env, "AUTHSVC_CLIENT_AUTH", "required"), `AUTHSVC_CLIENT_AUTH: want any or mtls-only, got "required"`},
		"client CA file missing":  {with(e.env, "AUTHSVC_CLIENT_CA_FILE", "/nonexistent/ca.pem"), "AUTHSVC_CLIENT_CA_FILE: /nonexistent/ca.pem does not exist"},
		"clients reload too fast": {with(e.env, "AUTHSVC_CLIENTS_RELOAD", "100ms"), "AUTHSVC_CLIENTS_RELOAD: want between 1s and 1h0m0s"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(getenvFrom(tc.env), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadConfig = %v, want a problem saying %q", err, tc.want)
			}
		})
	}

	// Dev mode serves plaintext: it ignores the client settings and says so.
	dev := map[string]string{"AUTHSVC_CLIENT_CA_FILE": "/nonexistent/ca.pem", "AUTHSVC_CLIENT_AUTH": "bogus", "AUTHSVC_CLIENTS_RELOAD": "bogus"}
	if _, err := loadConfig(getenvFrom(dev), true); err != nil {
		t.Errorf("dev mode: %v", err)
	}
	if got := devIgnored(getenvFrom(dev)); len(got) != 3 {
		t.Errorf("devIgnored = %v, want the three client settings", got)
	}
}

func TestLoadSecretsClientAuth(t *testing.T) {
	t.Parallel()
	e := newMTLSEnv(t, clientsBoth)
	load := func(env map[string]string) (*secrets, error) {
		t.Helper()
		c, err := loadConfig(getenvFrom(env), false)
		if err != nil {
			t.Fatal(err)
		}
		return loadSecrets(c, nil, nil)
	}
	sec, err := load(e.env)
	if err != nil {
		t.Fatal(err)
	}
	if sec.serving == nil || sec.serving.cur.Load().clientCAs == nil {
		t.Fatal("no client CAs loaded")
	}

	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	writeTestFile(t, notPEM, []byte("not a certificate"))
	if _, err := load(with(e.env, "AUTHSVC_CLIENT_CA_FILE", notPEM)); err == nil || !strings.Contains(err.Error(), "AUTHSVC_CLIENT_CA_FILE: "+notPEM+" holds no PEM certificate") {
		t.Errorf("a CA file without a certificate: %v", err)
	}
	// platform-a has only a certificate: without a client CA it could never call.
	_, err = load(with(e.env, "AUTHSVC_CLIENT_CA_FILE", ""))
	if err == nil || !strings.Contains(err.Error(), "clients platform-a authenticate only by certificate, but AUTHSVC_CLIENT_CA_FILE is not set") {
		t.Errorf("cert-only client without a client CA: %v", err)
	}
	// platform-b has only a key: under mtls-only it could never connect.
	_, err = load(with(e.env, "AUTHSVC_CLIENT_AUTH", "mtls-only"))
	if err == nil || !strings.Contains(err.Error(), "clients platform-b have no cert, but AUTHSVC_CLIENT_AUTH=mtls-only") {
		t.Errorf("key-only client under mtls-only: %v", err)
	}
}

// TestReloadClients: the loop swaps in a changed file, keeps the clients on a
// bad one, warns about clients that cannot authenticate, and stops with its
// context.
func TestReloadClients(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "clients.json")
	writeTestFile(t, path, []byte(clientsBoth))
	clients, err := grpcapi.LoadClients(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{ClientsReload: 5 * time.Millisecond}
	cfg.Listen.ClientCAFile = "/ca.pem"
	cfg.Listen.ClientAuth = clientAuthMTLSOnly
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadClients(ctx, clients, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	}()

	writeTestFile(t, path, []byte(`{"clients": []}`))
	waitFor(t, func() bool { return strings.Contains(logs.String(), "reload api clients; the clients in use are kept") })
	if got := clients.CertOnly(); len(got) != 1 {
		t.Fatalf("a failed reload changed the clients: cert-only %v", got)
	}
	// platform-b revoked; platform-c added with a key only, which mtls-only
	// never lets connect.
	writeTestFile(t, path, []byte(`{"clients": [
	  {"id": "platform-a", "cert": {"uri_san": "`+certClientSAN+`"}, "audiences": ["crm-panel"]},
	  {"id": "platform-c", "api_key_sha256": "`+keySum("c")+`", "audiences": ["crm-panel"]}]}`))
	waitFor(t, func() bool { return strings.Contains(logs.String(), "api clients reloaded") })
	waitFor(t, func() bool { return strings.Contains(logs.String(), "clients platform-c have no cert") })
	if got := clients.KeyOnly(); len(got) != 1 || got[0] != "platform-c" {
		t.Errorf("after the reload, key-only clients are %v", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloadClients did not stop with its context")
	}
	if strings.Contains(logs.String(), certClientSAN) {
		t.Errorf("the log names a certificate:\n%s", logs.String())
	}
}

// TestProductionMutualTLS runs the service with TLS and a client CA: a client
// named only by its certificate works, a key-only client works, mixing them or
// an unknown certificate is refused, health needs nothing, the customer pages
// ask for no certificate, and a key removed from the clients file is refused
// after the next reload without a restart.
func TestProductionMutualTLS(t *testing.T) {
	rs := redistest.Start(t)
	e := newMTLSEnv(t, clientsBoth)
	env := with(e.env,
		"AUTHSVC_REDIS_URL", rs.URL(), "AUTHSVC_CLIENTS_RELOAD", "1s", "AUTHSVC_SHUTDOWN_DRAIN", "0s",
		"AUTHSVC_GRPC_ADDR", "127.0.0.1:0", "AUTHSVC_HTTP_ADDR", "127.0.0.1:0", "AUTHSVC_METRICS_ADDR", "127.0.0.1:0")
	in := startService(t, nil, env)
	if !strings.Contains(in.logs.String(), `"client_auth":"any"`) {
		t.Errorf("the start-up log does not say how clients authenticate:\n%s", in.logs)
	}
	certA := e.ca.issue(t, certClientSAN)
	stranger := e.ca.issue(t, "spiffe://acme.test/stranger")
	dial := func(cert *tls.Certificate) *grpc.ClientConn {
		t.Helper()
		cfg := &tls.Config{RootCAs: e.roots, ServerName: testHost, MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := grpc.NewClient(in.addrs.GRPC, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	call := func(conn *grpc.ClientConn, key string) codes.Code {
		t.Helper()
		ctx := t.Context()
		if key != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
		}
		_, err := authsvcv1.NewVerificationServiceClient(conn).GetVerification(ctx, &authsvcv1.GetVerificationRequest{VerificationId: unknownVID})
		return status.Code(err)
	}
	plain, connA := dial(nil), dial(&certA)
	for name, tc := range map[string]struct {
		conn *grpc.ClientConn
		key  string
		want codes.Code
	}{
		"cert only":           {connA, "", codes.NotFound},
		"key only":            {plain, keyClientKey, codes.NotFound},
		"nothing":             {plain, "", codes.Unauthenticated},
		"cert of A, key B":    {connA, keyClientKey, codes.Unauthenticated},
		"unknown cert":        {dial(&stranger), "", codes.Unauthenticated},
		"unknown cert, key B": {dial(&stranger), keyClientKey, codes.Unauthenticated},
	} {
		if got := call(tc.conn, tc.key); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if res, err := healthpb.NewHealthClient(plain).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil ||
		res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without credentials: %v, %v", res, err)
	}
	c := newClient(t, in, "", e.roots)
	if body := c.get(t, "https://"+testHost+"/healthz"); body == "" {
		t.Error("empty /healthz")
	}

	// Revoke platform-b's key.
	writeTestFile(t, e.clientsFile, []byte(`{"clients": [
	  {"id": "platform-a", "cert": {"uri_san": "`+certClientSAN+`"}, "audiences": ["crm-panel"]}]}`))
	deadline := time.Now().Add(10 * time.Second)
	for call(plain, keyClientKey) != codes.Unauthenticated {
		if time.Now().After(deadline) {
			t.Fatalf("the revoked key still works 10 s after the clients file changed\nlogs:\n%s", in.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := call(connA, ""); got != codes.NotFound {
		t.Errorf("after the reload, cert only: %v", got)
	}
	in.stop(t)
	logs := in.logs.String()
	if !strings.Contains(logs, "api clients reloaded") {
		t.Errorf("no reload logged:\n%s", logs)
	}
	assertLogsClean(t, logs, keyClientKey, certClientSAN, "spiffe://", "stranger")
}

// TestProductionMutualTLSRequired: with AUTHSVC_CLIENT_AUTH=mtls-only a
// connection without a client certificate fails its handshake, while the
// customer pages still need none.
func TestProductionMutualTLSRequired(t *testing.T) {
	rs := redistest.Start(t)
	e := newMTLSEnv(t, `{"clients": [
	  {"id": "platform-a", "cert": {"uri_san": "`+certClientSAN+`"}, "audiences": ["crm-panel"]}]}`)
	env := with(e.env,
		"AUTHSVC_REDIS_URL", rs.URL(), "AUTHSVC_CLIENT_AUTH", "mtls-only", "AUTHSVC_SHUTDOWN_DRAIN", "0s",
		"AUTHSVC_GRPC_ADDR", "127.0.0.1:0", "AUTHSVC_HTTP_ADDR", "127.0.0.1:0", "AUTHSVC_METRICS_ADDR", "127.0.0.1:0")
	in := startService(t, nil, env)
	if !strings.Contains(in.logs.String(), `"client_auth":"mtls-only"`) {
		t.Errorf("the start-up log does not say mtls-only:\n%s", in.logs)
	}
	c := newClient(t, in, "", e.roots) // TLS without a client certificate
	_, err := healthpb.NewHealthClient(c.conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("health without a certificate under mtls-only: %v, want UNAVAILABLE (handshake refused)", err)
	}
	resp, err := c.http.Get("https://" + testHost + "/healthz")
	if err != nil {
		t.Fatalf("pages under mtls-only: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	certA := e.ca.issue(t, certClientSAN)
	conn, err := grpc.NewClient(in.addrs.GRPC, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: e.roots, ServerName: testHost, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{certA}})))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, err = authsvcv1.NewVerificationServiceClient(conn).GetVerification(t.Context(), &authsvcv1.GetVerificationRequest{VerificationId: unknownVID})
	if status.Code(err) != codes.NotFound {
		t.Errorf("cert of platform-a under mtls-only: %v, want NOT_FOUND", err)
	}
}
