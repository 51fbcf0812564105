package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// devAPIKey is the API key the dev-mode server (make run) accepts. authctl
// falls back to it only for a loopback address.
const devAPIKey = "dev-insecure-key"

// maxAPIKeyFile bounds how much of --api-key-file is read.
const maxAPIKeyFile = 4096

// bearer sends the API key as "authorization: Bearer <key>" on every call.
// It requires transport security unless the address is loopback.
type bearer struct {
	key      string
	loopback bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: grpc
// refuses to send the key over a plaintext connection unless it is loopback.
func (b bearer) RequireTransportSecurity() bool { return !b.loopback }

// isLoopback reports whether addr (host:port, or a bare host) names this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiKey returns the key to send: from --api-key-file, else AUTHSVC_API_KEY,
// else the dev-mode key on a loopback address. The key is never printed.
func (g *globals) apiKey() (string, error) {
	if g.apiKeyFile != "" {
		f, err := os.Open(g.apiKeyFile)
		if err != nil {
			return "", fmt.Errorf("read --api-key-file: %w", err)
		}
		defer f.Close()
		buf, err := io.ReadAll(io.LimitReader(f, maxAPIKeyFile+1))
		if err != nil {
			return "", fmt.Errorf("read --api-key-file: %w", err)
		}
		if len(buf) > maxAPIKeyFile {
			return "", errors.New("--api-key-file: file too large for an API key")
		}
		key := strings.TrimSpace(string(buf))
		if key == "" {
			return "", errors.New("--api-key-file: file is empty")
		}
		return key, nil
	}
	if k := strings.TrimSpace(g.apiKeyEnv); k != "" {
		return k, nil
	}
	if isLoopback(g.addr) {
		return devAPIKey, nil
	}
	return "", fmt.Errorf("no API key for %s: set AUTHSVC_API_KEY or --api-key-file", g.addr)
}

// dial validates the connection flags and returns a client connection. Its
// errors are usage errors: nothing has been sent yet.
func (g *globals) dial() (*grpc.ClientConn, error) {
	if g.addr == "" {
		return nil, errors.New("--addr is empty")
	}
	if g.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	key, err := g.apiKey()
	if err != nil {
		return nil, err
	}
	loopback := isLoopback(g.addr)
	var transport credentials.TransportCredentials
	switch {
	case g.tls || g.caFile != "":
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if g.caFile != "" {
			pem, err := os.ReadFile(g.caFile)
			if err != nil {
				return nil, fmt.Errorf("read --ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-file %s: no PEM certificates", g.caFile)
			}
			cfg.RootCAs = pool
		}
		transport = credentials.NewTLS(cfg)
	case loopback:
		transport = insecure.NewCredentials()
	default:
		return nil, fmt.Errorf("%s is not a loopback address: use --tls (the API key is never sent in clear)", g.addr)
	}
	conn, err := grpc.NewClient(g.addr,
		grpc.WithTransportCredentials(transport),
		grpc.WithPerRPCCredentials(bearer{key: key, loopback: loopback}),
		grpc.WithUserAgent("authctl"),
	)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", g.addr, err)
	}
	return conn, nil
}

// unary returns a context bounded by --timeout for one unary call.
func (g *globals) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.timeout)
}
