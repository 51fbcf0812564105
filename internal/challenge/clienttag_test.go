package challenge

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/identity"
)

// unkeyedTag is prelude.lua's client_tag, the tag of records made before tags were
// keyed: an UNKEYED sha1 of the identity hash and the
// client id. The identity hash is what ListAuditEvents returns to a client as
// identity_pseudonym for its own verifications that name no customer.
func unkeyedTag(ih, cl string) string {
	sum := sha1.Sum([]byte(ih + "|" + cl))
	n, _ := strconv.ParseUint(hex.EncodeToString(sum[:])[:8], 16, 64)
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	t := ""
	for range 3 {
		t += string(letters[n%52])
		n /= 52
	}
	return t
}

// TestChosenClientIDCannotShareAnotherClientsTag (issue 18 review): were client tags
// unkeyed, a partner that proposes its own client id (and reads a target identity's
// hash from its own audit events) could pick an id whose tag collides with
// platform-a's; its failures would then be platform-a's, locking the customer for
// platform-a alone. Tags are keyed (Service.clientTag): the ground id is no help.
func TestChosenClientIDCannotShareAnotherClientsTag(t *testing.T) {
	t.Parallel()
	srv := newFixture(t).srv
	f := newIsolation(t, srv, srv.Client(t), false, "r18tag", Config{MaxAttempts: 100, DefaultTTL: 3600e9})
	ih := identity.IdentityHash(f.svc.keys, "x", f.user) // = identity_pseudonym in the attacker's audit events
	want := unkeyedTag(ih, "platform-a")
	evil := ""
	for i := 0; ; i++ {
		if c := fmt.Sprint("partner-", i); unkeyedTag(ih, c) == want {
			evil = c
			break
		}
	}
	t.Logf("client id %q shares platform-a's tag %s for this identity", evil, want)
	ctx := context.Background()
	b := f.mustStartAs(evil, nil, assurance.Substantial, TOTP)
	for i := range 20 {
		if _, err := f.svc.SubmitTOTP(ctx, pageToken(t, b), f.wrongTOTP(), fmt.Sprint("e", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	var nm *NoMethodError
	if _, err := f.startAs("platform-a", nil, assurance.Substantial, TOTP); errors.As(err, &nm) {
		t.Errorf("platform-a's customer is locked out of her authenticator app by another client's 20 wrong codes")
	}
}
