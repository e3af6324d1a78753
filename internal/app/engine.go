package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"golang.org/x/sync/errgroup"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/scheduler"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/web"
)

// Engine is the probing core shared by the daemon and the demo: prober,
// scheduler, state, metrics and monitor, wired together. Optional parts
// (Kubernetes discovery, the VSOCK watcher) add Runners and facts.
type Engine struct {
	Registry  *prometheus.Registry
	Store     *state.Store
	Metrics   *metrics.Metrics
	Monitor   *monitor.Monitor
	Prober    *dial.Prober
	Scheduler *scheduler.Scheduler
	Log       *slog.Logger
	// HideStatus leaves the status page (/ and /status) out of Handler:
	// --web.status=false.
	HideStatus bool

	runners []func(context.Context) error
	// collectors is every collector registered through Register, so that
	// tests can compare what the probe can export with docs/metrics.md.
	collectors []prometheus.Collector
}

// Register registers c on the engine's registry and remembers it.
func (e *Engine) Register(c prometheus.Collector) error {
	if err := e.Registry.Register(c); err != nil {
		return err
	}
	e.collectors = append(e.collectors, c)
	return nil
}

// MustRegister is Register for collectors that cannot clash.
func (e *Engine) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := e.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister removes c from the registry.
func (e *Engine) Unregister(c prometheus.Collector) bool { return e.Registry.Unregister(c) }

// NewEngine builds the core from a prober configuration and an interval,
// every attempt a full one (no sensor budget).
func NewEngine(dcfg dial.Config, interval time.Duration, node string, logger *slog.Logger) (*Engine, error) {
	return NewEngineWith(EngineConfig{Dial: dcfg, Schedule: Schedule{Interval: interval}, Node: node}, logger)
}

// Schedule is when attempts are made: the flags --interval,
// --sensor-budget, --full-interval and --fleet-size.
type Schedule struct {
	// Interval is the fast tier: every path gets an attempt every Interval.
	Interval time.Duration
	// SensorBudget is the TLS handshakes per second sensor should see from
	// the whole fleet; 0 makes every attempt a full one.
	SensorBudget float64
	// FullInterval is the shortest time between two full attempts on one path; 0: Interval.
	FullInterval time.Duration
	// FleetSize is the number of probe pods sharing the budget; 0: from the
	// API (the probe DaemonSet), 1 without Kubernetes.
	FleetSize int
}

// EngineConfig configures NewEngineWith.
type EngineConfig struct {
	Dial     dial.Config
	Schedule Schedule
	// Node is this node's name: the status page's, and the seed of the scheduler's phase.
	Node string
}

// NewEngineWith builds the core. With a sensor budget and a check mode that
// has a TLS handshake, attempts come in tiers (internal/scheduler).
func NewEngineWith(ec EngineConfig, logger *slog.Logger) (*Engine, error) {
	dcfg, interval, node := ec.Dial, ec.Schedule.Interval, ec.Node
	prober, err := dial.New(dcfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{Registry: prometheus.NewRegistry(), Store: state.New(), Prober: prober, Log: logger}
	pc := prober.Config()
	// Attempts on a path come every interval (up to 5 % early) and take at
	// most the timeout: a longer silence is a gap in the timeline.
	e.Store.SetMaxAttemptGap(2*interval + pc.Timeout)
	e.Metrics, err = metrics.New(e, e.Store, metrics.Options{ServerName: pc.ServerName, Check: pc.Check})
	if err != nil {
		return nil, err
	}
	e.Monitor = monitor.New(monitor.Config{Node: node, Version: version.Version}, e.Store, e.Metrics, logger)
	e.MustRegister(
		metrics.NewVerdictCollector(e.Monitor),
		metrics.NewRuntimeCollector(),
	)
	scfg := scheduler.Config{
		Interval: interval, Logger: logger, Node: node,
		Budget: ec.Schedule.SensorBudget, FullInterval: ec.Schedule.FullInterval, FleetSize: ec.Schedule.FleetSize,
	}
	if pc.Check != dial.CheckTCP {
		// In tcp mode the full attempt is a connect already: no tiers, no budget.
		scfg.Connect = prober.Connect
	}
	e.Scheduler = scheduler.New(scfg, prober.Probe, e.Monitor.Record)
	e.MustRegister(metrics.NewSchedulerCollector(e.Scheduler))
	e.Add(e.Scheduler.Run)
	return e, nil
}

// Add registers a part to run alongside the scheduler.
func (e *Engine) Add(run func(context.Context) error) { e.runners = append(e.runners, run) }

// SetTargets replaces the probed paths everywhere; uses says which path the
// relay is configured with and who depends on each.
func (e *Engine) SetTargets(targets []dial.Target, uses state.Uses) {
	e.Monitor.SetTargets(targets, uses)
	e.Scheduler.SetTargets(targets)
}

// Handler returns the HTTP handler: metrics, health, readiness and status.
func (e *Engine) Handler() http.Handler {
	o := web.Options{Gatherer: e.Registry, Ready: e.Store.Ready, Logger: e.Log}
	if !e.HideStatus {
		o.Status = status.Handler(e.Monitor.Status)
	}
	return web.Handler(o)
}

// Run serves on ln and runs every part until ctx ends or one fails.
func (e *Engine) Run(ctx context.Context, ln net.Listener, webConfigFile string) error {
	g, ctx := errgroup.WithContext(ctx)
	h := e.Handler()
	g.Go(func() error { return web.Serve(ctx, ln, h, webConfigFile, e.Log) })
	for _, r := range e.runners {
		g.Go(func() error { return r(ctx) })
	}
	return g.Wait()
}
