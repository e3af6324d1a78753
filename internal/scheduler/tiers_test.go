package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// world is a fake network for tiered schedulers: each path's connect and
// full attempts return the reason set for it, and every result is kept.
type world struct {
	clk *clocktesting.FakeClock
	mu  sync.Mutex
	// connect and full are the reasons attempts return now, by path; "" is ok.
	connect, full map[string]dial.Reason
	got           []dial.Result
}

func newWorld(start time.Time) *world {
	return &world{clk: clocktesting.NewFakeClock(start), connect: map[string]dial.Reason{}, full: map[string]dial.Reason{}}
}

func (w *world) set(path string, connect, full dial.Reason) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.connect[path], w.full[path] = connect, full
}

func (w *world) attempt(t dial.Target, tier dial.Tier) dial.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := dial.Result{Target: t, Tier: tier, Start: w.clk.Now(), Reason: dial.ReasonOK}
	reason := w.connect[t.Name]
	if reason != "" && reason != dial.ReasonOK {
		r.Reason, r.FailedPhase = reason, dial.PhaseConnect
		return r
	}
	if tier == dial.TierFull {
		if reason := w.full[t.Name]; reason != "" && reason != dial.ReasonOK {
			r.Reason, r.FailedPhase = reason, dial.PhaseTLS
		}
	}
	return r
}

func (w *world) probe(_ context.Context, t dial.Target) dial.Result {
	return w.attempt(t, dial.TierFull)
}

func (w *world) connectProbe(_ context.Context, t dial.Target) dial.Result {
	return w.attempt(t, dial.TierConnect)
}

func (w *world) record(r dial.Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, r)
}

// results returns the results so far, optionally of one path only.
func (w *world) results(path string) []dial.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []dial.Result
	for _, r := range w.got {
		if path == "" || r.Target.Name == path {
			out = append(out, r)
		}
	}
	return out
}

// scheduler returns a tiered scheduler on w's clock, running until the test ends.
func (w *world) scheduler(t *testing.T, cfg Config, paths ...string) *Scheduler {
	t.Helper()
	cfg.Clock = w.clk
	cfg.Connect = w.connectProbe
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(7, 8))
	}
	s := New(cfg, w.probe, w.record)
	var targets []dial.Target
	for _, p := range paths {
		targets = append(targets, dial.Target{Name: p, Addr: p + ":443"})
	}
	s.SetTargets(targets)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; noPanics(t, s) })
	waitTimers(t, w.clk, len(paths))
	return s
}

// advance moves the clock by d in steps of step, letting the loops
// (loops of them) run after each step.
func (w *world) advance(t *testing.T, d, step time.Duration, loops int) {
	t.Helper()
	for end := w.clk.Now().Add(d); w.clk.Now().Before(end); {
		w.clk.Step(step)
		waitTimers(t, w.clk, loops)
	}
}

func countTiers(rs []dial.Result) (connect, full int) {
	for _, r := range rs {
		if r.Full() {
			full++
		} else {
			connect++
		}
	}
	return connect, full
}

var fivePaths = []string{"clusterip", "dns", "hostport", "podip", "webhook"}

// Every path gets one attempt per interval; one in FullInterval of them is
// full, FullInterval being set by the budget and the fleet size.
func TestTiersFollowTheBudget(t *testing.T) {
	w := newWorld(time.Unix(1_000_000, 0))
	// 100 nodes × 5 paths / 10 handshakes per second: a full attempt every 50 s.
	s := w.scheduler(t, Config{Interval: 10 * time.Second, Budget: 10, FleetSize: 100, Node: "node-0042"}, fivePaths...)
	if got := s.FullInterval(); got != 50*time.Second {
		t.Fatalf("FullInterval = %v, want 50s", got)
	}
	w.advance(t, 1000*time.Second, time.Second, len(fivePaths))
	for _, p := range fivePaths {
		connect, full := countTiers(w.results(p))
		// 1000 s: 100 attempts (±1 at the edges), 20 of them full (±1).
		if n := connect + full; n < 99 || n > 101 {
			t.Errorf("%s: %d attempts in 1000s at a 10s interval, want 100±1", p, n)
		}
		if full < 19 || full > 21 {
			t.Errorf("%s: %d full attempts in 1000s at a 50s full interval, want 20±1", p, full)
		}
	}
	if got := s.FullInterval(); got != 50*time.Second {
		t.Errorf("FullInterval() = %v, want 50s", got)
	}
}

