package grpcapi

import (
	"bytes"
	"context"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
)

// enrollGrants: clientA may call every RPC but holds none of may_link,
// may_enroll and may_erase, so it has to prove links and enrollments with its
// verifications and may not erase; clientB holds all three.
func enrollGrants() map[string]Grants {
	a, b := allGrants(), allGrants()
	b.MayLink, b.MayEnroll, b.MayErase = true, true, true
	// clientB is the brand's own enrollment system: clientA's verifications may
	// use the factors enrolled through it.
	a.TrustEnrollmentsFrom = []string{clientB}
	return map[string]Grants{clientA: a, clientB: b}
}

// destFor is the destination verification sends requestID's code to.
func destFor(requestID string) *authsvcv1.Destination {
	return &authsvcv1.Destination{Kind: &authsvcv1.Destination_Email{Email: requestID + "@example.com"}}
}

// verification starts an OTP_EMAIL verification as the client of key, for
// customer (none when "") and the identity x/userID, and completes it through
// the domain as the customer's page does unless pending is set. Each request id
// has its own destination, so the per-destination limit stays out of the way.
func (f *fixture) verification(t *testing.T, key, requestID, customer, userID string, pending bool) string {
	t.Helper()
	r := validStart(requestID)
	r.CustomerId = customer
	r.Identity.UserId = userID
	r.Destination = destFor(requestID)
	start, err := f.vc.StartVerification(as(t, key), r)
	if err != nil {
		t.Fatalf("StartVerification %s: %v", requestID, err)
	}
	id := start.GetVerification().GetVerificationId()
	if pending {
		return id
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.svc.SubmitCode(ctx, pageToken(t, start.GetCustomerUrl()), f.codeFor(t, id), "nonce-"+requestID,
		"browser-"+requestID)
	if err != nil || res.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SubmitCode %s = %+v, %v; want verified", requestID, res, err)
	}
	return id
}

func xIdentity(userID string) *authsvcv1.SocialIdentity {
	return &authsvcv1.SocialIdentity{Network: "x", UserId: userID, Handle: "@alice"}
}

// identities lists the customer's links as clientB, which has may_link.
func (f *fixture) identities(t *testing.T, customer string) []*authsvcv1.LinkedIdentity {
	t.Helper()
	res, err := f.ec.ListIdentities(as(t, keyB), &authsvcv1.ListIdentitiesRequest{CustomerId: customer})
	if err != nil {
		t.Fatalf("ListIdentities: %v", err)
	}
	return res.GetIdentities()
}

// wantReason fails t unless err is code c with ErrorInfo reason and no metadata,
// and returns the status message.
func wantReason(t *testing.T, err error, c codes.Code, reason string) string {
	t.Helper()
	st := wantCode(t, err, c)
	ei := errorInfo(t, st)
	if ei.GetReason() != reason || len(ei.GetMetadata()) != 0 {
		t.Errorf("ErrorInfo = %v, want reason %s without metadata", ei, reason)
	}
	return st.Message()
}

func TestLinkIdentityWithVerification(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	id := f.verification(t, keyA, "link-ok", "cust-42", "1001", false)
	began := time.Now()

	res, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-42", Identity: xIdentity("1001"), VerificationId: id})
	if err != nil {
		t.Fatalf("LinkIdentity: %v", err)
	}
	l := res.GetIdentity()
	if l.GetNetwork() != "x" || l.GetUserId() != "1001" || l.GetLinkTime() == nil ||
		l.GetLinkTime().AsTime().Before(began.Add(-time.Second)) {
		t.Errorf("linked identity = %v", l)
	}
	// The same proof links again (a retry): the link and its time stay.
	again, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
		CustomerId: "cust-42", Identity: xIdentity("1001"), VerificationId: id})
	if err != nil || !again.GetIdentity().GetLinkTime().AsTime().Equal(l.GetLinkTime().AsTime()) {
		t.Errorf("repeated LinkIdentity = %v, %v; want the first link", again, err)
	}
	if got := f.identities(t, "cust-42"); len(got) != 1 || got[0].GetUserId() != "1001" {
		t.Fatalf("ListIdentities = %v", got)
	}
	if !strings.Contains(f.logs.String(), `"verification_id":"`+id+`"`) {
		t.Error("the log line of LinkIdentity does not name the verification that proved it")
	}

	// ListIdentities and UnlinkIdentity follow LinkIdentity's rule: without
	// may_link, a recent verification of the customer by the same client.
	own, err := f.ec.ListIdentities(as(t, keyA), &authsvcv1.ListIdentitiesRequest{CustomerId: "cust-42", VerificationId: id})
	if err != nil || len(own.GetIdentities()) != 1 {
		t.Fatalf("ListIdentities with the verification = %v, %v", own, err)
	}
	other := f.verification(t, keyA, "link-other", "cust-43", "1002", false)
	for name, call := range map[string]func() error{
		"list without proof": func() error {
			_, err := f.ec.ListIdentities(as(t, keyA), &authsvcv1.ListIdentitiesRequest{CustomerId: "cust-42"})
			return err
		},
		"list with another customer's verification": func() error {
			_, err := f.ec.ListIdentities(as(t, keyA), &authsvcv1.ListIdentitiesRequest{CustomerId: "cust-42", VerificationId: other})
			return err
		},
		"unlink without proof": func() error {
			_, err := f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity("1001")})
			return err
		},
		"unlink with another customer's verification": func() error {
			_, err := f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-42",
				Identity: xIdentity("1001"), VerificationId: other})
			return err
		},
	} {
		if msg := wantReason(t, call(), codes.PermissionDenied, ReasonVerificationRequired); strings.Contains(msg, "1001") {
			t.Errorf("%s: message %q names the identity", name, msg)
		}
	}
	if got := f.identities(t, "cust-42"); len(got) != 1 {
		t.Fatalf("a refused unlink unlinked: %v", got)
	}

	// Unlink: gone from the list; a second unlink, or one by another customer, is NOT_FOUND.
	_, err = f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity("1001"),
		VerificationId: id})
	if err != nil {
		t.Fatalf("UnlinkIdentity: %v", err)
	}
	if got := f.identities(t, "cust-42"); len(got) != 0 {
		t.Errorf("after unlink: %v", got)
	}
	_, err = f.ec.UnlinkIdentity(as(t, keyA), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity("1001"),
		VerificationId: id})
	st := wantCode(t, err, codes.NotFound)
	if strings.Contains(st.Message(), "cust-42") || strings.Contains(st.Message(), "1001") {
		t.Errorf("NOT_FOUND message %q names the customer or identity", st.Message())
	}
}

func TestLinkIdentityWithGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	// clientB may link without a verification, and reads none: the link's three
	// scripts are its only round trips (once they are loaded): the customer's
	// entry, the identity's pointer, and the step that records the link on the
	// customer's slot, where its audit event belongs.
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-6", Identity: xIdentity("2001")}); err != nil {
		t.Fatalf("LinkIdentity with may_link: %v", err)
	}
	rtt := redistest.RoundTrips(f.rdb)
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-7", Identity: xIdentity("2002")}); err != nil {
		t.Fatalf("LinkIdentity with may_link: %v", err)
	}
	if n := rtt.Load(); n != 3 {
		t.Errorf("LinkIdentity with the grant took %d round trips, want the link's 3", n)
	}
	// Linked elsewhere: FAILED_PRECONDITION, nothing named.
	_, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-8", Identity: xIdentity("2002")})
	msg := wantReason(t, err, codes.FailedPrecondition, ReasonIdentityLinkedElsewhere)
	for _, secret := range []string{"cust-7", "cust-8", "2002", "@alice"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message %q names %q", msg, secret)
		}
	}
	// An unlink by the wrong customer leaves the link alone.
	_, err = f.ec.UnlinkIdentity(as(t, keyB), &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-8", Identity: xIdentity("2002")})
	wantCode(t, err, codes.NotFound)
	if got := f.identities(t, "cust-7"); len(got) != 1 {
		t.Errorf("cust-7 identities = %v", got)
	}
}

// TestLinkIdentityRefused: without may_link, every verification that does not
// prove the link is refused with one answer, whatever is wrong with it, and
// nothing is linked.
func TestLinkIdentityRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	link := func(userID, verificationID string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := f.ec.LinkIdentity(ctx, &authsvcv1.LinkIdentityRequest{
				CustomerId: "cust-42", Identity: xIdentity(userID), VerificationId: verificationID})
			return err
		}
	}
	foreign := f.verification(t, keyB, "lr-foreign", "cust-42", "3001", false)
	pending := f.verification(t, keyA, "lr-pending", "cust-42", "3002", true)
	otherCustomer := f.verification(t, keyA, "lr-other-cust", "cust-43", "3003", false)
	otherIdentity := f.verification(t, keyA, "lr-other-id", "cust-42", "3099", false)
	noCustomer := f.verification(t, keyA, "lr-no-cust", "", "3005", false)
	canceled := f.verification(t, keyA, "lr-canceled", "cust-42", "3006", false)
	if _, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: canceled, RequestId: "c1"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		call    func(ctx context.Context) error
		noRedis bool // refused before any Redis round trip
	}{
		{"no verification id", link("3000", ""), true},
		{"unknown id", link("3000", "aaa-aaaaaaaaaaaaaaaa"), false},
		{"malformed id", link("3000", "not-an-id"), false},
		{"another client's verification", link("3001", foreign), false},
		{"pending verification", link("3002", pending), false},
		{"another customer's verification", link("3003", otherCustomer), false},
		{"another identity's verification", link("3004", otherIdentity), false},
		{"verification without a customer", link("3005", noCustomer), false},
		{"revoked verification", link("3006", canceled), false},
	}
	rtt := redistest.RoundTrips(f.rdb)
	var messages []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rtt.Reset()
			msg := wantReason(t, tt.call(as(t, keyA)), codes.PermissionDenied, ReasonVerificationRequired)
			messages = append(messages, msg)
			if n := rtt.Load(); tt.noRedis && n != 0 {
				t.Errorf("%d Redis round trips, want 0", n)
			} else if n > 1 {
				t.Errorf("%d Redis round trips to refuse, want at most the verification's read", n)
			}
		})
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("refusals differ: %q", messages)
		}
	}
	for _, c := range []string{"cust-42", "cust-43"} {
		if got := f.identities(t, c); len(got) != 0 {
			t.Errorf("%s has identities %v after refusals", c, got)
		}
	}
	// The other client's proof still works for that client, and the id it
	// could not use was the only problem: clientA's own proof works too.
	own := f.verification(t, keyA, "lr-own", "cust-42", "3001", false)
	if err := link("3001", own)(as(t, keyA)); err != nil {
		t.Errorf("LinkIdentity with its own verification: %v", err)
	}
}

