package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
)

// Channel is where data would be revealed. The zero value is not a channel.
type Channel int

// The channels.
const (
	// PublicReply is a public reply or comment, visible to anyone. No valid
	// policy allows any data class here.
	PublicReply Channel = iota + 1
	// DM is a direct message on the social network.
	DM
	// SecureChannel is the brand's own authenticated channel (app, account page, secure form).
	SecureChannel
	// Phone is a phone call.
	Phone
)

// channelNames are the spellings of the policy file, in Channel order.
var channelNames = [...]string{PublicReply: "public_reply", DM: "dm", SecureChannel: "secure_channel", Phone: "phone"}

// Valid reports whether c is one of the defined channels.
func (c Channel) Valid() bool { return c >= PublicReply && c <= Phone }

// String returns the channel's name as written in a policy file ("secure_channel").
func (c Channel) String() string {
	if !c.Valid() {
		return fmt.Sprintf("channel(%d)", int(c))
	}
	return channelNames[c]
}

// ParseChannel returns the channel a policy file name ("dm") stands for.
func ParseChannel(s string) (Channel, bool) {
	for c := PublicReply; c <= Phone; c++ {
		if channelNames[c] == s {
			return c, true
		}
	}
	return 0, false
}

// Rule is what one data class needs before it may be shared.
type Rule struct {
	// DataClass names the data ("shipping_address"): [a-z][a-z0-9_]{0,63}.
	DataClass string
	// Description is a sentence an agent reads ("Delivery address on file").
	Description string
	// MinLevel is the lowest assurance level that may reveal it.
	MinLevel assurance.Level
	// MaxAge is the longest time since auth_time at which it may be revealed:
	// whole seconds, from 1s to MaxMaxAge.
	MaxAge time.Duration
	// Channels are where it may be shared, in the file's order; never PublicReply.
	Channels []Channel
}

// Allows reports whether r lets its data be shared in ch.
func (r Rule) Allows(ch Channel) bool { return slices.Contains(r.Channels, ch) }

func (r Rule) clone() Rule {
	r.Channels = slices.Clone(r.Channels)
	return r
}

// Policy is a validated disclosure policy. It never changes after Parse and is
// safe for concurrent use.
type Policy struct {
	rules []Rule
	index map[string]int
}

// Rules returns the policy's rules in the order of its file. The slice and its
// rules are copies.
func (p *Policy) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.clone()
	}
	return out
}

// Rule returns the rule of dataClass.
func (p *Policy) Rule(dataClass string) (Rule, bool) {
	i, ok := p.index[dataClass]
	if !ok {
		return Rule{}, false
	}
	return p.rules[i].clone(), true
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the name Default's errors and sources would carry.
const DefaultName = "default.yaml"

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := Parse(defaultYAML, DefaultName)
	if err != nil {
		// The embedded file is tested; a broken build must not serve.
		panic(err)
	}
	return p
})

// Default returns the policy that ships with authsvc (default.yaml in this
// package). Every call returns the same immutable policy.
func Default() *Policy { return defaultPolicy() }

// DefaultYAML returns the text of the default policy: a starting point for a
// brand's own file.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Claims is what a decision needs of a verified assertion.
type Claims struct {
	// Level is the assurance level reached (acr).
	Level assurance.Level
	// AuthTime is when the customer proved it was them (auth_time).
	AuthTime time.Time
	// ConversationID is the conversation the assertion was issued for.
	ConversationID string
	// Handover is the channel the assertion was handed over to (hov: SecureChannel
	// or Phone), zero for an assertion issued to the platform that verified. A
	// handed-over assertion is for that channel alone: in any other it is
	// ChannelNotAllowed.
	Handover Channel
}

// Denial is one reason a disclosure is denied. The zero value is not a reason.
type Denial int

// The reasons, in the order Decide reports them.
const (
	// LevelTooLow: the assertion's level is below the rule's MinLevel.
	LevelTooLow Denial = iota + 1
	// TooOld: more than the rule's MaxAge has passed since auth_time.
	TooOld
	// ChannelNotAllowed: the data class may never be shared in the channel, or
	// the assertion was handed over to another channel.
	ChannelNotAllowed
	// ConversationMismatch: the assertion was issued for another conversation.
	ConversationMismatch
)

// String returns the denial's name in lower case ("level_too_low").
func (d Denial) String() string {
	switch d {
	case LevelTooLow:
		return "level_too_low"
	case TooOld:
		return "too_old"
	case ChannelNotAllowed:
		return "channel_not_allowed"
	case ConversationMismatch:
		return "conversation_mismatch"
	}
	return fmt.Sprintf("denial(%d)", int(d))
}

// Decision is the answer to "may this data class be revealed here?".
type Decision struct {
	// Allowed is true exactly when Denials is empty.
	Allowed bool
	// Denials are every reason it is denied, in Denial order.
	Denials []Denial
	// ACRValues, set only when a new verification could turn the denial into an
	// allowance, are the acr values that would do (RFC 9470 acr_values): the
	// rule's MinLevel and every higher level, space-separated, weakest first.
	ACRValues string
	// MaxAge, set with ACRValues, is the largest age of authentication that would
	// do (RFC 9470 max_age): the rule's MaxAge.
	MaxAge time.Duration
	// Rule is the data class's rule.
	Rule Rule
}

// Errors of Decide. They are about the question, not the assertion.
var (
	// ErrUnknownDataClass: the policy has no rule for the data class.
	ErrUnknownDataClass = errors.New("policy: unknown data class")
	// ErrUnknownChannel: the channel is not one of the defined channels.
	ErrUnknownChannel = errors.New("policy: unknown channel")
)

// Decide answers whether the data of dataClass may be revealed in channel ch of
// conversation conversationID on an assertion stating c, at time now. See the
// package documentation for the contract.
func (p *Policy) Decide(c Claims, dataClass string, ch Channel, conversationID string, now time.Time) (Decision, error) {
	i, ok := p.index[dataClass]
	if !ok {
		return Decision{}, ErrUnknownDataClass
	}
	if !ch.Valid() {
		return Decision{}, ErrUnknownChannel
	}
	r := p.rules[i]
	d := Decision{Rule: r.clone()}
	if !c.Level.Meets(r.MinLevel) {
		d.Denials = append(d.Denials, LevelTooLow)
	}
	if c.AuthTime.IsZero() || now.Sub(c.AuthTime) > r.MaxAge {
		d.Denials = append(d.Denials, TooOld)
	}
	channelOK := r.Allows(ch) && (c.Handover == 0 || c.Handover == ch)
	if !channelOK {
		d.Denials = append(d.Denials, ChannelNotAllowed)
	}
	if c.ConversationID == "" || c.ConversationID != conversationID {
		d.Denials = append(d.Denials, ConversationMismatch)
	}
	d.Allowed = len(d.Denials) == 0
	// A new verification in the asked-for conversation fixes a low level, an old
	// authentication and a foreign conversation, never a forbidden channel; and a
	// conversation mismatch alone needs no particular level or age.
	stepUp := slices.Contains(d.Denials, LevelTooLow) || slices.Contains(d.Denials, TooOld)
	if stepUp && channelOK {
		d.ACRValues = acrValues(r.MinLevel)
		d.MaxAge = r.MaxAge
	}
	return d, nil
}

// acrValues lists the acr of min and every higher level, weakest first.
func acrValues(min assurance.Level) string {
	var out []string
	for l := min; l <= assurance.High; l++ {
		out = append(out, l.ACR())
	}
	return strings.Join(out, " ")
}
