package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/syncbuf"
)

// handshake runs a TLS handshake between server and client over loopback TCP
// and returns the certificate the server presented and the server's error.
func handshake(t *testing.T, server, client *tls.Config) (presented []byte, serverErr error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		sc, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		defer sc.Close()
		_ = sc.SetDeadline(time.Now().Add(5 * time.Second))
		c := tls.Server(sc, server)
		if err = c.Handshake(); err == nil {
			// TLS 1.3 sends the client's certificate after the client's side is
			// done: read once so the server has judged it.
			_, err = c.Read(make([]byte, 1))
		}
		done <- err
	}()
	cc, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(cc, client)
	if err := c.Handshake(); err == nil {
		presented = c.ConnectionState().PeerCertificates[0].Raw
		_, _ = c.Write([]byte{1})
	}
	return presented, <-done
}

// TestServingTLSReload: a renewed certificate and a new client CA bundle are
// served from the next handshake after a reload; files that do not make a valid
// pair keep the ones in use; unchanged files change nothing.
func TestServingTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	certA, keyA, rootsA, _ := selfSigned(t, testHost)
	ca1 := newClientCA(t)
	writeTestFile(t, certFile, certA)
	writeTestFile(t, keyFile, keyA)
	writeTestFile(t, caFile, ca1.pem)
	s, err := loadServingTLS(certFile, keyFile, caFile, clientAuthMTLSOnly)
	if err != nil {
		t.Fatal(err)
	}
	from1 := ca1.issue(t, certClientSAN)
	client := func(roots *x509.CertPool, cert tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: testHost, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2"}, Certificates: []tls.Certificate{cert}}
	}
	servedA := s.cur.Load().cert.Certificate[0]
	if got, err := handshake(t, s.grpcConfig(), client(rootsA, from1)); err != nil || !bytes.Equal(got, servedA) {
		t.Fatalf("before the reload: %v", err)
	}

	// cert-manager renews the certificate; the CA bundle now holds CA 2 only.
	certB, keyB, rootsB, _ := selfSigned(t, testHost)
	ca2 := newClientCA(t)
	from2 := ca2.issue(t, certClientSAN)
	writeTestFile(t, certFile, certB)
	writeTestFile(t, keyFile, keyB)
	writeTestFile(t, caFile, ca2.pem)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	servedB := s.cur.Load().cert.Certificate[0]
	if got, err := handshake(t, s.grpcConfig(), client(rootsB, from2)); err != nil || !bytes.Equal(got, servedB) {
		t.Fatalf("gRPC after the reload: %v", err)
	}
	if _, err := handshake(t, s.grpcConfig(), client(rootsB, from1)); err == nil {
		t.Error("a client certificate of the removed CA was accepted after the reload")
	}
	if got, _ := handshake(t, s.httpConfig(), &tls.Config{RootCAs: rootsB, ServerName: testHost, MinVersion: tls.VersionTLS12}); !bytes.Equal(got, servedB) {
		t.Error("HTTP does not serve the renewed certificate")
	}

	// A key that does not match (a Secret half updated): the pair in use stays.
	writeTestFile(t, keyFile, keyA)
	if changed, err := s.Reload(); changed || err == nil || !strings.Contains(err.Error(), "AUTHSVC_TLS_CERT_FILE / AUTHSVC_TLS_KEY_FILE") {
		t.Fatalf("Reload of a mismatched pair = %v, %v", changed, err)
	}
	if got, err := handshake(t, s.grpcConfig(), client(rootsB, from2)); err != nil || !bytes.Equal(got, servedB) {
		t.Fatalf("after a failed reload: %v", err)
	}
	writeTestFile(t, keyFile, keyB)
	if changed, err := s.Reload(); changed || err != nil {
		t.Fatalf("Reload of the files in use = %v, %v", changed, err)
	}

	// The loop logs a failed reload and stops with its context.
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadTLS(ctx, s, 5*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	writeTestFile(t, caFile, []byte("not a certificate"))
	waitFor(t, func() bool {
		return strings.Contains(logs.String(), "reload serving TLS; the certificate in use is kept")
	})
	writeTestFile(t, caFile, ca1.pem)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "serving TLS reloaded") })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloadTLS did not stop with its context")
	}
}
