//go:build e2e && linux

package e2e

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/test/e2e/topology"
)

// alertTable is every assertion on alert names, in one place: for each
// fault, the alerts that must fire while it lasts (fire) and those that may
// (may). Any other alert firing during the fault or its recovery fails the
// row. Keys are alertKey: the alert name, and its path label in parentheses;
// "(*)" in may matches any path. The rule file is deploy/rules/sensorprobe-rules.yaml,
// loaded with every duration divided by `compression`.
var alertTable = map[string]alertWant{
	// One node: every fault that takes down a path in use (consumer relay)
	// is "from at least 90% of the nodes", so the cluster-wide
	// SensorUnreachable fires and holds back the per-node path alerts.
	"1a": {fire: []string{"SensorProbeSensorUnreachable"}},
	"1b": {}, // collector in the pod network: nothing on this node depends on the host network
	"2a": {fire: []string{"SensorProbeSensorUnreachable"}},
	"2b": {fire: []string{"SensorProbeSensorUnreachable"}},
	"3a": {fire: []string{"SensorProbeSensorUnreachable"}},
	"3b": {fire: []string{"SensorProbeSensorUnreachable"}},
	"4a": {fire: []string{"SensorProbeSensorUnreachable"}},
	"4b": {fire: []string{"SensorProbeSensorUnreachable", "SensorProbeSensorCertNotVerified"}},
	"4c": {fire: []string{"SensorProbeSensorUnreachable", "SensorProbeSensorCertNotVerified"}},
	"4d": {fire: []string{"SensorProbeSensorUnreachable", "SensorProbeSensorCertNotVerified", "SensorProbeSensorCertExpiringSoon"}},
	"4e": {fire: []string{"SensorProbeSensorUnreachable", "SensorProbeSensorCertNotVerified"}},
	"5":  {fire: []string{"SensorProbeLatencyHigh(podip)"}},
	// Down 2 s at a time: never the 5 s a path alert needs. The timeout
	// ratio stays high throughout, so IOTimeoutsHigh may fire (once).
	"6": {may: []string{"SensorProbeIOTimeoutsHigh(*)"}},
	"7": {fire: []string{"SensorProbeSensorUnreachable"}},
	"8": {fire: []string{"SensorProbeDiscoveryDown"}},
}

// tolerated may fire during any fault. SensorProbeLatencyHigh compares the
// p90 of 10 minutes of attempts with 3 times its usual level and 50 ms:
// compressed to 10 s at one attempt a second, its window holds 10 attempts
// instead of production's 60, so two handshakes slowed by a busy test
// machine (50 ms of scheduling delay) raise it. Fault 5 asserts that it
// fires for the path that is really slower; elsewhere it is only reported.
var tolerated = []string{"SensorProbeLatencyHigh(*)"}

// alertWant is one row of alertTable.
type alertWant struct{ fire, may []string }

func (a alertWant) allowed(key string) bool {
	may := append(slices.Clone(a.may), tolerated...)
	if slices.Contains(a.fire, key) || slices.Contains(may, key) {
		return true
	}
	name, _, _ := strings.Cut(key, "(")
	return slices.Contains(may, name+"(*)")
}

// expect is what the probe must show while a fault lasts.
type expect struct {
	// paths maps every path that must be probed to its reason ("ok" when
	// up); a path not listed must not be probed.
	paths   map[string]string
	verdict string
	// consumers, when set, maps every probed path to the consumer label of
	// its sensorprobe_path_info: who depends on it from the host network.
	consumers map[string]string
	// check, when set, makes more assertions on the observation.
	check func(observation) error
}

