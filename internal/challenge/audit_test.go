package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/redistest"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// auditEntries reads every entry of the audit stream, oldest first.
func auditEntries(t *testing.T, rdb redis.UniversalClient, key string) []redis.XMessage {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func kindsOf(msgs []redis.XMessage, id string) []string {
	var out []string
	for _, m := range msgs {
		if m.Values["v"] == id {
			out = append(out, m.Values["k"].(string))
		}
	}
	return out
}

// Every transition writes its event in the script that makes it: the documented
// fields, pseudonyms instead of identities and customers, masked destinations, and
// never a code, token, address, number, user id, handle or customer id.
func TestAuditTrail(t *testing.T) {
	var logged syncbuf.Buffer
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ff := newFactorFixtureOn(t, srv, rdb, Config{})
	// The audit log mirrors the stream.
	ff.svc.store.auditLog = audit.NewLog(slog.NewJSONHandler(&logged, nil))
	f := ff.fixture
	ctx := context.Background()
	t0 := f.clock.Now()

	// OTP: started, sent, a wrong code, then verified and the assertion issued.
	res := f.start(OTPEmail, email)
	id := res.Verification.ID
	code := f.code(id)
	if _, err := f.svc.SubmitCode(ctx, pageToken(t, res), wrongCode(code), "n1", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SubmitCode(ctx, pageToken(t, res), code, "n2", ""); err != nil {
		t.Fatal(err)
	}
	// The conversation ends: what it granted is revoked.
	if _, err := f.svc.Cancel(ctx, "platform-a", id, "c1"); err != nil {
		t.Fatal(err)
	}
	// A magic link the customer reports; an SMS code left to expire.
	ml := f.start(MagicLink, email)
	if _, err := f.svc.ReportLink(ctx, f.linkToken(ml.Verification.ID), "r1"); err != nil {
		t.Fatal(err)
	}
	// (An identity with no customer known: its keyed hash names it.)
	smsReq := f.startReq(OTPSMS, phone)
	smsReq.CustomerID = ""
	sms, err := f.svc.Start(ctx, smsReq)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(11 * time.Minute)
	if _, err := f.svc.SubmitCode(ctx, pageToken(t, sms), "000000", "late", ""); err != nil {
		t.Fatal(err)
	}
	// A send the gateway refused, and a verification failed by wrong codes.
	f.sender.mu.Lock()
	f.sender.fails = 1
	f.sender.mu.Unlock()
	_, err = f.svc.Start(ctx, f.startReq(OTPEmail, email))
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("Start with a failing sender: %v", err)
	}
	bad := f.start(OTPEmail, email)
	for i := range 5 {
		if _, err := f.svc.SubmitCode(ctx, pageToken(t, bad), wrongCode(f.code(bad.Verification.ID)), fmt.Sprint("w", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	// A send a limit refused: audited, nothing sent. (The identity's limit: three
	// sends per 10 minutes; the clock moved on past the earlier ones.)
	f.clock.Advance(11 * time.Minute)
	for i := range 4 {
		req := f.startReq(OTPEmail, &Destination{Kind: Email, Value: fmt.Sprintf("limited%d@example.com", i)})
		req.Identity.UserID = "limited-user"
		_, err := f.svc.Start(ctx, req)
		var le *LimitError
		if i < 3 && err != nil || i == 3 && !errors.As(err, &le) {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	// A passkey verification of an enrolled customer.
	key := newAuthenticator(t)
	ff.enrollPasskey("cust-1", key)
	f.clock.Advance(time.Second)
	pres, r := ff.passkeyFlow(key, assurance.High)
	if r.Outcome != OutcomeVerified {
		t.Fatalf("passkey: %v", r.Outcome)
	}

	msgs := auditEntries(t, rdb, audit.StreamKey("", false))
	want := map[string][]string{
		id:                   {"started", "sent", "attempt_failed", "verified", "assertion_issued", "canceled"},
		ml.Verification.ID:   {"started", "sent", "reported"},
		sms.Verification.ID:  {"started", "sent", "expired"},
		pres.Verification.ID: {"started", "verified", "assertion_issued"},
		se.VerificationID:    {"started", "send_failed"},
		bad.Verification.ID: {"started", "sent", "attempt_failed", "attempt_failed", "attempt_failed",
			"attempt_failed", "attempt_failed", "failed"},
	}
	var limited int
	for _, m := range msgs {
		if m.Values["k"] == "send_failed" && m.Values["o"] == "limited" {
			limited++
			if m.Values["r"] != "identity" || m.Values["c"] != "platform-a" || m.Values["a"] != "agent-7" ||
				m.Values["m"] != "otp_email" || m.Values["d"] == nil || m.Values["u"] == nil {
				t.Errorf("limit refusal event %v", m.Values)
			}
		}
	}
	if limited != 1 {
		t.Errorf("%d limit refusals audited, want 1", limited)
	}
	for vid, kinds := range want {
		if got := kindsOf(msgs, vid); !slices.Equal(got, kinds) {
			t.Errorf("events of %s: %v, want %v", vid, got, kinds)
		}
	}
	byKind := map[string]redis.XMessage{}
	for _, m := range msgs {
		if m.Values["v"] == id {
			byKind[m.Values["k"].(string)] = m
		}
	}
	check := func(kind string, fields map[string]string) {
		t.Helper()
		m, ok := byKind[kind]
		if !ok {
			t.Fatalf("no %s event", kind)
		}
		for k, v := range fields {
			if m.Values[k] != v {
				t.Errorf("%s: %s = %v, want %q", kind, k, m.Values[k], v)
			}
		}
		// The entry id carries the event's time (the service's clock, moved by the test).
		msStr, _, _ := strings.Cut(m.ID, "-")
		if at, err := strconv.ParseInt(msStr, 10, 64); err != nil || at < t0.UnixMilli() || at > f.clock.Now().UnixMilli() {
			t.Errorf("%s: id %s is not a time of this test", kind, m.ID)
		}
	}
	ih := identity.IdentityHash(f.svc.keys, "x", "1234567")
	pk42 := rdb.HGet(ctx, identity.CustomerKeyFor(f.svc.keys, "cust-42"), "pk").Val()
	base := map[string]string{"c": "platform-a", "a": "agent-7", "m": "otp_email", "i": audit.Pseudonym(pk42, ih),
		"u": audit.Pseudonym(pk42, identity.CustomerHash(f.svc.keys, "cust-42"))}
	check("started", merge(base, map[string]string{"d": res.Verification.DestinationMask}))
	check("sent", merge(base, map[string]string{"d": res.Verification.DestinationMask}))
	check("attempt_failed", merge(base, map[string]string{"o": "wrong"}))
	check("verified", merge(base, map[string]string{"o": "ok"}))
	check("canceled", merge(base, map[string]string{"o": "revoked"}))

	for _, m := range msgs {
		if m.Values["v"] == sms.Verification.ID && (m.Values["i"] != ih || m.Values["u"] != nil) {
			t.Errorf("identity-only event %v", m.Values)
		}
	}

	// The customer's events carry pseudonyms under the customer's own key.
	ck := identity.CustomerKeyFor(f.svc.keys, "cust-1")
	pk := rdb.HGet(ctx, ck, "pk").Val()
	if len(pk) != 64 {
		t.Fatalf("pseudonym key %q", pk)
	}
	for _, m := range msgs {
		if m.Values["v"] != pres.Verification.ID {
			continue
		}
		if m.Values["u"] != audit.Pseudonym(pk, identity.CustomerHash(f.svc.keys, "cust-1")) ||
			m.Values["i"] != audit.Pseudonym(pk, ih) || m.Values["m"] != "webauthn" {
			t.Errorf("passkey event %v", m.Values)
		}
	}

	// Nothing raw, anywhere in the trail or the log.
	raw := []string{"alice@example.com", "+14155550100", "1234567", "@alice", "cust-1", "cust-42", code,
		strings.TrimPrefix(f.linkToken(ml.Verification.ID), ml.Verification.ID+".")}
	for _, m := range msgs {
		b, _ := json.Marshal(m.Values)
		for _, s := range raw {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("audit entry %s holds %q", b, s)
			}
		}
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("audit log has %d lines, the stream %d entries", len(lines), len(msgs))
	}
	for i, line := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e["id"] != msgs[i].ID || e["kind"] != msgs[i].Values["k"] {
			t.Errorf("log line %d = %v, stream entry %v", i, e, msgs[i])
		}
		for _, s := range raw {
			if strings.Contains(line, s) {
				t.Errorf("audit log line holds %q: %s", s, line)
			}
		}
	}

	// Retention trims by age: past it, the next event leaves only itself.
	f.clock.Advance(f.svc.cfg.AuditRetention + time.Minute)
	last := f.start(OTPEmail, email)
	msgs = auditEntries(t, rdb, audit.StreamKey("", false))
	for _, m := range msgs {
		if m.Values["v"] != last.Verification.ID {
			t.Fatalf("an event older than the retention survived: %v", m.Values)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// On Cluster each tag keeps its own stream, on the slot of the records it audits.
func TestAuditTrailOnCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	rdb := cluster.Client(t)
	f := newFixtureOn(t, nil, rdb, true)
	for i := range 3 {
		req := f.startReq(OTPEmail, email)
		req.CustomerID = "cust-" + strconv.Itoa(i)
		res, err := f.svc.Start(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		tag, _, _ := strings.Cut(res.Verification.ID, "-")
		if got := kindsOf(auditEntries(t, rdb, audit.StreamKey(tag, true)), res.Verification.ID); !slices.Equal(got, []string{"started", "sent"}) {
			t.Fatalf("events on the tag's stream: %v", got)
		}
	}
}

// TestAuditReadsTheAgentFromAnyChunk: the audit trail's Lua reads the agent (and
// the lifetime) from the record's packed chunks, the first four in one command and
// the rest one by one. With every packed value as long as validation allows, the
// agent is in a chunk past the fourth, and must still be the one in the events.
func TestAuditReadsTheAgentFromAnyChunk(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	f := newFixtureOn(t, srv, rdb, false)
	ctx := context.Background()
	req := f.startReq(OTPEmail, email)
	req.Identity.UserID = strings.Repeat("7", 128)
	req.CustomerID = "cust-" + strings.Repeat("9", 123)
	req.Audience = strings.Repeat("a", 128)
	req.Scopes = []string{strings.Repeat("s", 64), strings.Repeat("t", 64), strings.Repeat("u", 64), strings.Repeat("v", 64)}
	req.ConversationID = strings.Repeat("c", 256)
	req.AgentID = "agent-far"
	res, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rec := rdb.HGetAll(ctx, recordKey(res.Verification.ID)).Val()
	chunks := 0
	for k := range rec {
		if strings.HasPrefix(k, "p") && len(k) <= 3 {
			if _, err := strconv.Atoi(k[1:]); err == nil {
				chunks++
			}
		}
	}
	if chunks < 8 {
		t.Fatalf("the record has %d packed chunks; the test wants the agent past the fourth", chunks)
	}
	if r, err := f.svc.SubmitCode(ctx, pageToken(t, res), f.code(res.Verification.ID), "n1", "b1"); err != nil || r.Outcome != OutcomeVerified {
		t.Fatalf("SubmitCode = %+v, %v", r, err)
	}
	var kinds []string
	for _, m := range auditEntries(t, rdb, audit.StreamKey("", false)) {
		if m.Values["v"] != res.Verification.ID {
			continue
		}
		kinds = append(kinds, m.Values["k"].(string))
		if m.Values["a"] != "agent-far" {
			t.Errorf("%s event: agent %v, want agent-far", m.Values["k"], m.Values["a"])
		}
	}
	if !slices.Contains(kinds, "started") || !slices.Contains(kinds, "verified") {
		t.Fatalf("events %v", kinds)
	}
	// The lifetime, read the same way, still gives the creation time: a pending
	// verification of the same shape extends (extend.lua reads it) by its own
	// lifetime.
	req.RequestID, req.ConversationID = "req-long-2", strings.Repeat("d", 256)
	res2, err := f.svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	exp := res2.Verification.Expires
	got, err := f.svc.ExtendCodePage(ctx, pageToken(t, res2), "x1")
	if want := exp.Add(exp.Sub(res2.Verification.Created)); err != nil || !got.Equal(want) {
		t.Fatalf("ExtendCodePage = %v, %v; want %v", got, err, want)
	}
}
