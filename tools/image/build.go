package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed shape. The Dockerfile and the Helm chart rely on the same
// values: keep them in step (the image test checks the Dockerfile).
const (
	entrypoint = "/authsvc"
	uid        = 65532 // distroless "nonroot"; the chart's runAsUser
	user       = "65532:65532"
	caPath     = "etc/ssl/certs/ca-certificates.crt" // where Go's crypto/x509 looks first on Linux
)

// exposedPorts are the container ports: gRPC, HTTP pages, metrics.
var exposedPorts = []string{"8443/tcp", "8080/tcp", "9090/tcp"}

// buildOptions are the build command's flags.
type buildOptions struct {
	src, out                          string
	version, revision, created        string
	arch, repository, tag             string
	source, licenses, caBundle, goBin string
}

func runBuild(ctx context.Context, args []string) error {
	var o buildOptions
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.StringVar(&o.src, "src", "../..", "repository root (holds go.mod and cmd/authsvc)")
	fs.StringVar(&o.out, "out", "", "output directory: DIR/oci (OCI image layout) and DIR/authsvc.tar are replaced")
	fs.StringVar(&o.version, "version", "dev", "version stamped into the binary (main.version) and the org.opencontainers.image.version label")
	fs.StringVar(&o.revision, "revision", "", "source revision (commit) for the org.opencontainers.image.revision label; empty leaves it out")
	fs.StringVar(&o.created, "created", "", "image creation time, RFC 3339 or Unix seconds; default $SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z, so that the same inputs give the same digest")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH of the image (linux only)")
	fs.StringVar(&o.repository, "repository", "ghcr.io/authsvc/authsvc", "repository named in the tarball (what `docker load` tags)")
	fs.StringVar(&o.tag, "tag", "", "tag in the tarball and the layout's ref.name annotation; default: the version, made a valid tag")
	fs.StringVar(&o.source, "source", "https://github.com/authsvc/authsvc", "org.opencontainers.image.source label")
	fs.StringVar(&o.licenses, "licenses", "", "org.opencontainers.image.licenses label (an SPDX expression); empty leaves it out")
	fs.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of the CA certificates the service trusts for outbound TLS (SMTP, webhooks, rediss)")
	fs.StringVar(&o.goBin, "go", "go", "the go command")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.out == "" || fs.NArg() > 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	if o.tag == "" {
		o.tag = tagOf(o.version)
	}
	created, err := parseCreated(o.created)
	if err != nil {
		return err
	}
	img, err := buildImage(ctx, o, created)
	if err != nil {
		return err
	}
	return write(o, img)
}

// tagOf turns a version into a valid image tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func tagOf(version string) string {
	t := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(version, "-")
	t = strings.TrimLeft(t, ".-")
	if t == "" {
		t = "dev"
	}
	return t[:min(len(t), 128)]
}

// parseCreated reads -created, falling back to SOURCE_DATE_EPOCH and then to
// the Unix epoch: never the wall clock, so a rebuild of the same commit with
// the same toolchain and CA bundle gives the same digest.
func parseCreated(s string) (time.Time, error) {
	if s == "" {
		s = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-created: want RFC 3339 or Unix seconds, got %q", s)
	}
	return t.UTC().Truncate(time.Second), nil
}

