package app

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/scheduler"
	"github.com/sensorprobe/sensorprobe/internal/standin"
)

const simulateUsage = `Usage: probe simulate --nodes N --duration D [flags]

Run N probe schedulers in one process, as N nodes restarted at the same
moment would (node names node-0000, node-0001, …; each dials from its own
loopback address 127.x.y.z), with the real dial code, tiers and sensor
budget, against ONE counting sensor stand-in on 127.0.0.1 with one listener
per path. At --inject-at one path starts to drop packets for every node
(its listener is swapped for one whose accept queue is full: "dial tcp …:
i/o timeout"). Then print what sensor saw: TLS handshakes and TCP connects
per second (mean, peak second, peak/mean) and how long each node took to
see the injected failure. Only loopback traffic; no root, no cluster.

Flags:
`

// SimulateConfig is the configuration of probe simulate.
type SimulateConfig struct {
	Nodes        int
	Paths        int
	Duration     time.Duration
	Interval     time.Duration
	Timeout      time.Duration
	SensorBudget float64
	FullInterval time.Duration
	// InjectAt is when the failure is injected, from the start; 0: never.
	InjectAt time.Duration
	// LogLevel is the level of the schedulers' log lines (panics only).
	LogLevel slog.Level
	// Series, when set, is a file to write the per-second counts to (CSV).
	Series string
}

// ParseSimulate parses the flags of `probe simulate`.
func ParseSimulate(args []string, stdout io.Writer) (*SimulateConfig, error) {
	fs := newFlagSet("probe simulate", stdout, simulateUsage)
	cfg := &SimulateConfig{Nodes: 100, Paths: 5, SensorBudget: DefaultSensorBudget}
	var nodes, paths, budget stringValue
	var duration, interval, timeout, full, inject durationFlag
	fs.Var(&nodes, "nodes", "number of simulated nodes (default 100)")
	fs.Var(&paths, "paths", "paths per node, 1 to 5 (default 5)")
	fs.Var(&duration, "duration", "how long to run; cover one full interval after the start to see the steady state (default 60s)")
	fs.Var(&interval, "interval", "the fast interval, as the daemon's --interval (default 10s)")
	fs.Var(&timeout, "timeout", "bound on one attempt, as the daemon's --timeout (default 2s)")
	fs.Var(&budget, "sensor-budget", "TLS handshakes per second for the whole simulated fleet, as the daemon's (default 50; 0: every attempt full)")
	fs.Var(&full, "full-interval", "as the daemon's --full-interval (default 0)")
	fs.Var(&inject, "inject-at", "when to make the first path drop packets for every node, from the start; 0 = never (default half of --duration)")
	level := fs.String("log.level", "warn", "log level of the schedulers' log lines (stderr)")
	fs.StringVar(&cfg.Series, "series", "", "write the per-second counts to this CSV file, with a header: second,handshakes,connects,full_due")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	intFlag := func(v stringValue, name string, lo, hi int, dst *int) {
		if !v.set {
			return
		}
		n, err := strconv.Atoi(v.raw)
		if err != nil || n < lo || n > hi {
			p.add("--%s: %q: want a whole number from %d to %d", name, v.raw, lo, hi)
			return
		}
		*dst = n
	}
	// 127.0.0.0/8 holds 2^24 addresses; the stand-in keeps 127.0.0.0/16.
	intFlag(nodes, "nodes", 1, 1<<20, &cfg.Nodes)
	intFlag(paths, "paths", 1, 5, &cfg.Paths)
	if budget.set {
		v, err := strconv.ParseFloat(budget.raw, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			p.add("--sensor-budget: %q: want a number, 0 or more", budget.raw)
		}
		cfg.SensorBudget = v
	}
	cfg.Duration = duration.resolve(&p, "duration", time.Minute, true)
	cfg.Interval = interval.resolve(&p, "interval", 10*time.Second, true)
	cfg.Timeout = timeout.resolve(&p, "timeout", 2*time.Second, true)
	cfg.FullInterval = full.resolve(&p, "full-interval", 0, false)
	cfg.InjectAt = inject.resolve(&p, "inject-at", cfg.Duration/2, false)
	if cfg.InjectAt < 0 || cfg.InjectAt >= cfg.Duration {
		p.add("--inject-at: %v must be 0 or more and before --duration %v", cfg.InjectAt, cfg.Duration)
	}
	if cfg.Timeout > cfg.Interval {
		p.add("--timeout: %v is longer than --interval %v", cfg.Timeout, cfg.Interval)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		p.add("--log.level: %q is not one of debug, info, warn, error", *level)
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// SimulateReport is what probe simulate measured.
type SimulateReport struct {
	Nodes, Paths int
	Budget       float64
	FullInterval time.Duration
	// Seconds is how many whole seconds were sampled.
	Seconds int
	// Before is how many of them came before the injection (all of them
	// when nothing was injected): the steady state the budget is about.
	Before int
	// Handshakes and Connects are what the stand-in counted each second:
	// TLS handshakes begun, and TCP connections accepted (full attempts
	// included).
	Handshakes, Connects []int64
	// FullDue counts the full attempts due each second by the schedule
	// (tiered runs only).
	FullDue []int64
	// Lag holds how late a 100 ms ticker of the simulating process fired,
	// sample by sample: when it is large, the stand-in's per-second counts
	// show the process catching up, not the schedule.
	Lag []time.Duration
	// Injected is the path made to drop packets; empty when none was.
	Injected string
	// Detected holds, for each node that saw the injected failure, the
	// time from the injection to the end of its first failed attempt.
	Detected []time.Duration
	// FullAttempts, ConnectAttempts and Failed count the results the
	// nodes' schedulers reported, by tier, and the failed ones.
	FullAttempts, ConnectAttempts atomic.Int64
	// Failed counts the failed results by reason.
	Failed map[dial.Reason]int
	// HeapInuse and Goroutines are the process's at the end.
	HeapInuse  uint64
	Goroutines int
}

// Mean returns the mean of per-second counts.
func Mean(xs []int64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum int64
	for _, x := range xs {
		sum += x
	}
	return float64(sum) / float64(len(xs))
}

// Peak returns the largest per-second count.
func Peak(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}

// Quantile returns the q quantile (0 ≤ q ≤ 1, nearest rank) of ds.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// simPathNames are the paths the simulated nodes dial, in the daemon's names.
var simPathNames = []string{dial.PathClusterIP, dial.PathDNS, dial.PathHostPort, dial.PathPodIP, dial.PathWebhook}

// simNodeAddr is node i's loopback source address: 127.1.0.0 onwards, so
// that each node has its own ephemeral ports and 127.0.0.0/16 stays the stand-in's.
func simNodeAddr(i int) net.IP {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i+1<<16)&0xffffff) // #nosec G115 -- --nodes is at most 2^20
	return net.IPv4(127, b[1], b[2], b[3])
}

