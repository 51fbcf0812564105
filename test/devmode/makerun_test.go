// Package devmode_test holds the acceptance test of dev mode as a newcomer uses
// it: "make run" in a fresh clone, then a verification completed with authctl
// and the dev outbox, every piece a real separate process.
package devmode_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"
)

// Bounds. The first "go run" compiles the service, hence the generous start:
// a cold build cache on a busy 2-core machine has taken over 4 minutes.
const (
	startBound    = 6 * time.Minute
	buildBound    = 3 * time.Minute
	outboxBound   = 10 * time.Second
	verifiedBound = 30 * time.Second
	stopBound     = 30 * time.Second
	httpTimeout   = 10 * time.Second
)

// devAPIKey is the key dev mode accepts and authctl uses on loopback.
const devAPIKey = "dev-insecure-key"

// browserUA is what the customer's phone says it is.
const browserUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"

func TestMakeRunDevFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 'make run' (compiles and runs the service) and drives a flow with authctl: skipped under -short")
	}
	makePath := lookTool(t, "make")
	goPath := lookTool(t, "go")
	root := repoRoot(t, goPath)
	tmp := t.TempDir()
	start := time.Now()

	// 1. make run, with only the listen addresses set: port 0 on loopback, so
	// the kernel picks free ports and the banner says which.
	srv := startGroup(t, root, cleanEnv(
		"AUTHSVC_GRPC_ADDR=127.0.0.1:0",
		"AUTHSVC_HTTP_ADDR=127.0.0.1:0",
		"AUTHSVC_METRICS_ADDR=127.0.0.1:0",
	), makePath, "run")

	banner := srv.waitBanner(t, boundBy(t, startBound))
	t.Logf("make run ready after %s", time.Since(start).Round(time.Millisecond))

	// 2. The banner.
	b := parseBanner(t, banner)

	// authctl, built once the service is: it shares its dependencies, so
	// building it afterwards reuses them instead of competing for the CPU.
	authctl := filepath.Join(tmp, "authctl")
	buildStart := time.Now()
	buildAuthctl(t, goPath, root, authctl)
	t.Logf("authctl built in %s", time.Since(buildStart).Round(time.Millisecond))
	client := newBrowser(t)
	if body, status := get(t, client, "http://"+b.http+"/healthz", nil); status != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("GET /healthz on the banner's HTTP address: %d %q", status, body)
	}
	flowStart := time.Now()

	// 3. authctl verify, watching.
	cli := startAuthctl(t, authctl, "--addr", b.grpc, "verify",
		"--network", "x", "--user-id", "12345", "--handle", "@alice", "--email", "alice@example.com",
		"--method", "otp_email", "--audience", "crm", "--scope", "orders:read",
		"--agent", "agent-7", "--conversation", "conv-1", "--json")

	started := cli.next(t, verifiedBound)
	if started.Event != "started" {
		t.Fatalf("authctl's first event is %q, want started: %+v", started.Event, started)
	}
	pageURL := started.CustomerURL
	if !strings.HasPrefix(pageURL, b.pages+"/v/") {
		t.Fatalf("customer_url %q is not a code page under the banner's pages URL %q", pageURL, b.pages)
	}
	if !strings.Contains(started.DMText, pageURL) {
		t.Errorf("dm_text %q does not carry the page link %q", started.DMText, pageURL)
	}
	if v := started.verification(t); v.State != "STATE_PENDING" {
		t.Errorf("started verification state %q, want STATE_PENDING", v.State)
	}

	// 4. The customer: the code from the outbox, then the page's form.
	code := codeFromOutbox(t, client, b.outbox, "alice@example.com")
	submitCode(t, client, pageURL, code)

	// 5. authctl sees VERIFIED, prints the claims and exits 0.
	final := cli.waitVerified(t, verifiedBound)
	checkClaims(t, final.Claims)
	if err := cli.wait(verifiedBound); err != nil {
		t.Fatalf("authctl verify: %v\nstderr:\n%s", err, cli.stderr.String())
	}
	// The code as a number of its own: an epoch time in the claims may hold its digits.
	codeRE := regexp.MustCompile(`(^|\D)` + code + `(\D|$)`)
	if out := cli.stdout.String() + cli.stderr.String(); codeRE.MatchString(out) {
		t.Errorf("authctl printed the one-time code %s:\n%s", code, out)
	}
	if codeRE.MatchString(srv.stderr.String()) || codeRE.MatchString(srv.stdout.String()) {
		t.Errorf("the service's log or stdout contains the one-time code %s (it belongs only in the outbox)", code)
	}
	t.Logf("flow completed in %s", time.Since(flowStart).Round(time.Millisecond))

	// 6. Ctrl-C.
	srv.interrupt(t, stopBound)
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// boundBy returns bound, or less when the test's own deadline comes first, so
// that a slow start fails with this test's report rather than a timeout panic.
func boundBy(t *testing.T, bound time.Duration) time.Duration {
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl) - 30*time.Second; left < bound {
			return max(left, time.Second)
		}
	}
	return bound
}

