package grpcapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
)

// Client is an authenticated caller: a care platform or tool, with what its
// entry in the clients file grants it.
type Client struct {
	// ID names the client; verifications belong to it. Safe to log.
	ID string
	// MayLink, MayEnroll and MayErase are the client's grants of the same names
	// (see Grants). LinkIdentity, CreateEnrollmentLink and RemoveFactor consult
	// the first two; EraseCustomer needs MayErase.
	MayLink, MayEnroll, MayErase bool

	// perms is what the authorization interceptor checks; nil allows nothing.
	perms *permissions
}

// Clients is the set of API clients: the SHA-256 sums of their API keys, the
// certificate identities that name them, and their grants. It never holds a key
// in clear. A set read by LoadClients can be re-read with Reload; every call is
// authenticated against one whole version of the set, the one before a reload
// or the one after, never a mix.
type Clients struct {
	// path is the file LoadClients read; "" for a set built in code.
	path string
	// mu serializes Reload.
	mu  sync.Mutex
	cur atomic.Pointer[clientSet]
}

// clientSet is one version of the clients, immutable once built.
type clientSet struct {
	entries []clientEntry
	// byCert maps each certificate identity to the index of its entry.
	byCert map[certName]int
	// digest is the SHA-256 of the file the set was read from, so that Reload
	// can tell an unchanged file.
	digest [sha256.Size]byte
	// replaced is closed when Reload replaces this set, so that open streams
	// authenticated against it check their credentials again.
	replaced chan struct{}
}

type clientEntry struct {
	client Client
	// hasKey tells whether sum is the sum of an API key; a client named only by
	// its certificate has none.
	hasKey bool
	sum    [sha256.Size]byte
	// cert is the certificate identity that names the client; zero for none.
	cert certName
}

var clientIDPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// clientsFile is the JSON file LoadClients reads; each entry is a clientFileEntry,
// decoded on its own so that errors can name it.
type clientsFile struct {
	Clients []json.RawMessage `json:"clients"`
}

type clientFileEntry struct {
	ID           string            `json:"id"`
	APIKeySHA256 *string           `json:"api_key_sha256"`
	Cert         *certFileIdentity `json:"cert"`
	Grants
}

// LoadClients reads the API clients from a JSON file:
//
//	{"clients": [{"id": "platform-a", "api_key_sha256": "<64 hex digits>",
//	  "cert": {"uri_san": "spiffe://brand.example/platform-a"},
//	  "rpcs": ["StartVerification", "GetVerification"], "audiences": ["crm"],
//	  "scopes": ["orders:read"], "data_classes": ["order_status"],
//	  "may_link": false, "may_enroll": false, "may_erase": false}]}
//
// Ids must match [a-z0-9_-]{1,64} and be unique. An entry names how the client
// authenticates: api_key_sha256 (64 hex digits, the SHA-256 of its API key),
// cert (the one subject alternative name its client certificate carries, see
// below), or both; no two clients may share a key or a cert. The other fields
// are Grants; audiences is required. Unknown fields are refused. Errors name
// the entry by index and never quote a sum or a value.
//
// cert holds exactly one of "uri_san" (an absolute URI such as a SPIFFE ID,
// written as Go's url package prints it) or "dns_san" (a lower-case DNS name,
// no wildcard). A verified client certificate names the client whose cert
// equals one of its URI or DNS SANs exactly (DNS names compared without
// regard to case). The subject common name is never used: it is not a SAN,
// and a CA that issues DNS names for servers may put anything there.
func LoadClients(path string) (*Clients, error) {
	set, err := readClients(path)
	if err != nil {
		return nil, err
	}
	c := &Clients{path: path}
	c.cur.Store(set)
	return c, nil
}

