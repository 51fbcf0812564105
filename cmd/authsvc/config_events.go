package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/events"
)

// Events to the care platform (package events): signed CloudEvents, delivered at least once to
// each client's endpoint. Off unless AUTHSVC_EVENTS_ENDPOINTS names endpoints (in dev mode, the
// dev client's events go to AUTHSVC_DEV_EVENTS_URL, where `authctl events tail` listens).

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
	// DeploymentClient receives the deployment-wide events (SMS breakers); "" for none.
	DeploymentClient string
}

const (
	defaultDevEventsURL = "http://127.0.0.1:9797/events"
	// devEventsSecret signs dev mode's events; authctl events tail knows it. Not a secret.
	devEventsSecret = events.DevSecret
)

// EventEndpoint is one client's endpoint.
type EventEndpoint struct{ Client, URL string }

// eventsSettings are the events variables, rows of the settings table
// (settings.go), read in dev mode too (where the endpoints are ignored).
func (c *Config) eventsSettings() []setting {
	e := &c.Events
	return []setting{
		{Name: "AUTHSVC_EVENTS_ENDPOINTS", Section: "events", Value: eventEndpoints(&e.Endpoints), ShowDefault: "(none: no events)",
			Doc: "`CLIENT=URL,…`: the endpoint of each client that receives the events of the verifications it starts. `CLIENT` " +
				"is a client id of the clients file (`[a-z0-9_-]{1,64}`, once each); `URL` is https (http only on a loopback " +
				"host), without user info or fragment. Ignored in dev mode."},
		{Name: "AUTHSVC_EVENTS_SECRETS_DIR", Section: "events", Value: dir(&e.SecretsDir), ShowDefault: "required with endpoints",
			Doc: "a directory holding one file per client, named by its id (a mounted Kubernetes Secret with one key per " +
				"client), each `whsec_` followed by the standard base64 of 24 to 64 random bytes, e.g. " +
				"`echo \"whsec_$(head -c 32 /dev/urandom | base64)\"`. Give the same value to the client. Errors name the " +
				"client and the path, never the secret."},
		{Name: "AUTHSVC_EVENTS_DEPLOYMENT_CLIENT", Section: "events", Value: str(&e.DeploymentClient), ShowDefault: "(none)",
			Doc: "the client of `AUTHSVC_EVENTS_ENDPOINTS` that also receives the deployment-wide events, which belong to no " +
				"verification: `com.authsvc.sms.breaker_tripped` and `…breaker_released` (the platform's fraud team). Unset, " +
				"they stay in the audit trail only. Ignored in dev mode."},
		{Name: "AUTHSVC_EVENTS_MAX_AGE", Section: "events", Default: "24h", Value: duration(&e.MaxAge, time.Minute, 30*day),
			Doc: "how long an event is retried; past it, it is acknowledged undelivered, counted " +
				"(`authsvc_events_total{outcome=\"given_up\"}`) and logged. At most `AUTHSVC_AUDIT_BUFFER` (events wait in the " +
				"audit buffer)."},
		{Name: "AUTHSVC_EVENTS_TIMEOUT", Section: "events", Default: "10s", Value: duration(&e.Timeout, time.Second, time.Minute),
			Doc: "one delivery attempt."},
		{Name: "AUTHSVC_EVENTS_MAX_BACKOFF", Section: "events", Default: "5m", Value: duration(&e.MaxBackoff, time.Second, time.Hour),
			Doc: "the longest wait between attempts; the first is 1 s and each doubles, with jitter, per event and per endpoint."},
		{Name: "AUTHSVC_EVENTS_CONCURRENCY", Section: "events", Default: "4", Value: integer(&e.Concurrency, 1, 64),
			Doc: "attempts in flight at once per endpoint."},
		{Name: "AUTHSVC_DEV_EVENTS_URL", Section: "events", When: func() bool { return c.Dev.Enabled }, Default: defaultDevEventsURL,
			Value: devEventsURL(&e.DevURL),
			Doc: "dev mode only: where the `dev` client's events go, signed with the public dev secret `authctl events tail` " +
				"knows; `off` for none."},
	}
}

// eventEndpoints reads CLIENT=URL,… .
func eventEndpoints(p *[]EventEndpoint) value {
	return valueFunc(func(r *envReader, name, raw string) {
		seen := map[string]bool{}
		for i, item := range strings.Split(raw, ",") {
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
			*p = append(*p, EventEndpoint{client, u})
		}
	})
}

// devEventsURL reads dev mode's events endpoint; "off" is none.
func devEventsURL(p *string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		*p = ""
		if raw == "off" {
			return
		}
		if err := events.CheckURL(raw); err != nil {
			r.addf("%s: %v", name, err)
		}
		*p = raw
	})
}

// checkEvents: endpoints need their secrets outside dev mode, and an event
// cannot wait for a retry longer than the audit buffer keeps it.
func checkEvents(r *envReader, c *Config) {
	e := &c.Events
	if len(e.Endpoints) > 0 && e.SecretsDir == "" && !c.Dev.Enabled {
		r.addf("AUTHSVC_EVENTS_SECRETS_DIR is not set: a directory with one file per client of AUTHSVC_EVENTS_ENDPOINTS, named by its id, holding its \"whsec_…\" signing secret")
	}
	if dc := e.DeploymentClient; dc != "" && !c.Dev.Enabled && !slices.ContainsFunc(e.Endpoints, func(ep EventEndpoint) bool { return ep.Client == dc }) {
		r.addf("AUTHSVC_EVENTS_DEPLOYMENT_CLIENT: %q has no endpoint in AUTHSVC_EVENTS_ENDPOINTS", dc)
	}
	if c.Audit.Buffer > 0 && e.MaxAge > c.Audit.Buffer {
		r.addf("AUTHSVC_EVENTS_MAX_AGE (%s) is longer than AUTHSVC_AUDIT_BUFFER (%s): events wait in the audit buffer, so they cannot be retried for longer", e.MaxAge, c.Audit.Buffer)
	}
}

// deploymentClient is the client deployment-wide events go to: none in dev mode.
func deploymentClient(c *Config) string {
	if c.Dev.Enabled {
		return ""
	}
	return c.Events.DeploymentClient
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

		DeploymentClient: deploymentClient(c),
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
