package verdict

import (
	"fmt"
	"strings"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// degraded is rule 9, what no other rule matching gives; its cause names
// what kept the other rules from deciding.
func degraded(p *picture) finding {
	cause := fmt.Sprintf("some paths are down without a known pattern: %s", names(p.down))
	if missing := undecided(p); len(missing) > 0 {
		cause += " (" + strings.Join(missing, "; ") + ")"
	}
	return blame(Verdict{Name: Degraded, Cause: cause,
		Fix: "read each failing path's error text (status page or probe check) and compare with the verdict table in docs/status.md"}, p.down)
}

// undecided says which data would have let a rule decide.
func undecided(p *picture) []string {
	var notes []string
	// A timeout on 8443 is a NetworkPolicy only if the webhook answers.
	if _, ok := p.all[dial.PathWebhook]; !ok &&
		(p.failsWith(dial.PathClusterIP, classTimeout) || p.failsWith(dial.PathDNS, classTimeout) ||
			p.failsWith(dial.PathPodIP, classTimeout)) {
		notes = append(notes, "no webhook result to tell a NetworkPolicy from an outage")
	}
	// A failing Service is a routing problem only if the pod IP answers.
	if _, ok := p.all[dial.PathPodIP]; !ok &&
		(p.failsWith(dial.PathClusterIP, classTimeout, classRefused) || p.failsWith(dial.PathDNS, classTimeout, classRefused)) {
		notes = append(notes, "no podip result to tell Service routing from an outage")
	}
	if hp, ok := p.all[dial.PathHostPort]; ok && !hp.up() && !p.sensorOff {
		if p.cl == nil || p.cl.SensorOnThisNode == nil {
			notes = append(notes, "hostport fails and it is not known whether sensor runs on this node")
		} else {
			notes = append(notes, "hostport fails although sensor runs on this node: check the Deployment's hostPort and the CNI portmap")
		}
	}
	if p.allTimeOut() && (p.cl == nil || p.cl.SensorReady == nil) {
		notes = append(notes, "every path times out: without the API's word on sensor's readiness this cannot tell sensor down from this node's network")
	}
	return notes
}

// allTimeOut reports whether every path with a result timed out, the webhook among them.
func (p *picture) allTimeOut() bool {
	if _, ok := p.all[dial.PathWebhook]; !ok || len(p.down) != len(p.seen) {
		return false
	}
	for _, o := range p.down {
		if o.class != classTimeout {
			return false
		}
	}
	return true
}
