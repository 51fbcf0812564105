package main

import (
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/handover"
)

// HandoverConfig is the handover part of the configuration, read apart from
// Config (its own variables, its own file):
//
//	AUTHSVC_CHANNELS_FILE        the brand's channels and phone line (JSON, package
//	                             handover); unset: no handover can be created, except
//	                             in dev mode, which offers devChannels
//	AUTHSVC_HANDOVER_TTL         how long an offer (and a call code) lasts (10m; 1m–10m)
//	AUTHSVC_HANDOVER_CODE_TTL    how long a bound channel code lasts (2m; 30s–2m)
//	AUTHSVC_CALL_CODE_FAILURES   wrong call codes one phone client may try per
//	                             window of AUTHSVC_HANDOVER_TTL (20; 1–1000)
type HandoverConfig struct {
	// Channels is the parsed channels file; nil offers no handover.
	Channels *handover.Registry
	// Lifecycle is what package challenge takes.
	Lifecycle challenge.HandoverConfig
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
	c := &HandoverConfig{Lifecycle: challenge.HandoverConfig{
		OfferTTL:     r.duration("AUTHSVC_HANDOVER_TTL", 10*time.Minute, time.Minute, 10*time.Minute),
		CodeTTL:      r.duration("AUTHSVC_HANDOVER_CODE_TTL", 2*time.Minute, 30*time.Second, 2*time.Minute),
		CallFailures: r.integer("AUTHSVC_CALL_CODE_FAILURES", 20, 1, 1000),
	}}
	if path := r.file("AUTHSVC_CHANNELS_FILE", false, ""); path != "" && len(r.problems) == 0 {
		reg, err := handover.Load(path)
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
