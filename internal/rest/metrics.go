package rest

import "github.com/prometheus/client_golang/prometheus"

// collectors are the schema cache's metrics; request counts and latencies
// come from the shared HTTP layer (route label /rest/v1/{table} etc.).
type collectors struct {
	loads    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newCollectors(reg prometheus.Registerer) *collectors {
	c := &collectors{
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_rest_schema_loads_total",
			Help: "Schema cache loads (first use) and reloads (NOTIFY pgrst), by result.",
		}, []string{"project", "kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "madbase_rest_schema_load_seconds",
			Help:    "Time to introspect a project's exposed schemas.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"project"}),
	}
	if reg != nil {
		reg.MustRegister(c.loads, c.duration)
	}
	return c
}

func (c *collectors) observe(project, kind string, err error, seconds float64) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.loads.WithLabelValues(project, kind, result).Inc()
	if err == nil {
		c.duration.WithLabelValues(project).Observe(seconds)
	}
}
