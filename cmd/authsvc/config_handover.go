package main

import (
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
)

// HandoverConfig is the handover part of the configuration, read apart from
// Config (its own variables, its own file): see settings.
type HandoverConfig struct {
	// Channels is the parsed channels file; nil offers no handover.
	Channels *handover.Registry
	// Lifecycle is what package challenge takes.
	Lifecycle challenge.HandoverConfig
	// channelsFile is AUTHSVC_CHANNELS_FILE, read into Channels.
	channelsFile string
}

// settings are the handover variables, rows of the settings table (see
// settings.go) listed by allSettings.
func (c *HandoverConfig) settings() []setting {
	lc := &c.Lifecycle
	return []setting{
		{Name: "AUTHSVC_CHANNELS_FILE", Section: "handover", Value: file(&c.channelsFile),
			ShowDefault: "empty (dev mode: channel `app` and a phone line, both redeemed by client `dev`)",
			Doc: "the brand's secure channels and phone line, [below](#channels-file). Unset in production: `CreateHandover` " +
				"refuses every target."},
		{Name: "AUTHSVC_HANDOVER_TTL", Section: "handover", Default: "10m", Value: duration(&lc.OfferTTL, time.Minute, 10*time.Minute),
			Doc: "how long an offer, and a phone call code, can be taken up. It is also the call-code window over which wrong " +
				"codes are counted."},
		{Name: "AUTHSVC_HANDOVER_CODE_TTL", Section: "handover", Default: "2m", Value: duration(&lc.CodeTTL, 30*time.Second, 2*time.Minute),
			Doc: "how long a secure-channel code can be redeemed after the customer's browser bound it."},
		{Name: "AUTHSVC_CALL_CODE_FAILURES", Section: "handover", Default: "20", Value: integer(&lc.CallFailures, 1, 1000),
			Doc: "wrong call codes per window that the calls of a phone-system client that send no `caller_ref` may try, all " +
				"of them together (how every call was counted before `caller_ref`); past it those calls get " +
				"`RESOURCE_EXHAUSTED` (reason `CALL_CODE_LIMIT`, scope `caller`) until the window ends."},
		{Name: "AUTHSVC_CALL_CODE_CALLER_FAILURES", Section: "handover", Default: "10", Value: integer(&lc.CallerFailures, 1, 1000),
			Doc: "wrong call codes per window one caller may try: one `caller_ref` of one phone-system client. Past it that " +
				"caller, and no one else, gets `RESOURCE_EXHAUSTED` (scope `caller`) until the window ends."},
		{Name: "AUTHSVC_CALL_CODE_CLIENT_FAILURES", Section: "handover", Default: "200", Value: integer(&lc.ClientFailures, 1, 10000),
			Doc: "wrong call codes per window one phone-system client may take from all its callers together: the ceiling " +
				"that bounds guessing by many callers (or spoofed caller ids). Past it every call of that client gets " +
				"`RESOURCE_EXHAUSTED` (scope `client`) until the window ends. At least `AUTHSVC_CALL_CODE_FAILURES` and " +
				"`AUTHSVC_CALL_CODE_CALLER_FAILURES`; see [security](security.md#handovers-a-code-that-only-the-right-browser-and-the-right-channel-can-use)."},
	}
}

// devChannels is dev mode's channels file when AUTHSVC_CHANNELS_FILE is unset:
// channel "app", whose landing page need not exist (the README's worked flow
// reads the redirects with curl), and a phone line, both redeemed by client "dev".
const devChannels = `{"channels": [{"id": "app", "names": {"en": "Example Brand app", "es": "la app de Example Brand"},
  "redirect_urls": ["https://app.example.com/handover"], "client": "dev"}],
 "phone": {"number": "+15555550100", "client": "dev"}}`

// loadHandover reads the handover variables and the channels file.
func loadHandover(getenv func(string) string, dev bool) (*HandoverConfig, error) {
	r := &envReader{getenv: getenv}
	c := &HandoverConfig{}
	r.read(c.settings(), &dev)
	if lc := c.Lifecycle; len(r.problems) == 0 && lc.ClientFailures < max(lc.CallFailures, lc.CallerFailures) {
		r.addf("AUTHSVC_CALL_CODE_CLIENT_FAILURES (%d) is below AUTHSVC_CALL_CODE_FAILURES (%d) or "+
			"AUTHSVC_CALL_CODE_CALLER_FAILURES (%d): the ceiling of a phone client's wrong call codes must be at least "+
			"what one caller may try; raise it or lower the others", lc.ClientFailures, lc.CallFailures, lc.CallerFailures)
	}
	if c.channelsFile != "" && len(r.problems) == 0 {
		reg, err := handover.Load(c.channelsFile)
		if err != nil {
			r.addf("AUTHSVC_CHANNELS_FILE: %v", err)
		}
		c.Channels = reg
	} else if dev && len(r.problems) == 0 {
		reg, err := handover.Parse([]byte(devChannels))
		if err != nil {
			return nil, err
		}
		c.Channels = reg
	}
	if len(r.problems) > 0 {
		return nil, &ConfigError{Problems: r.problems}
	}
	return c, nil
}
