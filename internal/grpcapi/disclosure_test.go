package grpcapi

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/policy"
	"github.com/authsvc/authsvc/internal/redistest"
)

// Disclosure channels, short.
const (
	chPublic = authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PUBLIC_REPLY
	chDM     = authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM
	chSecure = authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL
	chPhone  = authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PHONE
)

// verified is a completed OTP_EMAIL (LOW) verification and its assertion.
type verified struct {
	id, token, conversation string
}

// lowAssertion runs a verification to VERIFIED through the domain's SubmitCode,
// as the customer's page does, and returns its assertion.
func (f *fixture) lowAssertion(t *testing.T, requestID string) verified {
	t.Helper()
	start := f.start(t, keyA, requestID)
	id := start.GetVerification().GetVerificationId()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := f.svc.SubmitCode(ctx, pageToken(t, start.GetCustomerUrl()), f.codeFor(t, id), "nonce-"+requestID, "")
	if err != nil || res.Outcome != challenge.OutcomeVerified {
		t.Fatalf("SubmitCode = %v, %v; want verified", res, err)
	}
	get, err := f.vc.GetVerification(as(t, keyA), &authsvcv1.GetVerificationRequest{VerificationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if get.GetVerification().GetAssuranceLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW {
		t.Fatalf("level %v, want LOW", get.GetVerification().GetAssuranceLevel())
	}
	return verified{id: id, token: get.GetVerification().GetAssertion().GetToken(), conversation: "conv-" + requestID}
}

func (f *fixture) authorize(t *testing.T, token, class string, ch authsvcv1.DisclosureChannel, conv string) (*authsvcv1.AuthorizeDisclosureResponse, error) {
	t.Helper()
	return f.ac.AuthorizeDisclosure(as(t, keyB), &authsvcv1.AuthorizeDisclosureRequest{
		Assertion: token, Audience: audience, DataClass: class, Channel: ch, ConversationId: conv,
	})
}

func TestAuthorizeDisclosureDefaultPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	v := f.lowAssertion(t, "disclose-1")

	t.Run("low reveals order status in a DM", func(t *testing.T) {
		res, err := f.authorize(t, v.token, "order_status", chDM, v.conversation)
		if err != nil {
			t.Fatal(err)
		}
		if !res.GetAllowed() || len(res.GetDenials()) != 0 || res.GetAcrValues() != "" || res.GetMaxAge() != nil {
			t.Errorf("order_status in a DM = %v, want allowed without hint", res)
		}
		if res.GetRequiredLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW ||
			!slices.Equal(res.GetAllowedChannels(), []authsvcv1.DisclosureChannel{chDM, chSecure, chPhone}) {
			t.Errorf("rule: level %v channels %v", res.GetRequiredLevel(), res.GetAllowedChannels())
		}
		if c := res.GetClaims(); c.GetVerificationId() != v.id || c.GetConversationId() != v.conversation ||
			c.GetAcr() != assurance.ACRLow || c.GetIssuer() != issuer {
			t.Errorf("claims = %v", c)
		}
	})

	t.Run("low may not reveal the shipping address; the denial says what would", func(t *testing.T) {
		res, err := f.authorize(t, v.token, "shipping_address", chDM, v.conversation)
		if err != nil {
			t.Fatalf("a denial must be an answer, not an error: %v", err)
		}
		if res.GetAllowed() || !slices.Equal(res.GetDenials(), []authsvcv1.DisclosureDenial{authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_LEVEL_TOO_LOW}) {
			t.Errorf("shipping_address in a DM = %v, want LEVEL_TOO_LOW only", res)
		}
		acr := strings.Fields(res.GetAcrValues())
		if !slices.Equal(acr, []string{assurance.ACRSubstantial, assurance.ACRHigh}) {
			t.Errorf("acr_values = %q, want substantial then high", res.GetAcrValues())
		}
		if res.GetMaxAge().AsDuration() != 15*time.Minute {
			t.Errorf("max_age = %v, want 15m", res.GetMaxAge())
		}
		if res.GetRequiredLevel() != authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL {
			t.Errorf("required_level = %v", res.GetRequiredLevel())
		}
	})

	t.Run("a mismatched conversation is denied", func(t *testing.T) {
		res, err := f.authorize(t, v.token, "order_status", chDM, "conv-someone-else")
		if err != nil {
			t.Fatal(err)
		}
		if res.GetAllowed() || !slices.Equal(res.GetDenials(), []authsvcv1.DisclosureDenial{authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CONVERSATION_MISMATCH}) ||
			res.GetAcrValues() != "" || res.GetMaxAge() != nil {
			t.Errorf("other conversation = %v, want CONVERSATION_MISMATCH without a step-up hint", res)
		}
	})

	t.Run("a public reply is denied for every data class", func(t *testing.T) {
		pol, err := f.ac.GetDisclosurePolicy(as(t, keyB), &authsvcv1.GetDisclosurePolicyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pol.GetRules()) != len(policy.Default().Rules()) {
			t.Fatalf("%d rules, want the default policy's %d", len(pol.GetRules()), len(policy.Default().Rules()))
		}
		for _, r := range pol.GetRules() {
			res, err := f.authorize(t, v.token, r.GetDataClass(), chPublic, v.conversation)
			if err != nil {
				t.Fatalf("%s: %v", r.GetDataClass(), err)
			}
			if res.GetAllowed() || !slices.Contains(res.GetDenials(), authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CHANNEL_NOT_ALLOWED) ||
				res.GetAcrValues() != "" || res.GetMaxAge() != nil {
				t.Errorf("%s in a public reply = %v, want CHANNEL_NOT_ALLOWED and no step-up hint", r.GetDataClass(), res)
			}
		}
	})

	t.Run("a channel the class does not list is denied", func(t *testing.T) {
		res, err := f.authorize(t, v.token, "order_history", chPhone, v.conversation)
		if err != nil {
			t.Fatal(err)
		}
		if res.GetAllowed() || !slices.Equal(res.GetDenials(), []authsvcv1.DisclosureDenial{authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_CHANNEL_NOT_ALLOWED}) {
			t.Errorf("order_history by phone = %v", res)
		}
	})

	if strings.Contains(f.logs.String(), v.token) {
		t.Error("the assertion token reached the log")
	}
}

func TestAuthorizeDisclosureTooOld(t *testing.T) {
	t.Parallel()
	// Assertions live an hour here, so that one can outlive a class's max age.
	skew := &atomic.Int64{}
	f := newFixture(t, fixtureOpts{lifetime: time.Hour, skew: skew})
	v := f.lowAssertion(t, "old-1")

	skew.Store(int64(29 * time.Minute))
	res, err := f.authorize(t, v.token, "order_status", chDM, v.conversation)
	if err != nil || !res.GetAllowed() {
		t.Fatalf("after 29 min: %v, %v; want allowed", res, err)
	}

	skew.Store(int64(31 * time.Minute))
	res, err = f.authorize(t, v.token, "order_status", chDM, v.conversation)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetAllowed() || !slices.Equal(res.GetDenials(), []authsvcv1.DisclosureDenial{authsvcv1.DisclosureDenial_DISCLOSURE_DENIAL_TOO_OLD}) {
		t.Errorf("after 31 min = %v, want TOO_OLD only", res)
	}
	if res.GetMaxAge().AsDuration() != 30*time.Minute {
		t.Errorf("max_age = %v, want 30m", res.GetMaxAge())
	}
	if got := strings.Fields(res.GetAcrValues()); !slices.Equal(got, []string{assurance.ACRLow, assurance.ACRSubstantial, assurance.ACRHigh}) {
		t.Errorf("acr_values = %q, want every level from low", res.GetAcrValues())
	}
	// The token itself is still valid: only its authentication is too old.
	if _, err := f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: v.token, Audience: audience}); err != nil {
		t.Errorf("VerifyAssertion after 31 min: %v", err)
	}
}

func TestAuthorizeDisclosureBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	v := f.lowAssertion(t, "bad-1")
	valid := func() *authsvcv1.AuthorizeDisclosureRequest {
		return &authsvcv1.AuthorizeDisclosureRequest{Assertion: v.token, Audience: audience, DataClass: "order_status",
			Channel: chDM, ConversationId: v.conversation}
	}
	tests := []struct {
		name   string
		change func(*authsvcv1.AuthorizeDisclosureRequest)
		fields []string
	}{
		{"empty", func(r *authsvcv1.AuthorizeDisclosureRequest) { *r = authsvcv1.AuthorizeDisclosureRequest{} },
			[]string{"assertion", "audience", "data_class", "channel", "conversation_id"}},
		{"unspecified channel", func(r *authsvcv1.AuthorizeDisclosureRequest) { r.Channel = 0 }, []string{"channel"}},
		{"unknown channel value", func(r *authsvcv1.AuthorizeDisclosureRequest) { r.Channel = 99 }, []string{"channel"}},
		{"long data class", func(r *authsvcv1.AuthorizeDisclosureRequest) { r.DataClass = strings.Repeat("a", 65) }, []string{"data_class"}},
		{"unknown data class", func(r *authsvcv1.AuthorizeDisclosureRequest) { r.DataClass = "social_security_number" }, []string{"data_class"}},
		{"long conversation", func(r *authsvcv1.AuthorizeDisclosureRequest) { r.ConversationId = strings.Repeat("c", 257) }, []string{"conversation_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := valid()
			tt.change(r)
			_, err := f.ac.AuthorizeDisclosure(as(t, keyB), r)
			st := wantCode(t, err, codes.InvalidArgument)
			if got := fields(t, st); !slices.Equal(got, tt.fields) {
				t.Errorf("field violations = %v, want %v", got, tt.fields)
			}
			if r.GetDataClass() != "" && strings.Contains(st.Message(), r.GetDataClass()) {
				t.Errorf("message %q quotes the data class", st.Message())
			}
		})
	}
	_, err := f.ac.AuthorizeDisclosure(as(t, ""), valid())
	wantCode(t, err, codes.Unauthenticated)
	_, err = f.ac.GetDisclosurePolicy(as(t, ""), &authsvcv1.GetDisclosurePolicyRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

func TestGetDisclosurePolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	res, err := f.ac.GetDisclosurePolicy(as(t, keyA), &authsvcv1.GetDisclosurePolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Default().Rules()
	if len(res.GetRules()) != len(want) {
		t.Fatalf("%d rules, want %d", len(res.GetRules()), len(want))
	}
	for i, r := range res.GetRules() {
		w := want[i]
		if r.GetDataClass() != w.DataClass || r.GetDescription() != w.Description ||
			r.GetMinLevel() != levelToProto(w.MinLevel) || r.GetMaxAge().AsDuration() != w.MaxAge ||
			!slices.Equal(r.GetChannels(), channelsToProto(w.Channels)) {
			t.Errorf("rule %d = %v, want %+v", i, r, w)
		}
		if slices.Contains(r.GetChannels(), chPublic) {
			t.Errorf("%s lists a public reply", r.GetDataClass())
		}
	}
	if got := res.GetRules()[0]; got.GetDataClass() != "order_status" || got.GetMaxAge().AsDuration() != 30*time.Minute {
		t.Errorf("first rule = %v", got)
	}
}

func TestRevokedAssertionRefusedByBoth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	v := f.lowAssertion(t, "revoke-1")
	if _, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: v.id, RequestId: "end"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: v.token, Audience: audience})
	if ei := errorInfo(t, wantCode(t, err, codes.FailedPrecondition)); ei.GetReason() != ReasonAssertionRevoked {
		t.Errorf("VerifyAssertion: ErrorInfo = %v", ei)
	}
	_, err = f.authorize(t, v.token, "order_status", chDM, v.conversation)
	if ei := errorInfo(t, wantCode(t, err, codes.FailedPrecondition)); ei.GetReason() != ReasonAssertionRevoked {
		t.Errorf("AuthorizeDisclosure: ErrorInfo = %v", ei)
	}
}

