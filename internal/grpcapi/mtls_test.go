package grpcapi

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
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// Certificate identities of the test clients. No test log may contain any of them.
const (
	sanA       = "spiffe://brand.example/care-platform" // clientA: key and cert
	sanTool    = "tool-7.clients.brand.example"         // clientTool: cert only
	sanUnknown = "spiffe://brand.example/not-a-client"  // signed by the client CA, in no entry
	clientTool = "care-tool"
	unknownID  = "aaa-aaaaaaaaaaaaaaaa" // well-formed, never issued
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// leafOpts are the names and usage of a certificate issue makes.
type leafOpts struct {
	usage x509.ExtKeyUsage
	uris  []string
	dns   []string
	ips   []net.IP
	// cn is the subject common name; it never names a client.
	cn string
}

// issue returns a certificate signed by ca, with its key.
func (ca *testCA) issue(t *testing.T, o leafOpts) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: o.cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{o.usage},
		DNSNames:     o.dns,
		IPAddresses:  o.ips,
	}
	for _, s := range o.uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func sumHex(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// mtlsClients is the clients file of the mTLS tests: clientA with a key and a
// URI cert, clientB with a key only, clientTool with a DNS cert only and narrow
// grants.
func mtlsClients() string {
	return `{"clients": [
	  {"id": "` + clientA + `", "api_key_sha256": "` + sumHex(keyA) + `", "cert": {"uri_san": "` + sanA + `"},
	   "rpcs": ["*"], "audiences": ["*"], "scopes": ["*"]},
	  {"id": "` + clientB + `", "api_key_sha256": "` + sumHex(keyB) + `", "rpcs": ["*"], "audiences": ["*"], "scopes": ["*"]},
	  {"id": "` + clientTool + `", "cert": {"dns_san": "` + sanTool + `"},
	   "rpcs": ["StartVerification", "GetVerification", "WatchVerification", "CancelVerification"],
	   "audiences": ["` + audience + `"], "scopes": ["orders:read"]}
	]}`
}

// mtlsFixture is a fixture serving gRPC over TLS that verifies client
// certificates against clientCA, with its clients read from a file.
type mtlsFixture struct {
	*fixture
	path     string
	clients  *Clients
	clientCA *testCA
	roots    *x509.CertPool // trusts the server certificate
	// certs of the clients: A's, the tool's, one the file does not name, one
	// naming two clients, one for servers only, and one of another CA naming A.
	certA, certTool, certUnknown, certBoth, certServerOnly, certRogue tls.Certificate
}

func newMTLSFixture(t *testing.T, auth tls.ClientAuthType) *mtlsFixture {
	t.Helper()
	f := &mtlsFixture{path: filepath.Join(t.TempDir(), "clients.json"), clientCA: newTestCA(t, "client CA")}
	writeFile(t, f.path, mtlsClients())
	var err error
	if f.clients, err = LoadClients(f.path); err != nil {
		t.Fatal(err)
	}
	serverCA := newTestCA(t, "server CA")
	f.roots = serverCA.pool
	serverCert := serverCA.issue(t, leafOpts{usage: x509.ExtKeyUsageServerAuth, dns: []string{"localhost"},
		ips: []net.IP{net.IPv4(127, 0, 0, 1)}, cn: "localhost"})
	client := func(o leafOpts) tls.Certificate {
		o.usage = x509.ExtKeyUsageClientAuth
		return f.clientCA.issue(t, o)
	}
	// The common names are client ids on purpose: they must not count.
	f.certA = client(leafOpts{uris: []string{sanA}, cn: clientB})
	f.certTool = client(leafOpts{dns: []string{strings.ToUpper(sanTool)}, cn: clientA})
	f.certUnknown = client(leafOpts{uris: []string{sanUnknown}, cn: clientA})
	f.certBoth = client(leafOpts{uris: []string{sanA}, dns: []string{sanTool}})
	f.certServerOnly = f.clientCA.issue(t, leafOpts{usage: x509.ExtKeyUsageServerAuth, uris: []string{sanA}})
	f.certRogue = newTestCA(t, "client CA").issue(t, leafOpts{usage: x509.ExtKeyUsageClientAuth, uris: []string{sanA}})

	f.fixture = newFixture(t, fixtureOpts{clients: f.clients, cfg: Config{TLS: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    f.clientCA.pool,
		ClientAuth:   auth,
	}}})
	return f
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dial connects over TLS, presenting cert when it is not nil.
func (f *mtlsFixture) dial(t *testing.T, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: f.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(f.conn.Target(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// get calls GetVerification for id over conn with key ("" for none).
func get(t *testing.T, conn *grpc.ClientConn, key, id string) (*authsvcv1.GetVerificationResponse, error) {
	t.Helper()
	return authsvcv1.NewVerificationServiceClient(conn).GetVerification(as(t, key), &authsvcv1.GetVerificationRequest{VerificationId: id})
}

// wantUnauthenticated fails t unless err is UNAUTHENTICATED with ErrorInfo
// reason and no metadata.
func wantUnauthenticated(t *testing.T, err error, reason string) {
	t.Helper()
	wantReason(t, err, codes.Unauthenticated, reason)
}

// checkLogsClean fails when the log holds a certificate name or an API key.
func checkLogsClean(t *testing.T, logs string) {
	t.Helper()
	for _, secret := range []string{sanA, "spiffe://", sanTool, strings.ToUpper(sanTool), "clients.brand.example", sanUnknown, keyA, keyB} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

// TestMutualTLS authenticates calls by client certificate, API key or both, on
// a server that asks for certificates but does not require them.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t, tls.VerifyClientCertIfGiven)
	plain := f.dial(t, nil)

	t.Run("no credentials", func(t *testing.T) {
		_, err := get(t, plain, "", unknownID)
		wantUnauthenticated(t, err, ReasonAPIKeyInvalid)
	})
	t.Run("health needs none", func(t *testing.T) {
		res, err := healthpb.NewHealthClient(plain).Check(as(t, ""), &healthpb.HealthCheckRequest{})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check = %v, %v", res, err)
		}
	})
	t.Run("key only", func(t *testing.T) {
		_, err := get(t, plain, keyB, unknownID)
		wantCode(t, err, codes.NotFound)
	})
	connA := f.dial(t, &f.certA)
	t.Run("cert only", func(t *testing.T) {
		_, err := get(t, connA, "", unknownID)
		wantCode(t, err, codes.NotFound)
	})
	t.Run("cert and the key of the same client", func(t *testing.T) {
		_, err := get(t, connA, keyA, unknownID)
		wantCode(t, err, codes.NotFound)
	})
	t.Run("cert of A, key of B", func(t *testing.T) {
		_, err := get(t, connA, keyB, unknownID)
		wantUnauthenticated(t, err, ReasonAPIKeyInvalid)
		if !strings.Contains(f.logs.String(), "API key of client "+clientB+" on a connection whose certificate names client "+clientA) {
			t.Errorf("the log does not say which clients disagreed:\n%s", f.logs)
		}
		// A stream is refused alike.
		s, err := authsvcv1.NewVerificationServiceClient(connA).WatchVerification(as(t, keyB),
			&authsvcv1.WatchVerificationRequest{VerificationId: unknownID})
		if err == nil {
			_, err = s.Recv()
		}
		wantUnauthenticated(t, err, ReasonAPIKeyInvalid)
	})
	t.Run("cert with an unknown key", func(t *testing.T) {
		_, err := get(t, connA, "not-a-key", unknownID)
		wantUnauthenticated(t, err, ReasonAPIKeyInvalid)
	})
	t.Run("cert of the right CA naming no client", func(t *testing.T) {
		conn := f.dial(t, &f.certUnknown)
		_, err := get(t, conn, "", unknownID)
		wantUnauthenticated(t, err, ReasonCertificateUnknown)
		// A valid key does not make up for it, not even the key of the client
		// whose id is the certificate's common name.
		_, err = get(t, conn, keyA, unknownID)
		wantUnauthenticated(t, err, ReasonCertificateUnknown)
		s, err := authsvcv1.NewVerificationServiceClient(conn).WatchVerification(as(t, ""),
			&authsvcv1.WatchVerificationRequest{VerificationId: unknownID})
		if err == nil {
			_, err = s.Recv()
		}
		wantUnauthenticated(t, err, ReasonCertificateUnknown)
	})
	t.Run("cert naming two clients", func(t *testing.T) {
		_, err := get(t, f.dial(t, &f.certBoth), "", unknownID)
		wantUnauthenticated(t, err, ReasonCertificateUnknown)
	})
	t.Run("cert of another CA", func(t *testing.T) {
		// The TLS handshake fails: the call never reaches the service.
		_, err := get(t, f.dial(t, &f.certRogue), keyA, unknownID)
		wantCode(t, err, codes.Unavailable)
	})
	t.Run("cert not for client authentication", func(t *testing.T) {
		_, err := get(t, f.dial(t, &f.certServerOnly), "", unknownID)
		wantCode(t, err, codes.Unavailable)
	})
	if n := len(f.outbox.List()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
	checkLogsClean(t, f.logs.String())
}

// TestCertOnlyClient: a client named only by its certificate works, sees only
// its own verifications, and its grants apply as they would to a key.
func TestCertOnlyClient(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t, tls.VerifyClientCertIfGiven)
	tool := authsvcv1.NewVerificationServiceClient(f.dial(t, &f.certTool))
	vcA := authsvcv1.NewVerificationServiceClient(f.dial(t, &f.certA))
	byKey := authsvcv1.NewVerificationServiceClient(f.dial(t, nil))

	// The certificate's DNS name is upper-case: DNS names match without case.
	mine, err := tool.StartVerification(as(t, ""), validStart("tool-1"))
	if err != nil {
		t.Fatalf("StartVerification by certificate: %v", err)
	}
	toolID := mine.GetVerification().GetVerificationId()
	if got, err := tool.GetVerification(as(t, ""), &authsvcv1.GetVerificationRequest{VerificationId: toolID}); err != nil ||
		got.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
		t.Fatalf("GetVerification of its own = %v, %v", got, err)
	}
	theirs, err := vcA.StartVerification(as(t, ""), validStart("a-1"))
	if err != nil {
		t.Fatal(err)
	}
	aID := theirs.GetVerification().GetVerificationId()

	// Another client's verification answers exactly like an unknown one, both
	// ways, by certificate and by key.
	var messages []string
	for _, tc := range []struct {
		name string
		vc   authsvcv1.VerificationServiceClient
		key  string
		id   string
	}{
		{"tool asks an unknown id", tool, "", unknownID},
		{"tool asks A's", tool, "", aID},
		{"A by cert asks the tool's", vcA, "", toolID},
		{"A by key asks the tool's", byKey, keyA, toolID},
		{"B by key asks the tool's", byKey, keyB, toolID},
	} {
		_, err := tc.vc.GetVerification(as(t, tc.key), &authsvcv1.GetVerificationRequest{VerificationId: tc.id})
		st := wantCode(t, err, codes.NotFound)
		if len(st.Details()) != 0 {
			t.Errorf("%s: NotFound carries details %v", tc.name, st.Details())
		}
		messages = append(messages, st.Message())
		_, err = tc.vc.CancelVerification(as(t, tc.key), &authsvcv1.CancelVerificationRequest{VerificationId: tc.id, RequestId: "x"})
		wantCode(t, err, codes.NotFound)
		s, err := tc.vc.WatchVerification(as(t, tc.key), &authsvcv1.WatchVerificationRequest{VerificationId: tc.id})
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, err, codes.NotFound)
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("NotFound messages differ: %q", messages)
		}
	}
	// Neither attempt canceled the other's verification.
	for _, tc := range []struct {
		vc authsvcv1.VerificationServiceClient
		id string
	}{{tool, toolID}, {vcA, aID}} {
		got, err := tc.vc.GetVerification(as(t, ""), &authsvcv1.GetVerificationRequest{VerificationId: tc.id})
		if err != nil || got.GetVerification().GetState() != authsvcv1.State_STATE_PENDING {
			t.Errorf("after the others' attempts: %v, %v", got.GetVerification().GetState(), err)
		}
	}

	// The grants of the entry apply to the certificate.
	denied := func(name string, err error, reason string) {
		t.Helper()
		st := wantCode(t, err, codes.PermissionDenied)
		if ei := errorInfo(t, st); ei.GetReason() != reason {
			t.Errorf("%s: reason = %q, want %q", name, ei.GetReason(), reason)
		}
	}
	req := validStart("tool-aud")
	req.Audience = "billing"
	_, err = tool.StartVerification(as(t, ""), req)
	denied("audience", err, ReasonAudienceNotAllowed)
	req = validStart("tool-scope")
	req.Scopes = []string{"orders:write"}
	_, err = tool.StartVerification(as(t, ""), req)
	denied("scope", err, ReasonScopeNotAllowed)
	_, err = tool.ResendVerification(as(t, ""), &authsvcv1.ResendVerificationRequest{VerificationId: toolID, RequestId: "r"})
	denied("rpc", err, ReasonRPCNotAllowed)
	_, err = authsvcv1.NewAssertionServiceClient(f.dial(t, &f.certTool)).GetJwks(as(t, ""), &authsvcv1.GetJwksRequest{})
	denied("rpc of another service", err, ReasonRPCNotAllowed)

	logs := f.logs.String()
	if !strings.Contains(logs, `"client_id":"`+clientTool+`"`) {
		t.Errorf("the log does not name the client a certificate authenticated:\n%s", logs)
	}
	checkLogsClean(t, logs)
}

