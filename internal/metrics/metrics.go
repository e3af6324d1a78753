// Package metrics exports what the probe knows in the Prometheus format.
//
// Event metrics (attempts by reason, the TCP connect histogram) are updated by
// Observe as results arrive. Latest-state gauges (path up, last success,
// certificate facts, phase durations of the latest full attempt, path info,
// verdict) are produced at scrape time by collectors that read the state
// store, so a path that is no longer probed disappears from /metrics.
//
// Every series costs once per node, so the set is kept to what the alerts,
// the dashboard and diagnosis need; docs/metrics.md says why each one exists
// and carries the explanations the short HELP texts leave out.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// Namespace prefixes every sensorprobe metric.
const Namespace = "sensorprobe"

// labelPath is the label that names the path on every per-path series.
const labelPath = "path"

// ConnectBuckets are the classic buckets of the TCP connect histogram, the
// fallback for scrapes without native histograms: a healthy in-cluster
// connect takes 0.1 to 1 ms, a congested one tens of milliseconds, and an
// attempt that times out (default --timeout 5s) lands above the last bucket.
var ConnectBuckets = []float64{0.001, 0.01, 0.1, 1}

// PreinitialisedReasons are the reasons whose attempt counters exist at 0
// for every path from the start, so that increase() and rate() see their
// first event: success (the denominator of every share) and the field
// symptom, the connect timeout. Other reasons appear on first occurrence.
var PreinitialisedReasons = []dial.Reason{dial.ReasonOK, dial.ReasonConnectTimeout}

// Metrics holds the probe's event metrics. Create it with New.
type Metrics struct {
	attempts *prometheus.CounterVec
	connect  *prometheus.HistogramVec

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
			Help: "Attempts by path and outcome.",
		}, []string{labelPath, "reason"}),
		connect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "connect_duration_seconds",
			Help:    "TCP connect time of every attempt.",
			Buckets: ConnectBuckets,
			// Native histograms where the scrape asks for them (protobuf):
			// about 9% resolution, bounded in buckets, reset hourly so a
			// one-off outlier does not widen it for good.
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  64,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{labelPath}),
		paths: map[string]bool{},
	}
	for _, c := range []prometheus.Collector{
		m.attempts, m.connect,
		&stateCollector{store: store, serverName: o.ServerName, check: string(o.Check)},
		buildInfo(),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// buildInfo is client_golang's version collector with a short HELP text.
func buildInfo() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Build facts; always 1.",
		ConstLabels: prometheus.Labels{
			"version":   version.Version,
			"revision":  version.GetRevision(),
			"branch":    version.Branch,
			"goversion": version.GoVersion,
			"goos":      version.GoOS,
			"goarch":    version.GoArch,
			"tags":      version.GetTags(),
		},
	}, func() float64 { return 1 })
}

// SetPaths pre-initialises the attempt counters of PreinitialisedReasons for
// every path in paths, and deletes the series of paths no longer probed.
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
		for _, r := range PreinitialisedReasons {
			m.attempts.WithLabelValues(p, string(r))
		}
	}
	for p := range m.paths {
		if !keep[p] {
			delete(m.paths, p)
			l := prometheus.Labels{labelPath: p}
			m.attempts.DeletePartialMatch(l)
			m.connect.DeletePartialMatch(l)
		}
	}
}

// Observe counts one result of either tier and observes its TCP connect
// phase, when it ran. A result for a path that is not (or no longer) in the
// set given to SetPaths is ignored, so that an attempt that finishes just
// after its path was removed cannot bring its series back.
func (m *Metrics) Observe(r dial.Result) {
	p := r.Target.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.paths[p] {
		return
	}
	m.attempts.WithLabelValues(p, string(r.Reason)).Inc()
	if d, ok := r.PhaseDuration(dial.PhaseConnect); ok {
		m.connect.WithLabelValues(p).Observe(d.Seconds())
	}
}

var (
	descUp = prometheus.NewDesc(Namespace+"_path_up",
		"1 if the path works, else 0.", []string{labelPath}, nil)
	descLastSuccess = prometheus.NewDesc(Namespace+"_last_success_timestamp_seconds",
		"Time of the latest success.", []string{labelPath}, nil)
	descNotAfter = prometheus.NewDesc(Namespace+"_tls_cert_not_after_timestamp_seconds",
		"Expiry of sensor's certificate.", []string{labelPath}, nil)
	descVerified = prometheus.NewDesc(Namespace+"_tls_cert_verified",
		"1 if sensor's certificate verified.", []string{labelPath}, nil)
	descPhase = prometheus.NewDesc(Namespace+"_phase_duration_seconds",
		"Phase times of the latest full attempt.", []string{labelPath, "phase"}, nil)
	descInfo = prometheus.NewDesc(Namespace+"_path_info",
		"Metadata of each path.",
		[]string{labelPath, "target", "server_name", "check", "consumer"}, nil)
)

// stateCollector emits the latest-state gauges of every known path.
type stateCollector struct {
	store      *state.Store
	serverName string
	check      string
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descLastSuccess, descNotAfter, descVerified, descPhase, descInfo} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.store.Snapshot() {
		name := p.Target.Name
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
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, name, p.Target.Addr, serverName, c.check, consumer)
		if p.Current() == nil {
			continue // no result of either tier yet
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, boolFloat(p.Up()), name)
		if !p.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, seconds(p.LastSuccess.UnixNano()), name)
		}
		if p.Latest == nil {
			continue // connect-tier results only, so far: no phases or certificate to show
		}
		// Latest is the latest full attempt: its phases, failed one included,
		// and what its handshake saw of the certificate. Connect is left out:
		// sensorprobe_connect_duration_seconds has it, from every attempt.
		for _, pt := range p.Latest.Phases {
			if pt.Phase == dial.PhaseConnect {
				continue
			}
			ch <- prometheus.MustNewConstMetric(descPhase, prometheus.GaugeValue, pt.Duration.Seconds(), name, string(pt.Phase))
		}
		if t := p.Latest.TLS; t != nil {
			ch <- prometheus.MustNewConstMetric(descNotAfter, prometheus.GaugeValue, float64(t.NotAfter.Unix()), name)
			ch <- prometheus.MustNewConstMetric(descVerified, prometheus.GaugeValue, boolFloat(t.Verified), name)
		}
	}
}

var descVerdict = prometheus.NewDesc(Namespace+"_verdict",
	"The node's current verdict; always 1.", []string{"verdict"}, nil)

// VerdictSource is what the verdict collector reads; *monitor.Monitor is one.
type VerdictSource interface {
	// VerdictName returns the name of the current verdict.
	VerdictName() string
}

// VerdictCollector exports sensorprobe_verdict, read from its source at
// scrape time: one series, the current verdict, at 1. When the verdict
// changes, the old series leaves the exposition and Prometheus marks it
// stale, so `sensorprobe_verdict == 1` and `count by (verdict)` read as they
// did when every verdict was exported at 0 or 1. Create it with
// NewVerdictCollector.
type VerdictCollector struct {
	src VerdictSource
}

// NewVerdictCollector returns a collector of the current verdict of src.
func NewVerdictCollector(src VerdictSource) *VerdictCollector {
	return &VerdictCollector{src: src}
}

// Describe implements prometheus.Collector.
func (c *VerdictCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descVerdict }

// Collect implements prometheus.Collector.
func (c *VerdictCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descVerdict, prometheus.GaugeValue, 1, c.src.VerdictName())
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }
