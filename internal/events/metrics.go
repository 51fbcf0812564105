package events

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of an event, the label of authsvc_events_total.
const (
	OutcomeDelivered = "delivered" // a 2xx from the client's endpoint
	OutcomeGivenUp   = "given_up"  // not delivered within Config.MaxAge: acknowledged undelivered
	OutcomeUnrouted  = "unrouted"  // the client has no endpoint configured
)

// metrics are the dispatcher's. Labels come from closed sets (outcome, reason): never a client,
// an id or an address.
type metrics struct {
	events   *prometheus.CounterVec
	failures *prometheus.CounterVec
	latency  prometheus.Histogram
	backlog  prometheus.Gauge
	lag      prometheus.Gauge
	redis    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_events_total",
			Help: "Events this replica finished with, by outcome: delivered (2xx), given_up (not delivered within AUTHSVC_EVENTS_MAX_AGE), unrouted (the client has no endpoint).",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_events_attempt_failures_total",
			Help: "Failed delivery attempts, each retried with backoff, by reason: status (a non-2xx answer) or transport (no answer in time, refused, TLS).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authsvc_events_delivery_latency_seconds",
			Help:    "Time from the transition to the 2xx of its event's delivery.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600, 86400},
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authsvc_events_backlog",
			Help: "Events this replica holds undelivered: queued, in flight, waiting for a retry or parked behind a slow endpoint.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authsvc_events_lag_seconds",
			Help: "Age of the oldest event this replica holds undelivered, as of its last maintenance pass; 0 when none.",
		}),
		redis: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authsvc_events_redis_failures_total",
			Help: "Failed reads, claims or acknowledgements of the event streams; each is retried.",
		}),
	}
	for _, o := range []string{OutcomeDelivered, OutcomeGivenUp, OutcomeUnrouted} {
		m.events.WithLabelValues(o)
	}
	for _, r := range []string{"status", "transport"} {
		m.failures.WithLabelValues(r)
	}
	reg.MustRegister(m.events, m.failures, m.latency, m.backlog, m.lag, m.redis)
	return m
}
