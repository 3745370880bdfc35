package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the process's collectors.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// series caches each label set's counter and histogram, so a request
	// costs one map lookup rather than label validation and hashing.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	surface, route, project string
	status                  int
}

type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New registers the HTTP collectors and the Go/process ones.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_http_requests_total",
			Help: "HTTP requests by surface, route pattern, project and status.",
		}, []string{"surface", "route", "project", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "madbase_http_request_duration_seconds",
			Help:    "HTTP request latency by surface and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"surface", "route"}),
	}
	reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records one finished request; its signature matches httpx.Observer
// once adapted by the caller.
func (m *Metrics) Observe(surface, route, project string, status int, elapsed time.Duration) {
	if surface == "" {
		surface = "core"
	}
	if route == "" {
		route = "unmatched"
	}
	k := seriesKey{surface, route, project, status}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(surface, route, project, strconv.Itoa(status)),
			latency:  m.latency.WithLabelValues(surface, route),
		})
	}
	s.(*series).requests.Inc()
	s.(*series).latency.Observe(elapsed.Seconds())
}

// Handler serves the registry in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// PoolStats exports per-project pool statistics from a snapshot function.
func (m *Metrics) PoolStats(snapshot func() map[string]*pgxpool.Stat) {
	m.Registry.MustRegister(&poolCollector{snapshot: snapshot})
}

var (
	poolTotal    = prometheus.NewDesc("madbase_pool_connections", "Connections in a project's pool by state.", []string{"project", "state"}, nil)
	poolMax      = prometheus.NewDesc("madbase_pool_max_connections", "Maximum connections of a project's pool.", []string{"project"}, nil)
	poolAcquires = prometheus.NewDesc("madbase_pool_acquires_total", "Connections acquired from a project's pool.", []string{"project"}, nil)
	poolWait     = prometheus.NewDesc("madbase_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", []string{"project"}, nil)
)

type poolCollector struct {
	snapshot func() map[string]*pgxpool.Stat
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolTotal
	ch <- poolMax
	ch <- poolAcquires
	ch <- poolWait
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for ref, s := range c.snapshot() {
		ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.AcquiredConns()), ref, "acquired")
		ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.IdleConns()), ref, "idle")
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()), ref)
		ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()), ref)
		ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireDuration().Seconds(), ref)
	}
}
