package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/state"
)

// hostNetworkCases are the cases of rules 5 to 7: the host-network patterns (rules_hostnetwork.go).
func hostNetworkCases() []decideCase {
	return []decideCase{
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
			name: "customised install: the relay's own path is blocked",
			in: Input{
				Paths: []state.PathState{used(p("clusterip", timeout), state.ConsumerRelay),
					used(p("podip", timeout), state.ConsumerNone), used(p("webhook", ok), state.ConsumerNone)},
				Cluster: &Cluster{RelayHostNetwork: new(true), CNI: "ovn-kubernetes", Namespace: "acs"},
			},
			want:    got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantFix: []string{`policy-group.network.openshift.io/host-network: ""`, "separate NetworkPolicy in acs", "stock pod network"},
		},
		{
			name: "customised install on Cilium: the fix uses entities",
			in: Input{
				Paths:   []state.PathState{used(p("clusterip", timeout), state.ConsumerRelay), used(p("webhook", ok), state.ConsumerNone)},
				Cluster: &Cluster{RelayHostNetwork: new(true), CNI: "cilium"},
			},
			want:    got{Name: NetworkPolicyBlocks, Severity: SeverityCritical},
			wantFix: []string{"fromEntities [host, remote-node]"},
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
	}
}

func TestHostNetworkPatterns(t *testing.T) { runCases(t, hostNetworkCases()) }
