package verdict

import (
	"fmt"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// sensorDown is rule 3: every path fails as a server that is down or
// unreachable would make it fail. Sensor is unavailable when the API says it
// has no ready endpoint, or on direct evidence (the webhook refused or reset;
// the pod IP refused or failing its check). Every path timing out, the
// webhook included, while the API says sensor is ready is the node's
// network instead: the packets never reach a healthy sensor.
func sensorDown(p *picture) (finding, bool) {
	serving := func(c class) bool { return c == classTimeout || c == classRefused || c == classCheck }
	var failing []observed
	allTimeouts := true
	for _, o := range p.seen {
		switch {
		case o.class == classDNS:
			continue
		case !serving(o.class):
			return finding{}, false
		}
		failing = append(failing, o)
		allTimeouts = allTimeouts && o.class == classTimeout
	}
	if len(failing) == 0 {
		return finding{}, false
	}
	cl := p.cl
	ns := cl.namespace()
	var ready *bool
	if cl != nil {
		ready = cl.SensorReady
	}
	wh, whOK := p.all[dial.PathWebhook]
	pod, podOK := p.all[dial.PathPodIP]
	evidence := ""
	switch {
	case ready != nil && !*ready:
		evidence = "the API reports no ready sensor endpoint"
	case whOK && (wh.class == classRefused || wh.class == classCheck):
		evidence = "the webhook port is " + string(wh.reason)
	case podOK && (pod.class == classRefused || pod.class == classCheck):
		evidence = "the pod IP is " + string(pod.reason)
	case allTimeouts && whOK && ready != nil && *ready:
		return blame(Verdict{Name: NodeNetworkBroken,
			Cause: fmt.Sprintf("every path times out, the webhook (9443, open to all sources) included, while the API reports sensor ready: %s%s",
				names(failing), sensorHistory(cl)),
			Fix: "this node's network does not carry traffic to sensor: check the node firewall, the overlay (tunnel interfaces, MTU: a connect that succeeds but a handshake that stalls points at MTU) and the CNI pods on this node; compare with `probe check` on another node"}, failing), true
	default:
		return finding{}, false
	}
	return blame(Verdict{Name: SensorUnavailable,
		Cause: fmt.Sprintf("sensor is not serving (%s): %s%s", evidence, names(failing), sensorHistory(cl)),
		Fix: fmt.Sprintf("check the sensor Deployment in namespace %s: pod status, restarts, events and logs (oc -n %s get pods -l app=sensor; oc -n %s logs deploy/sensor --previous)",
			ns, ns, ns)}, failing), true
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
