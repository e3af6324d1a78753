package monitor_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// outageListener records what an OutageListener hears.
type outageListener struct {
	listener
	mu      sync.Mutex
	changes []monitor.PathChange
}

func (l *outageListener) PathOutageChanged(c monitor.PathChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

// flapClusterIP records: every path up at 0 s, then clusterip refused at
// 10 s and 20 s, up at 30 s, a connect_timeout blip at 40 s, up at 50 s,
// down again (connect_timeout) from 60 s. The monitor's clock moves with
// the results.
func flapClusterIP(f *fixture) {
	f.mon.SetTargets(targets, state.Uses{})
	for _, tg := range targets {
		f.mon.Record(result(tg, dial.ReasonOK, 0))
	}
	for i, reason := range []dial.Reason{dial.ReasonRefused, dial.ReasonRefused, dial.ReasonOK, dial.ReasonConnectTimeout, dial.ReasonOK, dial.ReasonConnectTimeout} {
		f.advance(10 * time.Second)
		f.mon.Record(result(clusterIP, reason, time.Duration(i+1)*10*time.Second))
	}
}

// TestStatusHistory: the report carries each path's outages, newest first,
// since when it is down, the hour's count, and the verdict's changes.
func TestStatusHistory(t *testing.T) {
	f := newFixture(t)
	flapClusterIP(f)
	f.advance(5 * time.Second)
	r := f.mon.Status(t.Context())

	p := r.Paths[0]
	start := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	end := func(s int) *time.Time { e := start(s); return &e }
	errOf := func(reason dial.Reason) string { return "connect: dial tcp " + clusterIP.Addr + ": " + string(reason) }
	want := []status.Outage{
		// The monitor's clock is an hour ahead of the results' (newFixture).
		{Start: start(60), Ongoing: true, DurationSeconds: time.Hour.Seconds() + 5, StartReason: "connect_timeout", StartError: errOf(dial.ReasonConnectTimeout), EndReason: "connect_timeout", AttemptsFailed: 1},
		{Start: start(40), End: end(50), DurationSeconds: 10, StartReason: "connect_timeout", StartError: errOf(dial.ReasonConnectTimeout), EndReason: "connect_timeout", AttemptsFailed: 1, Blip: true},
		{Start: start(10), End: end(30), DurationSeconds: 20, StartReason: "refused", StartError: errOf(dial.ReasonRefused), EndReason: "refused", AttemptsFailed: 2},
	}
	if diff := cmp.Diff(want, p.Outages); diff != "" {
		t.Errorf("clusterip outages (-want +got):\n%s", diff)
	}
	if p.DownSince == nil || !p.DownSince.Equal(start(60)) {
		t.Errorf("down_since = %v, want %v", p.DownSince, start(60))
	}
	// At the monitor's now, an hour after the results, only the ongoing
	// outage is within the hour.
	if p.OutagesLastHour != 1 {
		t.Errorf("outages_last_hour = %d, want 1", p.OutagesLastHour)
	}
	if len(r.Paths[1].Outages) != 0 || r.Paths[1].DownSince != nil {
		t.Errorf("podip, always up: %+v", r.Paths[1])
	}

	if r.History == nil || r.History.StartedAt == nil || !r.History.StartedAt.Equal(t0.Add(time.Hour)) || r.History.Source != "" {
		t.Fatalf("history = %+v, want kept by this process since the monitor began", r.History)
	}
	var changes []string
	for _, c := range r.History.VerdictChanges {
		changes = append(changes, fmt.Sprintf("+%v %s→%s (%s)", c.At.Sub(t0.Add(time.Hour)), c.From, c.To, c.Severity))
	}
	wantChanges := []string{ // newest first
		"+1m0s healthy→service_unreachable_from_host_network (critical)",
		"+50s service_unreachable_from_host_network→healthy (ok)",
		"+40s healthy→service_unreachable_from_host_network (critical)",
		"+30s service_unreachable_from_host_network→healthy (ok)",
		"+10s healthy→service_unreachable_from_host_network (critical)",
		"+0s unknown→healthy (ok)",
	}
	if diff := cmp.Diff(wantChanges, changes); diff != "" {
		t.Errorf("verdict changes (-want +got):\n%s", diff)
	}
	if len(p.Timelines) != 1 || p.Timelines[0].Window != status.WindowHour {
		t.Errorf("timelines %+v: want the hour's only, the monitor is younger than an hour", p.Timelines)
	}
}

// TestOutageListener: a listener that wants outages hears the outage with
// each change, and is not called twice for it.
func TestOutageListener(t *testing.T) {
	f := newFixture(t)
	ol := &outageListener{}
	f.mon.AddListener(ol)
	flapClusterIP(f)
	type heard struct {
		Old, New dial.Reason
		Back     time.Duration
		Blip     bool
		LastHour int
	}
	var got []heard
	for _, c := range ol.changes {
		if c.Path != dial.PathClusterIP {
			continue
		}
		h := heard{Old: c.Old, New: c.New, LastHour: c.OutagesLastHour}
		if d, ok := c.Back(); ok {
			h.Back, h.Blip = d, c.Outage.Blip
		}
		got = append(got, h)
	}
	want := []heard{
		{New: dial.ReasonOK},
		{Old: dial.ReasonOK, New: dial.ReasonRefused, LastHour: 1},
		{Old: dial.ReasonRefused, New: dial.ReasonOK, Back: 20 * time.Second, LastHour: 1},
		{Old: dial.ReasonOK, New: dial.ReasonConnectTimeout, LastHour: 2},
		{Old: dial.ReasonConnectTimeout, New: dial.ReasonOK, Back: 10 * time.Second, Blip: true, LastHour: 2},
		{Old: dial.ReasonOK, New: dial.ReasonConnectTimeout, LastHour: 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PathOutageChanged calls for clusterip (-want +got):\n%s", diff)
	}
	if paths, _ := ol.heard(); len(paths) != 0 {
		t.Errorf("PathChanged called %d times on an OutageListener, want 0", len(paths))
	}
	for _, l := range f.logLines(t) {
		if l.Msg == "path came back" && l.Path == dial.PathClusterIP && l.Was == "" {
			t.Errorf("path came back without what it was: %+v", l)
		}
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHistoryMemoryFlat records 100,000 attempts on five flapping paths
// (each down and up every few attempts, with three reasons in turn, over
// five and a half hours of the injected clock) through the monitor, as the
// scheduler does, and checks that the history stays within its bounds: 20
// outages per path, 20 verdict changes, and the live heap after 100,000
// attempts no larger than after 10,000 but for 64 KiB of noise. With -v it
// prints the figures (docs/performance.md, "The outage history").
func TestHistoryMemoryFlat(t *testing.T) {
	const attempts, every = 100_000, 200 * time.Millisecond
	base := heapInUse()
	var clock time.Time
	reg := prometheus.NewRegistry()
	store := state.New()
	store.SetMaxAttemptGap(5 * every)
	m, err := metrics.New(reg, store, metrics.Options{ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP})
	if err != nil {
		t.Fatal(err)
	}
	mon := monitor.New(monitor.Config{Node: "worker-1", Now: func() time.Time { return clock }}, store, m, slog.New(slog.DiscardHandler))
	paths := []dial.Target{clusterIP, podIP, webhook,
		{Name: dial.PathDNS, Addr: "sensor.stackrox.svc:443"}, {Name: dial.PathHostPort, Addr: "127.0.0.1:8443"}}
	mon.SetTargets(paths, state.Uses{})
	reasons := []dial.Reason{dial.ReasonConnectTimeout, dial.ReasonRefused, dial.ReasonCheckFailed}
	record := func(i int) {
		clock = t0.Add(time.Duration(i) * every)
		tg := paths[i%len(paths)]
		n := i / len(paths)
		period := 3 + i%len(paths)*2 // 3, 5, 7, 9, 11 attempts down, as many up
		reason := dial.ReasonOK
		if n/period%2 == 1 {
			reason = reasons[n/(2*period)%len(reasons)]
		}
		r := result(tg, reason, clock.Sub(t0))
		if i%3 == 0 {
			r.Tier = dial.TierConnect
		}
		mon.Record(r)
	}
	var at10k uint64
	for i := range attempts {
		record(i)
		if i+1 == 10_000 {
			at10k = heapInUse()
		}
	}
	at100k := heapInUse()
	r := mon.Status(t.Context())
	total := 0
	for _, p := range r.Paths {
		if len(p.Outages) != state.OutageLimit {
			t.Errorf("%s keeps %d outages, want %d", p.Name, len(p.Outages), state.OutageLimit)
		}
		total += p.OutagesLastHour
	}
	if n := len(r.History.VerdictChanges); n != monitor.VerdictChangeLimit {
		t.Errorf("%d verdict changes kept, want %d", n, monitor.VerdictChangeLimit)
	}
	if r.Verdict.Name == verdict.Unknown {
		t.Error("verdict still unknown after 100,000 attempts")
	}
	growth := int64(at100k) - int64(at10k)
	t.Logf("%d attempts on %d flapping paths (%d outages in the last hour of the clock): live heap %.1f KiB above the start after 10,000, %.1f KiB after 100,000 (%+.1f KiB)",
		attempts, len(paths), total, kib(int64(at10k)-int64(base)), kib(int64(at100k)-int64(base)), kib(growth))
	if growth > 64<<10 {
		t.Errorf("the live heap grew by %.1f KiB from 10,000 to 100,000 attempts, want it flat (at most 64 KiB of noise)", kib(growth))
	}
	runtime.KeepAlive(mon)
}

func kib(b int64) float64 { return float64(b) / 1024 }
