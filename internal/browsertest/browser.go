package browsertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names an explicit Chromium (or Chrome) binary; when set, PATH is not searched.
const EnvChromium = "CHROMIUM"

// installHint is the message of the skip (or, under CI=true, the failure) for a missing browser.
const installHint = "apt-get install -y chromium"

// pathNames are the browser binaries looked up on PATH, in order.
var pathNames = []string{"chromium", "chromium-browser", "google-chrome"}

const (
	startTimeout = 30 * time.Second // launch until the first tab answers
	closeTimeout = 10 * time.Second // graceful close before the kill
	callTimeout  = 20 * time.Second // one Page.Run or one WebAuthn command
)

// Browser is a headless Chromium started by [Start] for one test. Pages of one Browser are
// separate tabs and may be used from parallel subtests, one goroutine per page.
type Browser struct {
	ctx     context.Context // chromedp context of the browser's first tab; owns the process
	dataDir string
	output  *tailBuffer // the browser's stdout and stderr, for failure messages
}

// Option configures [Start].
type Option func(*[]chromedp.ExecAllocatorOption)

// WithHost makes the browser reach host (a DNS name, as the pages' public URL names it) at
// addr ("127.0.0.1:PORT") and accept the TLS certificate cert there, as a phone reaches a
// production deployment through its ingress: the pages keep their https origin, so secure
// cookies and __Host- names behave as in production. Only cert's key is trusted
// (--ignore-certificate-errors-spki-list), no other certificate error is ignored.
func WithHost(host, addr string, cert *x509.Certificate) Option {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return func(o *[]chromedp.ExecAllocatorOption) {
		*o = append(*o,
			chromedp.Flag("host-resolver-rules", "MAP "+host+" "+addr),
			chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(sum[:])))
	}
}

// Start launches headless Chromium for the test (one browser per call) and returns when it
// answers, within about 30 s. It is closed in t.Cleanup. Start skips t when Chromium is not
// installed, or fails it when CI=true; see the package documentation.
func Start(t testing.TB, options ...Option) *Browser {
	t.Helper()
	bin := chromiumPath(t)
	b := &Browser{dataDir: t.TempDir(), output: &tailBuffer{max: 8 << 10}}

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(b.dataDir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.NoFirstRun,
		chromedp.CombinedOutput(b.output),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Replaces chromedp's own hook, so set the parent-death signal here. chromedp starts
			// the browser from a goroutine locked to its OS thread, which Pdeathsig needs.
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}),
	)
	for _, o := range options {
		o(&opts)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = chromedp.Cancel(cctx) // graceful Browser.close, then a kill after closeTimeout
		ccancel()
		cancel()
		cancelAlloc() // waits until the browser process has exited
		reapLeftovers(b.dataDir)
	})

	// The first Do starts the process and binds its life to ctx, so the start is bounded by a
	// timer that cancels the allocator rather than by a deadline on ctx.
	timer := time.AfterFunc(startTimeout, cancelAlloc)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		t.Fatalf("browsertest: %s did not start within %v: %v\n%s", bin, startTimeout, err, b.output)
	}
	if err != nil {
		t.Fatalf("browsertest: start %s: %v\n%s", bin, err, b.output)
	}
	return b
}

// chromiumPath returns the browser binary, or skips/fails t.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		abs, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("browsertest: %s=%q is not an executable: %v", EnvChromium, p, err)
		}
		return abs
	}
	for _, name := range pathNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browsertest: Chromium not found (looked for $" + EnvChromium + ", " +
		strings.Join(pathNames, ", ") + " on PATH): " + installHint
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// reapLeftovers waits up to about 2 s for the browser's child processes (zygote, GPU, network
// service) to exit after the main process did, then kills those still running, so that the
// profile directory can be removed. They are found by the unique --user-data-dir that Chromium
// passes to every child.
func reapLeftovers(dataDir string) {
	if waitGone(dataDir, 2*time.Second) {
		return
	}
	for _, pid := range processesUsing(dataDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitGone(dataDir, time.Second)
}

// waitGone reports whether no process uses dataDir any more, waiting up to d.
func waitGone(dataDir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for len(processesUsing(dataDir)) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// processesUsing returns the ids of the processes whose command line holds
// --user-data-dir=dataDir.
func processesUsing(dataDir string) []int {
	want := []byte("--user-data-dir=" + dataDir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(cmdline, []byte{0}), func(arg []byte) bool {
			return bytes.Equal(arg, want)
		}) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tailBuffer keeps the last max bytes written to it. It is safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = slices.Clone(b.buf[over:])
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return "(no browser output)"
	}
	return "browser output (tail):\n" + string(b.buf)
}
