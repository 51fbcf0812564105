package challenge

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts lifecycle events. Labels come from small closed sets (method,
// result, channel): never an id, handle or destination.
type Metrics struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	attempts *prometheus.CounterVec
	sends    *prometheus.CounterVec
}

// NewMetrics registers the lifecycle's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_verifications_started_total",
			Help: "Verifications recorded, by the method delivered.",
		}, []string{"method"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_verifications_finished_total",
			Help: "Verifications that reached a terminal state through an action, by result.",
		}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_verification_attempts_total",
			Help: "Customer attempts on pages, by page kind (code, link) and result.",
		}, []string{"kind", "result"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_deliveries_total",
			Help: "Out-of-band messages, by channel and result.",
		}, []string{"channel", "result"}),
	}
	reg.MustRegister(m.started, m.finished, m.attempts, m.sends)
	return m
}

func (m *Metrics) observeSend(k DestinationKind, ok bool) {
	channel, result := "email", "sent"
	if k == Phone {
		channel = "sms"
	}
	if !ok {
		result = "failed"
	}
	m.sends.WithLabelValues(channel, result).Inc()
}

// observeAttempt counts a page action; kind is "code" or "link" (a code page does
// not know, without a read, whether its code went by email or SMS).
func (m *Metrics) observeAttempt(kind, outcome string) {
	m.attempts.WithLabelValues(kind, outcome).Inc()
	switch outcome {
	case "verified", "failed", "reported", "mismatch":
		m.finished.WithLabelValues(outcome).Inc()
	}
}
