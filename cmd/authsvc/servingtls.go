package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// servingTLS is the serving certificate and the client CA bundle, read from
// their files and re-read by Reload: a certificate renewed in its Secret (as
// cert-manager does well before expiry) or a CA bundle with a new CA in it is
// used from the next handshake on, without a restart. Connections already open
// keep the certificate they were made with.
type servingTLS struct {
	certFile, keyFile, caFile string
	clientAuth                string
	mu                        sync.Mutex // serializes Reload
	cur                       atomic.Pointer[tlsMaterial]
}

// tlsMaterial is one version of the files, immutable once read, with the gRPC
// handshake configuration built from it once.
type tlsMaterial struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool // nil without a client CA file
	grpc      *tls.Config    // grpcTLSConfig of cert and clientCAs, h2 as ALPN
	digest    [sha256.Size]byte
}

// loadServingTLS reads the certificate, its key and (when caFile is not "") the
// client CA bundle; clientAuth is AUTHSVC_CLIENT_AUTH.
func loadServingTLS(certFile, keyFile, caFile, clientAuth string) (*servingTLS, error) {
	s := &servingTLS{certFile: certFile, keyFile: keyFile, caFile: caFile, clientAuth: clientAuth}
	m, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	return s, nil
}

func (s *servingTLS) read() (*tlsMaterial, error) {
	certPEM, err := os.ReadFile(s.certFile)
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_TLS_CERT_FILE: %w", err)
	}
	keyPEM, err := os.ReadFile(s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_TLS_KEY_FILE: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_TLS_CERT_FILE / AUTHSVC_TLS_KEY_FILE: %w", err)
	}
	m := &tlsMaterial{cert: &cert}
	var caPEM []byte
	if s.caFile != "" {
		if caPEM, err = os.ReadFile(s.caFile); err != nil {
			return nil, fmt.Errorf("AUTHSVC_CLIENT_CA_FILE: %w", err)
		}
		m.clientCAs = x509.NewCertPool()
		if !m.clientCAs.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("AUTHSVC_CLIENT_CA_FILE: %s holds no PEM certificate", s.caFile)
		}
	}
	m.grpc = grpcTLSConfig(m.cert, m.clientCAs, s.clientAuth)
	m.grpc.NextProtos = []string{"h2"}
	m.digest = sha256.Sum256(bytes.Join([][]byte{certPEM, keyPEM, caPEM}, []byte{0}))
	return m, nil
}

// Reload re-reads the files. When they changed and still make a valid
// certificate (and CA bundle), the new ones serve the next handshakes; when they
// do not, the ones in use stay and the error says why. changed reports whether
// the material was replaced.
func (s *servingTLS) Reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.read()
	if err != nil {
		return false, err
	}
	if m.digest == s.cur.Load().digest {
		return false, nil
	}
	s.cur.Store(m)
	return true, nil
}

// hasClientCA tells whether client certificates are verified on gRPC.
func (s *servingTLS) hasClientCA() bool { return s.caFile != "" }

// grpcConfig is the gRPC listener's TLS configuration: each handshake gets the
// configuration of the material in use.
func (s *servingTLS) grpcConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().grpc, nil
		},
	}
}

// httpConfig is the HTTP listener's TLS configuration: the certificate in use,
// and no client certificate (customers' browsers have none).
func (s *servingTLS) httpConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
	}
}

// reloadTLS re-reads the serving TLS files every period until ctx is done. A
// failed reload (a half-written Secret, a key that does not match) keeps the
// material in use and is logged.
func reloadTLS(ctx context.Context, s *servingTLS, period time.Duration, log *slog.Logger) {
	every(ctx, period, func() {
		changed, err := s.Reload()
		switch {
		case err != nil:
			log.Error("reload serving TLS; the certificate in use is kept", "err", err)
		case changed:
			log.Info("serving TLS reloaded")
		}
	})
}
