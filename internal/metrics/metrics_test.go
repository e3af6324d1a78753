package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

var t0 = time.Unix(1_800_000_000, 0)

// fixedVerdict is a VerdictSource whose verdict never changes.
type fixedVerdict string

func (v fixedVerdict) VerdictName() string { return string(v) }

func fixture(t *testing.T) (*prometheus.Registry, *Metrics, *state.Store) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	store := state.New()
	m, err := New(reg, store, Options{ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(NewVerdictCollector(fixedVerdict("service_unreachable_from_host_network")))
	targets := []dial.Target{
		{Name: "clusterip", Addr: "172.30.0.10:443"},
		{Name: "hostport", Addr: "127.0.0.1:8443"},
		{Name: "webhook", Addr: "172.30.0.11:443", ServerName: "sensor-webhook.stackrox.svc"},
	}
	store.SetTargets(targets, state.RelayOnHostNetwork("clusterip"))
	m.SetPaths([]string{"clusterip", "hostport", "webhook"})
	timeout := dial.Result{
		Target: targets[0], Check: dial.CheckHTTP, Start: t0, Duration: 5 * time.Second,
		Reason: dial.ReasonConnectTimeout, FailedPhase: dial.PhaseConnect,
		Err:    &dial.PhaseError{Phase: dial.PhaseConnect, Err: errors.New("dial tcp 172.30.0.10:443: i/o timeout")},
		Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: 5 * time.Second}},
	}
	ok := dial.Result{
		Target: targets[1], ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP, Start: t0, Duration: 3 * time.Millisecond,
		Reason: dial.ReasonOK,
		Phases: []dial.PhaseTiming{
			{Phase: dial.PhaseConnect, Duration: 200 * time.Microsecond},
			{Phase: dial.PhaseTLS, Duration: 2 * time.Millisecond},
			{Phase: dial.PhaseCheck, Duration: 800 * time.Microsecond},
		},
		TLS: &dial.TLSFacts{Verified: true, NotAfter: time.Unix(1_900_000_000, 0)},
	}
	for _, r := range []dial.Result{timeout, timeout, ok} {
		store.Record(r)
		m.Observe(r)
	}
	return reg, m, store
}

func TestExpositionGolden(t *testing.T) {
	reg, _, _ := fixture(t)
	testsupport.GoldenExposition(t, reg, "testdata/exposition.prom",
		"sensorprobe_path_up", "sensorprobe_probe_attempts_total",
		"sensorprobe_connect_duration_seconds", "sensorprobe_phase_duration_seconds", "sensorprobe_last_success_timestamp_seconds",
		"sensorprobe_tls_cert_not_after_timestamp_seconds", "sensorprobe_tls_cert_verified",
		"sensorprobe_path_info", "sensorprobe_verdict")
}

func TestLint(t *testing.T) {
	reg, _, _ := fixture(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestBuildInfo(t *testing.T) {
	reg, _, _ := fixture(t)
	n, err := testutil.GatherAndCount(reg, "sensorprobe_build_info")
	if err != nil || n != 1 {
		t.Errorf("sensorprobe_build_info series = %d (%v), want 1", n, err)
	}
}

// TestRemovedPathVanishes checks that a path no longer probed leaves
// /metrics entirely: state gauges and event series alike.
func TestRemovedPathVanishes(t *testing.T) {
	reg, m, store := fixture(t)
	store.SetTargets([]dial.Target{{Name: "hostport", Addr: "127.0.0.1:8443"}}, state.Uses{})
	m.SetPaths([]string{"hostport"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "path" && l.GetValue() != "hostport" {
					t.Errorf("%s still has path=%q", mf.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestPreinitialisedReasons checks that ok and connect_timeout exist at 0
// before their first event, so rate() and increase() see the first timeout,
// and that no other reason exists before it happens.
func TestPreinitialisedReasons(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, state.New(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetPaths([]string{"dns"})
	for _, r := range []dial.Reason{dial.ReasonOK, dial.ReasonConnectTimeout} {
		if got := testutil.ToFloat64(m.attempts.WithLabelValues("dns", string(r))); got != 0 {
			t.Errorf("attempts{reason=%q} = %v, want 0", r, got)
		}
	}
	if n, _ := testutil.GatherAndCount(reg, "sensorprobe_probe_attempts_total"); n != 2 {
		t.Errorf("attempt series before any attempt = %d, want 2 (ok, connect_timeout)", n)
	}
	m.Observe(dial.Result{Target: dial.Target{Name: "dns"}, Reason: dial.ReasonRefused, FailedPhase: dial.PhaseConnect,
		Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: time.Millisecond}}})
	if n, _ := testutil.GatherAndCount(reg, "sensorprobe_probe_attempts_total"); n != 3 {
		t.Errorf("attempt series after a refused attempt = %d, want 3", n)
	}
}

// TestConnectHistogramObservesEveryConnect checks that every result with a
// connect phase is observed, failed or not, and one without (a name that did
// not resolve) is not.
func TestConnectHistogramObservesEveryConnect(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, state.New(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetPaths([]string{"clusterip"})
	tgt := dial.Target{Name: "clusterip"}
	for _, r := range []dial.Result{
		{Target: tgt, Reason: dial.ReasonOK, Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: time.Millisecond}}},
		{Target: tgt, Reason: dial.ReasonConnectTimeout, FailedPhase: dial.PhaseConnect, Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: 5 * time.Second}}},
		{Target: tgt, Reason: dial.ReasonDNSError, FailedPhase: dial.PhaseResolve, Phases: []dial.PhaseTiming{{Phase: dial.PhaseResolve, Duration: time.Millisecond}}},
	} {
		m.Observe(r)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sensorprobe_connect_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if got := h.GetSampleCount(); got != 2 {
			t.Errorf("connect observations = %d, want 2", got)
		}
		if got := h.GetSampleSum(); got != 5.001 {
			t.Errorf("connect sum = %v, want 5.001", got)
		}
		if h.GetSchema() == 0 && len(h.GetPositiveSpan()) == 0 {
			t.Error("no native histogram buckets")
		}
		return
	}
	t.Fatal("no sensorprobe_connect_duration_seconds")
}

// TestObserveIgnoresRemovedPath checks that a result arriving after its path
// was removed does not bring the path's series back.
func TestObserveIgnoresRemovedPath(t *testing.T) {
	reg, m, _ := fixture(t)
	m.SetPaths([]string{"hostport"})
	m.Observe(dial.Result{Target: dial.Target{Name: "clusterip"}, Reason: dial.ReasonConnectTimeout, FailedPhase: dial.PhaseConnect,
		Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: time.Second}}})
	for _, name := range []string{"sensorprobe_probe_attempts_total", "sensorprobe_connect_duration_seconds"} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, metric := range mf.GetMetric() {
				for _, l := range metric.GetLabel() {
					if l.GetName() == "path" && l.GetValue() == "clusterip" {
						t.Errorf("%s has a series for the removed path clusterip", name)
					}
				}
			}
		}
	}
}
