package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// idCommand parses the flags of a command that takes one verification id;
// extra registers the command's own flags.
func idCommand(g *globals, name string, args []string, extra func(*flag.FlagSet)) (string, error) {
	fs := newFlagSet(name)
	g.register(fs)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if err := requireArgs(name, pos, 1, "verification ID"); err != nil {
		return "", err
	}
	return pos[0], nil
}

// cmdWatch runs "authctl watch ID".
func cmdWatch(ctx context.Context, g *globals, args []string, e env) int {
	var jsonOut bool
	id, err := idCommand(g, "watch", args, func(fs *flag.FlagSet) { fs.BoolVar(&jsonOut, "json", false, "") })
	if err != nil {
		return usageError(e, err)
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	return watchVerification(ctx, authsvcv1.NewVerificationServiceClient(conn), id, jsonOut, e)
}

// watchVerification follows a verification until it ends and returns the exit
// code its outcome maps to. It stops early only when ctx is done.
func watchVerification(ctx context.Context, client authsvcv1.VerificationServiceClient, id string, jsonOut bool, e env) int {
	if !jsonOut {
		fmt.Fprintf(e.stdout, "Watching %s (Ctrl-C stops watching; the verification goes on)\n", id)
	}
	stream, err := client.WatchVerification(ctx, &authsvcv1.WatchVerificationRequest{VerificationId: id})
	if err != nil {
		return watchError(e, jsonOut, err)
	}
	var last *authsvcv1.Verification
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return watchError(e, jsonOut, err)
		}
		v := resp.GetVerification()
		if last != nil && proto.Equal(last, v) {
			continue
		}
		last = v
		if jsonOut {
			ev := event{Event: "state", Verification: protoJSON(v)}
			if claims, err := decodeClaims(v.GetAssertion().GetToken()); err == nil {
				ev.Claims = claims
			}
			writeEvent(e.stdout, ev)
		} else {
			fmt.Fprintf(e.stdout, "%s  %s\n", time.Now().Format(time.TimeOnly), stateLine(v))
		}
		if isTerminal(v.GetState()) {
			return outcome(v, jsonOut, e)
		}
	}
	if last == nil {
		fmt.Fprintf(e.stderr, "authctl: watch: the stream ended without a state\n")
	} else {
		fmt.Fprintf(e.stderr, "authctl: watch: the stream ended while %s\n", stateName(last.GetState()))
	}
	return exitFailure
}

// watchError reports a failed watch and returns exitFailure.
func watchError(e env, jsonOut bool, err error) int {
	if jsonOut {
		writeEvent(e.stdout, event{Event: "error", Error: describeError(err)})
	}
	return rpcFailure(e.stderr, "watch verification", err)
}

// outcome prints the end of a verification and returns its exit code: 0 for
// VERIFIED (with the assertion's claims and token), 1 otherwise.
func outcome(v *authsvcv1.Verification, jsonOut bool, e env) int {
	if v.GetState() != authsvcv1.State_STATE_VERIFIED {
		if !jsonOut {
			fmt.Fprintf(e.stdout, "Verification ended %s.\n", stateLine(v))
		}
		return exitDenied
	}
	if v.GetRevoked() {
		if !jsonOut {
			fmt.Fprintln(e.stdout, "Verified, but what it granted has been revoked.")
		}
		return exitDenied
	}
	if !jsonOut {
		printAssertion(e.stdout, v.GetAssertion())
	}
	return exitOK
}

// printAssertion writes the decoded claims and the token of a.
func printAssertion(w io.Writer, a *authsvcv1.Assertion) {
	tok := a.GetToken()
	if tok == "" {
		fmt.Fprintln(w, "No assertion is available any more (it expired); start a new verification.")
		return
	}
	fmt.Fprintf(w, "\nAssertion claims (decoded here, not verified; check with 'authctl assertion verify'):\n")
	if claims, err := decodeClaims(tok); err == nil {
		fmt.Fprintf(w, "%s\n", claims)
	} else {
		fmt.Fprintf(w, "(cannot decode: %v)\n", err)
	}
	fmt.Fprintf(w, "\nAssertion (expires %s):\n%s\n", formatTime(a.GetExpireTime()), tok)
}

// cmdGet runs "authctl get ID".
func cmdGet(ctx context.Context, g *globals, args []string, e env) int {
	var jsonOut bool
	id, err := idCommand(g, "get", args, func(fs *flag.FlagSet) { fs.BoolVar(&jsonOut, "json", false, "") })
	if err != nil {
		return usageError(e, err)
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	cctx, cancel := g.unary(ctx)
	defer cancel()
	resp, err := authsvcv1.NewVerificationServiceClient(conn).GetVerification(cctx,
		&authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil {
		return rpcFailure(e.stderr, "get verification", err)
	}
	showVerification(e.stdout, resp.GetVerification(), "", jsonOut)
	return exitOK
}

// showVerification prints v as text (with its assertion, if any) or as JSON.
func showVerification(w io.Writer, v *authsvcv1.Verification, matchNumber string, jsonOut bool) {
	if jsonOut {
		writeEvent(w, event{Event: "verification", Verification: protoJSON(v), MatchNumber: matchNumber})
		return
	}
	printVerification(w, v)
	if matchNumber != "" {
		fmt.Fprintf(w, "%-14s %s\n", "match number", matchNumber)
	}
	if v.GetAssertion().GetToken() != "" {
		printAssertion(w, v.GetAssertion())
	}
}

// cmdCancel runs "authctl cancel ID".
func cmdCancel(ctx context.Context, g *globals, args []string, e env) int {
	var jsonOut bool
	var requestID string
	id, err := idCommand(g, "cancel", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&jsonOut, "json", false, "")
		fs.StringVar(&requestID, "request-id", "", "")
	})
	if err != nil {
		return usageError(e, err)
	}
	if requestID == "" {
		requestID = randomID()
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	cctx, cancel := g.unary(ctx)
	defer cancel()
	resp, err := authsvcv1.NewVerificationServiceClient(conn).CancelVerification(cctx,
		&authsvcv1.CancelVerificationRequest{VerificationId: id, RequestId: requestID})
	if err != nil {
		return rpcFailure(e.stderr, "cancel verification", err)
	}
	showVerification(e.stdout, resp.GetVerification(), "", jsonOut)
	return exitOK
}

// cmdResend runs "authctl resend ID --email|--phone".
func cmdResend(ctx context.Context, g *globals, args []string, e env) int {
	var jsonOut bool
	var requestID, email, phone string
	id, err := idCommand(g, "resend", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&jsonOut, "json", false, "")
		fs.StringVar(&requestID, "request-id", "", "")
		fs.StringVar(&email, "email", "", "")
		fs.StringVar(&phone, "phone", "", "")
	})
	if err != nil {
		return usageError(e, err)
	}
	req := &authsvcv1.ResendVerificationRequest{VerificationId: id, RequestId: requestID}
	switch {
	case email != "" && phone != "":
		return usageError(e, errors.New("resend: give either --email or --phone, not both"))
	case email != "":
		req.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}}
	case phone != "":
		req.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: phone}}
	}
	if req.RequestId == "" {
		req.RequestId = randomID()
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	cctx, cancel := g.unary(ctx)
	defer cancel()
	resp, err := authsvcv1.NewVerificationServiceClient(conn).ResendVerification(cctx, req)
	if err != nil {
		return rpcFailure(e.stderr, "resend verification", err)
	}
	showVerification(e.stdout, resp.GetVerification(), resp.GetMatchNumber(), jsonOut)
	return exitOK
}
