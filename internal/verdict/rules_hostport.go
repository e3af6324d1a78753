package verdict

import (
	"fmt"
	"strings"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// The hostPort workaround: sensor's pod declares hostPort 8443 and the relay
// dials localhost:8443. A hostPort binds only on the node that runs the pod,
// so on every other node localhost:8443 is refused (or reaches some other
// listener, whose certificate does not verify) and that node's reports are
// lost.

// hostPortOnly is rule 8: the only failure is an excused hostport (paths.go).
// Whether anything depends on it is decided after the rules: for the relay's
// own path, hostPortWorkaround names it; for a control it becomes a note.
func hostPortOnly(p *picture) (finding, bool) {
	if len(p.relevant()) > 0 {
		return finding{}, false
	}
	hp, ok := p.all[dial.PathHostPort]
	if !ok {
		return finding{}, false
	}
	return blame(Verdict{Name: HostPortNotOnThisNode,
		Cause: fmt.Sprintf("hostport %s is %s and sensor does not run on this node%s: a hostPort binds only on the node that runs the pod",
			orDefault(hp.addr, "localhost:8443"), hp.reason, sensorNodeClause(p.cl, " but on %s")),
		Fix: hostPortFix(p.cl, hostNetwork(p.cl))}, []observed{hp}), true
}

// hostPortWorkaround names the relay's own path when it is the hostPort
// workaround on a node without sensor. controls is what the other paths
// show (the rules with the hostport excused): when they show the
// NetworkPolicy pattern, that is why the workaround was made, and the cause
// says so.
func hostPortWorkaround(p *picture, controls finding) (Verdict, bool) {
	r := p.relay
	if r == nil || r.name != dial.PathHostPort || !p.excused(*r) {
		return Verdict{}, false
	}
	var cause strings.Builder
	fmt.Fprintf(&cause, "the relay dials %s (path hostport, %s)", orDefault(p.relayEndpoint(), "localhost:8443"), r.reason)
	if r.class == classTrust {
		fmt.Fprintf(&cause, ", which reaches some other listener here (%s)", oneLine(r.err))
	}
	hostPort := 0
	if p.cl != nil {
		hostPort = p.cl.SensorHostPort
	}
	if hostPort > 0 {
		fmt.Fprintf(&cause, ", but sensor's hostPort %d binds only on the node that runs sensor%s, not on this one", hostPort, sensorNodeClause(p.cl, ", %s"))
	} else {
		cause.WriteString(", but sensor declares no hostPort, so nothing of sensor listens on localhost:8443 on any node")
	}
	cause.WriteString(": VM index reports from this node are lost")
	var notes []string
	if controls.Name != HostPortNotOnThisNode && controls.Name != Degraded {
		fmt.Fprintf(&cause, "; the other paths show %s", controls.Name)
		if controls.Name == NetworkPolicyBlocks {
			cause.WriteString(", the reason the workaround was needed")
		}
		notes = append(notes, controls.Name+": "+controls.Cause)
	}
	// The relay's path has consumer relay: the relay runs on the host network.
	return Verdict{Name: HostPortNotOnThisNode, Cause: cause.String(), Fix: hostPortFix(p.cl, true), Notes: notes}, true
}

// hostPortFix re-points the relay at the Service. When the relay stays on
// the host network it then needs what the workaround avoided: a policy that
// admits host-network sources.
func hostPortFix(cl *Cluster, relayOnHostNetwork bool) string {
	fix := fmt.Sprintf("point the relay back at %s (compliance's ROX_ADVERTISED_ENDPOINT on the collector DaemonSet; probe fix does it)", cl.serviceEndpoint())
	if relayOnHostNetwork {
		fix += fmt.Sprintf(" and, while collector stays on the host network, add %s (probe fix prints it)", hostNetworkPolicy(cl))
	}
	return fix + "; or return collector to the stock pod network (no hostNetwork), which sensor's policy admits; then the hostPort on sensor can be removed"
}

// sensorNodeClause is format filled with sensor's node, "" when the node is not known.
func sensorNodeClause(cl *Cluster, format string) string {
	if cl == nil || cl.SensorNode == "" {
		return ""
	}
	return fmt.Sprintf(format, cl.SensorNode)
}

func hostNetwork(cl *Cluster) bool {
	return cl != nil && cl.RelayHostNetwork != nil && *cl.RelayHostNetwork
}

// relayEndpoint is the endpoint the relay is configured with, "" when not known.
func (p *picture) relayEndpoint() string {
	if p.cl == nil {
		return ""
	}
	return p.cl.RelayEndpoint
}
