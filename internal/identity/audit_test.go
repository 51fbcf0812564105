package identity

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/verify"
)

// streamEntries reads every entry of an audit stream, oldest first.
func (f *fixture) streamEntries(key string) []redis.XMessage {
	f.t.Helper()
	entries, err := f.rdb.XRange(f.ctx, key, "-", "+").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return entries
}

func kinds(entries []redis.XMessage) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Values["k"].(string))
	}
	return out
}

// enrollTOTP enrolls an authenticator app for customerID through a link of
// platform-a and returns the factor and its seed.
func (f *fixture) enrollTOTP(customerID string) (*Factor, []byte) {
	f.t.Helper()
	token := f.enroll(customerID, KindTOTP)
	_, secret, err := f.store.BeginTOTP(f.ctx, token, "")
	if err != nil {
		f.t.Fatalf("BeginTOTP: %v", err)
	}
	fac, err := f.store.ConfirmTOTP(f.ctx, token, codeAt(f.t, secret, verify.TOTPStep(f.clock.Now())), "", "")
	if err != nil {
		f.t.Fatalf("ConfirmTOTP: %v", err)
	}
	return fac, secret
}

// enrollPasskey enrolls a software passkey for customerID through a link of
// platform-a.
func (f *fixture) enrollPasskey(customerID string) *Factor {
	f.t.Helper()
	token, cc := f.passkeyCeremony(customerID)
	fac, err := f.finish(token, register(f.t, newAuthenticator(f.t), cc))
	if err != nil {
		f.t.Fatalf("FinishPasskey: %v", err)
	}
	return fac
}

// wantEvent fails unless e has exactly the fields want, besides a time 't' (written
// only when the entry id's time is not the event's).
func wantEvent(t *testing.T, e redis.XMessage, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range e.Values {
		if k != "t" {
			got[k] = v.(string)
		}
	}
	if len(got) != len(want) {
		t.Errorf("event %s = %v, want %v", e.ID, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("event %s: %s = %q, want %q (event %v)", e.ID, k, got[k], v, got)
		}
	}
}

// Every identity change is recorded once, by the script that makes it, with the
// client that asked and pseudonyms under the customer's own key; nothing in the
// trail or the audit log names the customer or the identity.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := f.ctx
	if _, err := f.store.Link(ctx, "platform-a", "cust-42", "x", "1234567", OwnLinks); err != nil {
		t.Fatal(err)
	}
	// A repeat links nothing new and records nothing.
	if _, err := f.store.Link(ctx, "platform-a", "cust-42", "x", "1234567", OwnLinks); err != nil {
		t.Fatal(err)
	}
	// A refused link records nothing.
	if _, err := f.store.Link(ctx, "platform-a", "cust-99", "x", "1234567", OwnLinks); !errors.Is(err, ErrLinkedElsewhere) {
		t.Fatalf("Link elsewhere = %v", err)
	}
	f.enrollTOTP("cust-42")
	pk := f.enrollPasskey("cust-42")
	if err := f.store.RemoveFactor(ctx, "platform-b", "cust-42", pk.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.RemoveFactor(ctx, "platform-b", "cust-42", pk.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second RemoveFactor = %v", err)
	}
	// Another client (with may_link) unlinks it: the event names the client that asked.
	if err := f.store.Unlink(ctx, "platform-b", "cust-42", "x", "1234567", AnyLinks); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Unlink(ctx, "platform-b", "cust-42", "x", "1234567", AnyLinks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unlink = %v", err)
	}

	key := f.customerHash("cust-42")["pk"]
	if b, err := hex.DecodeString(key); err != nil || len(b) != 32 {
		t.Fatalf("pseudonym key %q: want 64 hex digits", key)
	}
	if f.customerHash("cust-99")["pk"] == key {
		t.Fatal("two customers share a pseudonym key")
	}
	u := audit.Pseudonym(key, CustomerHash(f.keys, "cust-42"))
	i := audit.Pseudonym(key, IdentityHash(f.keys, "x", "1234567"))
	entries := f.streamEntries(audit.StreamKey("", false))
	want := []map[string]string{
		{"k": audit.IdentityLinked, "c": "platform-a", "o": "ok", "u": u, "i": i},
		{"k": audit.FactorEnrolled, "c": "platform-a", "m": "totp", "o": "ok", "u": u},
		{"k": audit.FactorEnrolled, "c": "platform-a", "m": "webauthn", "o": "ok", "u": u},
		{"k": audit.FactorRemoved, "c": "platform-b", "m": "webauthn", "o": "ok", "u": u},
		{"k": audit.IdentityUnlinked, "c": "platform-b", "o": "ok", "u": u, "i": i},
	}
	if len(entries) != len(want) {
		t.Fatalf("events %v, want %d", kinds(entries), len(want))
	}
	for n, e := range entries {
		wantEvent(t, e, want[n])
	}

	// Neither the trail nor the audit log names the customer or the identity, in
	// clear or by the keyed hashes the store keys them by.
	var trail []string
	for _, e := range entries {
		for k, v := range e.Values {
			trail = append(trail, k, v.(string))
		}
	}
	logs := f.auditLogs.String()
	for _, secret := range []string{"cust-42", "1234567", CustomerHash(f.keys, "cust-42"), IdentityHash(f.keys, "x", "1234567"), key} {
		if slices.ContainsFunc(trail, func(s string) bool { return strings.Contains(s, secret) }) {
			t.Errorf("the audit trail contains %q", secret)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the audit log contains %q", secret)
		}
	}
	// The audit log mirrors each event with its stream entry id.
	if lines := strings.Count(logs, `"msg":"audit"`); lines != len(want) {
		t.Errorf("%d audit log lines, want %d:\n%s", lines, len(want), logs)
	}
	for _, e := range entries {
		if !strings.Contains(logs, `"id":"`+e.ID+`"`) {
			t.Errorf("the audit log lacks event %s", e.ID)
		}
	}
	f.checkTTLs()
}

