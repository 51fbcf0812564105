package policy

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
)

var t0 = time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	type row struct {
		level    assurance.Level
		maxAge   time.Duration
		channels []Channel
	}
	want := map[string]row{
		"order_status":     {assurance.Low, 30 * time.Minute, []Channel{DM, SecureChannel, Phone}},
		"order_history":    {assurance.Low, 30 * time.Minute, []Channel{DM, SecureChannel}},
		"shipping_address": {assurance.Substantial, 15 * time.Minute, []Channel{DM, SecureChannel}},
		"email_address":    {assurance.Substantial, 15 * time.Minute, []Channel{DM, SecureChannel}},
		"phone_number":     {assurance.Substantial, 15 * time.Minute, []Channel{DM, SecureChannel}},
		"payment_last4":    {assurance.Substantial, 10 * time.Minute, []Channel{DM, SecureChannel, Phone}},
		"refunds":          {assurance.High, 10 * time.Minute, []Channel{DM, SecureChannel, Phone}},
		"account_changes":  {assurance.High, 5 * time.Minute, []Channel{SecureChannel, DM}},
	}
	rules := Default().Rules()
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for _, r := range rules {
		w, ok := want[r.DataClass]
		if !ok {
			t.Errorf("unexpected data class %q", r.DataClass)
			continue
		}
		if r.MinLevel != w.level || r.MaxAge != w.maxAge || !slices.Equal(r.Channels, w.channels) || r.Description == "" {
			t.Errorf("%s = %+v, want %+v", r.DataClass, r, w)
		}
		if r.Allows(PublicReply) {
			t.Errorf("%s allows a public reply", r.DataClass)
		}
	}
	if !reflect.DeepEqual(Default().Rules(), rules) {
		t.Error("Rules() is not stable")
	}
	if _, err := Parse(DefaultYAML(), "copy.yaml"); err != nil {
		t.Errorf("DefaultYAML does not parse: %v", err)
	}
}

