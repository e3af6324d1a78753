package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/trust"
)

// TrustSource is what the TLS material collector reads; *trust.Store is one.
type TrustSource interface {
	Status() trust.Status
}

// TrustCollector exports the state of the TLS material (CA pool and client
// certificate) read from disk, at scrape time. Create it with NewTrustCollector.
type TrustCollector struct {
	src                      TrustSource
	ok, lastSuccess, caCerts *prometheus.Desc
	reloads                  *prometheus.Desc
}

// NewTrustCollector returns a collector over src.
func NewTrustCollector(src TrustSource) *TrustCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "tls", name), help, nil, nil)
	}
	return &TrustCollector{
		src:         src,
		ok:          d("last_reload_successful", "1 if the latest read of the files worked."),
		lastSuccess: d("last_reload_success_timestamp_seconds", "Time of the latest good read."),
		caCerts:     d("ca_certificates", "CA certificates in the pool."),
		reloads:     d("reloads_total", "Reloads of changed files."),
	}
}

// Describe implements prometheus.Collector.
func (c *TrustCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ok, c.lastSuccess, c.caCerts, c.reloads} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *TrustCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Status()
	ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, boolFloat(s.LastReloadOK))
	ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, seconds(s.LastSuccess.UnixNano()))
	ch <- prometheus.MustNewConstMetric(c.caCerts, prometheus.GaugeValue, float64(s.CACertificates))
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(s.Reloads))
}