// simulation is one run of probe simulate: the stand-in, the nodes'
// schedulers and what they measured. Fields after mu are guarded by it.
type simulation struct {
	cfg      *SimulateConfig
	logger   *slog.Logger
	ca       *standin.CA
	sensor   *standin.Sensor
	targets  []dial.Target
	injected dial.Target
	scheds   []*scheduler.Scheduler
	rep      *SimulateReport
	// fullDue counts full attempts by the second they were due in, as the
	// schedule has them: the load sensor would see from nodes that each
	// have their own CPU. The stand-in's own count is by when each
	// ClientHello arrived, delayed whenever this one process falls behind.
	fullDue []atomic.Int64
	started time.Time

	mu       sync.Mutex
	injectAt time.Time // zero until the injection
	detected []time.Duration
}

// RunSimulate runs the simulation and returns what it measured.
func RunSimulate(ctx context.Context, cfg *SimulateConfig, logger *slog.Logger) (*SimulateReport, error) {
	sim, err := newSimulation(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer sim.sensor.Close()
	for i := range cfg.Nodes {
		if err := sim.addNode(i); err != nil {
			return nil, err
		}
	}
	sim.started = time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	// Every node starts at the same moment: a rollout's worst case.
	for _, sched := range sim.scheds {
		wg.Go(func() { _ = sched.Run(ctx) })
	}
	sim.rep.FullInterval = sim.scheds[0].FullInterval()
	wg.Go(func() { sim.watchLag(ctx) })
	err = sim.sample(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return sim.report(), nil
}

// newSimulation starts the counting sensor stand-in with one listener per path.
func newSimulation(cfg *SimulateConfig, logger *slog.Logger) (*simulation, error) {
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(standin.LeafOptions{CommonName: "SENSOR_SERVICE", DNSNames: standin.SensorSANs("stackrox")})
	if err != nil {
		return nil, err
	}
	sensor, err := standin.NewSensor(standin.SensorConfig{Cert: cert, ClientCAs: ca.Pool()})
	if err != nil {
		return nil, err
	}
	sim := &simulation{cfg: cfg, logger: logger, ca: ca, sensor: sensor,
		rep:      &SimulateReport{Nodes: cfg.Nodes, Paths: cfg.Paths, Budget: cfg.SensorBudget, Failed: map[dial.Reason]int{}},
		fullDue:  make([]atomic.Int64, int(cfg.Duration/time.Second)+1),
		detected: make([]time.Duration, 0, cfg.Nodes),
		started:  time.Now(),
	}
	for i := range cfg.Paths {
		addr, err := sensor.Listen("127.0.0.1:0")
		if err != nil {
			_ = sensor.Close()
			return nil, err
		}
		sim.targets = append(sim.targets, dial.Target{Name: simPathNames[i], Addr: addr})
	}
	sim.injected = sim.targets[0]
	return sim, nil
}

// addNode adds node i: a prober from its own loopback address and a scheduler.
func (sim *simulation) addNode(i int) error {
	cfg := sim.cfg
	prober, err := dial.New(dial.Config{
		Timeout: cfg.Timeout, RootCAs: sim.ca.Pool(), ServerName: dial.DefaultServerName,
		LocalAddr: &net.TCPAddr{IP: simNodeAddr(i)},
	})
	if err != nil {
		return err
	}
	sched := scheduler.New(scheduler.Config{
		Interval: cfg.Interval, Node: fmt.Sprintf("node-%04d", i),
		Connect: prober.Connect, Budget: cfg.SensorBudget, FullInterval: cfg.FullInterval, FleetSize: cfg.Nodes,
		Logger: sim.logger,
		Due: func(_ dial.Target, tier dial.Tier, due time.Time) {
			if tier != dial.TierFull {
				return
			}
			if sec := int(due.Sub(sim.started) / time.Second); sec >= 0 && sec < len(sim.fullDue) {
				sim.fullDue[sec].Add(1)
			}
		},
	}, prober.Probe, sim.recorder())
	sched.SetTargets(sim.targets)
	sim.scheds = append(sim.scheds, sched)
	return nil
}

// recorder counts one node's results and notes when it first saw the
// injected failure.
func (sim *simulation) recorder() scheduler.ResultFunc {
	seen := false // guarded by sim.mu
	return func(r dial.Result) {
		if r.Full() {
			sim.rep.FullAttempts.Add(1)
		} else {
			sim.rep.ConnectAttempts.Add(1)
		}
		if r.OK() {
			return
		}
		sim.mu.Lock()
		defer sim.mu.Unlock()
		sim.rep.Failed[r.Reason]++
		if r.Target.Name != sim.injected.Name || seen || sim.injectAt.IsZero() || r.Start.Before(sim.injectAt) {
			return
		}
		seen = true
		sim.detected = append(sim.detected, r.Start.Add(r.Duration).Sub(sim.injectAt))
	}
}

// watchLag records how late this process runs its timers: a 100 ms
// ticker's excess, until ctx ends.
func (sim *simulation) watchLag(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	prev := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sim.mu.Lock()
			sim.rep.Lag = append(sim.rep.Lag, max(time.Since(prev)-100*time.Millisecond, 0))
			sim.mu.Unlock()
			prev = now
		}
	}
}

