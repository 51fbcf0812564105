package grpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// rawCodec is a client codec that sends pre-encoded bytes as they are, so that
// a test can send what no generated client would: invalid UTF-8, a broken
// encoding. Replies are kept as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// invokeRaw calls the unary method with the request bytes raw.
func invokeRaw(ctx context.Context, conn *grpc.ClientConn, method string, raw []byte) error {
	var reply []byte
	return conn.Invoke(ctx, method, raw, &reply, grpc.ForceCodecV2(rawCodec{}))
}

// watchRaw opens the server stream method with the request bytes raw and
// returns how it ends.
func watchRaw(ctx context.Context, conn *grpc.ClientConn, method string, raw []byte) error {
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	if err := s.SendMsg(raw); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		var reply []byte
		if err := s.RecvMsg(&reply); err != nil {
			return err
		}
	}
}

// encode marshals m, then replaces old (which must occur once) by repl, of the
// same length: a way to put invalid UTF-8 where proto.Marshal refuses it.
func encode(t *testing.T, m proto.Message, old, repl string) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if old == "" {
		return b
	}
	if len(old) != len(repl) || bytes.Count(b, []byte(old)) != 1 {
		t.Fatalf("%q must occur once in the encoding and %q have its length", old, repl)
	}
	return bytes.Replace(b, []byte(old), []byte(repl), 1)
}

// requestCount returns authsvc_grpc_requests_total{method, code} in reg.
func requestCount(t *testing.T, reg prometheus.Gatherer, method, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "authsvc_grpc_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["code"] == code {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// callLines returns the "grpc call" log lines of method with code.
func callLines(t *testing.T, logs, method, code string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l["msg"] == "grpc call" && l["method"] == method && l["code"] == code {
			out = append(out, l)
		}
	}
	return out
}

// TestUndecodableRequests: a request that does not decode never reaches a
// handler, whatever the service; it is answered INVALID_ARGUMENT with a
// BadRequest, never INTERNAL with grpc-go's text, and logged and counted like
// any other call.
func TestUndecodableRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{cfg: Config{Reflection: true}})

	twoScopes := validStart("utf8-scope")
	twoScopes.Scopes = []string{"orders:read", "orders:write"}
	malformed := encode(t, validStart("malformed"), "", "")
	malformed = malformed[:len(malformed)-3] // a field cut short

	const start = authsvcv1.VerificationService_StartVerification_FullMethodName
	const watch = authsvcv1.VerificationService_WatchVerification_FullMethodName
	const check = healthpb.Health_Check_FullMethodName
	const reflection = reflectionpb.ServerReflection_ServerReflectionInfo_FullMethodName
	tests := []struct {
		name   string
		method string
		stream bool
		key    string
		raw    []byte
		field  string // "" for a request that is not protobuf at all
	}{
		{"handle", start, false, keyA, encode(t, validStart("utf8-handle"), "@alice", "@al\xffce"), "identity.handle"},
		{"second scope", start, false, keyA, encode(t, twoScopes, "orders:write", "orders:wr\xffte"), "scopes[1]"},
		{"oneof in a nested message", start, false, keyA,
			encode(t, validStart("utf8-email"), "alice.customer", "alice\xed\xa0\x80stomer"), "destination.email"},
		{"broken encoding", start, false, keyA, malformed, ""},
		{"watch", watch, true, keyA, encode(t, &authsvcv1.WatchVerificationRequest{VerificationId: "aaa-bbbb"}, "bbbb", "b\xffbb"), "verification_id"},
		{"health check without a key", check, false, "", encode(t, &healthpb.HealthCheckRequest{Service: "authsvc"}, "authsvc", "auth\xfevc"), "service"},
		{"reflection without a key", reflection, true, "", encode(t, &reflectionpb.ServerReflectionRequest{Host: "authsvc"}, "authsvc", "auth\xfevc"), "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.stream {
				err = watchRaw(as(t, tt.key), f.conn, tt.method, tt.raw)
			} else {
				err = invokeRaw(as(t, tt.key), f.conn, tt.method, tt.raw)
			}
			st := wantCode(t, err, codes.InvalidArgument)
			if strings.Contains(st.Message(), "grpc:") || strings.Contains(st.Message(), "unmarshal") {
				t.Errorf("message %q carries grpc-go's text", st.Message())
			}
			vs := detail[*errdetails.BadRequest](t, st).GetFieldViolations()
			if len(vs) != 1 || vs[0].GetField() != tt.field || vs[0].GetDescription() == "" {
				t.Errorf("field violations %v, want one on %q", vs, tt.field)
			}
			if tt.field != "" && st.Message() != "invalid "+tt.field+": must be valid UTF-8" {
				t.Errorf("message %q", st.Message())
			}
		})
	}
	if n := len(f.outbox.List()); n != 0 {
		t.Errorf("%d messages sent for undecodable requests", n)
	}
	if n := requestCount(t, f.reg, start, "InvalidArgument"); n != 4 {
		t.Errorf("StartVerification InvalidArgument counted %v times, want 4", n)
	}
	for _, m := range []string{watch, check, reflection} {
		if n := requestCount(t, f.reg, m, "InvalidArgument"); n != 1 {
			t.Errorf("%s InvalidArgument counted %v times, want 1", m, n)
		}
	}
	if n := requestCount(t, f.reg, start, "Internal"); n != 0 {
		t.Errorf("INTERNAL counted %v times", n)
	}
	lines := callLines(t, f.logs.String(), start, "InvalidArgument")
	if len(lines) != 4 {
		t.Fatalf("%d log lines of refused StartVerification calls, want 4:\n%s", len(lines), f.logs.String())
	}
	if lines[0]["client_id"] != clientA || lines[0]["cause"] != "request field identity.handle is not valid UTF-8" {
		t.Errorf("log line %v, want client_id and the field in cause", lines[0])
	}
	for _, l := range callLines(t, f.logs.String(), check, "InvalidArgument") {
		if l["cause"] != "request field service is not valid UTF-8" {
			t.Errorf("health log line %v", l)
		}
	}
	if logs := f.logs.String(); strings.Contains(logs, "@al") || strings.Contains(logs, "alice") {
		t.Error("request contents reached the log")
	}
}