// TestEnrollmentWindow: a verification proves a link or an enrollment only
// within the enrollment window of the server's clock.
func TestEnrollmentWindow(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	f := newFixture(t, fixtureOpts{grants: enrollGrants(), skew: &skew, cfg: Config{EnrollmentWindow: 5 * time.Minute}})
	id := f.verification(t, keyA, "window", "cust-42", "4001", false)
	link := func() error {
		_, err := f.ec.LinkIdentity(as(t, keyA), &authsvcv1.LinkIdentityRequest{
			CustomerId: "cust-42", Identity: xIdentity("4001"), VerificationId: id})
		return err
	}
	enroll := func() error {
		_, err := f.ec.CreateEnrollmentLink(as(t, keyA), &authsvcv1.CreateEnrollmentLinkRequest{
			CustomerId: "cust-42", Method: authsvcv1.Method_METHOD_WEBAUTHN, VerificationId: id,
			Destination: destFor("window")})
		return err
	}
	skew.Store(int64(5*time.Minute + 5*time.Second))
	wantReason(t, link(), codes.PermissionDenied, ReasonVerificationRequired)
	wantReason(t, enroll(), codes.PermissionDenied, ReasonVerificationRequired)
	skew.Store(int64(4 * time.Minute))
	if err := link(); err != nil {
		t.Errorf("LinkIdentity 4 min after verifying: %v", err)
	}
	if err := enroll(); err != nil {
		t.Errorf("CreateEnrollmentLink 4 min after verifying: %v", err)
	}
}

func TestLinkIdentityInvalidArgument(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	tests := []struct {
		name  string
		req   *authsvcv1.LinkIdentityRequest
		field string
	}{
		{"no customer", &authsvcv1.LinkIdentityRequest{Identity: xIdentity("1")}, "customer_id"},
		{"long customer", &authsvcv1.LinkIdentityRequest{CustomerId: strings.Repeat("c", 129), Identity: xIdentity("1")}, "customer_id"},
		{"no identity", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42"}, "identity"},
		{"no network", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42",
			Identity: &authsvcv1.SocialIdentity{UserId: "1"}}, "identity.network"},
		{"bad network", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42",
			Identity: &authsvcv1.SocialIdentity{Network: "X!", UserId: "1"}}, "identity.network"},
		{"no user id", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42",
			Identity: &authsvcv1.SocialIdentity{Network: "x"}}, "identity.user_id"},
		{"long user id", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity(strings.Repeat("1", 129))}, "identity.user_id"},
		{"long handle", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42",
			Identity: &authsvcv1.SocialIdentity{Network: "x", UserId: "1", Handle: "@" + strings.Repeat("a", 64)}}, "identity.handle"},
		{"long verification id", &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity("1"),
			VerificationId: strings.Repeat("v", 65)}, "verification_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// clientB may link: the request's shape is all that is wrong.
			_, err := f.ec.LinkIdentity(as(t, keyB), tt.req)
			st := wantCode(t, err, codes.InvalidArgument)
			if got := fields(t, st); len(got) == 0 || got[0] != tt.field {
				t.Errorf("field violations = %v, want %q first", got, tt.field)
			}
		})
	}
	for name, call := range map[string]func(ctx context.Context) error{
		"unlink without identity": func(ctx context.Context) error {
			_, err := f.ec.UnlinkIdentity(ctx, &authsvcv1.UnlinkIdentityRequest{CustomerId: "cust-42"})
			return err
		},
		"list identities without customer": func(ctx context.Context) error {
			_, err := f.ec.ListIdentities(ctx, &authsvcv1.ListIdentitiesRequest{})
			return err
		},
		"list factors without customer": func(ctx context.Context) error {
			_, err := f.ec.ListFactors(ctx, &authsvcv1.ListFactorsRequest{})
			return err
		},
		"remove factor without factor": func(ctx context.Context) error {
			_, err := f.ec.RemoveFactor(ctx, &authsvcv1.RemoveFactorRequest{CustomerId: "cust-42"})
			return err
		},
		"remove factor with a malformed id": func(ctx context.Context) error {
			_, err := f.ec.RemoveFactor(ctx, &authsvcv1.RemoveFactorRequest{CustomerId: "cust-42", FactorId: "NOT A FACTOR"})
			return err
		},
	} {
		st := wantCode(t, call(as(t, keyB)), codes.InvalidArgument)
		if len(fields(t, st)) == 0 {
			t.Errorf("%s: no field violation", name)
		}
	}
}

// TestLinkIdentityRace: one identity linked to different customers at once:
// exactly one wins, every other call is FAILED_PRECONDITION.
func TestLinkIdentityRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{
				CustomerId: fmt.Sprintf("race-%d", i), Identity: xIdentity("5005")})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Errorf("race-%d and race-%d both linked the identity", winner, i)
			}
			winner = i
			continue
		}
		wantReason(t, err, codes.FailedPrecondition, ReasonIdentityLinkedElsewhere)
	}
	if winner < 0 {
		t.Fatal("no LinkIdentity succeeded")
	}
	for i := range n {
		got := f.identities(t, fmt.Sprintf("race-%d", i))
		if want := map[bool]int{true: 1, false: 0}[i == winner]; len(got) != want {
			t.Errorf("race-%d has %d identities, want %d", i, len(got), want)
		}
	}
}

func TestCreateEnrollmentLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	id := f.verification(t, keyA, "enroll-ok", "cust-42", "6001", false)
	tests := []struct {
		method authsvcv1.Method
		locale string
		want   []string
	}{
		{authsvcv1.Method_METHOD_TOTP, "", []string{"authenticator app", "15 minutes"}},
		{authsvcv1.Method_METHOD_WEBAUTHN, "en-GB", []string{"passkey", "15 minutes"}},
		{authsvcv1.Method_METHOD_WEBAUTHN, "es-MX", []string{"llave de acceso", "15 minutos"}},
		{authsvcv1.Method_METHOD_TOTP, "es", []string{"app de autenticación", "15 minutos"}},
	}
	for _, tt := range tests {
		began := time.Now()
		res, err := f.ec.CreateEnrollmentLink(as(t, keyA), &authsvcv1.CreateEnrollmentLinkRequest{
			CustomerId: "cust-42", Method: tt.method, VerificationId: id, Locale: tt.locale,
			Destination: destFor("enroll-ok")})
		if err != nil {
			t.Fatalf("CreateEnrollmentLink %v %q: %v", tt.method, tt.locale, err)
		}
		if !strings.HasPrefix(res.GetEnrollmentUrl(), "https://verify.example.com/e/") {
			t.Errorf("enrollment_url = %q", res.GetEnrollmentUrl())
		}
		if exp := res.GetExpireTime().AsTime(); exp.Before(began.Add(15*time.Minute-time.Second)) || exp.After(time.Now().Add(15*time.Minute)) {
			t.Errorf("expire_time = %v, want 15 min from now", exp)
		}
		dm := res.GetDmText()
		if !strings.Contains(dm, res.GetEnrollmentUrl()) {
			t.Errorf("dm_text %q does not carry the link", dm)
		}
		for _, w := range tt.want {
			if !strings.Contains(dm, w) {
				t.Errorf("dm_text %q lacks %q", dm, w)
			}
		}
		if strings.Contains(dm, "cust-42") || strings.Contains(dm, "6001") {
			t.Errorf("dm_text %q names the customer or identity", dm)
		}
	}
	// clientB may enroll without a verification.
	if _, err := f.ec.CreateEnrollmentLink(as(t, keyB), &authsvcv1.CreateEnrollmentLinkRequest{
		CustomerId: "cust-9", Method: authsvcv1.Method_METHOD_TOTP}); err != nil {
		t.Errorf("CreateEnrollmentLink with may_enroll: %v", err)
	}
}

func TestCreateEnrollmentLinkRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	foreign := f.verification(t, keyB, "er-foreign", "cust-42", "7001", false)
	otherCustomer := f.verification(t, keyA, "er-other", "cust-43", "7002", false)
	pending := f.verification(t, keyA, "er-pending", "cust-42", "7003", true)
	own := f.verification(t, keyA, "er-own", "cust-42", "7004", false)
	enroll := func(m authsvcv1.Method, verificationID, locale string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := f.ec.CreateEnrollmentLink(ctx, &authsvcv1.CreateEnrollmentLinkRequest{
				CustomerId: "cust-42", Method: m, VerificationId: verificationID, Locale: locale})
			return err
		}
	}
	const totp, passkey = authsvcv1.Method_METHOD_TOTP, authsvcv1.Method_METHOD_WEBAUTHN
	var messages []string
	for name, call := range map[string]func(ctx context.Context) error{
		"no verification id":              enroll(totp, "", ""),
		"unknown id":                      enroll(totp, "aaa-aaaaaaaaaaaaaaaa", ""),
		"another client's verification":   enroll(passkey, foreign, ""),
		"another customer's verification": enroll(passkey, otherCustomer, ""),
		"pending verification":            enroll(totp, pending, ""),
	} {
		t.Run(name, func(t *testing.T) {
			messages = append(messages, wantReason(t, call(as(t, keyA)), codes.PermissionDenied, ReasonVerificationRequired))
		})
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("refusals differ: %q", messages)
		}
	}
	for name, tc := range map[string]struct {
		call  func(ctx context.Context) error
		field string
	}{
		"unspecified method": {enroll(authsvcv1.Method_METHOD_UNSPECIFIED, own, ""), "method"},
		"magic link":         {enroll(authsvcv1.Method_METHOD_MAGIC_LINK, own, ""), "method"},
		"otp sms":            {enroll(authsvcv1.Method_METHOD_OTP_SMS, own, ""), "method"},
		"otp email":          {enroll(authsvcv1.Method_METHOD_OTP_EMAIL, own, ""), "method"},
		"unknown method":     {enroll(authsvcv1.Method(42), own, ""), "method"},
		"bad locale":         {enroll(totp, own, "english please"), "locale"},
		// A LOW verification binds a first factor only with the contact it proved,
		// which is told of the factor.
		"low proof without its contact": {enroll(totp, own, ""), "destination"},
		"low proof, another contact": {func(ctx context.Context) error {
			_, err := f.ec.CreateEnrollmentLink(ctx, &authsvcv1.CreateEnrollmentLinkRequest{
				CustomerId: "cust-42", Method: totp, VerificationId: own, Destination: destFor("mallory")})
			return err
		}, "destination"},
		"no customer": {func(ctx context.Context) error {
			_, err := f.ec.CreateEnrollmentLink(ctx, &authsvcv1.CreateEnrollmentLinkRequest{Method: totp, VerificationId: own})
			return err
		}, "customer_id"},
	} {
		st := wantCode(t, tc.call(as(t, keyA)), codes.InvalidArgument)
		if got := fields(t, st); len(got) == 0 || got[0] != tc.field {
			t.Errorf("%s: field violations = %v, want %q", name, got, tc.field)
		}
	}
}

