package verdict

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// addrOf returns a realistic address for a known path name, "" for others.
func addrOf(name string) string {
	return map[string]string{
		dial.PathClusterIP: "172.30.12.7:443",
		dial.PathDNS:       "sensor.stackrox.svc:443",
		dial.PathHostPort:  "127.0.0.1:8443",
		dial.PathPodIP:     "10.128.2.15:8443",
		dial.PathWebhook:   "sensor-webhook.stackrox.svc:443",
	}[name]
}

// p returns a path called name whose latest attempt ended with r.
func p(name string, r dial.Reason) state.PathState {
	t := dial.Target{Name: name, Addr: addrOf(name)}
	if t.Addr == "" {
		t.Addr = "192.0.2.1:443"
	}
	res := &dial.Result{Target: t, Reason: r}
	if r != dial.ReasonOK {
		res.Err = errors.New("dial tcp " + t.Addr + ": " + string(r))
	}
	return state.PathState{Target: t, Latest: res}
}

// pending returns a configured path called name without a result.
func pending(name string) state.PathState {
	return state.PathState{Target: dial.Target{Name: name, Addr: addrOf(name)}}
}

func relay(sp state.PathState) state.PathState { sp.Relay = true; return sp }

// used marks sp as a path consumer depends on.
func used(sp state.PathState, consumer state.Consumer) state.PathState {
	sp.Consumer = consumer
	return sp
}

// controls marks every path as a control (consumer none), as on a stock
// install where collector runs in the pod network.
func controls(ps ...state.PathState) []state.PathState {
	for i := range ps {
		ps[i].Consumer = state.ConsumerNone
	}
	return ps
}

func ptr[T any](v T) *T { return &v }

const (
	ok      = dial.ReasonOK
	timeout = dial.ReasonConnectTimeout
	refused = dial.ReasonRefused
	dnsErr  = dial.ReasonDNSError
)

// got is the part of a Verdict the table compares exactly; Cause and Fix are
// checked for the substrings that make them useful.
type got struct {
	Name       string
	Severity   Severity
	Underlying string
}

