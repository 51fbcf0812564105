package delivery

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewRiskHookRefusesBadConfig(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	for _, c := range []RiskHookConfig{
		{URL: "http://risk.example.com/lookup", Secret: secret},
		{URL: "https://user@risk.example.com/", Secret: secret},
		{URL: "https://risk.example.com/", Secret: secret[:31]},
		{URL: "https://risk.example.com/", Secret: secret, Timeout: -1},
	} {
		if _, err := NewRiskHook(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestRiskHookLookup(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	answer := `{"line_type":"non_fixed_voip","carrier":{"name":"Bandwidth"},"sim_swap":{"last_sim_swap":"2026-11-20T08:00:00Z"},"call_forwarding":{"active":true}}`
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := VerifySignature(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
		}
		if r.Header.Get(HeaderIdempotencyKey) != "abc-123" {
			t.Errorf("idempotency key %q", r.Header.Get(HeaderIdempotencyKey))
		}
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	h, err := NewRiskHook(RiskHookConfig{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Lookup(context.Background(), "+14155550100", "abc-123")
	want := NumberRisk{LineType: "non_fixed_voip", Carrier: "Bandwidth",
		SIMSwap: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC), CallForwarding: true}
	if err != nil || !got.SIMSwap.Equal(want.SIMSwap) || got.LineType != want.LineType || got.Carrier != want.Carrier || !got.CallForwarding {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	// A non-2xx answer is unreachable, whatever its body.
	failing.Store(true)
	if _, err := h.Lookup(context.Background(), "+14155550100", "abc-124"); !errors.Is(err, ErrRiskUnreachable) || strings.Contains(err.Error(), "4155550100") {
		t.Fatalf("502: %v", err)
	}
}

func FuzzParseRisk(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"line_type":"mobile"}`, `{"sim_swap":{"last_sim_swap":null}}`,
		`{"sim_swap":{"last_sim_swap":"2026-11-20T08:00:00Z"},"call_forwarding":{"active":false}}`,
		`{"carrier":{"name":"O2","mcc":"234","mnc":"10"}}`, `[]`, `null`, `{"line_type":1}`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := parseRisk(raw)
		if err != nil && !errors.Is(err, ErrRiskGarbage) {
			t.Fatalf("error %v is not garbage", err)
		}
		if err != nil && r != (NumberRisk{}) {
			t.Fatalf("garbage gave %+v", r)
		}
	})
}