// enrollTOTP enrolls an authenticator app for customer through the domain, as
// the customer's page does, and returns the factor id.
func (f *fixture) enrollTOTP(t *testing.T, customer string) string {
	t.Helper()
	res, err := f.ec.CreateEnrollmentLink(as(t, keyB), &authsvcv1.CreateEnrollmentLinkRequest{
		CustomerId: customer, Method: authsvcv1.Method_METHOD_TOTP})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(res.GetEnrollmentUrl())
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(u.Path, "/e/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, secret, err := f.ids.BeginTOTP(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	factor, err := f.ids.ConfirmTOTP(ctx, token, code, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return factor.ID
}

func TestListAndRemoveFactors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	fid := f.enrollTOTP(t, "cust-42")
	list := func() []*authsvcv1.Factor {
		t.Helper()
		res, err := f.ec.ListFactors(as(t, keyA), &authsvcv1.ListFactorsRequest{CustomerId: "cust-42"})
		if err != nil {
			t.Fatalf("ListFactors: %v", err)
		}
		if text := prototext.Format(res); strings.Contains(text, "s1.") {
			t.Errorf("ListFactors carries a sealed seed:\n%s", text)
		}
		return res.GetFactors()
	}
	got := list()
	if len(got) != 1 || got[0].GetFactorId() != fid || got[0].GetMethod() != authsvcv1.Method_METHOD_TOTP ||
		got[0].GetLabel() == "" || got[0].GetCreateTime() == nil || got[0].GetLastUseTime() != nil || got[0].GetBackupEligible() {
		t.Fatalf("ListFactors = %v", got)
	}
	// An unknown customer has no factors; that is not an error.
	if res, err := f.ec.ListFactors(as(t, keyA), &authsvcv1.ListFactorsRequest{CustomerId: "nobody"}); err != nil || len(res.GetFactors()) != 0 {
		t.Errorf("ListFactors of an unknown customer = %v, %v", res, err)
	}

	// RemoveFactor needs may_enroll, refused before Redis.
	rtt := redistest.RoundTrips(f.rdb)
	_, err := f.ec.RemoveFactor(as(t, keyA), &authsvcv1.RemoveFactorRequest{CustomerId: "cust-42", FactorId: fid})
	st := wantCode(t, err, codes.PermissionDenied)
	if ei := errorInfo(t, st); ei.GetReason() != ReasonGrantRequired || ei.GetMetadata()["grant"] != "may_enroll" {
		t.Errorf("ErrorInfo = %v", ei)
	}
	if n := rtt.Load(); n != 0 {
		t.Errorf("%d Redis round trips for a refused RemoveFactor", n)
	}
	if len(list()) != 1 {
		t.Fatal("a refused RemoveFactor removed the factor")
	}
	// Another customer's id does not reach this customer's factor.
	_, err = f.ec.RemoveFactor(as(t, keyB), &authsvcv1.RemoveFactorRequest{CustomerId: "cust-43", FactorId: fid})
	wantCode(t, err, codes.NotFound)
	if _, err := f.ec.RemoveFactor(as(t, keyB), &authsvcv1.RemoveFactorRequest{CustomerId: "cust-42", FactorId: fid}); err != nil {
		t.Fatalf("RemoveFactor: %v", err)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("after RemoveFactor: %v", got)
	}
	_, err = f.ec.RemoveFactor(as(t, keyB), &authsvcv1.RemoveFactorRequest{CustomerId: "cust-42", FactorId: fid})
	if st := wantCode(t, err, codes.NotFound); strings.Contains(st.Message(), fid) || strings.Contains(st.Message(), "cust-42") {
		t.Errorf("NOT_FOUND message %q names the factor or customer", st.Message())
	}
}

