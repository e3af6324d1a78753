package scheduler

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects reports and lets a test wait for them.
type recorder struct {
	mu   sync.Mutex
	got  []dial.Result
	wake chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 100)} }

func (r *recorder) report(res dial.Result) {
	r.mu.Lock()
	r.got = append(r.got, res)
	r.mu.Unlock()
	r.wake <- struct{}{}
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-r.wake:
		case <-time.After(5 * time.Second):
			t.Fatalf("waited for report %d of %d", i+1, n)
		}
	}
}

func (r *recorder) paths() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, g := range r.got {
		m[g.Target.Name+"="+g.Target.Addr]++
	}
	return m
}

func echo(_ context.Context, t dial.Target) dial.Result { return dial.Result{Target: t} }

// waitTimers waits until n timers are pending on the fake clock.
func waitTimers(t *testing.T, c *clocktesting.FakeClock, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.HasWaiters() || countWaiters(c) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d timers", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func countWaiters(c *clocktesting.FakeClock) int { return c.Waiters() }

func TestFirstRoundIsImmediateThenEveryInterval(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	rec := newRecorder()
	s := New(Config{Interval: 10 * time.Second, Clock: clk, Rand: rand.New(rand.NewPCG(1, 2))}, echo, rec.report)
	s.SetTargets([]dial.Target{{Name: "a", Addr: "x:1"}, {Name: "b", Addr: "y:1"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	rec.wait(t, 2) // the first round needs no clock movement
	waitTimers(t, clk, 2)
	// Within 2 intervals (phase + jitter) each path must have gone again exactly once more.
	clk.Step(11 * time.Second)
	waitTimers(t, clk, 2)
	clk.Step(11 * time.Second)
	rec.wait(t, 2)
	waitTimers(t, clk, 2)
	cancel()
	<-done
	noPanics(t, s)
	got := rec.paths()
	for _, p := range []string{"a=x:1", "b=y:1"} {
		if got[p] < 2 || got[p] > 3 {
			t.Errorf("%s probed %d times over ~22s at a 10s interval, want 2 or 3", p, got[p])
		}
	}
}

func TestEarlyStaysInBounds(t *testing.T) {
	s := New(Config{Interval: 10 * time.Second, Jitter: 0.1, Rand: rand.New(rand.NewPCG(3, 4))}, echo, func(dial.Result) {})
	for range 1000 {
		if e := s.early(); e < 0 || e > time.Second {
			t.Fatalf("early %v outside [0, 10%% of 10s]", e)
		}
	}
	if d := New(Config{Interval: 10 * time.Second}, echo, nil).cfg.Jitter; d != 0.05 {
		t.Errorf("default Jitter = %v, want 0.05", d)
	}
}

func TestPhaseDiffersBetweenProcesses(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range uint64(20) {
		s := New(Config{Interval: 10 * time.Second, Rand: rand.New(rand.NewPCG(i, i))}, echo, nil)
		if s.phase < 0 || s.phase >= 10*time.Second {
			t.Fatalf("phase %v outside [0, interval)", s.phase)
		}
		seen[s.phase] = true
	}
	if len(seen) < 15 {
		t.Errorf("only %d distinct phases among 20 processes", len(seen))
	}
}

func TestAtMostOneAttemptInFlightPerPath(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	release := make(chan struct{})
	probe := func(ctx context.Context, tg dial.Target) dial.Result {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		inFlight.Add(-1)
		return dial.Result{Target: tg}
	}
	rec := newRecorder()
	// A real clock and an interval far shorter than the attempt: the loop
	// must still wait for the attempt before starting the next.
	s := New(Config{Interval: time.Millisecond}, probe, rec.report)
	s.SetTargets([]dial.Target{{Name: "slow", Addr: "x:1"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for range 5 {
		release <- struct{}{}
		rec.wait(t, 1)
	}
	cancel()
	<-done
	noPanics(t, s)
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("max attempts in flight = %d, want 1", m)
	}
}

func TestSetTargetsReplacesPaths(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	rec := newRecorder()
	s := New(Config{Interval: 10 * time.Second, Clock: clk}, echo, rec.report)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	s.SetTargets([]dial.Target{{Name: "keep", Addr: "k:1"}, {Name: "move", Addr: "old:1"}, {Name: "drop", Addr: "d:1"}})
	rec.wait(t, 3)
	waitTimers(t, clk, 3)
	s.SetTargets([]dial.Target{{Name: "keep", Addr: "k:1"}, {Name: "move", Addr: "new:1"}, {Name: "add", Addr: "a:1"}})
	rec.wait(t, 2) // move (new address) and add start at once; keep waits for its slot
	cancel()
	<-done
	noPanics(t, s)
	want := map[string]int{"keep=k:1": 1, "move=old:1": 1, "drop=d:1": 1, "move=new:1": 1, "add=a:1": 1}
	if diff := cmp.Diff(want, rec.paths()); diff != "" {
		t.Errorf("attempts by path (-want +got):\n%s", diff)
	}
}

func TestAbandonedAttemptIsNotReported(t *testing.T) {
	started := make(chan struct{}, 1)
	probe := func(ctx context.Context, tg dial.Target) dial.Result {
		started <- struct{}{}
		<-ctx.Done()
		return dial.Result{Target: tg}
	}
	var reports atomic.Int32
	s := New(Config{Interval: time.Second}, probe, func(dial.Result) { reports.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	s.SetTargets([]dial.Target{{Name: "p", Addr: "a:1"}})
	<-started
	s.SetTargets(nil)
	cancel()
	<-done
	noPanics(t, s)
	if n := reports.Load(); n != 0 {
		t.Errorf("%d reports from an abandoned attempt, want 0", n)
	}
}
