package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// runtimeMetric is one Go runtime or process metric the probe keeps.
type runtimeMetric struct {
	name, help string
	counter    bool
}

// runtimeMetrics are the Go runtime and process metrics the dashboard, the
// runbooks and the footprint harnesses use, with short HELP texts (the
// client library's run to a line each, and every byte is paid once per node).
// docs/metrics.md, "Process", explains each.
var runtimeMetrics = []runtimeMetric{
	{name: "process_cpu_seconds_total", help: "CPU time used.", counter: true},
	{name: "process_resident_memory_bytes", help: "Resident memory."},
	{name: "process_start_time_seconds", help: "Start time."},
	{name: "process_open_fds", help: "Open file descriptors."},
	{name: "process_max_fds", help: "File descriptor limit."},
	{name: "go_goroutines", help: "Goroutines."},
	{name: "go_memstats_heap_inuse_bytes", help: "Heap in use."},
	{name: "go_gc_gomemlimit_bytes", help: "GOMEMLIMIT."},
}

// RuntimeCollector exports a few Go runtime and process metrics of the probe
// itself, instead of the 40-odd series of client_golang's Go and process
// collectors. Create it with NewRuntimeCollector and register it once.
type RuntimeCollector struct {
	inner *prometheus.Registry
	descs map[string]*prometheus.Desc
}

// NewRuntimeCollector returns a collector of runtimeMetrics, read at every
// scrape from client_golang's Go and process collectors.
func NewRuntimeCollector() *RuntimeCollector {
	inner := prometheus.NewRegistry()
	inner.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	c := &RuntimeCollector{inner: inner, descs: map[string]*prometheus.Desc{}}
	for _, m := range runtimeMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *RuntimeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range runtimeMetrics {
		ch <- c.descs[m.name]
	}
}

// Collect implements prometheus.Collector. A metric the platform cannot
// provide (the process metrics outside Linux) is left out.
func (c *RuntimeCollector) Collect(ch chan<- prometheus.Metric) {
	mfs, err := c.inner.Gather()
	if err != nil && len(mfs) == 0 {
		ch <- prometheus.NewInvalidMetric(c.descs[runtimeMetrics[0].name], err)
		return
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for _, m := range runtimeMetrics {
		mf := byName[m.name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			continue
		}
		s := mf.GetMetric()[0]
		if m.counter {
			ch <- prometheus.MustNewConstMetric(c.descs[m.name], prometheus.CounterValue, s.GetCounter().GetValue())
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], prometheus.GaugeValue, s.GetGauge().GetValue())
	}
}