// buildAuthctl builds ./cmd/authctl into out.
func buildAuthctl(t *testing.T, goPath, root, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), boundBy(t, buildBound))
	defer cancel()
	cmd := exec.CommandContext(ctx, goPath, "build", "-o", out, "./cmd/authctl")
	cmd.Dir = root
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/authctl: %v\n%s", err, msg)
	}
}

// lookTool finds a command the test needs; without it the test skips, except
// in CI where a missing tool is a broken runner.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not found (%v): install it to run the 'make run' acceptance test", name, err)
	}
	return p
}

// repoRoot is the directory of the main module's go.mod.
func repoRoot(t *testing.T, goPath string) string {
	t.Helper()
	out, err := exec.Command(goPath, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("go env GOMOD: not inside the authsvc module")
	}
	return filepath.Dir(gomod)
}

// cleanEnv is this process's environment without anything that would configure
// authsvc or authctl (a fresh clone has none of it) or leak an outer make's
// state into "make run", plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AUTHSVC_"),
			name == "MAKEFLAGS", name == "MFLAGS", name == "MAKELEVEL", name == "MAKEOVERRIDES":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// notifyBuffer collects a process's output and signals every write.
type notifyBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{changed: make(chan struct{}, 1)} }

func (b *notifyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *notifyBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// group is a process started in its own process group.
type group struct {
	cmd            *exec.Cmd
	pgid           int
	stdout, stderr *notifyBuffer
	exited         chan struct{}
	waitErr        error
}

// startGroup starts name args in dir as the leader of a new process group and
// makes sure, at cleanup, that nothing of the group survives.
func startGroup(t *testing.T, dir string, env []string, name string, args ...string) *group {
	t.Helper()
	g := &group{stdout: newNotifyBuffer(), stderr: newNotifyBuffer(), exited: make(chan struct{})}
	g.cmd = exec.Command(name, args...)
	g.cmd.Dir = dir
	g.cmd.Env = env
	g.cmd.Stdout, g.cmd.Stderr = g.stdout, g.stderr
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Wait returns this long after the group leader exits even if a straggler
	// still holds the output pipes.
	g.cmd.WaitDelay = 5 * time.Second
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", name, args, err)
	}
	g.pgid = g.cmd.Process.Pid
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	// Pdeathsig reaches only the leader (make), not "go run" and the service
	// below it, and an interrupted test binary runs no cleanup: so a Ctrl-C or
	// SIGTERM of the test kills the group first, then the test as it would have.
	// Signals this process ignores (a background job's SIGINT) stay ignored.
	sigs := make(chan os.Signal, 1)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !signal.Ignored(sig) {
			signal.Notify(sigs, sig)
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(os.Getpid(), s)
			}
		case <-done:
		}
	}()
	t.Cleanup(func() {
		signal.Stop(sigs)
		close(done)
		_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
		select {
		case <-g.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not exit after SIGKILL to its process group", name)
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, g.stdout.String(), name, g.stderr.String())
		}
	})
	return g
}

// bannerDone matches a complete dev banner: from one rule of '=' to the next.
var bannerDone = regexp.MustCompile(`(?s)={78}\n.*?\n={78}\n`)

// waitBanner waits for the dev banner on stdout and returns it.
func (g *group) waitBanner(t *testing.T, bound time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		if b := bannerDone.FindString(g.stdout.String()); b != "" {
			return b
		}
		select {
		case <-g.stdout.changed:
		case <-g.exited:
			if b := bannerDone.FindString(g.stdout.String()); b != "" {
				return b
			}
			t.Fatalf("make run exited before it was ready: %v", g.waitErr)
		case <-deadline.C:
			t.Fatalf("make run printed no dev banner within %s", bound)
		}
	}
}

