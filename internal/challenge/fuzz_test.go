package challenge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/verify"
)

// FuzzFinishPasskey feeds arbitrary bodies to the passkey finish of a real
// verification with a pending ceremony: nothing may panic, and nothing but the
// authenticator's own response may verify it.
func FuzzFinishPasskey(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Add([]byte(`{"id":"","type":"public-key","response":null}`))
	f.Add([]byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		ff := newFactorFixture(t)
		key := newAuthenticator(t)
		ff.enrollPasskey("cust-1", key)
		ff.clock.Advance(time.Second)
		res := ff.mustStart("cust-1", assurance.High, WebAuthn)
		tok := pageToken(t, res)
		if _, err := ff.svc.BeginPasskey(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		r, err := ff.svc.FinishPasskey(context.Background(), tok, body, "fuzz", "")
		if errors.Is(err, ErrUnavailable) {
			// A loaded machine under the fuzzer's workers: not the input's doing.
			t.Skipf("store: %v", err)
		}
		if err != nil {
			t.Fatalf("FinishPasskey: %v", err)
		}
		if r.Outcome == OutcomeVerified {
			t.Fatalf("a fuzzed body verified: %q", body)
		}
	})
}

// FuzzSubmitTOTP feeds arbitrary input to the authenticator-app form of a real
// verification: nothing panics, malformed input counts nothing, and no input but
// the current or previous step's code verifies.
func FuzzSubmitTOTP(f *testing.F) {
	f.Add("123456")
	f.Add(" 12 34 56 ")
	f.Add("١٢٣٤٥٦")
	f.Add("")
	f.Add("1234567")
	f.Fuzz(func(t *testing.T, input string) {
		ff := newFactorFixture(t)
		seed := newSeed(t)
		ff.enrollTOTP("cust-1", seed)
		ff.clock.Advance(time.Second)
		res := ff.mustStart("cust-1", assurance.Substantial, TOTP)
		r, err := ff.svc.SubmitTOTP(context.Background(), pageToken(t, res), input, "fuzz", "")
		now := ff.clock.Now()
		// (As typed: spaces, dashes and an Arabic keyboard's digits are read as the code.)
		typed, _ := verify.NormalizeTOTP(input)
		valid := typed == codeAt(t, seed, now) || typed == codeAt(t, seed, now.Add(-30*time.Second))
		switch {
		case err != nil && r.Outcome != 0:
			t.Fatalf("both an error and an outcome: %v, %v", err, r)
		case err == nil && r.Outcome == OutcomeVerified && !valid:
			t.Fatalf("input %q verified", input)
		}
		if err != nil {
			if v := ff.get(res.Verification.ID); v.AttemptsLeft != 5 {
				t.Fatalf("malformed input %q counted an attempt", input)
			}
		}
	})
}

func FuzzSplitHandoverCode(f *testing.F) {
	f.Add("abc.aaaaaaaaaaaaaaaa~AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("~")
	f.Add("abc-aaaaaaaaaaaaaaaa~AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, code string) {
		id, secret, ok := SplitHandoverCode(code)
		if ok && (!validHandoverID(id) || len(secret) != 22 || id+"~"+secret != code) {
			t.Fatalf("SplitHandoverCode(%q) = %q, %q", code, id, secret)
		}
	})
}
