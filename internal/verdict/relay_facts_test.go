package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// relayCases are the cases of step 4: the relay's own evidence and the escalation (relay_facts.go).
func relayCases() []decideCase {
	return []decideCase{
		{
			name: "host-network relay with dnsPolicy ClusterFirst dials a name",
			in: Input{
				Paths:   []state.PathState{used(p("dns", ok), state.ConsumerRelay), p("webhook", ok)},
				Cluster: &Cluster{RelayHostNetwork: new(true), RelayDNSPolicy: "ClusterFirst"},
			},
			want:      got{Name: DNSBroken, Severity: SeverityCritical},
			wantCause: []string{"dnsPolicy ClusterFirst", "sensor.stackrox.svc:443"},
			wantFix:   []string{"ClusterFirstWithHostNet"},
		},
		{
			name: "host-network relay with dnsPolicy ClusterFirst dials an address: fine",
			in: Input{
				Paths:   []state.PathState{used(p("clusterip", ok), state.ConsumerRelay)},
				Cluster: &Cluster{RelayHostNetwork: new(true), RelayDNSPolicy: "ClusterFirst", RelayEndpoint: "172.30.12.7:443"},
			},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "control-plane node, relay not enabled there",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				Cluster: &Cluster{RelaySkipsNode: new(true), NodeTakesWorkloads: new(true), ComplianceVirtualMachines: new(true), Namespace: "acs"},
			},
			want:      got{Name: RelayNotStarted, Severity: SeverityWarning},
			wantCause: []string{"control-plane node"},
			wantFix:   []string{"ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true", "in acs"},
		},
		{
			name: "control-plane node with the relay enabled there (or not 4.11)",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				Cluster: &Cluster{RelaySkipsNode: new(false), NodeTakesWorkloads: new(true), ComplianceVirtualMachines: new(true)},
			},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "tainted control-plane node of a cluster with workers: no relay, none needed",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				Cluster: &Cluster{RelaySkipsNode: new(true), NodeTakesWorkloads: new(false), ComplianceVirtualMachines: new(true)},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"none is needed", "taints"},
		},
		{
			name: "control-plane node, taints unknown: the relay is missing",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				Cluster: &Cluster{RelaySkipsNode: new(true), ComplianceVirtualMachines: new(true)},
			},
			want: got{Name: RelayNotStarted, Severity: SeverityWarning},
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
				Cluster: &Cluster{ComplianceVirtualMachines: new(true), RelayHostNetwork: new(true)},
			},
			want:      got{Name: RelayNotStarted, Severity: SeverityWarning},
			wantCause: []string{"nothing listens"},
		},
		{
			name: "relay in the pod network: the host's socket dumps cannot see it listen",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok)},
				VSOCK:   &VSOCK{RelayKnown: true, ConnectionsRecent: 2, RelayLog: true},
				Cluster: &Cluster{ComplianceVirtualMachines: new(true), RelayHostNetwork: new(false)},
			},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "reports rejected: sensor without the feature",
			in: Input{
				Paths:   []state.PathState{relay(p("clusterip", ok)), p("webhook", ok)},
				VSOCK:   &VSOCK{RelayLog: true, SendErrorsRecent: 2, SendErrorCode: "unimplemented"},
				Cluster: &Cluster{ComplianceVirtualMachines: new(true), SensorVirtualMachines: new(false)},
			},
			want:      got{Name: ReportsRejected, Severity: SeverityCritical},
			wantCause: []string{"ROX_VIRTUAL_MACHINES is off on sensor", "true on compliance but false on sensor"},
			wantFix:   []string{"enable ROX_VIRTUAL_MACHINES on sensor"},
		},
		{
			name: "send errors while the relay's path is down: the path verdict explains them",
			in: Input{
				Paths: []state.PathState{relay(p("clusterip", timeout)), p("podip", ok), p("webhook", ok)},
				VSOCK: &VSOCK{RelayLog: true, SendErrorsRecent: 2},
			},
			want: got{Name: ServiceUnreachable, Severity: SeverityCritical},
		},
		{
			name: "relay: hostport relay refused off-node while VMs connect",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), relay(p("hostport", refused)), p("webhook", ok)},
				Cluster: &Cluster{SensorOnThisNode: new(false), SensorNode: "node-b", SensorHostPort: 8443},
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
				VSOCK: &VSOCK{RelayConnections: 2},
			},
			want:    got{Name: RelayPathDownVMsConnecting, Severity: SeverityCritical, Underlying: NetworkPolicyBlocks},
			wantFix: []string{"policy-group.network.openshift.io/host-network"},
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
			name: "relay: no path is the relay's",
			in: Input{
				Paths: []state.PathState{p("clusterip", timeout), p("webhook", ok)},
				VSOCK: vmsConnecting,
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
	}
}

func TestRelayFacts(t *testing.T) { runCases(t, relayCases()) }
