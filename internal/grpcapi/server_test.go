package grpcapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
)

func TestAPIKeyRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	headers := map[string]string{
		"none":         "",
		"unknown key":  "Bearer not-a-key",
		"empty bearer": "Bearer ",
		"basic scheme": "Basic " + keyA,
		"bare key":     keyA,
	}
	for name, h := range headers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if h != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", h)
			}
			calls := []func() error{
				func() error { _, err := f.vc.StartVerification(ctx, validStart("k")); return err },
				func() error { _, err := f.ac.GetJwks(ctx, &authsvcv1.GetJwksRequest{}); return err },
				func() error {
					s, err := f.vc.WatchVerification(ctx, &authsvcv1.WatchVerificationRequest{VerificationId: "x"})
					if err == nil {
						_, err = s.Recv()
					}
					return err
				},
			}
			for _, call := range calls {
				st := wantCode(t, call(), codes.Unauthenticated)
				if ei := errorInfo(t, st); ei.GetReason() != "API_KEY_INVALID" {
					t.Errorf("reason = %q", ei.GetReason())
				}
			}
		})
	}
	if n := len(f.outbox.List()); n != 0 {
		t.Errorf("%d messages sent without a key", n)
	}
	// Case of the scheme does not matter.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "bearer "+keyB)
	if _, err := f.ac.GetJwks(ctx, &authsvcv1.GetJwksRequest{}); err != nil {
		t.Errorf("lower-case bearer: %v", err)
	}
}

