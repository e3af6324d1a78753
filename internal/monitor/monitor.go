// Package monitor is where results land: it records each one in the state
// store and the metrics, keeps the node's verdict current, logs transitions
// (a path going down or coming back, the verdict changing — not every failed
// attempt), tells optional listeners such as the Kubernetes event notifier,
// and builds the status report.
package monitor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// Listener hears about transitions. Its methods must not block for long;
// they run on the probing goroutines.
type Listener interface {
	// PathChanged is called when a path goes up, goes down, or fails for a new reason.
	PathChanged(path string, old, new dial.Reason, err error)
	// VerdictChanged is called when the node's verdict changes name.
	VerdictChanged(old, new verdict.Verdict)
}

// Config configures a Monitor.
type Config struct {
	// Node is this node's name, shown on the status page.
	Node string
	// Version is the probe's version, shown on the status page.
	Version string
	// Now defaults to time.Now.
	Now func() time.Time
}

// Monitor receives results. Create it with New; it is safe for concurrent use.
type Monitor struct {
	cfg     Config
	store   *state.Store
	metrics *metrics.Metrics
	log     *slog.Logger

	mu        sync.Mutex
	verdict   verdict.Verdict
	evaluated time.Time    // when the verdict was last computed
	facts     func() Facts // nil: nothing known
	listeners []Listener
	// started is when the monitor was created; changes are the last
	// changes of the verdict's name, oldest first (history.go).
	started time.Time
	changes []status.VerdictChange
}

// New returns a Monitor writing into store and m.
func New(cfg Config, store *state.Store, m *metrics.Metrics, logger *slog.Logger) *Monitor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Monitor{
		cfg: cfg, store: store, metrics: m, log: logger,
		verdict: verdict.Decide(verdict.Input{}),
		started: cfg.Now(),
		changes: make([]status.VerdictChange, 0, VerdictChangeLimit),
	}
}

// SetFacts sets the source of the facts beside the paths; it is called on
// every reevaluation and for every status report, so it must be cheap.
func (m *Monitor) SetFacts(facts func() Facts) {
	m.mu.Lock()
	m.facts = facts
	m.mu.Unlock()
	m.Reevaluate()
}

// AddListener registers l for transitions.
func (m *Monitor) AddListener(l Listener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listeners = append(m.listeners, l)
}

// SetTargets replaces the probed paths in the store and the metrics. uses
// says which path the VM relay is configured with and who depends on each.
// The caller passes the same targets to the scheduler.
func (m *Monitor) SetTargets(targets []dial.Target, uses state.Uses) {
	removed := m.store.SetTargets(targets, uses)
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		names = append(names, t.Name)
	}
	m.metrics.SetPaths(names)
	for _, r := range removed {
		m.log.Info("path no longer probed", "path", r)
	}
	m.Reevaluate()
}

// Record records one result. It is the scheduler's ResultFunc.
func (m *Monitor) Record(r dial.Result) {
	tr, changed := m.store.Record(r)
	if tr.Path == "" {
		return // the path was removed or retargeted while the attempt ran
	}
	m.metrics.Observe(r)
	if changed {
		m.logPath(tr, r)
		m.notifyPath(tr, r)
	}
	if changed || m.due() {
		m.Reevaluate()
	}
}

// reevaluateEvery is how often results that change no path's state
// recompute the verdict anyway (to take in new VSOCK and cluster facts and
// the details of the latest results). At the default interval every result
// does; at hundreds of attempts a second, deciding each time cost more
// than the rest of recording a result.
const reevaluateEvery = time.Second

// due reports whether the verdict is older than reevaluateEvery.
func (m *Monitor) due() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.Now().Sub(m.evaluated) >= reevaluateEvery
}

