package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/kube"
)

// KubeSource is what the Kubernetes collector reads; *kube.Discovery is one.
type KubeSource interface {
	Snapshot() kube.Snapshot
}

// EventSource counts the Kubernetes Events written; *kube.Notifier is one.
type EventSource interface {
	Emitted() uint64
}

// KubeCollector exports the Kubernetes table of docs/metrics.md, read from
// discovery's snapshot at scrape time, so sensorprobe_sensor_on_this_node is
// absent while it is unknown. Create it with NewKubeCollector.
type KubeCollector struct {
	discovery KubeSource
	events    EventSource

	up, onNode, errors, emitted, hostNetwork, transport *prometheus.Desc
}

// NewKubeCollector returns a collector over discovery and events. Either may
// be nil when the probe runs outside a cluster: discovery then reads as down
// with no errors, and no events.
func NewKubeCollector(discovery KubeSource, events EventSource) *KubeCollector {
	return &KubeCollector{
		discovery: discovery,
		events:    events,
		up: prometheus.NewDesc(Namespace+"_kube_discovery_up",
			"1 while discovery is up.", nil, nil),
		onNode: prometheus.NewDesc(Namespace+"_sensor_on_this_node",
			"1 if sensor runs on this node.", nil, nil),
		errors: prometheus.NewDesc(Namespace+"_kube_discovery_errors_total",
			"Failed list/watch calls.", nil, nil),
		emitted: prometheus.NewDesc(Namespace+"_kube_events_total",
			"Kubernetes Events emitted.", nil, nil),
		hostNetwork: prometheus.NewDesc(Namespace+"_relay_host_network",
			"1 if the VM relay is on the host network.", nil, nil),
		transport: prometheus.NewDesc(Namespace+"_vm_transport_info",
			"How VM index reports reach sensor: push (relay), pull (sensor scrapes), off, unknown.", []string{"mode"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *KubeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.onNode, c.errors, c.emitted, c.hostNetwork, c.transport} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *KubeCollector) Collect(ch chan<- prometheus.Metric) {
	var s kube.Snapshot
	if c.discovery != nil {
		s = c.discovery.Snapshot()
	}
	var emitted uint64
	if c.events != nil {
		emitted = c.events.Emitted()
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolFloat(s.DiscoveryUp))
	if s.SensorOnThisNode != nil {
		ch <- prometheus.MustNewConstMetric(c.onNode, prometheus.GaugeValue, boolFloat(*s.SensorOnThisNode))
	}
	if hn := s.Uses.RelayHostNetwork; hn != nil {
		ch <- prometheus.MustNewConstMetric(c.hostNetwork, prometheus.GaugeValue, boolFloat(*hn))
	}
	if s.Transport != "" {
		ch <- prometheus.MustNewConstMetric(c.transport, prometheus.GaugeValue, 1, string(s.Transport))
	}
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors))
	ch <- prometheus.MustNewConstMetric(c.emitted, prometheus.CounterValue, float64(emitted))
}