// A fleet small enough for the budget to allow a full attempt per interval
// (here 10 nodes × 5 paths / 50 per second: 1 s < 10 s) gets only full
// attempts, the very first one included, as before tiers.
func TestSmallFleetEveryAttemptFull(t *testing.T) {
	w := newWorld(time.Unix(1_000_000, 0))
	s := w.scheduler(t, Config{Interval: 10 * time.Second, Budget: 50, FleetSize: 10, Node: "node-0007"}, fivePaths...)
	if got := s.FullInterval(); got != 10*time.Second {
		t.Fatalf("FullInterval = %v, want the interval", got)
	}
	w.advance(t, 100*time.Second, time.Second, len(fivePaths))
	for _, p := range fivePaths {
		rs := w.results(p)
		connect, full := countTiers(rs)
		if connect != 0 || full < 9 {
			t.Errorf("%s: %d connect-tier and %d full attempts in 100s, want 0 and about 10", p, connect, full)
		}
	}
}

// Without a budget, or without a connect prober, every attempt is full.
func TestNoBudgetMeansEveryAttemptFull(t *testing.T) {
	for _, budget := range []float64{0, -1} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			w := newWorld(time.Unix(1_000_000, 0))
			cfg := Config{Interval: 10 * time.Second, Budget: budget, FleetSize: 5000, Clock: w.clk, Rand: rand.New(rand.NewPCG(1, 1))}
			cfg.Connect = w.connectProbe
			s := New(cfg, w.probe, w.record)
			if s.tiered {
				t.Fatal("tiered without a budget")
			}
			if got := s.FullInterval(); got != 10*time.Second {
				t.Errorf("FullInterval = %v, want the interval", got)
			}
		})
	}
}

// A connect-tier result that disagrees with the latest full one is
// confirmed at once by a full attempt; the confirmation stands in for the
// next scheduled full attempt when it reached TLS.
func TestConfirmationOnChange(t *testing.T) {
	w := newWorld(time.Unix(1_000_000, 0))
	// A small fleet: the bucket refills in 1000 × 1 / 100 = 10 s.
	w.scheduler(t, Config{Interval: 10 * time.Second, Budget: 100, FleetSize: 1000, FullInterval: 100 * time.Second, Node: "n"}, "p")
	w.advance(t, 200*time.Second, time.Second, 1) // past the first full attempt
	if _, full := countTiers(w.results("p")); full == 0 {
		t.Fatal("no full attempt in two full intervals")
	}
	before := len(w.results("p"))
	w.set("p", dial.ReasonConnectTimeout, "")
	w.advance(t, 30*time.Second, time.Second, 1)
	rs := w.results("p")[before:]
	if len(rs) < 3 {
		t.Fatalf("%d results in 30s after the failure, want at least 3", len(rs))
	}
	// First the connect-tier failure, then at once its confirmation, then connect-tier only.
	if rs[0].Full() || rs[0].Reason != dial.ReasonConnectTimeout {
		t.Errorf("first result after the failure: %s %s, want connect connect_timeout", rs[0].Tier, rs[0].Reason)
	}
	if !rs[1].Full() || !rs[1].Start.Equal(rs[0].Start) {
		t.Errorf("second result: %s at %v, want a full confirmation at %v", rs[1].Tier, rs[1].Start, rs[0].Start)
	}
	for _, r := range rs[2:] {
		if r.Full() && !r.Start.Equal(rs[1].Start.Add(100*time.Second)) {
			t.Errorf("unexpected full attempt at %v while the failure stands", r.Start)
		}
	}
	// Back again: confirmed at once.
	before = len(w.results("p"))
	w.set("p", "", "")
	w.advance(t, 11*time.Second, time.Second, 1)
	rs = w.results("p")[before:]
	if len(rs) < 2 || rs[0].Full() || !rs[1].Full() || rs[1].Reason != dial.ReasonOK {
		t.Errorf("after recovery: %v, want a connect-tier ok and its full confirmation", tiersOf(rs))
	}
	// A certificate problem seen by a full attempt is no connect-tier change:
	// connect-tier successes do not ask for confirmations.
	w.set("p", "", dial.ReasonCertUnknownAuthority)
	before = len(w.results("p"))
	w.advance(t, 300*time.Second, time.Second, 1)
	_, full := countTiers(w.results("p")[before:])
	if full < 2 || full > 4 {
		t.Errorf("%d full attempts in 300s with a full-only failure, want 3±1 (scheduled only)", full)
	}
}

