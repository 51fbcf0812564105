package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzFinishPasskeyBody feeds arbitrary registration responses to FinishPasskey on
// an open passkey enrollment with a live ceremony: it never panics, never answers
// anything but ErrCeremony for a response that is not this ceremony's, and never
// stores a factor or a credential index.
func FuzzFinishPasskeyBody(f *testing.F) {
	fx := newFixture(f)
	token := fx.enroll("cust-42", KindPasskey)

	// Seeds: a valid response of another ceremony (so every byte of it parses),
	// variations of it, and assorted malformed JSON.
	_, other := fx.passkeyCeremony("cust-other")
	valid := register(f, newAuthenticator(f), other)
	f.Add(valid)
	var m map[string]any
	if err := json.Unmarshal(valid, &m); err != nil {
		f.Fatal(err)
	}
	resp := m["response"].(map[string]any)
	for _, mutate := range []func(){
		func() { resp["attestationObject"] = "" },
		func() { resp["clientDataJSON"] = "e30" }, // "{}"
		func() { m["rawId"] = "AAAA" },
		func() { m["type"] = "password" },
		func() { delete(m, "response") },
	} {
		mutate()
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	for _, s := range []string{"", "{}", "null", "[]", `{"id":"","type":"public-key"}`, "\x00\xff", strings.Repeat("{", 1000),
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"attestationObject":"oA","clientDataJSON":"e30"}}`} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		// A fresh ceremony each time, so the session is there to be taken.
		if _, err := fx.store.BeginPasskey(fx.ctx, token, ""); err != nil {
			t.Fatalf("BeginPasskey: %v", err)
		}
		fac, err := fx.store.FinishPasskey(fx.ctx, token, bytes.NewReader(body), "")
		if err == nil || fac != nil {
			t.Fatalf("FinishPasskey stored %+v", fac)
		}
		if !errors.Is(err, ErrCeremony) {
			t.Fatalf("FinishPasskey = %v; want ErrCeremony", err)
		}
		fs, err := fx.store.Factors(fx.ctx, "cust-42")
		if err != nil || len(fs) != 0 {
			t.Fatalf("Factors = %+v, %v", fs, err)
		}
		if keys := fx.rdb.Keys(fx.ctx, "w:*").Val(); len(keys) != 0 {
			t.Fatalf("credential index written: %v", keys)
		}
	})
}
