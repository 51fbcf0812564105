package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/authsvc/authsvc/internal/audit"
)

// Type prefixes of the events: a verification's transitions and a handover's steps.
const (
	verificationPrefix = "com.authsvc.verification."
	handoverPrefix     = "com.authsvc.handover."
	smsPrefix          = "com.authsvc.sms."
)

// Handover audit kinds (the handover scripts write them, as the verification scripts write
// theirs). HandoverExpired is written by package challenge's Lapser (handover_lapse.lua) once a
// verification's live offer ran out unredeemed.
const (
	HandoverCreated  = audit.HandoverCreated
	HandoverBound    = audit.HandoverBound
	HandoverRedeemed = audit.HandoverRedeemed
	HandoverRefused  = audit.HandoverRefused
	HandoverExpired  = audit.HandoverExpired
)

// kindInfo is what one audit kind becomes.
type kindInfo struct {
	typ   string // the CloudEvents type
	state string // the verification's state after it (verification events only)
}

// catalog maps the audit kinds that are events to their CloudEvents types. Every other kind
// (started, sent, attempt_failed, assertion_issued, disclosure decisions, factors, links,
// erasure, client_denied) is not an event: the dispatcher acknowledges it without a delivery.
var catalog = map[string]kindInfo{
	audit.Verified: {verificationPrefix + "verified", "VERIFIED"},
	audit.Failed:   {verificationPrefix + "failed", "FAILED"},
	audit.Reported: {verificationPrefix + "reported", "FAILED"},
	audit.Expired:  {verificationPrefix + "expired", "EXPIRED"},
	audit.Canceled: {verificationPrefix + "canceled", "CANCELED"},
	// The customer gave her verification more time on her page: still PENDING, with
	// a new expiry (Data.ExpireTime).
	audit.Extended: {verificationPrefix + "extended", "PENDING"},

	HandoverCreated:  {handoverPrefix + "created", ""},
	HandoverBound:    {handoverPrefix + "bound", ""},
	HandoverRedeemed: {handoverPrefix + "redeemed", ""},
	HandoverRefused:  {handoverPrefix + "refused", ""},
	HandoverExpired:  {handoverPrefix + "expired", ""},

	// Deployment-wide: an SMS breaker cell tripped or was released. They belong to no
	// verification or client and go to Config.DeploymentClient (the fraud team's receiver).
	audit.BreakerTripped:  {smsPrefix + "breaker_tripped", ""},
	audit.BreakerReleased: {smsPrefix + "breaker_released", ""},
}

// impersonation is what a "reported" entry with reason impersonation becomes: the
// customer said the account talking to her is not the brand's ("this isn't the
// account I'm talking to"). It has a type of its own so that a platform can route it
// to its trust-and-safety team; the verification ends FAILED (REPORTED) all the same.
var impersonation = kindInfo{verificationPrefix + "impersonation_reported", "FAILED"}

// Types returns every CloudEvents type the dispatcher sends, sorted.
func Types() []string {
	out := make([]string, 0, len(catalog)+1)
	for _, k := range catalog {
		out = append(out, k.typ)
	}
	out = append(out, impersonation.typ)
	sort.Strings(out)
	return out
}

// TypeOf returns the CloudEvents type of an audit kind, or "" when the kind is not an event.
func TypeOf(kind string) string { return catalog[kind].typ }

// isDeployment tells whether kind is a deployment-wide event: its entry names no client, and it
// goes to Config.DeploymentClient.
func isDeployment(kind string) bool { return strings.HasPrefix(catalog[kind].typ, smsPrefix) }

// isHandover tells whether kind is a handover step: its entry's client is the one that acted.
func isHandover(kind string) bool { return strings.HasPrefix(catalog[kind].typ, handoverPrefix) }

