package events_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
)

// Every kind of the catalogue renders as a valid CloudEvents 1.0 structured event with the
// stream and entry id as its id, and carries nothing but ids and pseudonyms: not the masked
// destination or the identity pseudonym the audit entry also holds.
func TestRenderCatalogue(t *testing.T) {
	t.Parallel()
	kinds := map[string]string{
		audit.Verified: "com.authsvc.verification.verified", audit.Failed: "com.authsvc.verification.failed",
		audit.Expired: "com.authsvc.verification.expired", audit.Canceled: "com.authsvc.verification.canceled",
		audit.Reported:          "com.authsvc.verification.reported",
		audit.Extended:          "com.authsvc.verification.extended",
		events.HandoverCreated:  "com.authsvc.handover.created",
		events.HandoverBound:    "com.authsvc.handover.bound",
		events.HandoverRedeemed: "com.authsvc.handover.redeemed",
		events.HandoverRefused:  "com.authsvc.handover.refused",
		events.HandoverExpired:  "com.authsvc.handover.expired",
	}
	var types []string
	for kind, typ := range kinds {
		types = append(types, typ)
		e := audit.Event{ID: "1764000000000-3", Time: time.UnixMilli(1764000000123), Kind: kind, ClientID: "crm",
			AgentID: "agent-7", VerificationID: "k2q-ABCDEFGHIJKLMNOP", Method: "otp_email", Reason: "attempts_exhausted",
			Identity: "1111111111111111", Customer: "2222222222222222", Destination: "a***@e***.com"}
		m, ok, err := events.Render("https://verify.test", "v:{k2q}:a", e)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", kind, ok, err)
		}
		if m.Type != typ || m.ID != "v:{k2q}:a/1764000000000-3" || m.Client != "crm" {
			t.Errorf("%s: %+v", kind, m)
		}
		var ce event.Event
		if err := json.Unmarshal(m.Body, &ce); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if err := ce.Validate(); err != nil || ce.SpecVersion() != "1.0" || ce.Type() != typ || ce.ID() != m.ID ||
			ce.Source() != "https://verify.test" || ce.Subject() != "k2q-ABCDEFGHIJKLMNOP" ||
			!ce.Time().Equal(time.UnixMilli(1764000000123)) {
			t.Errorf("%s: %v, %s", kind, err, m.Body)
		}
		var d events.Data
		if err := ce.DataAs(&d); err != nil {
			t.Fatal(err)
		}
		if d.ClientID != "crm" || d.Customer != "2222222222222222" || d.VerificationID != "k2q-ABCDEFGHIJKLMNOP" {
			t.Errorf("%s: data %+v", kind, d)
		}
		for _, never := range []string{"a***", "e***", "1111111111111111"} {
			if strings.Contains(string(m.Body), never) {
				t.Errorf("%s: the event carries %q: %s", kind, never, m.Body)
			}
		}
	}
	// A report flagged as an impersonation has a type of its own.
	imp, ok, err := events.Render("https://verify.test", "v:{k2q}:a", audit.Event{ID: "1764000000000-4",
		Time: time.UnixMilli(1764000000123), Kind: audit.Reported, ClientID: "crm", VerificationID: "k2q-ABCDEFGHIJKLMNOP",
		Reason: audit.ReasonImpersonation})
	if err != nil || !ok || imp.Type != "com.authsvc.verification.impersonation_reported" ||
		!strings.Contains(string(imp.Body), `"reason":"REPORTED"`) || !strings.Contains(string(imp.Body), `"outcome":"impersonation"`) ||
		!strings.Contains(string(imp.Body), `"state":"FAILED"`) {
		t.Errorf("impersonation report: %+v, %v, %v: %s", imp, ok, err, imp.Body)
	}
	types = append(types, imp.Type, "com.authsvc.sms.breaker_tripped", "com.authsvc.sms.breaker_released")
	slices.Sort(types)
	if !slices.Equal(types, events.Types()) {
		t.Errorf("Types() = %v, want %v", events.Types(), types)
	}
	for _, kind := range []string{audit.Started, audit.Sent, audit.AttemptFailed, audit.AssertionIssued,
		audit.DisclosureAllowed, audit.ClientDenied, audit.Erased, "something_new"} {
		if _, ok, _ := events.Render("s", "audit:events", audit.Event{ID: "1-0", Kind: kind}); ok {
			t.Errorf("%s renders as an event", kind)
		}
	}
}

