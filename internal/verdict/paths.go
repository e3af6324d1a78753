package verdict

import (
	"fmt"
	"slices"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

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

func classify(r *dial.Result) class {
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

func (o observed) up() bool { return o.class == classUp }

// picture is step 1, who depends on what: every path with a result, by name
// and in input order, and the relay's own path, looked up once.
type picture struct {
	in Input
	cl *Cluster
	// seen is every path with a result, in input order; all holds them by name.
	seen []observed
	all  map[string]observed
	// down is every path of seen that is not up.
	down []observed
	// relayName is the path whose consumer is the relay, "" when none is;
	// relay is its result, nil when it has none yet.
	relayName string
	relay     *observed
	// sensorOff is true when the cluster says sensor runs on another node.
	sensorOff bool
}

// look builds the picture of in. The relay's path is the one path whose
// consumer is state.ConsumerRelay: the relay runs on the host network and
// dials it. A relay in the pod network has no path here (the probe's dials
// are controls for it), even when its endpoint is the dns path's name.
func look(in Input) *picture {
	p := &picture{in: in, cl: in.Cluster, all: map[string]observed{}}
	if in.Cluster != nil && in.Cluster.SensorOnThisNode != nil {
		p.sensorOff = !*in.Cluster.SensorOnThisNode
	}
	for _, ps := range in.Paths {
		if ps.Consumer == state.ConsumerRelay && p.relayName == "" {
			p.relayName = ps.Target.Name
		}
		r := ps.Current() // the latest full result, or a newer connect-tier failure
		c := classify(r)
		if c == classNone {
			continue
		}
		o := observed{name: ps.Target.Name, reason: r.Reason, class: c, addr: ps.Target.Addr, consumer: ps.Consumer}
		if r.Err != nil {
			o.err = r.Err.Error()
		} else if r.TLS != nil {
			o.err = r.TLS.VerifyError
		}
		p.all[o.name] = o
		p.seen = append(p.seen, o)
		if !o.up() {
			p.down = append(p.down, o)
		}
	}
	if o, ok := p.all[p.relayName]; ok && p.relayName != "" {
		p.relay = &o
	}
	return p
}

// relayDown reports whether the relay's path has a result and is down.
func (p *picture) relayDown() bool { return p.relay != nil && !p.relay.up() }

// excused reports whether o is a hostport failure that is expected on this
// node: sensor runs elsewhere, so localhost:8443 is refused or reaches some
// other listener. The rules leave such a failure out, so that the other
// paths still tell a NetworkPolicy from routing from DNS; whether anything
// depends on it is step 3's business (relay_path.go).
func (p *picture) excused(o observed) bool {
	return p.sensorOff && o.name == dial.PathHostPort && (o.class == classRefused || o.class == classTrust)
}

// relevant is every failing path but an excused hostport.
func (p *picture) relevant() []observed {
	var out []observed
	for _, o := range p.down {
		if !p.excused(o) {
			out = append(out, o)
		}
	}
	return out
}

// failsWith reports whether the path called name has a result in one of classes.
func (p *picture) failsWith(name string, classes ...class) bool {
	o, ok := p.all[name]
	if !ok {
		return false
	}
	return slices.Contains(classes, o.class)
}
