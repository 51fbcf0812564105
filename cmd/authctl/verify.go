package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"
	"google.golang.org/protobuf/types/known/durationpb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// networkPattern is the shape the API requires of SocialIdentity.network.
var networkPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// verifyOptions are the flags of "authctl verify".
type verifyOptions struct {
	network, userID, handle string
	email, phone            string
	methods                 listFlag
	minAssurance            string
	audience                string
	scopes                  listFlag
	agent, conversation     string
	customerID, locale      string
	ttl                     time.Duration
	requestID               string
	noWatch, json           bool
}

// parseVerify parses and checks the verify flags and returns the request to
// send. Its errors are usage errors.
func parseVerify(g *globals, args []string) (*authsvcv1.StartVerificationRequest, verifyOptions, error) {
	var o verifyOptions
	fs := newFlagSet("verify")
	g.register(fs)
	fs.StringVar(&o.network, "network", "", "")
	fs.StringVar(&o.userID, "user-id", "", "")
	fs.StringVar(&o.handle, "handle", "", "")
	fs.StringVar(&o.email, "email", "", "")
	fs.StringVar(&o.phone, "phone", "", "")
	fs.Var(&o.methods, "method", "")
	fs.StringVar(&o.minAssurance, "min-assurance", "", "")
	fs.StringVar(&o.audience, "audience", "", "")
	fs.Var(&o.scopes, "scope", "")
	fs.StringVar(&o.agent, "agent", "", "")
	fs.StringVar(&o.conversation, "conversation", "", "")
	fs.StringVar(&o.customerID, "customer-id", "", "")
	fs.StringVar(&o.locale, "locale", "", "")
	fs.DurationVar(&o.ttl, "ttl", 0, "")
	fs.StringVar(&o.requestID, "request-id", "", "")
	fs.BoolVar(&o.noWatch, "no-watch", false, "")
	fs.BoolVar(&o.json, "json", false, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, o, fmt.Errorf("verify: %w", err)
	}
	if len(pos) > 0 {
		return nil, o, fmt.Errorf("verify: unexpected argument %q", pos[0])
	}

	var missing []string
	for _, f := range []struct{ name, v string }{
		{"--network", o.network}, {"--user-id", o.userID}, {"--handle", o.handle}, {"--audience", o.audience},
		{"--agent", o.agent}, {"--conversation", o.conversation},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(o.methods) == 0 {
		missing = append(missing, "--method")
	}
	if len(missing) > 0 {
		return nil, o, fmt.Errorf("verify: missing %s", strings.Join(missing, ", "))
	}
	if !networkPattern.MatchString(o.network) {
		return nil, o, fmt.Errorf("verify: --network %q: want lower-case [a-z0-9_-], at most 32", o.network)
	}
	if o.email != "" && o.phone != "" {
		return nil, o, errors.New("verify: give either --email or --phone, not both")
	}
	req := &authsvcv1.StartVerificationRequest{
		Identity:       &authsvcv1.SocialIdentity{Network: o.network, UserId: o.userID, Handle: o.handle},
		CustomerId:     o.customerID,
		Audience:       o.audience,
		Scopes:         o.scopes,
		AgentId:        o.agent,
		ConversationId: o.conversation,
		Locale:         o.locale,
		RequestId:      o.requestID,
	}
	seen := map[authsvcv1.Method]bool{}
	for _, name := range o.methods {
		m, err := parseMethod(name)
		if err != nil {
			return nil, o, fmt.Errorf("verify: --method: %w", err)
		}
		if seen[m] {
			return nil, o, fmt.Errorf("verify: --method %s given twice", methodName(m))
		}
		seen[m] = true
		req.Methods = append(req.Methods, m)
	}
	switch {
	case seen[authsvcv1.Method_METHOD_OTP_EMAIL] && o.email == "":
		return nil, o, errors.New("verify: --method otp_email needs --email")
	case seen[authsvcv1.Method_METHOD_OTP_SMS] && o.phone == "":
		return nil, o, errors.New("verify: --method otp_sms needs --phone")
	case seen[authsvcv1.Method_METHOD_MAGIC_LINK] && o.email == "" && o.phone == "":
		return nil, o, errors.New("verify: --method magic_link needs --email or --phone")
	}
	switch {
	case o.email != "":
		if !strings.Contains(o.email, "@") {
			return nil, o, fmt.Errorf("verify: --email %q is not an email address", o.email)
		}
		req.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: o.email}}
	case o.phone != "":
		if !e164.MatchString(o.phone) {
			return nil, o, fmt.Errorf("verify: --phone %q: want E.164, e.g. +14155550100", o.phone)
		}
		req.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: o.phone}}
	}
	if o.minAssurance != "" {
		l, ok := authsvcv1.AssuranceLevel_value["ASSURANCE_LEVEL_"+strings.ToUpper(o.minAssurance)]
		if !ok || l == 0 {
			return nil, o, fmt.Errorf("verify: --min-assurance %q: want low, substantial or high", o.minAssurance)
		}
		req.MinAssurance = authsvcv1.AssuranceLevel(l)
	}
	if o.ttl != 0 {
		if o.ttl < time.Minute || o.ttl > time.Hour {
			return nil, o, fmt.Errorf("verify: --ttl %s: want 1m to 60m", o.ttl)
		}
		req.Ttl = durationpb.New(o.ttl)
	}
	if req.RequestId == "" {
		req.RequestId = randomID()
	}
	return req, o, nil
}

