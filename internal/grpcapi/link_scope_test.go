package grpcapi

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
)

// In these tests (enrollGrants) clientA has no may_link and trusts clientB's
// enrollments; clientB has may_link and trusts only its own.

// startUnnamed starts a verification of x/userID as the client of key, naming no
// customer, and returns the customer it names.
func (f *fixture) startUnnamed(t *testing.T, key, requestID, userID string) string {
	t.Helper()
	r := validStart(requestID)
	r.CustomerId, r.Identity.UserId, r.Destination = "", userID, destFor(requestID)
	res, err := f.vc.StartVerification(as(t, key), r)
	if err != nil {
		t.Fatalf("StartVerification %s: %v", requestID, err)
	}
	return res.GetVerification().GetCustomerId()
}

// listAs lists the customer's links as the client of key, proven by proofID.
func (f *fixture) listAs(t *testing.T, key, customer, proofID string) []string {
	t.Helper()
	res, err := f.ec.ListIdentities(as(t, key), &authsvcv1.ListIdentitiesRequest{CustomerId: customer, VerificationId: proofID})
	if err != nil {
		t.Fatalf("ListIdentities: %v", err)
	}
	var out []string
	for _, l := range res.GetIdentities() {
		out = append(out, l.GetNetwork()+"/"+l.GetUserId())
	}
	return out
}

// A client can "prove" any customer: it names her in a start whose identity and
// destination it picks (its own social account, its own mailbox) and reads the
// code. Such a proof reaches only the client's own links: it neither reads nor
// breaks a link another client made (review of issue 18).
func TestSelfMadeProofReachesOnlyTheClientsOwnLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()}) // clientA: no may_link; clientB: may_link
	// The honest platform (B) links Alice's real account x/1001 to her customer.
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("1001")}); err != nil {
		t.Fatal(err)
	}
	// The hostile client (A) verifies "cust-alice" with its OWN social identity and
	// its OWN mailbox (destFor gives hostile-proof@example.com): it reads the code.
	proofID := f.verification(t, keyA, "hostile-proof", "cust-alice", "6666", false)

	list, err := f.ec.ListIdentities(as(t, keyA), &authsvcv1.ListIdentitiesRequest{CustomerId: "cust-alice", VerificationId: proofID})
	if err == nil {
		for _, l := range list.GetIdentities() {
			t.Errorf("hostile client read another client's link: %s/%s", l.GetNetwork(), l.GetUserId())
		}
	}
	_, err = f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-alice",
		Identity: xIdentity("1001"), VerificationId: proofID})
	if err == nil {
		t.Errorf("hostile client broke another client's link with a self-made proof")
	} else {
		// The answer for no link at all: nothing says the identity is hers.
		wantCode(t, err, codes.NotFound)
	}
	if got := f.identities(t, "cust-alice"); len(got) == 0 {
		t.Errorf("Alice's link is gone")
	}

	// What the proof does reach: the client's own link, which it lists and breaks.
	if _, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("6666"), VerificationId: proofID}); err != nil {
		t.Fatal(err)
	}
	if got := f.listAs(t, keyA, "cust-alice", proofID); len(got) != 1 || got[0] != "x/6666" {
		t.Errorf("clientA lists %v; want its own link only", got)
	}
	// may_link reads every client's links.
	if got := f.listAs(t, keyB, "cust-alice", ""); len(got) != 2 {
		t.Errorf("clientB (may_link) lists %v; want both links", got)
	}
	if _, err := f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-alice",
		Identity: xIdentity("6666"), VerificationId: proofID}); err != nil {
		t.Errorf("clientA unlinking its own link: %v", err)
	}
	if got := f.listAs(t, keyB, "cust-alice", ""); len(got) != 1 || got[0] != "x/1001" {
		t.Errorf("after clientA's unlink, clientB lists %v; want Alice's link alone", got)
	}
}

// The same self-made proof links an identity the hostile client names (its own
// puppet account) to any customer. The link is the hostile client's word: another
// client that does not trust its enrollments starts a verification of that
// account, naming no customer, without the victim as its subject (review of issue
// 18). A client that does trust the link's maker uses the link.
func TestUntrustedClientsLinkNamesNoSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	proofID := f.verification(t, keyA, "puppet-proof", "cust-alice", "6666", false)
	if _, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("6666"), VerificationId: proofID}); err != nil {
		t.Fatalf("LinkIdentity: %v", err)
	}
	// An honest client (B) verifies the DM sender x/6666 without naming a customer,
	// sending the code to the contact it has for that sender (the attacker's).
	r := validStart("honest-b")
	r.CustomerId, r.Identity.UserId, r.Destination = "", "6666", destFor("mallory")
	res, err := f.vc.StartVerification(as(t, keyB), r)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetVerification().GetCustomerId() == "cust-alice" {
		t.Errorf("client B's verification of the attacker's own account names cust-alice as its subject")
	}
	// The maker itself uses its own link.
	if got := f.startUnnamed(t, keyA, "maker-a", "6666"); got != "cust-alice" {
		t.Errorf("clientA's start for its own link names %q", got)
	}
}

