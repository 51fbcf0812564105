package grpcapi_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/policy"
)

// Example wires the API the way cmd/authsvc does: the challenge service serves
// verifications and revocation checks, the assertion verifier and its keyring
// serve AssertionService with the disclosure policy, the identity store serves
// EnrollmentService, and Drain precedes GracefulStop on shutdown.
func Example() {
	var (
		ctx      context.Context     // from signal.NotifyContext
		svc      *challenge.Service  // challenge.New(...)
		keyring  *assertion.Keyring  // assertion.LoadKeyring(...)
		verifier *assertion.Verifier // assertion.NewVerifier(keyring, issuer, time.Now)
		ids      *identity.Store     // identity.New(...)
	)
	if svc == nil {
		return // the values above come from the real wiring
	}
	clients, err := grpcapi.LoadClients("/etc/authsvc/clients.json")
	if err != nil {
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv, err := grpcapi.New(grpcapi.Config{Reflection: true, Issuer: "https://authsvc.example.com"},
		svc, struct {
			*assertion.Verifier
			*assertion.Keyring
		}{verifier, keyring}, svc, policy.Default(), ids, clients, time.Now, log, prometheus.DefaultRegisterer)
	if err != nil {
		return
	}
	lis, err := net.Listen("tcp", ":8443")
	if err != nil {
		return
	}
	go func() {
		<-ctx.Done()
		srv.Drain()
		srv.GRPCServer().GracefulStop()
	}()
	_ = srv.GRPCServer().Serve(lis)
}