// An extension is an event of its own: the verification is still PENDING, and the event says
// until when, as GetVerification's expire_time does.
func TestRenderExtended(t *testing.T) {
	t.Parallel()
	until := time.UnixMilli(1764000600123)
	m, ok, err := events.Render("https://verify.test", "audit:events", audit.Event{ID: "1764000000000-5",
		Time: time.UnixMilli(1764000000123), Kind: audit.Extended, ClientID: "crm", VerificationID: "k2q-ABCDEFGHIJKLMNOP",
		Method: "otp_sms", Expires: until})
	if err != nil || !ok || m.Type != "com.authsvc.verification.extended" || m.Client != "crm" {
		t.Fatalf("%+v %v %v", m, ok, err)
	}
	var ce event.Event
	if err := json.Unmarshal(m.Body, &ce); err != nil {
		t.Fatal(err)
	}
	var d events.Data
	if err := ce.DataAs(&d); err != nil || d.State != "PENDING" || d.ExpireTime != "2025-11-24T16:10:00.123Z" {
		t.Errorf("data %+v, %v", d, err)
	}
}

// A handover step's entry names the client that acted (the brand channel, the IVR): with the
// client that started the verification given, the event goes to that one and names the actor.
func TestRenderHandoverToTheStarter(t *testing.T) {
	t.Parallel()
	e := audit.Event{ID: "1-0", Time: time.UnixMilli(1), Kind: events.HandoverRedeemed, ClientID: "brand-chat",
		VerificationID: "k2q-ABCDEFGHIJKLMNOP", Method: "secure_channel"}
	m, ok, err := events.Render("s", "audit:events", e, "platform-a")
	if err != nil || !ok || m.Client != "platform-a" || m.Type != "com.authsvc.handover.redeemed" {
		t.Fatalf("%+v %v %v", m, ok, err)
	}
	var ce event.Event
	if err := json.Unmarshal(m.Body, &ce); err != nil {
		t.Fatal(err)
	}
	var d events.Data
	if err := ce.DataAs(&d); err != nil || d.ClientID != "platform-a" || d.ActorClientID != "brand-chat" {
		t.Errorf("data %+v, %v", d, err)
	}
}

// An SMS breaker's trip or release belongs to no verification or client: it goes to the client
// given (Config.DeploymentClient) and names the cell, a calling code or a masked prefix; with no
// client given it goes nowhere.
func TestRenderBreakerToTheDeploymentClient(t *testing.T) {
	t.Parallel()
	for kind, typ := range map[string]string{audit.BreakerTripped: "com.authsvc.sms.breaker_tripped",
		audit.BreakerReleased: "com.authsvc.sms.breaker_released"} {
		e := audit.Event{ID: "1-0", Time: time.UnixMilli(1), Kind: kind, Reason: "prefix", Outcome: "enforce",
			Destination: "+4479****"}
		m, ok, err := events.Render("s", "audit:events", e, "fraud-desk")
		if err != nil || !ok || m.Client != "fraud-desk" || m.Type != typ {
			t.Fatalf("%s: %+v %v %v", kind, m, ok, err)
		}
		var ce event.Event
		if err := json.Unmarshal(m.Body, &ce); err != nil {
			t.Fatal(err)
		}
		var d events.Data
		if err := ce.DataAs(&d); err != nil || d.ClientID != "fraud-desk" || d.ActorClientID != "" || d.Cell != "+4479****" ||
			d.Reason != "prefix" || d.Outcome != "enforce" || ce.Subject() != "" {
			t.Errorf("%s: data %+v, %v", kind, d, err)
		}
		if m, ok, _ := events.Render("s", "audit:events", e); !ok || m.Client != "" {
			t.Errorf("%s with no deployment client: %+v", kind, m)
		}
	}
}
