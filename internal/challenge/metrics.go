package challenge

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts lifecycle events. Labels come from small closed sets (method,
// result, channel): never an id, handle or destination.
type Metrics struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	attempts *prometheus.CounterVec
	sends    *prometheus.CounterVec
	limited  *prometheus.CounterVec
	reports  prometheus.Counter
	extended *prometheus.CounterVec
	sms      *smsMetrics
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
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authsvc_send_limited_total",
		Help: "Sends refused by a limit before any message left, by limit scope.",
	}, []string{"scope"})
	m.reports = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authsvc_reports_total",
		Help: "Customer reports (\"this wasn't me\") that ended a verification FAILED(REPORTED); a repeated submission counts once.",
	})
	m.extended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authsvc_verification_extensions_total",
		Help: "Customers' \"I need more time\" on their page, by result (extended, limit, cap, ended).",
	}, []string{"result"})
	reg.MustRegister(m.started, m.finished, m.attempts, m.sends, m.limited, m.reports, m.extended)
	m.sms = newSMSMetrics(reg)
	return m
}

// observeLimit counts a send a limit refused; scope is one of a closed set
// (identity, destination, prefix, country, client, client_daily, agent), or
// identity_starts for a start that sends nothing refused by its identity's limit.
func (m *Metrics) observeLimit(scope string) { m.limited.WithLabelValues(scope).Inc() }

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

// observeReport counts a report that ended a verification.
func (m *Metrics) observeReport() { m.reports.Inc() }

// observeAttempt counts a page action; kind is "code" or "link" (a code page does
// not know, without a read, whether its code went by email or SMS).
func (m *Metrics) observeAttempt(kind, outcome string) {
	m.attempts.WithLabelValues(kind, outcome).Inc()
	switch outcome {
	case "verified", "failed", "reported", "mismatch":
		m.finished.WithLabelValues(outcome).Inc()
	}
}
