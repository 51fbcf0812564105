package delivery

import (
	"strings"
	"testing"
	"time"
)

const (
	testCode     = "493027"
	testLink     = "https://verify.acme.example/l/Zq8xYt3kP0wLmN"
	testEmail    = "alice.customer@mail.example"
	testPhone    = "+14155550123"
	testPageHost = "verify.acme.example"
)

// testMessage returns a valid message for the channel, kind and locale.
func testMessage(ch Channel, k Kind, locale string) Message {
	m := Message{
		ID:        "msg-7f3a9c",
		Channel:   ch,
		Locale:    locale,
		Kind:      k,
		Brand:     "Acme",
		Network:   "x",
		Handle:    "@al…e",
		PageHost:  testPageHost,
		ExpiresIn: 10 * time.Minute,
	}
	if ch == SMS {
		m.To = testPhone
	} else {
		m.To = testEmail
	}
	if k == KindCode {
		m.Code = testCode
	} else {
		m.Link = testLink
	}
	return m
}

// assertNoSecrets fails when an error text carries an address, code or link.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	secrets = append(secrets, testCode, testLink, testEmail, testPhone, "Zq8xYt3kP0wLmN", "alice")
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error text %q contains %q", err.Error(), s)
		}
	}
}
