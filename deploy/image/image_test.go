// Package image_test builds the container image the way `make image` does
// (tools/image, no Docker daemon) and checks what it holds: the config
// (entrypoint, user, ports, labels), every file of every layer (no shell,
// nothing the service's user can write but /tmp, nothing owned by it), a
// valid OCI layout and tarball that crane pushes to a registry, a static
// binary that runs `--version`, and the same digest when built twice. It also
// checks that the Dockerfile keeps the same shape, and runs the image's binary
// with docker-compose.yml's environment and the secrets its init step makes,
// against a real redis-server, so that the compose setup is known to start
// although no Docker daemon runs here.
//
// The builder is not a dependency of the main module: the test builds it from
// its own module (go -C tools/image build). Without a go command or openssl it
// skips, except under CI=true where it fails.
package image_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authsvc/authsvc/internal/redistest"
)

const (
	version  = "v9.8.7-imagetest"
	revision = "0123456789abcdef0123456789abcdef01234567"
	created  = "2026-01-02T03:04:05Z"
	repo     = "registry.example.test/care/authsvc"
	source   = "https://github.com/authsvc/authsvc" // the builder's default, and the Dockerfile's
)

// unavailable skips the test, or fails it under CI=true.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf("skipping: "+format+" (set CI=true to make this a failure)", args...)
}