func TestHealthReflectionAndDrain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{cfg: Config{Reflection: true}})
	hc := healthpb.NewHealthClient(f.conn)
	services := append([]string{""}, servedServices...)
	check := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, svc := range services {
			res, err := hc.Check(as(t, ""), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("Check(%q) without a key: %v", svc, err)
			}
			if res.GetStatus() != want {
				t.Errorf("Check(%q) = %v, want %v", svc, res.GetStatus(), want)
			}
		}
	}
	check(healthpb.HealthCheckResponse_SERVING)

	// Reflection works without a key and lists both services.
	rc, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(as(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	res, err := rc.Recv()
	if err != nil {
		t.Fatalf("reflection without a key: %v", err)
	}
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range servedServices {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	_ = rc.CloseSend()

	f.server.Drain()
	check(healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	_, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: "aaa-aaaaaaaaaaaaaaaa"})
	wantCode(t, err, codes.NotFound)
	_, err = f.vc.GetVerification(as(t, ""), &authsvcv1.GetVerificationRequest{VerificationId: "x"})
	wantCode(t, err, codes.Unauthenticated)

	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var histograms int
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "authsvc_grpc_requests_total":
				counts[labels["method"]+" "+labels["code"]] += m.GetCounter().GetValue()
			case "authsvc_grpc_request_duration_seconds":
				histograms += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	const get = "/authsvc.v1.VerificationService/GetVerification"
	if counts[get+" NotFound"] != 1 || counts[get+" Unauthenticated"] != 1 {
		t.Errorf("request counts = %v", counts)
	}
	if histograms != 2 {
		t.Errorf("latency samples = %d, want 2", histograms)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	clients, err := NewClients(map[string]string{"a": "k"})
	if err != nil {
		t.Fatal(err)
	}
	for field, cfg := range map[string]Config{
		"MaxRecvMsgSize":        {MaxRecvMsgSize: -1},
		"UnaryTimeout":          {UnaryTimeout: -1},
		"MaxInFlightPerClient":  {MaxInFlightPerClient: -1},
		"MaxWatchesPerClient":   {MaxWatchesPerClient: -1},
		"EnrollmentWindow":      {EnrollmentWindow: -1},
		"MaxHealthWatches":      {MaxHealthWatches: -1},
		"ConnectionTimeout":     {ConnectionTimeout: -1},
		"MaxHeaderListSize":     {MaxHeaderListSize: 512},
		"MaxConcurrentStreams":  {MaxConcurrentStreams: 100},
		"MaxConnectionAge":      {MaxConnectionAge: -1},
		"MaxConnectionAgeGrace": {MaxConnectionAgeGrace: -1},
	} {
		if _, err := New(cfg, nil, nil, nil, nil, nil, clients, nil, nil, nil); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", cfg, err, field)
		}
	}
	if _, err := New(Config{}, nil, nil, nil, nil, nil, clients, nil, nil, nil); err == nil {
		t.Error("New accepted missing dependencies")
	}
	// Streams per connection below one client's watches and calls: named with both.
	_, err = New(Config{MaxConcurrentStreams: 1000, MaxWatchesPerClient: 1000}, nil, nil, nil, nil, nil, clients, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "MaxWatchesPerClient + MaxInFlightPerClient (1064)") {
		t.Errorf("New = %v, want the streams bound refused against 1064", err)
	}
}

// The streams per connection left at zero follow raised client limits.
func TestTransportDefaults(t *testing.T) {
	t.Parallel()
	c := Config{MaxWatchesPerClient: 5000, MaxInFlightPerClient: 64}
	c.applyTransportDefaults()
	if err := c.checkTransport(); err != nil || c.MaxConcurrentStreams != 5064 {
		t.Errorf("MaxConcurrentStreams = %d, %v; want 5064", c.MaxConcurrentStreams, err)
	}
	c = Config{MaxWatchesPerClient: DefaultMaxWatchesPerClient, MaxInFlightPerClient: DefaultMaxInFlightPerClient}
	c.applyTransportDefaults()
	want := Config{MaxWatchesPerClient: DefaultMaxWatchesPerClient, MaxInFlightPerClient: DefaultMaxInFlightPerClient,
		MaxHealthWatches: 1000, ConnectionTimeout: 5 * time.Second, MaxHeaderListSize: 16 << 10, MaxConcurrentStreams: 1100,
		MaxConnectionAge: 10 * time.Minute, MaxConnectionAgeGrace: 65 * time.Minute}
	if c != want {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
}

func TestLoadClients(t *testing.T) {
	t.Parallel()
	sum := func(key string) string {
		s := sha256.Sum256([]byte(key))
		return hex.EncodeToString(s[:])
	}
	type entry struct {
		ID        string   `json:"id"`
		Sum       string   `json:"api_key_sha256"`
		Audiences []string `json:"audiences,omitempty"`
	}
	crm := []string{"crm"}
	file := func(es ...entry) string {
		b, _ := json.Marshal(map[string]any{"clients": es})
		return string(b)
	}
	// one is a file of one client with key "ka" whose entry has the fields given
	// (JSON members, without braces) besides id and api_key_sha256.
	one := func(fields string) string {
		return `{"clients":[{"id":"a","api_key_sha256":"` + sum("ka") + `"` + fields + `}]}`
	}
	tests := []struct {
		name    string
		content string
		wantErr string // "" for success
	}{
		{"two clients", file(entry{"platform-a", sum("ka"), crm}, entry{"platform_b", strings.ToUpper(sum("kb")), crm}), ""},
		{"bad id", file(entry{"platform-a", sum("ka"), crm}, entry{"Platform B", sum("kb"), crm}), "clients[1]: id"},
		{"long id", file(entry{strings.Repeat("a", 65), sum("ka"), crm}), "clients[0]: id"},
		{"duplicate id", file(entry{"a", sum("ka"), crm}, entry{"a", sum("kb"), crm}), "clients[1]: id \"a\" repeats clients[0]"},
		{"shared key", file(entry{"a", sum("ka"), crm}, entry{"b", sum("ka"), crm}), "clients[1]: API key"},
		{"short sum", file(entry{"a", sum("ka")[:63], crm}), "clients[0]: api_key_sha256"},
		{"not hex", file(entry{"a", strings.Repeat("zz", 32), crm}), "clients[0]: api_key_sha256"},
		{"no clients", `{"clients":[]}`, "no API clients"},
		{"unknown field", `{"clients":[{"id":"a","audiences":["crm"],"api_key":"secret"}]}`, `clients[0]: json: unknown field "api_key"`},
		{"unknown top-level field", `{"clients":[], "keys":["secret"]}`, "not a clients file"},
		{"not json", `clients: a`, "not a clients file"},
		{"trailing data", one(`,"audiences":["crm"]`) + `{}`, "not a clients file"},
		// Grants.
		{"missing audiences", file(entry{"a", sum("ka"), crm}, entry{"b", sum("kb"), nil}), "clients[1]: audiences is required"},
		{"empty audiences", one(`,"audiences":[]`), "clients[0]: audiences is required"},
		{"wildcard inside an audience", one(`,"audiences":["crm-*"]`), "clients[0]: audiences[0]"},
		{"wildcard with others", one(`,"audiences":["crm","*"]`), "clients[0]: audiences[1]"},
		{"empty audience", one(`,"audiences":[""]`), "clients[0]: audiences[0]: must not be empty"},
		{"repeated audience", one(`,"audiences":["crm","crm"]`), "clients[0]: audiences[1]: repeats"},
		{"long audience", one(`,"audiences":["` + strings.Repeat("a", maxAudience+1) + `"]`), "clients[0]: audiences[0]: must be at most"},
		{"unknown rpc", one(`,"audiences":["crm"],"rpcs":["GetVerification","DeleteEverything"]`), "clients[0]: rpcs[1]: not an RPC"},
		{"rpc of another service", one(`,"audiences":["crm"],"rpcs":["Check"]`), "clients[0]: rpcs[0]: not an RPC"},
		{"empty rpcs", one(`,"audiences":["crm"],"rpcs":[]`), "clients[0]: rpcs: name at least one"},
		{"key pasted as rpc", one(`,"audiences":["crm"],"rpcs":["` + sum("ka") + `"]`), "clients[0]: rpcs[0]"},
		{"bad scope", one(`,"audiences":["crm"],"scopes":["orders:*"]`), "clients[0]: scopes[0]"},
		{"empty data_classes", one(`,"audiences":["crm"],"data_classes":[]`), "clients[0]: data_classes: name at least one"},
		{"boolean as string", one(`,"audiences":["crm"],"may_erase":"yes"`), "clients[0]: json: cannot unmarshal"},
		{"boolean as number", one(`,"audiences":["crm"],"may_link":1`), "clients[0]: json: cannot unmarshal"},
		{"audiences not a list", one(`,"audiences":"crm"`), "clients[0]: json: cannot unmarshal"},
		{"unknown grant", one(`,"audiences":["crm"],"may_delete":true`), `clients[0]: json: unknown field "may_delete"`},
		{"trust of an unknown client", one(`,"audiences":["crm"],"trust_enrollments_from":["ghost"]`),
			`clients[0]: trust_enrollments_from names "ghost"`},
		{"trust not a client id", one(`,"audiences":["crm"],"trust_enrollments_from":["Not A Client"]`),
			"clients[0]: trust_enrollments_from[0]: must be a client id"},
		{"trust wildcard with others", one(`,"audiences":["crm"],"trust_enrollments_from":["a","*"]`),
			"clients[0]: trust_enrollments_from[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "clients.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cs, err := LoadClients(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c, ok := cs.lookup("kb"); !ok || c.ID != "platform_b" {
					t.Errorf("lookup(kb) = %v, %v", c, ok)
				}
				if _, ok := cs.lookup("kc"); ok {
					t.Error("an unknown key was accepted")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), sum("ka")) || strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q quotes key material", err)
			}
		})
	}
	if _, err := LoadClients(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file was accepted")
	}
}

