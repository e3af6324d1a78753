package state_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// The cost of Record with the history (docs/performance.md, "The outage
// history"): five paths, an attempt every 200 ms of the results' clock,
// flapping (each path down and up every 3 to 11 attempts) or steady.

func fpTargets() []dial.Target {
	return []dial.Target{{Name: "clusterip", Addr: "172.30.0.10:443"}, {Name: "dns", Addr: "sensor.stackrox.svc:443"},
		{Name: "hostport", Addr: "127.0.0.1:8443"}, {Name: "podip", Addr: "10.0.0.5:8443"}, {Name: "webhook", Addr: "172.30.0.11:443"}}
}

func fpResult(tg dial.Target, i int) dial.Result {
	start := time.Unix(1_800_000_000, 0).Add(time.Duration(i) * 200 * time.Millisecond)
	r := dial.Result{Target: tg, Start: start, Duration: time.Millisecond, Reason: dial.ReasonOK}
	if (i/5)/(3+i%5*2)%2 == 1 {
		r.Reason, r.FailedPhase = dial.ReasonConnectTimeout, dial.PhaseConnect
		r.Err = errors.New("dial tcp: i/o timeout")
	}
	return r
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStoreFootprint prints (with -v) what a Store of five paths holds
// after 100,000 attempts of BenchmarkRecordFlapping's pattern; it asserts
// nothing (docs/performance.md, "The outage history").
func TestStoreFootprint(t *testing.T) {
	base := liveHeap()
	s := state.New()
	tgs := fpTargets()
	s.SetTargets(tgs, state.Uses{})
	for i := range 100_000 {
		s.Record(fpResult(tgs[i%5], i))
	}
	t.Logf("a store of 5 paths after 100,000 attempts: %.1f KiB", float64(int64(liveHeap())-int64(base))/1024)
	runtime.KeepAlive(s)
}

// BenchmarkRecordFlapping records results of five flapping paths.
func BenchmarkRecordFlapping(b *testing.B) {
	s := state.New()
	tgs := fpTargets()
	s.SetTargets(tgs, state.Uses{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Record(fpResult(tgs[i%5], i))
	}
}

// BenchmarkRecordSteady records results of five paths that stay up.
func BenchmarkRecordSteady(b *testing.B) {
	s := state.New()
	tgs := fpTargets()
	s.SetTargets(tgs, state.Uses{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := dial.Result{Target: tgs[i%5], Start: time.Unix(1_800_000_000, 0).Add(time.Duration(i) * 200 * time.Millisecond), Duration: time.Millisecond, Reason: dial.ReasonOK}
		s.Record(r)
	}
}
