package handover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Languages are the languages a channel's display name must be given in.
var Languages = []string{"en", "es"}

// Channel is one of the brand's secure messaging channels.
type Channel struct {
	// ID names the channel in CreateHandover ([a-z0-9_-]{1,32}).
	ID string `json:"id"`
	// Names are its display names by language (every one of Languages): the
	// page says "Continue in <name>".
	Names map[string]string `json:"names"`
	// RedirectURLs are the exact URLs the customer's browser may be sent to
	// (the first is where the page's button leads). At least one.
	RedirectURLs []string `json:"redirect_urls"`
	// Client is the API client that redeems the channel's handovers.
	Client string `json:"client"`
}

// Phone is the brand's phone line for phone handovers.
type Phone struct {
	// Number is the number to call, in E.164 ("+34900123456").
	Number string `json:"number"`
	// Client is the API client of the phone system (IVR or agent desktop) that
	// redeems call codes.
	Client string `json:"client"`
}

// Config is a deployment's handover configuration: the channels file.
type Config struct {
	Channels []Channel `json:"channels"`
	// Phone is the phone line; nil offers no phone handover.
	Phone *Phone `json:"phone,omitempty"`
}

// Registry answers questions about a Config. The zero value and nil offer no
// handover at all. Immutable once built.
type Registry struct {
	channels map[string]*Channel
	phone    *Phone
}

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	clientPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	e164Pattern   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// maxName bounds a display name, in bytes.
const maxName = 64

// Load reads and checks the channels file at path.
func Load(path string) (*Registry, error) {
	b, err := os.ReadFile(path) //nolint:gosec // The operator names the file.
	if err != nil {
		return nil, fmt.Errorf("handover: read channels file: %w", err)
	}
	return Parse(b)
}

// Parse checks a channels file's JSON (unknown fields refused) and builds its
// Registry. Errors name the field and index, never a value.
func Parse(b []byte) (*Registry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, errors.New("handover: channels file: not a JSON object of channels and phone (unknown or mistyped field?)")
	}
	return New(c)
}

// New checks c and builds its Registry.
func New(c Config) (*Registry, error) {
	r := &Registry{channels: map[string]*Channel{}}
	for i := range c.Channels {
		ch := c.Channels[i]
		if err := ch.check(); err != nil {
			return nil, fmt.Errorf("handover: channels[%d]: %w", i, err)
		}
		if r.channels[ch.ID] != nil {
			return nil, fmt.Errorf("handover: channels[%d]: id repeats an earlier channel's", i)
		}
		ch.RedirectURLs = slices.Clone(ch.RedirectURLs)
		r.channels[ch.ID] = &ch
	}
	if c.Phone != nil {
		p := *c.Phone
		switch {
		case !e164Pattern.MatchString(p.Number):
			return nil, errors.New("handover: phone.number must be an E.164 number (+ and 7 to 15 digits)")
		case !clientPattern.MatchString(p.Client):
			return nil, errors.New("handover: phone.client must be a client id ([a-z0-9_-]{1,64})")
		}
		r.phone = &p
	}
	return r, nil
}

func (c *Channel) check() error {
	if !idPattern.MatchString(c.ID) {
		return errors.New("id must match [a-z0-9_-]{1,32}")
	}
	if !clientPattern.MatchString(c.Client) {
		return errors.New("client must be a client id ([a-z0-9_-]{1,64})")
	}
	for _, l := range Languages {
		n := c.Names[l]
		if n == "" || len(n) > maxName || !utf8.ValidString(n) || strings.ContainsFunc(n, isControl) {
			return fmt.Errorf("names.%s must be 1 to %d bytes of printable text", l, maxName)
		}
	}
	for l := range c.Names {
		if !slices.Contains(Languages, l) {
			return fmt.Errorf("names: only %s", strings.Join(Languages, ", "))
		}
	}
	if len(c.RedirectURLs) == 0 {
		return errors.New("redirect_urls: name at least one")
	}
	for i, u := range c.RedirectURLs {
		if err := checkRedirect(u); err != nil {
			return fmt.Errorf("redirect_urls[%d]: %w", i, err)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// checkRedirect holds a redirect URL to an absolute https URL (http only for
// localhost) without user info or fragment, at most 512 bytes.
func checkRedirect(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || len(s) > 512 || u.Host == "" || u.Opaque != "":
		return errors.New("must be an absolute URL of at most 512 bytes")
	case u.User != nil || u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must carry no user info and no fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"):
		return nil
	}
	return errors.New("must be https (http only on localhost)")
}

// Channel returns the channel id names, or nil.
func (r *Registry) Channel(id string) *Channel {
	if r == nil {
		return nil
	}
	return r.channels[id]
}

// Phone returns the phone line, or nil when none is configured.
func (r *Registry) Phone() *Phone {
	if r == nil {
		return nil
	}
	return r.phone
}

// Empty reports whether r offers no handover at all.
func (r *Registry) Empty() bool { return r == nil || (len(r.channels) == 0 && r.phone == nil) }

// Allows reports whether redirect is, byte for byte, one of the channel's
// redirect URLs.
func (c *Channel) Allows(redirect string) bool { return slices.Contains(c.RedirectURLs, redirect) }

// Name returns the channel's display name in lang, English when lang is not
// one of Languages.
func (c *Channel) Name(lang string) string {
	if n, ok := c.Names[lang]; ok {
		return n
	}
	return c.Names["en"]
}

// Redeemers returns the clients that redeem some channel or the phone, each once.
func (r *Registry) Redeemers() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, c := range r.channels {
		if !slices.Contains(out, c.Client) {
			out = append(out, c.Client)
		}
	}
	if r.phone != nil && !slices.Contains(out, r.phone.Client) {
		out = append(out, r.phone.Client)
	}
	slices.Sort(out)
	return out
}

// ChannelsFor returns the ids of the channels whose redirect URLs include
// redirect, byte for byte (sorted; usually one).
func (r *Registry) ChannelsFor(redirect string) []string {
	if r == nil || redirect == "" {
		return nil
	}
	var out []string
	for id, c := range r.channels {
		if c.Allows(redirect) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
