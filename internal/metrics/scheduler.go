package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SchedulerSource is what the scheduler collector reads;
// *scheduler.Scheduler is one.
type SchedulerSource interface {
	// Panics counts the panics recovered at attempt boundaries.
	Panics() uint64
	// FleetSize is the number of probe pods sharing the sensor budget.
	FleetSize() int
	// FullInterval is the time between two full attempts on one path.
	FullInterval() time.Duration
}

// SchedulerCollector exports the scheduler's figures at scrape time:
// recovered panics, the fleet size and the full interval. Create it with
// NewSchedulerCollector.
type SchedulerCollector struct {
	s                        SchedulerSource
	panics, fleet, fullEvery *prometheus.Desc
}

// NewSchedulerCollector returns a collector over s.
func NewSchedulerCollector(s SchedulerSource) *SchedulerCollector {
	return &SchedulerCollector{
		s: s,
		panics: prometheus.NewDesc(Namespace+"_probe_panics_total",
			"Panics recovered in attempts; a bug if above 0.", nil, nil),
		fleet: prometheus.NewDesc(Namespace+"_fleet_size",
			"Probe pods sharing the sensor budget.", nil, nil),
		fullEvery: prometheus.NewDesc(Namespace+"_full_interval_seconds",
			"Time between full attempts on a path.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *SchedulerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.panics, c.fleet, c.fullEvery} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *SchedulerCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.panics, prometheus.CounterValue, float64(c.s.Panics()))
	ch <- prometheus.MustNewConstMetric(c.fleet, prometheus.GaugeValue, float64(c.s.FleetSize()))
	ch <- prometheus.MustNewConstMetric(c.fullEvery, prometheus.GaugeValue, c.s.FullInterval().Seconds())
}