// A customer whose pseudonym key exists already (a verification created it) keeps
// it: the trail names the customer the same way whichever package wrote the event.
func TestAuditKeepsPseudonymKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	if err := f.rdb.HSet(f.ctx, CustomerKeyFor(f.keys, "cust-42"), "pk", key).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	f.enrollTOTP("cust-42")
	if got := f.customerHash("cust-42")["pk"]; got != key {
		t.Fatalf("pseudonym key replaced: %q", got)
	}
	for _, e := range f.streamEntries(audit.StreamKey("", false)) {
		if e.Values["u"] != audit.Pseudonym(key, CustomerHash(f.keys, "cust-42")) {
			t.Errorf("event %v: customer pseudonym not under the existing key", e.Values)
		}
	}
}

// With AuditPerTag (Redis Cluster), each event goes to the stream of the slot its
// script runs on: every identity event to the customer's tag's stream, where a
// query for the customer reads.
func TestAuditPerTag(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, Config{AuditPerTag: true})
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	f.enrollTOTP("cust-42")
	if err := f.store.Unlink(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	ctag, itag := CustomerTag(f.keys, "cust-42"), IdentityTag(f.keys, "x", "1")
	if got := kinds(f.streamEntries(audit.StreamKey(ctag, true))); !slices.Equal(got,
		[]string{audit.IdentityLinked, audit.FactorEnrolled, audit.IdentityUnlinked}) {
		t.Errorf("customer's stream: %v", got)
	}
	if n := f.rdb.Exists(f.ctx, audit.StreamKey(itag, true)).Val(); n != 0 {
		t.Error("an event went to the identity's stream")
	}
	if n := f.rdb.Exists(f.ctx, audit.StreamKey("", false)).Val(); n != 0 {
		t.Error("an event went to the shared stream")
	}
}

// A Link interrupted after its pointer was set leaves the entry pending and nothing
// in the trail; the repeated Link records the link, once. Unlinking an entry that
// was never recorded as linked records nothing either.
func TestAuditInterruptedLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ckey, ih := CustomerKeyFor(f.keys, "cust-42"), IdentityHash(f.keys, "x", "1")
	itag := IdentityTag(f.keys, "x", "1")
	// As link_entry and link_pointer leave it when the process dies before link_done.
	f.plant(ckey, "L"+ih, encodeLinked(Linked{Network: "x", UserID: "1", Client: "platform-a", Linked: f.clock.Now()})+linkPending,
		"cu", "cust-42")
	f.plant(LinkKey(itag, ih), LinkValue("cust-42", "platform-a"))
	if ls, err := f.store.Identities(f.ctx, "cust-42"); err != nil || len(ls) != 1 || ls[0].UserID != "1" {
		t.Fatalf("Identities with a pending entry = %v, %v", ls, err)
	}
	if n := len(f.streamEntries(audit.StreamKey("", false))); n != 0 {
		t.Fatalf("%d events before the link was recorded", n)
	}
	for range 2 {
		if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
			t.Fatal(err)
		}
	}
	if got := kinds(f.streamEntries(audit.StreamKey("", false))); !slices.Equal(got, []string{audit.IdentityLinked}) {
		t.Fatalf("events %v", got)
	}
	if v := f.customerHash("cust-42")["L"+ih]; strings.HasSuffix(v, linkPending) {
		t.Fatalf("entry still pending: %q", v)
	}

	// An entry left pending by a Link that lost its pointer: unlinking it is quiet.
	ih2 := IdentityHash(f.keys, "x", "2")
	f.plant(ckey, "L"+ih2, encodeLinked(Linked{Network: "x", UserID: "2", Client: "platform-a", Linked: f.clock.Now()})+linkPending)
	if err := f.store.Unlink(f.ctx, "platform-a", "cust-42", "x", "2", OwnLinks); err != nil {
		t.Fatal(err)
	}
	if got := kinds(f.streamEntries(audit.StreamKey("", false))); !slices.Equal(got, []string{audit.IdentityLinked}) {
		t.Fatalf("events %v", got)
	}
}
