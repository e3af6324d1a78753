//go:build linux

package kubevirttest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Pull statuses, the values of rox_sensor_vsock_pull_requests_total's
// status label (bed4a7b2427 sensor/common/virtualmachine/metrics/metrics.go).
const (
	StatusSuccess       = "success"
	StatusUnchanged     = "unchanged"
	StatusDialError     = "dial_error"
	StatusReadError     = "read_error"
	StatusInvalidReport = "invalid_report"
	StatusSendError     = "send_error"
	StatusNotReady      = "not_ready"
	StatusUnknownMethod = "unknown_method"
	StatusTimeout       = "timeout"
	StatusBusy          = "busy"
)

// sensorMetrics are sensor's pull-mode metrics, with the names, help texts
// and buckets of bed4a7b2427 sensor/common/virtualmachine/metrics/metrics.go
// (namespace rox, subsystem sensor). As there, the counter vectors have no
// series until their first event.
type sensorMetrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	tracked    prometheus.Gauge
	ticks      prometheus.Counter
	tick       prometheus.Histogram
	dial, read prometheus.Histogram
	total      prometheus.Histogram
	sent       *prometheus.CounterVec
}

func newSensorMetrics() *sensorMetrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "rox", Subsystem: sensorName, Name: name, Help: help}
	}
	hist := func(name, help string, b []float64) prometheus.Histogram {
		o := opts(name, help)
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: b})
	}
	m := &sensorMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts(opts("vsock_pull_requests_total",
			"Per-VM pull attempts by outcome status")), []string{"status"}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts(opts("vsock_pull_tracked_vms",
			"Number of VMs currently tracked for pull-mode scraping"))),
		ticks: prometheus.NewCounter(prometheus.CounterOpts(opts("vsock_pull_ticks_total",
			"Total number of scraper ticks executed"))),
		tick: hist("vsock_pull_tick_duration_seconds", "Duration of a scraper tick spent scraping the VMs due at that tick",
			prometheus.ExponentialBuckets(1, 2, 10)),
		dial: hist("vsock_pull_dial_duration_seconds", "Time to establish websocket connection to a VM agent",
			prometheus.ExponentialBuckets(0.01, 2, 12)),
		read: hist("vsock_pull_read_duration_seconds", "Time to receive full response from a VM agent",
			prometheus.ExponentialBuckets(0.05, 2, 11)),
		total: hist("vsock_pull_total_duration_seconds", "End-to-end duration per VM: dial + read + send to Central",
			prometheus.ExponentialBuckets(0.1, 2, 11)),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts(opts("virtual_machine_index_reports_sent_total",
			"Total number of virtual machine index reports sent by this Sensor")), []string{"status"}),
	}
	m.reg.MustRegister(m.requests, m.tracked, m.ticks, m.tick, m.dial, m.read, m.total, m.sent)
	return m
}
