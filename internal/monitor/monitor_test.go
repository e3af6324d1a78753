package monitor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

var t0 = time.Unix(1_800_000_000, 0)

var (
	clusterIP = dial.Target{Name: dial.PathClusterIP, Addr: "172.30.0.10:443"}
	podIP     = dial.Target{Name: dial.PathPodIP, Addr: "10.128.0.5:8443"}
	webhook   = dial.Target{Name: dial.PathWebhook, Addr: "172.30.0.11:443", ServerName: "sensor-webhook.stackrox.svc"}
	targets   = []dial.Target{clusterIP, podIP, webhook}
)

// result returns a result for target with reason, starting at t0+at.
func result(target dial.Target, reason dial.Reason, at time.Duration) dial.Result {
	r := dial.Result{
		Target: target, Check: dial.CheckHTTP, Start: t0.Add(at), Duration: 3 * time.Millisecond,
		Reason: reason,
		Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: time.Millisecond}},
	}
	if reason != dial.ReasonOK {
		r.FailedPhase = dial.PhaseConnect
		r.Err = &dial.PhaseError{Phase: dial.PhaseConnect, Err: fmt.Errorf("dial tcp %s: %s", target.Addr, reason)}
	}
	return r
}

// pathEvent is one PathChanged call.
type pathEvent struct {
	Path     string
	Old, New dial.Reason
	Err      string
}

// verdictEvent is one VerdictChanged call.
type verdictEvent struct {
	Old, New   string
	Underlying string
}

// listener records what a Listener hears.
type listener struct {
	mu       sync.Mutex
	paths    []pathEvent
	verdicts []verdictEvent
}

func (l *listener) PathChanged(path string, old, new dial.Reason, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := pathEvent{Path: path, Old: old, New: new}
	if err != nil {
		e.Err = err.Error()
	}
	l.paths = append(l.paths, e)
}

func (l *listener) VerdictChanged(old, new verdict.Verdict) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.verdicts = append(l.verdicts, verdictEvent{Old: old.Name, New: new.Name, Underlying: new.Underlying})
}

func (l *listener) heard() ([]pathEvent, []verdictEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pathEvent(nil), l.paths...), append([]verdictEvent(nil), l.verdicts...)
}

type fixture struct {
	reg   *prometheus.Registry
	store *state.Store
	mon   *monitor.Monitor
	logs  *testsupport.LockedBuffer
	heard *listener
	// elapsed moves the monitor's clock, which starts at t0 + 1 hour.
	elapsed atomic.Int64
}

// advance moves the monitor's clock by d.
func (f *fixture) advance(d time.Duration) { f.elapsed.Add(int64(d)) }

// newFixture builds a Monitor the way app.NewEngine does, with a JSON
// logger writing into a buffer and a recording listener.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), store: state.New(), logs: &testsupport.LockedBuffer{}, heard: &listener{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := metrics.New(f.reg, f.store, metrics.Options{ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP})
	if err != nil {
		t.Fatal(err)
	}
	mon := monitor.New(monitor.Config{
		Node: "worker-1", Version: "1.2.3-test",
		Now: func() time.Time { return t0.Add(time.Hour + time.Duration(f.elapsed.Load())) },
	}, f.store, m, logger)
	f.reg.MustRegister(metrics.NewVerdictCollector(mon))
	mon.AddListener(f.heard)
	f.mon = mon
	return f
}

// logLine is the part of a JSON log record the tests look at.
type logLine struct {
	Level, Msg    string
	Path, Reason  string
	Was           string
	Err           string
	From, To      string
	HasCause, Fix bool
}

