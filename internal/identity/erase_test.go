package identity

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/redistest"
)

// plant writes a hash (or a string, for a single value) the way another package
// would, with a TTL.
func (f *fixture) plant(key string, values ...string) {
	f.t.Helper()
	var err error
	if len(values) == 1 {
		err = f.rdb.Set(f.ctx, key, values[0], time.Hour).Err()
	} else {
		args := make([]any, len(values))
		for i, v := range values {
			args[i] = v
		}
		if err = f.rdb.HSet(f.ctx, key, args...).Err(); err == nil {
			err = f.rdb.Expire(f.ctx, key, time.Hour).Err()
		}
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) exists(key string) bool {
	f.t.Helper()
	n, err := f.rdb.Exists(f.ctx, key).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return n == 1
}

// Erase judges every key under the customer's and its identities' tags: what is
// the customer's goes, whole; what belongs to others sharing a tag stays. The
// verification records here are planted in package challenge's layout (the
// end-to-end test with real verifications is in package grpcapi).
func TestErase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := f.ctx
	const cust = "cust-42"
	ctag, ch := CustomerTag(f.keys, cust), CustomerHash(f.keys, cust)
	// Another customer, untouched by the erasure: everything there is now must
	// still be there after it.
	if _, err := f.store.Link(ctx, "platform-a", "cust-43", "x", "2", OwnLinks); err != nil {
		t.Fatal(err)
	}
	f.enrollTOTP("cust-43")
	other := f.allValues()
	for _, id := range [][2]string{{"x", "1"}, {"messenger", "abc"}} {
		if _, err := f.store.Link(ctx, "platform-a", cust, id[0], id[1], OwnLinks); err != nil {
			t.Fatal(err)
		}
	}
	totp, seed := f.enrollTOTP(cust)
	passkey := f.enrollPasskey(cust)
	open := enrollmentID(f.enroll(cust, KindTOTP))
	ceremony, _ := f.passkeyCeremony(cust) // open, with a pending ceremony

	// Verifications as package challenge keeps them: ours under the customer's tag
	// ('ck') and under a linked identity's tag ('lc', or started by the linked
	// identity with no customer known); others' beside them.
	itag, ih := IdentityTag(f.keys, "x", "1"), IdentityHash(f.keys, "x", "1")
	handle := base64.StdEncoding.EncodeToString(NewPasskeyUser(f.keys, cust, "", nil).WebAuthnID())
	rec := func(tag, body string) string { return "v:{" + tag + "}:" + tag + "-" + body }
	ours := map[string][]string{
		rec(ctag, "aaaaaaaaaaaaaaaaaaaa"): {"st", "2", "ck", ch, "ih", "someoneelse1", "p0", "x\x1fimpostor\x1f@i**r\x1f" + cust},
		rec(itag, "bbbbbbbbbbbbbbbbbbbb"): {"st", "1", "lc", cust, "ih", ih},
		rec(itag, "cccccccccccccccccccc"): {"st", "3", "ih", ih},
		// A passkey ceremony of our record, and one that outlived its record.
		rec(ctag, "aaaaaaaaaaaaaaaaaaaa") + ":s": {`{"challenge":"x","user_id":"` + handle + `"}`},
		rec(ctag, "dddddddddddddddddddd") + ":s": {`{"challenge":"y","user_id":"` + handle + `"}`},
		"v:{" + ctag + "}:k:" + "orphanpointr":   {cust},
	}
	theirs := map[string][]string{
		rec(ctag, "eeeeeeeeeeeeeeeeeeee"):                      {"st", "1", "ck", "OTHERCUSTOME", "ih", "anotheridnty"},
		rec(itag, "ffffffffffffffffffff"):                      {"st", "1", "lc", "cust-43", "ih", "anotheridnty"},
		rec(itag, "gggggggggggggggggggg"):                      {"st", "1", "ih", "anotheridnty"},
		rec(ctag, "hhhhhhhhhhhhhhhhhhhh") + ":s":               {`{"challenge":"z","user_id":"c29tZW9uZQ=="}`},
		"v:{" + ctag + "}:c:OTHERCUSTOME":                      {"cu", "cust-other", "pk", "ff"},
		"v:{" + ctag + "}:k:anotheridnty":                      {"cust-other"},
		"v:{" + ctag + "}:e:" + ctag + "-zzzzzzzzzzzzzzzzzzzz": {"st", "1", "ch", "OTHERCUSTOME", "ex", "99999999999999"},
	}
	for k, v := range ours {
		f.plant(k, v...)
	}
	for k, v := range theirs {
		f.plant(k, v...)
	}
	f.plant("v:{"+ctag+"}:i", ih+"fx", "3", "someoneelse1sx", "1", "anotheridntyfx", "2")
	f.plant("v:{"+itag+"}:i", ih+"fx", "3", ih+"ccnv", "x", "anotheridntyfx", "2")
	// The impostor's own tag is searched for verifications linked to the customer.
	impostorTag := IdentityTag(f.keys, "x", "impostor")
	f.plant(rec(impostorTag, "iiiiiiiiiiiiiiiiiiii"), "st", "2", "lc", cust, "ih", "impostorhash")
	ours[rec(impostorTag, "iiiiiiiiiiiiiiiiiiii")] = nil
	pkey := f.customerHash(cust)["pk"]
	// Audit entries as package challenge writes them for verifications that named
	// no customer: the identity by its keyed hash. Ours go; the newest is ours, so
	// the erasure appends an event before it deletes it (stream ids stay monotonic).
	mih := IdentityHash(f.keys, "messenger", "abc")
	trail := []struct {
		i    string
		ours bool
	}{{ih, true}, {"anotheridnty", false}, {audit.Pseudonym(pkey, ih), false}, {"impostorhash", true}, {mih, true}}
	base := f.clock.Now().UnixMilli() + 1000
	for n, e := range trail {
		id := strconv.FormatInt(base, 10) + "-" + strconv.Itoa(n)
		if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: audit.StreamKey("", false), ID: id,
			Values: []any{"k", audit.Started, "i", e.i}}).Err(); err != nil {
			t.Fatal(err)
		}
	}

	got, err := f.store.Erase(ctx, "platform-b", cust)
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	if want := (Erased{Identities: 2, Factors: 2, Verifications: 4, EnrollmentLinks: 2, AuditEntries: 3}); got != want {
		t.Errorf("Erase = %+v, want %+v", got, want)
	}
	for k := range ours {
		if f.exists(k) {
			t.Errorf("%s survived the erasure", k)
		}
	}
	for k := range theirs {
		if !f.exists(k) {
			t.Errorf("%s (someone else's) was erased", k)
		}
	}
	for _, k := range []string{CustomerKeyFor(f.keys, cust), EnrollmentKey(open), EnrollmentKey(enrollmentID(ceremony)),
		SessionKey(enrollmentID(ceremony)), CredentialKey(f.keys, passkey.Passkey.CredentialID),
		LinkKey(itag, ih), LinkKey(IdentityTag(f.keys, "messenger", "abc"), IdentityHash(f.keys, "messenger", "abc"))} {
		if f.exists(k) {
			t.Errorf("%s survived the erasure", k)
		}
	}
	if fields := f.rdb.HKeys(ctx, "v:{"+ctag+"}:i").Val(); strings.Join(fields, ",") != "anotheridntyfx" {
		t.Errorf("customer tag's counters left: %v", fields)
	}
	if fields := f.rdb.HKeys(ctx, "v:{"+itag+"}:i").Val(); strings.Join(fields, ",") != "anotheridntyfx" {
		t.Errorf("identity tag's counters left: %v", fields)
	}
	if _, _, ok, err := f.store.Resolve(ctx, "x", "1"); ok || err != nil {
		t.Errorf("Resolve after Erase = %v, %v", ok, err)
	}
	if fs := f.factors(cust); len(fs) != 0 {
		t.Errorf("factors after Erase: %v", fs)
	}

	// Nothing left names the customer, its identities or its factors; the other
	// customer's data is all there.
	left := strings.Join(f.allValues(), "\n")
	for _, s := range []string{cust, ch, ih, mih, "impostorhash", pkey, totp.ID, passkey.ID,
		b32text(seed), handle, base64.RawURLEncoding.EncodeToString(passkey.Passkey.CredentialID)} {
		if strings.Contains(left, s) {
			t.Errorf("%q survived the erasure", s)
		}
	}
	for _, s := range other {
		if !strings.Contains(left, s) {
			t.Errorf("another customer's %q was erased", s)
		}
	}

	// The trail keeps what is not ours; then the event that marks the deletion of
	// the newest entry, then one erased event naming the client and the counts and
	// nobody.
	entries := f.streamEntries(audit.StreamKey("", false))
	var is []string
	for _, e := range entries {
		if i, ok := e.Values["i"].(string); ok && e.Values["k"] == audit.Started {
			is = append(is, i)
		}
	}
	if want := []string{"anotheridnty", audit.Pseudonym(pkey, ih)}; !slices.Equal(is, want) {
		t.Errorf("trail identities left %v, want %v", is, want)
	}
	wantEvent(t, entries[len(entries)-2], map[string]string{"k": audit.Erased, "c": "platform-b", "o": "audit_entries"})
	wantEvent(t, entries[len(entries)-1], map[string]string{"k": audit.Erased, "c": "platform-b",
		"o": "identities=2,factors=2,verifications=4,enrollment_links=2,audit_entries=3"})
	if !strings.Contains(f.auditLogs.String(), `"kind":"erased"`) {
		t.Error("the erased event is not in the audit log")
	}

	// A repeat finds nothing and says so; it is on record too.
	if again, err := f.store.Erase(ctx, "platform-b", cust); err != nil || again != (Erased{}) {
		t.Errorf("second Erase = %+v, %v; want zero counts", again, err)
	}
	entries = f.streamEntries(audit.StreamKey("", false))
	wantEvent(t, entries[len(entries)-1], map[string]string{"k": audit.Erased, "c": "platform-b",
		"o": "identities=0,factors=0,verifications=0,enrollment_links=0,audit_entries=0"})

	// The customer starts again from nothing, under a new pseudonym key.
	if _, err := f.store.Link(ctx, "platform-a", cust, "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	if h := f.customerHash(cust); h["pk"] == "" || h["pk"] == pkey || len(f.factors(cust)) != 0 {
		t.Errorf("customer after Erase and Link: %v", h)
	}
	f.checkTTLs()
}

func TestEraseValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct{ client, customer, field string }{
		{"", "cust-42", "client_id"},
		{"platform-a", "", "customer_id"},
		{"platform-a", strings.Repeat("c", 129), "customer_id"},
		{"platform-a", "a\nb", "customer_id"},
	} {
		_, err := f.store.Erase(f.ctx, tc.client, tc.customer)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("Erase(%q, %q) = %v; want a violation on %s", tc.client, tc.customer, err, tc.field)
		}
	}
}

// On Redis Cluster the customer's and its identities' keys sit on different
// masters: Erase finds them on every master, deletes each on its own slot, and
// writes the erased event to the customer's tag's stream.
func TestEraseOnCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	f := newFixtureOn(t, nil, cluster.Client(t), Config{AuditPerTag: true})
	customers := []string{"cust-0", "cust-1", "cust-2", "cust-3"}
	for n, cust := range customers {
		for _, user := range []string{"a", "b", "c"} {
			if _, err := f.store.Link(f.ctx, "platform-a", cust, "x", cust+user, OwnLinks); err != nil {
				t.Fatal(err)
			}
		}
		f.enrollTOTP(cust)
		f.enrollPasskey(cust)
		if n == 0 {
			f.enroll(cust, KindPasskey)
		}
	}
	const cust = "cust-0"
	pkey := f.customerHash(cust)["pk"]
	got, err := f.store.Erase(f.ctx, "platform-b", cust)
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	if want := (Erased{Identities: 3, Factors: 2, EnrollmentLinks: 1}); got != want {
		t.Errorf("Erase = %+v, want %+v", got, want)
	}
	left := strings.Join(f.allValues(), "\n")
	for _, s := range []string{cust, CustomerHash(f.keys, cust), IdentityHash(f.keys, "x", cust+"a"), pkey} {
		if strings.Contains(left, s) {
			t.Errorf("%q survived the erasure", s)
		}
	}
	for _, other := range customers[1:] {
		if len(f.factors(other)) != 2 || !strings.Contains(left, other+"a") {
			t.Errorf("%s lost data", other)
		}
	}
	entries := f.streamEntries(audit.StreamKey(CustomerTag(f.keys, cust), true))
	wantEvent(t, entries[len(entries)-1], map[string]string{"k": audit.Erased, "c": "platform-b",
		"o": "identities=3,factors=2,verifications=0,enrollment_links=1,audit_entries=0"})
	if again, err := f.store.Erase(f.ctx, "platform-b", cust); err != nil || again != (Erased{}) {
		t.Errorf("second Erase = %+v, %v", again, err)
	}
}

// The keys erase_keys is given are whatever SCAN found: a key of an unexpected
// type where a record would be does not stop the erasure.
func TestEraseSkipsForeignShapes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctag := CustomerTag(f.keys, "cust-42")
	if _, err := f.store.Link(f.ctx, "platform-a", "cust-42", "x", "1", OwnLinks); err != nil {
		t.Fatal(err)
	}
	strange := []string{"v:{" + ctag + "}:" + ctag + "-aaaaaaaaaaaaaaaaaaaa", "v:{" + ctag + "}:e:whatever", "v:{" + ctag + "}:zz"}
	for _, k := range strange {
		if err := f.rdb.RPush(f.ctx, k, "x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := f.store.Erase(f.ctx, "platform-a", "cust-42"); err != nil || got.Identities != 1 {
		t.Fatalf("Erase = %+v, %v", got, err)
	}
	for _, k := range strange {
		if !f.exists(k) {
			t.Errorf("%s deleted", k)
		}
	}
}
