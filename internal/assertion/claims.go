package assertion

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenType is the typ header of every assertion (explicit typing, RFC 8725 §3.11).
const TokenType = "authsvc-assertion+jwt"

// ClaimsVersion is the value of the ver claim this package mints and accepts.
const ClaimsVersion = 1

// MaxTokenSize is the longest token, in bytes, that Verify parses or Mint produces.
const MaxTokenSize = 8 << 10

// Leeway is the clock skew Verify tolerates on exp, nbf and iat.
const Leeway = 60 * time.Second

// DefaultLifetime is the lifetime NewMinter uses when given none.
const DefaultLifetime = 5 * time.Minute

// Claims is what an assertion states. The issuer is not part of it: the Minter and
// Verifier are each configured with one. Times are carried in whole seconds.
type Claims struct {
	// Subject is the customer id (sub).
	Subject string
	// Audience is the client the assertion is for (aud, a one-element array). Verify
	// sets it to the audience it was asked to check.
	Audience string
	// IssuedAt, NotBefore and Expiry are iat, nbf and exp. Expiry may be at most the
	// Minter's Lifetime after IssuedAt.
	IssuedAt, NotBefore, Expiry time.Time
	// AuthTime is when the customer completed the method (auth_time); not after IssuedAt.
	AuthTime time.Time
	// ID is the assertion's unique id (jti).
	ID string
	// Level is the assurance reached (acr).
	Level assurance.Level
	// AMR lists the authentication methods (amr, RFC 8176 values); at least one.
	AMR []string
	// Network, UserID and Handle are the social identity (social.network,
	// social.user_id, social.handle); Handle is optional.
	Network, UserID, Handle string
	// ConversationID is the conversation the verification was started from.
	ConversationID string
	// AgentID is the agent who asked for it (act.sub, RFC 8693).
	AgentID string
	// Scopes are the scopes granted (scope, space-separated; omitted when empty).
	// A scope is non-empty and contains no white space.
	Scopes []string
	// VerificationID is the verification that produced the assertion (vid).
	VerificationID string
	// ClientID is the API client that started the verification (azp, OpenID
	// Connect's authorized party): with ConversationID it names the conversation
	// whose latest verification alone stands. Optional in what Verify accepts
	// (assertions minted before it was set carry none).
	ClientID string
	// Handover names the channel the assertion was handed over to (hov):
	// HandoverSecureChannel or HandoverPhone; "" for the platform's own.
	Handover string
}

// The values of Claims.Handover (the hov claim).
const (
	HandoverSecureChannel = "secure_channel"
	HandoverPhone         = "phone"
)

// wireClaims is the JSON payload; its field order is the token's member order.
type wireClaims struct {
	Issuer         string           `json:"iss"`
	Subject        string           `json:"sub"`
	Audience       []string         `json:"aud"`
	IssuedAt       *jwt.NumericDate `json:"iat"`
	NotBefore      *jwt.NumericDate `json:"nbf"`
	Expiry         *jwt.NumericDate `json:"exp"`
	ID             string           `json:"jti"`
	AuthTime       *jwt.NumericDate `json:"auth_time"`
	ACR            string           `json:"acr"`
	AMR            []string         `json:"amr"`
	Social         *wireSocial      `json:"social"`
	ConversationID string           `json:"conversation_id"`
	Act            *wireActor       `json:"act"`
	Scope          string           `json:"scope,omitempty"`
	VerificationID string           `json:"vid"`
	AuthorizedBy   string           `json:"azp,omitempty"`
	Handover       string           `json:"hov,omitempty"`
	Version        int              `json:"ver"`
}

type wireSocial struct {
	Network string `json:"network"`
	UserID  string `json:"user_id"`
	Handle  string `json:"handle,omitempty"`
}

type wireActor struct {
	Subject string `json:"sub"`
}