// TestTrustedEnrollers: whose enrollments a client's verifications may use, from
// the clients file: its own always (package challenge adds it), others only as
// listed.
func TestTrustedEnrollers(t *testing.T) {
	t.Parallel()
	sum := func(key string) string {
		s := sha256.Sum256([]byte(key))
		return hex.EncodeToString(s[:])
	}
	path := filepath.Join(t.TempDir(), "clients.json")
	content := `{"clients":[
		{"id":"console","api_key_sha256":"` + sum("k1") + `","audiences":["crm"],"trust_enrollments_from":["app","kiosk"]},
		{"id":"app","api_key_sha256":"` + sum("k2") + `","audiences":["crm"],"trust_enrollments_from":["*"]},
		{"id":"kiosk","api_key_sha256":"` + sum("k3") + `","audiences":["crm"]}]}`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := LoadClients(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client string
		all    bool
		want   []string
	}{{"console", false, []string{"app", "kiosk"}}, {"app", true, nil}, {"kiosk", false, nil}, {"nobody", false, nil}} {
		all, got := cs.TrustedEnrollers(tc.client)
		if all != tc.all || !slices.Equal(got, tc.want) {
			t.Errorf("TrustedEnrollers(%q) = %v, %v; want %v, %v", tc.client, all, got, tc.all, tc.want)
		}
	}
}