// TestOversizedRequests: a request over the limit is answered
// RESOURCE_EXHAUSTED with ErrorInfo MESSAGE_TOO_LARGE and the limit, logged and
// counted; unary and stream alike, and for a smaller configured limit too.
func TestOversizedRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	wantTooLarge := func(t *testing.T, err error, limit int) {
		t.Helper()
		st := wantCode(t, err, codes.ResourceExhausted)
		if strings.Contains(st.Message(), "grpc:") {
			t.Errorf("message %q carries grpc-go's text", st.Message())
		}
		ei := errorInfo(t, st)
		if ei.GetReason() != ReasonMessageTooLarge || ei.GetMetadata()["max_bytes"] != strconv.Itoa(limit) {
			t.Errorf("ErrorInfo %v, want %s with max_bytes %d", ei, ReasonMessageTooLarge, limit)
		}
	}

	big := validStart("big")
	big.ConversationId = strings.Repeat("c", 70_000) // a 70 kB request
	_, err := f.vc.StartVerification(as(t, keyA), big)
	wantTooLarge(t, err, DefaultMaxRecvMsgSize)
	_, err = f.ac.VerifyAssertion(as(t, keyA), &authsvcv1.VerifyAssertionRequest{
		Assertion: strings.Repeat("a", DefaultMaxRecvMsgSize+1), Audience: audience})
	wantTooLarge(t, err, DefaultMaxRecvMsgSize)
	s, err := f.vc.WatchVerification(as(t, keyA), &authsvcv1.WatchVerificationRequest{VerificationId: strings.Repeat("v", 70_000)})
	if err == nil {
		_, err = s.Recv()
	}
	wantTooLarge(t, err, DefaultMaxRecvMsgSize)
	// Exactly the limit is not over it: it decodes and the handler answers.
	exact := &authsvcv1.VerifyAssertionRequest{Audience: audience}
	exact.Assertion = strings.Repeat("a", DefaultMaxRecvMsgSize-proto.Size(exact)-4)
	if n := proto.Size(exact); n != DefaultMaxRecvMsgSize {
		t.Fatalf("request of %d bytes, want %d", n, DefaultMaxRecvMsgSize)
	}
	_, err = f.ac.VerifyAssertion(as(t, keyA), exact)
	wantCode(t, err, codes.InvalidArgument) // the handler's answer to a token that does not verify

	if n := len(f.outbox.List()); n != 0 {
		t.Errorf("%d messages sent for an oversized request", n)
	}
	for m, want := range map[string]float64{
		authsvcv1.VerificationService_StartVerification_FullMethodName: 1,
		authsvcv1.AssertionService_VerifyAssertion_FullMethodName:      1,
		authsvcv1.VerificationService_WatchVerification_FullMethodName: 1,
	} {
		if n := requestCount(t, f.reg, m, "ResourceExhausted"); n != want {
			t.Errorf("%s ResourceExhausted counted %v times, want %v", m, n, want)
		}
	}
	lines := callLines(t, f.logs.String(), authsvcv1.VerificationService_StartVerification_FullMethodName, "ResourceExhausted")
	if len(lines) != 1 || !strings.Contains(lines[0]["cause"].(string), "over the 65536-byte limit") {
		t.Errorf("log lines %v, want one whose cause names the limit", lines)
	}

	// Beyond four times the limit gRPC's own guard refuses the message before
	// reading it: RESOURCE_EXHAUSTED still, without details (documented).
	huge := validStart("huge")
	huge.ConversationId = strings.Repeat("c", maxRecvMsgFactor*DefaultMaxRecvMsgSize)
	_, err = f.vc.StartVerification(as(t, keyA), huge)
	wantCode(t, err, codes.ResourceExhausted)

	// A smaller configured limit applies just the same.
	small := newFixture(t, fixtureOpts{cfg: Config{MaxRecvMsgSize: 1024}})
	big.ConversationId = strings.Repeat("c", 1024)
	_, err = small.vc.StartVerification(as(t, keyA), big)
	wantTooLarge(t, err, 1024)
}