// sample reads the stand-in's counts every second until ctx ends, and
// injects the failure at InjectAt.
func (sim *simulation) sample(ctx context.Context) error {
	var inject <-chan time.Time
	if sim.cfg.InjectAt > 0 {
		t := time.NewTimer(sim.cfg.InjectAt)
		defer t.Stop()
		inject = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev := sim.sensor.Stats()
	var hole *standin.Blackhole
	defer func() {
		if hole != nil {
			_ = hole.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			cur := sim.sensor.Stats()
			sim.rep.Handshakes = append(sim.rep.Handshakes, cur.Handshakes-prev.Handshakes)
			sim.rep.Connects = append(sim.rep.Connects, cur.Accepts-prev.Accepts)
			prev = cur
		case <-inject:
			var err error
			if hole, err = sim.inject(); err != nil {
				return err
			}
		}
	}
}

// inject replaces the first path's listener with a blackhole on its port:
// every node's attempts there time out from now on.
func (sim *simulation) inject() (*standin.Blackhole, error) {
	_, port, _ := net.SplitHostPort(sim.injected.Addr)
	p, _ := strconv.Atoi(port)
	if err := sim.sensor.CloseListener(sim.injected.Addr); err != nil {
		return nil, err
	}
	sim.mu.Lock()
	sim.injectAt = time.Now()
	sim.mu.Unlock()
	hole, err := standin.NewBlackholeAt("127.0.0.1", p)
	if err != nil {
		return nil, fmt.Errorf("inject the failure on %s: %w", sim.injected.Name, err)
	}
	sim.rep.Injected = sim.injected.Name
	return hole, nil
}

// report completes the report once every node has stopped.
func (sim *simulation) report() *SimulateReport {
	rep := sim.rep
	rep.Seconds = len(rep.Handshakes)
	for i := range rep.Seconds {
		rep.FullDue = append(rep.FullDue, sim.fullDue[i].Load())
	}
	rep.Before = rep.Seconds
	if rep.Injected != "" {
		rep.Before = min(int(sim.cfg.InjectAt/time.Second), rep.Seconds)
	}
	sim.mu.Lock()
	rep.Lag = slices.Clone(rep.Lag)
	rep.Detected = slices.Clone(sim.detected)
	failed := maps.Clone(rep.Failed)
	sim.mu.Unlock()
	rep.Failed = failed
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapInuse, rep.Goroutines = ms.HeapInuse, runtime.NumGoroutine()
	return rep
}

// WriteSeries writes the per-second counts as CSV.
func WriteSeries(w io.Writer, rep *SimulateReport) error {
	fmt.Fprintln(w, "second,handshakes,connects,full_due")
	for i := range rep.Seconds {
		if _, err := fmt.Fprintf(w, "%d,%d,%d,%d\n", i+1, rep.Handshakes[i], rep.Connects[i], rep.FullDue[i]); err != nil {
			return err
		}
	}
	return nil
}

// WriteSimulateReport prints rep as a table.
func WriteSimulateReport(w io.Writer, rep *SimulateReport, cfg *SimulateConfig) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "handshakes per second\tnodes\tpaths\tbudget/s\tinterval\tfull interval\thandshakes/s mean\tpeak\tpeak/mean\tconnects/s mean\tpeak\tseconds\t")
	row := func(name string, hs, cs []int64) {
		hsMean, hsPeak := Mean(hs), Peak(hs)
		ratio := 0.0
		if hsMean > 0 {
			ratio = float64(hsPeak) / hsMean
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%g\t%v\t%v\t%.1f\t%d\t%.2f\t%.1f\t%d\t%d\t\n",
			name, rep.Nodes, rep.Paths, rep.Budget, cfg.Interval, rep.FullInterval, hsMean, hsPeak, ratio,
			Mean(cs), Peak(cs), len(hs))
	}
	row("sensor saw, from the start", rep.Handshakes[:rep.Before], rep.Connects[:rep.Before])
	if rep.Before < rep.Seconds {
		row("sensor saw, after injection", rep.Handshakes[rep.Before:], rep.Connects[rep.Before:])
	}
	if rep.Budget > 0 {
		due := rep.FullDue[:rep.Before]
		m, pk := Mean(due), Peak(due)
		ratio := 0.0
		if m > 0 {
			ratio = float64(pk) / m
		}
		fmt.Fprintf(tw, "full attempts due, from the start\t%d\t%d\t%g\t%v\t%v\t%.1f\t%d\t%.2f\t\t\t%d\t\n",
			rep.Nodes, rep.Paths, rep.Budget, cfg.Interval, rep.FullInterval, m, pk, ratio, len(due))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsimulating process: timer lag p50 %v, p99 %v, max %v (large lag bunches the stand-in's counts; the due row is the schedule itself)\n",
		Quantile(rep.Lag, 0.5).Round(time.Millisecond), Quantile(rep.Lag, 0.99).Round(time.Millisecond), Quantile(rep.Lag, 1).Round(time.Millisecond))
	if rep.Injected != "" {
		fmt.Fprintf(w, "\ninjected at %v: path %s drops packets for every node (timeout %v)\n", cfg.InjectAt, rep.Injected, cfg.Timeout)
		fmt.Fprintf(w, "detected by %d of %d nodes; delay p50 %v, p99 %v, max %v (goal: interval + timeout = %v)\n",
			len(rep.Detected), rep.Nodes,
			Quantile(rep.Detected, 0.5).Round(time.Millisecond), Quantile(rep.Detected, 0.99).Round(time.Millisecond),
			Quantile(rep.Detected, 1).Round(time.Millisecond), cfg.Interval+cfg.Timeout)
	}
	fmt.Fprintf(w, "\nresults reported by the nodes: %d full, %d connect-tier; failed:",
		rep.FullAttempts.Load(), rep.ConnectAttempts.Load())
	if len(rep.Failed) == 0 {
		fmt.Fprint(w, " none")
	}
	for _, r := range slices.Sorted(maps.Keys(rep.Failed)) {
		fmt.Fprintf(w, " %s %d", r, rep.Failed[r])
	}
	fmt.Fprintln(w)
	_, err := fmt.Fprintf(w, "process at the end: heap in use %.1f MiB, %d goroutines\n", float64(rep.HeapInuse)/(1<<20), rep.Goroutines)
	return err
}
