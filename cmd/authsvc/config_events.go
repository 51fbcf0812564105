package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/events"
)

// Events to the care platform (package events): signed CloudEvents, delivered at least once to
// each client's endpoint. Off unless AUTHSVC_EVENTS_FILE names endpoints (in dev mode, the
// dev client's events go to AUTHSVC_DEV_EVENTS_URL, where `authctl events tail` listens).
//
//	variable                      default                         meaning
//	AUTHSVC_EVENTS_FILE           (none: no events)               JSON: {"endpoints": [{"client": ID, "url": "https://…", "secret_file": PATH}]}; the secret file holds "whsec_" + base64 of 24–64 random bytes
//	AUTHSVC_EVENTS_MAX_AGE        24h                             an event not delivered by then is given up (counted, logged); 1m to AUTHSVC_AUDIT_BUFFER
//	AUTHSVC_EVENTS_TIMEOUT        10s                             one delivery attempt (1s to 1m)
//	AUTHSVC_EVENTS_CONCURRENCY    4                               attempts in flight at once per endpoint (1 to 64)
//	AUTHSVC_EVENTS_MAX_BACKOFF    5m                              longest wait between attempts (1s to 1h); the first is 1s, each doubles, with jitter
//	AUTHSVC_DEV_EVENTS_URL        http://127.0.0.1:9797/events    dev mode only: the dev client's endpoint (`authctl events tail`), or "off"

// EventsConfig configures the events.
type EventsConfig struct {
	// File lists the endpoints (AUTHSVC_EVENTS_FILE); "" for none.
	File string
	// MaxAge, Timeout, MaxBackoff and Concurrency are events.Config's.
	MaxAge, Timeout, MaxBackoff time.Duration
	Concurrency                 int
	// DevURL is dev mode's endpoint of client "dev"; "" for none.
	DevURL string
}

const (
	defaultDevEventsURL = "http://127.0.0.1:9797/events"
	// devEventsSecret signs dev mode's events; authctl events tail knows it. Not a secret.
	devEventsSecret = events.DevSecret
)

// loadEvents reads the events settings, in dev mode too.
func loadEvents(r *envReader, c *Config) {
	e := &c.Events
	e.File = r.file("AUTHSVC_EVENTS_FILE", false, "")
	e.MaxAge = r.duration("AUTHSVC_EVENTS_MAX_AGE", 24*time.Hour, time.Minute, 30*day)
	if c.Audit.Buffer > 0 && e.MaxAge > c.Audit.Buffer {
		r.addf("AUTHSVC_EVENTS_MAX_AGE (%s) is longer than AUTHSVC_AUDIT_BUFFER (%s): events wait in the audit buffer, so they cannot be retried for longer", e.MaxAge, c.Audit.Buffer)
	}
	e.Timeout = r.duration("AUTHSVC_EVENTS_TIMEOUT", 10*time.Second, time.Second, time.Minute)
	e.MaxBackoff = r.duration("AUTHSVC_EVENTS_MAX_BACKOFF", 5*time.Minute, time.Second, time.Hour)
	e.Concurrency = r.integer("AUTHSVC_EVENTS_CONCURRENCY", 4, 1, 64)
	if c.Dev.Enabled {
		e.DevURL = r.str("AUTHSVC_DEV_EVENTS_URL", defaultDevEventsURL)
		if e.DevURL == "off" {
			e.DevURL = ""
		} else if err := events.CheckURL(e.DevURL); err != nil {
			r.addf("AUTHSVC_DEV_EVENTS_URL: %v", err)
		}
	}
}

// eventsFile is AUTHSVC_EVENTS_FILE.
type eventsFile struct {
	Endpoints []struct {
		Client     string `json:"client"`
		URL        string `json:"url"`
		SecretFile string `json:"secret_file"`
	} `json:"endpoints"`
}

// loadEventEndpoints reads the endpoints and their secrets, reporting every problem at once.
// Errors name the entry and the path, never a secret.
func loadEventEndpoints(c *Config) ([]events.Endpoint, error) {
	if c.Dev.Enabled {
		if c.Events.DevURL == "" {
			return nil, nil
		}
		s, err := events.ParseSecret(devEventsSecret)
		if err != nil {
			return nil, err
		}
		return []events.Endpoint{{Client: "dev", URL: c.Events.DevURL, Secret: s}}, nil
	}
	if c.Events.File == "" {
		return nil, nil
	}
	const name = "AUTHSVC_EVENTS_FILE"
	raw, err := os.ReadFile(c.Events.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var f eventsFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf(`%s: %s: not an events file ({"endpoints": [{"client", "url", "secret_file"}]}): %w`, name, c.Events.File, err)
	}
	var out []events.Endpoint
	var errs []error
	seen := map[string]bool{}
	for i, e := range f.Endpoints {
		where := fmt.Sprintf("%s: endpoints[%d]", name, i)
		if !clientID(e.Client) {
			errs = append(errs, fmt.Errorf("%s: client must be a client id of AUTHSVC_CLIENTS_FILE ([a-z0-9_-]{1,64})", where))
			continue
		}
		where += " (client " + e.Client + ")"
		if seen[e.Client] {
			errs = append(errs, fmt.Errorf("%s: the client has an endpoint already", where))
			continue
		}
		seen[e.Client] = true
		if err := events.CheckURL(e.URL); err != nil {
			errs = append(errs, fmt.Errorf("%s: url %w", where, err))
		}
		if e.SecretFile == "" {
			errs = append(errs, fmt.Errorf("%s: secret_file is required", where))
			continue
		}
		raw, err := readSecretFile(where+": secret_file", e.SecretFile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := events.ParseSecret(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: secret_file %s: %w", where, e.SecretFile, err))
			continue
		}
		out = append(out, events.Endpoint{Client: e.Client, URL: e.URL, Secret: s})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// clientID tells whether s is a well-formed client id.
func clientID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// newEventDispatcher builds the dispatcher of the endpoints, or nil when there are none.
func newEventDispatcher(c *Config, endpoints []events.Endpoint, rdb redis.UniversalClient, cluster bool,
	source string, now func() time.Time, client *http.Client, log *slog.Logger, reg prometheus.Registerer,
	opts ...events.Option) (*events.Dispatcher, error) {
	if len(endpoints) == 0 {
		return nil, nil
	}
	d, err := events.New(events.Config{
		Streams:     auditStreams(cluster),
		Consumer:    consumerName(),
		Source:      source,
		Endpoints:   endpoints,
		MaxAge:      c.Events.MaxAge,
		Timeout:     c.Events.Timeout,
		MaxBackoff:  c.Events.MaxBackoff,
		Concurrency: c.Events.Concurrency,
		Client:      client,
	}, rdb, now, log.With("component", "events"), reg, opts...)
	if err != nil {
		return nil, err
	}
	clients := make([]string, 0, len(endpoints))
	for _, e := range endpoints {
		clients = append(clients, e.Client)
	}
	log.Info("events on", "clients", clients, "max_age", c.Events.MaxAge.String())
	return d, nil
}
