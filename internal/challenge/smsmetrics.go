package challenge

import "github.com/prometheus/client_golang/prometheus"

// smsMetrics count the SMS fraud defences. Labels are closed sets: a number type,
// a result, a country calling code; never a number or a prefix.
type smsMetrics struct {
	numbers  *prometheus.CounterVec
	breakers *prometheus.CounterVec
	risk     *prometheus.CounterVec
}

func newSMSMetrics(reg prometheus.Registerer) *smsMetrics {
	m := &smsMetrics{
		numbers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_sms_numbers_total",
			Help: "SMS destinations by number type and action (allow, monitor, refuse).",
		}, []string{"type", "action"}),
		breakers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_sms_breaker_events_total",
			Help: "SMS breaker events by country calling code: tripped, released, refused (a send refused), monitored (a send a monitored trip would have refused).",
		}, []string{"country", "event"}),
		risk: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_sms_risk_checks_total",
			Help: "Risk hook lookups before an SMS send, by result (pass, sim_swap, call_forwarding, line_type, timeout, garbage, error) and decision (send, refuse).",
		}, []string{"result", "decision"}),
	}
	reg.MustRegister(m.numbers, m.breakers, m.risk)
	return m
}

// observeNumberType counts an SMS destination's type and what was done with it.
func (m *Metrics) observeNumberType(kind string, a NumberAction) {
	m.sms.numbers.WithLabelValues(kind, a.String()).Inc()
}

// observeBreaker counts a breaker event for a country calling code.
func (m *Metrics) observeBreaker(event, country string) {
	m.sms.breakers.WithLabelValues(country, event).Inc()
}

// observeRisk counts a risk hook lookup.
func (m *Metrics) observeRisk(result, decision string) {
	m.sms.risk.WithLabelValues(result, decision).Inc()
}
