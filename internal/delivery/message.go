package delivery

import (
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/authsvc/authsvc/internal/text"
)

// Channel is the out-of-band channel a message travels on.
type Channel int

// The channels. The zero value is not a channel.
const (
	// Email is a message to an email address.
	Email Channel = iota + 1
	// SMS is a text message to an E.164 phone number.
	SMS
)

// String returns the wire name of the channel ("email", "sms"), or "unknown".
func (c Channel) String() string {
	switch c {
	case Email:
		return "email"
	case SMS:
		return "sms"
	default:
		return "unknown"
	}
}

// Kind is what a message carries.
type Kind int

// The kinds. The zero value is not a kind.
const (
	// KindCode carries a one-time code of 6 to 8 digits.
	KindCode Kind = iota + 1
	// KindLink carries a magic link; the customer completes it by picking the
	// number shown in the chat.
	KindLink
	// KindFactorAdded tells the customer that a factor (Factor) was added to her
	// account after a verification at this contact, with a link (Link) to report
	// it when it was not her. It carries no code; Network and Handle are optional.
	KindFactorAdded
)

// String returns the wire name of the kind ("code", "link"), or "unknown".
func (k Kind) String() string {
	switch k {
	case KindCode:
		return "code"
	case KindLink:
		return "link"
	case KindFactorAdded:
		return "factor_added"
	default:
		return "unknown"
	}
}

// The factors a KindFactorAdded message can name (Message.Factor).
const (
	FactorTOTP    = "totp"
	FactorPasskey = "passkey"
)

// Message is one out-of-band message to a customer. Every field except Locale,
// Code (for KindLink) and Link (for KindCode) is required; see [Render] for
// the checks. A Message holds secrets (Code, Link) and personal data (To):
// never log it.
type Message struct {
	// ID is unique per send; receivers de-duplicate on it, so a retried send
	// must reuse it. Visible ASCII, at most 128 bytes.
	ID string
	// Channel selects email or SMS.
	Channel Channel
	// To is a bare email address (Email) or an E.164 phone number (SMS).
	To string
	// Locale is a BCP 47 tag such as "es-MX"; see [MatchLocale].
	Locale string
	// Kind selects a code or a link message.
	Kind Kind
	// Code is the one-time code (KindCode): 6 to 8 ASCII digits.
	Code string
	// Link is the magic link (KindLink), or the link that reports an added factor
	// (KindFactorAdded): an https URL on PageHost (http only on a loopback host,
	// for development).
	Link string
	// Factor is what was added (KindFactorAdded): FactorTOTP or FactorPasskey.
	Factor string
	// Brand is the brand the customer is talking to, e.g. "Acme".
	Brand string
	// Network is the social network of the conversation: "x", "messenger",
	// "instagram", "whatsapp" or another name shown as given.
	Network string
	// Handle is the customer's handle, already masked by the caller ("@al…e").
	Handle string
	// PageHost is the host (and optional port) of the brand's verification
	// pages, e.g. "verify.example.com"; the message names it as the only place
	// the code may be entered.
	PageHost string
	// ExpiresIn is how long the code or link stays valid; it must be positive.
	ExpiresIn time.Duration
}

const maxIDLen = 128

// validate checks m and returns a *MessageError naming the first bad field.
func (m Message) validate() error {
	switch {
	case m.ID == "" || len(m.ID) > maxIDLen || !isVisibleASCII(m.ID):
		return &MessageError{Field: "id"}
	case m.Channel != Email && m.Channel != SMS:
		return &MessageError{Field: "channel"}
	case !validTo(m.Channel, m.To):
		return &MessageError{Field: "to"}
	case hasControl(m.Locale):
		return &MessageError{Field: "locale"}
	case m.Kind != KindCode && m.Kind != KindLink && m.Kind != KindFactorAdded:
		return &MessageError{Field: "kind"}
	case !validText(m.Brand, 64):
		return &MessageError{Field: "brand"}
	case !validText(m.Network, 32) && (m.Kind != KindFactorAdded || m.Network != ""):
		return &MessageError{Field: "network"}
	case !validText(m.Handle, 64) && (m.Kind != KindFactorAdded || m.Handle != ""):
		return &MessageError{Field: "handle"}
	case !validHost(m.PageHost):
		return &MessageError{Field: "page_host"}
	case m.ExpiresIn <= 0:
		return &MessageError{Field: "expires_in"}
	}
	switch m.Kind {
	case KindCode:
		if !isDigits(m.Code, 6, 8) || m.Link != "" {
			return &MessageError{Field: "code"}
		}
	case KindLink:
		if !validLink(m.Link, m.PageHost) || m.Code != "" {
			return &MessageError{Field: "link"}
		}
	case KindFactorAdded:
		if !validLink(m.Link, m.PageHost) || m.Code != "" {
			return &MessageError{Field: "link"}
		}
		if m.Factor != FactorTOTP && m.Factor != FactorPasskey {
			return &MessageError{Field: "factor"}
		}
	}
	if m.Kind != KindFactorAdded && m.Factor != "" {
		return &MessageError{Field: "factor"}
	}
	return nil
}

func validTo(c Channel, to string) bool {
	switch c {
	case Email:
		a, err := mail.ParseAddress(to)
		return err == nil && a.Name == "" && a.Address == to && len(to) <= 254
	case SMS:
		// E.164: "+", a non-zero digit, at most 15 digits in all.
		return len(to) >= 8 && to[0] == '+' && to[1] != '0' && isDigits(to[1:], 7, 15)
	default:
		return false
	}
}

func validLink(link, pageHost string) bool {
	u, err := url.Parse(link)
	if err != nil || u.User != nil || u.Host != pageHost || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopbackHost(u.Hostname())
	default:
		return false
	}
}

// validHost accepts "host" or "host:port" with a DNS name or an IP literal.
func validHost(h string) bool {
	if h == "" || len(h) > 253 || !isVisibleASCII(h) || strings.ContainsAny(h, "/?#@\\") {
		return false
	}
	u, err := url.Parse("https://" + h)
	return err == nil && u.Host == h && u.Hostname() != ""
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP literal.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validText accepts a value a person reads: what package text accepts (no
// bidirectional control, invisible or control character), not blank, at most
// maxRunes characters.
func validText(s string, maxRunes int) bool {
	if _, err := text.Display(s); err != nil {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return n > 0 && n <= maxRunes && strings.TrimSpace(s) != ""
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func isDigits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
