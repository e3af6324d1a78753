// Package metrics exports what the probe knows in the Prometheus format.
//
// Event counters and histograms (attempts, i/o timeouts, phase durations) are
// updated by Observe as results arrive. Latest-state gauges (path up, last
// success, certificate facts, path info, verdict) are produced at scrape time
// by a collector that reads the state store, so a path that is no longer
// probed disappears from /metrics.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// Namespace prefixes every sensorprobe metric.
const Namespace = "sensorprobe"

// DurationBuckets are the phase-duration histogram buckets: 100 µs to 10 s,
// dense around the millisecond latencies of a healthy in-cluster handshake.
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Metrics holds the probe's event metrics. Create it with New.
type Metrics struct {
	attempts   *prometheus.CounterVec
	ioTimeouts *prometheus.CounterVec
	duration   *prometheus.HistogramVec

	mu    sync.Mutex
	paths map[string]bool
}

// Options says what the collectors cannot learn from the state store.
type Options struct {
	// ServerName and Check are the prober's defaults, shown on sensorprobe_path_info.
	ServerName string
	Check      dial.CheckMode
}

// New registers the probe's metrics on reg: the event metrics, a collector
// of latest state read from store, and build info. The verdict has a
// collector of its own (NewVerdictCollector), registered once the verdict's
// owner exists.
func New(reg prometheus.Registerer, store *state.Store, o Options) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "probe_attempts_total",
			Help: "Attempts to reach sensor, by path and outcome reason.",
		}, []string{"path", "reason"}),
		ioTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "io_timeouts_total",
			Help: "Attempts that ended in an i/o timeout, by path and the phase that timed out.",
		}, []string{"path", "phase"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "probe_duration_seconds",
			Help:    "Duration of each phase of each attempt, failed phases included.",
			Buckets: DurationBuckets,
		}, []string{"path", "phase"}),
		paths: map[string]bool{},
	}
	for _, c := range []prometheus.Collector{
		m.attempts, m.ioTimeouts, m.duration,
		&stateCollector{store: store, serverName: o.ServerName, check: string(o.Check)},
		versioncollector.NewCollector(Namespace),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// timeoutPhases are the phases whose i/o timeouts are counted.
var timeoutPhases = []dial.Phase{dial.PhaseConnect, dial.PhaseTLS, dial.PhaseCheck}

// SetPaths pre-initialises the counters of every path in paths, so each
// reason and timeout phase exists at 0 before its first event, and deletes
// the series of paths no longer probed.
func (m *Metrics) SetPaths(paths []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keep := map[string]bool{}
	for _, p := range paths {
		keep[p] = true
		if m.paths[p] {
			continue
		}
		m.paths[p] = true
		for _, r := range dial.Reasons() {
			m.attempts.WithLabelValues(p, string(r))
		}
		for _, ph := range timeoutPhases {
			m.ioTimeouts.WithLabelValues(p, string(ph))
		}
	}
	for p := range m.paths {
		if !keep[p] {
			delete(m.paths, p)
			l := prometheus.Labels{"path": p}
			m.attempts.DeletePartialMatch(l)
			m.ioTimeouts.DeletePartialMatch(l)
			m.duration.DeletePartialMatch(l)
		}
	}
}

// Observe counts one result. A result for a path that is not (or no
// longer) in the set given to SetPaths is ignored, so that an attempt that
// finishes just after its path was removed cannot bring its series back.
func (m *Metrics) Observe(r dial.Result) {
	p := r.Target.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.paths[p] {
		return
	}
	m.attempts.WithLabelValues(p, string(r.Reason)).Inc()
	if r.Reason.IsTimeout() {
		m.ioTimeouts.WithLabelValues(p, string(r.FailedPhase)).Inc()
	}
	for _, pt := range r.Phases {
		m.duration.WithLabelValues(p, string(pt.Phase)).Observe(pt.Duration.Seconds())
	}
}

var (
	descUp = prometheus.NewDesc(Namespace+"_path_up",
		"1 if the latest attempt on the path succeeded, else 0.", []string{"path"}, nil)
	descLastSuccess = prometheus.NewDesc(Namespace+"_last_success_timestamp_seconds",
		"Unix time of the path's latest successful attempt.", []string{"path"}, nil)
	descNotAfter = prometheus.NewDesc(Namespace+"_tls_cert_not_after_timestamp_seconds",
		"NotAfter of the server leaf certificate seen on the path's latest handshake.", []string{"path"}, nil)
	descVerified = prometheus.NewDesc(Namespace+"_tls_cert_verified",
		"1 if the latest handshake's certificate verified against the CA for the server name, else 0.", []string{"path"}, nil)
	descInfo = prometheus.NewDesc(Namespace+"_path_info",
		"Metadata of each probed path; relay=\"true\" marks the path the VM relay is configured to use; consumer says who depends on the path from the host network (relay, none, unknown).",
		[]string{"path", "target", "server_name", "check", "relay", "consumer"}, nil)
)

// stateCollector emits the latest-state gauges of every known path.
type stateCollector struct {
	store      *state.Store
	serverName string
	check      string
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descLastSuccess, descNotAfter, descVerified, descInfo} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.store.Snapshot() {
		name := p.Target.Name
		relay := "false"
		if p.Relay {
			relay = "true"
		}
		serverName := p.Target.ServerName
		if serverName == "" {
			serverName = c.serverName
		}
		if c.check == string(dial.CheckTCP) {
			serverName = ""
		}
		consumer := string(p.Consumer)
		if consumer == "" {
			consumer = string(state.ConsumerUnknown)
		}
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, name, p.Target.Addr, serverName, c.check, relay, consumer)
		if p.Latest == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, boolFloat(p.Up()), name)
		if !p.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, seconds(p.LastSuccess.UnixNano()), name)
		}
		if t := p.Latest.TLS; t != nil {
			ch <- prometheus.MustNewConstMetric(descNotAfter, prometheus.GaugeValue, float64(t.NotAfter.Unix()), name)
			ch <- prometheus.MustNewConstMetric(descVerified, prometheus.GaugeValue, boolFloat(t.Verified), name)
		}
	}
}

var descVerdict = prometheus.NewDesc(Namespace+"_verdict",
	"1 for the node's current verdict, 0 for every other.", []string{"verdict"}, nil)

// VerdictSource is what the verdict collector reads; *monitor.Monitor is one.
type VerdictSource interface {
	// VerdictName returns the name of the current verdict.
	VerdictName() string
}

// VerdictCollector exports sensorprobe_verdict, read from its source at
// scrape time. Create it with NewVerdictCollector.
type VerdictCollector struct {
	src   VerdictSource
	names []string
}

// NewVerdictCollector returns a collector of the current verdict of src;
// names lists every verdict, each exported (0 or 1) at every scrape.
func NewVerdictCollector(src VerdictSource, names []string) *VerdictCollector {
	return &VerdictCollector{src: src, names: names}
}

// Describe implements prometheus.Collector.
func (c *VerdictCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descVerdict }

// Collect implements prometheus.Collector.
func (c *VerdictCollector) Collect(ch chan<- prometheus.Metric) {
	cur := c.src.VerdictName()
	for _, n := range c.names {
		ch <- prometheus.MustNewConstMetric(descVerdict, prometheus.GaugeValue, boolFloat(n == cur), n)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }
