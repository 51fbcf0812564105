package challenge

import (
	"context"
	"strings"
	"testing"

	"github.com/authsvc/authsvc/internal/audit"
)

// TestImpersonationReport: "this isn't the account I'm talking to", on a code
// page and on a magic link's page, ends the verification FAILED(REPORTED) like
// "this wasn't me", and its audit event is a report with r=impersonation (the
// flag an events layer turns into an alert for the brand's trust-and-safety
// team); a plain report's event carries no reason. A repeat counts once.
func TestImpersonationReport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	code := f.start(OTPEmail, email)
	if r, err := f.svc.ReportCodeImpersonation(ctx, pageToken(t, code), "i1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("ReportCodeImpersonation: %+v, %v", r, err)
	}
	if r, err := f.svc.ReportCodeImpersonation(ctx, pageToken(t, code), "i1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("repeated ReportCodeImpersonation: %+v, %v", r, err)
	}
	link := f.start(MagicLink, phone)
	if r, err := f.svc.ReportLinkImpersonation(ctx, f.linkToken(link.Verification.ID), "i2"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("ReportLinkImpersonation: %+v, %v", r, err)
	}
	plain := f.start(OTPEmail, email)
	if r, err := f.svc.ReportCodePage(ctx, pageToken(t, plain), "p1"); err != nil || r.Outcome != OutcomeReported {
		t.Fatalf("ReportCodePage: %+v, %v", r, err)
	}

	msgs := auditEntries(t, f.rdb, audit.StreamKey("", false))
	reason := map[string][]string{}
	for _, m := range msgs {
		if m.Values["k"] == audit.Reported {
			r, _ := m.Values["r"].(string)
			reason[m.Values["v"].(string)] = append(reason[m.Values["v"].(string)], r)
		}
	}
	for _, tt := range []struct {
		id, want string
	}{
		{code.Verification.ID, audit.ReasonImpersonation},
		{link.Verification.ID, audit.ReasonImpersonation},
		{plain.Verification.ID, ""},
	} {
		if got := reason[tt.id]; len(got) != 1 || got[0] != tt.want {
			t.Errorf("reported events of %s: reasons %q, want one %q", tt.id, got, tt.want)
		}
		if v := f.get(tt.id); v.State != Failed || v.Reason != ReasonReported {
			t.Errorf("%s: %v %v, want FAILED(REPORTED)", tt.id, v.State, v.Reason)
		}
	}
	if !strings.Contains(f.logs.String(), "impersonation=true") {
		t.Errorf("the report's log line does not flag the impersonation:\n%s", f.logs.String())
	}
}