func TestDecide(t *testing.T) {
	onNode := &Cluster{SensorOnThisNode: ptr(true)}
	offNode := &Cluster{SensorOnThisNode: ptr(false)}
	vmsConnecting := &VSOCK{RelayListening: true, ConnectionsRecent: 3, Established: 1}

	tests := []struct {
		name      string
		in        Input
		want      got
		wantCause []string // substrings of Cause
		notCause  []string // must not be in Cause
		wantFix   []string // substrings of Fix
		wantNotes []string // substrings of the joined Notes
	}{
		{
			name: "no paths configured",
			in:   Input{},
			want: got{Name: Unknown, Severity: SeverityUnknown},
		},
		{
			name: "paths configured but none probed yet",
			in:   Input{Paths: []state.PathState{pending("clusterip"), pending("webhook")}},
			want: got{Name: Unknown, Severity: SeverityUnknown},
		},
		{
			name: "every path up",
			in: Input{Paths: []state.PathState{p("clusterip", ok), p("dns", ok), p("hostport", ok),
				p("podip", ok), p("webhook", ok)}},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantCause: []string{"clusterip (ok)", "webhook (ok)"},
		},
		{
			name:      "partial: probed paths up, others pending",
			in:        Input{Paths: []state.PathState{p("clusterip", ok), pending("dns"), pending("webhook")}},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantCause: []string{"clusterip (ok)"},
		},
		{
			name: "networkpolicy: 8443 paths time out, webhook answers, hostport refused off-node",
			in: Input{
				Paths: []state.PathState{p("clusterip", timeout), p("dns", timeout), p("hostport", refused),
					p("podip", timeout), p("webhook", ok)},
				Cluster: offNode,
			},
			want:      got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantCause: []string{"clusterip (connect_timeout)", "dns (connect_timeout)", "podip (connect_timeout)", "webhook (9443) answers"},
			wantFix:   []string{`policy-group.network.openshift.io/host-network: ""`, "ipBlock"},
		},
		{
			name: "stock install: networkpolicy blocks the host network, collector in the pod network",
			in: Input{
				Paths:   controls(p("clusterip", timeout), p("dns", timeout), p("podip", timeout), p("webhook", ok)),
				Cluster: &Cluster{RelayHostNetwork: ptr(false), RelayPath: "dns", SensorReady: ptr(true)},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantCause: []string{"control paths are informational"},
			wantNotes: []string{"networkpolicy_blocks_host_network", "collector runs in the pod network", "is not affected"},
		},
		{
			name: "stock install: Service routing broken from the host network only",
			in: Input{
				Paths:   controls(p("clusterip", timeout), p("podip", ok), p("webhook", ok)),
				Cluster: &Cluster{RelayHostNetwork: ptr(false)},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"service_unreachable_from_host_network"},
		},
		{
			name: "customised install: the relay's own path is blocked",
			in: Input{
				Paths: []state.PathState{used(p("clusterip", timeout), state.ConsumerRelay),
					used(p("podip", timeout), state.ConsumerNone), used(p("webhook", ok), state.ConsumerNone)},
				Cluster: &Cluster{RelayHostNetwork: ptr(true), RelayPath: "clusterip", CNI: "ovn-kubernetes", Namespace: "acs"},
			},
			want:    got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantFix: []string{`policy-group.network.openshift.io/host-network: ""`, "separate NetworkPolicy in acs", "stock pod network"},
		},
		{
			name: "customised install on Cilium: the fix uses entities",
			in: Input{
				Paths:   []state.PathState{used(p("clusterip", timeout), state.ConsumerRelay), used(p("webhook", ok), state.ConsumerNone)},
				Cluster: &Cluster{RelayHostNetwork: ptr(true), RelayPath: "clusterip", CNI: "cilium"},
			},
			want:    got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantFix: []string{"fromEntities [host, remote-node]"},
		},
		{
			name: "stock install: an expired certificate still matters",
			in: Input{
				Paths:   controls(p("clusterip", dial.ReasonCertExpired), p("webhook", ok)),
				Cluster: &Cluster{RelayHostNetwork: ptr(false)},
			},
			want: got{Name: TLSTrust, Severity: SeverityCritical},
		},
		{
			name: "stock install: sensor down still matters",
			in: Input{
				Paths:   controls(p("clusterip", refused), p("podip", refused), p("webhook", refused)),
				Cluster: &Cluster{RelayHostNetwork: ptr(false), SensorReady: ptr(false), Namespace: "acs"},
			},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"no ready sensor endpoint"},
			wantFix:   []string{"oc -n acs get pods"},
		},
		{
			name: "every path times out, webhook included, sensor ready: the node's network",
			in: Input{
				Paths:   []state.PathState{p("clusterip", timeout), p("podip", timeout), p("webhook", timeout)},
				Cluster: &Cluster{SensorReady: ptr(true), SensorRestarts: 2, SensorLastTermination: "OOMKilled"},
			},
			want:      got{Name: NodeNetworkBroken, Severity: SeverityCritical},
			wantCause: []string{"webhook (9443, open to all sources) included", "restarted 2 times, last ended OOMKilled"},
			wantFix:   []string{"MTU"},
		},
		{
			name:      "every path times out, sensor readiness unknown: undecided",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout), p("webhook", timeout)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"clusterip (connect_timeout)"},
		},
		{
			name: "host-network relay with dnsPolicy ClusterFirst dials a name",
			in: Input{
				Paths:   []state.PathState{used(p("dns", ok), state.ConsumerRelay), p("webhook", ok)},
				Cluster: &Cluster{RelayHostNetwork: ptr(true), RelayDNSPolicy: "ClusterFirst", RelayPath: "dns"},
			},
			want:      got{Name: DNSBroken, Severity: SeverityCritical},
			wantCause: []string{"dnsPolicy ClusterFirst", "sensor.stackrox.svc:443"},
			wantFix:   []string{"ClusterFirstWithHostNet"},
		},
		{
			name: "host-network relay with dnsPolicy ClusterFirst dials an address: fine",
			in: Input{
				Paths:   []state.PathState{used(p("clusterip", ok), state.ConsumerRelay)},
				Cluster: &Cluster{RelayHostNetwork: ptr(true), RelayDNSPolicy: "ClusterFirst", RelayEndpoint: "172.30.12.7:443"},
			},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "control-plane node, relay not enabled there",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				Cluster: &Cluster{NodeControlPlane: ptr(true), ComplianceVirtualMachines: ptr(true), Namespace: "acs"},
			},
			want:      got{Name: RelayNotStarted, Severity: SeverityWarning},
			wantCause: []string{"control-plane node"},
			wantFix:   []string{"ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true", "in acs"},
		},
		{
			name: "control-plane node with the relay enabled there",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				Cluster: &Cluster{NodeControlPlane: ptr(true), ComplianceVirtualMachines: ptr(true), RelayOnMasters: true},
			},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "relay could not bind its port",
			in: Input{
				Paths: []state.PathState{p("clusterip", ok)},
				VSOCK: &VSOCK{RelayLog: true, ListenErrorsRecent: 1},
			},
			want:      got{Name: RelayNotStarted, Severity: SeverityWarning},
			wantCause: []string{"could not listen"},
		},
		{
			name: "VMs connect but nothing listens on the relay port",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				VSOCK:   &VSOCK{RelayKnown: true, ConnectionsRecent: 2},
				Cluster: &Cluster{ComplianceVirtualMachines: ptr(true), RelayHostNetwork: ptr(true)},
			},
			want:      got{Name: RelayNotStarted, Severity: SeverityWarning},
			wantCause: []string{"nothing listens"},
		},
		{
			name: "relay in the pod network: the host's socket dumps cannot see it listen",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				VSOCK:   &VSOCK{RelayKnown: true, ConnectionsRecent: 2, RelayLog: true},
				Cluster: &Cluster{ComplianceVirtualMachines: ptr(true), RelayHostNetwork: ptr(false)},
			},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "reports rejected: sensor without the feature",
			in: Input{
				Paths: []state.PathState{relay(p("clusterip", ok)), p("webhook", ok)},
				VSOCK: &VSOCK{RelayLog: true, SendErrorsRecent: 2, SendErrorCode: "unimplemented"},
				Cluster: &Cluster{RelayPath: "clusterip", ComplianceVirtualMachines: ptr(true),
					SensorVirtualMachines: ptr(false)},
			},
			want:      got{Name: ReportsRejected, Severity: SeverityCritical},
			wantCause: []string{"ROX_VIRTUAL_MACHINES is off on sensor", "true on compliance but false on sensor"},
			wantFix:   []string{"enable ROX_VIRTUAL_MACHINES on sensor"},
		},
		{
			name: "send errors while the relay's path is down: the path verdict explains them",
			in: Input{
				Paths:   []state.PathState{relay(p("clusterip", timeout)), p("podip", ok), p("webhook", ok)},
				VSOCK:   &VSOCK{RelayLog: true, SendErrorsRecent: 2},
				Cluster: &Cluster{RelayPath: "clusterip"},
			},
			want: got{Name: ServiceUnreachable, Severity: SeverityCritical},
		},
		{
			name: "4.12 line: no push relay, host-network failures are notes",
			in: Input{
				Paths:   controls(p("clusterip", timeout), p("webhook", ok)),
				Cluster: &Cluster{NoRelay: true, Version: "4.12.0"},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"RHACS 4.12.0 has no push relay", "relay checks do not apply"},
		},
		{
			name: "networkpolicy: only clusterip and webhook configured",
			in:   Input{Paths: []state.PathState{p("clusterip", timeout), p("webhook", ok)}},
			want: got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
		},
		{
			name: "networkpolicy: dns also broken does not hide it",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("dns", dnsErr),
				p("podip", timeout), p("webhook", ok)}},
			want:      got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantCause: []string{"clusterip (connect_timeout)", "podip (connect_timeout)"},
		},
		{
			name:      "ambiguous: 8443 paths time out, webhook not configured",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("dns", timeout), p("podip", timeout)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"no webhook result"},
		},
		{
			name:      "ambiguous: webhook configured but not probed yet",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout), pending("webhook")}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"no webhook result", "clusterip (connect_timeout)"},
		},
		{
			name: "ambiguous: clusterip refused (not a drop) while webhook answers, no podip",
			in:   Input{Paths: []state.PathState{p("clusterip", refused), p("webhook", ok)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name: "service: clusterip times out while pod IP and webhook answer",
			in:   Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", ok), p("webhook", ok)}},
			want: got{Name: ServiceUnreachable, Severity: SeverityCritical},
		},
		{
			name: "service: clusterip, dns and webhook fail while pod IP answers",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("dns", timeout),
				p("podip", ok), p("webhook", timeout)}},
			want:      got{Name: ServiceUnreachable, Severity: SeverityCritical},
			wantCause: []string{"clusterip (connect_timeout)", "dns (connect_timeout)"},
			wantFix:   []string{"pod IP"},
		},
		{
			name:      "service: no clusterip path, dns connect refused, pod IP answers",
			in:        Input{Paths: []state.PathState{p("dns", refused), p("podip", ok)}},
			want:      got{Name: ServiceUnreachable, Severity: SeverityCritical},
			wantCause: []string{"dns (refused)"},
		},
		{
			name: "service: clusterip refused and dns unresolved, pod IP answers",
			in:   Input{Paths: []state.PathState{p("clusterip", refused), p("dns", dnsErr), p("podip", ok)}},
			want: got{Name: ServiceUnreachable, Severity: SeverityCritical},
		},
		{
			name: "dns: dns_error while clusterip answers",
			in: Input{Paths: []state.PathState{p("clusterip", ok), p("dns", dnsErr), p("podip", ok),
				p("webhook", ok)}},
			want:      got{Name: DNSBroken, Severity: SeverityCritical},
			wantCause: []string{"sensor.stackrox.svc"},
			wantFix:   []string{"ClusterFirstWithHostNet"},
		},
		{
			name: "dns: no clusterip path, another path up",
			in:   Input{Paths: []state.PathState{p("dns", dnsErr), p("podip", ok)}},
			want: got{Name: DNSBroken, Severity: SeverityCritical},
		},
		{
			name: "dns: clusterip configured but pending, another path up",
			in:   Input{Paths: []state.PathState{pending("clusterip"), p("dns", dnsErr), p("webhook", ok)}},
			want: got{Name: DNSBroken, Severity: SeverityCritical},
		},
		{
			name: "dns: hostport refused off-node does not hide it",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("dns", dnsErr), p("hostport", refused)},
				Cluster: offNode,
			},
			want: got{Name: DNSBroken, Severity: SeverityCritical},
		},
		{
			name: "not dns: dns the only path",
			in:   Input{Paths: []state.PathState{p("dns", dnsErr)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name: "not dns: a custom path is down as well",
			in:   Input{Paths: []state.PathState{p("clusterip", ok), p("dns", dnsErr), p("mysensor", refused)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name: "sensor unavailable: every path refused",
			in: Input{Paths: []state.PathState{p("clusterip", refused), p("dns", refused), p("hostport", refused),
				p("podip", refused), p("webhook", refused)}},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"webhook (refused)"},
			wantFix:   []string{"oc -n stackrox"},
		},
		{
			name: "every path times out, the webhook included, readiness unknown: undecided, says why",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout),
				p("webhook", dial.ReasonTLSTimeout)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"cannot tell sensor down from this node's network"},
		},
		{
			name: "every path times out and the API says sensor is not ready",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout),
				p("webhook", dial.ReasonTLSTimeout)}, Cluster: &Cluster{SensorReady: ptr(false)}},
			want: got{Name: SensorUnavailable, Severity: SeverityCritical},
		},
		{
			name: "sensor unavailable: not ready everywhere",
			in: Input{Paths: []state.PathState{p("clusterip", dial.ReasonCheckFailed), p("podip", dial.ReasonCheckFailed),
				p("webhook", dial.ReasonCheckFailed)}},
			want: got{Name: SensorUnavailable, Severity: SeverityCritical},
		},
		{
			name: "sensor unavailable: no webhook path, pod IP refused",
			in:   Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", refused)}},
			want: got{Name: SensorUnavailable, Severity: SeverityCritical},
		},
		{
			name: "sensor unavailable: dns unresolved does not hide it",
			in: Input{Paths: []state.PathState{p("clusterip", refused), p("dns", dnsErr), p("podip", refused),
				p("webhook", refused)}},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"clusterip (refused)", "podip (refused)", "webhook (refused)"},
		},
		{
			name: "not unavailable: webhook unresolved and pod IP times out",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout),
				p("webhook", dnsErr)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name:      "not unavailable: only custom paths, all refused",
			in:        Input{Paths: []state.PathState{p("a", refused), p("b", refused)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"a (refused)", "b (refused)"},
			notCause:  []string{"no webhook result", "no podip result"},
		},
		{
			name:      "ambiguous: clusterip times out, neither webhook nor podip configured",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("mysensor", ok)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"clusterip (connect_timeout)", "no webhook result", "no podip result"},
		},
		{
			name: "tls: wrong CA on every 8443 path",
			in: Input{Paths: []state.PathState{p("clusterip", dial.ReasonCertUnknownAuthority),
				p("podip", dial.ReasonCertUnknownAuthority), p("webhook", ok)}},
			want:      got{Name: TLSTrust, Severity: SeverityCritical},
			wantCause: []string{"clusterip (cert_unknown_authority)", "podip (cert_unknown_authority)", "dial tcp"},
			wantFix:   []string{"collector-tls"},
		},
		{
			name:    "tls: name mismatch",
			in:      Input{Paths: []state.PathState{p("podip", dial.ReasonCertNameMismatch), p("clusterip", ok)}},
			want:    got{Name: TLSTrust, Severity: SeverityCritical},
			wantFix: []string{"sensor.stackrox.svc"},
		},
		{
			name:    "tls: expired",
			in:      Input{Paths: []state.PathState{p("clusterip", dial.ReasonCertExpired), p("webhook", dial.ReasonCertExpired)}},
			want:    got{Name: TLSTrust, Severity: SeverityCritical},
			wantFix: []string{"renew"},
		},
		{
			name: "tls: a tls_error that carries a verification error",
			in: Input{Paths: []state.PathState{{
				Target: dial.Target{Name: "podip", Addr: addrOf("podip")},
				Latest: &dial.Result{Reason: dial.ReasonTLSError, TLS: &dial.TLSFacts{VerifyError: "x509: bad"}},
			}, p("clusterip", ok)}},
			want:      got{Name: TLSTrust, Severity: SeverityCritical},
			wantCause: []string{"x509: bad"},
		},
		{
			name: "tls: wins over a NetworkPolicy-like pattern",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", dial.ReasonCertUnknownAuthority),
				p("webhook", ok)}},
			want: got{Name: TLSTrust, Severity: SeverityCritical},
		},
		{
			name: "not tls: tls_error without a verification error",
			in:   Input{Paths: []state.PathState{p("podip", dial.ReasonTLSError), p("clusterip", ok)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name: "hostport: refused on a node without sensor",
			in: Input{
				Paths: []state.PathState{p("clusterip", ok), p("hostport", refused), p("podip", ok),
					p("webhook", ok)},
				Cluster: offNode,
			},
			want:      got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"127.0.0.1:8443", "refused"},
			wantFix:   []string{"sensor.stackrox.svc:443"},
		},
		{
			name: "hostport: another listener's certificate on a node without sensor",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("hostport", dial.ReasonCertNameMismatch)},
				Cluster: offNode,
			},
			want: got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
		},
		{
			name: "hostport: refused but sensor runs here",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("hostport", refused), p("podip", ok)},
				Cluster: onNode,
			},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"sensor runs on this node", "portmap"},
		},
		{
			name:      "hostport: refused, sensor placement unknown",
			in:        Input{Paths: []state.PathState{p("clusterip", ok), p("hostport", refused), p("podip", ok)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"not known whether sensor runs on this node"},
		},
		{
			name: "hostport: placement unknown because Cluster has no answer",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("hostport", refused)},
				Cluster: &Cluster{RelayPath: "clusterip"},
			},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name: "relay: hostport relay refused off-node while VMs connect",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("hostport", refused), p("webhook", ok)},
				Cluster: &Cluster{SensorOnThisNode: ptr(false), RelayPath: "hostport"},
				VSOCK:   vmsConnecting,
			},
			want:      got{Name: RelayPathDownVMsConnecting, Severity: SeverityCritical, Underlying: HostPortNotOnThisNode},
			wantCause: []string{"hostport (refused)", "3 recent", "1 established", HostPortNotOnThisNode},
			wantFix:   []string{"sensor.stackrox.svc:443"},
		},
		{
			name: "relay: marked relay path blocked by NetworkPolicy, only established connections",
			in: Input{
				Paths: []state.PathState{relay(p("clusterip", timeout)), p("podip", timeout), p("webhook", ok)},
				VSOCK: &VSOCK{Established: 2},
			},
			want:    got{Name: RelayPathDownVMsConnecting, Severity: SeverityCritical, Underlying: NetworkPolicyBlocks},
			wantFix: []string{"policy-group.network.openshift.io/host-network"},
		},
		{
			name: "relay: Cluster.RelayPath wins over the Relay mark",
			in: Input{
				Paths:   []state.PathState{relay(p("clusterip", ok)), p("dns", dnsErr)},
				Cluster: &Cluster{RelayPath: "dns"},
				VSOCK:   vmsConnecting,
			},
			want: got{Name: RelayPathDownVMsConnecting, Severity: SeverityCritical, Underlying: DNSBroken},
		},
		{
			name: "relay: path down but VSOCK unknown",
			in: Input{
				Paths: []state.PathState{relay(p("clusterip", timeout)), p("podip", timeout), p("webhook", ok)},
			},
			want: got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
		},
		{
			name: "relay: path down but no VM connects",
			in: Input{
				Paths: []state.PathState{relay(p("clusterip", timeout)), p("podip", timeout), p("webhook", ok)},
				VSOCK: &VSOCK{RelayListening: true},
			},
			want: got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
		},
		{
			name: "relay: relay path up while another path is down",
			in: Input{
				Paths: []state.PathState{relay(p("clusterip", ok)), p("dns", dnsErr)},
				VSOCK: vmsConnecting,
			},
			want: got{Name: DNSBroken, Severity: SeverityCritical},
		},
		{
			name: "relay: relay path not probed yet",
			in: Input{
				Paths: []state.PathState{relay(pending("hostport")), p("clusterip", timeout), p("webhook", ok)},
				VSOCK: vmsConnecting,
			},
			want: got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
		},
		{
			name: "relay: configured relay path is not among the probed paths",
			in: Input{
				Paths:   []state.PathState{p("clusterip", timeout), p("webhook", ok)},
				Cluster: &Cluster{RelayPath: "hostport"},
				VSOCK:   vmsConnecting,
			},
			want: got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
		},
		{
			name: "relay: escalates a degraded verdict and keeps its fix",
			in: Input{
				Paths: []state.PathState{relay(p("mysensor", dial.ReasonOther)), p("clusterip", ok)},
				VSOCK: vmsConnecting,
			},
			want:    got{Name: RelayPathDownVMsConnecting, Severity: SeverityCritical, Underlying: Degraded},
			wantFix: []string{"error text"},
		},
		{
			name: "degraded: a custom path down, the rest up",
			in:   Input{Paths: []state.PathState{p("clusterip", ok), p("mysensor", dial.ReasonReset)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
	}
	produced := map[string]bool{}
	for _, tt := range tests {
		produced[tt.want.Name] = true
		t.Run(tt.name, func(t *testing.T) {
			v := Decide(tt.in)
			if diff := cmp.Diff(tt.want, got{v.Name, v.Severity, v.Underlying}); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s\ncause: %s", diff, v.Cause)
			}
			for _, s := range tt.wantCause {
				if !strings.Contains(v.Cause, s) {
					t.Errorf("Cause = %q, want it to contain %q", v.Cause, s)
				}
			}
			for _, s := range tt.notCause {
				if strings.Contains(v.Cause, s) {
					t.Errorf("Cause = %q, want it not to contain %q", v.Cause, s)
				}
			}
			for _, s := range tt.wantFix {
				if !strings.Contains(v.Fix, s) {
					t.Errorf("Fix = %q, want it to contain %q", v.Fix, s)
				}
			}
			notes := strings.Join(v.Notes, "\n")
			for _, s := range tt.wantNotes {
				if !strings.Contains(notes, s) {
					t.Errorf("Notes = %q, want them to contain %q", v.Notes, s)
				}
			}
			for field, s := range map[string]string{"Cause": v.Cause, "Fix": v.Fix} {
				if s == "" || strings.ContainsAny(s, "\r\n") {
					t.Errorf("%s = %q, want one non-empty line", field, s)
				}
			}
			if v.Severity != SeverityOf(v.Name) {
				t.Errorf("Severity = %q, want SeverityOf(%q) = %q", v.Severity, v.Name, SeverityOf(v.Name))
			}

			// The order of the paths must not matter.
			rev := tt.in
			rev.Paths = slices.Clone(tt.in.Paths)
			slices.Reverse(rev.Paths)
			if r := Decide(rev); r.Name != v.Name || r.Underlying != v.Underlying {
				t.Errorf("Decide(reversed paths) = %q/%q, want %q/%q", r.Name, r.Underlying, v.Name, v.Underlying)
			}
		})
	}
	for _, n := range Names() {
		if !produced[n] {
			t.Errorf("no test case expects verdict %q", n)
		}
	}
}