// TestMarkCannotBeForged: a request that carries the mark's field without the
// server's key is an ordinary request with an unknown field.
func TestMarkCannotBeForged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	forged := protowire.AppendTag(nil, markField, protowire.BytesType)
	payload := append(bytes.Repeat([]byte{0}, markKeyLen), byte(faultInvalidUTF8), 1)
	forged = protowire.AppendBytes(forged, append(payload, "audience"...))
	if err := invokeRaw(as(t, keyA), f.conn, authsvcv1.AssertionService_GetJwks_FullMethodName, forged); err != nil {
		t.Errorf("GetJwks with a forged mark: %v", err)
	}
}

// The codec's answers for every fault: decoded, or reset and marked.
func TestRequestCodec(t *testing.T) {
	t.Parallel()
	c, err := newRequestCodec(64)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newRequestCodec(64)
	if err != nil {
		t.Fatal(err)
	}
	ok := encode(t, &authsvcv1.GetVerificationRequest{VerificationId: "abc"}, "", "")
	bad := encode(t, &authsvcv1.GetVerificationRequest{VerificationId: "abc"}, "abc", "a\xffc")
	long := encode(t, &authsvcv1.GetVerificationRequest{VerificationId: strings.Repeat("x", 64)}, "", "")
	for _, tt := range []struct {
		name  string
		raw   []byte
		fault messageFault
		field string
	}{
		{"valid", ok, 0, ""},
		{"invalid UTF-8", bad, faultInvalidUTF8, "verification_id"},
		{"too large", long, faultTooLarge, ""},
		{"broken", ok[:len(ok)-1], faultMalformed, ""},
	} {
		m := &authsvcv1.GetVerificationRequest{}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(tt.raw)}, m); err != nil {
			t.Fatalf("%s: Unmarshal = %v, want nil", tt.name, err)
		}
		e := c.refused(m)
		switch {
		case tt.fault == 0 && (e != nil || m.GetVerificationId() != "abc"):
			t.Errorf("%s: refused %v, message %v", tt.name, e, m)
		case tt.fault != 0 && (e == nil || e.fault != tt.fault || e.field != tt.field || e.size != len(tt.raw) || e.limit != 64):
			t.Errorf("%s: refused %+v, want fault %d field %q size %d", tt.name, e, tt.fault, tt.field, len(tt.raw))
		case tt.fault != 0 && m.GetVerificationId() != "":
			t.Errorf("%s: the refused message was not reset: %v", tt.name, m)
		case tt.fault != 0 && other.refused(m) != nil:
			t.Errorf("%s: another server's codec took the mark", tt.name)
		}
	}
}

// FuzzRequestCodec: whatever the bytes, the codec never fails or panics, and
// it marks exactly the messages protobuf-go refuses or the limit does.
func FuzzRequestCodec(f *testing.F) {
	start, err := proto.Marshal(validStart("fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(start)
	f.Add(bytes.Replace(start, []byte("@alice"), []byte("@al\xffce"), 1))
	f.Add(start[:len(start)-2])
	f.Add([]byte{0xff, 0xff, 0xff})
	c, err := newRequestCodec(1 << 10)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := &authsvcv1.StartVerificationRequest{}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw)}, m); err != nil {
			t.Fatalf("Unmarshal = %v", err)
		}
		want := len(raw) > 1<<10 || proto.Unmarshal(raw, &authsvcv1.StartVerificationRequest{}) != nil
		e := c.refused(m)
		if (e != nil) != want {
			t.Fatalf("refused = %v, want a refusal: %v", e, want)
		}
		if e != nil && e.fault == faultInvalidUTF8 && e.field == "" {
			t.Fatal("an invalid UTF-8 refusal without a field")
		}
	})
}