// TestMutualTLSRequired: with tls.RequireAndVerifyClientCert a connection
// without a certificate fails its handshake, health checks included.
func TestMutualTLSRequired(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t, tls.RequireAndVerifyClientCert)
	plain := f.dial(t, nil)
	_, err := get(t, plain, keyB, unknownID)
	wantCode(t, err, codes.Unavailable)
	_, err = healthpb.NewHealthClient(plain).Check(as(t, ""), &healthpb.HealthCheckRequest{})
	wantCode(t, err, codes.Unavailable)

	_, err = get(t, f.dial(t, &f.certA), "", unknownID)
	wantCode(t, err, codes.NotFound)
	_, err = get(t, f.dial(t, &f.certUnknown), "", unknownID)
	wantUnauthenticated(t, err, ReasonCertificateUnknown)
}

// TestClientsReloadRevokes: a key or cert removed from the clients file is
// refused from the next call after Reload, on connections already open too; a
// client added is accepted.
func TestClientsReloadRevokes(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t, tls.VerifyClientCertIfGiven)
	plain := f.dial(t, nil)
	connA := f.dial(t, &f.certA)
	_, err := get(t, plain, keyB, unknownID)
	wantCode(t, err, codes.NotFound)
	_, err = get(t, connA, "", unknownID)
	wantCode(t, err, codes.NotFound)

	// Unchanged: nothing to do.
	if changed, err := f.clients.Reload(); changed || err != nil {
		t.Fatalf("Reload of an unchanged file = %v, %v", changed, err)
	}
	// Invalid: the clients in use stay.
	writeFile(t, f.path, `{"clients": [{"id": "x"}]}`)
	if changed, err := f.clients.Reload(); changed || err == nil || !strings.Contains(err.Error(), "clients[0]") {
		t.Fatalf("Reload of an invalid file = %v, %v", changed, err)
	}
	_, err = get(t, plain, keyB, unknownID)
	wantCode(t, err, codes.NotFound)

	// Revoke B's key and A's certificate; A keeps its key; C is new.
	const keyC = "key-c-0123456789abcdef0123456789abcdef"
	writeFile(t, f.path, `{"clients": [
	  {"id": "`+clientA+`", "api_key_sha256": "`+sumHex(keyA)+`", "audiences": ["*"]},
	  {"id": "platform-c", "api_key_sha256": "`+sumHex(keyC)+`", "audiences": ["*"]}
	]}`)
	if changed, err := f.clients.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	_, err = get(t, plain, keyB, unknownID)
	wantUnauthenticated(t, err, ReasonAPIKeyInvalid)
	_, err = get(t, connA, "", unknownID)
	wantUnauthenticated(t, err, ReasonCertificateUnknown)
	_, err = get(t, connA, keyA, unknownID) // the cert still names no client
	wantUnauthenticated(t, err, ReasonCertificateUnknown)
	_, err = get(t, plain, keyA, unknownID)
	wantCode(t, err, codes.NotFound)
	_, err = get(t, plain, keyC, unknownID)
	wantCode(t, err, codes.NotFound)
	checkLogsClean(t, f.logs.String())

	if _, err := (&Clients{}).Reload(); err == nil {
		t.Error("Reload of clients not read from a file succeeded")
	}
}