// Reload re-reads the file LoadClients read. When its content changed and is a
// valid clients file, the new set replaces the old one at once: every call
// authenticated from then on, on new and open connections alike, sees it, so a
// key or cert removed from the file is refused from the next call on. An
// invalid file keeps the set in use and returns the error LoadClients would.
// changed reports whether the set was replaced. A set not read from a file
// cannot be reloaded.
func (c *Clients) Reload() (changed bool, err error) {
	if c.path == "" {
		return false, errors.New("grpcapi: these clients were not read from a file")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, err := os.ReadFile(c.path)
	if err != nil {
		return false, fmt.Errorf("read api clients: %w", err)
	}
	if sha256.Sum256(raw) == c.cur.Load().digest {
		return false, nil
	}
	set, err := parseClients(c.path, raw)
	if err != nil {
		return false, err
	}
	close(c.cur.Swap(set).replaced)
	return true, nil
}

// CertOnly returns the ids of the clients that authenticate only with a client
// certificate (a cert, no api_key_sha256), sorted.
func (c *Clients) CertOnly() []string {
	return c.ids(func(e clientEntry) bool { return !e.hasKey })
}

// KeyOnly returns the ids of the clients that authenticate only with an API key
// (no cert), sorted.
func (c *Clients) KeyOnly() []string {
	return c.ids(func(e clientEntry) bool { return e.cert == (certName{}) })
}

func (c *Clients) ids(match func(clientEntry) bool) []string {
	if c.empty() {
		return nil
	}
	var out []string
	for _, e := range c.current().entries {
		if match(e) {
			out = append(out, e.client.ID)
		}
	}
	slices.Sort(out)
	return out
}

// current returns the set in force.
func (c *Clients) current() *clientSet { return c.cur.Load() }

// empty tells whether c holds no client at all.
func (c *Clients) empty() bool {
	if c == nil {
		return true
	}
	set := c.cur.Load()
	return set == nil || len(set.entries) == 0
}

// readClients reads and parses a clients file.
func readClients(path string) (*clientSet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read api clients: %w", err)
	}
	return parseClients(path, raw)
}

