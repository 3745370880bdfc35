package functions

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's Prometheus collectors. Per-project and
// per-function detail lives in the HTTP metrics and the logs; these are
// labelled by outcome only, so their cardinality is fixed.
type metrics struct {
	invocations *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	cached      prometheus.GaugeFunc
	compiles    prometheus.CounterFunc
}

func newMetrics(s *Service) *metrics {
	return &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_function_invocations_total",
			Help: "Function invocations by outcome (ok, error, timeout, limit, refused).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "madbase_function_duration_seconds",
			Help:    "Time from instantiation to exit of function invocations.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 150},
		}, []string{"outcome"}),
		cached: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "madbase_function_modules_cached",
			Help: "Compiled function modules held in memory.",
		}, func() float64 { n, _ := s.modules.stats(); return float64(n) }),
		compiles: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "madbase_function_compiles_total",
			Help: "Function modules compiled on demand (after a restart or an eviction).",
		}, func() float64 { _, n := s.modules.stats(); return float64(n) }),
	}
}

func (m *metrics) register(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{m.invocations, m.duration, m.cached, m.compiles} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) observe(outcome string, d time.Duration) {
	m.invocations.WithLabelValues(outcome).Inc()
	if d > 0 {
		m.duration.WithLabelValues(outcome).Observe(d.Seconds())
	}
}
