package challenge

import (
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/authsvc/authsvc/internal/text"
)

// contact is a destination that passed its checks: where the message goes, and
// the one spelling of its mailbox or number that everything else counts it by.
type contact struct {
	// Destination is what the platform gave (a phone number in E.164): the message
	// goes to exactly this.
	Destination
	// key is the canonical form (see canonicalEmail): the per-destination and
	// per-prefix limits, the keyed hash in the record that a resend must match,
	// the fingerprint of a request and the mask (so the audit trail) all use it.
	key string
}

// check checks a destination and returns it with its canonical form, or a
// problem to report on the destination's field.
func (d Destination) check(rules EmailRules) (contact, string) {
	switch d.Kind {
	case Email:
		if len(d.Value) > 254 {
			return contact{}, "must be at most 254 bytes"
		}
		// The address is shown masked (on the page, in the chat text, in the audit
		// trail) and is the message's recipient: nothing in it may hide or reorder.
		if _, err := text.Display(d.Value); err != nil {
			return contact{}, err.Error()
		}
		a, err := mail.ParseAddress(d.Value)
		if err != nil || a.Name != "" || a.Address != d.Value {
			return contact{}, "must be a bare email address like name@example.com"
		}
		key, ok := canonicalEmail(a.Address, rules)
		if !ok {
			return contact{}, "must be a bare email address like name@example.com"
		}
		return contact{Destination: d, key: key}, ""
	case Phone:
		if !strings.HasPrefix(d.Value, "+") || len(d.Value) > 16 {
			return contact{}, "must be an E.164 number like +14155550100"
		}
		for _, c := range d.Value[1:] {
			if c < '0' || c > '9' {
				return contact{}, "must be an E.164 number like +14155550100"
			}
		}
		n, err := phonenumbers.Parse(d.Value, "")
		if err != nil || !phonenumbers.IsPossibleNumber(n) {
			return contact{}, "must be an E.164 number like +14155550100"
		}
		e164 := phonenumbers.Format(n, phonenumbers.E164)
		return contact{Destination: Destination{Kind: Phone, Value: e164}, key: e164}, ""
	}
	return contact{}, "must be an email or a phone"
}

// field names the destination's field in the API, for a violation.
func (d Destination) field() string {
	switch d.Kind {
	case Email:
		return "destination.email"
	case Phone:
		return "destination.phone"
	}
	return "destination"
}

// domainProfile turns a domain into its lower-case A-label form ("BÜCHER.example"
// and "xn--bcher-kva.EXAMPLE" both give "xn--bcher-kva.example"), refusing what
// IDNA 2008 with the UTS #46 lookup mapping refuses and any empty or overlong label.
var domainProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true))

// CanonicalDomain returns the lower-case A-label form of an email domain, or false
// when it is not a valid domain name with at least two labels.
func CanonicalDomain(domain string) (string, bool) {
	if !utf8.ValidString(domain) {
		return "", false
	}
	a, err := domainProfile.ToASCII(domain)
	if err != nil || !strings.Contains(a, ".") {
		return "", false
	}
	return a, true
}

// canonicalEmail returns the one spelling of a mailbox that the limits and hashes
// count: the domain as its lower-case A-label; the local part case-folded (full
// Unicode case folding, so "ß" and "SS" agree) and in NFKC, so that upper and
// lower case, composed and decomposed accents and compatibility forms (fullwidth
// "ｖｉｃｔｉｍ") are one mailbox; then the provider's rules for the domain, if any.
//
// NFKC rather than NFC: this form is never shown nor sent to, only compared. A
// mail server may tell apart two addresses that fold alike, but then their budget
// is shared, which only makes a limit stricter; the other mistake would let an
// attacker spend a fresh budget per spelling of one victim's mailbox.
func canonicalEmail(address string, rules EmailRules) (string, bool) {
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || !utf8.ValidString(address) {
		return "", false
	}
	domain, ok := CanonicalDomain(address[at+1:])
	if !ok {
		return "", false
	}
	// Folding can undo NFKC and NFKC can make new upper-case letters ("ℌ" → "H"):
	// fold between two passes.
	local := norm.NFKC.String(cases.Fold().String(norm.NFKC.String(address[:at])))
	if r, ok := rules[domain]; ok {
		if i := strings.IndexByte(local, '+'); r.IgnoreTags && i > 0 {
			local = local[:i]
		}
		if r.IgnoreDots {
			local = strings.ReplaceAll(local, ".", "")
		}
	}
	if local == "" {
		return "", false
	}
	return local + "@" + domain, true
}

// EmailRule says how a mail provider reads the local part of its addresses.
type EmailRule struct {
	// IgnoreDots: dots in the local part do not matter ("j.doe" is "jdoe").
	IgnoreDots bool
	// IgnoreTags: a "+" and what follows it in the local part do not matter
	// ("jdoe+shop" is "jdoe").
	IgnoreTags bool
}

// EmailRules are providers' rules by mail domain (lower-case A-labels, as
// CanonicalDomain gives them). A domain without rules keeps every dot and tag:
// only its provider knows whether they matter.
type EmailRules map[string]EmailRule

// ParseEmailRules reads rules written as "gmail.com:dots+tags,googlemail.com:dots+tags":
// comma-separated entries DOMAIN:RULES, RULES one or both of "dots" and "tags"
// joined by "+". An empty string is no rules.
func ParseEmailRules(s string) (EmailRules, error) {
	rules := EmailRules{}
	if strings.TrimSpace(s) == "" {
		return rules, nil
	}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		name, list, ok := strings.Cut(entry, ":")
		if !ok || strings.TrimSpace(list) == "" {
			return nil, fmt.Errorf("entry %q: want DOMAIN:RULES, e.g. gmail.com:dots+tags", entry)
		}
		domain, ok := CanonicalDomain(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("entry %q: %q is not a mail domain", entry, name)
		}
		if _, dup := rules[domain]; dup {
			return nil, fmt.Errorf("entry %q: %s has rules already", entry, domain)
		}
		var r EmailRule
		for word := range strings.SplitSeq(list, "+") {
			switch strings.TrimSpace(word) {
			case "dots":
				r.IgnoreDots = true
			case "tags":
				r.IgnoreTags = true
			default:
				return nil, fmt.Errorf("entry %q: unknown rule %q: want dots, tags or dots+tags", entry, strings.TrimSpace(word))
			}
		}
		rules[domain] = r
	}
	return rules, nil
}

// check reports a domain that is not in the form CanonicalDomain gives.
func (r EmailRules) check() error {
	for _, d := range slices.Sorted(maps.Keys(r)) {
		if c, ok := CanonicalDomain(d); !ok || c != d {
			return fmt.Errorf("challenge: email rules: %q is not a lower-case A-label domain", d)
		}
	}
	return nil
}

// mask shows enough of a destination for the customer to recognise it and not
// enough to learn it: "a***@example.com", "+1******0100". It is made from the
// canonical form, so every spelling of one mailbox masks alike (in the audit trail
// too); an internationalised domain is shown in Unicode ("m***@bücher.example").
func (c contact) mask() string {
	switch c.Kind {
	case Email:
		local, domain, _ := strings.Cut(c.key, "@")
		if u, err := domainProfile.ToUnicode(domain); err == nil {
			domain = u
		}
		r, _ := utf8.DecodeRuneInString(local)
		return string(r) + "***@" + domain
	case Phone:
		if len(c.key) <= 5 {
			return "+***"
		}
		cc := c.key[:2]
		return cc + strings.Repeat("*", len(c.key)-6) + c.key[len(c.key)-4:]
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
