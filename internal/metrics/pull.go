package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// PullCollector exports this node's part of the pull path (RHACS 4.12
// line): its Running VMIs, those without VSOCK, and whether its
// virt-handler is up. It reads the facts the verdict reads, at scrape time;
// outside pull mode, or while the VMIs are not listed, it exports nothing.
// Create it with NewPullCollector.
type PullCollector struct {
	facts                         func() *verdict.NodeVMs
	running, withoutVSOCK, handle *prometheus.Desc
}

// NewPullCollector returns a collector over facts, which returns nil when
// nothing is known.
func NewPullCollector(facts func() *verdict.NodeVMs) *PullCollector {
	return &PullCollector{
		facts: facts,
		running: prometheus.NewDesc(Namespace+"_vmis_running",
			"Running VMIs on this node.", nil, nil),
		withoutVSOCK: prometheus.NewDesc(Namespace+"_vmis_without_vsock",
			"Running VMIs on this node without VSOCK: scraped and failing.", nil, nil),
		handle: prometheus.NewDesc(Namespace+"_virt_handler_up",
			"1 if this node's virt-handler is ready and accepts connections on 8186.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *PullCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.running, c.withoutVSOCK, c.handle} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PullCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.facts()
	if f == nil {
		return
	}
	if f.VMIsKnown {
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(len(f.Running)))
		ch <- prometheus.MustNewConstMetric(c.withoutVSOCK, prometheus.GaugeValue, float64(len(f.WithoutVSOCK)))
	}
	if up, ok := virtHandlerUp(f); ok {
		ch <- prometheus.MustNewConstMetric(c.handle, prometheus.GaugeValue, boolFloat(up))
	}
}

// virtHandlerUp is whether this node's virt-handler is ready and accepted
// the latest connect; ok is false while that is not known (not listed, or
// ready but not tried yet).
func virtHandlerUp(f *verdict.NodeVMs) (up, ok bool) {
	switch {
	case !f.VirtHandlerKnown:
		return false, false
	case f.VirtHandlerPod == "" || !f.VirtHandlerReady:
		return false, true
	case f.VirtHandlerReachable == nil:
		return false, false
	}
	return *f.VirtHandlerReachable, true
}
