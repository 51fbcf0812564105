package events_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
)

// A care platform's receiver: it checks the Standard Webhooks signature with the reference
// library (any Standard Webhooks library does), then deduplicates by the event id, because
// delivery is at least once, and answers 2xx only once the event is stored. The secret is the
// client's "whsec_…" value, read from the same place authsvc reads it from.
func Example_receiver() {
	secret := os.Getenv("AUTHSVC_EVENTS_SECRET")
	if secret == "" {
		secret = testSecret.String() // for this example
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		// Verify checks the signature over webhook-id.webhook-timestamp.body and that the
		// timestamp is within five minutes.
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				VerificationID string `json:"verification_id"`
				State          string `json:"state"`
				Reason         string `json:"reason"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not a CloudEvent", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[ev.ID] {
			w.WriteHeader(http.StatusNoContent) // a redelivery: already handled
			return
		}
		seen[ev.ID] = true
		fmt.Println(ev.Type, ev.Data.VerificationID, ev.Data.State)
		w.WriteHeader(http.StatusNoContent)
	})

	// What authsvc sends, delivered twice.
	srv := httptest.NewServer(handler)
	defer srv.Close()
	msg, _, _ := events.Render("https://verify.acme.example", "audit:events", audit.Event{ID: "1764000000000-0",
		Time: time.Now(), Kind: audit.Verified, ClientID: "platform-a", VerificationID: "k2q-7RDX5WQKZ3M2PA4N",
		Method: "otp_email", Outcome: "ok"})
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(msg.Body))
		req.Header.Set("Content-Type", events.ContentType)
		testSecret.SetHeaders(req.Header, msg.ID, time.Now(), msg.Body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		_ = resp.Body.Close()
	}
	// Output:
	// com.authsvc.verification.verified k2q-7RDX5WQKZ3M2PA4N VERIFIED
}