// run runs a command with a timeout and returns its stdout; a failure fails t
// with stderr.
func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// report is the part of `image inspect`'s output the test reads.
type report struct {
	ManifestDigest    string            `json:"manifestDigest"`
	ManifestMediaType string            `json:"manifestMediaType"`
	Annotations       map[string]string `json:"annotations"`
	Platform          struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
	ConfigDigest    string `json:"configDigest"`
	ConfigMediaType string `json:"configMediaType"`
	Config          struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Created      string `json:"created"`
		Config       struct {
			Entrypoint   []string            `json:"Entrypoint"`
			Cmd          []string            `json:"Cmd"`
			User         string              `json:"User"`
			WorkingDir   string              `json:"WorkingDir"`
			Env          []string            `json:"Env"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
			Volumes      map[string]struct{} `json:"Volumes"`
			Labels       map[string]string   `json:"Labels"`
		} `json:"config"`
	} `json:"config"`
	Layers []struct {
		Digest    string `json:"digest"`
		MediaType string `json:"mediaType"`
		Files     []struct {
			Path     string `json:"path"`
			Type     string `json:"type"`
			Mode     int64  `json:"mode"`
			UID      int    `json:"uid"`
			GID      int    `json:"gid"`
			Size     int64  `json:"size"`
			Linkname string `json:"linkname"`
		} `json:"files"`
	} `json:"layers"`
	Tarball struct {
		ConfigDigest string   `json:"configDigest"`
		LayerDigests []string `json:"layerDigests"`
		RepoTags     []string `json:"repoTags"`
	} `json:"tarball"`
}

func TestImage(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		unavailable(t, "no go command on PATH: %v", err)
	}
	tmp := t.TempDir()
	tool := filepath.Join(tmp, "imagetool")
	run(t, root, os.Environ(), goBin, "-C", "tools/image", "build", "-o", tool, ".")

	caFile := filepath.Join(tmp, "ca-bundle.pem")
	bundle := testCABundle(t)
	if err := os.WriteFile(caFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(out string) {
		run(t, root, os.Environ(), tool, "build", "-src", root, "-out", out, "-version", version, "-revision", revision,
			"-created", created, "-arch", runtime.GOARCH, "-repository", repo, "-licenses", "LicenseRef-test", "-ca-bundle", caFile)
	}
	out := filepath.Join(tmp, "out")
	build(out)
	binPath := filepath.Join(tmp, "authsvc")
	var rep report
	if err := json.Unmarshal(run(t, root, nil, tool, "inspect", "-layout", filepath.Join(out, "oci"),
		"-tarball", filepath.Join(out, "authsvc.tar"), "-extract", "/authsvc", "-to", binPath), &rep); err != nil {
		t.Fatal(err)
	}

	t.Run("config", func(t *testing.T) {
		if rep.ManifestMediaType != "application/vnd.oci.image.manifest.v1+json" || rep.ConfigMediaType != "application/vnd.oci.image.config.v1+json" {
			t.Errorf("media types %s, %s; want OCI", rep.ManifestMediaType, rep.ConfigMediaType)
		}
		if rep.Platform.OS != "linux" || rep.Platform.Architecture != runtime.GOARCH ||
			rep.Config.OS != "linux" || rep.Config.Architecture != runtime.GOARCH {
			t.Errorf("platform %+v, config %s/%s; want linux/%s", rep.Platform, rep.Config.OS, rep.Config.Architecture, runtime.GOARCH)
		}
		if got := rep.Annotations["org.opencontainers.image.ref.name"]; got != version {
			t.Errorf("ref.name %q, want %q", got, version)
		}
		c := rep.Config.Config
		if !slices.Equal(c.Entrypoint, []string{"/authsvc"}) || len(c.Cmd) != 0 {
			t.Errorf("entrypoint %q cmd %q, want [/authsvc] and no cmd", c.Entrypoint, c.Cmd)
		}
		if c.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532 (the chart's runAsUser/runAsGroup)", c.User)
		}
		if c.WorkingDir != "/" || len(c.Env) != 0 || len(c.Volumes) != 0 {
			t.Errorf("workdir %q env %q volumes %v", c.WorkingDir, c.Env, c.Volumes)
		}
		var ports []string
		for p := range c.ExposedPorts {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		if !slices.Equal(ports, []string{"8080/tcp", "8443/tcp", "9090/tcp"}) {
			t.Errorf("exposed ports %v", ports)
		}
		if rep.Config.Created != created {
			t.Errorf("created %q, want %q", rep.Config.Created, created)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.title":    "authsvc",
			"org.opencontainers.image.source":   source,
			"org.opencontainers.image.revision": revision,
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.created":  created,
			"org.opencontainers.image.licenses": "LicenseRef-test",
		} {
			if got := c.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("files", func(t *testing.T) {
		type entry struct {
			typ  string
			mode int64
		}
		want := [][]string{
			{"etc/", "etc/passwd", "etc/group", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt", "tmp/"},
			{"authsvc"},
		}
		wantEntry := map[string]entry{
			"etc/": {"dir", 0o755}, "etc/ssl/": {"dir", 0o755}, "etc/ssl/certs/": {"dir", 0o755}, "tmp/": {"dir", 0o1777},
			"etc/passwd": {"file", 0o444}, "etc/group": {"file", 0o444}, "etc/ssl/certs/ca-certificates.crt": {"file", 0o444},
			"authsvc": {"file", 0o555},
		}
		if len(rep.Layers) != len(want) {
			t.Fatalf("%d layers, want %d", len(rep.Layers), len(want))
		}
		for i, l := range rep.Layers {
			if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
				t.Errorf("layer %d media type %s", i, l.MediaType)
			}
			var paths []string
			for _, f := range l.Files {
				paths = append(paths, f.Path)
				switch base := filepath.Base(f.Path); base {
				case "sh", "bash", "ash", "dash", "zsh", "busybox", "toybox":
					t.Errorf("layer %d has a shell: %s", i, f.Path)
				}
				if strings.HasPrefix(f.Path, "bin/") || strings.HasPrefix(f.Path, "usr/") {
					t.Errorf("layer %d has %s", i, f.Path)
				}
				if f.UID != 0 || f.GID != 0 {
					t.Errorf("%s owned by %d:%d, want root: the service's user must not own what it runs or trusts", f.Path, f.UID, f.GID)
				}
				if f.Mode&0o6000 != 0 {
					t.Errorf("%s is setuid/setgid (%o)", f.Path, f.Mode)
				}
				if f.Mode&0o022 != 0 && f.Path != "tmp/" {
					t.Errorf("%s is writable by group or others (%o)", f.Path, f.Mode)
				}
				if e, ok := wantEntry[f.Path]; !ok || e.typ != f.Type || e.mode != f.Mode {
					t.Errorf("%s: %s %o, want %s %o", f.Path, f.Type, f.Mode, e.typ, e.mode)
				}
				if f.Path == "etc/ssl/certs/ca-certificates.crt" && f.Size != int64(len(bundle)) {
					t.Errorf("CA bundle is %d bytes, want the %d of -ca-bundle", f.Size, len(bundle))
				}
			}
			if !slices.Equal(paths, want[i]) {
				t.Errorf("layer %d holds %q, want %q", i, paths, want[i])
			}
		}
		passwd := filepath.Join(tmp, "passwd")
		run(t, root, nil, tool, "inspect", "-layout", filepath.Join(out, "oci"), "-extract", "/etc/passwd", "-to", passwd)
		if b, err := os.ReadFile(passwd); err != nil || !strings.Contains(string(b), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd lacks the nonroot user: %q %v", b, err)
		}
	})

	t.Run("layout", func(t *testing.T) {
		// Read the layout without go-containerregistry, as the OCI image-layout
		// spec describes it, and check every blob's digest.
		dir := filepath.Join(out, "oci")
		var ociLayout struct {
			Version string `json:"imageLayoutVersion"`
		}
		readJSON(t, filepath.Join(dir, "oci-layout"), &ociLayout)
		if ociLayout.Version != "1.0.0" {
			t.Errorf("imageLayoutVersion %q", ociLayout.Version)
		}
		var index struct {
			Manifests []struct {
				Digest string `json:"digest"`
			} `json:"manifests"`
		}
		readJSON(t, filepath.Join(dir, "index.json"), &index)
		if len(index.Manifests) != 1 || index.Manifests[0].Digest != rep.ManifestDigest {
			t.Errorf("index.json manifests %+v, want %s", index.Manifests, rep.ManifestDigest)
		}
		blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
		if err != nil {
			t.Fatal(err)
		}
		if len(blobs) != 4 { // manifest, config, two layers
			t.Errorf("%d blobs, want 4", len(blobs))
		}
		for _, b := range blobs {
			data, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", b.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != b.Name() {
				t.Errorf("blob %s has digest %x", b.Name(), sum)
			}
		}
	})

	t.Run("tarball", func(t *testing.T) {
		if rep.Tarball.ConfigDigest != rep.ConfigDigest {
			t.Errorf("tarball config %s, layout config %s", rep.Tarball.ConfigDigest, rep.ConfigDigest)
		}
		var layers []string
		for _, l := range rep.Layers {
			layers = append(layers, l.Digest)
		}
		if !slices.Equal(rep.Tarball.LayerDigests, layers) {
			t.Errorf("tarball layers %v, layout layers %v", rep.Tarball.LayerDigests, layers)
		}
		if want := repo + ":" + version; !slices.Equal(rep.Tarball.RepoTags, []string{want}) {
			t.Errorf("tarball tags %v, want %s", rep.Tarball.RepoTags, want)
		}
	})

	t.Run("binary", func(t *testing.T) {
		f, err := elf.Open(binPath)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary has an ELF interpreter: it is not static")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary needs %v", libs)
		}
		if runtime.GOOS != "linux" {
			t.Skipf("cannot run a linux binary on %s", runtime.GOOS)
		}
		if got := string(run(t, tmp, []string{}, binPath, "--version")); got != "authsvc "+version+"\n" {
			t.Errorf("--version printed %q, want %q", got, "authsvc "+version+"\n")
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		again := filepath.Join(tmp, "again")
		build(again)
		var rep2 report
		if err := json.Unmarshal(run(t, root, nil, tool, "inspect", "-layout", filepath.Join(again, "oci")), &rep2); err != nil {
			t.Fatal(err)
		}
		if rep2.ManifestDigest != rep.ManifestDigest {
			t.Errorf("a second build gave %s, the first %s", rep2.ManifestDigest, rep.ManifestDigest)
		}
	})

	t.Run("push", func(t *testing.T) {
		// The push commands of docs/operations.md, against crane's own
		// registry on a loopback port (crane speaks plain http to 127.0.0.1).
		crane := filepath.Join(tmp, "crane")
		run(t, root, os.Environ(), goBin, "-C", "tools/image", "build", "-o", crane, "github.com/google/go-containerregistry/cmd/crane")
		addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
		ctx, cancel := context.WithCancel(t.Context())
		reg := exec.CommandContext(ctx, crane, "registry", "serve", "--address", addr)
		if err := reg.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = reg.Wait() }()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("crane registry serve: %v", err)
			}
		}
		ref := addr + "/care/authsvc:" + version
		pushed := strings.TrimSpace(string(run(t, root, nil, crane, "push", filepath.Join(out, "oci"), ref)))
		if want := addr + "/care/authsvc@" + rep.ManifestDigest; pushed != want {
			t.Errorf("crane push printed %q, want %q", pushed, want)
		}
		run(t, root, nil, crane, "push", filepath.Join(out, "authsvc.tar"), addr+"/care/authsvc:from-tarball")
		for _, r := range []string{ref, addr + "/care/authsvc:from-tarball"} {
			sum := sha256.Sum256(run(t, root, nil, crane, "config", r))
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != rep.ConfigDigest {
				t.Errorf("%s: config %s, want %s", r, got, rep.ConfigDigest)
			}
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		df := string(b)
		for _, want := range []string{
			"\nFROM gcr.io/distroless/static-debian12:nonroot\n",
			"CGO_ENABLED=0", "go build -trimpath -buildvcs=false -ldflags \"-s -w -X main.version=${VERSION}\"",
			"COPY --from=build --chmod=0555 /out/authsvc /authsvc\n",
			"\nUSER 65532:65532\n", "\nWORKDIR /\n", "\nEXPOSE 8443 8080 9090\n", "\nENTRYPOINT [\"/authsvc\"]\n",
			"org.opencontainers.image.title=\"authsvc\"",
			"org.opencontainers.image.source=\"" + source + "\"",
			"org.opencontainers.image.version=\"${VERSION}\"",
			"org.opencontainers.image.revision=\"${REVISION}\"",
			"org.opencontainers.image.description=\"" + rep.Config.Config.Labels["org.opencontainers.image.description"] + "\"",
		} {
			if !strings.Contains(df, want) {
				t.Errorf("Dockerfile lacks %q", want)
			}
		}
	})

	t.Run("compose", func(t *testing.T) {
		checkCompose(t, root, binPath)
	})
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// testCABundle returns a PEM bundle of one self-signed CA certificate.
func testCABundle(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "image test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build struct {
			Context string `yaml:"context"`
			Target  string `yaml:"target"`
		} `yaml:"build"`
		User        string            `yaml:"user"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		SecurityOpt []string          `yaml:"security_opt"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Entrypoint  []string          `yaml:"entrypoint"`
	} `yaml:"services"`
}

// checkCompose checks docker-compose.yml's authsvc service, then makes the
// secrets with its init script and starts the image's binary with the
// service's environment against a real redis-server: only the Redis address,
// the listen addresses (free loopback ports) and the secrets folder differ
// from what Docker would run.
func checkCompose(t *testing.T, root, binPath string) {
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	svc, ok := cf.Services["authsvc"]
	if !ok {
		t.Fatal("no authsvc service")
	}
	if !strings.HasPrefix(cf.Services["redis"].Image, "redis:7") {
		t.Errorf("redis image %q, want redis:7", cf.Services["redis"].Image)
	}
	if svc.Build.Context != "." || svc.User != "65532:65532" || !svc.ReadOnly || !slices.Equal(svc.CapDrop, []string{"ALL"}) ||
		!slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("authsvc service: build %+v user %q read_only %v cap_drop %v security_opt %v", svc.Build, svc.User, svc.ReadOnly, svc.CapDrop, svc.SecurityOpt)
	}
	for _, p := range append(svc.Ports, cf.Services["mailpit"].Ports...) {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("port %q is published beyond loopback", p)
		}
	}
	for name := range svc.Environment {
		if strings.HasPrefix(name, "AUTHSVC_DEV") {
			t.Errorf("%s set: the compose setup runs production mode", name)
		}
	}
	if got := svc.Environment["AUTHSVC_REDIS_URL"]; !strings.HasPrefix(got, "redis://redis:") {
		t.Errorf("AUTHSVC_REDIS_URL %q does not name the redis service", got)
	}
	const secretsDir = "/secrets"
	if !slices.Contains(svc.Volumes, "./artifacts/compose:"+secretsDir+":ro") {
		t.Errorf("authsvc volumes %v lack the secrets folder, read-only", svc.Volumes)
	}
	initSvc := cf.Services["init"]
	if !slices.Equal(initSvc.Entrypoint, []string{"sh", "/init-secrets.sh", "/artifacts/compose"}) ||
		!slices.Contains(initSvc.Volumes, "./deploy/compose/init-secrets.sh:/init-secrets.sh:ro") ||
		!slices.Contains(initSvc.Volumes, "./artifacts:/artifacts") {
		t.Errorf("init service: entrypoint %q volumes %v", initSvc.Entrypoint, initSvc.Volumes)
	}

	if runtime.GOOS != "linux" {
		t.Skipf("cannot run a linux binary on %s", runtime.GOOS)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		unavailable(t, "the compose init script needs openssl: %v", err)
	}
	secrets := filepath.Join(t.TempDir(), "secrets")
	run(t, root, os.Environ(), "sh", filepath.Join(root, "deploy", "compose", "init-secrets.sh"), secrets)

	redis := redistest.Start(t)
	ports := freePorts(t, 3)
	env := []string{}
	for name, value := range svc.Environment {
		switch name {
		case "AUTHSVC_REDIS_URL":
			value = redis.URL()
		case "AUTHSVC_PUBLIC_URL":
			value = fmt.Sprintf("https://localhost:%d", ports[1])
		default:
			if rest, ok := strings.CutPrefix(value, secretsDir+"/"); ok {
				value = filepath.Join(secrets, rest)
			}
		}
		env = append(env, name+"="+value)
	}
	env = append(env, fmt.Sprintf("AUTHSVC_GRPC_ADDR=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("AUTHSVC_HTTP_ADDR=127.0.0.1:%d", ports[1]), fmt.Sprintf("AUTHSVC_METRICS_ADDR=127.0.0.1:%d", ports[2]))

	if got := string(run(t, root, env, binPath, "-config-check")); got != "configuration OK\n" {
		t.Fatalf("-config-check: %q", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, binPath)
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		// SIGINT starts the graceful stop; the context kills it if that hangs.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			cancel()
			err = <-done
		}
		cancel()
		if err != nil && t.Failed() {
			t.Logf("authsvc exited: %v", err)
		}
	}()

	ca, err := os.ReadFile(filepath.Join(secrets, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("ca.crt holds no certificate")
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := fmt.Sprintf("https://localhost:%d", ports[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case werr := <-done:
			t.Fatalf("authsvc exited (%v) before it was ready:\n%s", werr, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz over TLS with the compose CA: %v\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := client.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil || len(jwks.Keys) != 1 {
		t.Errorf("JWKS: %v, %d keys, want the init script's one signing key", err, len(jwks.Keys))
	}
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		port, _ := strconv.Atoi(p)
		ports = append(ports, port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}