// TestNames checks that Names lists thirteen distinct verdicts, each with a severity.
func TestNames(t *testing.T) {
	names := Names()
	if len(names) != 13 {
		t.Errorf("len(Names()) = %d, want 13", len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("Names() lists %q twice", n)
		}
		seen[n] = true
		if SeverityOf(n) == SeverityUnknown && n != Unknown {
			t.Errorf("SeverityOf(%q) = unknown, want a severity", n)
		}
	}
	if SeverityOf("no_such_verdict") != SeverityUnknown {
		t.Errorf("SeverityOf(no_such_verdict) = %q, want unknown", SeverityOf("no_such_verdict"))
	}
	names[0] = "changed"
	if Names()[0] != Healthy {
		t.Errorf("Names() shares its slice between calls")
	}
}

func TestDecideDoesNotChangeInput(t *testing.T) {
	in := Input{Paths: []state.PathState{relay(p("hostport", refused)), p("clusterip", ok)},
		Cluster: &Cluster{SensorOnThisNode: ptr(false)}, VSOCK: &VSOCK{Established: 1}}
	before := []state.PathState{relay(p("hostport", refused)), p("clusterip", ok)}
	Decide(in)
	if diff := cmp.Diff(before, in.Paths, cmp.Comparer(sameError)); diff != "" {
		t.Errorf("Decide changed its input (-want +got):\n%s", diff)
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}
