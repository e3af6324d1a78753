package verdict

import (
	"fmt"
	"net/netip"
)

// The relay's own evidence: step 4.

// relayFacts adds what the cluster and the relay's own evidence say about
// the relay. On a node whose paths are healthy, a relay that is not
// configured to work, did not start, or whose reports sensor rejects is the
// verdict; otherwise it is a note beside the path verdict.
func relayFacts(base Verdict, p *picture) Verdict {
	cl := p.cl
	var found []Verdict
	if cl != nil && cl.NoRelay {
		base.Notes = append(base.Notes, fmt.Sprintf("RHACS %s has no push relay: sensor fetches VM index reports through KubeVirt's vsock subresource; the relay checks do not apply", orDefault(cl.Version, "4.12+")))
		return base
	}
	if v, ok := relayDNS(cl); ok {
		found = append(found, v)
	}
	if v, ok := relayNotStarted(p); ok {
		found = append(found, v)
	} else if cl != nil && isTrue(cl.RelaySkipsNode) && isFalse(cl.NodeTakesWorkloads) {
		base.Notes = append(base.Notes, "compliance starts no VM relay on this control-plane node (4.11), and none is needed: the node's taints keep VMs off it")
	}
	if v, ok := reportsRejected(p); ok {
		found = append(found, v)
	}
	return promote(base, found)
}

// promote makes the first of found the verdict on a healthy node, the rest
// its notes; beside a path verdict all of them are notes of base.
func promote(base Verdict, found []Verdict) Verdict {
	if len(found) == 0 {
		return base
	}
	if base.Name != Healthy {
		for _, v := range found {
			base.Notes = append(base.Notes, v.Name+": "+v.Cause)
		}
		return base
	}
	v := found[0]
	v.Notes = append(base.Notes, v.Notes...)
	for _, o := range found[1:] {
		v.Notes = append(v.Notes, o.Name+": "+o.Cause)
	}
	return v
}

// relayDNS: a relay on the host network resolves names with the node's
// resolver unless its dnsPolicy is ClusterFirstWithHostNet, and the node's
// resolver does not know cluster names.
func relayDNS(cl *Cluster) (Verdict, bool) {
	if cl == nil || cl.RelayHostNetwork == nil || !*cl.RelayHostNetwork ||
		cl.RelayDNSPolicy == "ClusterFirstWithHostNet" || cl.RelayDNSPolicy == "" {
		return Verdict{}, false
	}
	ep := orDefault(cl.RelayEndpoint, cl.serviceEndpoint())
	if _, err := netip.ParseAddr(host(ep)); err == nil || host(ep) == "localhost" {
		return Verdict{}, false // an address needs no resolver
	}
	return Verdict{Name: DNSBroken,
		Cause: fmt.Sprintf("collector runs on the host network with dnsPolicy %s and its relay dials %s: the node's resolver does not know cluster names", cl.RelayDNSPolicy, ep),
		Fix:   fmt.Sprintf("set dnsPolicy: ClusterFirstWithHostNet on the collector DaemonSet in %s (through the SecuredCluster or Helm values that put it on the host network), or return collector to the stock pod network", cl.namespace())}, true
}