func TestRulesAreCopies(t *testing.T) {
	t.Parallel()
	p := Default()
	rules := p.Rules()
	rules[0].Channels[0] = PublicReply
	rules[0].MaxAge = 24 * time.Hour
	if again := p.Rules(); again[0].Channels[0] == PublicReply || again[0].MaxAge == 24*time.Hour {
		t.Error("changing a returned rule changed the policy")
	}
	r, _ := p.Rule(rules[0].DataClass)
	r.Channels[0] = PublicReply
	if d, _ := p.Decide(Claims{Level: assurance.High, AuthTime: t0, ConversationID: "c"}, rules[0].DataClass, PublicReply, "c", t0); d.Allowed {
		t.Error("changing Rule's result allowed a public reply")
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := Default()
	low := Claims{Level: assurance.Low, AuthTime: t0, ConversationID: "conv-1"}
	high := Claims{Level: assurance.High, AuthTime: t0, ConversationID: "conv-1"}
	const (
		subAndUp = assurance.ACRSubstantial + " " + assurance.ACRHigh
		allUp    = assurance.ACRLow + " " + assurance.ACRSubstantial + " " + assurance.ACRHigh
	)
	tests := []struct {
		name    string
		c       Claims
		class   string
		ch      Channel
		conv    string
		now     time.Time
		denials []Denial
		acr     string
		maxAge  time.Duration
	}{
		{"low reveals order status in a DM", low, "order_status", DM, "conv-1", t0.Add(time.Minute), nil, "", 0},
		{"low may not reveal the shipping address", low, "shipping_address", DM, "conv-1", t0, []Denial{LevelTooLow}, subAndUp, 15 * time.Minute},
		{"high reveals the shipping address", high, "shipping_address", SecureChannel, "conv-1", t0, nil, "", 0},
		{"exactly max age is allowed", low, "order_status", DM, "conv-1", t0.Add(30 * time.Minute), nil, "", 0},
		{"older than max age", low, "order_status", DM, "conv-1", t0.Add(30*time.Minute + time.Second), []Denial{TooOld}, allUp, 30 * time.Minute},
		{"too low and too old", low, "shipping_address", DM, "conv-1", t0.Add(time.Hour), []Denial{LevelTooLow, TooOld}, subAndUp, 15 * time.Minute},
		{"missing auth_time is too old", Claims{Level: assurance.High, ConversationID: "conv-1"}, "order_status", DM, "conv-1", t0, []Denial{TooOld}, allUp, 30 * time.Minute},
		{"channel not allowed", high, "shipping_address", Phone, "conv-1", t0, []Denial{ChannelNotAllowed}, "", 0},
		{"public reply, even on high", high, "order_status", PublicReply, "conv-1", t0, []Denial{ChannelNotAllowed}, "", 0},
		{"public reply and too low: no step-up helps", low, "refunds", PublicReply, "conv-1", t0, []Denial{LevelTooLow, ChannelNotAllowed}, "", 0},
		{"conversation mismatch alone: no hint", high, "order_status", DM, "conv-2", t0, []Denial{ConversationMismatch}, "", 0},
		{"conversation mismatch and too low: hint", low, "refunds", DM, "conv-2", t0, []Denial{LevelTooLow, ConversationMismatch}, assurance.ACRHigh, 10 * time.Minute},
		{"empty conversation never matches", Claims{Level: assurance.High, AuthTime: t0}, "order_status", DM, "", t0, []Denial{ConversationMismatch}, "", 0},
		{"invalid level is too low", Claims{AuthTime: t0, ConversationID: "conv-1"}, "order_status", DM, "conv-1", t0, []Denial{LevelTooLow}, allUp, 30 * time.Minute},
		{"handed over to the secure channel: there", Claims{Level: assurance.Low, AuthTime: t0, ConversationID: "conv-1", Handover: SecureChannel}, "order_status", SecureChannel, "conv-1", t0, nil, "", 0},
		{"handed over to the secure channel: not in the DM", Claims{Level: assurance.Low, AuthTime: t0, ConversationID: "conv-1", Handover: SecureChannel}, "order_status", DM, "conv-1", t0, []Denial{ChannelNotAllowed}, "", 0},
		{"handed over to the phone: not in the secure channel, too old: no hint", Claims{Level: assurance.Low, AuthTime: t0, ConversationID: "conv-1", Handover: Phone}, "order_status", SecureChannel, "conv-1", t0.Add(time.Hour), []Denial{TooOld, ChannelNotAllowed}, "", 0},
		{"account changes need high and 5m", Claims{Level: assurance.Substantial, AuthTime: t0, ConversationID: "conv-1"}, "account_changes", DM, "conv-1", t0.Add(6 * time.Minute), []Denial{LevelTooLow, TooOld}, assurance.ACRHigh, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := p.Decide(tt.c, tt.class, tt.ch, tt.conv, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (len(tt.denials) == 0) || !slices.Equal(d.Denials, tt.denials) {
				t.Errorf("allowed %v denials %v, want %v", d.Allowed, d.Denials, tt.denials)
			}
			if d.ACRValues != tt.acr || d.MaxAge != tt.maxAge {
				t.Errorf("hint acr_values %q max_age %v, want %q %v", d.ACRValues, d.MaxAge, tt.acr, tt.maxAge)
			}
			if d.Rule.DataClass != tt.class {
				t.Errorf("rule %q, want %q", d.Rule.DataClass, tt.class)
			}
		})
	}
}

func TestDecidePublicReplyDeniedForEveryClass(t *testing.T) {
	t.Parallel()
	p := Default()
	c := Claims{Level: assurance.High, AuthTime: t0, ConversationID: "conv-1"}
	for _, r := range p.Rules() {
		d, err := p.Decide(c, r.DataClass, PublicReply, "conv-1", t0)
		if err != nil || d.Allowed || !slices.Equal(d.Denials, []Denial{ChannelNotAllowed}) || d.ACRValues != "" {
			t.Errorf("%s in a public reply: %+v, %v", r.DataClass, d, err)
		}
	}
}

func TestDecideErrors(t *testing.T) {
	t.Parallel()
	p := Default()
	c := Claims{Level: assurance.High, AuthTime: t0, ConversationID: "conv-1"}
	if _, err := p.Decide(c, "ssn", DM, "conv-1", t0); !errors.Is(err, ErrUnknownDataClass) {
		t.Errorf("unknown class: %v", err)
	}
	if _, err := p.Decide(c, "order_status", Channel(0), "conv-1", t0); !errors.Is(err, ErrUnknownChannel) {
		t.Errorf("channel 0: %v", err)
	}
	if _, err := p.Decide(c, "order_status", Phone+1, "conv-1", t0); !errors.Is(err, ErrUnknownChannel) {
		t.Errorf("channel 5: %v", err)
	}
}

func TestChannelNames(t *testing.T) {
	t.Parallel()
	for c := PublicReply; c <= Phone; c++ {
		got, ok := ParseChannel(c.String())
		if !ok || got != c {
			t.Errorf("ParseChannel(%q) = %v, %v", c.String(), got, ok)
		}
	}
	for _, s := range []string{"", "DM", "public reply", "email"} {
		if _, ok := ParseChannel(s); ok {
			t.Errorf("ParseChannel(%q) accepted", s)
		}
	}
	if s := Channel(9).String(); !strings.Contains(s, "9") {
		t.Errorf("Channel(9) = %q", s)
	}
}