// TestEraseCustomer: EraseCustomer needs may_erase and is refused before any
// Redis work without it; with it, the customer's links, factors, enrollment links
// and verifications go and the counts say so; a repeat and an unknown customer
// answer zero counts; nothing answered or logged names the customer. (What is
// left in Redis afterwards is searched for by test/erasure.)
func TestEraseCustomer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	verified := f.verification(t, keyA, "erase-1", "cust-42", "1001", false)
	pending := f.verification(t, keyA, "erase-2", "cust-42", "1001", true)
	for _, user := range []string{"1001", "1002"} {
		if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity(user)}); err != nil {
			t.Fatal(err)
		}
	}
	f.enrollTOTP(t, "cust-42")
	if _, err := f.ec.CreateEnrollmentLink(as(t, keyB), &authsvcv1.CreateEnrollmentLinkRequest{
		CustomerId: "cust-42", Method: authsvcv1.Method_METHOD_WEBAUTHN}); err != nil {
		t.Fatal(err)
	}
	other := f.verification(t, keyA, "erase-3", "cust-43", "2001", false)
	if _, err := f.ec.LinkIdentity(as(t, keyB), &authsvcv1.LinkIdentityRequest{CustomerId: "cust-43", Identity: xIdentity("2001")}); err != nil {
		t.Fatal(err)
	}

	// Without may_erase: refused before Redis, and nothing changed.
	rtt := redistest.RoundTrips(f.rdb)
	_, err := f.ec.EraseCustomer(as(t, keyA), &authsvcv1.EraseCustomerRequest{CustomerId: "cust-42"})
	st := wantCode(t, err, codes.PermissionDenied)
	if ei := errorInfo(t, st); ei.GetReason() != ReasonGrantRequired || ei.GetMetadata()["grant"] != "may_erase" {
		t.Errorf("ErrorInfo = %v", ei)
	}
	if n := rtt.Load(); n != 0 {
		t.Errorf("%d Redis round trips for a refused EraseCustomer", n)
	}
	if len(f.identities(t, "cust-42")) != 2 {
		t.Fatal("a refused EraseCustomer erased")
	}

	res, err := f.ec.EraseCustomer(as(t, keyB), &authsvcv1.EraseCustomerRequest{CustomerId: "cust-42"})
	if err != nil {
		t.Fatalf("EraseCustomer: %v", err)
	}
	want := &authsvcv1.EraseCustomerResponse{Identities: 2, Factors: 1, Verifications: 2, EnrollmentLinks: 1}
	if !proto.Equal(res, want) {
		t.Errorf("EraseCustomer = %v, want %v", res, want)
	}
	if got := f.identities(t, "cust-42"); len(got) != 0 {
		t.Errorf("identities after erasure: %v", got)
	}
	if fs, err := f.ec.ListFactors(as(t, keyA), &authsvcv1.ListFactorsRequest{CustomerId: "cust-42"}); err != nil || len(fs.GetFactors()) != 0 {
		t.Errorf("factors after erasure: %v, %v", fs, err)
	}
	for _, id := range []string{verified, pending} {
		_, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: id})
		wantCode(t, err, codes.NotFound)
	}
	// The other customer keeps everything.
	if _, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: other}); err != nil {
		t.Errorf("the other customer's verification: %v", err)
	}
	if got := f.identities(t, "cust-43"); len(got) != 1 {
		t.Errorf("the other customer's identities: %v", got)
	}

	// A repeat, and an unknown customer, find nothing: zero counts, no error.
	for _, customer := range []string{"cust-42", "nobody"} {
		res, err := f.ec.EraseCustomer(as(t, keyB), &authsvcv1.EraseCustomerRequest{CustomerId: customer})
		if err != nil || !proto.Equal(res, &authsvcv1.EraseCustomerResponse{}) {
			t.Errorf("EraseCustomer(%s) = %v, %v; want zero counts", customer, res, err)
		}
	}
	_, err = f.ec.EraseCustomer(as(t, keyB), &authsvcv1.EraseCustomerRequest{})
	if got := fields(t, wantCode(t, err, codes.InvalidArgument)); len(got) != 1 || got[0] != "customer_id" {
		t.Errorf("violations %v", got)
	}
	if strings.Contains(f.logs.String(), "cust-42") {
		t.Error("a log line names the customer")
	}
}

// TestEnrollmentRPCGrants: the enrollment RPCs are granted by name like every
// other, refused before any Redis work, and a client without an rpcs list gets
// none of them.
func TestEnrollmentRPCGrants(t *testing.T) {
	t.Parallel()
	grants := map[string]Grants{
		clientA: {RPCs: []string{"ListIdentities"}, Audiences: []string{audience}, MayLink: true},
		clientB: {Audiences: []string{audience}, MayLink: true, MayEnroll: true, MayErase: true},
	}
	f := newFixture(t, fixtureOpts{grants: grants})
	calls := map[string]func(ctx context.Context) error{
		"LinkIdentity": func(ctx context.Context) error {
			_, err := f.ec.LinkIdentity(ctx, &authsvcv1.LinkIdentityRequest{CustomerId: "c", Identity: xIdentity("1")})
			return err
		},
		"UnlinkIdentity": func(ctx context.Context) error {
			_, err := f.ec.UnlinkIdentity(ctx, &authsvcv1.UnlinkIdentityRequest{CustomerId: "c", Identity: xIdentity("1")})
			return err
		},
		"ListIdentities": func(ctx context.Context) error {
			_, err := f.ec.ListIdentities(ctx, &authsvcv1.ListIdentitiesRequest{CustomerId: "c"})
			return err
		},
		"CreateEnrollmentLink": func(ctx context.Context) error {
			_, err := f.ec.CreateEnrollmentLink(ctx, &authsvcv1.CreateEnrollmentLinkRequest{CustomerId: "c", Method: authsvcv1.Method_METHOD_TOTP})
			return err
		},
		"ListFactors": func(ctx context.Context) error {
			_, err := f.ec.ListFactors(ctx, &authsvcv1.ListFactorsRequest{CustomerId: "c"})
			return err
		},
		"RemoveFactor": func(ctx context.Context) error {
			_, err := f.ec.RemoveFactor(ctx, &authsvcv1.RemoveFactorRequest{CustomerId: "c", FactorId: "aaaaaaaaaa"})
			return err
		},
		"EraseCustomer": func(ctx context.Context) error {
			_, err := f.ec.EraseCustomer(ctx, &authsvcv1.EraseCustomerRequest{CustomerId: "c"})
			return err
		},
	}
	rtt := redistest.RoundTrips(f.rdb)
	for name, call := range calls {
		for key, allowed := range map[string]bool{keyA: name == "ListIdentities", keyB: false} {
			rtt.Reset()
			err := call(as(t, key))
			if allowed {
				if err != nil {
					t.Errorf("%s granted by name: %v", name, err)
				}
				continue
			}
			st := wantCode(t, err, codes.PermissionDenied)
			if ei := errorInfo(t, st); ei.GetReason() != ReasonRPCNotAllowed || ei.GetMetadata()["method"] != name {
				t.Errorf("%s: ErrorInfo = %v", name, ei)
			}
			if n := rtt.Load(); n != 0 {
				t.Errorf("%s: %d Redis round trips for a refused call", name, n)
			}
		}
	}
}

func TestEnrollmentRedisDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	id := f.verification(t, keyA, "down", "cust-42", "8001", false)
	f.redis.Kill()
	calls := map[string]func(ctx context.Context) error{
		"link with grant": func(ctx context.Context) error {
			_, err := f.ec.LinkIdentity(ctx, &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity("8001")})
			return err
		},
		"link with verification": func(ctx context.Context) error {
			_, err := f.ec.LinkIdentity(ctx, &authsvcv1.LinkIdentityRequest{CustomerId: "cust-42", Identity: xIdentity("8001"), VerificationId: id})
			return err
		},
		"list identities": func(ctx context.Context) error {
			_, err := f.ec.ListIdentities(ctx, &authsvcv1.ListIdentitiesRequest{CustomerId: "cust-42"})
			return err
		},
		"enroll": func(ctx context.Context) error {
			_, err := f.ec.CreateEnrollmentLink(ctx, &authsvcv1.CreateEnrollmentLinkRequest{CustomerId: "cust-42", Method: authsvcv1.Method_METHOD_TOTP})
			return err
		},
		"list factors": func(ctx context.Context) error {
			_, err := f.ec.ListFactors(ctx, &authsvcv1.ListFactorsRequest{CustomerId: "cust-42"})
			return err
		},
		"remove factor": func(ctx context.Context) error {
			_, err := f.ec.RemoveFactor(ctx, &authsvcv1.RemoveFactorRequest{CustomerId: "cust-42", FactorId: "aaaaaaaaaa"})
			return err
		},
		"erase": func(ctx context.Context) error {
			_, err := f.ec.EraseCustomer(ctx, &authsvcv1.EraseCustomerRequest{CustomerId: "cust-42"})
			return err
		},
	}
	for name, call := range calls {
		// "link with verification" is clientA's (it has to read the proof); the
		// others are clientB's, whose grants skip it.
		key := keyB
		if name == "link with verification" {
			key = keyA
		}
		ctx, cancel := context.WithTimeout(as(t, key), 5*time.Second)
		st := wantCode(t, call(ctx), codes.Unavailable)
		cancel()
		if ei := errorInfo(t, st); ei.GetReason() != ReasonStoreUnavailable {
			t.Errorf("%s: reason = %q", name, ei.GetReason())
		}
		if strings.Contains(st.Message(), "127.0.0.1") || strings.Contains(st.Message(), "refused") {
			t.Errorf("%s: message %q leaks the cause", name, st.Message())
		}
	}
}

// TestNoMethodSameAnswer: a start no offered method can serve at the level gets
// one answer, whether the customer is unknown, has only a weaker factor, or is
// not named at all; the answer says what to enroll and names no one.
func TestNoMethodSameAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	f.enrollTOTP(t, "cust-totp")
	start := func(requestID, customer string, level authsvcv1.AssuranceLevel, methods ...authsvcv1.Method) error {
		r := validStart(requestID)
		r.CustomerId, r.MinAssurance, r.Methods = customer, level, methods
		_, err := f.vc.StartVerification(as(t, keyA), r)
		return err
	}
	const high, substantial = authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH, authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL
	const wa, tp, mail = authsvcv1.Method_METHOD_WEBAUTHN, authsvcv1.Method_METHOD_TOTP, authsvcv1.Method_METHOD_OTP_EMAIL
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"high, unknown customer", start("nm-1", "cust-unknown", high, wa, mail),
			"no offered method meets HIGH for this verification; ask the customer to enroll a passkey"},
		{"high, customer with an authenticator app only", start("nm-2", "cust-totp", high, wa, tp, mail),
			"no offered method meets HIGH for this verification; ask the customer to enroll a passkey"},
		{"high, no customer named", start("nm-3", "", high, wa),
			"no offered method meets HIGH for this verification; ask the customer to enroll a passkey"},
		{"substantial, unknown customer", start("nm-4", "cust-unknown", substantial, tp, wa, mail),
			"no offered method meets SUBSTANTIAL for this verification; ask the customer to enroll an authenticator app or a passkey"},
	} {
		st := wantCode(t, tc.err, codes.FailedPrecondition)
		if st.Message() != tc.want {
			t.Errorf("%s: message %q, want %q", tc.name, st.Message(), tc.want)
		}
		if pf := detail[*errdetails.PreconditionFailure](t, st).GetViolations(); len(pf) != 1 || pf[0].GetType() != "METHOD" ||
			strings.Contains(pf[0].String(), "cust-") {
			t.Errorf("%s: PreconditionFailure = %v", tc.name, pf)
		}
	}
}

