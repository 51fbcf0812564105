package challenge

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/fakeclock"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// flakySender fails the sends it is told to, and otherwise records into an outbox.
type flakySender struct {
	*delivery.Outbox
	mu    sync.Mutex
	fails int
}

func (f *flakySender) Send(ctx context.Context, m delivery.Message) error {
	f.mu.Lock()
	fail := f.fails > 0
	if fail {
		f.fails--
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("%w: gateway said no", delivery.ErrSend)
	}
	return f.Outbox.Send(ctx, m)
}

type fixture struct {
	t        *testing.T
	srv      *redistest.Server
	rdb      *redis.Client
	clock    *fakeclock.Clock
	sender   *flakySender
	svc      *Service
	keyring  *assertion.Keyring
	verifier *assertion.Verifier
	logs     *syncbuf.Buffer
	starts   atomic.Int32
}

const issuer = "https://verify.example.com"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	return newFixtureOn(t, srv, srv.Client(t), false)
}

func newFixtureOn(t *testing.T, srv *redistest.Server, rdb redis.UniversalClient, sharded bool) *fixture {
	t.Helper()
	return newFixtureWith(t, srv, rdb, Config{ShardedPubSub: sharded})
}

// newFixtureWith builds a service on rdb with cfg (PublicURL and Brand are filled in).
func newFixtureWith(t *testing.T, srv *redistest.Server, rdb redis.UniversalClient, cfg Config, opts ...Option) *fixture {
	t.Helper()
	signer, err := assertion.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := assertion.NewKeyring([]crypto.Signer{signer}, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{42}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	sender := &flakySender{Outbox: delivery.NewOutbox(500)}
	logs := &syncbuf.Buffer{}
	pub, _ := url.Parse("https://verify.example.com")
	cfg.PublicURL, cfg.Brand = pub, "Acme"
	svc, err := New(cfg, rdb, sender,
		assertion.NewMinter(kr, issuer, 5*time.Minute), keys, clk.Now, rand.Reader,
		slog.New(slog.NewTextHandler(logs, nil)), NewMetrics(prometheus.NewRegistry()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: srv, clock: clk, sender: sender, svc: svc, keyring: kr,
		verifier: assertion.NewVerifier(kr, issuer, clk.Now), logs: logs}
	if c, ok := rdb.(*redis.Client); ok {
		f.rdb = c
	}
	return f
}

// startReq is a valid request; each call gets its own request id and conversation.
func (f *fixture) startReq(method Method, dest *Destination) StartRequest {
	n := f.starts.Add(1)
	return StartRequest{
		ClientID:   "platform-a",
		Identity:   Identity{Network: "x", UserID: "1234567", Handle: "@alice"},
		CustomerID: "cust-42", Methods: []Method{method}, Audience: "crm", Scopes: []string{"orders:read"},
		AgentID: "agent-7", ConversationID: fmt.Sprint("conv-", n), Destination: dest, Locale: "en",
		RequestID: fmt.Sprint("req-", n),
	}
}

var email = &Destination{Kind: Email, Value: "alice@example.com"}
var phone = &Destination{Kind: Phone, Value: "+14155550100"}

func (f *fixture) start(method Method, dest *Destination) *StartResult {
	f.t.Helper()
	res, err := f.svc.Start(context.Background(), f.startReq(method, dest))
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	return res
}

var codePattern = regexp.MustCompile(`\b\d{6}\b`)
var linkPattern = regexp.MustCompile(`https://verify\.example\.com/l/[A-Za-z0-9._-]+`)

// lastSent returns the newest message sent to a verification.
func (f *fixture) lastSent(id string) delivery.OutboxEntry {
	f.t.Helper()
	for _, e := range f.sender.List() {
		if strings.HasPrefix(e.ID, id+".") {
			return e
		}
	}
	f.t.Fatalf("nothing sent for %s", id)
	return delivery.OutboxEntry{}
}

func (f *fixture) sentCount(id string) int {
	n := 0
	for _, e := range f.sender.List() {
		if strings.HasPrefix(e.ID, id+".") {
			n++
		}
	}
	return n
}

func (f *fixture) code(id string) string {
	f.t.Helper()
	c := codePattern.FindString(f.lastSent(id).Text)
	if c == "" {
		f.t.Fatal("no code in the message")
	}
	return c
}

func (f *fixture) linkToken(id string) string {
	f.t.Helper()
	l := linkPattern.FindString(f.lastSent(id).Text)
	if l == "" {
		f.t.Fatal("no link in the message")
	}
	return strings.TrimPrefix(l, "https://verify.example.com/l/")
}

func pageToken(t *testing.T, res *StartResult) string {
	t.Helper()
	_, tok, ok := strings.Cut(res.PageURL, "/v/")
	if !ok {
		t.Fatalf("page URL %q has no /v/", res.PageURL)
	}
	return tok
}

func (f *fixture) get(id string) *Verification {
	f.t.Helper()
	v, err := f.svc.Get(context.Background(), "platform-a", id)
	if err != nil {
		f.t.Fatalf("Get: %v", err)
	}
	return v
}

func wrongCode(right string) string {
	if right == "000000" {
		return "000001"
	}
	return "000000"
}

var _ = assurance.Low
var _ = errors.Is

// tagOf is the hash tag a start request's verification lives under: its
// customer's when it names one, its identity's otherwise.
func tagOf(keys *keyedhash.Ring, r StartRequest) string {
	if r.CustomerID != "" {
		return identity.CustomerTag(keys, r.CustomerID)
	}
	return identity.IdentityTag(keys, r.Identity.Network, r.Identity.UserID)
}

// grant names the assertion of verification id as its claims would: its jti (of
// the record as it is now), client and conversation. An id without a record gets
// the client and conversation of the fixture's requests.
func (f *fixture) grant(id string) Grant {
	f.t.Helper()
	rec, err := f.svc.store.load(context.Background(), id)
	if errors.Is(err, ErrNotFound) {
		return Grant{VerificationID: id, AssertionID: "gone", ClientID: "platform-a", ConversationID: "conv-1"}
	}
	if err != nil {
		f.t.Fatal(err)
	}
	v := f.svc.view(rec, id, f.clock.Now())
	return Grant{VerificationID: id, AssertionID: f.svc.jti(id, strconv.FormatInt(v.Created.UnixMilli(), 10)),
		ClientID: v.ClientID, ConversationID: v.ConversationID}
}
