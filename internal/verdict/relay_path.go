package verdict

import (
	"fmt"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// relayPathFirst is step 3 when the relay's path is down: the verdict is
// about that path. The picture of the paths (f) explains it when it blames
// the relay's path; it never replaces the relay's failure with a finding
// about other paths.
func relayPathFirst(p *picture, f finding) Verdict {
	workaround, isWorkaround := hostPortWorkaround(p, f)
	switch {
	case f.Name == SensorUnavailable || f.Name == NodeNetworkBroken:
		// Sensor or the node's network is down for every path, the relay's
		// included; the workaround, if it is one, is a note until then.
		v := f.Verdict
		if isWorkaround {
			v.Notes = append(v.Notes, HostPortNotOnThisNode+": "+workaround.Cause)
		}
		return v
	case isWorkaround:
		return workaround
	case f.Name != Degraded && f.blames(p.relay.name):
		return f.Verdict
	}
	return relayPathDown(p, f)
}

// relayPathDown is the relay's path down without a rule naming it: degraded,
// with the relay's path first and the other paths' picture after it.
func relayPathDown(p *picture, f finding) Verdict {
	r := *p.relay
	cause := fmt.Sprintf("the relay's path %s is down", r)
	if r.err != "" {
		cause += ": " + oneLine(r.err)
	}
	var notes []string
	switch {
	case f.Name != Degraded:
		cause += "; the other paths show " + f.Name
		notes = append(notes, f.Name+": "+f.Cause)
	case len(p.down) > 1:
		cause += "; also down: " + names(without(p.down, r.name))
	}
	if missing := undecided(p); len(missing) > 0 {
		cause += " (" + joinNotes(missing) + ")"
	}
	fix := fmt.Sprintf("the relay delivers from this node once %s answers: read its error text (status page or probe check) and compare with the verdict table in docs/status.md", r.name)
	if r.name == dial.PathHostPort && p.cl != nil && p.cl.SensorOnThisNode != nil && !p.sensorOff {
		if p.cl.SensorHostPort > 0 {
			fix = fmt.Sprintf("sensor runs on this node and declares hostPort %d: check the CNI portmap on this node (hostPort DNAT of 127.0.0.1 needs net.ipv4.conf.all.route_localnet=1); better, %s", p.cl.SensorHostPort, hostPortFix(p.cl, true))
		} else {
			fix = "sensor declares no hostPort, so localhost:8443 is sensor on no node: " + hostPortFix(p.cl, true)
		}
	}
	return Verdict{Name: Degraded, Cause: cause, Fix: fix, Notes: notes}
}

func without(os []observed, name string) []observed {
	var out []observed
	for _, o := range os {
		if o.name != name {
			out = append(out, o)
		}
	}
	return out
}
