// Package verdict names the most likely cause of what a node's probe sees.
//
// Decide is a pure function: it takes the latest state of every path plus
// what is known about the VM relay's VSOCK activity and the cluster, and
// returns one Verdict from a fixed set, with a one-line cause and a one-line
// fix for the on-call engineer. It does no I/O, reads no clock and keeps no
// state between calls; the caller decides when to log a change.
//
// # Precedence
//
// Paths without a result yet are ignored. The first rule that matches wins:
//
//  1. unknown: no path has a result.
//  2. healthy: every path with a result is up.
//  3. sensor_unavailable: every path with a result is down; every failure
//     other than dns_error is refused, unreachable, reset, a timeout or a
//     failed check; and either the webhook path failed that way or the pod
//     IP path was refused or failed its check (so a NetworkPolicy drop is
//     ruled out).
//  4. tls_trust: some path reached a TLS server whose certificate did not
//     verify (wrong CA, name or validity).
//  5. networkpolicy_blocks_host_network: the webhook path is up, at least one
//     of clusterip, dns and podip timed out connecting, none of them is up,
//     and the others failed with connect_timeout or dns_error.
//  6. service_unreachable_from_host_network: the pod IP path is up while the
//     clusterip path (or, without a clusterip result, the dns path) failed
//     with a network error (refused, unreachable, reset, timeout).
//  7. dns_broken: the dns path failed with dns_error while the clusterip
//     path is up (or, without a clusterip result, some other path is up),
//     and no other path is down.
//  8. hostport_not_on_this_node: the hostport path is refused (or reaches a
//     listener whose certificate does not verify) on a node known not to run
//     sensor, and every other path with a result is up.
//  9. degraded: anything else; the cause lists the failing paths and, when
//     a pattern was not decidable for lack of data, says what is missing.
//
// A hostport failure on a node known not to run sensor is expected and does
// not take part in rules 4 to 7, so a NetworkPolicy problem is still named on
// such a node. Paths with names other than the five known ones take part in
// rules 1 to 4 and 9; a failing one also keeps rules 7 and 8 from matching;
// rules 5 and 6 look only at the known paths.
//
// Escalation: when the path the relay is configured to use (Cluster.RelayPath,
// or else the path marked Relay) has a result and is down, and VSOCK shows VMs
// connecting (recent or established connections), the verdict is
// relay_path_down_vms_connecting; Underlying then names the verdict the rules
// above gave, and Cause and Fix include it.
package verdict

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/sensorprobe/sensorprobe/internal/dial"
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
	Degraded                   = "degraded"
	Unknown                    = "unknown"
)

