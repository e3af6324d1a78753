package verdict_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/standin"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// lab is a set of loopback stand-ins, one per behaviour a path can meet.
type lab struct {
	ca           *standin.CA
	sensor       string // answers like sensor's api port, certificate from ca
	webhook      string // a second sensor stand-in, for 9443
	notReady     string // /ready answers 503
	wrongCA      string // certificate from another CA
	wrongName    string // certificate from ca for another name
	expired      string // certificate from ca, expired
	blackhole    string // never accepts: connect times out
	refused      string // nothing listens
	reset        string // accepts and resets
	resolver     *net.Resolver
	resolvedName string // resolves to 127.0.0.1
	unknownName  string // NXDOMAIN
}

func newLab(t *testing.T) *lab {
	t.Helper()
	ca, err := standin.NewCA(standin.CAName)
	if err != nil {
		t.Fatal(err)
	}
	other, err := standin.NewCA("Some Other CA")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(issuer *standin.CA, o standin.LeafOptions) *standin.Sensor {
		t.Helper()
		cert, err := issuer.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		s, err := standin.NewSensor(standin.SensorConfig{Cert: cert, ClientCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sans := standin.SensorSANs("stackrox")
	l := &lab{ca: ca, resolvedName: "sensor.stackrox.svc", unknownName: "sensor.nowhere.svc"}
	l.sensor = serve(ca, standin.LeafOptions{CommonName: "sensor", DNSNames: sans}).Addr()
	l.webhook = serve(ca, standin.LeafOptions{CommonName: "sensor", DNSNames: sans}).Addr()
	nr := serve(ca, standin.LeafOptions{CommonName: "sensor", DNSNames: sans})
	nr.SetReadyStatus(http.StatusServiceUnavailable)
	l.notReady = nr.Addr()
	l.wrongCA = serve(other, standin.LeafOptions{CommonName: "sensor", DNSNames: sans}).Addr()
	l.wrongName = serve(ca, standin.LeafOptions{CommonName: "kubelet", DNSNames: []string{"kubelet.example"}}).Addr()
	l.expired = serve(ca, standin.LeafOptions{CommonName: "sensor", DNSNames: sans,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}).Addr()

	bh, err := standin.NewBlackhole("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bh.Close() })
	l.blackhole = bh.Addr()
	if l.refused, err = standin.RefusedAddr(); err != nil {
		t.Fatal(err)
	}
	rs, err := standin.NewResetter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	l.reset = rs.Addr()

	dns, err := standin.NewDNS(map[string]string{l.resolvedName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })
	l.resolver = dns.Resolver()
	return l
}

// byName returns addr with its host replaced by the lab's resolvable name,
// so that the attempt resolves it first, as the dns path does.
func (l *lab) byName(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(l.resolvedName, port)
}

// unresolvable returns addr with its host replaced by a name that does not resolve.
func (l *lab) unresolvable(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(l.unknownName, port)
}

// probe makes one real attempt on every target, concurrently, records the
// results in a state.Store as the scheduler does, and returns its snapshot.
func (l *lab) probe(t *testing.T, targets map[string]string, uses state.Uses) []state.PathState {
	t.Helper()
	p, err := dial.New(dial.Config{
		Timeout:  2 * time.Second, // generous: good paths must not time out on a loaded machine
		RootCAs:  l.ca.Pool(),
		Resolver: l.resolver,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ts []dial.Target
	for name, addr := range targets {
		ts = append(ts, dial.Target{Name: name, Addr: addr})
	}
	st := state.New()
	st.SetTargets(ts, uses)
	results := make([]dial.Result, len(ts))
	var wg sync.WaitGroup
	for i, tg := range ts {
		wg.Go(func() { results[i] = p.Probe(t.Context(), tg) })
	}
	wg.Wait()
	for _, r := range results {
		st.Record(r)
	}
	return st.Snapshot()
}

// TestDecideRealAttempts produces every verdict from real attempts against
// loopback stand-ins: the same Prober, Store and Decide the daemon uses.
func TestDecideRealAttempts(t *testing.T) {
	l := newLab(t)
	on, off := true, false
	vmsConnecting := &verdict.VSOCK{RelayListening: true, ConnectionsRecent: 2, RelayConnections: 1}

	type want struct {
		Name       string
		Underlying string
		Reasons    map[string]dial.Reason
	}
	tests := []struct {
		name      string
		targets   map[string]string
		relay     string
		uses      state.Uses // defaults to a host-network relay on path relay, or consumers unknown without one
		cluster   *verdict.Cluster
		vsock     *verdict.VSOCK
		noProbe   bool
		want      want
		wantCause string
	}{
		{
			name:    "no attempt yet",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathWebhook: l.webhook},
			noProbe: true,
			want:    want{Name: verdict.Unknown, Reasons: map[string]dial.Reason{}},
		},
		{
			name: "every path answers",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathDNS: l.byName(l.sensor),
				dial.PathHostPort: l.sensor, dial.PathPodIP: l.sensor, dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{SensorOnThisNode: &on},
			want: want{Name: verdict.Healthy, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "dns": "ok", "hostport": "ok", "podip": "ok", "webhook": "ok"}},
		},
		{
			name: "NetworkPolicy drops 8443 from the host network",
			targets: map[string]string{dial.PathClusterIP: l.blackhole, dial.PathDNS: l.byName(l.blackhole),
				dial.PathHostPort: l.refused, dial.PathPodIP: l.blackhole, dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{SensorOnThisNode: &off},
			want: want{Name: verdict.NetworkPolicyBlocks, Reasons: map[string]dial.Reason{
				"clusterip": "connect_timeout", "dns": "connect_timeout", "hostport": "refused",
				"podip": "connect_timeout", "webhook": "ok"}},
			wantCause: "webhook (9443) answers",
		},
		{
			name: "Service unreachable from the host network",
			targets: map[string]string{dial.PathClusterIP: l.blackhole, dial.PathDNS: l.byName(l.blackhole),
				dial.PathPodIP: l.sensor, dial.PathWebhook: l.blackhole},
			want: want{Name: verdict.ServiceUnreachable, Reasons: map[string]dial.Reason{
				"clusterip": "connect_timeout", "dns": "connect_timeout", "podip": "ok", "webhook": "connect_timeout"}},
		},
		{
			name: "DNS does not resolve the Service name",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathDNS: l.unresolvable(l.sensor),
				dial.PathPodIP: l.sensor, dial.PathWebhook: l.webhook},
			want: want{Name: verdict.DNSBroken, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "dns": "dns_error", "podip": "ok", "webhook": "ok"}},
			wantCause: l.unknownName,
		},
		{
			name: "sensor down: everything refused",
			targets: map[string]string{dial.PathClusterIP: l.refused, dial.PathDNS: l.byName(l.refused),
				dial.PathPodIP: l.refused, dial.PathWebhook: l.refused},
			want: want{Name: verdict.SensorUnavailable, Reasons: map[string]dial.Reason{
				"clusterip": "refused", "dns": "refused", "podip": "refused", "webhook": "refused"}},
		},
		{
			name: "everything times out, the webhook included, while the API says sensor is ready",
			targets: map[string]string{dial.PathClusterIP: l.blackhole, dial.PathPodIP: l.blackhole,
				dial.PathWebhook: l.blackhole},
			cluster: &verdict.Cluster{SensorReady: new(true)},
			want: want{Name: verdict.NodeNetworkBroken, Reasons: map[string]dial.Reason{
				"clusterip": "connect_timeout", "podip": "connect_timeout", "webhook": "connect_timeout"}},
		},
		{
			name: "everything times out and the API says sensor has no ready endpoint",
			targets: map[string]string{dial.PathClusterIP: l.blackhole, dial.PathPodIP: l.blackhole,
				dial.PathWebhook: l.blackhole},
			cluster: &verdict.Cluster{SensorReady: new(false), SensorRestarts: 4, SensorLastTermination: "OOMKilled"},
			want: want{Name: verdict.SensorUnavailable, Reasons: map[string]dial.Reason{
				"clusterip": "connect_timeout", "podip": "connect_timeout", "webhook": "connect_timeout"}},
			wantCause: "last ended OOMKilled",
		},
		{
			name: "stock install: NetworkPolicy drops the host network, collector in the pod network",
			targets: map[string]string{dial.PathClusterIP: l.blackhole, dial.PathDNS: l.byName(l.blackhole),
				dial.PathPodIP: l.blackhole, dial.PathWebhook: l.webhook},
			relay:   dial.PathDNS,
			uses:    state.Uses{RelayPath: dial.PathDNS, RelayHostNetwork: new(false)},
			cluster: &verdict.Cluster{RelayHostNetwork: new(false)},
			want: want{Name: verdict.Healthy, Reasons: map[string]dial.Reason{
				"clusterip": "connect_timeout", "dns": "connect_timeout", "podip": "connect_timeout", "webhook": "ok"}},
			wantCause: "control paths are informational",
		},
		{
			name: "relay on a control-plane node without the relay enabled there",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathPodIP: l.sensor,
				dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{RelaySkipsNode: new(true), NodeTakesWorkloads: new(true), ComplianceVirtualMachines: new(true)},
			want: want{Name: verdict.RelayNotStarted, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "podip": "ok", "webhook": "ok"}},
			wantCause: "control-plane node",
		},
		{
			name: "every path up but sensor rejects the relay's reports",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathPodIP: l.sensor,
				dial.PathWebhook: l.webhook},
			relay: dial.PathClusterIP,
			vsock: &verdict.VSOCK{RelayLog: true, SendErrorsRecent: 3, SendErrorCode: "resource_exhausted"},
			want: want{Name: verdict.ReportsRejected, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "podip": "ok", "webhook": "ok"}},
			wantCause: "ResourceExhausted",
		},
		{
			name: "sensor not ready",
			targets: map[string]string{dial.PathClusterIP: l.notReady, dial.PathPodIP: l.notReady,
				dial.PathWebhook: l.notReady},
			want: want{Name: verdict.SensorUnavailable, Reasons: map[string]dial.Reason{
				"clusterip": "check_failed", "podip": "check_failed", "webhook": "check_failed"}},
		},
		{
			name: "certificate from another CA",
			targets: map[string]string{dial.PathClusterIP: l.wrongCA, dial.PathPodIP: l.wrongCA,
				dial.PathWebhook: l.webhook},
			want: want{Name: verdict.TLSTrust, Reasons: map[string]dial.Reason{
				"clusterip": "cert_unknown_authority", "podip": "cert_unknown_authority", "webhook": "ok"}},
			wantCause: "x509",
		},
		{
			name:    "certificate for another name",
			targets: map[string]string{dial.PathPodIP: l.wrongName, dial.PathWebhook: l.webhook},
			want: want{Name: verdict.TLSTrust, Reasons: map[string]dial.Reason{
				"podip": "cert_name_mismatch", "webhook": "ok"}},
		},
		{
			name:    "expired certificate",
			targets: map[string]string{dial.PathClusterIP: l.expired, dial.PathWebhook: l.webhook},
			want: want{Name: verdict.TLSTrust, Reasons: map[string]dial.Reason{
				"clusterip": "cert_expired", "webhook": "ok"}},
		},
		{
			name: "hostport refused on a node without sensor",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathHostPort: l.refused,
				dial.PathPodIP: l.sensor, dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{SensorOnThisNode: &off},
			want: want{Name: verdict.HostPortNotOnThisNode, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "hostport": "refused", "podip": "ok", "webhook": "ok"}},
		},
		{
			name: "hostport reaches another server on a node without sensor",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathHostPort: l.wrongName,
				dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{SensorOnThisNode: &off},
			want: want{Name: verdict.HostPortNotOnThisNode, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "hostport": "cert_name_mismatch", "webhook": "ok"}},
		},
		{
			name: "relay on hostport, refused, while VMs connect",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathHostPort: l.refused,
				dial.PathWebhook: l.webhook},
			relay:   dial.PathHostPort,
			cluster: &verdict.Cluster{SensorOnThisNode: &off, SensorNode: "node-b", SensorHostPort: 8443, RelayHostNetwork: &on},
			vsock:   vmsConnecting,
			want: want{Name: verdict.RelayPathDownVMsConnecting, Underlying: verdict.HostPortNotOnThisNode,
				Reasons: map[string]dial.Reason{"clusterip": "ok", "hostport": "refused", "webhook": "ok"}},
		},
		{
			name: "relay on the Service, blocked by NetworkPolicy, while VMs connect",
			targets: map[string]string{dial.PathClusterIP: l.blackhole, dial.PathPodIP: l.blackhole,
				dial.PathWebhook: l.webhook},
			relay: dial.PathClusterIP,
			vsock: vmsConnecting,
			want: want{Name: verdict.RelayPathDownVMsConnecting, Underlying: verdict.NetworkPolicyBlocks,
				Reasons: map[string]dial.Reason{"clusterip": "connect_timeout", "podip": "connect_timeout", "webhook": "ok"}},
		},
		{
			name: "pull mode: a Running VMI on this node has no VSOCK",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathPodIP: l.sensor,
				dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{Transport: verdict.TransportPull, NoRelay: true, RelayHostNetwork: new(false),
				VMs: &verdict.NodeVMs{VMIsKnown: true, VirtHandlerKnown: true, VirtHandlerPod: "kubevirt/virt-handler-1", VirtHandlerReady: true,
					Running: []string{"vms/fedora"}, WithoutVSOCK: []string{"vms/fedora"}}},
			want: want{Name: verdict.VMsWithoutVSOCK, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "podip": "ok", "webhook": "ok"}},
			wantCause: "vms/fedora",
		},
		{
			name: "pull mode: this node's virt-handler refuses its port",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathPodIP: l.sensor,
				dial.PathWebhook: l.webhook},
			cluster: &verdict.Cluster{Transport: verdict.TransportPull, NoRelay: true, RelayHostNetwork: new(false),
				VMs: &verdict.NodeVMs{VMIsKnown: true, VirtHandlerKnown: true, VirtHandlerPod: "kubevirt/virt-handler-1", VirtHandlerReady: true,
					VirtHandlerReachable: new(false), VirtHandlerError: "connect: connection refused", Running: []string{"vms/rhel9"}}},
			want: want{Name: verdict.VirtHandlerDown, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "podip": "ok", "webhook": "ok"}},
			wantCause: "port 8186",
		},
		{
			name: "one path reset, no pattern",
			targets: map[string]string{dial.PathClusterIP: l.sensor, dial.PathPodIP: l.reset,
				dial.PathWebhook: l.webhook},
			want: want{Name: verdict.Degraded, Reasons: map[string]dial.Reason{
				"clusterip": "ok", "podip": "reset", "webhook": "ok"}},
		},
	}
	produced := map[string]bool{}
	for _, tt := range tests {
		produced[tt.want.Name] = true
		if tt.uses == (state.Uses{}) && tt.relay != "" {
			tt.uses = state.RelayOnHostNetwork(tt.relay)
		}
		t.Run(tt.name, func(t *testing.T) {
			var paths []state.PathState
			if tt.noProbe {
				st := state.New()
				var ts []dial.Target
				for name, addr := range tt.targets {
					ts = append(ts, dial.Target{Name: name, Addr: addr})
				}
				st.SetTargets(ts, tt.uses)
				paths = st.Snapshot()
			} else {
				paths = l.probe(t, tt.targets, tt.uses)
			}
			v := verdict.Decide(verdict.Input{Paths: paths, Cluster: tt.cluster, VSOCK: tt.vsock})
			got := want{Name: v.Name, Underlying: v.Underlying, Reasons: map[string]dial.Reason{}}
			for _, p := range paths {
				if p.Latest != nil {
					got.Reasons[p.Target.Name] = p.Latest.Reason
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdict from real attempts mismatch (-want +got):\n%s\ncause: %s", diff, v.Cause)
				for _, p := range paths {
					if p.Latest != nil && p.Latest.Err != nil {
						t.Logf("%s: %v", p.Target.Name, p.Latest.Err)
					}
				}
			}
			if !strings.Contains(v.Cause, tt.wantCause) {
				t.Errorf("Cause = %q, want it to contain %q", v.Cause, tt.wantCause)
			}
		})
	}
	for _, n := range verdict.Names() {
		if !produced[n] {
			t.Errorf("no real-attempt case produces verdict %q", n)
		}
	}
}

//go:fix inline
