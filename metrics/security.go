package metrics

import "github.com/prometheus/client_golang/prometheus"

// security is the authentication and authorization metrics.
type security struct {
	authentications *prometheus.CounterVec
	denials         *prometheus.CounterVec
}

func newSecurity(reg *prometheus.Registry) security {
	s := security{
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_authentications_total",
			Help: "SASL authentications, by listener, mechanism and outcome (success, failure).",
		}, []string{"listener", "mechanism", "outcome"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_authorization_denials_total",
			Help: "Authorization decisions that denied an operation, by API and resource type.",
		}, []string{"api", "resource_type"}),
	}
	reg.MustRegister(s.authentications, s.denials)
	return s
}

// Authentication counts one SASL authentication.
func (b *Broker) Authentication(listener, mechanism, outcome string) {
	if b == nil {
		return
	}
	b.sec.authentications.WithLabelValues(listener, mechanism, outcome).Inc()
}

// Denied counts one authorization denial.
func (b *Broker) Denied(api, resourceType string) {
	if b == nil {
		return
	}
	b.sec.denials.WithLabelValues(api, resourceType).Inc()
}