// TestLoadClientsGrants reads every field of an entry and checks what the
// client is then allowed, and the defaults of the fields left out.
func TestLoadClientsGrants(t *testing.T) {
	t.Parallel()
	sa, sb := sha256.Sum256([]byte("ka")), sha256.Sum256([]byte("kb"))
	content := `{"clients": [
	  {"id": "care-platform", "api_key_sha256": "` + hex.EncodeToString(sa[:]) + `",
	   "rpcs": ["StartVerification", "WatchVerification", "VerifyAssertion"],
	   "audiences": ["crm", "orders"], "scopes": ["orders:read"], "data_classes": ["order_status"],
	   "may_link": true, "may_enroll": false, "may_erase": true, "may_audit_all": true},
	  {"id": "care-tool", "api_key_sha256": "` + hex.EncodeToString(sb[:]) + `", "audiences": ["*"]}
	]}`
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := LoadClients(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cs.lookup("ka")
	if !a.MayLink || a.MayEnroll || !a.MayErase {
		t.Errorf("care-platform booleans = %v %v %v, want true false true", a.MayLink, a.MayEnroll, a.MayErase)
	}
	p := a.perms
	for fm, want := range map[string]bool{
		authsvcv1.VerificationService_StartVerification_FullMethodName:  true,
		authsvcv1.VerificationService_WatchVerification_FullMethodName:  true,
		authsvcv1.AssertionService_VerifyAssertion_FullMethodName:       true,
		authsvcv1.VerificationService_CancelVerification_FullMethodName: false,
		authsvcv1.AssertionService_GetJwks_FullMethodName:               false,
	} {
		if got := p.rpcs.allows(fm); got != want {
			t.Errorf("care-platform may call %s = %v, want %v", fm, got, want)
		}
	}
	if !p.audiences.allows("orders") || p.audiences.allows("billing") || !p.scopes.allows("orders:read") ||
		p.scopes.allows("orders:write") || !p.dataClasses.allows("order_status") || p.dataClasses.allows("shipping_address") {
		t.Errorf("care-platform lists = %+v", p)
	}
	b, _ := cs.lookup("kb")
	if b.MayLink || b.MayEnroll || b.MayErase {
		t.Error("booleans left out are not false")
	}
	q := b.perms
	enrollment := authsvcv1.EnrollmentService_ServiceDesc.ServiceName
	auditing := authsvcv1.AuditService_ServiceDesc.ServiceName
	handing := authsvcv1.HandoverService_ServiceDesc.ServiceName
	for fm := range rpcNamesReverse() {
		// A missing rpcs list allows VerificationService and AssertionService,
		// never EnrollmentService, AuditService or HandoverService: a file
		// written before they existed grants none of them.
		want := !strings.HasPrefix(fm, "/"+enrollment+"/") && !strings.HasPrefix(fm, "/"+auditing+"/") &&
			!strings.HasPrefix(fm, "/"+handing+"/")
		if got := q.rpcs.allows(fm); got != want {
			t.Errorf("rpcs left out: may call %s = %v, want %v", fm, got, want)
		}
	}
	if q.mayLink || q.mayEnroll || q.mayAuditAll {
		t.Error("compiled booleans left out are not false")
	}
	if !p.mayLink || p.mayEnroll || !p.mayAuditAll {
		t.Errorf("care-platform compiled booleans = %v %v %v, want true false true", p.mayLink, p.mayEnroll, p.mayAuditAll)
	}
	if !q.audiences.allows("anything") || q.scopes.allows("orders:read") || !q.dataClasses.allows("anything") {
		t.Errorf("defaults = %+v; want any audience (\"*\"), no scope, every data class", q)
	}
}

// rpcNamesReverse returns the full method names of rpcNames as a set.
func rpcNamesReverse() map[string]bool {
	out := map[string]bool{}
	for _, fm := range rpcNames {
		out[fm] = true
	}
	return out
}

// TestRPCNamesCoverTheServices: every RPC registered on the server has a short
// name in rpcNames, and no two share one.
func TestRPCNamesCoverTheServices(t *testing.T) {
	t.Parallel()
	count := 0
	for _, sd := range []*grpc.ServiceDesc{&authsvcv1.VerificationService_ServiceDesc, &authsvcv1.AssertionService_ServiceDesc,
		&authsvcv1.EnrollmentService_ServiceDesc, &authsvcv1.AuditService_ServiceDesc, &authsvcv1.HandoverService_ServiceDesc} {
		count += len(sd.Methods) + len(sd.Streams)
	}
	if len(rpcNames) != count || count == 0 {
		t.Fatalf("rpcNames has %d names for %d RPCs: a short name repeats", len(rpcNames), count)
	}
	for short, full := range rpcNames {
		if shortName(full) != short {
			t.Errorf("rpcNames[%q] = %q", short, full)
		}
	}
}

func TestNewClientsWithGrants(t *testing.T) {
	t.Parallel()
	ok := Grants{Audiences: []string{"crm"}}
	for name, tc := range map[string]struct {
		keys   map[string]string
		grants map[string]Grants
	}{
		"no grants":        {map[string]string{"a": "k"}, map[string]Grants{}},
		"grants, no key":   {map[string]string{"a": "k"}, map[string]Grants{"a": ok, "b": ok}},
		"no audiences":     {map[string]string{"a": "k"}, map[string]Grants{"a": {}}},
		"unknown rpc":      {map[string]string{"a": "k"}, map[string]Grants{"a": {RPCs: []string{"Nope"}, Audiences: []string{"crm"}}}},
		"empty key":        {map[string]string{"a": ""}, map[string]Grants{"a": ok}},
		"none":             {map[string]string{}, map[string]Grants{}},
		"mixed wildcard":   {map[string]string{"a": "k"}, map[string]Grants{"a": {Audiences: []string{"*", "crm"}}}},
		"empty data class": {map[string]string{"a": "k"}, map[string]Grants{"a": {Audiences: []string{"crm"}, DataClasses: []string{""}}}},
	} {
		if _, err := NewClientsWithGrants(tc.keys, tc.grants); err == nil {
			t.Errorf("%s: NewClientsWithGrants accepted %v", name, tc.grants)
		}
	}
	cs, err := NewClientsWithGrants(map[string]string{"a": "k"}, map[string]Grants{"a": ok})
	if err != nil {
		t.Fatal(err)
	}
	if c, found := cs.lookup("k"); !found || c.perms == nil || !c.perms.audiences.allows("crm") {
		t.Errorf("lookup = %+v, %v", c, found)
	}
}

func TestNewClients(t *testing.T) {
	t.Parallel()
	for name, keys := range map[string]map[string]string{
		"empty key":  {"a": ""},
		"bad id":     {"A": "k"},
		"shared key": {"a": "k", "b": "k"},
		"none":       {},
	} {
		if _, err := NewClients(keys); err == nil {
			t.Errorf("%s: NewClients accepted %v", name, keys)
		}
	}
}

// The exported contract of Verifications matches the domain service.
var _ Verifications = (*challenge.Service)(nil)
var _ Revocations = (*challenge.Service)(nil)
