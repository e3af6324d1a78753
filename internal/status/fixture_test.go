package status

import (
	"errors"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// fixtureNow returns the fixed "now" of the sample report.
func fixtureNow() time.Time { return time.Date(2026, 11, 28, 16, 40, 5, 0, time.UTC) }

// samplePaths is what a probe on a worker node sees when sensor's
// NetworkPolicy drops host-network traffic to 8443: every 8443 path times out,
// the webhook answers, and hostport is refused because sensor runs elsewhere.
func samplePaths() []state.PathState {
	start := fixtureNow().Add(-5 * time.Second)
	certExpiry := time.Date(2027, 11, 20, 9, 0, 0, 0, time.UTC)
	timedOut := func(path, addr string) state.PathState {
		t := dial.Target{Name: path, Addr: addr}
		consumer := state.ConsumerNone
		if path == dial.PathClusterIP {
			consumer = state.ConsumerRelay
		}
		return state.PathState{
			Target:   t,
			Consumer: consumer,
			Latest: &dial.Result{
				Target: t, ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP,
				Start: start, Duration: 2*time.Second + 300*time.Microsecond,
				Reason: dial.ReasonConnectTimeout, FailedPhase: dial.PhaseConnect,
				Err: errors.New("dial tcp " + addr + ": i/o timeout"),
				Phases: []dial.PhaseTiming{
					{Phase: dial.PhaseConnect, Duration: 2 * time.Second},
				},
			},
			LastSuccess:         fixtureNow().Add(-47 * time.Minute),
			Since:               fixtureNow().Add(-46 * time.Minute),
			ConsecutiveFailures: 93,
		}
	}
	clusterIP := timedOut(dial.PathClusterIP, "172.30.12.7:443")
	dns := timedOut(dial.PathDNS, "sensor.stackrox.svc:443")
	dns.Latest.Phases = append([]dial.PhaseTiming{{Phase: dial.PhaseResolve, Duration: 1200 * time.Microsecond}},
		dns.Latest.Phases...)
	dns.Latest.RemoteAddr = ""
	podIP := timedOut(dial.PathPodIP, "10.128.2.15:8443")

	hp := dial.Target{Name: dial.PathHostPort, Addr: "127.0.0.1:8443"}
	hostPort := state.PathState{
		Target:   hp,
		Consumer: state.ConsumerNone,
		Latest: &dial.Result{
			Target: hp, ServerName: "sensor.stackrox.svc", Check: dial.CheckHTTP,
			Start: start, Duration: 180 * time.Microsecond,
			Reason: dial.ReasonRefused, FailedPhase: dial.PhaseConnect,
			Err:    errors.New("dial tcp 127.0.0.1:8443: connect: connection refused"),
			Phases: []dial.PhaseTiming{{Phase: dial.PhaseConnect, Duration: 150 * time.Microsecond}},
		},
		Since:               fixtureNow().Add(-3 * time.Hour),
		ConsecutiveFailures: 360,
	}

	wh := dial.Target{Name: dial.PathWebhook, Addr: "sensor-webhook.stackrox.svc:443"}
	webhook := state.PathState{
		Target:   wh,
		Consumer: state.ConsumerNone,
		Latest: &dial.Result{
			Target: wh, ServerName: "sensor-webhook.stackrox.svc", Check: dial.CheckHTTP,
			Start: start, Duration: 9400 * time.Microsecond, RemoteAddr: "172.30.88.3:443",
			Reason: dial.ReasonOK, Detail: "HTTP 200",
			Phases: []dial.PhaseTiming{
				{Phase: dial.PhaseResolve, Duration: 900 * time.Microsecond},
				{Phase: dial.PhaseConnect, Duration: 400 * time.Microsecond},
				{Phase: dial.PhaseTLS, Duration: 5100 * time.Microsecond},
				{Phase: dial.PhaseCheck, Duration: 3 * time.Millisecond},
			},
			TLS: &dial.TLSFacts{
				Version: "TLS 1.3", ALPN: "h2", Verified: true, NotAfter: certExpiry,
				DNSNames: []string{"sensor.stackrox", "sensor.stackrox.svc", "sensor-webhook.stackrox.svc"},
				Issuer:   "StackRox Certificate Authority",
			},
		},
		LastSuccess: start.Add(9400 * time.Microsecond),
		Since:       fixtureNow().Add(-3 * time.Hour),
	}
	return []state.PathState{clusterIP, dns, hostPort, podIP, webhook}
}

// sampleReport is a realistic report: NetworkPolicy blocks host-network
// traffic while a VM is connecting to the relay, so the verdict escalates.
func sampleReport() Report {
	no, yes := false, true
	lastVM := fixtureNow().Add(-12 * time.Second)
	vs := &VSOCK{
		RelayPort: 818, VSOCKDevice: false, VhostVSOCKDevice: true, DiagSupported: true,
		RelayListening: true, RelayConnections: 1, ConnectionsRecent: 4, PeerCIDs: 2,
		LastActivity: &lastVM,
	}
	k := &Kubernetes{
		DiscoveryUp: true, SensorOnThisNode: &no,
		SensorPod: "stackrox/sensor-6d9f7c7b9-x2x7q", SensorNode: "worker-0",
		RelayEndpoint: "sensor.stackrox.svc:443", RelayPath: dial.PathClusterIP,
		RelayHostNetwork: &yes, Version: "4.11.2",
	}
	paths := samplePaths()
	v := verdict.Decide(verdict.Input{
		Paths: paths,
		VSOCK: &verdict.VSOCK{RelayListening: true, RelayConnections: 1, ConnectionsRecent: 4},
		Cluster: &verdict.Cluster{SensorOnThisNode: &no, SensorNode: "worker-0",
			RelayHostNetwork: &yes, CNI: "ovn-kubernetes", Version: "4.11.2"},
	})
	r := New("worker-2", fixtureNow(), paths, v)
	r.Version = "0.1.0"
	r.VSOCK = vs
	r.Kubernetes = k
	r.SetHistory(historyOf(paths, 3*time.Hour, sampleReasonAt))
	return r
}

// historyOf is a history of paths from a real state.Store fed an attempt
// every 30 s on each path for the time up before fixtureNow, with the
// reason reasonAt gives ("": no attempt).
func historyOf(paths []state.PathState, up time.Duration, reasonAt func(path string, ago time.Duration) dial.Reason) (map[string]state.PathHistory, []VerdictChange, time.Time) {
	now := fixtureNow()
	started := now.Add(-up)
	s := state.New()
	s.SetMaxAttemptGap(65 * time.Second)
	targets := make([]dial.Target, 0, len(paths))
	for _, p := range paths {
		targets = append(targets, p.Target)
	}
	s.SetTargets(targets, state.Uses{})
	for at := started; !at.After(now.Add(-5 * time.Second)); at = at.Add(30 * time.Second) {
		for _, t := range targets {
			r := dial.Result{Target: t, Start: at, Duration: 2 * time.Millisecond, Reason: reasonAt(t.Name, now.Sub(at))}
			if r.Reason == "" {
				continue
			}
			if !r.OK() {
				r.FailedPhase = dial.PhaseConnect
				r.Err = errors.New("dial tcp " + t.Addr + ": " + string(r.Reason))
			}
			s.Record(r)
		}
	}
	changes := []VerdictChange{
		{At: started, From: verdict.Unknown, To: verdict.Healthy, Severity: "ok"},
		{At: now.Add(-55 * time.Minute), From: verdict.Healthy, To: verdict.RelayPathDownVMsConnecting, Severity: "critical"},
		{At: now.Add(-54*time.Minute - 30*time.Second), From: verdict.RelayPathDownVMsConnecting, To: verdict.Healthy, Severity: "ok"},
		{At: now.Add(-52 * time.Minute), From: verdict.Healthy, To: verdict.RelayPathDownVMsConnecting, Severity: "critical"},
		{At: now.Add(-50 * time.Minute), From: verdict.RelayPathDownVMsConnecting, To: verdict.Healthy, Severity: "ok"},
		{At: now.Add(-46 * time.Minute), From: verdict.Healthy, To: verdict.RelayPathDownVMsConnecting, Severity: "critical"},
	}
	if up < time.Hour {
		changes = changes[:1]
	}
	return s.History(now), changes, started
}

// sampleReasonAt is the history behind samplePaths: webhook up throughout,
// hostport refused throughout, and clusterip, dns and podip down with
// connect_timeout for the last 46 minutes; before that clusterip had a blip
// (connect_timeout, 55 minutes ago) and a two-minute outage (refused, then
// reset, 52 minutes ago).
func sampleReasonAt(path string, ago time.Duration) dial.Reason {
	switch {
	case path == dial.PathWebhook:
		return dial.ReasonOK
	case path == dial.PathHostPort:
		return dial.ReasonRefused
	case path != dial.PathPodIP && path != dial.PathClusterIP && path != dial.PathDNS:
		return dial.ReasonOK
	case ago <= 46*time.Minute:
		return dial.ReasonConnectTimeout
	case path != dial.PathClusterIP:
		return dial.ReasonOK
	case ago <= 55*time.Minute && ago > 54*time.Minute+30*time.Second:
		return dial.ReasonConnectTimeout
	case ago <= 52*time.Minute && ago > 51*time.Minute:
		return dial.ReasonRefused
	case ago <= 51*time.Minute && ago > 50*time.Minute:
		return dial.ReasonReset
	}
	return dial.ReasonOK
}