// parseClients parses the content raw of the clients file at path.
func parseClients(path string, raw []byte) (*clientSet, error) {
	var f clientsFile
	if err := decodeStrict(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: not a clients file: %w", path, err)
	}
	entries := make([]clientEntry, 0, len(f.Clients))
	for i, rawEntry := range f.Clients {
		var c clientFileEntry
		if err := decodeStrict(rawEntry, &c); err != nil {
			return nil, fmt.Errorf("%s: clients[%d]: %w", path, i, err)
		}
		e, err := newEntry(c.ID, c.Grants)
		if err != nil {
			return nil, fmt.Errorf("%s: clients[%d]: %w", path, i, err)
		}
		if c.APIKeySHA256 == nil && c.Cert == nil {
			return nil, fmt.Errorf("%s: clients[%d]: name how the client authenticates: api_key_sha256, cert or both", path, i)
		}
		if sum := c.APIKeySHA256; sum != nil {
			if len(*sum) != 2*sha256.Size {
				return nil, fmt.Errorf("%s: clients[%d]: api_key_sha256 must be %d hex digits", path, i, 2*sha256.Size)
			}
			if _, err := hex.Decode(e.sum[:], []byte(*sum)); err != nil {
				return nil, fmt.Errorf("%s: clients[%d]: api_key_sha256 must be %d hex digits", path, i, 2*sha256.Size)
			}
			e.hasKey = true
		}
		if c.Cert != nil {
			if e.cert, err = c.Cert.parse(); err != nil {
				return nil, fmt.Errorf("%s: clients[%d]: cert: %w", path, i, err)
			}
		}
		entries = append(entries, e)
	}
	set, err := newClientSet(entries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set.digest = sha256.Sum256(raw)
	return set, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// anything after the value. Its errors name fields, never values.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// newEntry compiles the grants of client id; the caller sets the sum.
func newEntry(id string, g Grants) (clientEntry, error) {
	p, err := g.compile()
	if err != nil {
		return clientEntry{}, err
	}
	return clientEntry{client: Client{ID: id, MayLink: g.MayLink, MayEnroll: g.MayEnroll, MayErase: g.MayErase, perms: p}}, nil
}

// NewClients builds the client set from client ids and their plaintext API keys,
// for tests and benchmarks: every client may call every RPC and name any
// audience, scope and data class. The same rules as LoadClients apply; keys must
// not be empty.
func NewClients(keys map[string]string) (*Clients, error) {
	grants := make(map[string]Grants, len(keys))
	for id := range keys {
		grants[id] = allGrants()
	}
	return NewClientsWithGrants(keys, grants)
}

// NewClientsWithGrants builds the client set from client ids, their plaintext API
// keys and their grants, for dev mode and tests. Every id needs both a key and
// grants; the same rules as LoadClients apply and keys must not be empty.
func NewClientsWithGrants(keys map[string]string, grants map[string]Grants) (*Clients, error) {
	entries := make([]clientEntry, 0, len(keys))
	for id, key := range keys {
		if key == "" {
			return nil, fmt.Errorf("grpcapi: client %q: empty API key", id)
		}
		g, ok := grants[id]
		if !ok {
			return nil, fmt.Errorf("grpcapi: client %q: no grants", id)
		}
		e, err := newEntry(id, g)
		if err != nil {
			return nil, fmt.Errorf("grpcapi: client %q: %w", id, err)
		}
		e.sum, e.hasKey = sha256.Sum256([]byte(key)), true
		entries = append(entries, e)
	}
	for id := range grants {
		if _, ok := keys[id]; !ok {
			return nil, fmt.Errorf("grpcapi: client %q: grants but no API key", id)
		}
	}
	// Map order is random; sort so errors are stable.
	slices.SortFunc(entries, func(a, b clientEntry) int { return strings.Compare(a.client.ID, b.client.ID) })
	return newClients(entries)
}

func newClients(entries []clientEntry) (*Clients, error) {
	set, err := newClientSet(entries)
	if err != nil {
		return nil, err
	}
	c := &Clients{}
	c.cur.Store(set)
	return c, nil
}

// newClientSet checks entries (ids, and no key or cert shared) and indexes them.
func newClientSet(entries []clientEntry) (*clientSet, error) {
	if len(entries) == 0 {
		return nil, errors.New("grpcapi: no API clients")
	}
	byCert := map[certName]int{}
	for i, e := range entries {
		if !clientIDPattern.MatchString(e.client.ID) {
			return nil, fmt.Errorf("clients[%d]: id must match [a-z0-9_-]{1,64}", i)
		}
		for j := range i {
			if entries[j].client.ID == e.client.ID {
				return nil, fmt.Errorf("clients[%d]: id %q repeats clients[%d]", i, e.client.ID, j)
			}
			if e.hasKey && entries[j].hasKey && entries[j].sum == e.sum {
				return nil, fmt.Errorf("clients[%d]: API key is also the key of clients[%d]", i, j)
			}
		}
		if e.cert != (certName{}) {
			if j, dup := byCert[e.cert]; dup {
				return nil, fmt.Errorf("clients[%d]: cert is also the cert of clients[%d]", i, j)
			}
			byCert[e.cert] = i
		}
	}
	for i, e := range entries {
		if e.client.perms == nil {
			continue
		}
		for id := range e.client.perms.trust.set {
			if !slices.ContainsFunc(entries, func(o clientEntry) bool { return o.client.ID == id }) {
				return nil, fmt.Errorf("clients[%d]: trust_enrollments_from names %q, which is not a client of the file", i, id)
			}
		}
	}
	return &clientSet{entries: entries, byCert: byCert, replaced: make(chan struct{})}, nil
}

// TrustedEnrollers returns the clients whose enrollments a verification of client
// may use besides its own, from the clients file's trust_enrollments_from (all
// is true for "*"), in the set in force. An unknown client trusts no one. It
// implements package challenge's EnrollmentTrust.
func (c *Clients) TrustedEnrollers(client string) (all bool, clients []string) {
	if c.empty() {
		return false, nil
	}
	for _, e := range c.current().entries {
		if e.client.ID != client || e.client.perms == nil {
			continue
		}
		t := e.client.perms.trust
		if t.any {
			return true, nil
		}
		for id := range t.set {
			clients = append(clients, id)
		}
		slices.Sort(clients)
		return false, clients
	}
	return false, nil
}

// lookup returns the client whose key is key, in the set in force.
func (c *Clients) lookup(key string) (Client, bool) { return c.current().lookup(key) }

// lookup returns the client whose key is key. It hashes the key once and compares
// the sum with every entry in constant time, without stopping at a match.
func (s *clientSet) lookup(key string) (Client, bool) {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range s.entries {
		if subtle.ConstantTimeCompare(sum[:], s.entries[i].sum[:]) == 1 && s.entries[i].hasKey {
			found = i
		}
	}
	if found < 0 {
		return Client{}, false
	}
	return s.entries[found].client, true
}

// clientKey is the context key of the authenticated Client: request-scoped data
// set by the auth interceptor and read by the handlers of this package only.
type clientKey struct{}

func withClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// clientFrom returns the authenticated client of a call.
func clientFrom(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(clientKey{}).(Client)
	return c, ok && c.ID != ""
}

// exemptServices need no credentials: probes and grpcurl must work without one.
var exemptServices = map[string]bool{
	healthpb.Health_ServiceDesc.ServiceName:                    true,
	reflectionv1.ServerReflection_ServiceDesc.ServiceName:      true,
	reflectionv1alpha.ServerReflection_ServiceDesc.ServiceName: true,
}

func exempt(fullMethod string) bool {
	svc, _, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return ok && exemptServices[svc]
}

// authenticator names the client of every call: by the verified client
// certificate of its connection, by its bearer API key, or by both when they
// name the same client.
type authenticator struct {
	clients *Clients
}

// errAPIKey is the one answer to a missing, malformed or unknown key.
func errAPIKey() error {
	st := status.New(codes.Unauthenticated, "missing or unknown API key")
	return withDetails(st, &errdetails.ErrorInfo{Reason: ReasonAPIKeyInvalid, Domain: errorDomain})
}

// errKeyNotCert answers a key of one client on a connection whose certificate
// names another. cause, for the log, names both clients.
func errKeyNotCert(cause error) error {
	st, _ := status.New(codes.Unauthenticated, "the API key and the client certificate name different clients").WithDetails(
		&errdetails.ErrorInfo{Reason: ReasonAPIKeyInvalid, Domain: errorDomain})
	return &causeError{st: st, cause: cause}
}

// authenticate returns ctx carrying the client the call presents. A verified
// client certificate names a client, or the call is refused; an API key, when
// the call sends one, must be valid and, with a certificate, be the key of the
// same client. A call with neither is refused as a missing key.
func (a *authenticator) authenticate(ctx context.Context) (context.Context, error) {
	return a.authenticateIn(ctx, a.clients.current())
}

// authenticateIn is authenticate against one version of the clients.
func (a *authenticator) authenticateIn(ctx context.Context, set *clientSet) (context.Context, error) {
	var byCert *Client
	if leaf := verifiedLeaf(ctx); leaf != nil {
		c, err := set.lookupCert(leaf)
		if err != nil {
			return nil, err
		}
		byCert = &c
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 && byCert != nil {
		setClientID(ctx, byCert.ID)
		return withClient(ctx, *byCert), nil
	}
	if len(vals) != 1 {
		return nil, errAPIKey()
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || key == "" {
		return nil, errAPIKey()
	}
	c, ok := set.lookup(key)
	if !ok {
		return nil, errAPIKey()
	}
	if byCert != nil && byCert.ID != c.ID {
		return nil, errKeyNotCert(fmt.Errorf("API key of client %s on a connection whose certificate names client %s", c.ID, byCert.ID))
	}
	setClientID(ctx, c.ID)
	return withClient(ctx, c), nil
}

func (a *authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// stream authenticates a stream like a unary call, and then again each time the
// clients are reloaded while it is open: a stream whose key or certificate was
// revoked, or whose client may no longer call its RPC, ends at once with the
// status a new call would get, instead of living on for as long as the client
// keeps it open.
func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return handler(srv, ss)
	}
	set := a.clients.current()
	ctx, err := a.authenticateIn(ss.Context(), set)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go a.recheck(ctx, ss.Context(), set, info.FullMethod, cancel)
	err = handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	var r revoked
	if errors.As(context.Cause(ctx), &r) {
		return r.err
	}
	return err
}

// revoked is why a stream was ended by a reload of the clients: r.err is the
// status a new call would have got.
type revoked struct{ err error }

func (r revoked) Error() string { return r.err.Error() }

// recheck waits for the clients set to be replaced while ctx lives, and cancels
// the stream when its original call (orig) no longer authenticates, or its client
// may no longer call fullMethod.
func (a *authenticator) recheck(ctx, orig context.Context, set *clientSet, fullMethod string, cancel context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-set.replaced:
		}
		set = a.clients.current()
		authed, err := a.authenticateIn(orig, set)
		if err == nil {
			c, _ := clientFrom(authed)
			err = c.perms.authorize(fullMethod, nil)
		}
		if err != nil {
			cancel(revoked{err})
			return
		}
	}
}

// contextStream is a ServerStream with a derived context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
