// Package scheduler decides when each path is dialled: every interval, with
// jitter, at a phase of its own, at most one attempt in flight per path, over
// a set of targets that may be replaced at any time.
//
// With a budget (Config.Budget) and a connect-tier prober (Config.Connect)
// the attempts come in two tiers: every path gets an attempt every Interval,
// most of them connect-tier (TCP connect and close: they catch the i/o
// timeout, refused, unreachable and DNS failures and cost sensor no
// handshake), and a full one (TLS and the check) every FullInterval, which
// the budget sets from the fleet size so that the TLS handshakes sensor
// serves across the cluster stay within the budget. A connect-tier result
// that disagrees with the latest full one is confirmed at once by a full
// attempt, within a per-node token bucket. See docs/architecture.md
// ("Sensor's side").
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// ProbeFunc makes one attempt; it must return by the time its ctx ends.
type ProbeFunc func(ctx context.Context, t dial.Target) dial.Result

// ResultFunc receives every result. It is called from the path's own
// goroutine, so calls for different paths may be concurrent.
type ResultFunc func(dial.Result)

// Config configures a Scheduler.
type Config struct {
	// Interval between the starts of two attempts on one path.
	Interval time.Duration
	// Jitter is the largest fraction of Interval by which an attempt comes,
	// at random, before its grid point; attempts never come late, so a
	// path's phase stays put and two attempts are at most
	// Interval × (1 + Jitter) apart. Default 0.05; 0 < Jitter < 1.
	Jitter float64
	// Clock, default the real clock.
	Clock clock.WithTicker
	// Rand, default a randomly seeded generator.
	Rand *rand.Rand
	// Logger receives one error line, with the stack, for every panic
	// recovered at an attempt's boundary. Default: discard.
	Logger *slog.Logger
	// Node is this node's name. When set, each path's phase within its
	// intervals comes from a hash of it, so that a node keeps its schedule
	// across restarts and the nodes of a fleet restarted together stay spread
	// over the interval; when empty the phase is random.
	Node string

	// Connect makes a connect-tier attempt. With Connect and a positive
	// Budget the scheduler makes two tiers of attempts; without either,
	// every attempt is a full one (probe), as before tiers existed.
	Connect ProbeFunc
	// Budget is the number of full attempts (TLS handshakes) per second
	// that sensor should see from the whole fleet; this node's share is
	// Budget / FleetSize.
	Budget float64
	// FullInterval is the shortest time between two full attempts on one
	// path; 0 means Interval. The budget may make it longer: see FullInterval.
	FullInterval time.Duration
	// FleetSize is the number of nodes the budget is shared by, until
	// SetFleetSize; below 1 means 1.
	FleetSize int
	// Due, if set, is told of every tiered attempt just before it starts,
	// with the time it was due: its grid point (before jitter), or now for
	// a confirmation. probe simulate counts attempts by it, so that its
	// figures are the schedule's and not the simulating process's delays.
	Due func(t dial.Target, tier dial.Tier, due time.Time)
	// ConfirmBurst is the capacity of the token bucket that bounds
	// confirmations (full attempts made at once when a connect-tier result
	// disagrees with the latest full one). Default 1.
	ConfirmBurst int
}

// Scheduler runs one loop per path. The zero value is not usable; call New.
type Scheduler struct {
	cfg    Config
	probe  ProbeFunc
	result ResultFunc
	// phase is this node's offset into the interval (loops without tiers),
	// so that the probes of many nodes restarted together do not dial in step.
	phase time.Duration
	// fracFast and fracFull place this node in the fast and the full
	// interval (tiered loops), as fractions of them.
	fracFast, fracFull float64
	tiered             bool
	// panics counts the panics recovered at attempt boundaries.
	panics atomic.Uint64

	mu      sync.Mutex
	rnd     *rand.Rand
	ctx     context.Context // set by Run
	targets map[string]dial.Target
	loops   map[string]*loop
	wg      sync.WaitGroup
	fleet   int
	bucket  bucket
}

type loop struct {
	target dial.Target
	cancel context.CancelFunc
}