func (e expect) match(o observation) error {
	var errs []error
	if got := o.reasons(); !maps.Equal(got, e.paths) {
		errs = append(errs, fmt.Errorf("reasons %s, want %s", formatReasons(got, e.paths), formatReasons(e.paths, got)))
	}
	if e.consumers != nil {
		if got := o.labelsOf("sensorprobe_path_info", "consumer"); !maps.Equal(got, e.consumers) {
			errs = append(errs, fmt.Errorf("sensorprobe_path_info consumers %s, want %s", formatReasons(got, e.consumers), formatReasons(e.consumers, got)))
		}
	}
	if got := o.report.Verdict.Name; got != e.verdict {
		errs = append(errs, fmt.Errorf("verdict %s, want %s", got, e.verdict))
	}
	if e.check != nil {
		if err := e.check(o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// paths returns every path "ok", then sets the given path=reason pairs
// (reason "" removes the path: it must not be probed).
func paths(kv ...string) map[string]string {
	m := map[string]string{"clusterip": "ok", "dns": "ok", "hostport": "ok", "podip": "ok", "webhook": "ok"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

// consumers returns the consumer of every path: "relay" for relay, "none"
// for the others (relay "" when the relay is not on the host network).
func consumers(relay string) map[string]string {
	m := map[string]string{}
	for p := range paths() {
		m[p] = "none"
	}
	if relay != "" {
		m[relay] = "relay"
	}
	return m
}

// fault is one row of the matrix. The harness checks that the node is
// healthy, runs prepare and before, inject, waits for want and for the
// row's alerts (alertTable), runs during, then recover, waits for the node to
// be healthy again (every path ok, verdict healthy, no alert pending or
// firing, discovery up), runs after and restore.
type fault struct {
	id, name string
	prepare  func(h *harness) error
	before   func(h *harness, r *row) error
	inject   func(h *harness) error
	want     expect
	// custom replaces waiting for want and the alerts (flapping).
	custom func(h *harness, r *row, w *alertWatch) error
	// measure runs beside the wait for the alerts, once want holds; it
	// returns a note for the table.
	measure func(h *harness) (string, error)
	during  func(h *harness, r *row) error
	recover func(h *harness) error
	// reset, when recover did not bring the node back, puts it back the way
	// it was before the fault some other way, so that one failed row does
	// not fail the rows after it.
	reset func(h *harness) error
	// recoverLimit bounds the wait for health after recover; 0 means healthyLimit.
	recoverLimit time.Duration
	after        func(h *harness, r *row) error
	restore      func(h *harness) error

	// minOutages, when set, is how many outages each path must have in
	// the probe's outage log after the row; by default one on every path
	// want has down (outages_test.go).
	minOutages map[string]int
}

// Bounds on waiting. They only stop a broken run; every figure in the table
// is measured, nothing asserts how fast a step was.
const (
	stateLimit = 30 * time.Second
	// stable is how long the expected state must hold before it counts, so
	// that a passing moment while a fault is being set up does not.
	stable = 1500 * time.Millisecond
	// driftLimit is how long the state may differ from the expected one
	// while a fault holds before the row fails; a shorter deviation (one
	// attempt) is reported as a note.
	driftLimit   = 2500 * time.Millisecond
	alertLimit   = 60 * time.Second
	healthyLimit = 45 * time.Second
	// apiRecoveryLimit bounds fault 8's recovery: client-go's reflectors
	// back off up to 30 s (jittered to 60 s) while the API server is away.
	apiRecoveryLimit = 120 * time.Second
	// quietWindow is how long a fault that must fire no alert is watched:
	// longer than the longest compressed `for` (15m → 15s) plus the rate window.
	quietWindow = 22 * time.Second
	// apiOutage is how long fault 8 keeps the API server down.
	apiOutage = 60 * time.Second
)

func faults() []fault {
	return []fault{
		{
			id: "1a", name: "NetworkPolicy drops host-network 8443, collector on the host network",
			prepare: func(h *harness) error { return h.setCollector(true, relayDNS) },
			inject:  func(h *harness) error { return h.netpolDrop(true) },
			want: expect{
				paths:     paths("clusterip", "connect_timeout", "dns", "connect_timeout", "hostport", "connect_timeout", "podip", "connect_timeout"),
				verdict:   "networkpolicy_blocks_host_network",
				consumers: consumers("dns"),
			},
			recover: func(h *harness) error { return h.netpolDrop(false) },
		},
		{
			id: "1b", name: "NetworkPolicy drops host-network 8443, collector in the pod network",
			prepare: func(h *harness) error { return h.setCollector(false, relayDNS) },
			inject:  func(h *harness) error { return h.netpolDrop(true) },
			want: expect{
				paths:     paths("clusterip", "connect_timeout", "dns", "connect_timeout", "hostport", "connect_timeout", "podip", "connect_timeout"),
				verdict:   "healthy",
				consumers: consumers(""),
			},
			during:  collectorPodReachesSensor,
			recover: func(h *harness) error { return h.netpolDrop(false) },
			restore: func(h *harness) error { return h.setCollector(true, relayDNS) },
		},
		{
			id: "2a", name: "the sensor Service's endpoints removed",
			inject: func(h *harness) error { return h.cluster.endpointSlices(h.ctx, false, true) },
			want: expect{
				// podip comes from the endpoints, so it goes with them.
				paths:   paths("clusterip", "refused", "dns", "refused", "podip", ""),
				verdict: "degraded",
			},
			recover: func(h *harness) error { return h.cluster.endpointSlices(h.ctx, true, true) },
		},
		{
			id: "2b", name: "kube-proxy stopped and its rules flushed (--cleanup)",
			inject: func(h *harness) error { return h.stopKubeProxy() },
			want: expect{
				paths:   paths("clusterip", "connect_timeout", "dns", "connect_timeout", "webhook", "connect_timeout"),
				verdict: "service_unreachable_from_host_network",
			},
			recover: func(h *harness) error { return h.startKubeProxy() },
		},
		{
			id: "3a", name: "sensor stopped (refused), then restarted",
			inject: func(h *harness) error { return h.sensor.stop() },
			want: expect{
				paths:   paths("clusterip", "refused", "dns", "refused", "hostport", "refused", "podip", "refused", "webhook", "refused"),
				verdict: "sensor_unavailable",
			},
			recover: func(h *harness) error { return h.startSensor(h.goodSensor()) },
		},
		{
			id: "3b", name: "sensor not ready per the API (/ready 503, pod and endpoints not ready)",
			inject: func(h *harness) error {
				// What the kubelet and the EndpointSlice controller publish
				// when the readiness probe fails, then the process answering so.
				m := h.goodSensor()
				m.readyStatus = 503
				return errors.Join(h.cluster.sensorPod(h.ctx, false), h.cluster.endpointSlices(h.ctx, true, false), h.startSensor(m))
			},
			want: expect{
				paths:   paths("clusterip", "refused", "dns", "refused", "hostport", "check_failed", "podip", "", "webhook", "refused"),
				verdict: "sensor_unavailable",
			},
			recover: func(h *harness) error {
				return errors.Join(h.startSensor(h.goodSensor()), h.cluster.sensorPod(h.ctx, true), h.cluster.endpointSlices(h.ctx, true, true))
			},
		},
		{
			id: "4a", name: "TLS handshake stalls (sensor accepts, never answers)",
			inject: func(h *harness) error { return h.startSensor(sensorMode{stall: true}) },
			want: expect{
				paths: paths("clusterip", "tls_timeout", "dns", "tls_timeout", "hostport", "tls_timeout", "podip", "tls_timeout", "webhook", "tls_timeout"),
				// Every path times out while the API says sensor is ready:
				// the packets never reach a serving sensor.
				verdict: "node_network_broken",
			},
			recover: func(h *harness) error { return h.startSensor(h.goodSensor()) },
		},
		tlsFault("4b", "certificate for another name", "wrongname", "cert_name_mismatch"),
		tlsFault("4c", "certificate from an unknown CA", "foreign", "cert_unknown_authority"),
		tlsFault("4d", "expired certificate", "expired", "cert_expired"),
		{
			id: "4e", name: "CA rotated: sensor re-issued by a new CA, then ca.pem updated on disk (probe not restarted)",
			inject: func(h *harness) error { return h.startSensor(sensorMode{cert: "rotated"}) },
			want: expect{
				paths:   paths("clusterip", "cert_unknown_authority", "dns", "cert_unknown_authority", "hostport", "cert_unknown_authority", "podip", "cert_unknown_authority", "webhook", "cert_unknown_authority"),
				verdict: "tls_trust",
			},
			before: func(h *harness, r *row) error {
				o, err := h.observe(h.ctx)
				h.reloadsBefore, _ = o.value("sensorprobe_tls_reloads_total")
				return err
			},
			recover: func(h *harness) error {
				h.sensorCert = "rotated"
				// Secret collector-tls gains ca-secondary.pem, as StackRox
				// publishes the new CA during a rotation; kubelet updates the
				// projected volume. The probe re-reads it within 30 s.
				return h.pki.writeCAs(map[string]*standin.CA{caPrimary: h.pki.ca, caSecondary: h.pki.ca2})
			},
			recoverLimit: 60 * time.Second,
			after:        probeNotRestarted,
			// Without a reload, only the old certificate brings it back.
			reset: func(h *harness) error {
				h.sensorCert = ""
				return h.startSensor(sensorGood)
			},
		},
		{
			id: "5", name: "50 ms added to the podip path's SYN (NFQUEUE), others untouched; the relay uses the pod IP",
			prepare: func(h *harness) error { return h.setCollector(true, relayPodIP) },
			before: func(h *harness, r *row) error {
				var err error
				h.latencyBefore, err = h.sampleConnect(8 * time.Second)
				return err
			},
			inject: func(h *harness) error { return h.delayPodIP(true) },
			want:   expect{paths: paths(), verdict: "healthy", consumers: consumers("podip")},
			measure: func(h *harness) (string, error) {
				during, err := h.sampleConnect(8 * time.Second)
				if err != nil {
					return "", err
				}
				return latencyVerdict(h.latencyBefore, during)
			},
			recover: func(h *harness) error { return h.delayPodIP(false) },
			restore: func(h *harness) error { return h.setCollector(true, relayDNS) },
		},
		{
			id: "6", name: "flapping: the 8443 drop toggled every 2 s for 30 s",
			custom:  flap,
			recover: func(h *harness) error { return h.netpolDrop(false) },

			// flap requires the probe to see 4 drops: so must its outage log.
			minOutages: map[string]int{"clusterip": 4},
		},
		{
			id: "7", name: "hostPort mapping removed (portmap DEL) where the relay uses localhost:8443",
			prepare: func(h *harness) error { return h.setCollector(true, relayHostPort) },
			inject:  func(h *harness) error { return h.portmap("DEL") },
			want: expect{
				paths:     paths("hostport", "refused"),
				verdict:   "degraded",
				consumers: consumers("hostport"),
			},
			recover: func(h *harness) error { return h.portmap("ADD") },
			restore: func(h *harness) error { return h.setCollector(true, relayDNS) },
		},
		{
			id: "8", name: "API server stopped for a minute",
			before: func(h *harness, r *row) error {
				o, err := h.observe(h.ctx)
				h.targetsBefore = o.labelsOf("sensorprobe_path_info", "target")
				return err
			},
			inject: func(h *harness) error { h.kube.StopAPIServer(); return nil },
			want: expect{paths: paths(), verdict: "healthy", check: func(o observation) error {
				if v, ok := o.value("sensorprobe_kube_discovery_up"); !ok || v != 0 {
					return fmt.Errorf("sensorprobe_kube_discovery_up = %v (present %v), want 0", v, ok)
				}
				return nil
			}},
			during:       holdAPIOutage,
			recoverLimit: apiRecoveryLimit,
			recover: func(h *harness) error {
				h.apiRestarted = time.Now()
				return h.kube.StartAPIServer(h.ctx)
			},
			after: func(h *harness, r *row) error {
				r.notes = append(r.notes, fmt.Sprintf("discovery up again %.1fs after the API server was back", time.Since(h.apiRestarted).Seconds()))
				return nil
			},
		},
	}
}

func tlsFault(id, what, cert, reason string) fault {
	return fault{
		id: id, name: "TLS: " + what,
		inject: func(h *harness) error { return h.startSensor(sensorMode{cert: cert}) },
		want: expect{
			paths:   paths("clusterip", reason, "dns", reason, "hostport", reason, "podip", reason, "webhook", reason),
			verdict: "tls_trust",
		},
		recover: func(h *harness) error { return h.startSensor(h.goodSensor()) },
	}
}

// row is what one fault showed.
type row struct {
	id, name      string
	reasons       string
	verdict       string
	alerts        string
	notes         []string
	errs          []error
	detect        time.Duration // inject → want observed
	fire          time.Duration // inject → every alert of the row firing
	resolve       time.Duration // recover → healthy, no alert
	took          time.Duration // the whole row, from the healthy check before it
	probeFailures []string
}

func (r *row) fail(format string, args ...any) { r.errs = append(r.errs, fmt.Errorf(format, args...)) }

// alertWatch follows Prometheus's alerts through a row: which fired, and
// how many times each went from not firing to firing.
type alertWatch struct {
	state    map[string]string
	episodes map[string]int
}

func newAlertWatch() *alertWatch {
	return &alertWatch{state: map[string]string{}, episodes: map[string]int{}}
}

func (w *alertWatch) update(alerts map[string]string) {
	for k, s := range alerts {
		if s == "firing" && w.state[k] != "firing" {
			w.episodes[k]++
		}
	}
	w.state = maps.Clone(alerts)
}

func (w *alertWatch) fired() []string {
	return slices.Sorted(maps.Keys(w.episodes))
}

// await observes every 250 ms until cond holds for an observation, or limit passes.
func (h *harness) await(limit time.Duration, w *alertWatch, cond func(observation) error) (observation, error) {
	deadline := time.Now().Add(limit)
	var last error
	var o observation
	for {
		var err error
		o, err = h.observe(h.ctx)
		if err == nil {
			if w != nil {
				w.update(o.alerts)
			}
			if err = cond(o); err == nil {
				return o, nil
			}
		}
		last = err
		if time.Now().After(deadline) || h.ctx.Err() != nil {
			return o, fmt.Errorf("not within %v: %w", limit, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// healthy is the node with nothing wrong: every path ok, verdict healthy,
// discovery up, no alert pending or firing.
func healthy(o observation) error {
	e := expect{paths: paths(), verdict: "healthy", check: func(o observation) error {
		if v, ok := o.value("sensorprobe_kube_discovery_up"); !ok || v != 1 {
			return fmt.Errorf("sensorprobe_kube_discovery_up = %v (present %v), want 1", v, ok)
		}
		if len(o.alerts) > 0 {
			return fmt.Errorf("alerts still active: %v", o.alerts)
		}
		return nil
	}}
	return e.match(o)
}

func (h *harness) awaitHealthy(limit time.Duration) (observation, error) {
	return h.await(limit, nil, healthy)
}

func (h *harness) runFaults(t *testing.T) []row {
	var rows []row
	only := map[string]bool{}
	if s := strings.TrimSpace(getenv("E2E_FAULTS")); s != "" {
		for id := range strings.SplitSeq(s, ",") {
			only[id] = true
		}
	}
	for _, f := range faults() {
		if len(only) > 0 && !only[f.id] {
			continue
		}
		r := h.runRow(f)
		status := "ok"
		if len(r.errs) > 0 {
			status = "FAILED"
		}
		t.Logf("fault %s %s: %s (detect %.1fs, alerts %.1fs, resolve %.1fs)", f.id, f.name, status, r.detect.Seconds(), r.fire.Seconds(), r.resolve.Seconds())
		rows = append(rows, r)
	}
	return rows
}

func (h *harness) runRow(f fault) (r row) {
	r = row{id: f.id, name: f.name}
	began := time.Now()
	defer func() { r.took = time.Since(began) }()
	want := alertTable[f.id]
	w := newAlertWatch()
	if f.prepare != nil {
		if err := f.prepare(h); err != nil {
			r.fail("prepare: %v", err)
		}
	}
	if _, err := h.await(healthyLimit, nil, healthy); err != nil {
		r.fail("not healthy before the fault: %v", err)
		return r
	}
	if f.before != nil {
		if err := f.before(h, &r); err != nil {
			r.fail("before the fault: %v", err)
		}
	}
	start := time.Now()
	if f.inject != nil {
		if err := f.inject(h); err != nil {
			r.fail("inject: %v", err)
		}
	}
	switch {
	case f.custom != nil:
		if err := f.custom(h, &r, w); err != nil {
			r.fail("%v", err)
		}
	default:
		var held time.Time
		o, err := h.await(stateLimit, w, func(o observation) error {
			if err := f.want.match(o); err != nil {
				held = time.Time{}
				return err
			}
			if held.IsZero() {
				held = o.at
			}
			if d := o.at.Sub(held); d < stable {
				return fmt.Errorf("the expected state has held for %v only", d)
			}
			return nil
		})
		r.detect = held.Sub(start)
		if held.IsZero() {
			r.detect = time.Since(start)
		}
		r.reasons, r.verdict = formatReasons(o.reasons(), f.want.paths), o.report.Verdict.Name
		r.probeFailures = failureDetails(o)
		var lastDrift string
		if err != nil {
			r.fail("state: %v", err)
			break
		}
		type measurement struct {
			note string
			err  error
		}
		var measured chan measurement
		if f.measure != nil {
			measured = make(chan measurement, 1)
			go func() {
				note, err := f.measure(h)
				measured <- measurement{note, err}
			}()
		}
		// The alerts: wait until every expected one fires, or, when none
		// is expected, watch for quietWindow. The state must hold meanwhile.
		var drift error
		var driftSince time.Time
		var blips []string
		hold := func(o observation) error {
			err := f.want.match(o)
			switch {
			case err == nil && !driftSince.IsZero():
				blips = append(blips, fmt.Sprintf("%.1fs after the fault, for %.1fs: %v", driftSince.Sub(start).Seconds(), o.at.Sub(driftSince).Seconds(), strings.ReplaceAll(lastDrift, "\n", "; ")))
				driftSince = time.Time{}
			case err != nil && driftSince.IsZero():
				driftSince, lastDrift = o.at, err.Error()
			case err != nil && o.at.Sub(driftSince) >= driftLimit && drift == nil:
				drift = fmt.Errorf("state changed while waiting for the alerts, for %v: %w", o.at.Sub(driftSince).Round(100*time.Millisecond), err)
			}
			return nil
		}
		if len(want.fire) > 0 {
			_, err = h.await(alertLimit, w, func(o observation) error {
				hold(o)
				var missing []string
				for _, a := range want.fire {
					if w.episodes[a] == 0 {
						missing = append(missing, a)
					}
				}
				if len(missing) > 0 {
					return fmt.Errorf("not fired yet: %s (active: %v)", strings.Join(missing, ", "), o.alerts)
				}
				return nil
			})
			r.fire = time.Since(start)
			if err != nil {
				r.fail("alerts: %v", err)
			}
		} else {
			end := time.Now().Add(quietWindow)
			h.await(quietWindow+10*time.Second, w, func(o observation) error {
				hold(o)
				if time.Now().Before(end) {
					return errors.New("watching")
				}
				return nil
			})
		}
		if drift != nil {
			r.fail("%v", drift)
		}
		for _, b := range blips {
			r.notes = append(r.notes, "transient deviation (one attempt), not counted: "+b)
		}
		if measured != nil {
			m := <-measured
			if m.note != "" {
				r.notes = append(r.notes, m.note)
			}
			if m.err != nil {
				r.fail("%v", m.err)
			}
		}
		if f.during != nil {
			if err := f.during(h, &r); err != nil {
				r.fail("%v", err)
			}
		}
	}
	recovered := time.Now()
	if err := f.recover(h); err != nil {
		r.fail("recover: %v", err)
	}
	limit := healthyLimit
	if f.recoverLimit != 0 {
		limit = f.recoverLimit
	}
	if _, err := h.await(limit, w, healthy); err == nil {
		// Healthy again: the fault is in the outage log, and over.
		h.checkOutages(f, &r, start)
	} else {
		r.fail("recovery: %v", err)
		if f.reset != nil {
			if err := f.reset(h); err != nil {
				r.fail("reset: %v", err)
			} else if _, err := h.awaitHealthy(healthyLimit); err != nil {
				r.fail("not healthy after the reset either: %v", err)
			} else {
				r.notes = append(r.notes, "healthy again only after resetting the fault another way")
			}
		}
	}
	r.resolve = time.Since(recovered)
	for _, k := range w.fired() {
		if !want.allowed(k) {
			r.fail("alert %s fired, which this fault must not fire", k)
		}
		if n := w.episodes[k]; n > 1 {
			r.fail("alert %s fired %d times: it flapped", k, n)
		}
	}
	r.alerts = formatAlerts(w)
	if f.after != nil {
		if err := f.after(h, &r); err != nil {
			r.fail("after recovery: %v", err)
		}
	}
	if f.restore != nil {
		if err := f.restore(h); err != nil {
			r.fail("restore: %v", err)
		}
	}
	h.checkpoint(f.id)
	return r
}

// failureDetails lists the error text of each failing path, for the log.
func failureDetails(o observation) []string {
	var out []string
	for _, p := range o.report.Paths {
		if !p.Up && p.Error != "" {
			out = append(out, p.Name+": "+p.Error)
		}
	}
	return out
}

// formatAlerts renders the fired alerts grouped by name:
// "IOTimeoutsHigh(clusterip,dns) NoPathToSensor", without the SensorProbe prefix.
func formatAlerts(w *alertWatch) string {
	byName := map[string][]string{}
	for _, k := range w.fired() {
		name, rest, ok := strings.Cut(k, "(")
		name = strings.TrimPrefix(name, "SensorProbe")
		if ok {
			byName[name] = append(byName[name], strings.TrimSuffix(rest, ")"))
		} else if _, seen := byName[name]; !seen {
			byName[name] = nil
		}
	}
	names := slices.Sorted(maps.Keys(byName))
	var parts []string
	for _, n := range names {
		if ps := byName[n]; len(ps) > 0 {
			sort.Strings(ps)
			n += "(" + strings.Join(ps, ",") + ")"
		}
		parts = append(parts, n)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// setCollector changes DaemonSet collector (and its pod) and waits until
// the probe has seen the change.
func (h *harness) setCollector(hostNetwork bool, endpoint string) error {
	if err := h.cluster.collector(h.ctx, hostNetwork, endpoint); err != nil {
		return err
	}
	_, err := h.await(stateLimit, nil, func(o observation) error {
		k := o.report.Kubernetes
		if k == nil || k.RelayEndpoint != endpoint {
			return fmt.Errorf("the probe does not see the relay endpoint %s yet: %+v", endpoint, k)
		}
		return nil
	})
	return err
}

func (h *harness) goodSensor() sensorMode {
	if h.sensorCert == "" {
		return sensorGood
	}
	return sensorMode{cert: h.sensorCert}
}

// netpolDrop adds or removes, in the sensor pod's namespace, what a
// NetworkPolicy implementation that does not exempt host-network sources
// does with sensor's policy: drop TCP to 8443 from node addresses. 9443 and
// pod sources pass.
func (h *harness) netpolDrop(on bool) error {
	if !on {
		if _, err := run(h.ctx, "ip", "netns", "exec", topology.SensorNS, "nft", "list", "table", "inet", "sp_e2e_netpol"); err != nil {
			return nil // not there
		}
		_, err := run(h.ctx, "ip", "netns", "exec", topology.SensorNS, "nft", "delete", "table", "inet", "sp_e2e_netpol")
		return err
	}
	rules := `table inet sp_e2e_netpol {
	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr ` + topology.NodeCIDR + ` tcp dport 8443 drop
	}
}
`
	_, err := runStdin(h.ctx, rules, "ip", "netns", "exec", topology.SensorNS, "nft", "-f", "-")
	return err
}

// collectorPodReachesSensor checks, during fault 1b, that the relay's real
// path works: from the collector pod's namespace, through the sensor
// Service's ClusterIP (kube-proxy's DNAT on the node), sensor answers.
func collectorPodReachesSensor(h *harness, r *row) error {
	out, err := run(h.ctx, "ip", "netns", "exec", topology.CollectorNS, filepath.Join(h.bin, "probe"), "check",
		"--kube=false", "--ca-dir="+h.pki.caDir, "--timeout=2s", "--target=clusterip="+sensorSvcIP+":443")
	if err != nil {
		return fmt.Errorf("from the collector pod, probe check through the ClusterIP failed: %w\n%s", err, out)
	}
	r.notes = append(r.notes, "from the collector pod: clusterip ok (probe check exit 0)")
	return nil
}

// probeNotRestarted checks that the probe process is the one started at the
// beginning, and reports its TLS reload gauge when it has one.
func probeNotRestarted(h *harness, r *row) error {
	if !h.probe.running() {
		return errors.New("the probe exited")
	}
	o, err := h.observe(h.ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range []struct {
		name string
		want func(float64) bool
		what string
	}{
		{"sensorprobe_tls_last_reload_successful", func(v float64) bool { return v == 1 }, "1"},
		{"sensorprobe_tls_ca_certificates", func(v float64) bool { return v == 2 }, "2 (both CAs)"},
		{"sensorprobe_tls_reloads_total", func(v float64) bool { return v > h.reloadsBefore }, fmt.Sprintf("more than %v", h.reloadsBefore)},
	} {
		v, ok := o.value(g.name)
		if !ok || !g.want(v) {
			errs = append(errs, fmt.Errorf("%s = %v (present %v), want %s", g.name, v, ok, g.what))
			continue
		}
		r.notes = append(r.notes, fmt.Sprintf("%s %v", g.name, v))
	}
	r.notes = append(r.notes, fmt.Sprintf("same probe process (pid %d): the new CA was read from disk", h.probe.cmd.Process.Pid))
	return errors.Join(errs...)
}

// holdAPIOutage keeps the API server down for apiOutage, checking every
// 2 s that the probe keeps probing the last known targets.
func holdAPIOutage(h *harness, r *row) error {
	start := time.Now()
	var attempts float64
	for time.Since(start) < apiOutage {
		o, err := h.observe(h.ctx)
		if err != nil {
			return err
		}
		if got := o.labelsOf("sensorprobe_path_info", "target"); !maps.Equal(got, h.targetsBefore) {
			return fmt.Errorf("targets changed while the API server was down: %v, before %v", got, h.targetsBefore)
		}
		var n float64
		for _, m := range o.metrics["sensorprobe_probe_attempts_total"].GetMetric() {
			n += m.GetCounter().GetValue()
		}
		if n <= attempts {
			return fmt.Errorf("no new attempt in 2s while the API server was down (%v attempts)", n)
		}
		attempts = n
		if err := healthyPaths(o); err != nil {
			return fmt.Errorf("while the API server was down: %w", err)
		}
		time.Sleep(2 * time.Second)
	}
	r.notes = append(r.notes, fmt.Sprintf("targets kept and probed for %v without the API server", apiOutage))
	return nil
}

func healthyPaths(o observation) error {
	if got := o.reasons(); !maps.Equal(got, paths()) {
		return fmt.Errorf("reasons %s", formatReasons(got, paths()))
	}
	return nil
}