// Confirmations are bounded by the node's token bucket: one token (the
// burst), refilled at budget / fleet per second; a confirmation that fails
// before TLS gives its token back.
func TestConfirmationBucket(t *testing.T) {
	w := newWorld(time.Unix(1_000_000, 0))
	// 5000 nodes share 50 handshakes/s: one token per 100 s.
	s := w.scheduler(t, Config{Interval: 10 * time.Second, Budget: 50, FleetSize: 5000, Node: "node-1"}, fivePaths...)
	full := s.FullInterval()
	if full != 500*time.Second {
		t.Fatalf("FullInterval = %v, want 500s", full)
	}
	w.advance(t, full+20*time.Second, time.Second, 5) // every path has had its first full attempt
	// The TLS of every path fails at once (a certificate rotated wrong):
	// nothing the connect tier sees, so no confirmation at all.
	for _, p := range fivePaths {
		w.set(p, "", dial.ReasonTLSError)
	}
	before := len(w.results(""))
	w.advance(t, 30*time.Second, time.Second, 5)
	if _, n := countTiers(w.results("")[before:]); n > 1 {
		t.Errorf("%d full attempts in 30s after a TLS-only failure, want at most 1 (a scheduled one)", n)
	}
	// Every path's connect is refused (sensor restarting): the confirmations
	// fail before TLS and give their token back, so all five are confirmed.
	for _, p := range fivePaths {
		w.set(p, dial.ReasonRefused, "")
	}
	before = len(w.results(""))
	w.advance(t, 15*time.Second, time.Second, 5)
	if _, n := countTiers(w.results("")[before:]); n != 5 {
		t.Errorf("%d confirmations of refused connects, want 5 (refused before TLS: tokens refunded)", n)
	}
	// Sensor is back: every path's connect succeeds. A confirmation now
	// handshakes, so the one token allows one, and the next comes with the
	// next token, 100 s later.
	for _, p := range fivePaths {
		w.set(p, "", "")
	}
	before = len(w.results(""))
	w.advance(t, 15*time.Second, time.Second, 5)
	if n := confirmations(w.results("")[before:]); n != 1 {
		t.Errorf("%d confirmations in the 15s after recovery, want 1 (burst of one token)", n)
	}
	w.advance(t, 100*time.Second, time.Second, 5)
	if n := confirmations(w.results("")[before:]); n != 2 {
		t.Errorf("%d confirmations in the 115s after recovery, want 2 (one more token after 100s)", n)
	}
}

// confirmations counts the full results that came at once after a
// connect-tier result of the same path.
func confirmations(rs []dial.Result) int {
	n := 0
	last := map[string]dial.Result{}
	for _, r := range rs {
		if prev, ok := last[r.Target.Name]; ok && r.Full() && !prev.Full() && r.Start.Equal(prev.Start) {
			n++
		}
		last[r.Target.Name] = r
	}
	return n
}

// The node's phase comes from its name: the same name always gives the same
// schedule, and different names spread evenly.
func TestNodePhase(t *testing.T) {
	f1, g1 := NodePhase("node-0001")
	f2, g2 := NodePhase("node-0001")
	if f1 != f2 || g1 != g2 {
		t.Fatalf("NodePhase not deterministic: %v,%v then %v,%v", f1, g1, f2, g2)
	}
	const n, bins = 5000, 10
	var fast, full [bins]int
	for i := range n {
		f, g := NodePhase(fmt.Sprintf("node-%04d", i))
		if f < 0 || f >= 1 || g < 0 || g >= 1 {
			t.Fatalf("phase out of [0,1): %v, %v", f, g)
		}
		fast[int(f*bins)]++
		full[int(g*bins)]++
	}
	// 500 expected per bin; ±15% is over six standard deviations.
	for b := range bins {
		if fast[b] < 425 || fast[b] > 575 || full[b] < 425 || full[b] > 575 {
			t.Errorf("bin %d: %d fast, %d full phases of %d nodes, want 500±75 each", b, fast[b], full[b], n)
		}
	}
	// Without tiers the phase is the fast one, so the old loop gets it too.
	s := New(Config{Interval: 10 * time.Second, Node: "node-0001"}, echo, nil)
	if want := time.Duration(f1 * float64(10*time.Second)); s.phase != want {
		t.Errorf("untiered phase = %v, want %v from the node name", s.phase, want)
	}
}