// buildImage compiles authsvc and assembles the image.
func buildImage(ctx context.Context, o buildOptions, created time.Time) (img v1.Image, err error) {
	tmp, err := os.MkdirTemp("", "authsvc-image-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	bin := filepath.Join(tmp, "authsvc")
	if err := compile(ctx, o, bin); err != nil {
		return nil, err
	}
	if err := checkStatic(bin); err != nil {
		return nil, err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}

	var ca []byte
	if o.caBundle != "" {
		if ca, err = os.ReadFile(o.caBundle); err != nil {
			return nil, fmt.Errorf("-ca-bundle: %w (authsvc needs CA certificates for SMTP, webhook and rediss TLS; pass -ca-bundle= to leave them out)", err)
		}
		if err := checkBundle(ca); err != nil {
			return nil, fmt.Errorf("-ca-bundle %s: %w", o.caBundle, err)
		}
	}

	base, err := layer(created, baseFiles(ca))
	if err != nil {
		return nil, err
	}
	app, err := layer(created, []file{{name: entrypoint[1:], mode: 0o555, data: binary}})
	if err != nil {
		return nil, err
	}

	img = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created},
			CreatedBy: "authsvc image build: /etc/passwd, /etc/group (nonroot 65532), " + caDescription(ca) + ", /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: created},
			CreatedBy: "authsvc image build: /authsvc (CGO_ENABLED=0 go build -trimpath)"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint:   []string{entrypoint},
		User:         user,
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{},
		Labels:       labels(o, created),
		StopSignal:   "SIGTERM",
	}
	for _, p := range exposedPorts {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	return mutate.ConfigFile(img, cf)
}

// labels are the OCI annotations of the image config; empty values are left out.
func labels(o buildOptions, created time.Time) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "authsvc",
		"org.opencontainers.image.description": "Step-up customer verification for social customer care: gRPC API, customer pages, JWKS",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.licenses":    o.licenses,
	}
	for k, v := range l {
		if v == "" {
			delete(l, k)
		}
	}
	return l
}

// compile builds cmd/authsvc for linux/arch as a static binary. VCS stamping
// is off so that a build from a clean tree and the Dockerfile's build (no .git
// in its context) give the same binary for the same source and version.
func compile(ctx context.Context, o buildOptions, out string) error {
	cmd := exec.CommandContext(ctx, o.goBin, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X main.version="+o.version, "-o", out, "./cmd/authsvc")
	cmd.Dir = o.src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/authsvc in %s: %w", o.src, err)
	}
	return nil
}

// checkStatic refuses a binary that needs a dynamic loader or shared
// libraries: the image has neither.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has an ELF interpreter); build with CGO_ENABLED=0", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}

// checkBundle refuses a CA bundle without a single parseable certificate.
func checkBundle(pemData []byte) error {
	n := 0
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate in it")
	}
	return nil
}

func caDescription(ca []byte) string {
	if ca == nil {
		return "no CA bundle"
	}
	return "/" + caPath
}

// file is one entry of a layer: a directory when data is nil and dir is set.
type file struct {
	name string
	mode int64
	dir  bool
	data []byte
}

// baseFiles are what the Go binary needs around it: the nonroot user's
// passwd/group entries (for tools that map the uid to a name), the CA bundle
// for outbound TLS and a /tmp. Everything is owned by root and read-only to
// the service's user, except /tmp (mode 1777, like distroless).
func baseFiles(ca []byte) []file {
	fs := []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o444, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o444, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
	}
	if ca != nil {
		fs = append(fs,
			file{name: "etc/ssl", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs", mode: 0o755, dir: true},
			file{name: caPath, mode: 0o444, data: ca},
		)
	}
	return append(fs, file{name: "tmp", mode: 0o1777, dir: true})
}

// layer writes files into an uncompressed tar, owned by root with the given
// modification time, and wraps it as an OCI layer (gzip).
func layer(mtime time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Uid: 0, Gid: 0, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// write replaces DIR/oci and DIR/authsvc.tar with the image.
func write(o buildOptions, img v1.Image) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	ociDir, tarPath := filepath.Join(o.out, "oci"), filepath.Join(o.out, "authsvc.tar")
	if err := os.RemoveAll(ociDir); err != nil {
		return err
	}
	p, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img,
		layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.tag}),
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.arch}),
	); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	ref, err := name.NewTag(o.repository+":"+o.tag, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("-repository/-tag: %w", err)
	}
	if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
		return fmt.Errorf("write tarball: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("built %s (linux/%s) %s\n  OCI layout: %s\n  tarball:    %s\n", ref, o.arch, digest, ociDir, tarPath)
	return nil
}