// TestAuthorizeDisclosureRoundTrips holds AuthorizeDisclosure to its budget: two
// Redis round trips (the assertion's standing: its record and its conversation's
// pointer, on two slots, pipelined; then the decision's audit event on the
// record's slot), whatever the answer; none for a token that does not verify.
func TestAuthorizeDisclosureRoundTrips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	v := f.lowAssertion(t, "rtt-1")
	// The first call loads the script (EVALSHA, NOSCRIPT, EVAL); count the others.
	if _, err := f.authorize(t, v.token, "order_status", chDM, v.conversation); err != nil {
		t.Fatal(err)
	}
	rtt := redistest.RoundTrips(f.rdb)
	for _, class := range []string{"order_status", "shipping_address"} {
		rtt.Reset()
		if _, err := f.authorize(t, v.token, class, chDM, v.conversation); err != nil {
			t.Fatal(err)
		}
		if n := rtt.Load(); n != 2 {
			t.Errorf("%s: %d Redis round trips, want 2", class, n)
		}
	}
	rtt.Reset()
	if _, err := f.authorize(t, "not a token", "order_status", chDM, v.conversation); err == nil {
		t.Fatal("garbage accepted")
	}
	if n := rtt.Load(); n != 0 {
		t.Errorf("a token that does not verify cost %d round trips, want 0", n)
	}
	if _, err := f.vc.CancelVerification(as(t, keyA), &authsvcv1.CancelVerificationRequest{VerificationId: v.id, RequestId: "end"}); err != nil {
		t.Fatal(err)
	}
	rtt.Reset()
	if _, err := f.authorize(t, v.token, "order_status", chDM, v.conversation); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("revoked: %v", err)
	}
	if n := rtt.Load(); n != 2 {
		t.Errorf("revoked: %d Redis round trips, want 2", n)
	}
}

