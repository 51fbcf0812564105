package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// handoverUsage is the usage of "authctl handover".
const handoverUsage = "handover: want 'handover create --verification ID (--channel CH | --phone) [--case REF]', " +
	"'handover show HANDOVER_ID' or 'handover redeem (CODE --verifier V | --call-code DIGITS [--caller-ref REF])'"

// cmdHandover runs "authctl handover create|show|redeem".
func cmdHandover(ctx context.Context, g *globals, args []string, e env) int {
	if len(args) == 0 {
		return usageError(e, errors.New(handoverUsage))
	}
	sub := args[0]
	var o handoverOpts
	fs := newFlagSet("handover " + sub)
	g.register(fs)
	fs.StringVar(&o.verification, "verification", "", "")
	fs.StringVar(&o.channel, "channel", "", "")
	fs.BoolVar(&o.phone, "phone", false, "")
	fs.StringVar(&o.caseRef, "case", "", "")
	fs.StringVar(&o.requestID, "request-id", "", "")
	fs.StringVar(&o.verifier, "verifier", "", "")
	fs.StringVar(&o.callCode, "call-code", "", "")
	fs.StringVar(&o.callerRef, "caller-ref", "", "")
	fs.BoolVar(&o.json, "json", false, "")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return usageError(e, fmt.Errorf("handover %s: %w", sub, err))
	}
	call, err := o.call(sub, pos)
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
	return call(cctx, authsvcv1.NewHandoverServiceClient(conn), e)
}

type handoverOpts struct {
	verification, channel, caseRef, requestID, verifier, callCode, callerRef string
	phone, json                                                              bool
}

type handoverCall func(context.Context, authsvcv1.HandoverServiceClient, env) int

// call checks the flags of subcommand sub and returns the call to make.
func (o handoverOpts) call(sub string, pos []string) (handoverCall, error) {
	switch sub {
	case "create":
		if o.verification == "" || len(pos) != 0 || (o.channel == "") == !o.phone {
			return nil, errors.New("handover create: want --verification ID and exactly one of --channel CH or --phone")
		}
		req := &authsvcv1.CreateHandoverRequest{VerificationId: o.verification, CaseReference: o.caseRef, RequestId: o.requestID}
		if o.phone {
			req.Target = &authsvcv1.CreateHandoverRequest_Phone{Phone: &authsvcv1.PhoneTarget{}}
		} else {
			req.Target = &authsvcv1.CreateHandoverRequest_SecureChannel{SecureChannel: &authsvcv1.SecureChannelTarget{ChannelId: o.channel}}
		}
		return func(ctx context.Context, c authsvcv1.HandoverServiceClient, e env) int {
			resp, err := c.CreateHandover(ctx, req)
			if err != nil {
				return rpcFailure(e.stderr, "create handover", err)
			}
			return o.printHandover(e.stdout, "handover", resp.GetHandover())
		}, nil
	case "show":
		if len(pos) != 1 {
			return nil, errors.New("handover show: want one HANDOVER_ID")
		}
		return func(ctx context.Context, c authsvcv1.HandoverServiceClient, e env) int {
			resp, err := c.GetHandover(ctx, &authsvcv1.GetHandoverRequest{HandoverId: pos[0]})
			if err != nil {
				return rpcFailure(e.stderr, "get handover", err)
			}
			return o.printHandover(e.stdout, "handover", resp.GetHandover())
		}, nil
	case "redeem":
		return o.redeem(pos)
	}
	return nil, errors.New(handoverUsage)
}

// redeem is "handover redeem": a channel code with its verifier, or a call code.
func (o handoverOpts) redeem(pos []string) (handoverCall, error) {
	switch {
	case o.callCode != "" && len(pos) == 0 && o.verifier == "":
		return func(ctx context.Context, c authsvcv1.HandoverServiceClient, e env) int {
			resp, err := c.RedeemCallCode(ctx, &authsvcv1.RedeemCallCodeRequest{CallCode: o.callCode, CallerRef: o.callerRef})
			if err != nil {
				return rpcFailure(e.stderr, "redeem call code", err)
			}
			return o.printContext(e.stdout, resp.GetContext())
		}, nil
	case o.callCode == "" && o.callerRef == "" && len(pos) == 1 && o.verifier != "":
		return func(ctx context.Context, c authsvcv1.HandoverServiceClient, e env) int {
			resp, err := c.RedeemHandover(ctx, &authsvcv1.RedeemHandoverRequest{Code: pos[0], CodeVerifier: o.verifier})
			if err != nil {
				return rpcFailure(e.stderr, "redeem handover", err)
			}
			return o.printContext(e.stdout, resp.GetContext())
		}, nil
	}
	return nil, errors.New("handover redeem: want CODE --verifier V, or --call-code DIGITS [--caller-ref REF]")
}

func (o handoverOpts) printHandover(w io.Writer, name string, h *authsvcv1.Handover) int {
	if o.json {
		writeEvent(w, event{Event: name, Data: protoJSON(h)})
		return exitOK
	}
	fmt.Fprintf(w, "handover %s (%s) for %s: %s", h.GetHandoverId(), handoverKindName(h.GetKind()),
		h.GetVerificationId(), strings.ToLower(strings.TrimPrefix(h.GetState().String(), "HANDOVER_STATE_")))
	if ch := h.GetChannelId(); ch != "" {
		fmt.Fprintf(w, ", channel %s", ch)
	}
	fmt.Fprintf(w, ", until %s\n", formatTime(h.GetExpireTime()))
	if h.GetState() == authsvcv1.HandoverState_HANDOVER_STATE_OFFERED {
		fmt.Fprintln(w, "The customer's page offers it; nothing to post in the DM.")
	}
	return exitOK
}

func (o handoverOpts) printContext(w io.Writer, c *authsvcv1.HandoverContext) int {
	if o.json {
		writeEvent(w, event{Event: "handover_context", Data: protoJSON(c)})
		return exitOK
	}
	fmt.Fprintf(w, "handover %s (%s), verification %s\n", c.GetHandoverId(), handoverKindName(c.GetKind()), c.GetVerificationId())
	fmt.Fprintf(w, "  %s\n", c.GetAssuranceNote())
	fmt.Fprintf(w, "  conversation %s, agent %s, case %q\n", c.GetConversationId(), c.GetAgentId(), c.GetCaseReference())
	if !c.GetVerified() {
		return exitDenied
	}
	fmt.Fprintf(w, "  customer %s, %s:%s, level %s (%s), verified %s\n", c.GetCustomerId(), c.GetIdentity().GetNetwork(),
		c.GetIdentity().GetUserId(), strings.TrimPrefix(c.GetAssuranceLevel().String(), "ASSURANCE_LEVEL_"),
		strings.Join(c.GetAmr(), " "), formatTime(c.GetVerifyTime()))
	fmt.Fprintf(w, "  assertion (until %s):\n%s\n", formatTime(c.GetAssertion().GetExpireTime()), c.GetAssertion().GetToken())
	return exitOK
}

func handoverKindName(k authsvcv1.HandoverKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "HANDOVER_KIND_"))
}
