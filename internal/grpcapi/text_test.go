package grpcapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// hiding are characters that hide or reorder what a person reads: the
// bidirectional controls and the zero-width and other invisible format characters.
var hiding = []struct {
	name, char, says string
}{
	{"RLO", "\u202e", "bidirectional control character"},
	{"LRE", "\u202a", "bidirectional control character"},
	{"PDF", "\u202c", "bidirectional control character"},
	{"LRI", "\u2066", "bidirectional control character"},
	{"FSI", "\u2068", "bidirectional control character"},
	{"PDI", "\u2069", "bidirectional control character"},
	{"LRM", "\u200e", "bidirectional control character"},
	{"RLM", "\u200f", "bidirectional control character"},
	{"ALM", "\u061c", "bidirectional control character"},
	{"ZWSP", "\u200b", "invisible formatting character"},
	{"ZWNJ", "\u200c", "invisible formatting character"},
	{"ZWJ", "\u200d", "invisible formatting character"},
	{"WJ", "\u2060", "invisible formatting character"},
	{"BOM", "\ufeff", "invisible formatting character"},
}

// TestPersonFacingTextRefused: every caller-supplied string a person reads refuses
// bidirectional controls and invisible characters, through the real server: the
// answer is INVALID_ARGUMENT with one field violation naming the field and saying
// what is wrong, never quoting the value, and nothing is sent or linked.
func TestPersonFacingTextRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	started := f.start(t, keyA, "hygiene-resend").GetVerification().GetVerificationId()
	sentBefore := len(f.outbox.List())
	type call func(ctx context.Context, value string) error
	fields := []struct {
		rpc, field string
		// value is a valid value with the character c inside.
		value func(c string) string
		call  call
	}{
		{"StartVerification", "identity.handle", func(c string) string { return "@ali" + c + "ce" }, func(ctx context.Context, v string) error {
			r := validStart("hygiene-handle")
			r.Identity.Handle = v
			_, err := f.vc.StartVerification(ctx, r)
			return err
		}},
		{"StartVerification", "agent_id", func(c string) string { return "agent" + c + "-7" }, func(ctx context.Context, v string) error {
			r := validStart("hygiene-agent")
			r.AgentId = v
			_, err := f.vc.StartVerification(ctx, r)
			return err
		}},
		{"StartVerification", "destination.email", func(c string) string { return "ali" + c + "ce@example.com" }, func(ctx context.Context, v string) error {
			r := validStart("hygiene-email")
			r.Destination = &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: v}}
			_, err := f.vc.StartVerification(ctx, r)
			return err
		}},
		{"ResendVerification", "destination.email", func(c string) string { return "ali" + c + "ce.customer@example.com" }, func(ctx context.Context, v string) error {
			_, err := f.vc.ResendVerification(ctx, &authsvcv1.ResendVerificationRequest{VerificationId: started,
				Destination: &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: v}}, RequestId: "hygiene-resend"})
			return err
		}},
		{"LinkIdentity", "identity.handle", func(c string) string { return "@bo" + c + "b" }, func(ctx context.Context, v string) error {
			// (With a verification id the grant check leaves the call to the handler.)
			_, err := f.ec.LinkIdentity(ctx, &authsvcv1.LinkIdentityRequest{CustomerId: "cust-hygiene",
				Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: "3001", Handle: v}, VerificationId: started})
			return err
		}},
		{"UnlinkIdentity", "identity.handle", func(c string) string { return "@bo" + c + "b" }, func(ctx context.Context, v string) error {
			_, err := f.ec.UnlinkIdentity(ctx, &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-hygiene",
				Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: "3001", Handle: v}})
			return err
		}},
	}
	for _, fl := range fields {
		for _, h := range hiding {
			t.Run(fl.rpc+"/"+fl.field+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				value := fl.value(h.char)
				st := wantCode(t, fl.call(as(t, keyA), value), codes.InvalidArgument)
				vs := detail[*errdetails.BadRequest](t, st).GetFieldViolations()
				if len(vs) != 1 || vs[0].GetField() != fl.field {
					t.Fatalf("field violations %v, want one on %s", vs, fl.field)
				}
				if d := vs[0].GetDescription(); !strings.Contains(d, h.says) {
					t.Errorf("description %q does not say %q", d, h.says)
				}
				for _, said := range []string{st.Message(), vs[0].GetDescription()} {
					if strings.Contains(said, value) || strings.Contains(said, strings.ReplaceAll(value, h.char, "")) {
						t.Errorf("the answer %q quotes the value", said)
					}
				}
			})
		}
	}
	t.Cleanup(func() {
		if n := len(f.outbox.List()); n != sentBefore {
			t.Errorf("%d messages sent for refused requests", n-sentBefore)
		}
	})
}

// TestPersonFacingTextNormalised: a handle and an agent id in NFD come back in NFC:
// the handle's mask keeps whole characters, the agent id is one spelling, and the
// email isolates the handle.
func TestPersonFacingTextNormalised(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	r := validStart("hygiene-nfc")
	r.Identity.Handle = "@jose\u0301" // e + COMBINING ACUTE ACCENT
	r.AgentId = "rene\u0301e"
	res, err := f.vc.StartVerification(as(t, keyA), r)
	if err != nil {
		t.Fatal(err)
	}
	v := res.GetVerification()
	// NFC "@josé" has 4 characters after the @: the first and the last are kept.
	// Masked in NFD the mask would end in a lone combining accent, "@jo**\u0301".
	if got := v.GetIdentity().GetHandle(); got != "@j**\u00e9" {
		t.Errorf("handle mask %+q, want %+q", got, "@j**\u00e9")
	}
	if got := v.GetAgentId(); got != "ren\u00e9e" {
		t.Errorf("agent id %+q, want NFC %+q", got, "ren\u00e9e")
	}
	// The email names the handle in NFC, isolated (FSI … PDI) in subject and body.
	sent := f.outbox.List()
	if len(sent) == 0 {
		t.Fatal("nothing sent")
	}
	for _, in := range []string{sent[0].Subject, sent[0].Text} {
		if !strings.Contains(in, "\u2068@j**\u00e9\u2069") {
			t.Errorf("the email does not isolate the NFC handle: %+q", in)
		}
	}
}
