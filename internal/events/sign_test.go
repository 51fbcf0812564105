package events_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
)

// The test vector of the Standard Webhooks specification and reference libraries.
func TestSignStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	s, err := events.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// What the dispatcher signs, the reference library verifies; what the library signs,
// Secret.Verify accepts; tampering is refused by both.
func TestSignInterop(t *testing.T) {
	t.Parallel()
	msg, _, err := events.Render("https://verify.test", "audit:events",
		audit.Event{ID: "1764000000000-0", Time: time.UnixMilli(1764000000000), Kind: audit.Verified, ClientID: "crm",
			VerificationID: "abc-x", Method: "otp_sms", Outcome: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h := http.Header{}
	testSecret.SetHeaders(h, msg.ID, now, msg.Body)
	wh, err := standardwebhooks.NewWebhook(testSecret.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(msg.Body, h); err != nil {
		t.Fatalf("the reference library refuses our signature: %v", err)
	}
	if err := testSecret.Verify(h, msg.Body, now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	sig, err := wh.Sign(msg.ID, now, msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	h.Set(events.HeaderSignature, "v1,bm90IGl0 "+sig)
	if err := testSecret.Verify(h, msg.Body, now); err != nil {
		t.Fatalf("Verify of the library's signature among others: %v", err)
	}
	tampered := []byte(strings.Replace(string(msg.Body), "otp_sms", "webauthn", 1))
	if wh.Verify(tampered, h) == nil || testSecret.Verify(h, tampered, now) == nil {
		t.Fatal("a tampered body verifies")
	}
	if err := testSecret.Verify(h, msg.Body, now.Add(10*time.Minute)); !errors.Is(err, events.ErrStale) {
		t.Fatalf("a stale delivery: %v", err)
	}
	h.Del(events.HeaderID)
	if err := testSecret.Verify(h, msg.Body, now); !errors.Is(err, events.ErrMissingHeaders) {
		t.Fatalf("no webhook-id: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	good := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{good + "\n", true},
		{strings.TrimPrefix(good, "whsec_"), false},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), false},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), false},
		{"whsec_not base64!", false},
	} {
		_, err := events.ParseSecret(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSecret(%q): %v", tc.in, err)
		}
		if err != nil && strings.Contains(err.Error(), tc.in) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
	s, _ := events.ParseSecret(good)
	if s.String() != good {
		t.Errorf("String %q", s.String())
	}
}
