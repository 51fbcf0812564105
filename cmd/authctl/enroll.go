package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/skip2/go-qrcode"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// parseEnroll parses "authctl enroll" flags into the request to send.
func parseEnroll(g *globals, args []string) (*authsvcv1.CreateEnrollmentLinkRequest, bool, error) {
	var customer, method, verification, locale, email, phone string
	var jsonOut bool
	fs := newFlagSet("enroll")
	g.register(fs)
	fs.StringVar(&customer, "customer-id", "", "")
	fs.StringVar(&method, "method", "", "")
	fs.StringVar(&verification, "verification", "", "")
	fs.StringVar(&locale, "locale", "", "")
	fs.StringVar(&email, "email", "", "")
	fs.StringVar(&phone, "phone", "", "")
	fs.BoolVar(&jsonOut, "json", false, "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, false, fmt.Errorf("enroll: %w", err)
	}
	if len(pos) > 0 {
		return nil, false, fmt.Errorf("enroll: unexpected argument %q", pos[0])
	}
	if customer == "" || method == "" {
		return nil, false, errors.New("enroll: --customer-id and --method are required")
	}
	m, err := parseMethod(method)
	if err != nil {
		return nil, false, fmt.Errorf("enroll: --method: %w", err)
	}
	if m != authsvcv1.Method_METHOD_TOTP && m != authsvcv1.Method_METHOD_WEBAUTHN {
		return nil, false, fmt.Errorf("enroll: --method %s: want totp or webauthn", method)
	}
	req := &authsvcv1.CreateEnrollmentLinkRequest{CustomerId: customer, Method: m, VerificationId: verification,
		Locale: locale}
	switch {
	case email != "" && phone != "":
		return nil, false, errors.New("enroll: give either --email or --phone, not both")
	case email != "":
		if !strings.Contains(email, "@") {
			return nil, false, fmt.Errorf("enroll: --email %q is not an email address", email)
		}
		req.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: email}}
	case phone != "":
		if !e164.MatchString(phone) {
			return nil, false, fmt.Errorf("enroll: --phone %q: want E.164, e.g. +14155550100", phone)
		}
		req.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Phone{Phone: phone}}
	}
	return req, jsonOut, nil
}

// cmdEnroll runs "authctl enroll": it creates an enrollment link and prints the
// DM text and the link (with a QR code) to post in the conversation.
func cmdEnroll(ctx context.Context, g *globals, args []string, e env) int {
	req, jsonOut, err := parseEnroll(g, args)
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
	resp, err := authsvcv1.NewEnrollmentServiceClient(conn).CreateEnrollmentLink(cctx, req)
	if err != nil {
		return rpcFailure(e.stderr, "create enrollment link", err)
	}
	if jsonOut {
		writeEvent(e.stdout, event{Event: "enrollment_link", Data: protoJSON(resp)})
		return exitOK
	}
	printEnrollment(e.stdout, resp)
	return exitOK
}

func printEnrollment(w io.Writer, resp *authsvcv1.CreateEnrollmentLinkResponse) {
	if t := resp.GetDmText(); t != "" {
		fmt.Fprintf(w, "Post this in the DM:\n\n%s\n", indent(t, "    "))
	}
	fmt.Fprintf(w, "\nEnrollment page (works once, until %s, and only in the browser that completed the\nverification):\n    %s\n",
		formatTime(resp.GetExpireTime()), resp.GetEnrollmentUrl())
	if qr, err := qrcode.New(resp.GetEnrollmentUrl(), qrcode.Medium); err == nil {
		fmt.Fprintf(w, "\n%s", qr.ToSmallString(false))
	}
	fmt.Fprintln(w)
}

// cmdFactors runs "authctl factors list|remove".
func cmdFactors(ctx context.Context, g *globals, args []string, e env) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "remove") {
		return usageError(e, errors.New("factors: want 'factors list --customer-id ID' or 'factors remove --customer-id ID FACTOR_ID'"))
	}
	sub := args[0]
	var customer string
	var jsonOut bool
	fs := newFlagSet("factors " + sub)
	g.register(fs)
	fs.StringVar(&customer, "customer-id", "", "")
	fs.BoolVar(&jsonOut, "json", false, "")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return usageError(e, fmt.Errorf("factors %s: %w", sub, err))
	}
	if customer == "" {
		return usageError(e, fmt.Errorf("factors %s: --customer-id is required", sub))
	}
	want := 0
	if sub == "remove" {
		want = 1
	}
	if len(pos) != want {
		return usageError(e, fmt.Errorf("factors %s: want %d argument(s), got %d", sub, want, len(pos)))
	}
	conn, err := g.dial()
	if err != nil {
		return usageError(e, err)
	}
	defer conn.Close()
	cctx, cancel := g.unary(ctx)
	defer cancel()
	client := authsvcv1.NewEnrollmentServiceClient(conn)
	if sub == "remove" {
		if _, err := client.RemoveFactor(cctx, &authsvcv1.RemoveFactorRequest{CustomerId: customer, FactorId: pos[0]}); err != nil {
			return rpcFailure(e.stderr, "remove factor", err)
		}
		fmt.Fprintf(e.stdout, "removed %s\n", pos[0])
		return exitOK
	}
	resp, err := client.ListFactors(cctx, &authsvcv1.ListFactorsRequest{CustomerId: customer})
	if err != nil {
		return rpcFailure(e.stderr, "list factors", err)
	}
	if jsonOut {
		writeEvent(e.stdout, event{Event: "factors", Data: protoJSON(resp)})
		return exitOK
	}
	if len(resp.GetFactors()) == 0 {
		fmt.Fprintln(e.stdout, "no factors")
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%-12s %-10s %-20s %-22s %s\n", "FACTOR", "METHOD", "LABEL", "CREATED", "LAST USED")
	for _, f := range resp.GetFactors() {
		used := "never"
		if f.GetLastUseTime() != nil {
			used = formatTime(f.GetLastUseTime())
		}
		fmt.Fprintf(e.stdout, "%-12s %-10s %-20s %-22s %s\n", f.GetFactorId(), methodName(f.GetMethod()), f.GetLabel(),
			formatTime(f.GetCreateTime()), used)
	}
	return exitOK
}