// Data is the payload of every event ("data", application/json). It carries ids and
// pseudonymous values only: never a handle, a contact point (not even masked), a code, a link
// or a token. Empty fields are left out.
type Data struct {
	// VerificationID is the verification the event is about (StartVerification's id).
	VerificationID string `json:"verification_id,omitempty"`
	// ClientID is the API client that started the verification: the receiver's own id.
	ClientID string `json:"client_id"`
	// ActorClientID is, for a handover step, the client that acted when it is another one (the
	// brand channel's backend that redeemed, the IVR).
	ActorClientID string `json:"actor_client_id,omitempty"`
	// AgentID is the agent the start named.
	AgentID string `json:"agent_id,omitempty"`
	// State is the verification's state after the event (VERIFIED, FAILED, EXPIRED, CANCELED;
	// PENDING for .extended); empty for handover events.
	State string `json:"state,omitempty"`
	// Method is the method that completed or was in play: otp_email, otp_sms, magic_link,
	// totp, webauthn (or, for a handover, its channel kind as package handover records it).
	Method string `json:"method,omitempty"`
	// Outcome refines the type: "ok" for verified, "canceled" or "revoked" (a verified
	// verification whose conversation ended) for canceled, or the handover's.
	Outcome string `json:"outcome,omitempty"`
	// Reason says why a verification failed (attempts_exhausted, number_mismatch; REPORTED
	// for .reported) or a handover was refused.
	Reason string `json:"reason,omitempty"`
	// Customer is the customer's audit pseudonym (16 hex digits, keyed per customer and
	// unlinkable once she is erased); empty when the start named no customer.
	Customer string `json:"customer,omitempty"`
	// ExpireTime is, for .extended, the verification's new expiry (RFC 3339, UTC), as
	// GetVerification's expire_time now says.
	ExpireTime string `json:"expire_time,omitempty"`
	// Cell is, for an SMS breaker event, the cell: a country calling code ("+44") or a
	// masked number prefix ("+4479****", a block of 10,000 numbers), never a number. Reason
	// says which ("country" or "prefix") and Outcome the breaker's mode (enforce or monitor).
	Cell string `json:"cell,omitempty"`
}

// ContentType is the media type of a delivery's body: the CloudEvents structured JSON format.
const ContentType = "application/cloudevents+json; charset=utf-8"

// Message is one event ready to send: its id, type, client and the body signed and POSTed.
type Message struct {
	// ID is the CloudEvents id and the webhook-id: "<stream>/<entry id>", the same on every
	// delivery of the entry, so that a receiver deduplicates by it.
	ID string
	// Type is the CloudEvents type.
	Type string
	// Client is the client it goes to (audit field c).
	Client string
	// Time is when the transition happened.
	Time time.Time
	// Body is the structured-mode CloudEvent.
	Body []byte
}

// Render turns the audit entry e, read from stream, into the event sent to its client, with
// source as the CloudEvents source. ok is false when e's kind is not an event (see Types).
// starter, when not empty, is the client that started the verification, for a handover step
// whose entry names the client that acted: the event goes to starter. For a deployment-wide
// event (an SMS breaker's), whose entry names no client, it is the client it goes to.
func Render(source, stream string, e audit.Event, starter ...string) (m Message, ok bool, err error) {
	info, ok := catalog[e.Kind]
	if !ok {
		return Message{}, false, nil
	}
	if e.Kind == audit.Reported && e.Reason == audit.ReasonImpersonation {
		info = impersonation
	}
	client, actor := e.ClientID, ""
	if len(starter) > 0 && starter[0] != "" && starter[0] != e.ClientID {
		client, actor = starter[0], e.ClientID
	}
	d := Data{VerificationID: e.VerificationID, ClientID: client, ActorClientID: actor, AgentID: e.AgentID, State: info.state,
		Method: e.Method, Outcome: e.Outcome, Reason: e.Reason, Customer: e.Customer}
	if isDeployment(e.Kind) {
		d.Cell = e.Destination
	}
	if e.Kind == audit.Extended && !e.Expires.IsZero() {
		d.ExpireTime = e.Expires.UTC().Format(time.RFC3339Nano)
	}
	if e.Kind == audit.Reported {
		if e.Reason == audit.ReasonImpersonation {
			d.Outcome = audit.ReasonImpersonation
		}
		d.Reason = "REPORTED"
	}
	ce := event.New(event.CloudEventsVersionV1)
	id := stream + "/" + e.ID
	ce.SetID(id)
	ce.SetSource(source)
	ce.SetType(info.typ)
	if e.VerificationID != "" {
		ce.SetSubject(e.VerificationID)
	}
	ce.SetTime(e.Time.UTC())
	if err := ce.SetData(event.ApplicationJSON, d); err != nil {
		return Message{}, true, fmt.Errorf("events: encode data: %w", err)
	}
	if err := ce.Validate(); err != nil {
		return Message{}, true, fmt.Errorf("events: %w", err)
	}
	body, err := json.Marshal(ce)
	if err != nil {
		return Message{}, true, fmt.Errorf("events: encode event: %w", err)
	}
	return Message{ID: id, Type: info.typ, Client: client, Time: e.Time, Body: bytes.TrimSpace(body)}, true, nil
}