// toWire converts c (already checked) to its payload form.
func (c Claims) toWire(issuer string) wireClaims {
	return wireClaims{
		Issuer:         issuer,
		Subject:        c.Subject,
		Audience:       []string{c.Audience},
		IssuedAt:       jwt.NewNumericDate(c.IssuedAt),
		NotBefore:      jwt.NewNumericDate(c.NotBefore),
		Expiry:         jwt.NewNumericDate(c.Expiry),
		ID:             c.ID,
		AuthTime:       jwt.NewNumericDate(c.AuthTime),
		ACR:            c.Level.ACR(),
		AMR:            c.AMR,
		Social:         &wireSocial{Network: c.Network, UserID: c.UserID, Handle: c.Handle},
		ConversationID: c.ConversationID,
		Act:            &wireActor{Subject: c.AgentID},
		Scope:          strings.Join(c.Scopes, " "),
		VerificationID: c.VerificationID,
		AuthorizedBy:   c.ClientID,
		Handover:       c.Handover,
		Version:        ClaimsVersion,
	}
}

// numericTime converts a NumericDate, returning the zero time when absent.
func numericTime(n *jwt.NumericDate) time.Time {
	if n == nil {
		return time.Time{}
	}
	return n.Time().UTC()
}

// toClaims converts a verified payload to Claims; audience is the one checked.
// ok is false when acr names no level.
func (w wireClaims) toClaims(audience string) (c Claims, ok bool) {
	level, ok := assurance.ParseACR(w.ACR)
	c = Claims{
		Subject:        w.Subject,
		Audience:       audience,
		IssuedAt:       numericTime(w.IssuedAt),
		NotBefore:      numericTime(w.NotBefore),
		Expiry:         numericTime(w.Expiry),
		AuthTime:       numericTime(w.AuthTime),
		ID:             w.ID,
		Level:          level,
		AMR:            w.AMR,
		ConversationID: w.ConversationID,
		VerificationID: w.VerificationID,
		ClientID:       w.AuthorizedBy,
		Handover:       w.Handover,
	}
	if w.Scope != "" {
		c.Scopes = strings.Fields(w.Scope)
	}
	if w.Social != nil {
		c.Network, c.UserID, c.Handle = w.Social.Network, w.Social.UserID, w.Social.Handle
	}
	if w.Act != nil {
		c.AgentID = w.Act.Subject
	}
	return c, ok
}

// problem reports what makes c unfit for an assertion, as a short constant text
// naming the claim (never its value), or "" when c is complete and consistent.
// Mint and Verify share it, so that Verify accepts exactly what Mint produces.
func (c Claims) problem() string {
	required := []struct{ name, v string }{
		{"sub", c.Subject},
		{"aud", c.Audience},
		{"jti", c.ID},
		{"social.network", c.Network},
		{"social.user_id", c.UserID},
		{"conversation_id", c.ConversationID},
		{"act.sub", c.AgentID},
		{"vid", c.VerificationID},
	}
	for _, r := range required {
		if r.v == "" {
			return "missing " + r.name
		}
		if !utf8.ValidString(r.v) {
			return "invalid " + r.name
		}
	}
	if !utf8.ValidString(c.Handle) {
		return "invalid social.handle"
	}
	if !utf8.ValidString(c.ClientID) {
		return "invalid azp"
	}
	if c.Handover != "" && c.Handover != HandoverSecureChannel && c.Handover != HandoverPhone {
		return "invalid hov"
	}
	if !c.Level.Valid() {
		return "missing acr"
	}
	if len(c.AMR) == 0 {
		return "missing amr"
	}
	for _, m := range c.AMR {
		if m == "" || !utf8.ValidString(m) {
			return "invalid amr"
		}
	}
	for _, s := range c.Scopes {
		if f := strings.Fields(s); len(f) != 1 || f[0] != s || !utf8.ValidString(s) {
			return "invalid scope"
		}
	}
	times := []struct {
		name string
		t    time.Time
	}{{"iat", c.IssuedAt}, {"nbf", c.NotBefore}, {"exp", c.Expiry}, {"auth_time", c.AuthTime}}
	for _, tt := range times {
		if tt.t.Unix() <= 0 {
			return "missing " + tt.name
		}
	}
	iat, nbf, exp, auth := c.IssuedAt.Unix(), c.NotBefore.Unix(), c.Expiry.Unix(), c.AuthTime.Unix()
	if exp <= iat || exp <= nbf {
		return "exp not after iat and nbf"
	}
	if auth > iat {
		return "auth_time after iat"
	}
	return ""
}