func (m *Monitor) logPath(tr state.Transition, r dial.Result) {
	attrs := []any{"path", tr.Path, "target", r.Target.Addr, "reason", tr.NewReason}
	switch {
	case r.OK() && tr.WasKnown:
		attrs = append(attrs, "was", tr.OldReason)
		if o := tr.Outage; o != nil && !o.Ongoing() {
			attrs = append(attrs, "down_for", o.Duration(o.End).Round(time.Millisecond).String(), "outages_last_hour", tr.OutagesLastHour)
		}
		m.log.Info("path came back", attrs...)
	case r.OK():
		m.log.Info("path up", attrs...)
	default:
		attrs = append(attrs, "phase", r.FailedPhase, "err", r.Err)
		if tr.WasKnown {
			attrs = append(attrs, "was", tr.OldReason)
		}
		m.log.Warn("path down", attrs...)
	}
}

// Reevaluate recomputes the verdict from the current state and facts, and
// logs and announces a change of name.
func (m *Monitor) Reevaluate() {
	m.mu.Lock()
	if m.verdict.Name == verdict.Unknown && !m.store.Ready() {
		// Until every path has answered once, a verdict would be a guess
		// from whichever paths happened to answer first.
		m.mu.Unlock()
		return
	}
	next := Decide(m.store.Snapshot(), m.factsLocked())
	old := m.verdict
	m.verdict, m.evaluated = next, m.cfg.Now()
	if old.Name != next.Name {
		m.recordVerdictChange(m.evaluated, old.Name, next.Name, string(next.Severity))
	}
	listeners := append([]Listener(nil), m.listeners...)
	m.mu.Unlock()
	if old.Name == next.Name {
		return
	}
	logf := m.log.Info
	if next.Severity == verdict.SeverityCritical || next.Severity == verdict.SeverityWarning {
		logf = m.log.Warn
	}
	logf("verdict changed", "from", old.Name, "to", next.Name, "cause", next.Cause, "fix", next.Fix)
	for _, l := range listeners {
		l.VerdictChanged(old, next)
	}
}

func (m *Monitor) listenersCopy() []Listener {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Listener(nil), m.listeners...)
}

// Verdict returns the current verdict.
func (m *Monitor) Verdict() verdict.Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.verdict
}

// VerdictName returns the current verdict's name, for the verdict metric.
func (m *Monitor) VerdictName() string { return m.Verdict().Name }

// Status builds the status report, with the history of every path and of
// the verdict.
func (m *Monitor) Status(context.Context) status.Report {
	m.mu.Lock()
	v := m.verdict
	f := m.factsLocked()
	changes := append([]status.VerdictChange(nil), m.changes...)
	m.mu.Unlock()
	now := m.cfg.Now()
	r := StatusReport(m.cfg.Node, m.cfg.Version, now, m.store.Snapshot(), v, f)
	r.SetHistory(m.store.History(now), changes, m.started)
	return r
}

// factsLocked reads the current facts. The caller holds m.mu.
func (m *Monitor) factsLocked() Facts {
	if m.facts == nil {
		return Facts{}
	}
	return m.facts()
}

// Decide names the verdict for paths given the facts known. The daemon and
// the one-shot check both decide through it.
func Decide(paths []state.PathState, f Facts) verdict.Verdict {
	return verdict.Decide(verdict.Input{Paths: paths, VSOCK: f.VSOCK.verdictInput(), Cluster: f.Cluster.verdictInput()})
}

// StatusReport builds the status report from the paths, the verdict and the facts.
func StatusReport(node, version string, now time.Time, paths []state.PathState, v verdict.Verdict, f Facts) status.Report {
	vsock, cluster := f.VSOCK, f.Cluster
	r := status.New(node, now, paths, v)
	r.Version, r.VSOCK, r.Kubernetes = version, vsock.report(), cluster.report()
	if cluster != nil {
		// paths[].relay is the relay's endpoint, wherever the relay runs.
		for i := range r.Paths {
			r.Paths[i].Relay = r.Paths[i].Name == cluster.RelayPath
		}
	}
	if r.VSOCK != nil {
		r.VSOCK.Evidence = "socket dumps and relay log"
		if cluster != nil && cluster.RelayHostNetwork != nil && !*cluster.RelayHostNetwork {
			r.VSOCK.Evidence = "relay log (collector runs in the pod network; this probe's socket dumps see only the host network)"
		}
	}
	return r
}
