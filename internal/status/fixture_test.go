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
	return r
}
