package kube

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the Kubernetes table of docs/metrics.md. It is a
// prometheus.Collector: gauges are read from the latest snapshot at scrape
// time, so sensorprobe_sensor_on_this_node is absent while it is unknown.
// Pass the same *Metrics to Config.Metrics and NotifierConfig.Metrics.
type Metrics struct {
	upDesc     *prometheus.Desc
	onNodeDesc *prometheus.Desc
	errors     prometheus.Counter
	events     prometheus.Counter

	mu     sync.Mutex
	up     bool
	onNode *bool
}

// NewMetrics creates the Kubernetes metrics and registers them with reg
// (which may be nil for tests that only read them back). It panics if reg
// already holds metrics of the same names, like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		upDesc: prometheus.NewDesc("sensorprobe_kube_discovery_up",
			"1 while the API server answers and the probe's informers are synced; 0 while it keeps probing the last known targets.", nil, nil),
		onNodeDesc: prometheus.NewDesc("sensorprobe_sensor_on_this_node",
			"1 if a sensor pod runs on this node (the hostPort path can only work there), 0 if not. Absent when not known.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sensorprobe_kube_discovery_errors_total",
			Help: "Failed list/watch calls (unreachable API server, forbidden).",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sensorprobe_kube_events_total",
			Help: "Kubernetes Events emitted.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.upDesc
	ch <- m.onNodeDesc
	m.errors.Describe(ch)
	m.events.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	up, onNode := m.up, m.onNode
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.upDesc, prometheus.GaugeValue, boolFloat(up))
	if onNode != nil {
		ch <- prometheus.MustNewConstMetric(m.onNodeDesc, prometheus.GaugeValue, boolFloat(*onNode))
	}
	m.errors.Collect(ch)
	m.events.Collect(ch)
}

func (m *Metrics) observe(s Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.up = s.APIUp
	m.onNode = nil
	if s.SensorOnThisNode != nil {
		v := *s.SensorOnThisNode
		m.onNode = &v
	}
}

func (m *Metrics) discoveryError() { m.errors.Inc() }

func (m *Metrics) eventEmitted() { m.events.Inc() }

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