// A link made by a client the starting client trusts (clientA trusts clientB's
// enrollments) names the customer of its starts that name none.
func TestTrustedClientsLinkNamesTheSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("1001")}); err != nil {
		t.Fatal(err)
	}
	if got := f.startUnnamed(t, keyA, "trusting-a", "1001"); got != "cust-alice" {
		t.Errorf("clientA (trusting clientB) names %q; want cust-alice", got)
	}
	if got := f.startUnnamed(t, keyB, "maker-b", "1001"); got != "cust-alice" {
		t.Errorf("clientB's own link names %q; want cust-alice", got)
	}
}

// LinkIdentity of an identity another client linked answers as for one linked to
// another customer, word for word, and leaves the link as it was: the answer says
// the identity is taken, never by whom or for whom. A client with may_link takes
// another client's link to the same customer over.
func TestLinkIdentityLinkedByAnotherClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("1001")}); err != nil {
		t.Fatal(err)
	}
	same := f.verification(t, keyA, "same-customer", "cust-alice", "1001", false)
	_, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("1001"), VerificationId: same})
	sameMsg := wantReason(t, err, codes.FailedPrecondition, ReasonIdentityLinkedElsewhere)
	other := f.verification(t, keyA, "other-customer", "cust-bob", "1001", false)
	_, err = f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-bob", Identity: xIdentity("1001"), VerificationId: other})
	if otherMsg := wantReason(t, err, codes.FailedPrecondition, ReasonIdentityLinkedElsewhere); otherMsg != sameMsg {
		t.Errorf("linked by another client to this customer: %q; to another customer: %q; want one answer", sameMsg, otherMsg)
	}
	if got := f.listAs(t, keyB, "cust-alice", ""); len(got) != 1 {
		t.Errorf("cust-alice's links = %v", got)
	}
	if got := f.listAs(t, keyA, "cust-alice", same); len(got) != 0 {
		t.Errorf("clientA lists %v after its refused link; want none of its own", got)
	}

	// may_link takes clientA's link to the same customer over: clientA no longer
	// lists or unlinks it, and uses it as clientB's (it trusts clientB).
	if _, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("2002"), VerificationId: f.verification(t, keyA, "own-2002", "cust-alice", "2002", false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("2002")}); err != nil {
		t.Fatalf("may_link taking over a link: %v", err)
	}
	if got := f.listAs(t, keyA, "cust-alice", same); len(got) != 0 {
		t.Errorf("clientA lists %v after the take-over", got)
	}
	_, err = f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-alice",
		Identity: xIdentity("2002"), VerificationId: same})
	wantCode(t, err, codes.NotFound)
	if got := f.startUnnamed(t, keyA, "after-take-over", "2002"); got != "cust-alice" {
		t.Errorf("clientA's start after the take-over names %q", got)
	}
}

// A link made before links recorded their client (the pointer holds the customer
// id alone) is a link of no known client: a client that does not trust every
// client does not use it, nor list or unlink it on a proof; may_link lists it and
// takes it over, and the link is then the may_link client's.
func TestLegacyLinkThroughTheAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	ring, err := keyedhash.NewRing(keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ih := identity.IdentityHash(ring, "x", "3003")
	entry := "x\x1f3003\x1f" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := f.rdb.HSet(ctx, identity.CustomerKeyFor(ring, "cust-alice"), "L"+ih, entry, "cu", "cust-alice").Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.Set(ctx, identity.LinkKey(identity.IdentityTag(ring, "x", "3003"), ih), "cust-alice", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	if got := f.startUnnamed(t, keyA, "legacy-a", "3003"); got != "" {
		t.Errorf("clientA (trusting clientB only) uses the legacy link: %q", got)
	}
	proof := f.verification(t, keyA, "legacy-proof", "cust-alice", "6666", false)
	if got := f.listAs(t, keyA, "cust-alice", proof); len(got) != 0 {
		t.Errorf("clientA lists %v", got)
	}
	_, err = f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-alice",
		Identity: xIdentity("3003"), VerificationId: proof})
	wantCode(t, err, codes.NotFound)
	if got := f.listAs(t, keyB, "cust-alice", ""); len(got) != 1 || got[0] != "x/3003" {
		t.Fatalf("clientB (may_link) lists %v; want the legacy link", got)
	}

	// The migration: the may_link client links it again, and it is its link.
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-alice", Identity: xIdentity("3003")}); err != nil {
		t.Fatalf("may_link linking a legacy link again: %v", err)
	}
	if got := f.startUnnamed(t, keyA, "migrated-a", "3003"); got != "cust-alice" {
		t.Errorf("clientA (trusting clientB) after the migration names %q", got)
	}
}
