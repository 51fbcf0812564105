// Command image builds the authsvc container image without a container daemon,
// and reads one back.
//
// build compiles cmd/authsvc as a static Linux binary (CGO_ENABLED=0,
// -trimpath, the version stamped with -ldflags -X main.version=...), puts it on
// an empty base with a CA bundle and the passwd/group entries of the nonroot
// user, and writes the image twice: as an OCI image layout (DIR/oci) and as a
// tarball that `docker load`, `crane push` and `skopeo copy docker-archive:`
// take (DIR/authsvc.tar). `make image` runs it; the Dockerfile at the
// repository root builds the same contents for people with a Docker daemon.
//
// inspect reads an OCI layout (and optionally the tarball) back, validates
// every digest and size, and prints the image's config and the files of each
// layer as JSON; with -extract it copies one file out of the image. The image
// test in deploy/image uses it, and it is there for a person who wants to see
// what is about to be pushed.
//
// It lives in its own module, like the other tools, so that
// go-containerregistry is not a dependency of the service.
//
// Usage:
//
//	go -C tools/image run . build -src ../.. -out ../../artifacts/image -version v1.2.3 -revision $(git rev-parse HEAD)
//	go -C tools/image run . inspect -layout ../../artifacts/image/oci [-tarball ../../artifacts/image/authsvc.tar] [-extract /authsvc -to FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  image build -out DIR [-src DIR] [-version V] [-revision SHA] [-created RFC3339] [-arch ARCH]
              [-repository REPO] [-tag TAG] [-source URL] [-licenses SPDX] [-ca-bundle FILE]
  image inspect -layout DIR [-tarball FILE] [-extract PATH -to FILE]
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "build":
		return runBuild(ctx, args[1:])
	case "inspect":
		return runInspect(args[1:])
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