// interrupt sends SIGINT to the whole group, as Ctrl-C in a terminal does, and
// checks that everything in it exits in bound, gracefully and without a panic.
func (g *group) interrupt(t *testing.T, bound time.Duration) {
	t.Helper()
	stopAt := time.Now()
	if err := syscall.Kill(-g.pgid, syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT to make run's process group: %v", err)
	}
	select {
	case <-g.exited:
	case <-time.After(bound):
		t.Fatalf("make run did not exit within %s of SIGINT", bound)
	}
	t.Logf("make run stopped %s after SIGINT (%v)", time.Since(stopAt).Round(time.Millisecond), g.waitErr)
	// make itself reports the interrupt (exit status or re-raised SIGINT);
	// what matters is that the service stopped gracefully and nothing is left.
	var exitErr *exec.ExitError
	if g.waitErr != nil && !errors.As(g.waitErr, &exitErr) {
		t.Errorf("make run: %v", g.waitErr)
	}
	for stragglers := time.Now().Add(5 * time.Second); ; {
		if err := syscall.Kill(-g.pgid, 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(stragglers) {
			t.Errorf("a process of make run's group is still alive after make exited")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := g.stdout.String() + g.stderr.String()
	for _, bad := range []string{"panic:", "goroutine ", "fatal error:", "DATA RACE"} {
		if strings.Contains(out, bad) {
			t.Errorf("make run's output contains %q after SIGINT", bad)
		}
	}
	if !regexp.MustCompile(`(?m)msg="?stopped"?`).MatchString(g.stderr.String()) {
		t.Errorf("the service did not log that it stopped gracefully")
	}
}

// banner is what the dev banner says.
type banner struct {
	grpc, http, metrics string // host:port
	pages, outbox       string // URLs
}

func parseBanner(t *testing.T, text string) banner {
	t.Helper()
	for _, want := range []string{"DEV MODE", "NOTHING PERSISTS", "NOTHING IS SENT", "Never use dev mode for real customers",
		"API key   " + devAPIKey} {
		if !strings.Contains(text, want) {
			t.Errorf("the banner does not say %q:\n%s", want, text)
		}
	}
	field := func(re string) []string {
		m := regexp.MustCompile(`(?m)^\s*` + re + `\s*$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("the banner has no line matching %q:\n%s", re, text)
		}
		return m[1:]
	}
	var b banner
	b.grpc = field(`gRPC\s+(\S+)\s+\(reflection \w+\)`)[0]
	m := field(`HTTP\s+(\S+)\s+\(pages at (\S+)\)`)
	b.http, b.pages = m[0], m[1]
	b.metrics = field(`metrics\s+http://(\S+)/metrics`)[0]
	b.outbox = field(`outbox\s+(\S+)`)[0]

	for name, addr := range map[string]string{"gRPC": b.grpc, "HTTP": b.http, "metrics": b.metrics} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("banner %s address %q: %v", name, addr, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("banner %s address %q is not loopback", name, addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n == 0 {
			t.Errorf("banner %s address %q does not name the bound port", name, addr)
		}
	}
	pages, err := url.Parse(b.pages)
	if err != nil || pages.Scheme != "http" {
		t.Fatalf("banner pages URL %q: %v", b.pages, err)
	}
	if _, httpPort, _ := net.SplitHostPort(b.http); pages.Port() != httpPort {
		t.Errorf("banner pages URL %q is not on the HTTP port of %q", b.pages, b.http)
	}
	if b.outbox != b.pages+"/dev/outbox" {
		t.Errorf("banner outbox %q, want %q", b.outbox, b.pages+"/dev/outbox")
	}
	return b
}

// newBrowser is the customer's phone: a client with a cookie jar.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: httpTimeout}
}

// get fetches u and returns its body and status.
func get(t *testing.T, c *http.Client, u string, hdr http.Header) (string, int) {
	t.Helper()
	r := do(t, c, http.MethodGet, u, hdr, nil)
	return r.body, r.status
}

// reply is a response read in full.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends one request and reads the reply.
func do(t *testing.T, c *http.Client, method, u string, hdr http.Header, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// codeInEmail finds the code in the English code email.
var codeInEmail = regexp.MustCompile(`Your verification code:\s+(\d{6})\s`)

// codeFromOutbox polls the dev outbox page until it lists an email to to, and
// returns the 6-digit code in it.
func codeFromOutbox(t *testing.T, c *http.Client, outbox, to string) string {
	t.Helper()
	deadline := time.Now().Add(outboxBound)
	for {
		body, status := get(t, c, outbox, http.Header{"Accept": {"text/html"}})
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", outbox, status, body)
		}
		var found []string
		for _, m := range outboxMessages(t, body) {
			if m.to == to+" (email)" {
				found = append(found, m.text)
			}
		}
		switch len(found) {
		case 0:
		case 1:
			c := codeInEmail.FindStringSubmatch(found[0])
			if c == nil {
				t.Fatalf("the outbox email to %s has no 6-digit code:\n%s", to, found[0])
			}
			return c[1]
		default:
			t.Fatalf("the outbox holds %d emails to %s, want 1", len(found), to)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email to %s reached the dev outbox within %s:\n%s", to, outboxBound, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outboxMessage is one entry of the dev outbox page.
type outboxMessage struct{ to, text string }

// outboxMessages reads the outbox page: each <li> has a <dl> whose "To" entry
// names the recipient and a <pre> with the message text.
func outboxMessages(t *testing.T, page string) []outboxMessage {
	t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse outbox page: %v", err)
	}
	var out []outboxMessage
	for li := range doc.Descendants() {
		if !isElement(li, "li") {
			continue
		}
		var m outboxMessage
		var lastDT string
		for n := range li.Descendants() {
			switch {
			case isElement(n, "dt"):
				lastDT = textOf(n)
			case isElement(n, "dd") && lastDT == "To":
				m.to = textOf(n)
			case isElement(n, "pre"):
				m.text = textOf(n)
			}
		}
		out = append(out, m)
	}
	return out
}

func isElement(n *xhtml.Node, tag string) bool { return n.Type == xhtml.ElementNode && n.Data == tag }

func textOf(n *xhtml.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == xhtml.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

func attr(n *xhtml.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// form is one <form> of a page.
type form struct {
	action, method string
	hidden         url.Values
	fields         []string // names of the visible inputs
}

func pageForms(t *testing.T, page string) []form {
	t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	var out []form
	for n := range doc.Descendants() {
		if !isElement(n, "form") {
			continue
		}
		f := form{hidden: url.Values{}}
		f.action, _ = attr(n, "action")
		f.method, _ = attr(n, "method")
		for in := range n.Descendants() {
			if !isElement(in, "input") {
				continue
			}
			name, _ := attr(in, "name")
			typ, _ := attr(in, "type")
			if typ == "hidden" {
				v, _ := attr(in, "value")
				f.hidden.Add(name, v)
			} else if name != "" {
				f.fields = append(f.fields, name)
			}
		}
		out = append(out, f)
	}
	return out
}

// submitCode opens the code page as the phone's browser does, fills the code
// form and submits it as a browser submits a form.
func submitCode(t *testing.T, c *http.Client, pageURL, code string) {
	t.Helper()
	resp := do(t, c, http.MethodGet, pageURL, http.Header{
		"Accept":          {"text/html,application/xhtml+xml"},
		"User-Agent":      {browserUA},
		"Sec-Fetch-Site":  {"none"},
		"Sec-Fetch-Mode":  {"navigate"},
		"Sec-Fetch-Dest":  {"document"},
		"Accept-Language": {"en"},
	}, nil)
	page := resp.body
	if resp.status != http.StatusOK || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET the code page: %d %s\n%s", resp.status, resp.header.Get("Content-Type"), page)
	}
	if regexp.MustCompile(`(^|\D)` + code + `(\D|$)`).MatchString(page) {
		t.Errorf("the code page shows the one-time code")
	}
	var codeForm *form
	for _, f := range pageForms(t, page) {
		if f.hidden.Get("action") == "code" {
			codeForm = &f
			break
		}
	}
	if codeForm == nil {
		t.Fatalf("the code page has no code form:\n%s", page)
	}
	if !strings.EqualFold(codeForm.method, "post") || codeForm.hidden.Get("nonce") == "" || !slices.Contains(codeForm.fields, "code") {
		t.Fatalf("the code form is not a POST with a nonce and a code field: %+v", *codeForm)
	}
	base, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	target, err := base.Parse(codeForm.action)
	if err != nil {
		t.Fatalf("form action %q: %v", codeForm.action, err)
	}
	values := url.Values{}
	for k, v := range codeForm.hidden {
		values[k] = v
	}
	values.Set("code", code)

	// A browser serializes the Origin of a form POST as "null" when the page's
	// referrer policy is no-referrer, else as the page's origin; it sends no
	// Referer under no-referrer, and always says the request is same-origin.
	origin := base.Scheme + "://" + base.Host
	hdr := http.Header{
		"Content-Type":    {"application/x-www-form-urlencoded"},
		"Accept":          {"text/html,application/xhtml+xml"},
		"User-Agent":      {browserUA},
		"Sec-Fetch-Site":  {"same-origin"},
		"Sec-Fetch-Mode":  {"navigate"},
		"Sec-Fetch-Dest":  {"document"},
		"Sec-Fetch-User":  {"?1"},
		"Accept-Language": {"en"},
	}
	if strings.EqualFold(strings.TrimSpace(resp.header.Get("Referrer-Policy")), "no-referrer") {
		hdr.Set("Origin", "null")
	} else {
		hdr.Set("Origin", origin)
		hdr.Set("Referer", pageURL)
	}
	posted := do(t, c, http.MethodPost, target.String(), hdr, strings.NewReader(values.Encode()))
	if posted.status != http.StatusOK {
		t.Fatalf("POST the code: %d\n%s", posted.status, posted.body)
	}
	if !strings.Contains(html.UnescapeString(posted.body), "You're verified") {
		t.Fatalf("the page did not say the customer is verified:\n%s", posted.body)
	}
}

// event is one line of "authctl verify --json".
type event struct {
	Event        string          `json:"event"`
	Verification json.RawMessage `json:"verification"`
	CustomerURL  string          `json:"customer_url"`
	DMText       string          `json:"dm_text"`
	Claims       json.RawMessage `json:"claims"`
	Error        string          `json:"error"`
}

// verification is the part of an event's verification the test reads.
type verification struct {
	State          string `json:"state"`
	VerifiedMethod string `json:"verified_method"`
}

func (e event) verification(t *testing.T) verification {
	t.Helper()
	var v verification
	if err := json.Unmarshal(e.Verification, &v); err != nil {
		t.Fatalf("event %q: verification: %v", e.Event, err)
	}
	return v
}

// cli is a running authctl.
type cli struct {
	cmd            *exec.Cmd
	stdout, stderr *notifyBuffer
	events         chan event
	readErr        chan error
	exited         chan struct{}
	waitErr        error
}

// startAuthctl runs authctl with args, with no AUTHSVC_* setting inherited, and
// reads its JSON events as it prints them.
func startAuthctl(t *testing.T, bin string, args ...string) *cli {
	t.Helper()
	c := &cli{stdout: newNotifyBuffer(), stderr: newNotifyBuffer(), events: make(chan event, 16),
		readErr: make(chan error, 1), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = cleanEnv()
	c.cmd.Stderr = c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pipe, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start authctl: %v", err)
	}
	pgid := c.cmd.Process.Pid
	go func() {
		out := io.TeeReader(pipe, c.stdout)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				c.readErr <- fmt.Errorf("authctl printed a line that is not a JSON event: %q: %w", sc.Text(), err)
				break
			}
			c.events <- ev
		}
		if err := sc.Err(); err != nil {
			c.readErr <- err
		}
		close(c.events)
		// Keep what follows for the report, and only then let Wait close the pipe.
		_, _ = io.Copy(io.Discard, out)
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		// Drain so the reader reaches Wait.
		go func() {
			for range c.events {
			}
		}()
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("authctl did not exit after SIGKILL")
		}
		if t.Failed() {
			t.Logf("authctl stdout:\n%s\nauthctl stderr:\n%s", c.stdout.String(), c.stderr.String())
		}
	})
	return c
}

// next returns authctl's next event.
func (c *cli) next(t *testing.T, bound time.Duration) event {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			select {
			case err := <-c.readErr:
				t.Fatalf("reading authctl: %v", err)
			default:
			}
			<-c.exited
			t.Fatalf("authctl ended (%v) without another event; stderr:\n%s", c.waitErr, c.stderr.String())
		}
		if ev.Event == "error" {
			t.Fatalf("authctl reported an error: %s", ev.Error)
		}
		return ev
	case err := <-c.readErr:
		t.Fatalf("reading authctl: %v", err)
	case <-time.After(bound):
		t.Fatalf("authctl printed no event within %s", bound)
	}
	panic("unreachable")
}

// waitVerified reads state events until VERIFIED and returns that event; any
// other terminal state fails the test.
func (c *cli) waitVerified(t *testing.T, bound time.Duration) event {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ev := c.next(t, time.Until(deadline))
		if ev.Event != "state" {
			t.Fatalf("authctl printed event %q while watching, want state", ev.Event)
		}
		v := ev.verification(t)
		switch v.State {
		case "STATE_PENDING":
			continue
		case "STATE_VERIFIED":
			if v.VerifiedMethod != "METHOD_OTP_EMAIL" {
				t.Errorf("verified_method %q, want METHOD_OTP_EMAIL", v.VerifiedMethod)
			}
			if len(ev.Claims) == 0 {
				t.Fatalf("the VERIFIED event carries no claims: %s", ev.Verification)
			}
			return ev
		default:
			t.Fatalf("the verification ended %s, want STATE_VERIFIED: %s", v.State, ev.Verification)
		}
	}
}

// wait waits for authctl to exit and returns its exit error (nil for 0).
func (c *cli) wait(bound time.Duration) error {
	go func() {
		for range c.events {
		}
	}()
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(bound):
		return fmt.Errorf("still running %s after VERIFIED", bound)
	}
}

