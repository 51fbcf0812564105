package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/events"
)

// Events to the care platform (package events): signed CloudEvents, delivered at least once to
// each client's endpoint. Off unless AUTHSVC_EVENTS_ENDPOINTS names endpoints (in dev mode, the
// dev client's events go to AUTHSVC_DEV_EVENTS_URL, where `authctl events tail` listens).
//
//	variable                      default                         meaning
//	AUTHSVC_EVENTS_ENDPOINTS      (none: no events)               CLIENT=URL,… : the https endpoint of each client that receives its events (client ids of AUTHSVC_CLIENTS_FILE)
//	AUTHSVC_EVENTS_SECRETS_DIR    required with endpoints         a directory with one file per client, named by its id, holding "whsec_" + base64 of 24–64 random bytes (a mounted Kubernetes Secret)
//	AUTHSVC_EVENTS_MAX_AGE        24h                             an event not delivered by then is given up (counted, logged); 1m to AUTHSVC_AUDIT_BUFFER
//	AUTHSVC_EVENTS_TIMEOUT        10s                             one delivery attempt (1s to 1m)
//	AUTHSVC_EVENTS_CONCURRENCY    4                               attempts in flight at once per endpoint (1 to 64)
//	AUTHSVC_EVENTS_MAX_BACKOFF    5m                              longest wait between attempts (1s to 1h); the first is 1s, each doubles, with jitter
//	AUTHSVC_DEV_EVENTS_URL        http://127.0.0.1:9797/events    dev mode only: the dev client's endpoint (`authctl events tail`), or "off"

// EventsConfig configures the events.
type EventsConfig struct {
	// Endpoints are the clients' endpoint URLs (AUTHSVC_EVENTS_ENDPOINTS), in order.
	Endpoints []EventEndpoint
	// SecretsDir holds one secret file per client (AUTHSVC_EVENTS_SECRETS_DIR).
	SecretsDir string
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

// EventEndpoint is one client's endpoint.
type EventEndpoint struct{ Client, URL string }

// loadEvents reads the events settings, in dev mode too (where the endpoints are ignored).
func loadEvents(r *envReader, c *Config) {
	e := &c.Events
	const name = "AUTHSVC_EVENTS_ENDPOINTS"
	seen := map[string]bool{}
	for i, item := range strings.Split(r.str(name, ""), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		client, u, ok := strings.Cut(item, "=")
		switch {
		case !ok || !clientID(client):
			r.addf("%s: entry %d: want CLIENT=URL with a client id of AUTHSVC_CLIENTS_FILE ([a-z0-9_-]{1,64})", name, i+1)
			continue
		case seen[client]:
			r.addf("%s: client %s has two endpoints", name, client)
			continue
		}
		seen[client] = true
		if err := events.CheckURL(u); err != nil {
			r.addf("%s: client %s: url %v", name, client, err)
		}
		e.Endpoints = append(e.Endpoints, EventEndpoint{client, u})
	}
	e.SecretsDir = r.dir("AUTHSVC_EVENTS_SECRETS_DIR", len(e.Endpoints) > 0 && !c.Dev.Enabled,
		"a directory with one file per client of AUTHSVC_EVENTS_ENDPOINTS, named by its id, holding its \"whsec_…\" signing secret")
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

// loadEventEndpoints reads each endpoint's secret, reporting every problem at once. Errors
// name the client and the path, never a secret.
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
	var out []events.Endpoint
	var errs []error
	for _, e := range c.Events.Endpoints {
		p := filepath.Join(c.Events.SecretsDir, e.Client)
		raw, err := readSecretFile("AUTHSVC_EVENTS_SECRETS_DIR: client "+e.Client, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := events.ParseSecret(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("AUTHSVC_EVENTS_SECRETS_DIR: client %s: %s: %w", e.Client, p, err))
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
	source string, startedBy func(context.Context, string) (string, error), now func() time.Time,
	client *http.Client, log *slog.Logger, reg prometheus.Registerer, opts ...events.Option) (*events.Dispatcher, error) {
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
		StartedBy:   startedBy,
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