// e164 is the shape of an E.164 phone number.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// randomID returns a fresh idempotency key.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return "authctl-" + hex.EncodeToString(b[:])
}

// cmdVerify runs "authctl verify".
func cmdVerify(ctx context.Context, g *globals, args []string, e env) int {
	req, o, err := parseVerify(g, args)
	if err != nil {
		return usageError(e, err)
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	client := authsvcv1.NewVerificationServiceClient(conn)

	cctx, cancel := g.unary(ctx)
	resp, err := client.StartVerification(cctx, req)
	cancel()
	if err != nil {
		if o.json {
			writeEvent(e.stdout, event{Event: "error", Error: describeError(err)})
		}
		return rpcFailure(e.stderr, "start verification", err)
	}
	v := resp.GetVerification()
	if o.json {
		writeEvent(e.stdout, event{
			Event: "started", Verification: protoJSON(v),
			CustomerURL: resp.GetCustomerUrl(), MatchNumber: resp.GetMatchNumber(), DMText: resp.GetDmText(),
		})
	} else {
		printStarted(e.stdout, resp)
	}
	if o.noWatch {
		return exitOK
	}
	return watchVerification(ctx, client, v.GetVerificationId(), o.json, e)
}

// printStarted writes what the agent needs after StartVerification: the id,
// the DM text, the match number and the customer page with a QR code.
func printStarted(w io.Writer, resp *authsvcv1.StartVerificationResponse) {
	v := resp.GetVerification()
	printVerification(w, v)
	if t := resp.GetDmText(); t != "" {
		fmt.Fprintf(w, "\nPost this in the DM:\n\n%s\n", indent(t, "    "))
	}
	if n := resp.GetMatchNumber(); n != "" {
		fmt.Fprintf(w, "\nMatch number: %s  (show it in the DM; the customer picks it on the link's page)\n", n)
	}
	if u := resp.GetCustomerUrl(); u != "" {
		fmt.Fprintf(w, "\nCustomer page (secret, shown once: post it only in the DM):\n    %s\n", u)
		if qr, err := qrcode.New(u, qrcode.Medium); err == nil {
			fmt.Fprintf(w, "\n%s", qr.ToSmallString(false))
		} else {
			fmt.Fprintf(w, "(no QR code: %v)\n", err)
		}
	}
	fmt.Fprintln(w)
}

// indent prefixes every line of s with p.
func indent(s, p string) string {
	return p + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+p)
}
