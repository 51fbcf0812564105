package main

import (
	"fmt"
	"io"
	"strings"
)

// printBanner tells whoever started dev mode, loudly, what it is and how to use
// it. A failed write is not worth stopping for: the log says the same.
func printBanner(w io.Writer, cfg *Config, a Addrs) {
	line := strings.Repeat("=", 78)
	_, _ = fmt.Fprintf(w, `%[1]s
  authsvc DEV MODE  (version %[2]s)
  NOTHING PERSISTS: embedded in-memory Redis, ephemeral signing key, random HMAC key.
  NOTHING IS SENT:  codes and links go to the dev outbox, not to any email or phone.
  Never use dev mode for real customers.

  gRPC      %[3]s   (reflection %[4]s)
  HTTP      %[5]s   (pages at %[6]s)
  metrics   http://%[7]s/metrics
  outbox    %[6]s/dev/outbox
  API key   %[8]s   (client "dev"; send "authorization: Bearer %[8]s")

  try:  make build, then
        AUTHSVC_API_KEY=%[8]s bin/authctl --addr %[3]s verify \
          --network x --user-id 12345 --handle @alice --email alice@example.com \
          --method otp_email --audience crm --agent agent-7 --conversation conv-1
        then open the page it prints, and read the code at %[6]s/dev/outbox
  events    %[9]s
%[1]s
`, line, version, a.GRPC, onOff(cfg.Listen.Reflection), a.HTTP, a.PublicURL, a.Metrics, cfg.Dev.APIKey, devEventsLine(cfg))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// devEventsLine says where dev mode's events go.
func devEventsLine(cfg *Config) string {
	if cfg.Events.DevURL == "" {
		return "off (AUTHSVC_DEV_EVENTS_URL=off)"
	}
	return "signed CloudEvents to " + cfg.Events.DevURL + ": run bin/authctl events tail to see them"
}
