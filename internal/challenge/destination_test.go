package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

// spellings are eight spellings of one mailbox, renée at bücher.example.
var spellings = []string{
	"renée@bücher.example",             // NFC, domain as a U-label
	"RENÉE@bücher.example",             // upper-case local part
	"rene\u0301e@bücher.example",       // NFD: e + COMBINING ACUTE ACCENT
	"renée@BÜCHER.EXAMPLE",             // upper-case domain
	"renée@xn--bcher-kva.example",      // domain as its A-label
	"ReNéE@XN--BCHER-KVA.EXAMPLE",      // mixed case, upper-case A-label
	"ｒｅｎéｅ@bücher.example",             // fullwidth letters (NFKC)
	"Rene\u0301e@bu\u0308cher.example", // NFD in both parts
}

// TestEverySpellingOfAMailboxSharesOneBudget: an attacker who spells one victim's
// address eight ways from eight social identities gets the per-destination limit
// (5 per hour) once, not once per spelling. The messages that leave go to the
// spelling the platform gave; every one is masked alike.
func TestEverySpellingOfAMailboxSharesOneBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newFixtureWith(t, srv, srv.Client(t), Config{})
	ctx := context.Background()
	for i, spelling := range spellings {
		req := f.startReq(OTPEmail, &Destination{Kind: Email, Value: spelling})
		req.Identity.UserID, req.CustomerID = fmt.Sprint("attacker-", i), ""
		res, err := f.svc.Start(ctx, req)
		if i >= 5 {
			var le *LimitError
			if !errors.As(err, &le) || le.Scope != "destination" {
				t.Fatalf("spelling %d (%+q), after 5 sends: %v, want the destination limit", i, spelling, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("spelling %d (%+q): %v", i, spelling, err)
		}
		if to := f.lastSent(res.Verification.ID).To; to != spelling {
			t.Errorf("spelling %d: sent to %+q, want the spelling given %+q", i, to, spelling)
		}
		if m := res.Verification.DestinationMask; m != "r***@bücher.example" {
			t.Errorf("spelling %d: mask %+q", i, m)
		}
	}
	if n := len(f.sender.List()); n != 5 {
		t.Fatalf("%d messages left for one mailbox, want 5", n)
	}
	// The audit trail names the destination by the same mask whatever the spelling.
	masks := map[string]bool{}
	for _, m := range auditEntries(t, f.rdb, audit.StreamKey("", false)) {
		if d, ok := m.Values["d"].(string); ok {
			masks[d] = true
		}
	}
	if len(masks) != 1 || !masks["r***@bücher.example"] {
		t.Errorf("the audit trail names the mailbox as %v", masks)
	}
}

// TestResendMatchesAnotherSpelling: a resend names the destination again; another
// spelling of the same mailbox matches the keyed hash the start recorded, and the
// message goes to the spelling the resend gave. Another mailbox does not match.
func TestResendMatchesAnotherSpelling(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newFixtureWith(t, srv, srv.Client(t), Config{Limits: Limits{Sends: 10}})
	ctx := context.Background()
	res := f.start(OTPEmail, &Destination{Kind: Email, Value: spellings[0]})
	id := res.Verification.ID
	for i, spelling := range spellings[1:4] {
		f.clock.Advance(time.Minute)
		_, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: id,
			Destination: &Destination{Kind: Email, Value: spelling}, RequestID: fmt.Sprint("resend-", i)})
		if err != nil {
			t.Fatalf("resend to %+q: %v", spelling, err)
		}
		if to := f.lastSent(id).To; to != spelling {
			t.Errorf("resend sent to %+q, want %+q", to, spelling)
		}
	}
	for _, other := range []string{"rene@bücher.example", "renée@bucher.example", "renee@bücher.example"} {
		_, _, err := f.svc.Resend(ctx, ResendRequest{ClientID: "platform-a", ID: id,
			Destination: &Destination{Kind: Email, Value: other}, RequestID: "other-" + other})
		if !errors.Is(err, ErrDestinationMismatch) {
			t.Errorf("resend to another mailbox %+q: %v, want ErrDestinationMismatch", other, err)
		}
	}
}

func TestCanonicalEmail(t *testing.T) {
	t.Parallel()
	rules, err := ParseEmailRules("gmail.com:dots+tags, GoogleMail.com:dots+tags,outlook.com:tags,bücher.example:dots")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"Victim@Example.com", "victim@example.com"},
		{"VICTIM@example.com", "victim@example.com"},
		{"vIctim@EXAMPLE.COM", "victim@example.com"},
		{"STRASSE@example.com", "strasse@example.com"},
		{"straße@example.com", "strasse@example.com"}, // full case folding
		{"ｖｉｃｔｉｍ@example.com", "victim@example.com"},
		{"ℌello@example.com", "hello@example.com"}, // NFKC gives an upper-case H: folded after
		{"j.doe+shop@gmail.com", "jdoe@gmail.com"},
		{"J.Doe+Shop@GoogleMail.com", "jdoe@googlemail.com"},
		{"j.doe+shop@outlook.com", "j.doe@outlook.com"},
		{"j.doe+shop@example.com", "j.doe+shop@example.com"}, // no rules: dots and tags are the provider's
		{"+shop@gmail.com", "+shop@gmail.com"},               // a tag with nothing before it is the name
		{"Re.Née@xn--bcher-kva.example", "renée@xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		got, ok := canonicalEmail(tt.in, rules)
		if !ok || got != tt.want {
			t.Errorf("canonicalEmail(%+q) = %+q, %v; want %+q", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"a@b", "a@exa_mple.com", "a@xn--zz.example", "a@" + strings.Repeat("x", 64) + ".example"} {
		if got, ok := canonicalEmail(bad, rules); ok {
			t.Errorf("canonicalEmail(%q) = %q, want refused", bad, got)
		}
	}
}

func TestParseEmailRules(t *testing.T) {
	t.Parallel()
	got, err := ParseEmailRules("gmail.com:dots+tags,BÜCHER.example:tags")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["gmail.com"] != (EmailRule{IgnoreDots: true, IgnoreTags: true}) ||
		got["xn--bcher-kva.example"] != (EmailRule{IgnoreTags: true}) {
		t.Errorf("rules = %+v", got)
	}
	if r, err := ParseEmailRules(" "); err != nil || len(r) != 0 {
		t.Errorf("empty: %v, %v", r, err)
	}
	for _, bad := range []string{"gmail.com", "gmail.com:", "gmail.com:dot", "gmail.com:dots,gmail.com:tags",
		"gmail.com:dots,GMAIL.COM:tags", "gmail:dots", "exa_mple.com:dots"} {
		if _, err := ParseEmailRules(bad); err == nil {
			t.Errorf("ParseEmailRules(%q) accepted", bad)
		}
	}
}

// FuzzCanonicalEmail: the canonical form of an accepted address is its own
// canonical form, so a platform that passes it gets the same budget.
func FuzzCanonicalEmail(f *testing.F) {
	for _, s := range spellings {
		f.Add(s)
	}
	f.Add("ℌello+x.y@gmail.com")
	f.Add("ß\u0345@example.com")
	f.Add("0@\xbc.0")
	rules := EmailRules{"gmail.com": {IgnoreDots: true, IgnoreTags: true}}
	f.Fuzz(func(t *testing.T, address string) {
		c, ok := canonicalEmail(address, rules)
		if !ok {
			return
		}
		if again, ok := canonicalEmail(c, rules); !ok || again != c {
			t.Fatalf("canonicalEmail(%+q) = %+q, whose canonical form is %+q (%v)", address, c, again, ok)
		}
	})
}