// New returns a Scheduler that calls probe for each target and result with each result.
func New(cfg Config, probe ProbeFunc, result ResultFunc) *Scheduler {
	if cfg.Jitter <= 0 || cfg.Jitter >= 1 {
		cfg.Jitter = 0.05
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) // #nosec G404 -- jitter, not a secret
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ConfirmBurst < 1 {
		cfg.ConfirmBurst = 1
	}
	s := &Scheduler{
		cfg: cfg, probe: probe, result: result, rnd: cfg.Rand,
		targets: map[string]dial.Target{}, loops: map[string]*loop{},
		tiered: cfg.Connect != nil && cfg.Budget > 0,
		fleet:  max(cfg.FleetSize, 1),
	}
	if cfg.Node != "" {
		s.fracFast, s.fracFull = NodePhase(cfg.Node)
	} else {
		s.fracFast, s.fracFull = s.rnd.Float64(), s.rnd.Float64()
	}
	s.phase = time.Duration(s.fracFast * float64(cfg.Interval))
	s.bucket = bucket{tokens: float64(cfg.ConfirmBurst), burst: float64(cfg.ConfirmBurst), rate: s.shareLocked()}
	return s
}

// SetTargets replaces the set of targets. Loops of removed or changed paths
// stop (an attempt in flight is abandoned and its result not reported);
// loops of new or changed paths start with an immediate attempt. It may be
// called before or during Run.
func (s *Scheduler) SetTargets(targets []dial.Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]dial.Target, len(targets))
	for _, t := range targets {
		next[t.Name] = t
	}
	for name, l := range s.loops {
		if t, ok := next[name]; !ok || t != l.target {
			l.cancel()
			delete(s.loops, name)
		}
	}
	s.targets = next
	s.startLocked()
}

// Run runs the loops until ctx ends, then waits for them to finish.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.startLocked()
	s.mu.Unlock()
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

func (s *Scheduler) startLocked() {
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	names := slices.Sorted(maps.Keys(s.targets))
	for i, name := range names {
		if _, ok := s.loops[name]; ok {
			continue
		}
		t := s.targets[name]
		ctx, cancel := context.WithCancel(s.ctx)
		s.loops[name] = &loop{target: t, cancel: cancel}
		s.wg.Add(1)
		// A path's place among the node's paths spreads them over the
		// interval: path i of n is i/n of an interval after the node's phase.
		slot := float64(i) / float64(len(names))
		go func() {
			defer s.wg.Done()
			defer cancel()
			if s.tiered {
				s.runTiered(ctx, t, slot)
				return
			}
			s.run(ctx, t)
		}()
	}
}

// run probes t at once, then at every grid point of period Interval at
// this node's phase, each attempt up to Jitter × Interval early (early);
// an attempt that overruns its slot is followed by the next grid point.
// Every attempt is full. runTiered is the loop with tiers; both place
// attempts the same way.
func (s *Scheduler) run(ctx context.Context, t dial.Target) {
	c := s.cfg.Clock
	grid := c.Now()
	for first := true; ; first = false {
		if !first && !s.sleepUntil(ctx, grid.Add(-s.early())) {
			return
		}
		res := s.attempt(ctx, t, s.probe, dial.TierFull)
		if ctx.Err() != nil {
			return
		}
		s.deliver(res)
		// The attempt may have started early and ended before its grid
		// point: the next one is the grid point after both.
		grid = nextGrid(later(c.Now(), grid), s.cfg.Interval, s.phase)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// attempt makes one attempt on t. A panic in the prober is recovered here,
// at the attempt's boundary, so that it costs one attempt rather than the
// process: it is logged and counted, and the attempt counts as failed with
// ReasonOther, so that the path does not keep showing its previous state.
func (s *Scheduler) attempt(ctx context.Context, t dial.Target, probe ProbeFunc, tier dial.Tier) (res dial.Result) {
	start := s.cfg.Clock.Now()
	defer func() {
		if v := recover(); v != nil {
			s.recovered(t, "probe", v)
			res = dial.Result{
				Target: t, Tier: tier, Start: start, Duration: s.cfg.Clock.Since(start), Reason: dial.ReasonOther,
				Err: fmt.Errorf("the attempt panicked (a sensorprobe bug; the log has the stack): %v", v),
			}
		}
	}()
	return probe(ctx, t)
}

// deliver hands res to the result function; a panic while handling it is
// recovered, logged and counted, and the path's loop goes on.
func (s *Scheduler) deliver(res dial.Result) {
	defer func() {
		if v := recover(); v != nil {
			s.recovered(res.Target, "result", v)
		}
	}()
	s.result(res)
}

func (s *Scheduler) recovered(t dial.Target, stage string, v any) {
	s.panics.Add(1)
	s.cfg.Logger.Error("recovered from a panic; this is a sensorprobe bug, please report it with this line",
		"path", t.Name, "target", t.Addr, "stage", stage, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}

// Panics returns how many panics were recovered at attempt boundaries.
func (s *Scheduler) Panics() uint64 { return s.panics.Load() }
