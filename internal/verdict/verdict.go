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
	Degraded                   = "degraded"
	Unknown                    = "unknown"
)

// Names returns every verdict name, healthy first and unknown last. The
// slice is new on each call; callers may keep it.
func Names() []string {
	return []string{
		Healthy, NetworkPolicyBlocks, ServiceUnreachable, DNSBroken, SensorUnavailable,
		TLSTrust, HostPortNotOnThisNode, RelayPathDownVMsConnecting, Degraded, Unknown,
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
	case DNSBroken, HostPortNotOnThisNode, Degraded:
		return SeverityWarning
	case NetworkPolicyBlocks, ServiceUnreachable, SensorUnavailable, TLSTrust,
		RelayPathDownVMsConnecting:
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
	r := p.Latest
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
	name   string
	reason dial.Reason
	class  class
	err    string
	addr   string
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
		o := observed{name: p.Target.Name, reason: p.Latest.Reason, class: c, addr: p.Target.Addr}
		if p.Latest.Err != nil {
			o.err = p.Latest.Err.Error()
		} else if p.Latest.TLS != nil {
			o.err = p.Latest.TLS.VerifyError
		}
		all[o.name] = o
		seen = append(seen, o)
	}
	base := decide(seen, all, sensorOff, in.Cluster)
	return escalate(base, in, all)
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
	if v, ok := sensorUnavailable(seen, all); ok {
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

	if v, ok := tlsTrust(relevant); ok {
		return v
	}
	if v, ok := networkPolicy(all); ok {
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
			Fix: "do not rely on hostPort from other nodes: point the relay (compliance ROX_ADVERTISED_ENDPOINT) at sensor.stackrox.svc:443 and admit host-network traffic in sensor's NetworkPolicy"}
	}
	return degraded(down, all, sensorOff, cl)
}

// sensorUnavailable implements rule 3.
func sensorUnavailable(seen []observed, all map[string]observed) (Verdict, bool) {
	serving := func(c class) bool { return c == classTimeout || c == classRefused || c == classCheck }
	var failing []observed
	for _, o := range seen {
		switch {
		case o.class == classDNS:
			continue
		case !serving(o.class):
			return Verdict{}, false
		}
		failing = append(failing, o)
	}
	if len(failing) == 0 {
		return Verdict{}, false
	}
	wh, whOK := all[dial.PathWebhook]
	pod, podOK := all[dial.PathPodIP]
	switch {
	case whOK && serving(wh.class):
	case podOK && (pod.class == classRefused || pod.class == classCheck):
	default:
		return Verdict{}, false
	}
	return Verdict{Name: SensorUnavailable, Severity: SeverityCritical,
		Cause: fmt.Sprintf("sensor is not serving: every path fails, the webhook included: %s", names(failing)),
		Fix:   "check the sensor Deployment in namespace stackrox: pod status, restarts, events and logs (oc -n stackrox get pods -l app=sensor; oc -n stackrox logs deploy/sensor)"}, true
}

// tlsTrust implements rule 4.
func tlsTrust(relevant []observed) (Verdict, bool) {
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
		fix = "dial with server name sensor.stackrox.svc (sensor's certificate has no IP or localhost SANs); if it already does, the address reaches some other server"
	case dial.ReasonCertExpired:
		fix = "renew the secured cluster's certificates (secrets sensor-tls and collector-tls in stackrox) and check the node's clock"
	default:
		fix = "verify with the StackRox CA (ca.pem from secret collector-tls in stackrox); a different issuer means the address reaches some other server"
	}
	return Verdict{Name: TLSTrust, Severity: SeverityCritical, Cause: cause, Fix: fix}, true
}

// networkPolicy implements rule 5.
func networkPolicy(all map[string]observed) (Verdict, bool) {
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
		Fix: `add an ingress rule to sensor's NetworkPolicy for host-network traffic to port 8443: on OVN-Kubernetes a namespaceSelector matching policy-group.network.openshift.io/host-network: "", elsewhere an ipBlock of the node addresses`}, true
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
