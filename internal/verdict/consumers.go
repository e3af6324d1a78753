package verdict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// hostNetworkOnly are the verdicts about how the host network reaches
// sensor. They matter only to something that dials from the host network.
var hostNetworkOnly = []string{NetworkPolicyBlocks, ServiceUnreachable, DNSBroken, HostPortNotOnThisNode, Degraded, TLSTrust}

// forConsumers is step 3 when the relay's path is up or there is none: when
// every failing path is a control (consumer none) and the finding is about
// the host network only, the node is healthy and the finding a note. On a
// stock install collector runs in the pod network, which sensor's
// NetworkPolicy admits, so host-network failures are expected and page no one.
func forConsumers(p *picture, f finding) Verdict {
	if !slices.Contains(hostNetworkOnly, f.Name) {
		return f.Verdict
	}
	var failing []observed
	for _, o := range p.down {
		if o.consumer != state.ConsumerNone {
			return f.Verdict // a path something may depend on is down
		}
		failing = append(failing, o)
	}
	if f.Name == TLSTrust && !onlyHostPort(failing) {
		// A certificate that does not verify on the Service or pod IP is
		// the same certificate the pod-network relay sees.
		return f.Verdict
	}
	slices.SortFunc(failing, func(a, b observed) int { return strings.Compare(a.name, b.name) })
	note := fmt.Sprintf("only control paths fail (%s): %s: %s; %s", names(failing), f.Name, f.Cause, p.whoIsUnaffected())
	return Verdict{Name: Healthy,
		Cause: "every path the relay depends on reaches sensor; failures of control paths are informational",
		Fix:   "nothing to do",
		Notes: append(f.Notes, note)}
}

// whoIsUnaffected says why the control paths' failures hurt nothing.
func (p *picture) whoIsUnaffected() string {
	cl := p.cl
	switch {
	case cl != nil && cl.NoRelay:
		return fmt.Sprintf("RHACS %s has no push relay (sensor fetches VM reports), so nothing on this node dials sensor for VMs", orDefault(cl.Version, "4.12+"))
	case hostNetwork(cl):
		return fmt.Sprintf("the relay dials %s, not these paths", orDefault(p.relayName, orDefault(cl.RelayEndpoint, "another path")))
	}
	return "collector runs in the pod network (not hostNetwork), where sensor's NetworkPolicy admits it, and is not affected"
}

func onlyHostPort(os []observed) bool {
	for _, o := range os {
		if o.name != dial.PathHostPort {
			return false
		}
	}
	return true
}
