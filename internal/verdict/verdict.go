// Package verdict names the most likely cause of what a node's probe sees.
//
// Decide is a pure function: it takes the latest state of every path plus
// what is known about the VM relay's VSOCK activity and the cluster, and
// returns one Verdict from a fixed set, with a one-line cause and a one-line
// fix for the on-call engineer. It does no I/O, reads no clock and keeps no
// state between calls; the caller decides when to log a change.
//
// Decide works in the order the decision is made, one file a step:
//
//  1. who depends on what (paths.go): each path's class and consumer, and
//     the relay's own path, looked up once;
//  2. the picture the paths give (rules.go: the rule families in order of
//     precedence, one file each);
//  3. the relay's path first (relay_path.go): when the relay's path is down,
//     the verdict is about that path, and the picture of the other paths only
//     explains it; otherwise failures of control paths become notes
//     (consumers.go);
//  4. the relay's own evidence, then the escalation when VMs are connecting
//     (relay_facts.go); on the 4.12 line, where sensor pulls reports, this
//     node's VMs and virt-handler instead (pull_facts.go).
//
// docs/status.md ("How the verdict is decided") states the rules for the
// on-call engineer; TestRulesDocumented keeps its order and this package's
// in step.
package verdict

import (
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// The verdict names. They are the values of the verdict label of the
// sensorprobe_verdict metric and of the status report's verdict.name.
const (
	Healthy                    = "healthy"
	NetworkPolicyBlocks        = "networkpolicy_blocks_host_network"
	ServiceUnreachable         = "service_unreachable_from_host_network"
	DNSBroken                  = "dns_broken"
	SensorUnavailable          = "sensor_unavailable"
	TLSTrust                   = "tls_trust"
	HostPortNotOnThisNode      = "hostport_not_on_this_node"
	RelayPathDownVMsConnecting = "relay_path_down_vms_connecting"
	NodeNetworkBroken          = "node_network_broken"
	RelayNotStarted            = "relay_not_started"
	ReportsRejected            = "reports_rejected"
	VirtHandlerDown            = "virt_handler_down"
	VMsWithoutVSOCK            = "vms_without_vsock"
	Degraded                   = "degraded"
	Unknown                    = "unknown"
)

// Names returns every verdict name, healthy first and unknown last. The
// slice is new on each call; callers may keep it.
func Names() []string {
	return []string{
		Healthy, NetworkPolicyBlocks, ServiceUnreachable, DNSBroken, SensorUnavailable,
		TLSTrust, HostPortNotOnThisNode, RelayPathDownVMsConnecting, NodeNetworkBroken,
		RelayNotStarted, ReportsRejected, VirtHandlerDown, VMsWithoutVSOCK, Degraded, Unknown,
	}
}

// Severity says how urgently a verdict needs a person.
type Severity string

// The severities.
const (
	// SeverityOK: nothing to do.
	SeverityOK Severity = "ok"
	// SeverityWarning: something is wrong but sensor is reachable from this
	// node on at least one path the collector can use.
	SeverityWarning Severity = "warning"
	// SeverityCritical: sensor is not reachable the way the collector or the
	// VM relay needs it.
	SeverityCritical Severity = "critical"
	// SeverityUnknown: not enough data to judge.
	SeverityUnknown Severity = "unknown"
)

// SeverityOf returns the fixed severity of the verdict called name, and
// SeverityUnknown for a name not in Names. It is the only place a verdict's
// severity is decided.
func SeverityOf(name string) Severity {
	switch name {
	case Healthy:
		return SeverityOK
	case Degraded, RelayNotStarted, VMsWithoutVSOCK:
		return SeverityWarning
	case NetworkPolicyBlocks, ServiceUnreachable, SensorUnavailable, TLSTrust,
		RelayPathDownVMsConnecting, DNSBroken, HostPortNotOnThisNode, NodeNetworkBroken,
		ReportsRejected, VirtHandlerDown:
		return SeverityCritical
	}
	return SeverityUnknown
}

// Input is everything Decide looks at.
type Input struct {
	// Paths is the latest state of every configured path, in any order.
	// Paths whose Current result is nil have not been probed yet. The
	// relay's path is the one whose Consumer is state.ConsumerRelay.
	Paths []state.PathState
	// VSOCK is nil when VSOCK activity is not known.
	VSOCK *VSOCK
	// Cluster is nil when Kubernetes discovery is off or has not answered.
	Cluster *Cluster
}

// Verdict is the named cause of what the probe sees on this node.
type Verdict struct {
	// Name is one of Names.
	Name string
	// Cause says, in one line, what is wrong and on which paths.
	Cause string
	// Fix says, in one line, what to do about it.
	Fix string
	// Severity is SeverityOf(Name).
	Severity Severity
	// Underlying is the verdict the escalation relay_path_down_vms_connecting
	// was raised over; empty for every other verdict.
	Underlying string
	// Notes are informational findings that do not change the verdict, such
	// as failures of paths nothing depends on.
	Notes []string
}

// Decide returns the verdict for in. See the package documentation for the
// steps and docs/status.md for the rules.
func Decide(in Input) Verdict {
	p := look(in)
	v := explain(p)
	if p.pull() {
		v = pullFacts(v, p)
	} else {
		v = relayFacts(v, p)
		v = escalate(v, p)
	}
	v.Severity = SeverityOf(v.Name)
	return v
}

// explain is step 2 and 3: the picture of the paths, the relay's path first.
func explain(p *picture) Verdict {
	if v, ok := nothingDown(p); ok {
		return v
	}
	f := pathRules(p)
	if p.relayDown() {
		return relayPathFirst(p, f)
	}
	return forConsumers(p, f)
}
