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
	// the first two; MayErase awaits EraseCustomer.
	MayLink, MayEnroll, MayErase bool

	// perms is what the authorization interceptor checks; nil allows nothing.
	perms *permissions
}

// Clients is the set of API clients, the SHA-256 sums of their keys and their
// grants. It never holds a key in clear and is immutable after construction.
type Clients struct {
	entries []clientEntry
}

type clientEntry struct {
	client Client
	sum    [sha256.Size]byte
}

var clientIDPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// clientsFile is the JSON file LoadClients reads; each entry is a clientFileEntry,
// decoded on its own so that errors can name it.
type clientsFile struct {
	Clients []json.RawMessage `json:"clients"`
}

type clientFileEntry struct {
	ID           string `json:"id"`
	APIKeySHA256 string `json:"api_key_sha256"`
	Grants
}

// LoadClients reads the API clients from a JSON file:
//
//	{"clients": [{"id": "platform-a", "api_key_sha256": "<64 hex digits>",
//	  "rpcs": ["StartVerification", "GetVerification"], "audiences": ["crm"],
//	  "scopes": ["orders:read"], "data_classes": ["order_status"],
//	  "may_link": false, "may_enroll": false, "may_erase": false}]}
//
// Ids must match [a-z0-9_-]{1,64} and be unique, each sum must be 64 hex digits and
// no two clients may share a key. The other fields are Grants; audiences is
// required. Unknown fields are refused. Errors name the entry by index and never
// quote a sum or a value.
func LoadClients(path string) (*Clients, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read api clients: %w", err)
	}
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
		if len(c.APIKeySHA256) != 2*sha256.Size {
			return nil, fmt.Errorf("%s: clients[%d]: api_key_sha256 must be %d hex digits", path, i, 2*sha256.Size)
		}
		if _, err := hex.Decode(e.sum[:], []byte(c.APIKeySHA256)); err != nil {
			return nil, fmt.Errorf("%s: clients[%d]: api_key_sha256 must be %d hex digits", path, i, 2*sha256.Size)
		}
		entries = append(entries, e)
	}
	cs, err := newClients(entries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
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
		e.sum = sha256.Sum256([]byte(key))
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
	if len(entries) == 0 {
		return nil, errors.New("grpcapi: no API clients")
	}
	for i, e := range entries {
		if !clientIDPattern.MatchString(e.client.ID) {
			return nil, fmt.Errorf("clients[%d]: id must match [a-z0-9_-]{1,64}", i)
		}
		for j := range i {
			if entries[j].client.ID == e.client.ID {
				return nil, fmt.Errorf("clients[%d]: id %q repeats clients[%d]", i, e.client.ID, j)
			}
			if entries[j].sum == e.sum {
				return nil, fmt.Errorf("clients[%d]: API key is also the key of clients[%d]", i, j)
			}
		}
	}
	return &Clients{entries: entries}, nil
}

// lookup returns the client whose key is key. It hashes the key once and compares
// the sum with every entry in constant time, without stopping at a match.
func (c *Clients) lookup(key string) (Client, bool) {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range c.entries {
		if subtle.ConstantTimeCompare(sum[:], c.entries[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Client{}, false
	}
	return c.entries[found].client, true
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

// exemptServices need no API key: probes and grpcurl must work without one.
var exemptServices = map[string]bool{
	healthpb.Health_ServiceDesc.ServiceName:                    true,
	reflectionv1.ServerReflection_ServiceDesc.ServiceName:      true,
	reflectionv1alpha.ServerReflection_ServiceDesc.ServiceName: true,
}

func exempt(fullMethod string) bool {
	svc, _, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return ok && exemptServices[svc]
}

// authenticator checks the bearer API key of every call.
type authenticator struct {
	clients *Clients
}

// errAPIKey is the one answer to a missing, malformed or unknown key.
func errAPIKey() error {
	st := status.New(codes.Unauthenticated, "missing or unknown API key")
	return withDetails(st, &errdetails.ErrorInfo{Reason: ReasonAPIKeyInvalid, Domain: errorDomain})
}

// authenticate returns ctx carrying the client whose key the call presents.
func (a *authenticator) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return nil, errAPIKey()
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || key == "" {
		return nil, errAPIKey()
	}
	c, ok := a.clients.lookup(key)
	if !ok {
		return nil, errAPIKey()
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

func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return handler(srv, ss)
	}
	ctx, err := a.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
}

// contextStream is a ServerStream with a derived context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