// TestLoadClientsCertificates checks the cert field of a clients file entry.
func TestLoadClientsCertificates(t *testing.T) {
	t.Parallel()
	entry := func(id, fields string) string {
		return `{"id": "` + id + `", "audiences": ["crm"]` + fields + `}`
	}
	file := func(entries ...string) string { return `{"clients": [` + strings.Join(entries, ",") + `]}` }
	key := func(k string) string { return `, "api_key_sha256": "` + sumHex(k) + `"` }
	uri := func(s string) string { return `, "cert": {"uri_san": "` + s + `"}` }
	dns := func(s string) string { return `, "cert": {"dns_san": "` + s + `"}` }
	tests := []struct {
		name, content, wantErr string
	}{
		{"cert only, key only, both", file(entry("a", uri(sanA)), entry("b", key("kb")), entry("c", key("kc")+dns(sanTool))), ""},
		{"two cert-only clients", file(entry("a", uri(sanA)), entry("b", dns(sanTool))), ""},
		{"single-label dns", file(entry("a", dns("platform-a"))), ""},
		{"neither", file(entry("a", "")), "clients[0]: name how the client authenticates"},
		{"empty key", file(entry("a", `, "api_key_sha256": ""`+uri(sanA))), "clients[0]: api_key_sha256 must be"},
		{"empty cert", file(entry("a", `, "cert": {}`)), "clients[0]: cert: name one of"},
		{"both names", file(entry("a", `, "cert": {"uri_san": "`+sanA+`", "dns_san": "`+sanTool+`"}`)), "clients[0]: cert: name one of uri_san and dns_san, not both"},
		{"common name", file(entry("a", `, "cert": {"cn": "platform-a"}`)), `clients[0]: json: unknown field "cn"`},
		{"relative uri", file(entry("a", uri("care-platform"))), "clients[0]: cert: uri_san: want an absolute URI"},
		{"uri without host", file(entry("a", uri("spiffe:///care"))), "clients[0]: cert: uri_san: want an absolute URI"},
		{"non-canonical uri", file(entry("a", uri("SPIFFE://brand.example/care"))), "clients[0]: cert: uri_san: write the URI in canonical form"},
		{"uri with a space", file(entry("a", uri("spiffe://brand.example/care platform"))), "clients[0]: cert: uri_san"},
		{"upper-case dns", file(entry("a", dns("Tool.clients.brand.example"))), "clients[0]: cert: dns_san"},
		{"wildcard dns", file(entry("a", dns("*.clients.brand.example"))), "clients[0]: cert: dns_san"},
		{"trailing dot", file(entry("a", dns(sanTool+"."))), "clients[0]: cert: dns_san"},
		{"ip as uri", file(entry("a", uri("127.0.0.1"))), "clients[0]: cert: uri_san"},
		{"shared cert", file(entry("a", uri(sanA)), entry("b", key("kb")+uri(sanA))), "clients[1]: cert is also the cert of clients[0]"},
		{"shared key beside certs", file(entry("a", key("ka")+uri(sanA)), entry("b", key("ka")+dns(sanTool))), "clients[1]: API key is also the key of clients[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "clients.json")
			writeFile(t, path, tt.content)
			_, err := LoadClients(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			for _, v := range []string{sanA, sanTool, "care platform", "Tool.clients", "SPIFFE", "*.clients", "spiffe:///care", sumHex("ka")} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error %q quotes a value", err)
				}
			}
		})
	}

	path := filepath.Join(t.TempDir(), "clients.json")
	writeFile(t, path, file(entry("tool", dns(sanTool)), entry("both", key("k1")+uri(sanA)), entry("key", key("k2"))))
	cs, err := LoadClients(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.CertOnly(); !slices.Equal(got, []string{"tool"}) {
		t.Errorf("CertOnly = %v", got)
	}
	if got := cs.KeyOnly(); !slices.Equal(got, []string{"key"}) {
		t.Errorf("KeyOnly = %v", got)
	}
	// A client without a key is never found by one, not even by the key whose
	// sum is the zero value of an entry.
	if c, ok := cs.lookup(""); ok {
		t.Errorf("lookup(\"\") = %v", c)
	}
	if _, ok := cs.lookup("k1"); !ok {
		t.Error("lookup(k1) failed")
	}
}

