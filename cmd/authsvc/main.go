// Command authsvc is the verification service: the authsvc.v1 gRPC API for care
// platforms, the customer pages and JWKS over HTTP, and Prometheus metrics on a
// third listener.
//
// It only wires: configuration comes from AUTHSVC_* environment variables (see
// Config), every dependency is built in order and closed in reverse, and all
// behaviour lives in the internal packages.
//
// Usage:
//
//	authsvc                 production: every setting from AUTHSVC_* variables
//	authsvc -dev            dev mode: no setup; embedded Redis, ephemeral keys, nothing sent
//	authsvc -config-check   validate the configuration and its files, exit 0 or 1
//	authsvc -version        print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second one kills
	// the process without waiting for the graceful shutdown.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintf(os.Stderr, "authsvc: %v\n", err)
		os.Exit(1)
	}
}
