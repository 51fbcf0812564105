package grpcapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Requests that cannot be decoded.
//
// grpc-go decodes a request before any interceptor runs, and answers a message
// its codec refuses with INTERNAL and the codec's text ("grpc: failed to
// unmarshal the received message: string field contains invalid UTF-8"); a
// message over grpc.MaxRecvMsgSize it refuses before the codec, with its own
// RESOURCE_EXHAUSTED text. Neither reaches the log or the metrics.
//
// So the server runs its own codec (requestCodec, forced for every content
// subtype). It enforces Config.MaxRecvMsgSize itself, and when a message is
// over it or does not decode (invalid UTF-8 in a string field, which
// protobuf-go treats as a fatal error like a malformed encoding) it resets the
// message, marks it, and reports success. The mark is an unknown field that no
// client can send: it starts with a random key drawn for each server. guardUnary
// and guardStream, in the interceptor chain of every method (health and
// reflection included), turn a marked message into the answer the error
// contract gives (see messageError in status.go), so a marked message never
// reaches a handler, and the call is logged and counted like any other.
//
// The mark lives in the message, not in a table beside it, so nothing outlives
// a call that dies between decoding and the interceptor (a unary call whose
// client resets the stream after its message never reaches an interceptor).
//
// grpc-go's own limit stays, at maxRecvMsgFactor times the contract's, as the
// memory guard: it is checked on the length prefix, before the message is read.
// Beyond it the caller gets grpc-go's RESOURCE_EXHAUSTED without details.

// maxRecvMsgFactor is how many times Config.MaxRecvMsgSize grpc-go's own limit
// is: a message between the two is read in full to be refused properly.
const maxRecvMsgFactor = 4

// markField is the field number of the mark: the largest valid one, which no
// authsvc, health or reflection message uses.
const markField protowire.Number = protowire.MaxValidNumber

// markKeyLen is the length of the random key that starts a mark.
const markKeyLen = 16

// maxWalkDepth bounds how deep the search for an invalid UTF-8 field descends
// into nested messages.
const maxWalkDepth = 32

// messageFault is why a request was not decoded.
type messageFault byte

const (
	faultTooLarge messageFault = iota + 1
	faultInvalidUTF8
	faultMalformed
)

// messageError is a request the codec refused: the error the guards answer,
// mapped to a status by toStatus. It holds no request contents: field is a
// path of the message's descriptor, size the message's length.
type messageError struct {
	fault messageFault
	// field is the path of the string field that is not valid UTF-8
	// ("identity.handle", "scopes[1]"); "" when it was not found.
	field string
	// size is the message's length in bytes (decompressed).
	size int
	// limit is Config.MaxRecvMsgSize.
	limit int
}

func (e *messageError) Error() string {
	switch e.fault {
	case faultTooLarge:
		return fmt.Sprintf("request message of %d bytes is over the %d-byte limit", e.size, e.limit)
	case faultInvalidUTF8:
		if e.field == "" {
			return fmt.Sprintf("request message of %d bytes has a string field that is not valid UTF-8", e.size)
		}
		return fmt.Sprintf("request field %s is not valid UTF-8", e.field)
	}
	return fmt.Sprintf("request message of %d bytes is not a valid protobuf encoding", e.size)
}

// requestCodec is the server's codec: protobuf, as grpc-go's default, with
// the request limit and the marking described above.
type requestCodec struct {
	proto encoding.CodecV2
	limit int
	key   [markKeyLen]byte
}

var _ encoding.CodecV2 = (*requestCodec)(nil)

func newRequestCodec(limit int) (*requestCodec, error) {
	c := &requestCodec{proto: encoding.GetCodecV2(grpcproto.Name), limit: limit}
	if c.proto == nil {
		return nil, fmt.Errorf("grpcapi: no %q codec registered", grpcproto.Name)
	}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, fmt.Errorf("grpcapi: draw the codec key: %w", err)
	}
	return c, nil
}

// Name is grpc-go's proto codec's name.
func (c *requestCodec) Name() string { return c.proto.Name() }