func TestEnrollmentDMText(t *testing.T) {
	t.Parallel()
	const link = "https://verify.example.com/e/abc.def"
	for _, tc := range []struct {
		locale string
		kind   identity.Kind
		in     time.Duration
		want   string
	}{
		{"", identity.KindTOTP, 15 * time.Minute, "To add an authenticator app to your account, open this link on the phone where you just confirmed it's you: " + link +
			" (it works once and expires in 15 minutes). We will never ask you to share a code from the app here."},
		{"ko", identity.KindPasskey, time.Hour, "To add a passkey to your account, open this link on the phone where you just confirmed it's you: " + link +
			" (it works once and expires in 1 hour)."},
		{"fr", identity.KindPasskey, time.Hour, "Pour ajouter une clé d'accès à votre compte, ouvrez ce lien sur le téléphone où vous venez de confirmer votre identité : " + link +
			" (il ne fonctionne qu'une fois et expire dans 1 heure)."},
		{"ar", identity.KindTOTP, 10 * time.Minute, "لإضافة تطبيق مصادقة إلى حسابك، افتح هذا الرابط على الهاتف الذي أكدت فيه هويتك للتو: " + link +
			" (يعمل مرة واحدة وتنتهي صلاحيته خلال 10 دقائق). لن نطلب منك هنا أبدًا رمزًا من التطبيق."},
		{"es-MX", identity.KindPasskey, 90 * time.Second, "Para añadir una llave de acceso a tu cuenta, abre este enlace en el teléfono donde acabas de confirmar que eres tú: " +
			link + " (funciona una sola vez y caduca en 2 minutos)."},
		{"es", identity.KindTOTP, 2 * time.Hour, "Para añadir una app de autenticación a tu cuenta, abre este enlace en el teléfono donde acabas de confirmar que eres tú: " + link +
			" (funciona una sola vez y caduca en 2 horas). Nunca te pediremos aquí un código de la app."},
		{"en", identity.KindTOTP, 0, "To add an authenticator app to your account, open this link on the phone where you just confirmed it's you: " + link +
			" (it works once and expires in 1 minute). We will never ask you to share a code from the app here."},
	} {
		if got := enrollmentDMText(tc.locale, tc.kind, link, tc.in); got != tc.want {
			t.Errorf("enrollmentDMText(%q, %v, %v) =\n%q\nwant\n%q", tc.locale, tc.kind, tc.in, got, tc.want)
		}
	}
	if got := enrollmentDMText("en", identity.Kind(9), link, time.Minute); got != "" {
		t.Errorf("unknown kind: %q", got)
	}
}

func TestKindMapping(t *testing.T) {
	t.Parallel()
	for v := range authsvcv1.Method_name {
		m := authsvcv1.Method(v)
		k, ok := kindFromProto(m)
		want := m == authsvcv1.Method_METHOD_TOTP || m == authsvcv1.Method_METHOD_WEBAUTHN
		if ok != want {
			t.Errorf("kindFromProto(%v) ok = %v, want %v", m, ok, want)
		}
		if ok && kindToProto(k) != m {
			t.Errorf("%v does not round-trip (kind %v)", m, k)
		}
	}
	if kindToProto(identity.Kind(9)) != authsvcv1.Method_METHOD_UNSPECIFIED {
		t.Error("unknown kind mapped to a method")
	}
}

// An unknown customer, an unknown identity (no customer named, none linked), a
// customer without the factor, and a customer whose identity is locked out of
// that factor after too many wrong codes all get the very same status, byte for
// byte: the answer reveals nothing about which it is.
func TestNoMethodAnswersAreByteIdentical(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{grants: enrollGrants()})
	f.enrollTOTP(t, "cust-locked")
	f.enrollTOTP(t, "cust-app")
	time.Sleep(2 * time.Millisecond) // the factors predate the verifications
	substantialTOTP := func(requestID, customer string) *authsvcv1.StartVerificationRequest {
		r := validStart(requestID)
		r.CustomerId, r.Destination = customer, nil
		r.MinAssurance = authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL
		r.Methods = []authsvcv1.Method{authsvcv1.Method_METHOD_TOTP}
		return r
	}
	// Lock the identity out of the authenticator app of cust-locked: 20 wrong
	// codes over 4 verifications.
	for i := range 4 {
		res, err := f.vc.StartVerification(as(t, keyA), substantialTOTP(fmt.Sprint("lock-", i), "cust-locked"))
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(res.GetCustomerUrl())
		tok := strings.TrimPrefix(u.Path, "/v/")
		for j := range 5 {
			if _, err := f.svc.SubmitTOTP(context.Background(), tok, "000000", fmt.Sprint("w", i, j), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	answers := map[string][]byte{}
	for name, req := range map[string]*authsvcv1.StartVerificationRequest{
		"unknown customer":   substantialTOTP("q-1", "cust-unknown"),
		"unknown identity":   substantialTOTP("q-2", ""),
		"locked identity":    substantialTOTP("q-3", "cust-locked"),
		"customer no factor": substantialTOTP("q-4", "cust-42"),
	} {
		_, err := f.vc.StartVerification(as(t, keyA), req)
		st := wantCode(t, err, codes.FailedPrecondition)
		b, merr := proto.Marshal(st.Proto())
		if merr != nil {
			t.Fatal(merr)
		}
		answers[name] = b
	}
	want := answers["unknown customer"]
	for name, b := range answers {
		if !bytes.Equal(b, want) {
			t.Errorf("%s answers %x, unknown customer %x", name, b, want)
		}
	}
	// The lock is the customer's (her app's failures count against her, whatever
	// identity a start names): another identity naming her meets it too, with the
	// same answer.
	r := substantialTOTP("q-5", "cust-locked")
	r.Identity.UserId = "another-user"
	_, err := f.vc.StartVerification(as(t, keyA), r)
	st := wantCode(t, err, codes.FailedPrecondition)
	if b, _ := proto.Marshal(st.Proto()); !bytes.Equal(b, want) {
		t.Errorf("another identity of the locked customer answers %x, want %x", b, want)
	}
}