// checkClaims checks the assertion claims authctl printed.
func checkClaims(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var claims struct {
		Iss            string          `json:"iss"`
		Sub            string          `json:"sub"`
		Aud            json.RawMessage `json:"aud"`
		ACR            string          `json:"acr"`
		AMR            []string        `json:"amr"`
		Scope          string          `json:"scope"`
		ConversationID string          `json:"conversation_id"`
		Exp            int64           `json:"exp"`
		Act            struct {
			Sub string `json:"sub"`
		} `json:"act"`
		Social struct {
			Network string `json:"network"`
			UserID  string `json:"user_id"`
		} `json:"social"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("claims %s: %v", raw, err)
	}
	var aud []string
	if err := json.Unmarshal(claims.Aud, &aud); err != nil {
		var one string
		if err := json.Unmarshal(claims.Aud, &one); err != nil {
			t.Fatalf("claims aud %s: neither a string nor a list", claims.Aud)
		}
		aud = []string{one}
	}
	if claims.Sub != "x:12345" {
		t.Errorf("sub %q, want x:12345 (network:user_id without a customer id)", claims.Sub)
	}
	if !slices.Equal(aud, []string{"crm"}) {
		t.Errorf("aud %v, want [crm]", aud)
	}
	if claims.ACR != "urn:authsvc:acr:low" {
		t.Errorf("acr %q, want urn:authsvc:acr:low", claims.ACR)
	}
	if !slices.Contains(claims.AMR, "otp") || !slices.Contains(claims.AMR, "email") {
		t.Errorf("amr %v, want otp and email", claims.AMR)
	}
	if claims.Act.Sub != "agent-7" {
		t.Errorf("act.sub %q, want agent-7", claims.Act.Sub)
	}
	if claims.ConversationID != "conv-1" {
		t.Errorf("conversation_id %q, want conv-1", claims.ConversationID)
	}
	if claims.Scope != "orders:read" {
		t.Errorf("scope %q, want orders:read", claims.Scope)
	}
	// The handle is optional in the claims (the service keeps only its mask),
	// so only the stable identity is required.
	if claims.Social.Network != "x" || claims.Social.UserID != "12345" {
		t.Errorf("social %+v, want network x, user_id 12345", claims.Social)
	}
	if claims.Iss == "" || time.Unix(claims.Exp, 0).Before(time.Now()) {
		t.Errorf("iss %q exp %d: want an issuer and an expiry in the future", claims.Iss, claims.Exp)
	}
}