// Marshal encodes a response as grpc-go's proto codec does.
func (c *requestCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

// Unmarshal decodes a request into v. A message over the limit, or one that
// does not decode, leaves v reset and marked, and returns nil.
func (c *requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		// Every message authsvc serves is a protobuf-go message.
		return c.proto.Unmarshal(data, v)
	}
	if n := data.Len(); n > c.limit {
		c.mark(m, &messageError{fault: faultTooLarge, size: n, limit: c.limit})
		return nil
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if err := proto.Unmarshal(b, m); err == nil {
		return nil
	}
	e := &messageError{fault: faultMalformed, size: len(b), limit: c.limit}
	if field, ok := invalidUTF8Field(m.ProtoReflect().Descriptor(), b, 0); ok {
		e.fault, e.field = faultInvalidUTF8, field
	}
	c.mark(m, e)
	return nil
}

// mark resets m and sets, as its only unknown field, the mark of e: the key,
// the fault, the size and the field path.
func (c *requestCodec) mark(m proto.Message, e *messageError) {
	proto.Reset(m)
	payload := make([]byte, 0, markKeyLen+1+protowire.SizeVarint(uint64(e.size))+len(e.field))
	payload = append(payload, c.key[:]...)
	payload = append(payload, byte(e.fault))
	payload = protowire.AppendVarint(payload, uint64(e.size))
	payload = append(payload, e.field...)
	raw := protowire.AppendTag(nil, markField, protowire.BytesType)
	raw = protowire.AppendBytes(raw, payload)
	m.ProtoReflect().SetUnknown(raw)
}

// refused returns the messageError v was marked with, or nil when v is not
// marked.
func (c *requestCodec) refused(v any) *messageError {
	m, ok := v.(proto.Message)
	if !ok {
		return nil
	}
	raw := m.ProtoReflect().GetUnknown()
	if len(raw) == 0 {
		return nil
	}
	num, typ, n := protowire.ConsumeTag(raw)
	if n < 0 || num != markField || typ != protowire.BytesType {
		return nil
	}
	payload, n2 := protowire.ConsumeBytes(raw[n:])
	if n2 < 0 || n+n2 != len(raw) || len(payload) < markKeyLen+1 || !bytes.Equal(payload[:markKeyLen], c.key[:]) {
		return nil
	}
	rest := payload[markKeyLen:]
	e := &messageError{fault: messageFault(rest[0]), limit: c.limit}
	size, n3 := protowire.ConsumeVarint(rest[1:])
	if n3 < 0 {
		return nil
	}
	e.size, e.field = int(size), string(rest[1+n3:])
	return e
}

// invalidUTF8Field returns the path of the first string field of the encoded
// message b (of descriptor md) whose value is not valid UTF-8: a field name,
// an index for a repeated field ("scopes[1]"), a dot into a nested message
// ("identity.handle"). A map is named by its field alone: its keys are request
// data. It stops, reporting none, at the first malformed byte.
func invalidUTF8Field(md protoreflect.MessageDescriptor, b []byte, depth int) (string, bool) {
	seen := map[protowire.Number]int{} // occurrences of each repeated field so far
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return "", false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		name := string(fd.Name())
		if fd.IsList() {
			name = fmt.Sprintf("%s[%d]", name, seen[num])
			seen[num]++
		}
		switch {
		case fd.Kind() == protoreflect.StringKind:
			if !utf8.Valid(v) {
				return name, true
			}
		case fd.IsMap():
			if depth < maxWalkDepth {
				if _, ok := invalidUTF8Field(fd.Message(), v, depth+1); ok {
					return string(fd.Name()), true
				}
			}
		case fd.Kind() == protoreflect.MessageKind && depth < maxWalkDepth:
			if sub, ok := invalidUTF8Field(fd.Message(), v, depth+1); ok {
				return name + "." + sub, true
			}
		}
	}
	return "", false
}

// guardUnary answers a unary call whose request the codec marked. It runs in
// the chain of every unary method, inside the observer.
func (c *requestCodec) guardUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if e := c.refused(req); e != nil {
		return nil, toStatus(ctx, e, "")
	}
	return handler(ctx, req)
}

// guardStream makes every message a stream receives pass the same check: a
// marked one ends the stream with the contract's answer.
func (c *requestCodec) guardStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &guardedStream{ServerStream: ss, codec: c})
}

// guardedStream is a ServerStream whose RecvMsg refuses marked messages.
type guardedStream struct {
	grpc.ServerStream
	codec *requestCodec
}

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if e := s.codec.refused(m); e != nil {
		return toStatus(s.Context(), e, "")
	}
	return nil
}