// hostileToken is a token both RPCs must refuse.
type hostileToken struct {
	name     string
	token    string
	audience string // "" for the fixture's
	check    string // the ErrorInfo check; "" for a BadRequest on assertion
}

// hostileTokens ports the corpus of package assertion to a real token of the
// fixture: every signature is genuine (made with the fixture's key) unless the
// case is about the key or the algorithm, so each fails for its own reason.
func hostileTokens(t *testing.T, f *fixture, good string) []hostileToken {
	t.Helper()
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	kid := f.keyring.ActiveKeyID()
	priv := f.signer.(ed25519.PrivateKey)
	pub := priv.Public().(ed25519.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key any, alg jose.SignatureAlgorithm, kid, typ string, extra map[jose.HeaderKey]any) string {
		t.Helper()
		opts := &jose.SignerOptions{}
		if typ != "" {
			opts = opts.WithType(jose.ContentType(typ))
		}
		if kid != "" {
			opts = opts.WithHeader("kid", kid)
		}
		for k, v := range extra {
			opts = opts.WithHeader(k, v)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	other, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	otherRing, err := assertion.NewKeyring([]crypto.Signer{other}, 0)
	if err != nil {
		t.Fatal(err)
	}
	withHeader := func(k jose.HeaderKey, v any) string {
		return sign(priv, jose.EdDSA, kid, assertion.TokenType, map[jose.HeaderKey]any{k: v})
	}
	return []hostileToken{
		{name: "alg none", token: b64(`{"alg":"none","kid":"`+kid+`","typ":"`+assertion.TokenType+`"}`) + "." + parts[1] + ".", check: "algorithm"},
		{name: "HS256 keyed with the raw public key", token: sign([]byte(pub), jose.HS256, kid, assertion.TokenType, nil), check: "algorithm"},
		{name: "HS256 keyed with the SPKI public key", token: sign(spki, jose.HS256, kid, assertion.TokenType, nil), check: "algorithm"},
		{name: "HS256 keyed with the JWKS", token: sign(f.keyring.JWKS(), jose.HS256, kid, assertion.TokenType, nil), check: "algorithm"},
		{name: "wrong typ", token: sign(priv, jose.EdDSA, kid, "JWT", nil), check: "type"},
		{name: "missing typ", token: sign(priv, jose.EdDSA, kid, "", nil), check: "type"},
		{name: "jku header", token: withHeader("jku", "https://evil.example/jwks.json"), check: "header"},
		{name: "jwk header", token: withHeader("jwk", jose.JSONWebKey{Key: pub}), check: "header"},
		{name: "x5u header", token: withHeader("x5u", "https://evil.example/cert.pem"), check: "header"},
		{name: "unknown kid", token: sign(other, jose.EdDSA, otherRing.ActiveKeyID(), assertion.TokenType, nil), check: "key"},
		{name: "wrong audience", token: good, audience: "billing", check: "audience"},
		{name: "payload swapped", token: parts[0] + "." + b64(strings.Replace(string(payload), "cust-42", "cust-43", 1)) + "." + parts[2], check: "signature"},
		{name: "garbage", token: "not a token", check: "format"},
		{name: "oversized", token: parts[0] + "." + b64(strings.Repeat(" ", assertion.MaxTokenSize)+string(payload)) + "." + parts[2]},
	}
}

// wantRefused checks that err refuses the token: INVALID_ARGUMENT with ErrorInfo
// ASSERTION_INVALID naming check, or a BadRequest on assertion when check is "".
func wantRefused(t *testing.T, rpc string, err error, token, check string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Errorf("%s: %v, want INVALID_ARGUMENT", rpc, err)
		return
	}
	if strings.Contains(st.Message(), token) {
		t.Errorf("%s: message quotes the token", rpc)
	}
	if check == "" {
		if got := fields(t, st); !slices.Equal(got, []string{"assertion"}) {
			t.Errorf("%s: field violations %v, want [assertion]", rpc, got)
		}
		return
	}
	if ei := errorInfo(t, st); ei.GetReason() != ReasonAssertionInvalid || ei.GetMetadata()["check"] != check {
		t.Errorf("%s: ErrorInfo = %v, want %s check=%s", rpc, ei, ReasonAssertionInvalid, check)
	}
}

func TestHostileTokensRefusedByBoth(t *testing.T) {
	t.Parallel()
	skew := &atomic.Int64{}
	f := newFixture(t, fixtureOpts{skew: skew})
	v := f.lowAssertion(t, "hostile-1")
	refusedByBoth := func(t *testing.T, h hostileToken) {
		t.Helper()
		aud := h.audience
		if aud == "" {
			aud = audience
		}
		_, err := f.ac.VerifyAssertion(as(t, keyB), &authsvcv1.VerifyAssertionRequest{Assertion: h.token, Audience: aud})
		wantRefused(t, "VerifyAssertion", err, h.token, h.check)
		_, err = f.ac.AuthorizeDisclosure(as(t, keyB), &authsvcv1.AuthorizeDisclosureRequest{
			Assertion: h.token, Audience: aud, DataClass: "order_status", Channel: chDM, ConversationId: v.conversation})
		wantRefused(t, "AuthorizeDisclosure", err, h.token, h.check)
	}
	for _, h := range hostileTokens(t, f, v.token) {
		t.Run(h.name, func(t *testing.T) { refusedByBoth(t, h) })
	}
	// Last, since it moves the clock both RPCs judge by: the genuine token, expired.
	t.Run("expired", func(t *testing.T) {
		skew.Store(int64(5*time.Minute + assertion.Leeway + time.Minute))
		refusedByBoth(t, hostileToken{token: v.token, check: "expired"})
	})
	if logs := f.logs.String(); strings.Contains(logs, v.token) {
		t.Error("a token reached the log")
	}
}
