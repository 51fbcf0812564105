package auditexport

import "github.com/prometheus/client_golang/prometheus"

// metrics are the exporter's. Labels come from a closed set (stage: redis, sink).
type metrics struct {
	exported          prometheus.Counter
	failures          *prometheus.CounterVec
	lag               prometheus.Gauge
	bufferTrimmed     prometheus.Counter
	trimmedUnexported prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		exported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authsvc_audit_exported_total",
			Help: "Audit events written to the sink and acknowledged in Redis by this replica.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_audit_export_failures_total",
			Help: "Failed audit export attempts, by stage (redis: reading, acknowledging or trimming the buffer; sink: writing or pruning the sink). Each is retried.",
		}, []string{"stage"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authsvc_audit_export_lag_seconds",
			Help: "Age of the oldest audit event in Redis that no exporter has acknowledged, as of this replica's last maintenance pass; 0 when none.",
		}),
		bufferTrimmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authsvc_audit_buffer_trimmed_total",
			Help: "Exported audit events removed from the Redis buffer once older than AUTHSVC_AUDIT_BUFFER.",
		}),
		trimmedUnexported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authsvc_audit_trimmed_unexported_total",
			Help: "Audit events the buffer's hard cap (twice AUTHSVC_AUDIT_BUFFER) removed before any exporter acknowledged them: lost to the sink.",
		}),
	}
	for _, s := range []string{"redis", "sink"} {
		m.failures.WithLabelValues(s)
	}
	reg.MustRegister(m.exported, m.failures, m.lag, m.bufferTrimmed, m.trimmedUnexported)
	return m
}