// relayNotStarted: 4.11 starts no relay on control-plane nodes unless told
// to, and a relay that could not bind its port or does not listen takes no
// reports.
func relayNotStarted(p *picture) (Verdict, bool) {
	cl, vs := p.cl, p.in.VSOCK
	vmsOn := cl != nil && cl.ComplianceVirtualMachines != nil && *cl.ComplianceVirtualMachines
	switch {
	case vmsOn && isTrue(cl.RelaySkipsNode) && !isFalse(cl.NodeTakesWorkloads):
		return Verdict{Name: RelayNotStarted,
			Cause: "this is a control-plane node and compliance starts no VM relay on control-plane nodes unless ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true (compact three-node clusters have no relay at all by default)",
			Fix:   fmt.Sprintf("if VMs run on control-plane nodes, set ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true on the compliance container of the collector DaemonSet in %s (through the SecuredCluster's or Helm's custom environment, so the next reconcile keeps it)", cl.namespace())}, true
	case vs != nil && vs.RelayLog && vs.ListenErrorsRecent > 0:
		return Verdict{Name: RelayNotStarted,
			Cause: fmt.Sprintf("the relay could not listen on its VSOCK port (%d failures in the window, from the compliance log)", vs.ListenErrorsRecent),
			Fix:   "read the compliance container's log (listen vsock …): the port may be taken, or the node lacks the vhost_vsock module"}, true
	case vmsOn && vs != nil && vs.RelayKnown && !vs.RelayListening && vs.Connecting() &&
		cl.RelayHostNetwork != nil && *cl.RelayHostNetwork:
		// Socket dumps see only the probe's (the host's) network namespace:
		// they can say "nothing listens" only for a host-network relay.
		return Verdict{Name: RelayNotStarted,
			Cause: "VMs connect to the relay's VSOCK port but nothing listens on it: compliance has not started the relay (4.11 starts it only after sensor's first scrape configuration reaches compliance)",
			Fix:   "check that compliance reached sensor (its log, and this node's path verdict) and restart the collector pod on this node if it did not recover"}, true
	}
	return Verdict{}, false
}

// reportsRejected: the relay reaches sensor but its reports fail.
func reportsRejected(p *picture) (Verdict, bool) {
	vs, cl := p.in.VSOCK, p.cl
	if vs == nil || !vs.RelayLog || vs.SendErrorsRecent == 0 || p.relayDown() {
		return Verdict{}, false // a relay path that is down explains the errors
	}
	cause := fmt.Sprintf("the relay's sends to sensor fail (%d in the window, %d sent)", vs.SendErrorsRecent, vs.ReportsSentRecent)
	fix := "read the compliance container's log for the send errors and sensor's log for the matching requests"
	switch vs.SendErrorCode {
	case "resource_exhausted":
		cause += ": sensor answers ResourceExhausted, which it does while central is unreachable"
		fix = "restore sensor's connection to central (sensor's log, central's health); reports flow again once it is back"
	case "not_implemented":
		cause += ": central lacks the virtual machine capability"
		fix = "upgrade central to a version with VM scanning and enable ROX_VIRTUAL_MACHINES on central"
	case "unimplemented":
		cause += ": sensor does not serve the VM report service (ROX_VIRTUAL_MACHINES is off on sensor)"
		fix = fmt.Sprintf("enable ROX_VIRTUAL_MACHINES on sensor (and central) in %s, as it is on compliance", cl.namespace())
	case "":
	default:
		cause += ": gRPC code " + vs.SendErrorCode
	}
	if cl != nil && cl.ComplianceVirtualMachines != nil && cl.SensorVirtualMachines != nil &&
		*cl.ComplianceVirtualMachines != *cl.SensorVirtualMachines {
		cause += fmt.Sprintf("; ROX_VIRTUAL_MACHINES is %v on compliance but %v on sensor", *cl.ComplianceVirtualMachines, *cl.SensorVirtualMachines)
	}
	return Verdict{Name: ReportsRejected, Cause: cause, Fix: fix}, true
}

// escalate raises v to relay_path_down_vms_connecting when the relay's path
// is down while VMs connect: reports are being lost now.
func escalate(v Verdict, p *picture) Verdict {
	vs := p.in.VSOCK
	if vs == nil || !vs.Connecting() || !p.relayDown() {
		return v
	}
	return Verdict{
		Name: RelayPathDownVMsConnecting,
		Cause: fmt.Sprintf("VMs are connecting to the relay (%d recent, %d established) but its path %s is down; %s: %s",
			vs.ConnectionsRecent, vs.RelayConnections, *p.relay, v.Name, v.Cause),
		Fix:        v.Fix,
		Underlying: v.Name,
		Notes:      v.Notes,
	}
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }
