package challenge

import (
	"context"
	"errors"
	"testing"

	"github.com/authsvc/authsvc/internal/redistest"
)

// Numbers that cannot keep a code are refused with a field violation that says so
// and nothing else; toll-free, VoIP and unknown numbers follow the configuration.
func TestNumberTypes(t *testing.T) {
	srv := redistest.Start(t)
	cases := []struct {
		name   string
		types  NumberTypes
		number string
		refuse bool
	}{
		{"mobile", NumberTypes{}, "+447911123456", false},
		{"premium rate", NumberTypes{}, "+19005550100", true},
		{"premium rate GB", NumberTypes{}, "+449061234567", true},
		{"shared cost", NumberTypes{}, "+34902123456", true},
		{"UAN", NumberTypes{}, "+445512345678", true},
		{"pager", NumberTypes{}, "+447640123456", true},
		{"toll free by default", NumberTypes{}, "+18005550100", true},
		{"toll free allowed", NumberTypes{TollFree: NumberAllow}, "+18005550100", false},
		{"VoIP by default (monitor)", NumberTypes{}, "+445612345678", false},
		{"VoIP refused", NumberTypes{VoIP: NumberRefuse}, "+445612345678", true},
		{"VoIP allowed", NumberTypes{VoIP: NumberAllow}, "+445612345678", false},
		{"personal number follows VoIP", NumberTypes{VoIP: NumberRefuse}, "+447000123456", true},
		{"unknown by default (monitor)", NumberTypes{}, "+447700900123", false},
		{"unknown refused", NumberTypes{Unknown: NumberRefuse}, "+447700900123", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, srv, srv.Client(t), Config{NumberTypes: tc.types})
			for _, m := range []Method{OTPSMS, MagicLink} {
				r := f.startReq(m, &Destination{Kind: Phone, Value: tc.number})
				r.RequestID, r.ConversationID = tc.name+m.String(), tc.name+m.String()
				r.CustomerID, r.Identity.UserID = "", tc.name+m.String()
				_, err := f.svc.Start(context.Background(), r)
				var ve *ValidationError
				switch {
				case tc.refuse && !errors.As(err, &ve):
					t.Fatalf("%v: want a violation, got %v", m, err)
				case tc.refuse && (len(ve.Violations) != 1 || ve.Violations[0] != Violation{Field: "destination.phone", Description: numberTypeCannotReceive}):
					t.Fatalf("%v: violations %+v", m, ve.Violations)
				case !tc.refuse && err != nil:
					t.Fatalf("%v: %v", m, err)
				}
			}
		})
	}
}

// A resend to a number that cannot receive codes is refused the same way.
func TestNumberTypesOnResend(t *testing.T) {
	f := newFixture(t)
	res := f.start(OTPSMS, phone)
	_, _, err := f.svc.Resend(context.Background(), ResendRequest{ClientID: "platform-a", ID: res.Verification.ID,
		Destination: &Destination{Kind: Phone, Value: "+19005550100"}, RequestID: "r1"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Violations[0].Description != numberTypeCannotReceive {
		t.Fatalf("resend to a premium number: %v", err)
	}
}

func TestParseNumberAction(t *testing.T) {
	for _, s := range []string{"refuse", "monitor", "allow"} {
		a, err := ParseNumberAction(s)
		if err != nil || a.String() != s {
			t.Fatalf("%s: %v %v", s, a, err)
		}
	}
	if _, err := ParseNumberAction("block"); err == nil {
		t.Fatal("block parsed")
	}
}
