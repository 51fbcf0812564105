package web_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/net/html"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/events"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/handover"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/seal"
	"github.com/authsvc/authsvc/internal/syncbuf"
	"github.com/authsvc/authsvc/internal/web"
)

// The domain serves the pages as they are.
var (
	_ web.Pages       = (*challenge.Service)(nil)
	_ web.Enrollments = (*identity.Store)(nil)
	_ web.JWKS        = (*assertion.Keyring)(nil)
)

const clientID = "platform-a"

// env is a real stack: redis-server, the challenge service, and the pages behind
// an httptest.Server whose URL is the public URL.
type env struct {
	t       *testing.T
	srv     *redistest.Server
	proxy   *redistest.Proxy
	rdb     *redis.Client
	clock   *fakeclock.Clock
	outbox  *delivery.Outbox
	svc     *challenge.Service
	ids     *identity.Store
	keyring *assertion.Keyring
	ts      *httptest.Server
	public  string
	logs    *syncbuf.Buffer
	notOK   atomic.Bool // makes Readiness fail
	seq     atomic.Int64
}

type envOpts struct {
	nonceTTL time.Duration
	noOutbox bool
	proxy    bool // reach Redis through a proxy the test can cut
	limits   challenge.Limits
	// devEvents lists event deliveries on the dev outbox page.
	devEvents *events.DevLog
	// localhost makes the public URL http://localhost:PORT (the server still
	// listens on 127.0.0.1): WebAuthn in a browser needs a domain, not an IP.
	localhost bool
	// cues are the brand's logo, colour and official accounts.
	cues web.BrandCues
	// channels, when set, serves handovers to these channels and phone line.
	channels *handover.Registry
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, srv: redistest.Start(t), clock: fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)),
		outbox: delivery.NewOutbox(100), logs: &syncbuf.Buffer{}}
	addr := e.srv.Addr()
	if o.proxy {
		e.proxy = redistest.NewProxy(t, addr)
		addr = e.proxy.Addr()
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 1, DialTimeout: time.Second,
		DialerRetries: 1, DialerRetryTimeout: 10 * time.Millisecond,
		ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { _ = e.rdb.Close() })

	signer, err := assertion.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	e.keyring, err = assertion.NewKeyring([]crypto.Signer{signer}, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}

	e.ts = httptest.NewUnstartedServer(nil)
	e.public = "http://" + e.ts.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(e.ts.Listener.Addr().String())
	if o.localhost {
		e.public = "http://localhost:" + port
	}
	pub, _ := url.Parse(e.public)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.limits.Sends == 0 {
		// These tests drive many flows of one identity to one address from one agent;
		// the send limits have their own tests.
		o.limits.Sends = 1000
		o.limits.Send.Destination.N = 1000
		o.limits.Send.Agent.N = 1000
	}
	// Enrolled factors: a customer store, sealed seeds and a relying party whose
	// only origin is the pages' origin on localhost (an RP ID cannot be an IP).
	seals, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "Acme",
		RPOrigins: []string{"http://localhost:" + port}})
	if err != nil {
		t.Fatal(err)
	}
	e.ids, err = identity.New(identity.Config{PublicURL: pub, Brand: "Acme"}, e.rdb, keys, seals, rp, e.clock.Now,
		rand.Reader, discard)
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = challenge.New(challenge.Config{PublicURL: pub, Brand: "Acme", Limits: o.limits}, e.rdb, e.outbox,
		assertion.NewMinter(e.keyring, "https://authsvc.test", 5*time.Minute), keys, e.clock.Now, rand.Reader,
		discard, challenge.NewMetrics(prometheus.NewRegistry()),
		challenge.WithFactors(challenge.Factors{Links: e.ids, Seeds: seals, WebAuthn: rp}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{PublicURL: pub, Brand: "Acme", DevOutbox: e.outbox, NonceTTL: o.nonceTTL, Cues: o.cues,
		DevEvents: o.devEvents}
	if o.noOutbox {
		cfg.DevOutbox = nil
	}
	ready := func(ctx context.Context) error {
		if e.notOK.Load() {
			return context.DeadlineExceeded
		}
		return e.rdb.Ping(ctx).Err()
	}
	opts := []web.Option{web.WithEnrollments(e.ids)}
	if o.channels != nil {
		opts = append(opts, web.WithHandovers(e.svc, o.channels))
	}
	h, err := web.New(cfg, e.svc, e.keyring, ready, keys, e.clock.Now,
		slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = h
	e.ts.Start()
	t.Cleanup(e.ts.Close)
	return e
}

// started is a verification as the platform started it.
type started struct {
	id     string
	url    string // the customer's page: /v/… for codes, /l/… for magic links
	secret string // the code, or the match number for a magic link
	dm     string // the suggested DM text
}

func (e *env) start(method challenge.Method, locale string) started {
	e.t.Helper()
	n := e.seq.Add(1)
	res, err := e.svc.Start(context.Background(), challenge.StartRequest{
		ClientID: clientID, Identity: challenge.Identity{Network: "x", UserID: "1234567", Handle: "@alice"},
		Methods: []challenge.Method{method}, Audience: "crm", AgentID: "agent-7",
		ConversationID: "conv-" + strings.Repeat("x", int(n)), Locale: locale,
		Destination: &challenge.Destination{Kind: challenge.Email, Value: "alice@example.com"},
		RequestID:   "req-" + e.t.Name() + "-" + strings.Repeat("n", int(n)),
	})
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	s := started{id: res.Verification.ID, dm: res.DMText}
	msg := e.lastSent(s.id)
	if method == challenge.MagicLink {
		s.url = linkPattern.FindString(msg.Text)
		s.secret = res.MatchNumber
	} else {
		s.url = res.PageURL
		s.secret = codePattern.FindString(msg.Text)
	}
	if s.url == "" || s.secret == "" {
		e.t.Fatalf("no page URL or secret for %v", method)
	}
	return s
}

var (
	codePattern = regexp.MustCompile(`\b\d{6}\b`)
	linkPattern = regexp.MustCompile(`http://[^\s]+/l/[A-Za-z0-9._-]+`)
)

func (e *env) lastSent(id string) delivery.OutboxEntry {
	e.t.Helper()
	for _, m := range e.outbox.List() {
		if strings.HasPrefix(m.ID, id+".") {
			return m
		}
	}
	e.t.Fatalf("nothing sent for %s", id)
	return delivery.OutboxEntry{}
}

// get returns the verification as the platform sees it.
func (e *env) get(id string) *challenge.Verification {
	e.t.Helper()
	v, err := e.svc.Get(context.Background(), clientID, id)
	if err != nil {
		e.t.Fatalf("Get: %v", err)
	}
	return v
}

func (e *env) wantState(id string, st challenge.State, reason challenge.Reason, attemptsLeft int) {
	e.t.Helper()
	v := e.get(id)
	if v.State != st || v.Reason != reason || v.AttemptsLeft != attemptsLeft {
		e.t.Fatalf("verification: state %v reason %v attempts left %d; want %v %v %d",
			v.State, v.Reason, v.AttemptsLeft, st, reason, attemptsLeft)
	}
}

// response is a fully read HTTP response.
type response struct {
	public string // the public URL of the server that answered
	status int
	header http.Header
	body   string
}

func (e *env) do(method, target string, form url.Values, header map[string]string) response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends for a form on our page with Referrer-Policy no-referrer.
		req.Header.Set("Origin", "null")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{public: e.public, status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *env) GET(target string, header map[string]string) response {
	e.t.Helper()
	return e.do(http.MethodGet, target, nil, header)
}

func (e *env) POST(target string, form url.Values, header map[string]string) response {
	e.t.Helper()
	return e.do(http.MethodPost, target, form, header)
}

// forms returns a page's forms by their hidden "action" field: the action URL
// under "@action" and every hidden field.
func forms(t *testing.T, body string) map[string]url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]url.Values{}
	for f := range doc.Descendants() {
		if f.Type != html.ElementNode || f.Data != "form" {
			continue
		}
		vals := url.Values{"@action": {attr(f, "action")}}
		for in := range f.Descendants() {
			if in.Type == html.ElementNode && in.Data == "input" && attr(in, "type") == "hidden" {
				vals.Set(attr(in, "name"), attr(in, "value"))
			}
		}
		out[vals.Get("action")] = vals
	}
	return out
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// submit posts a page's form (by its action) with extra fields.
func (e *env) submit(page response, action string, extra url.Values, header map[string]string) response {
	e.t.Helper()
	f, ok := forms(e.t, page.body)[action]
	if !ok {
		e.t.Fatalf("page has no %q form (status %d):\n%s", action, page.status, page.body)
	}
	target := f.Get("@action")
	f.Del("@action")
	for k, v := range extra {
		f[k] = v
	}
	return e.POST(target, f, header)
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.status, status, r.body)
	}
}

// plain is the body with HTML entities decoded.
// plain is the body as a person reads its text: entities decoded, and without the
// <bdi> elements and the invisible FSI/PDI marks that isolate a brand or handle.
func plain(r response) string { return asRead(html.UnescapeString(r.body)) }

// asRead drops what isolates a brand or handle: <bdi> tags and FSI/PDI marks.
func asRead(s string) string {
	return strings.NewReplacer("<bdi>", "", "</bdi>", "", "\u2068", "", "\u2069", "").Replace(s)
}

// choiceValues returns the numbers a magic-link page offers.
func choiceValues(t *testing.T, body string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "button" && attr(n, "name") == "number" {
			out = append(out, attr(n, "value"))
		}
	}
	return out
}

func wantBody(t *testing.T, r response, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(plain(r), s) {
			t.Fatalf("body lacks %q:\n%s", s, r.body)
		}
	}
}