// logLines parses the JSON log and returns its records.
func (f *fixture) logLines(t *testing.T) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(f.logs.Bytes()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		str := func(k string) string {
			s, _ := rec[k].(string)
			return s
		}
		out = append(out, logLine{
			Level: str("level"), Msg: str("msg"),
			Path: str("path"), Reason: str("reason"), Was: str("was"), Err: str("err"),
			From: str("from"), To: str("to"),
			HasCause: str("cause") != "", Fix: str("fix") != "",
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// attempts returns the value of sensorprobe_probe_attempts_total{path,reason}
// and whether the series exists.
func attempts(t *testing.T, reg prometheus.Gatherer, path string, reason dial.Reason) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sensorprobe_probe_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["path"] == path && labels["reason"] == string(reason) {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// verdictMetric returns the name of the verdict whose sensorprobe_verdict series is 1.
func verdictMetric(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var on []string
	for _, mf := range mfs {
		if mf.GetName() != "sensorprobe_verdict" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge().GetValue() == 1 {
				on = append(on, m.GetLabel()[0].GetValue())
			}
		}
	}
	if len(on) != 1 {
		t.Fatalf("sensorprobe_verdict is 1 for %v, want exactly one verdict", on)
	}
	return on[0]
}

func TestVerdictUnknownUntilEveryPathAnswered(t *testing.T) {
	tests := []struct {
		name    string
		results []dial.Result // one per path; the last completes the round
		want    string
	}{
		{
			name: "all up",
			results: []dial.Result{
				result(clusterIP, dial.ReasonOK, 0), result(podIP, dial.ReasonOK, 0), result(webhook, dial.ReasonOK, 0),
			},
			want: verdict.Healthy,
		},
		{
			// clusterip alone would be "degraded"; with all three it is a routing problem.
			name: "first answer is a failure",
			results: []dial.Result{
				result(clusterIP, dial.ReasonRefused, 0), result(podIP, dial.ReasonOK, 0), result(webhook, dial.ReasonOK, 0),
			},
			want: verdict.ServiceUnreachable,
		},
		{
			name: "the same path answering twice does not complete the round",
			results: []dial.Result{
				result(clusterIP, dial.ReasonOK, 0), result(clusterIP, dial.ReasonOK, time.Second),
				result(podIP, dial.ReasonOK, 0), result(webhook, dial.ReasonConnectTimeout, 0),
			},
			want: verdict.Degraded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mon.SetTargets(targets, state.Uses{})
			if got := f.mon.Verdict().Name; got != verdict.Unknown {
				t.Fatalf("verdict before any result = %q, want unknown", got)
			}
			last := len(tt.results) - 1
			for i, r := range tt.results[:last] {
				f.mon.Record(r)
				if got := f.mon.Verdict().Name; got != verdict.Unknown {
					t.Errorf("verdict after result %d (%s %s) = %q, want unknown until every path answered", i, r.Target.Name, r.Reason, got)
				}
				if got := verdictMetric(t, f.reg); got != verdict.Unknown {
					t.Errorf("sensorprobe_verdict after result %d = %q, want unknown", i, got)
				}
			}
			f.mon.Record(tt.results[last])
			if got := f.mon.Verdict().Name; got != tt.want {
				t.Errorf("verdict after every path answered = %q, want %q", got, tt.want)
			}
			if got := verdictMetric(t, f.reg); got != tt.want {
				t.Errorf("sensorprobe_verdict = %q, want %q", got, tt.want)
			}
			_, verdicts := f.heard.heard()
			if diff := cmp.Diff([]verdictEvent{{Old: verdict.Unknown, New: tt.want}}, verdicts); diff != "" {
				t.Errorf("VerdictChanged calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTransitionsOncePerChange drives clusterip through up, a run of
// failures, a new failure reason and back, and checks that listeners hear
// and the log records each transition once, while metrics count every attempt.
func TestTransitionsOncePerChange(t *testing.T) {
	f := newFixture(t)
	f.mon.SetTargets(targets, state.Uses{})
	for _, r := range []dial.Result{
		result(clusterIP, dial.ReasonOK, 0),
		result(podIP, dial.ReasonOK, 0),
		result(webhook, dial.ReasonOK, 0),
		result(clusterIP, dial.ReasonRefused, 1*time.Minute),
		result(podIP, dial.ReasonOK, 1*time.Minute),
		result(clusterIP, dial.ReasonRefused, 2*time.Minute),
		result(clusterIP, dial.ReasonRefused, 3*time.Minute),
		result(clusterIP, dial.ReasonConnectTimeout, 4*time.Minute), // still service_unreachable
		result(clusterIP, dial.ReasonConnectTimeout, 5*time.Minute),
		result(clusterIP, dial.ReasonOK, 6*time.Minute),
		result(clusterIP, dial.ReasonOK, 7*time.Minute),
		result(webhook, dial.ReasonOK, 7*time.Minute),
	} {
		f.mon.Record(r)
	}

	paths, verdicts := f.heard.heard()
	wantPaths := []pathEvent{
		{Path: dial.PathClusterIP, New: dial.ReasonOK},
		{Path: dial.PathPodIP, New: dial.ReasonOK},
		{Path: dial.PathWebhook, New: dial.ReasonOK},
		{Path: dial.PathClusterIP, Old: dial.ReasonOK, New: dial.ReasonRefused, Err: "connect: dial tcp 172.30.0.10:443: refused"},
		{Path: dial.PathClusterIP, Old: dial.ReasonRefused, New: dial.ReasonConnectTimeout, Err: "connect: dial tcp 172.30.0.10:443: connect_timeout"},
		{Path: dial.PathClusterIP, Old: dial.ReasonConnectTimeout, New: dial.ReasonOK},
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("PathChanged calls (-want +got):\n%s", diff)
	}
	wantVerdicts := []verdictEvent{
		{Old: verdict.Unknown, New: verdict.Healthy},
		{Old: verdict.Healthy, New: verdict.ServiceUnreachable},
		{Old: verdict.ServiceUnreachable, New: verdict.Healthy},
	}
	if diff := cmp.Diff(wantVerdicts, verdicts); diff != "" {
		t.Errorf("VerdictChanged calls (-want +got):\n%s", diff)
	}

	wantLogs := []logLine{
		{Level: "INFO", Msg: "path up", Path: dial.PathClusterIP, Reason: "ok"},
		{Level: "INFO", Msg: "path up", Path: dial.PathPodIP, Reason: "ok"},
		{Level: "INFO", Msg: "path up", Path: dial.PathWebhook, Reason: "ok"},
		{Level: "INFO", Msg: "verdict changed", From: verdict.Unknown, To: verdict.Healthy, HasCause: true, Fix: true},
		{Level: "WARN", Msg: "path down", Path: dial.PathClusterIP, Reason: "refused", Was: "ok", Err: "connect: dial tcp 172.30.0.10:443: refused"},
		{Level: "WARN", Msg: "verdict changed", From: verdict.Healthy, To: verdict.ServiceUnreachable, HasCause: true, Fix: true},
		{Level: "WARN", Msg: "path down", Path: dial.PathClusterIP, Reason: "connect_timeout", Was: "refused", Err: "connect: dial tcp 172.30.0.10:443: connect_timeout"},
		{Level: "INFO", Msg: "path came back", Path: dial.PathClusterIP, Reason: "ok", Was: "connect_timeout"},
		{Level: "INFO", Msg: "verdict changed", From: verdict.ServiceUnreachable, To: verdict.Healthy, HasCause: true, Fix: true},
	}
	if diff := cmp.Diff(wantLogs, f.logLines(t)); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}

	// Every attempt is counted, repeated failures included.
	for _, c := range []struct {
		path   string
		reason dial.Reason
		want   float64
	}{
		{dial.PathClusterIP, dial.ReasonOK, 3},
		{dial.PathClusterIP, dial.ReasonRefused, 3},
		{dial.PathClusterIP, dial.ReasonConnectTimeout, 2},
		{dial.PathPodIP, dial.ReasonOK, 2},
		{dial.PathWebhook, dial.ReasonOK, 2},
	} {
		got, ok := attempts(t, f.reg, c.path, c.reason)
		if !ok || got != c.want {
			t.Errorf("sensorprobe_probe_attempts_total{path=%q,reason=%q} = %v (exists %v), want %v", c.path, c.reason, got, ok, c.want)
		}
	}
	// A reason never seen is not exported (only ok and connect_timeout are pre-initialised).
	if got, ok := attempts(t, f.reg, dial.PathClusterIP, dial.ReasonDNSError); ok {
		t.Errorf("sensorprobe_probe_attempts_total{path=%q,reason=%q} = %v, want no series", dial.PathClusterIP, dial.ReasonDNSError, got)
	}
}

// TestStaleResultIgnored reports a result whose path was removed or
// retargeted while the attempt ran: it must reach neither the state, the
// metrics, the listeners, the log nor the verdict.
func TestStaleResultIgnored(t *testing.T) {
	movedClusterIP := dial.Target{Name: dial.PathClusterIP, Addr: "172.30.0.99:443"}
	tests := []struct {
		name      string
		after     []dial.Target // the targets set while the attempt ran
		stale     dial.Result
		wantCount int // sensorprobe_probe_attempts_total series after the stale result
	}{
		{
			name:      "path removed",
			after:     []dial.Target{clusterIP, webhook},
			stale:     result(podIP, dial.ReasonRefused, time.Minute),
			wantCount: 2 * len(metrics.PreinitialisedReasons),
		},
		{
			name:      "address changed",
			after:     []dial.Target{movedClusterIP, podIP, webhook},
			stale:     result(clusterIP, dial.ReasonRefused, time.Minute),
			wantCount: 3 * len(metrics.PreinitialisedReasons),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mon.SetTargets(targets, state.Uses{})
			for _, target := range targets {
				f.mon.Record(result(target, dial.ReasonOK, 0))
			}
			f.mon.SetTargets(tt.after, state.Uses{})
			pathsBefore, verdictsBefore := f.heard.heard()
			logsBefore := len(f.logLines(t))
			verdictBefore := f.mon.Verdict()

			f.mon.Record(tt.stale)

			if got := testutil.CollectAndCount(f.reg, "sensorprobe_probe_attempts_total"); got != tt.wantCount {
				t.Errorf("sensorprobe_probe_attempts_total has %d series, want %d", got, tt.wantCount)
			}
			got, exists := attempts(t, f.reg, tt.stale.Target.Name, tt.stale.Reason)
			switch {
			case tt.stale.Target.Name == dial.PathPodIP && exists:
				t.Errorf("attempts of the removed path %s exist (value %v), want no series", tt.stale.Target.Name, got)
			case got != 0:
				t.Errorf("attempts{path=%q,reason=%q} = %v, want 0", tt.stale.Target.Name, tt.stale.Reason, got)
			}
			paths, verdicts := f.heard.heard()
			if diff := cmp.Diff(pathsBefore, paths); diff != "" {
				t.Errorf("PathChanged calls (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(verdictsBefore, verdicts); diff != "" {
				t.Errorf("VerdictChanged calls (-before +after):\n%s", diff)
			}
			if lines := f.logLines(t); len(lines) != logsBefore {
				t.Errorf("log grew by %v for a stale result", lines[logsBefore:])
			}
			if diff := cmp.Diff(verdictBefore, f.mon.Verdict()); diff != "" {
				t.Errorf("verdict (-before +after):\n%s", diff)
			}
			for _, p := range f.store.Snapshot() {
				if p.Latest != nil && p.Latest.Reason != dial.ReasonOK {
					t.Errorf("store recorded the stale result on %s: %s", p.Target.Name, p.Latest.Reason)
				}
			}
		})
	}
}

func TestSetTargetsLogsRemovedPaths(t *testing.T) {
	f := newFixture(t)
	f.mon.SetTargets(targets, state.Uses{})
	f.mon.SetTargets([]dial.Target{podIP}, state.Uses{})
	var got []string
	for _, l := range f.logLines(t) {
		if l.Msg == "path no longer probed" {
			got = append(got, l.Path)
		}
	}
	if diff := cmp.Diff([]string{dial.PathClusterIP, dial.PathWebhook}, got); diff != "" {
		t.Errorf(`"path no longer probed" lines (-want +got):\n%s`, diff)
	}
	if got, want := testutil.CollectAndCount(f.reg, "sensorprobe_probe_attempts_total"), len(metrics.PreinitialisedReasons); got != want {
		t.Errorf("sensorprobe_probe_attempts_total has %d series, want %d (podip only)", got, want)
	}
}

// vsockFacts returns VSOCK facts that hold only the verdict's input v.
func vsockFacts(v verdict.VSOCK) *monitor.VSOCKFacts { return &monitor.VSOCKFacts{VSOCK: v} }

func TestStatus(t *testing.T) {
	onNode := false
	vs := &monitor.VSOCKFacts{
		VSOCK:     verdict.VSOCK{RelayListening: true, RelayConnections: 1, ConnectionsRecent: 2},
		RelayPort: 818, VSOCKDevice: true, PeerCIDs: 1,
	}
	cl := &monitor.ClusterFacts{
		Cluster:     verdict.Cluster{SensorOnThisNode: &onNode, SensorNode: "worker-2"},
		DiscoveryUp: true, SensorPod: "stackrox/sensor-abc", RelayPath: dial.PathPodIP,
	}
	// What the report shows of them.
	vsReport := &status.VSOCK{RelayPort: 818, VSOCKDevice: true, RelayListening: true, RelayConnections: 1, ConnectionsRecent: 2, PeerCIDs: 1, Evidence: "socket dumps and relay log"}
	clReport := &status.Kubernetes{DiscoveryUp: true, SensorOnThisNode: &onNode, SensorPod: "stackrox/sensor-abc", SensorNode: "worker-2", RelayPath: dial.PathPodIP}

	type summary struct {
		Node, Version string
		GeneratedAt   time.Time
		Verdict       string
		Paths         []string
		States        []string
		VSOCK         *status.VSOCK
		Kubernetes    *status.Kubernetes
	}
	tests := []struct {
		name  string
		facts bool
		want  summary
	}{
		{
			name: "without facts",
			want: summary{
				Node: "worker-1", Version: "1.2.3-test", GeneratedAt: t0.Add(time.Hour), Verdict: verdict.Healthy,
				Paths:  []string{dial.PathClusterIP, dial.PathPodIP, dial.PathWebhook},
				States: []string{status.StateUp, status.StateUp, status.StatePending},
			},
		},
		{
			name:  "with VSOCK and Kubernetes facts",
			facts: true,
			want: summary{
				Node: "worker-1", Version: "1.2.3-test", GeneratedAt: t0.Add(time.Hour), Verdict: verdict.Healthy,
				Paths:  []string{dial.PathClusterIP, dial.PathPodIP, dial.PathWebhook},
				States: []string{status.StateUp, status.StateUp, status.StatePending},
				VSOCK:  vsReport, Kubernetes: clReport,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.facts {
				f.mon.SetFacts(func() monitor.Facts { return monitor.Facts{VSOCK: vs, Cluster: cl} })
			}
			f.mon.SetTargets([]dial.Target{clusterIP, podIP}, state.Uses{})
			f.mon.Record(result(clusterIP, dial.ReasonOK, 0))
			f.mon.Record(result(podIP, dial.ReasonOK, 0))
			// A path added after the first round is pending in the report.
			f.mon.SetTargets(targets, state.Uses{})

			r := f.mon.Status(t.Context())
			got := summary{
				Node: r.Node, Version: r.Version, GeneratedAt: r.GeneratedAt, Verdict: r.Verdict.Name,
				VSOCK: r.VSOCK, Kubernetes: r.Kubernetes,
			}
			for _, p := range r.Paths {
				got.Paths = append(got.Paths, p.Name)
				got.States = append(got.States, p.State)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("status report (-want +got):\n%s", diff)
			}
			if r.SchemaVersion != status.SchemaVersion {
				t.Errorf("SchemaVersion = %d, want %d", r.SchemaVersion, status.SchemaVersion)
			}
		})
	}
}

func TestEscalationThroughFacts(t *testing.T) {
	// Every case probes the same results: clusterip refused, podip and
	// webhook up, which on their own are service_unreachable.
	tests := []struct {
		name           string
		relay          string      // the host-network relay's path given to SetTargets
		uses           *state.Uses // instead of relay
		vsock          *monitor.VSOCKFacts
		cluster        *monitor.ClusterFacts
		want           string
		wantUnderlying string
	}{
		{
			name:  "relay path down and VMs connected recently",
			relay: dial.PathClusterIP,
			vsock: vsockFacts(verdict.VSOCK{RelayListening: true, ConnectionsRecent: 3}),
			want:  verdict.RelayPathDownVMsConnecting, wantUnderlying: verdict.ServiceUnreachable,
		},
		{
			name:  "relay path down and a VM connected now",
			relay: dial.PathClusterIP,
			vsock: vsockFacts(verdict.VSOCK{RelayListening: true, RelayConnections: 1}),
			want:  verdict.RelayPathDownVMsConnecting, wantUnderlying: verdict.ServiceUnreachable,
		},
		{
			// Its endpoint is the clusterip path, but it dials from the pod
			// network: the probe's host-network paths are controls.
			name:    "a pod-network relay's endpoint path does not escalate",
			uses:    &state.Uses{RelayPath: dial.PathClusterIP, RelayHostNetwork: new(false)},
			vsock:   vsockFacts(verdict.VSOCK{ConnectionsRecent: 1}),
			cluster: &monitor.ClusterFacts{DiscoveryUp: true, RelayPath: dial.PathClusterIP, Cluster: verdict.Cluster{RelayHostNetwork: new(false)}},
			want:    verdict.Healthy,
		},
		{
			name:  "relay path down, no VM connecting",
			relay: dial.PathClusterIP,
			vsock: vsockFacts(verdict.VSOCK{RelayListening: true}),
			want:  verdict.ServiceUnreachable,
		},
		{
			name:  "relay path down, VSOCK unknown",
			relay: dial.PathClusterIP,
			want:  verdict.ServiceUnreachable,
		},
		{
			name:  "relay path up: the Service failing on a control is a note",
			relay: dial.PathPodIP,
			vsock: vsockFacts(verdict.VSOCK{ConnectionsRecent: 3}),
			want:  verdict.Healthy,
		},
		{
			name:  "relay path unknown",
			vsock: vsockFacts(verdict.VSOCK{ConnectionsRecent: 3}),
			want:  verdict.ServiceUnreachable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			// A source that knows nothing yet returns nil facts.
			f.mon.SetFacts(func() monitor.Facts { return monitor.Facts{VSOCK: tt.vsock, Cluster: tt.cluster} })
			uses := state.Uses{}
			switch {
			case tt.uses != nil:
				uses = *tt.uses
			case tt.relay != "":
				uses = state.RelayOnHostNetwork(tt.relay)
			}
			f.mon.SetTargets(targets, uses)
			f.mon.Record(result(clusterIP, dial.ReasonRefused, 0))
			f.mon.Record(result(podIP, dial.ReasonOK, 0))
			f.mon.Record(result(webhook, dial.ReasonOK, 0))

			v := f.mon.Verdict()
			if v.Name != tt.want || v.Underlying != tt.wantUnderlying {
				t.Errorf("verdict = %q (underlying %q), want %q (underlying %q); cause: %s",
					v.Name, v.Underlying, tt.want, tt.wantUnderlying, v.Cause)
			}
			if got := verdictMetric(t, f.reg); got != tt.want {
				t.Errorf("sensorprobe_verdict = %q, want %q", got, tt.want)
			}
			if r := f.mon.Status(t.Context()); r.Verdict.Name != tt.want || r.Verdict.Underlying != tt.wantUnderlying {
				t.Errorf("status verdict = %q (underlying %q), want %q (underlying %q)",
					r.Verdict.Name, r.Verdict.Underlying, tt.want, tt.wantUnderlying)
			}
			_, verdicts := f.heard.heard()
			want := []verdictEvent{{Old: verdict.Unknown, New: tt.want, Underlying: tt.wantUnderlying}}
			if diff := cmp.Diff(want, verdicts); diff != "" {
				t.Errorf("VerdictChanged calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerdictEvaluatedOncePerSecond checks that results which change no
// path do not each recompute the verdict (at hundreds of attempts a second
// that was the daemon's largest cost after TLS), but one does a second
// later; a transition always does. Each evaluation reads the facts once.
func TestVerdictEvaluatedOncePerSecond(t *testing.T) {
	f := newFixture(t)
	var reads atomic.Int64
	f.mon.SetFacts(func() monitor.Facts { reads.Add(1); return monitor.Facts{} })
	f.mon.SetTargets(targets, state.Uses{})
	for _, tg := range targets {
		f.mon.Record(result(tg, dial.ReasonOK, 0))
	}
	f.advance(time.Second)
	base := reads.Load()
	for i := range 100 {
		f.mon.Record(result(clusterIP, dial.ReasonOK, time.Duration(i)*time.Millisecond))
	}
	if got := reads.Load() - base; got != 1 {
		t.Errorf("100 unchanged results in one second: %d evaluations, want 1", got)
	}
	f.mon.Record(result(clusterIP, dial.ReasonRefused, time.Second))
	if got := reads.Load() - base; got != 2 {
		t.Errorf("after a transition: %d evaluations, want 2", got)
	}
	f.advance(time.Second)
	f.mon.Record(result(clusterIP, dial.ReasonRefused, 2*time.Second))
	if got := reads.Load() - base; got != 3 {
		t.Errorf("an unchanged result a second later: %d evaluations, want 3", got)
	}
}

// TestFactsChangeReachesVerdict checks that the facts sources are read at
// each evaluation: VMs starting to connect while the relay's path is down
// escalates the verdict at the next evaluation, without a path transition.
func TestFactsChangeReachesVerdict(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	vs := vsockFacts(verdict.VSOCK{RelayListening: true})
	f.mon.SetFacts(func() monitor.Facts {
		mu.Lock()
		defer mu.Unlock()
		c := *vs
		return monitor.Facts{VSOCK: &c}
	})
	f.mon.SetTargets(targets, state.RelayOnHostNetwork(dial.PathClusterIP))
	f.mon.Record(result(clusterIP, dial.ReasonRefused, 0))
	f.mon.Record(result(podIP, dial.ReasonOK, 0))
	f.mon.Record(result(webhook, dial.ReasonOK, 0))
	if got := f.mon.Verdict().Name; got != verdict.ServiceUnreachable {
		t.Fatalf("verdict before VMs connect = %q, want %q", got, verdict.ServiceUnreachable)
	}

	mu.Lock()
	vs.ConnectionsRecent = 2
	mu.Unlock()
	// The next attempt repeats the failure: not a path transition, but the
	// verdict is re-evaluated with the new facts, once it is a second old.
	f.advance(time.Second)
	f.mon.Record(result(clusterIP, dial.ReasonRefused, time.Minute))
	if got := f.mon.Verdict().Name; got != verdict.RelayPathDownVMsConnecting {
		t.Errorf("verdict after VMs connect = %q, want %q", got, verdict.RelayPathDownVMsConnecting)
	}

	mu.Lock()
	vs.ConnectionsRecent = 0
	mu.Unlock()
	f.mon.Reevaluate()
	if got := f.mon.Verdict().Name; got != verdict.ServiceUnreachable {
		t.Errorf("verdict after VMs stop = %q, want %q", got, verdict.ServiceUnreachable)
	}

	paths, verdicts := f.heard.heard()
	if len(paths) != 3 {
		t.Errorf("PathChanged calls = %v, want only the three first results", paths)
	}
	wantVerdicts := []verdictEvent{
		{Old: verdict.Unknown, New: verdict.ServiceUnreachable},
		{Old: verdict.ServiceUnreachable, New: verdict.RelayPathDownVMsConnecting, Underlying: verdict.ServiceUnreachable},
		{Old: verdict.RelayPathDownVMsConnecting, New: verdict.ServiceUnreachable},
	}
	if diff := cmp.Diff(wantVerdicts, verdicts); diff != "" {
		t.Errorf("VerdictChanged calls (-want +got):\n%s", diff)
	}
	var logged []string
	for _, l := range f.logLines(t) {
		if l.Msg == "verdict changed" {
			logged = append(logged, l.Level+" "+l.From+" -> "+l.To)
		}
	}
	wantLogged := []string{
		"WARN unknown -> " + verdict.ServiceUnreachable,
		"WARN " + verdict.ServiceUnreachable + " -> " + verdict.RelayPathDownVMsConnecting,
		"WARN " + verdict.RelayPathDownVMsConnecting + " -> " + verdict.ServiceUnreachable,
	}
	if diff := cmp.Diff(wantLogged, logged); diff != "" {
		t.Errorf(`"verdict changed" lines (-want +got):\n%s`, diff)
	}
}

// TestConcurrentReports reports from several goroutines while the status,
// the metrics and the verdict are read; run it with -race.
func TestConcurrentReports(t *testing.T) {
	f := newFixture(t)
	f.mon.SetFacts(func() monitor.Facts { return monitor.Facts{VSOCK: vsockFacts(verdict.VSOCK{ConnectionsRecent: 1})} })
	f.mon.SetTargets(targets, state.RelayOnHostNetwork(dial.PathClusterIP))
	const each = 100
	var wg sync.WaitGroup
	for _, target := range targets {
		wg.Go(func() {
			for i := range each {
				reason := dial.ReasonOK
				if i%10 == 9 {
					reason = dial.ReasonRefused
				}
				f.mon.Record(result(target, reason, time.Duration(i)*time.Second))
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = f.mon.Status(context.Background())
			if _, err := f.reg.Gather(); err != nil {
				t.Errorf("gather: %v", err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()

	for _, target := range targets {
		ok, _ := attempts(t, f.reg, target.Name, dial.ReasonOK)
		refused, _ := attempts(t, f.reg, target.Name, dial.ReasonRefused)
		if ok != 90 || refused != 10 {
			t.Errorf("%s: ok %v refused %v, want 90 and 10", target.Name, ok, refused)
		}
	}
	// Each path ended with a failure (i = 99): sensor looks unavailable, and
	// the relay's path is down while VMs connect. The last evaluation runs
	// after the last result was recorded, so this does not depend on timing.
	v := f.mon.Verdict()
	if v.Name != verdict.RelayPathDownVMsConnecting || v.Underlying != verdict.SensorUnavailable {
		t.Errorf("final verdict = %q (underlying %q), want %q (underlying %q)",
			v.Name, v.Underlying, verdict.RelayPathDownVMsConnecting, verdict.SensorUnavailable)
	}
}

// TestStatusReportEvidence: with collector in the pod network the host's
// socket dumps cannot see the relay, and the report says the relay facts
// come from its log alone.
func TestStatusReportEvidence(t *testing.T) {
	no, yes := false, true
	vs := vsockFacts(verdict.VSOCK{RelayLog: true, SendErrorsRecent: 1})
	for _, tt := range []struct {
		hostNetwork *bool
		want        string
	}{
		{&yes, "socket dumps and relay log"},
		{nil, "socket dumps and relay log"},
		{&no, "relay log (collector runs in the pod network; this probe's socket dumps see only the host network)"},
	} {
		cl := &monitor.ClusterFacts{Cluster: verdict.Cluster{RelayHostNetwork: tt.hostNetwork}}
		r := monitor.StatusReport("n", "v", t0, nil, verdict.Verdict{}, monitor.Facts{VSOCK: vs, Cluster: cl})
		if r.VSOCK.Evidence != tt.want || r.VSOCK.SendErrorsRecent != 1 {
			t.Errorf("host network %v: evidence %q, send errors %d; want %q, 1", tt.hostNetwork, r.VSOCK.Evidence, r.VSOCK.SendErrorsRecent, tt.want)
		}
	}
}
