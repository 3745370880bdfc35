package realtime

import "github.com/prometheus/client_golang/prometheus"

// collectors are the surface's Prometheus metrics; labels are project refs
// and fixed words only.
type collectors struct {
	connections *prometheus.GaugeVec
	channels    *prometheus.GaugeVec
	messagesIn  *prometheus.CounterVec
	messagesOut *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	lagBytes    *prometheus.GaugeVec
	lagSeconds  *prometheus.GaugeVec
	changes     *prometheus.CounterVec
	rlsQueries  *prometheus.CounterVec
	busDropped  prometheus.Counter
}

func newCollectors(reg prometheus.Registerer) *collectors {
	c := &collectors{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "madbase_realtime_connections", Help: "Open Realtime WebSocket connections.",
		}, []string{"project"}),
		channels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "madbase_realtime_channels", Help: "Joined Realtime channels.",
		}, []string{"project"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_realtime_messages_in_total", Help: "Messages received from Realtime clients.",
		}, []string{"project"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_realtime_messages_out_total", Help: "Messages queued to Realtime clients.",
		}, []string{"project"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_realtime_dropped_consumers_total", Help: "Connections closed because their outbound queue was full.",
		}, []string{"project"}),
		lagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "madbase_realtime_replication_lag_bytes", Help: "WAL bytes between the server's position and the slot's confirmed position.",
		}, []string{"project"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "madbase_realtime_replication_lag_seconds", Help: "Time from a transaction's commit to its events being queued to clients.",
		}, []string{"project"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_realtime_changes_total", Help: "Row changes decoded from the replication stream.",
		}, []string{"project"}),
		rlsQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "madbase_realtime_rls_queries_total", Help: "Visibility queries run for postgres_changes under RLS.",
		}, []string{"project"}),
		busDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "madbase_realtime_bus_dropped_total", Help: "Events not sent to other nodes because the bus outbox was full.",
		}),
	}
	if reg != nil {
		reg.MustRegister(c.connections, c.channels, c.messagesIn, c.messagesOut, c.dropped, c.lagBytes, c.lagSeconds, c.changes, c.rlsQueries, c.busDropped)
	}
	return c
}
