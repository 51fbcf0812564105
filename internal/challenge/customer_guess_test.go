package challenge

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/redistest"
)

// TestTOTPGuessesCountAgainstTheCustomer (issue 18 review): a start that names a
// customer offers her authenticator app whatever social identity it names, so the
// app's failures count against the customer, not the identity. One client naming a
// fresh identity for every verification, with no wait, gets no more counted
// guesses at her secret than the per-client limit: then her app is locked for that
// client, and its starts offer it no more.
func TestTOTPGuessesCountAgainstTheCustomer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newIsolation(t, srv, srv.Client(t), false, "guess", Config{})
	ctx := context.Background()
	counted, refused := 0, 0
	for i := range 100 {
		r := f.startReq(TOTP, nil)
		r.ClientID, r.CustomerID = "platform-b", f.cust
		r.Identity.UserID = fmt.Sprint("sockpuppet-", i) // any identity: nothing ties it to the customer
		r.Methods, r.MinAssurance = []Method{TOTP}, assurance.Substantial
		res, err := f.svc.Start(ctx, r)
		var none *NoMethodError
		if errors.As(err, &none) {
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		for j := range 5 {
			out, err := f.svc.SubmitTOTP(ctx, pageToken(t, res), f.wrongTOTP(), fmt.Sprint("g", i, "-", j), "")
			if err != nil {
				t.Fatal(err)
			}
			if out.Outcome == OutcomeWrongCode || out.Outcome == OutcomeFailed {
				counted++
			}
		}
	}
	if counted > 20 {
		t.Errorf("one client made %d counted wrong app codes at one customer's secret, over fresh identities; want at most 20", counted)
	}
	if refused == 0 {
		t.Error("no start was refused once the customer's app was locked for the client")
	}
	// Another client, under its own limit, still verifies her with her app.
	r := f.startReq(TOTP, nil)
	r.ClientID, r.CustomerID = "platform-a", f.cust
	r.Methods, r.MinAssurance = []Method{TOTP}, assurance.Substantial
	if _, err := f.svc.Start(ctx, r); err != nil {
		t.Errorf("the first client's start after the second's guesses: %v", err)
	}
}
