package challenge

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// normalize checks a destination and returns its canonical form: a lower-cased
// bare email address, or an E.164 phone number that libphonenumber deems possible.
func (d Destination) normalize() (Destination, string) {
	switch d.Kind {
	case Email:
		if len(d.Value) > 254 {
			return d, "must be at most 254 bytes"
		}
		a, err := mail.ParseAddress(d.Value)
		if err != nil || a.Name != "" || a.Address != d.Value {
			return d, "must be a bare email address like name@example.com"
		}
		local, domain, ok := strings.Cut(a.Address, "@")
		if !ok || local == "" || !strings.Contains(domain, ".") {
			return d, "must be a bare email address like name@example.com"
		}
		return Destination{Kind: Email, Value: local + "@" + strings.ToLower(domain)}, ""
	case Phone:
		if !strings.HasPrefix(d.Value, "+") || len(d.Value) > 16 {
			return d, "must be an E.164 number like +14155550100"
		}
		for _, c := range d.Value[1:] {
			if c < '0' || c > '9' {
				return d, "must be an E.164 number like +14155550100"
			}
		}
		n, err := phonenumbers.Parse(d.Value, "")
		if err != nil || !phonenumbers.IsPossibleNumber(n) {
			return d, "must be an E.164 number like +14155550100"
		}
		return Destination{Kind: Phone, Value: phonenumbers.Format(n, phonenumbers.E164)}, ""
	}
	return d, "must be an email or a phone"
}

// mask shows enough of a destination for the customer to recognize it and not
// enough to learn it: "a***@example.com", "+1******0100".
func (d Destination) mask() string {
	switch d.Kind {
	case Email:
		local, domain, _ := strings.Cut(d.Value, "@")
		r, _ := utf8.DecodeRuneInString(local)
		return string(r) + "***@" + domain
	case Phone:
		if len(d.Value) <= 5 {
			return "+***"
		}
		cc := d.Value[:2]
		return cc + strings.Repeat("*", len(d.Value)-6) + d.Value[len(d.Value)-4:]
	}
	return ""
}

// maskHandle keeps the first two and the last character of a handle: "@alice" →
// "@al**e". The mask is ASCII so an SMS naming it stays in the GSM 7-bit alphabet.
func maskHandle(h string) string {
	if h == "" {
		return ""
	}
	at := strings.HasPrefix(h, "@")
	body := strings.TrimPrefix(h, "@")
	runes := []rune(body)
	var m string
	switch {
	case len(runes) <= 2:
		m = string(runes[:1]) + "**"
	case len(runes) <= 4:
		m = string(runes[:1]) + "**" + string(runes[len(runes)-1:])
	default:
		m = string(runes[:2]) + "**" + string(runes[len(runes)-1:])
	}
	if at {
		return "@" + m
	}
	return m
}
