package verdict

import (
	"fmt"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// The host-network patterns: rules 5 to 7. They tell a NetworkPolicy from
// service routing from DNS by comparing the paths with each other, and look
// only at the five known paths.

// networkPolicy is rule 5: the webhook (9443, open to all) answers while
// 8443 times out on every known path that got that far.
func networkPolicy(p *picture) (finding, bool) {
	wh, ok := p.all[dial.PathWebhook]
	if !ok || !wh.up() {
		return finding{}, false
	}
	var timedOut []observed
	for _, name := range []string{dial.PathClusterIP, dial.PathDNS, dial.PathPodIP} {
		o, ok := p.all[name]
		if !ok {
			continue
		}
		switch {
		case o.reason == dial.ReasonConnectTimeout:
			timedOut = append(timedOut, o)
		case o.class == classDNS:
		default:
			return finding{}, false
		}
	}
	if len(timedOut) == 0 {
		return finding{}, false
	}
	return blame(Verdict{Name: NetworkPolicyBlocks,
		Cause: fmt.Sprintf("sensor's NetworkPolicy does not admit host-network sources: %s time out on 8443 while the webhook (9443) answers",
			names(timedOut)),
		Fix: networkPolicyFix(p.cl)}, timedOut), true
}

// serviceUnreachable is rule 6: the pod IP answers while the Service does not.
func serviceUnreachable(p *picture) (finding, bool) {
	pod, ok := p.all[dial.PathPodIP]
	if !ok || !pod.up() {
		return finding{}, false
	}
	network := func(c class) bool { return c == classTimeout || c == classRefused || c == classCheck }
	var failing []observed
	if ci, ok := p.all[dial.PathClusterIP]; ok {
		if !network(ci.class) {
			return finding{}, false
		}
		failing = append(failing, ci)
		if d, ok := p.all[dial.PathDNS]; ok && !d.up() {
			failing = append(failing, d)
		}
	} else if d, ok := p.all[dial.PathDNS]; ok && network(d.class) {
		failing = append(failing, d)
	} else {
		return finding{}, false
	}
	return blame(Verdict{Name: ServiceUnreachable,
		Cause: fmt.Sprintf("the sensor Service is not reachable from the host network: %s fail while the pod IP answers", names(failing)),
		Fix:   "check the sensor Service's endpoints and the node's service routing for host-network sources (kube-proxy or OVN-Kubernetes gateway); as a stopgap the relay can use the pod IP"}, failing), true
}

// dnsBroken is rule 7: the Service's name does not resolve while the
// Service answers by address, and nothing else is down.
func dnsBroken(p *picture) (finding, bool) {
	d, ok := p.all[dial.PathDNS]
	if !ok || d.class != classDNS {
		return finding{}, false
	}
	for _, o := range p.relevant() {
		if o.name != dial.PathDNS {
			return finding{}, false
		}
	}
	if ci, ok := p.all[dial.PathClusterIP]; ok {
		if !ci.up() {
			return finding{}, false
		}
	} else if len(p.down) == len(p.seen) {
		return finding{}, false // no other path is up
	}
	return blame(Verdict{Name: DNSBroken,
		Cause: fmt.Sprintf("the node's resolver does not know cluster names: %s does not resolve while the Service answers by address",
			orDefault(host(d.addr), "the sensor Service name")),
		Fix: "set dnsPolicy: ClusterFirstWithHostNet on host-network pods (collector, sensorprobe) and check that the cluster DNS answers from the node"}, []observed{d}), true
}

// networkPolicyFix is the fix for sensor's NetworkPolicy dropping
// host-network sources, for the node's CNI when it is known. Sensor's own
// policy is owned by the chart or operator, which revert edits, so the fix
// is a policy of its own.
func networkPolicyFix(cl *Cluster) string {
	return fmt.Sprintf("add %s (probe fix prints it; check AdminNetworkPolicy and BaselineAdminNetworkPolicy too); or return collector to the stock pod network (no hostNetwork), which sensor's policy admits",
		hostNetworkPolicy(cl))
}

// hostNetworkPolicy names the separate NetworkPolicy that admits
// host-network sources to sensor:8443 on the node's CNI.
func hostNetworkPolicy(cl *Cluster) string {
	var plugin cni.Plugin
	if cl != nil {
		plugin = cl.CNI
	}
	admit := `on OVN-Kubernetes a namespaceSelector policy-group.network.openshift.io/host-network: "", on Cilium a CiliumNetworkPolicy with fromEntities [host, remote-node], elsewhere an ipBlock per node address (on overlays such as Calico's, the node's tunnel address is the source)`
	switch plugin {
	case cni.OVNKubernetes:
		admit = `a namespaceSelector policy-group.network.openshift.io/host-network: ""`
	case cni.Cilium:
		admit = "a CiliumNetworkPolicy with fromEntities [host, remote-node] (CIDR rules do not match host-network sources on Cilium)"
	case cni.Calico:
		admit = "an ipBlock per node address including each node's tunnel address (Calico's overlay uses it as the source)"
	}
	return fmt.Sprintf("a separate NetworkPolicy in %s (sensor's own is reverted by the operator or Helm) admitting host-network sources to sensor port 8443: %s",
		cl.namespace(), admit)
}