// Names returns every verdict name, healthy first and unknown last. The
// slice is new on each call; callers may keep it.
func Names() []string {
	return []string{
		Healthy, NetworkPolicyBlocks, ServiceUnreachable, DNSBroken, SensorUnavailable,
		TLSTrust, HostPortNotOnThisNode, RelayPathDownVMsConnecting, NodeNetworkBroken,
		RelayNotStarted, ReportsRejected, Degraded, Unknown,
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
// SeverityUnknown for a name not in Names.
func SeverityOf(name string) Severity {
	switch name {
	case Healthy:
		return SeverityOK
	case Degraded, RelayNotStarted:
		return SeverityWarning
	case NetworkPolicyBlocks, ServiceUnreachable, SensorUnavailable, TLSTrust,
		RelayPathDownVMsConnecting, DNSBroken, HostPortNotOnThisNode, NodeNetworkBroken,
		ReportsRejected:
		return SeverityCritical
	}
	return SeverityUnknown
}

// VSOCK is what is known about the VM relay's VSOCK port on this node.
type VSOCK struct {
	// RelayListening is true when a socket listens on the relay port.
	RelayListening bool
	// ConnectionsRecent counts connections to the relay port seen over the
	// watcher's recent window.
	ConnectionsRecent int
	// Established counts connections to the relay port established at the
	// latest observation.
	Established int
	// RelayKnown is true when the socket dumps can see the relay's port
	// (they work, and the relay shares the probe's network namespace), so
	// that RelayListening false means nothing listens.
	RelayKnown bool
	// RelayLog is true while the relay's log is followed, so that the
	// counts below are evidence.
	RelayLog bool
	// SendErrorsRecent counts the relay's failed sends to sensor within the
	// window; SendErrorCode is the gRPC code of the latest ("" if none was given).
	SendErrorsRecent int
	SendErrorCode    string
	// ReportsSentRecent counts reports the relay sent within the window.
	ReportsSentRecent int
	// ListenErrorsRecent counts failures to bind the VSOCK port within the window.
	ListenErrorsRecent int
}

// Connecting reports whether VMs are connecting to the relay.
func (v VSOCK) Connecting() bool { return v.ConnectionsRecent > 0 || v.Established > 0 }

// Cluster is what Kubernetes discovery knows about this node.
type Cluster struct {
	// SensorOnThisNode is true when a sensor pod runs on this node, false
	// when it runs elsewhere, nil when not known.
	SensorOnThisNode *bool
	// RelayPath is the name of the path the VM relay is configured to use,
	// empty when not known.
	RelayPath string
	// Namespace is the RHACS namespace, named in fixes; "" means stackrox.
	Namespace string
	// RelayHostNetwork tells whether the collector DaemonSet (the relay) is
	// on the host network; nil when not known.
	RelayHostNetwork *bool
	// RelayDNSPolicy is the collector DaemonSet's dnsPolicy.
	RelayDNSPolicy string
	// RelayEndpoint is the endpoint the relay dials ("" = the default
	// sensor.<namespace>.svc:443).
	RelayEndpoint string
	// NoRelay is true on versions without a push relay (the 4.12 line).
	NoRelay bool
	// Version is the RHACS version of the collector DaemonSet, "" if not known.
	Version string
	// SensorReady tells whether sensor has a ready endpoint; nil when not known.
	SensorReady *bool
	// SensorRestarts and SensorLastTermination describe sensor's container.
	SensorRestarts        int32
	SensorLastTermination string
	// NodeControlPlane tells whether this node is a control-plane node; nil when not known.
	NodeControlPlane *bool
	// RelayOnMasters is the relay's ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES.
	RelayOnMasters bool
	// ComplianceVirtualMachines and SensorVirtualMachines are the
	// ROX_VIRTUAL_MACHINES flags of compliance and sensor; nil when not set.
	ComplianceVirtualMachines, SensorVirtualMachines *bool
	// CNI names the node's network plugin when recognised: "ovn-kubernetes",
	// "cilium", "calico", or "".
	CNI string
}

func (c *Cluster) namespace() string {
	if c == nil || c.Namespace == "" {
		return "stackrox"
	}
	return c.Namespace
}

// Input is everything Decide looks at.
type Input struct {
	// Paths is the latest state of every configured path, in any order.
	// Paths whose Latest is nil have not been probed yet.
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

// class groups reasons the way the rules need them.
type class int

const (
	classNone    class = iota // no result yet
	classUp                   // ok
	classDNS                  // dns_error
	classTimeout              // connect, TLS or check timeout
	classRefused              // refused, reset, unreachable
	classTrust                // certificate did not verify
	classCheck                // the check answered with a failure
	classOther                // TLS protocol errors and anything else
)

func classify(p state.PathState) class {
	r := p.Current() // the latest full result, or a newer connect-tier failure
	if r == nil {
		return classNone
	}
	switch r.Reason {
	case dial.ReasonOK:
		return classUp
	case dial.ReasonDNSError:
		return classDNS
	case dial.ReasonConnectTimeout, dial.ReasonTLSTimeout, dial.ReasonCheckTimeout:
		return classTimeout
	case dial.ReasonRefused, dial.ReasonReset, dial.ReasonUnreachable:
		return classRefused
	case dial.ReasonCertUnknownAuthority, dial.ReasonCertNameMismatch, dial.ReasonCertExpired:
		return classTrust
	case dial.ReasonCheckFailed:
		return classCheck
	}
	if r.TLS != nil && r.TLS.VerifyError != "" {
		return classTrust
	}
	return classOther
}

// observed is one path with a result.
type observed struct {
	consumer state.Consumer
	name     string
	reason   dial.Reason
	class    class
	err      string
	addr     string
}

func (o observed) String() string { return fmt.Sprintf("%s (%s)", o.name, o.reason) }

// Decide returns the verdict for in. See the package documentation for the
// rules and their precedence.
func Decide(in Input) Verdict {
	var sensorOff bool
	if in.Cluster != nil && in.Cluster.SensorOnThisNode != nil {
		sensorOff = !*in.Cluster.SensorOnThisNode
	}
	all := map[string]observed{}
	var seen []observed // every path with a result, in input order
	for _, p := range in.Paths {
		c := classify(p)
		if c == classNone {
			continue
		}
		r := p.Current()
		o := observed{name: p.Target.Name, reason: r.Reason, class: c, addr: p.Target.Addr, consumer: p.Consumer}
		if r.Err != nil {
			o.err = r.Err.Error()
		} else if r.TLS != nil {
			o.err = r.TLS.VerifyError
		}
		all[o.name] = o
		seen = append(seen, o)
	}
	base := decide(seen, all, sensorOff, in.Cluster)
	base = forConsumers(base, in, all)
	base = relayFacts(base, in, all)
	v := escalate(base, in, all)
	v.Severity = SeverityOf(v.Name)
	return v
}

func decide(seen []observed, all map[string]observed, sensorOff bool, cl *Cluster) Verdict {
	if len(seen) == 0 {
		return Verdict{Name: Unknown, Severity: SeverityUnknown,
			Cause: "no path has been probed yet",
			Fix:   "wait for the first round; if this persists, check the probe's logs and its --target flags"}
	}
	var down []observed
	for _, o := range seen {
		if o.class != classUp {
			down = append(down, o)
		}
	}
	if len(down) == 0 {
		return Verdict{Name: Healthy, Severity: SeverityOK,
			Cause: fmt.Sprintf("every probed path reaches sensor (%s)", names(seen)),
			Fix:   "nothing to do"}
	}
	if v, ok := sensorUnavailable(seen, all, cl); ok {
		return v
	}

	// A hostport failure on a node that does not run sensor is expected; it
	// does not take part in the remaining patterns.
	excused := func(o observed) bool {
		return sensorOff && o.name == dial.PathHostPort &&
			(o.class == classRefused || o.class == classTrust)
	}
	var relevant []observed
	for _, o := range down {
		if !excused(o) {
			relevant = append(relevant, o)
		}
	}

	if v, ok := tlsTrust(relevant, cl.namespace()); ok {
		return v
	}
	if v, ok := networkPolicy(all, cl); ok {
		return v
	}
	if v, ok := serviceUnreachable(all); ok {
		return v
	}
	if v, ok := dnsBroken(seen, relevant, all); ok {
		return v
	}
	if len(relevant) == 0 {
		hp := all[dial.PathHostPort]
		return Verdict{Name: HostPortNotOnThisNode, Severity: SeverityWarning,
			Cause: fmt.Sprintf("hostport %s is %s and sensor does not run on this node: a hostPort binds only on the node that runs the pod",
				orDefault(hp.addr, "localhost:8443"), hp.reason),
			Fix: fmt.Sprintf("do not rely on hostPort from other nodes: point the relay (compliance ROX_ADVERTISED_ENDPOINT) back at sensor.%s.svc:443 and, while collector stays on the host network, admit host-network sources with a separate NetworkPolicy (see probe fix); or return collector to the stock pod network", cl.namespace())}
	}
	return degraded(down, all, sensorOff, cl)
}

// sensorUnavailable implements rule 3: every path fails as a server that is
// down or unreachable would make it fail. Sensor is unavailable when the API
// says it has no ready endpoint, or on direct evidence (the webhook refused
// or reset; the pod IP refused or failing its check). Every path timing out,
// the webhook included, while the API says sensor is ready is the node's
// network instead: the packets never reach a healthy sensor.
func sensorUnavailable(seen []observed, all map[string]observed, cl *Cluster) (Verdict, bool) {
	serving := func(c class) bool { return c == classTimeout || c == classRefused || c == classCheck }
	var failing []observed
	allTimeouts := true
	for _, o := range seen {
		switch {
		case o.class == classDNS:
			continue
		case !serving(o.class):
			return Verdict{}, false
		}
		failing = append(failing, o)
		allTimeouts = allTimeouts && o.class == classTimeout
	}
	if len(failing) == 0 {
		return Verdict{}, false
	}
	ns := cl.namespace()
	var ready *bool
	if cl != nil {
		ready = cl.SensorReady
	}
	wh, whOK := all[dial.PathWebhook]
	pod, podOK := all[dial.PathPodIP]
	evidence := ""
	switch {
	case ready != nil && !*ready:
		evidence = "the API reports no ready sensor endpoint"
	case whOK && (wh.class == classRefused || wh.class == classCheck):
		evidence = "the webhook port is " + string(wh.reason)
	case podOK && (pod.class == classRefused || pod.class == classCheck):
		evidence = "the pod IP is " + string(pod.reason)
	case allTimeouts && whOK && ready != nil && *ready:
		return Verdict{Name: NodeNetworkBroken, Severity: SeverityCritical,
			Cause: fmt.Sprintf("every path times out, the webhook (9443, open to all sources) included, while the API reports sensor ready: %s%s",
				names(failing), sensorHistory(cl)),
			Fix: "this node's network does not carry traffic to sensor: check the node firewall, the overlay (tunnel interfaces, MTU: a connect that succeeds but a handshake that stalls points at MTU) and the CNI pods on this node; compare with `probe check` on another node"}, true
	default:
		return Verdict{}, false
	}
	return Verdict{Name: SensorUnavailable, Severity: SeverityCritical,
		Cause: fmt.Sprintf("sensor is not serving (%s): %s%s", evidence, names(failing), sensorHistory(cl)),
		Fix: fmt.Sprintf("check the sensor Deployment in namespace %s: pod status, restarts, events and logs (oc -n %s get pods -l app=sensor; oc -n %s logs deploy/sensor --previous)",
			ns, ns, ns)}, true
}

// sensorHistory is "; sensor restarted N times, last OOMKilled" when known.
func sensorHistory(cl *Cluster) string {
	if cl == nil || cl.SensorRestarts == 0 {
		return ""
	}
	h := fmt.Sprintf("; sensor restarted %d times", cl.SensorRestarts)
	if cl.SensorLastTermination != "" {
		h += ", last ended " + cl.SensorLastTermination
	}
	return h
}

// tlsTrust implements rule 4.
func tlsTrust(relevant []observed, ns string) (Verdict, bool) {
	var bad []observed
	for _, o := range relevant {
		if o.class == classTrust {
			bad = append(bad, o)
		}
	}
	if len(bad) == 0 {
		return Verdict{}, false
	}
	first := bad[0]
	cause := fmt.Sprintf("connections reach a TLS server but its certificate does not verify on %s", names(bad))
	if first.err != "" {
		cause += ": " + oneLine(first.err)
	}
	var fix string
	switch first.reason {
	case dial.ReasonCertNameMismatch:
		fix = fmt.Sprintf("dial with server name sensor.%s.svc (sensor's certificate has no IP or localhost SANs); if it already does, the address reaches some other server", ns)
	case dial.ReasonCertExpired:
		fix = fmt.Sprintf("renew the secured cluster's certificates (secrets sensor-tls and collector-tls, or tls-cert-* with certificate refresh, in %s) and check the node's clock", ns)
	default:
		fix = fmt.Sprintf("verify with every StackRox CA (ConfigMap tls-ca-bundle, or ca.pem and ca-secondary.pem of secret collector-tls or tls-cert-collector, in %s); a different issuer means the address reaches some other server", ns)
	}
	return Verdict{Name: TLSTrust, Severity: SeverityCritical, Cause: cause, Fix: fix}, true
}

// networkPolicy implements rule 5.
func networkPolicy(all map[string]observed, cl *Cluster) (Verdict, bool) {
	wh, ok := all[dial.PathWebhook]
	if !ok || wh.class != classUp {
		return Verdict{}, false
	}
	var timedOut []observed
	for _, name := range []string{dial.PathClusterIP, dial.PathDNS, dial.PathPodIP} {
		o, ok := all[name]
		if !ok {
			continue
		}
		switch {
		case o.reason == dial.ReasonConnectTimeout:
			timedOut = append(timedOut, o)
		case o.class == classDNS:
		default:
			return Verdict{}, false
		}
	}
	if len(timedOut) == 0 {
		return Verdict{}, false
	}
	return Verdict{Name: NetworkPolicyBlocks, Severity: SeverityCritical,
		Cause: fmt.Sprintf("sensor's NetworkPolicy does not admit host-network sources: %s time out on 8443 while the webhook (9443) answers",
			names(timedOut)),
		Fix: networkPolicyFix(cl)}, true
}

// serviceUnreachable implements rule 6.
func serviceUnreachable(all map[string]observed) (Verdict, bool) {
	pod, ok := all[dial.PathPodIP]
	if !ok || pod.class != classUp {
		return Verdict{}, false
	}
	network := func(c class) bool { return c == classTimeout || c == classRefused || c == classCheck }
	var failing []observed
	if ci, ok := all[dial.PathClusterIP]; ok {
		if !network(ci.class) {
			return Verdict{}, false
		}
		failing = append(failing, ci)
		if d, ok := all[dial.PathDNS]; ok && d.class != classUp {
			failing = append(failing, d)
		}
	} else if d, ok := all[dial.PathDNS]; ok && network(d.class) {
		failing = append(failing, d)
	} else {
		return Verdict{}, false
	}
	return Verdict{Name: ServiceUnreachable, Severity: SeverityCritical,
		Cause: fmt.Sprintf("the sensor Service is not reachable from the host network: %s fail while the pod IP answers", names(failing)),
		Fix:   "check the sensor Service's endpoints and the node's service routing for host-network sources (kube-proxy or OVN-Kubernetes gateway); as a stopgap the relay can use the pod IP"}, true
}

// dnsBroken implements rule 7.
func dnsBroken(seen, relevant []observed, all map[string]observed) (Verdict, bool) {
	d, ok := all[dial.PathDNS]
	if !ok || d.class != classDNS {
		return Verdict{}, false
	}
	for _, o := range relevant {
		if o.name != dial.PathDNS {
			return Verdict{}, false
		}
	}
	if ci, ok := all[dial.PathClusterIP]; ok {
		if ci.class != classUp {
			return Verdict{}, false
		}
	} else {
		up := false
		for _, o := range seen {
			up = up || o.class == classUp
		}
		if !up {
			return Verdict{}, false
		}
	}
	return Verdict{Name: DNSBroken, Severity: SeverityWarning,
		Cause: fmt.Sprintf("the node's resolver does not know cluster names: %s does not resolve while the Service answers by address",
			orDefault(host(d.addr), "the sensor Service name")),
		Fix: "set dnsPolicy: ClusterFirstWithHostNet on host-network pods (collector, sensorprobe) and check that the cluster DNS answers from the node"}, true
}

// degraded implements rule 9; it names what kept the other rules from deciding.
func degraded(down []observed, all map[string]observed, sensorOff bool, cl *Cluster) Verdict {
	cause := fmt.Sprintf("some paths are down without a known pattern: %s", names(down))
	var notes []string
	failsWith := func(name string, classes ...class) bool {
		o, ok := all[name]
		return ok && slices.Contains(classes, o.class)
	}
	// A timeout on 8443 is a NetworkPolicy only if the webhook answers.
	if _, ok := all[dial.PathWebhook]; !ok &&
		(failsWith(dial.PathClusterIP, classTimeout) || failsWith(dial.PathDNS, classTimeout) ||
			failsWith(dial.PathPodIP, classTimeout)) {
		notes = append(notes, "no webhook result to tell a NetworkPolicy from an outage")
	}
	// A failing Service is a routing problem only if the pod IP answers.
	if _, ok := all[dial.PathPodIP]; !ok &&
		(failsWith(dial.PathClusterIP, classTimeout, classRefused) || failsWith(dial.PathDNS, classTimeout, classRefused)) {
		notes = append(notes, "no podip result to tell Service routing from an outage")
	}
	if hp, ok := all[dial.PathHostPort]; ok && hp.class != classUp && !sensorOff {
		switch {
		case cl == nil || cl.SensorOnThisNode == nil:
			notes = append(notes, "hostport fails and it is not known whether sensor runs on this node")
		default:
			notes = append(notes, "hostport fails although sensor runs on this node: check the Deployment's hostPort and the CNI portmap")
		}
	}
	if allTimeOut(down, all) && (cl == nil || cl.SensorReady == nil) {
		notes = append(notes, "every path times out: without the API's word on sensor's readiness this cannot tell sensor down from this node's network")
	}
	if len(notes) > 0 {
		cause += " (" + strings.Join(notes, "; ") + ")"
	}
	return Verdict{Name: Degraded, Severity: SeverityWarning, Cause: cause,
		Fix: "read each failing path's error text (status page or probe check) and compare with the verdict table in docs/status.md"}
}

// escalate raises base to relay_path_down_vms_connecting when the relay's
// path is down while VMs connect.
func escalate(base Verdict, in Input, all map[string]observed) Verdict {
	if in.VSOCK == nil || !in.VSOCK.Connecting() {
		return base
	}
	relay := ""
	if in.Cluster != nil {
		relay = in.Cluster.RelayPath
	}
	if relay == "" {
		for _, p := range in.Paths {
			if p.Relay {
				relay = p.Target.Name
				break
			}
		}
	}
	o, ok := all[relay]
	if relay == "" || !ok || o.class == classUp {
		return base
	}
	return Verdict{
		Name:     RelayPathDownVMsConnecting,
		Severity: SeverityCritical,
		Cause: fmt.Sprintf("VMs are connecting to the relay (%d recent, %d established) but its path %s is down; %s: %s",
			in.VSOCK.ConnectionsRecent, in.VSOCK.Established, o, base.Name, base.Cause),
		Fix:        base.Fix,
		Underlying: base.Name,
	}
}

func names(os []observed) string {
	s := make([]string, len(os))
	for i, o := range os {
		s[i] = o.String()
	}
	return strings.Join(s, ", ")
}

func host(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 200
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// hostNetworkOnly are the verdicts about how the host network reaches
// sensor. They matter only to something that dials from the host network.
var hostNetworkOnly = []string{NetworkPolicyBlocks, ServiceUnreachable, DNSBroken, HostPortNotOnThisNode, Degraded, TLSTrust}

// forConsumers makes base about the paths something depends on. When every
// failing path is a control (consumer none) and base describes the host
// network only, the node is healthy and base becomes a note: on a stock
// install collector runs in the pod network, which sensor's NetworkPolicy
// admits, so host-network failures are expected and page no one.
func forConsumers(base Verdict, in Input, all map[string]observed) Verdict {
	if !slices.Contains(hostNetworkOnly, base.Name) {
		return base
	}
	var failing []observed
	for _, o := range all {
		if o.class == classUp {
			continue
		}
		if o.consumer != state.ConsumerNone {
			return base // a path something depends on is down
		}
		failing = append(failing, o)
	}
	if len(failing) == 0 {
		return base
	}
	if base.Name == TLSTrust && !onlyHostPort(failing) {
		// A certificate that does not verify on the Service or pod IP is
		// the same certificate the pod-network relay sees.
		return base
	}
	slices.SortFunc(failing, func(a, b observed) int { return strings.Compare(a.name, b.name) })
	who := "collector runs in the pod network (not hostNetwork), where sensor's NetworkPolicy admits it, and is not affected"
	switch {
	case in.Cluster != nil && in.Cluster.NoRelay:
		who = fmt.Sprintf("RHACS %s has no push relay (sensor fetches VM reports), so nothing on this node dials sensor for VMs", orDefault(in.Cluster.Version, "4.12+"))
	case in.Cluster != nil && in.Cluster.RelayHostNetwork != nil && *in.Cluster.RelayHostNetwork:
		who = fmt.Sprintf("the relay dials %s, not these paths", orDefault(in.Cluster.RelayPath, "another path"))
	}
	note := fmt.Sprintf("only control paths fail (%s): %s: %s; %s", names(failing), base.Name, base.Cause, who)
	return Verdict{Name: Healthy, Severity: SeverityOK,
		Cause: "every path the relay depends on reaches sensor; failures of control paths are informational",
		Fix:   "nothing to do",
		Notes: append(base.Notes, note)}
}

func onlyHostPort(os []observed) bool {
	for _, o := range os {
		if o.name != dial.PathHostPort {
			return false
		}
	}
	return true
}

// relayFacts adds what the cluster and the relay's own evidence say about
// the relay. On a node whose paths are healthy, a relay that is not
// configured to work, did not start, or whose reports sensor rejects is the
// verdict; otherwise it is a note beside the path verdict.
func relayFacts(base Verdict, in Input, all map[string]observed) Verdict {
	cl := in.Cluster
	var found []Verdict
	if cl != nil && cl.NoRelay {
		base.Notes = append(base.Notes, fmt.Sprintf("RHACS %s has no push relay: sensor fetches VM index reports through KubeVirt's vsock subresource; the relay checks do not apply", orDefault(cl.Version, "4.12+")))
		return base
	}
	if v, ok := relayDNS(cl); ok {
		found = append(found, v)
	}
	if v, ok := relayNotStarted(in); ok {
		found = append(found, v)
	}
	if v, ok := reportsRejected(in, all); ok {
		found = append(found, v)
	}
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
	ep := cl.RelayEndpoint
	if ep == "" {
		ep = "sensor." + cl.namespace() + ".svc:443"
	}
	if _, err := netip.ParseAddr(host(ep)); err == nil || host(ep) == "localhost" {
		return Verdict{}, false // an address needs no resolver
	}
	return Verdict{Name: DNSBroken, Severity: SeverityCritical,
		Cause: fmt.Sprintf("collector runs on the host network with dnsPolicy %s and its relay dials %s: the node's resolver does not know cluster names", cl.RelayDNSPolicy, ep),
		Fix:   fmt.Sprintf("set dnsPolicy: ClusterFirstWithHostNet on the collector DaemonSet in %s (through the SecuredCluster or Helm values that put it on the host network), or return collector to the stock pod network", cl.namespace())}, true
}

// relayNotStarted: 4.11 starts no relay on control-plane nodes unless told
// to, and a relay that could not bind its port or does not listen takes no
// reports.
func relayNotStarted(in Input) (Verdict, bool) {
	cl, vs := in.Cluster, in.VSOCK
	vmsOn := cl != nil && cl.ComplianceVirtualMachines != nil && *cl.ComplianceVirtualMachines
	switch {
	case vmsOn && cl.NodeControlPlane != nil && *cl.NodeControlPlane && !cl.RelayOnMasters:
		return Verdict{Name: RelayNotStarted, Severity: SeverityWarning,
			Cause: "this is a control-plane node and compliance starts no VM relay on control-plane nodes unless ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true (compact three-node clusters have no relay at all by default)",
			Fix:   fmt.Sprintf("if VMs run on control-plane nodes, set ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true on the compliance container of the collector DaemonSet in %s (through the SecuredCluster's or Helm's custom environment, so the next reconcile keeps it)", cl.namespace())}, true
	case vs != nil && vs.RelayLog && vs.ListenErrorsRecent > 0:
		return Verdict{Name: RelayNotStarted, Severity: SeverityWarning,
			Cause: fmt.Sprintf("the relay could not listen on its VSOCK port (%d failures in the window, from the compliance log)", vs.ListenErrorsRecent),
			Fix:   "read the compliance container's log (listen vsock …): the port may be taken, or the node lacks the vhost_vsock module"}, true
	case vmsOn && vs != nil && vs.RelayKnown && !vs.RelayListening && vs.Connecting() &&
		cl.RelayHostNetwork != nil && *cl.RelayHostNetwork:
		// Socket dumps see only the probe's (the host's) network namespace:
		// they can say "nothing listens" only for a host-network relay.
		return Verdict{Name: RelayNotStarted, Severity: SeverityWarning,
			Cause: "VMs connect to the relay's VSOCK port but nothing listens on it: compliance has not started the relay (4.11 starts it only after sensor's first scrape configuration reaches compliance)",
			Fix:   "check that compliance reached sensor (its log, and this node's path verdict) and restart the collector pod on this node if it did not recover"}, true
	}
	return Verdict{}, false
}

// reportsRejected: the relay reaches sensor but its reports fail.
func reportsRejected(in Input, all map[string]observed) (Verdict, bool) {
	vs, cl := in.VSOCK, in.Cluster
	if vs == nil || !vs.RelayLog || vs.SendErrorsRecent == 0 {
		return Verdict{}, false
	}
	if cl != nil && cl.RelayPath != "" {
		if o, ok := all[cl.RelayPath]; ok && o.class != classUp {
			return Verdict{}, false // the path verdict explains it
		}
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
	return Verdict{Name: ReportsRejected, Severity: SeverityCritical, Cause: cause, Fix: fix}, true
}

// networkPolicyFix is the fix for sensor's NetworkPolicy dropping
// host-network sources, for the node's CNI when it is known. Sensor's own
// policy is owned by the chart or operator, which revert edits, so the fix
// is a policy of its own.
func networkPolicyFix(cl *Cluster) string {
	ns := cl.namespace()
	cni := ""
	if cl != nil {
		cni = cl.CNI
	}
	admit := `on OVN-Kubernetes a namespaceSelector policy-group.network.openshift.io/host-network: "", on Cilium a CiliumNetworkPolicy with fromEntities [host, remote-node], elsewhere an ipBlock per node address (on overlays such as Calico's, the node's tunnel address is the source)`
	switch cni {
	case "ovn-kubernetes":
		admit = `a namespaceSelector policy-group.network.openshift.io/host-network: ""`
	case "cilium":
		admit = "a CiliumNetworkPolicy with fromEntities [host, remote-node] (CIDR rules do not match host-network sources on Cilium)"
	case "calico":
		admit = "an ipBlock per node address including each node's tunnel address (Calico's overlay uses it as the source)"
	}
	return fmt.Sprintf("add a separate NetworkPolicy in %s (sensor's own is reverted by the operator or Helm) admitting host-network sources to sensor port 8443: %s (probe fix prints it; check AdminNetworkPolicy and BaselineAdminNetworkPolicy too); or return collector to the stock pod network (no hostNetwork), which sensor's policy admits", ns, admit)
}

// allTimeOut reports whether every path with a result timed out, the webhook among them.
func allTimeOut(down []observed, all map[string]observed) bool {
	if _, ok := all[dial.PathWebhook]; !ok || len(down) != len(all) {
		return false
	}
	for _, o := range down {
		if o.class != classTimeout {
			return false
		}
	}
	return true
}
