package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// maxAssertion is the largest assertion the API accepts (8 KiB); stdin is read
// up to one byte more so that a larger input is reported, not truncated.
const maxAssertion = 8 << 10

// cmdJwks runs "authctl jwks".
func cmdJwks(ctx context.Context, g *globals, args []string, e env) int {
	fs := newFlagSet("jwks")
	g.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError(e, fmt.Errorf("jwks: %w", err))
	}
	if err := requireArgs("jwks", pos, 0, ""); err != nil {
		return usageError(e, err)
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	cctx, cancel := g.unary(ctx)
	defer cancel()
	resp, err := authsvcv1.NewAssertionServiceClient(conn).GetJwks(cctx, &authsvcv1.GetJwksRequest{})
	if err != nil {
		return rpcFailure(e.stderr, "get jwks", err)
	}
	doc := []byte(resp.GetJwksJson())
	if len(doc) == 0 {
		// Older servers may fill only the typed keys: build the document from them.
		keys := make([]json.RawMessage, 0, len(resp.GetKeys()))
		for _, k := range resp.GetKeys() {
			keys = append(keys, protoJSON(k))
		}
		doc, _ = json.Marshal(map[string]any{"keys": keys})
	}
	printPrettyJSON(e.stdout, doc)
	return exitOK
}

// cmdAssertion runs "authctl assertion verify TOKEN|- --audience A".
func cmdAssertion(ctx context.Context, g *globals, args []string, e env) int {
	if len(args) == 0 || args[0] != "verify" {
		return usageError(e, errors.New("assertion: want 'assertion verify TOKEN|- --audience AUD'"))
	}
	var audience string
	var jsonOut bool
	fs := newFlagSet("assertion verify")
	g.register(fs)
	fs.StringVar(&audience, "audience", "", "")
	fs.BoolVar(&jsonOut, "json", false, "")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return usageError(e, fmt.Errorf("assertion verify: %w", err))
	}
	if err := requireArgs("assertion verify", pos, 1, "TOKEN (or - to read stdin)"); err != nil {
		return usageError(e, err)
	}
	if audience == "" {
		return usageError(e, errors.New("assertion verify: missing --audience"))
	}
	token := pos[0]
	if token == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxAssertion+2))
		if err != nil {
			return usageError(e, fmt.Errorf("assertion verify: read stdin: %w", err))
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return usageError(e, errors.New("assertion verify: empty token"))
	}
	if len(token) > maxAssertion {
		return usageError(e, fmt.Errorf("assertion verify: token longer than %d bytes", maxAssertion))
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	cctx, cancel := g.unary(ctx)
	defer cancel()
	resp, err := authsvcv1.NewAssertionServiceClient(conn).VerifyAssertion(cctx,
		&authsvcv1.VerifyAssertionRequest{Assertion: token, Audience: audience})
	if err != nil {
		if refused(err) {
			if jsonOut {
				writeEvent(e.stdout, event{Event: "refused", Error: describeError(err)})
			}
			fmt.Fprintf(e.stderr, "authctl: assertion refused: %s\n", describeError(err))
			return exitDenied
		}
		return rpcFailure(e.stderr, "verify assertion", err)
	}
	if jsonOut {
		writeEvent(e.stdout, event{Event: "valid", Claims: protoJSON(resp.GetClaims())})
		return exitOK
	}
	fmt.Fprintln(e.stdout, "Assertion valid. Claims:")
	b, err := protojson.MarshalOptions{UseProtoNames: true, Multiline: true}.Marshal(resp.GetClaims())
	if err != nil {
		return rpcFailure(e.stderr, "verify assertion", err)
	}
	printPrettyJSON(e.stdout, b)
	return exitOK
}

// refused reports whether err is the service's verdict on the assertion rather
// than a failure to ask: INVALID_ARGUMENT (reason ASSERTION_INVALID, the token
// does not verify) or FAILED_PRECONDITION (ASSERTION_REVOKED). An
// INVALID_ARGUMENT with field violations is about the request, not the token.
func refused(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition:
	default:
		return false
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.BadRequest); ok {
			return false
		}
	}
	return true
}