// After a restart, the first attempt comes at the node's phase, not at
// start: two schedulers of the same node started at different moments dial
// at the same points of the absolute grid.
func TestFirstAttemptAtNodePhase(t *testing.T) {
	firstAt := func(start time.Time) time.Time {
		w := newWorld(start)
		w.scheduler(t, Config{Interval: 10 * time.Second, Budget: 50, FleetSize: 1000, Node: "node-0007"}, "p")
		if n := len(w.results("")); n != 0 {
			t.Fatalf("%d attempts at start, want none before the node's phase", n)
		}
		w.advance(t, 10*time.Second, 100*time.Millisecond, 1)
		rs := w.results("")
		if len(rs) != 1 {
			t.Fatalf("%d attempts in the first interval, want 1", len(rs))
		}
		return rs[0].Start
	}
	a := firstAt(time.Unix(1_000_000, 0))
	b := firstAt(time.Unix(1_000_003, 0))
	fast, _ := NodePhase("node-0007")
	grid := nextGrid(time.Unix(1_000_000, 0), 10*time.Second, at(fast, 10*time.Second))
	for _, got := range []time.Time{a, b} {
		// Up to 5% early, rounded up to the 100 ms steps of the fake clock.
		if got.After(grid.Add(100*time.Millisecond)) || got.Before(grid.Add(-600*time.Millisecond)) {
			t.Errorf("first attempt at %v, want within 500ms before the node's grid point %v", got, grid)
		}
	}
}

// When the fleet grows, the full interval grows with it at each path's next
// attempt, and the gaps between full attempts follow.
func TestFleetSizeChange(t *testing.T) {
	w := newWorld(time.Unix(1_000_000, 0))
	s := w.scheduler(t, Config{Interval: 10 * time.Second, Budget: 10, FleetSize: 40, Node: "node-3"}, "a", "b")
	if got := s.FullInterval(); got != 10*time.Second {
		t.Fatalf("FullInterval = %v, want 40 × 2 / 10 = 8s, raised to the 10s interval", got)
	}
	w.advance(t, 100*time.Second, time.Second, 2)
	// The first attempt may be connect-tier: the full grid's first point
	// may come after the fast grid's.
	if c, f := countTiers(w.results("a")); c > 1 || f < 9 {
		t.Errorf("path a: %d connect-tier and %d full attempts at a full interval equal to the interval, want at most 1 and ~10", c, f)
	}
	s.SetFleetSize(500)
	if got, want := s.FullInterval(), 100*time.Second; got != want {
		t.Fatalf("FullInterval after SetFleetSize(500) = %v, want %v", got, want)
	}
	if got := s.FleetSize(); got != 500 {
		t.Errorf("FleetSize = %d, want 500", got)
	}
	before := len(w.results("a"))
	w.advance(t, 1000*time.Second, time.Second, 2)
	var fulls []time.Time
	for _, r := range w.results("a")[before:] {
		if r.Full() {
			fulls = append(fulls, r.Start)
		}
	}
	if len(fulls) < 9 || len(fulls) > 11 {
		t.Fatalf("%d full attempts in 1000s at a 100s full interval, want 10±1", len(fulls))
	}
	for i := 1; i < len(fulls); i++ {
		// Full attempts ride the fast grid: 100 s, give or take one interval.
		if d := fulls[i].Sub(fulls[i-1]); d < 90*time.Second || d > 110*time.Second {
			t.Errorf("gap between full attempts %v, want 100s ± 10s", d)
		}
	}
}

func tiersOf(rs []dial.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s:%s", r.Tier, r.Reason))
	}
	return out
}
