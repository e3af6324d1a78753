package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// hostNet is a cluster whose relay runs on the host network and dials
// endpoint; sensor runs on node-b, this node when onThisNode, declaring
// hostPort (0 for none).
func hostNet(endpoint string, onThisNode bool, hostPort int) *Cluster {
	return &Cluster{RelayHostNetwork: new(true), RelayDNSPolicy: "ClusterFirstWithHostNet", RelayEndpoint: endpoint,
		SensorOnThisNode: new(onThisNode), SensorNode: "node-b", SensorHostPort: hostPort, SensorReady: new(true)}
}

// ctl marks sp as a control path (consumer none).
func ctl(sp state.PathState) state.PathState { return used(sp, state.ConsumerNone) }

// relayPathCases are the cases of step 3 when the relay's path is down
// (relay_path.go): for every rule, the relay on the path that rule would
// excuse or outvote, with sensor on and off this node.
func relayPathCases() []decideCase {
	const loop = "localhost:8443"
	// The field problem's workaround on a node without sensor: the relay
	// dials localhost:8443, refused; sensor's NetworkPolicy drops the
	// host network's 8443, the webhook answers.
	workaround := []state.PathState{ctl(p("clusterip", timeout)), ctl(p("dns", timeout)), relay(p("hostport", refused)),
		ctl(p("podip", timeout)), ctl(p("webhook", ok))}
	return []decideCase{
		{
			name: "hostPort workaround on a node without sensor, NetworkPolicy on the controls",
			in:   Input{Paths: workaround, Cluster: hostNet(loop, false, 8443)},
			want: got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"the relay dials localhost:8443 (path hostport, refused)", "hostPort 8443 binds only on the node that runs sensor, node-b",
				"reports from this node are lost", "the other paths show networkpolicy_blocks_host_network, the reason the workaround was needed"},
			wantNotes: []string{"networkpolicy_blocks_host_network: sensor's NetworkPolicy does not admit host-network sources: clusterip (connect_timeout)"},
			wantFix: []string{"point the relay back at sensor.stackrox.svc:443", "ROX_ADVERTISED_ENDPOINT", "add a separate NetworkPolicy in stackrox",
				"stock pod network", "the hostPort on sensor can be removed"},
		},
		{
			name:      "hostPort workaround on a node without sensor while VMs connect",
			in:        Input{Paths: workaround, Cluster: hostNet(loop, false, 8443), VSOCK: vmsConnecting},
			want:      got{Name: RelayPathDownVMsConnecting, Severity: SeverityCritical, Underlying: HostPortNotOnThisNode},
			wantCause: []string{"its path hostport (refused) is down", "node-b"},
			wantFix:   []string{"point the relay back at sensor.stackrox.svc:443"},
		},
		{
			name: "hostPort workaround on sensor's node: node-local traffic is exempt",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), ctl(p("dns", ok)), relay(p("hostport", ok)),
				ctl(p("podip", ok)), ctl(p("webhook", ok))}, Cluster: hostNet(loop, true, 8443)},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "hostPort workaround, the controls up: still the relay's path",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("hostport", refused)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, false, 8443)},
			want:      got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"node-b", "reports from this node are lost"},
			notCause:  []string{"the other paths show"},
		},
		{
			name: "hostPort workaround reaching another listener on a node without sensor",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("hostport", dial.ReasonCertNameMismatch)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, false, 8443)},
			want:      got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"some other listener", "cert_name_mismatch"},
		},
		{
			name: "relay on localhost:8443 but sensor declares no hostPort, node without sensor",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", timeout)), relay(p("hostport", refused)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, false, 0)},
			want:      got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"sensor declares no hostPort", "networkpolicy_blocks_host_network"},
			wantFix:   []string{"point the relay back at sensor.stackrox.svc:443"},
		},
		{
			name: "hostPort workaround, the controls show Service routing",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", timeout)), relay(p("hostport", refused)), ctl(p("podip", ok)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, false, 8443)},
			want:      got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"the other paths show service_unreachable_from_host_network"},
			notCause:  []string{"the reason the workaround was needed"},
		},
		{
			name: "hostPort workaround while sensor is down: sensor first, the workaround a note",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", refused)), relay(p("hostport", refused)), ctl(p("podip", refused)), ctl(p("webhook", refused))},
				Cluster: &Cluster{RelayHostNetwork: new(true), SensorOnThisNode: new(false), SensorNode: "node-b", SensorHostPort: 8443, SensorReady: new(false)}},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"hostport (refused)"},
			wantNotes: []string{HostPortNotOnThisNode, "node-b"},
		},
		{
			name: "relay on hostport on sensor's node, refused: the hostPort or portmap",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("hostport", refused)), ctl(p("podip", ok)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, true, 8443)},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"the relay's path hostport (refused) is down", "sensor runs on this node"},
			wantFix:   []string{"portmap", "route_localnet=1", "point the relay back at sensor.stackrox.svc:443"},
		},
		{
			name: "relay on hostport on sensor's node without a hostPort",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("hostport", refused)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, true, 0)},
			want:    got{Name: Degraded, Severity: SeverityWarning},
			wantFix: []string{"sensor declares no hostPort", "point the relay back"},
		},
		{
			name: "relay on hostport on sensor's node refused, the controls blocked: the relay's path leads",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", timeout)), relay(p("hostport", refused)), ctl(p("podip", timeout)), ctl(p("webhook", ok))},
				Cluster: hostNet(loop, true, 8443)},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"the relay's path hostport (refused) is down", "the other paths show networkpolicy_blocks_host_network"},
			wantFix:   []string{"portmap"},
		},
		{
			name: "relay on hostport with a wrong certificate on sensor's node: tls_trust names it",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("hostport", dial.ReasonCertUnknownAuthority))},
				Cluster: hostNet(loop, true, 8443)},
			want:      got{Name: TLSTrust, Severity: SeverityCritical},
			wantCause: []string{"hostport (cert_unknown_authority)"},
		},
		{
			name: "relay on the pod IP (the stopgap), up, Service routing broken on the controls",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", timeout)), relay(p("podip", ok)), ctl(p("webhook", ok))},
				Cluster: hostNet("10.128.2.15:8443", false, 0)},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{ServiceUnreachable, "the relay dials podip, not these paths"},
		},
		{
			name: "relay on the pod IP, blocked with the other 8443 paths",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", timeout)), ctl(p("dns", timeout)), relay(p("podip", timeout)), ctl(p("webhook", ok))},
				Cluster: hostNet("10.128.2.15:8443", false, 0)},
			want:      got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantCause: []string{"podip (connect_timeout)"},
		},
		{
			name: "relay on the pod IP, refused while the Service answers",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("podip", refused)), ctl(p("webhook", ok))},
				Cluster: hostNet("10.128.2.15:8443", false, 0)},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"the relay's path podip (refused) is down"},
			wantFix:   []string{"once podip answers"},
		},
		{
			name: "relay on dns, the name does not resolve",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("dns", dnsErr)), ctl(p("webhook", ok))},
				Cluster: hostNet("", false, 0)},
			want:      got{Name: DNSBroken, Severity: SeverityCritical},
			wantCause: []string{"sensor.stackrox.svc"},
		},
		{
			name: "relay on dns times out while the Service answers by address",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", ok)), relay(p("dns", timeout)), ctl(p("podip", ok)), ctl(p("webhook", ok))},
				Cluster: hostNet("", false, 0)},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"the relay's path dns (connect_timeout) is down"},
			notCause:  []string{"also down"},
		},
		{
			name: "relay on dns, up, while the controls' Service routing fails",
			in: Input{Paths: []state.PathState{ctl(p("clusterip", timeout)), relay(p("dns", ok)), ctl(p("podip", ok)), ctl(p("webhook", ok))},
				Cluster: hostNet("", false, 0)},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{ServiceUnreachable},
		},
		{
			name: "relay on clusterip behind an excused hostport: the Service rule names it",
			in: Input{Paths: []state.PathState{relay(p("clusterip", timeout)), ctl(p("hostport", refused)), ctl(p("podip", ok)), ctl(p("webhook", ok))},
				Cluster: hostNet("172.30.12.7:443", false, 8443)},
			want:      got{Name: ServiceUnreachable, Severity: SeverityCritical},
			wantCause: []string{"clusterip (connect_timeout)"},
			notCause:  []string{"hostport"},
		},
		{
			name: "a pod-network relay's endpoint is a control: VMs connecting do not escalate a stock install",
			in: Input{
				Paths: controls(p("clusterip", timeout), p("dns", timeout), p("podip", timeout), p("webhook", ok)),
				// The relay log shows connections; its endpoint is the dns path's name.
				VSOCK:   &VSOCK{RelayLog: true, ConnectionsRecent: 4, ReportsSentRecent: 4},
				Cluster: &Cluster{RelayHostNetwork: new(false), SensorReady: new(true)},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{NetworkPolicyBlocks, "collector runs in the pod network"},
		},
	}
}

func TestRelayPathCases(t *testing.T) { runCases(t, relayPathCases()) }