// TestCertNames: only URI and DNS SANs name a client; the subject never does.
func TestCertNames(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	c := ca.issue(t, leafOpts{usage: x509.ExtKeyUsageClientAuth, cn: "platform-a", uris: []string{sanA},
		dns: []string{"Tool-7.Clients.Brand.Example"}, ips: []net.IP{net.IPv4(10, 0, 0, 1)}})
	got := certNames(c.Leaf)
	want := []certName{{certURI, sanA}, {certDNS, sanTool}}
	if !slices.Equal(got, want) {
		t.Errorf("certNames = %v, want %v", got, want)
	}
}

// TestClientsReloadEndsRevokedWatches: a WatchVerification stream is checked
// again when the clients file is reloaded. A stream whose key was revoked ends
// UNAUTHENTICATED, one whose client may no longer watch ends PERMISSION_DENIED,
// and a stream whose client is unchanged goes on receiving.
func TestClientsReloadEndsRevokedWatches(t *testing.T) {
	t.Parallel()
	f := newMTLSFixture(t, tls.VerifyClientCertIfGiven)
	plain := authsvcv1.NewVerificationServiceClient(f.dial(t, nil))
	tool := authsvcv1.NewVerificationServiceClient(f.dial(t, &f.certTool))
	watch := func(vc authsvcv1.VerificationServiceClient, key, requestID string) (string, authsvcv1.VerificationService_WatchVerificationClient) {
		t.Helper()
		req := validStart(requestID)
		if key == "" {
			req.Audience, req.Scopes = audience, []string{"orders:read"}
		}
		res, err := vc.StartVerification(as(t, key), req)
		if err != nil {
			t.Fatalf("StartVerification: %v", err)
		}
		id := res.GetVerification().GetVerificationId()
		ctx, cancel := context.WithTimeout(as(t, key), 20*time.Second)
		t.Cleanup(cancel)
		w, err := vc.WatchVerification(ctx, &authsvcv1.WatchVerificationRequest{VerificationId: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil {
			t.Fatalf("first message: %v", err)
		}
		return id, w
	}
	idA, watchA := watch(plain, keyA, "rw-a")
	_, watchB := watch(plain, keyB, "rw-b")
	_, watchTool := watch(tool, "", "rw-tool")

	// B's key is revoked; the tool may no longer watch; A is unchanged.
	writeFile(t, f.path, `{"clients": [
	  {"id": "`+clientA+`", "api_key_sha256": "`+sumHex(keyA)+`", "cert": {"uri_san": "`+sanA+`"},
	   "rpcs": ["*"], "audiences": ["*"], "scopes": ["*"]},
	  {"id": "`+clientTool+`", "cert": {"dns_san": "`+sanTool+`"},
	   "rpcs": ["StartVerification", "GetVerification", "CancelVerification"],
	   "audiences": ["`+audience+`"], "scopes": ["orders:read"]}
	]}`)
	if changed, err := f.clients.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	_, err := watchB.Recv()
	wantUnauthenticated(t, err, ReasonAPIKeyInvalid)
	_, err = watchTool.Recv()
	if ei := errorInfo(t, wantCode(t, err, codes.PermissionDenied)); ei.GetReason() != ReasonRPCNotAllowed {
		t.Errorf("tool's watch ended with %v, want %s", ei, ReasonRPCNotAllowed)
	}

	// A's watch lives on: it sees its verification canceled.
	if _, err := plain.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: idA, RequestId: "rw-cancel"}); err != nil {
		t.Fatal(err)
	}
	got, err := watchA.Recv()
	if err != nil {
		t.Fatalf("A's watch after the reload: %v", err)
	}
	if s := got.GetVerification().GetState(); s != authsvcv1.State_STATE_CANCELED {
		t.Errorf("A's watch saw %v, want CANCELED", s)
	}
	checkLogsClean(t, f.logs.String())
}
