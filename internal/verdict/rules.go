package verdict

import (
	"fmt"
	"slices"
)

// finding is what a rule concludes: the verdict and the paths it blames.
type finding struct {
	Verdict
	blamed []string
}

func (f finding) blames(path string) bool { return slices.Contains(f.blamed, path) }

func blame(v Verdict, os []observed) finding {
	f := finding{Verdict: v}
	for _, o := range os {
		f.blamed = append(f.blamed, o.name)
	}
	return f
}

// rule is one family of the path rules: it matches or it does not.
type rule func(p *picture) (finding, bool)

// rules are the path rules in precedence order: the first that matches
// wins, and degraded is what none matching gives. Each has its file:
//
//	sensorDown        rules_sensor.go      sensor_unavailable, node_network_broken
//	tlsTrust          rules_tls.go         tls_trust
//	networkPolicy     rules_hostnetwork.go networkpolicy_blocks_host_network
//	serviceUnreachable                     service_unreachable_from_host_network
//	dnsBroken                              dns_broken
//	hostPortOnly      rules_hostport.go    hostport_not_on_this_node
//	degraded          rules_degraded.go    degraded
//
// Rules before tlsTrust look at every path; from tlsTrust on, an excused
// hostport (paths.go) is left out.
var rules = []struct {
	names []string // the verdicts the rule can give, for TestRulesDocumented
	match rule
}{
	{[]string{SensorUnavailable, NodeNetworkBroken}, sensorDown},
	{[]string{TLSTrust}, tlsTrust},
	{[]string{NetworkPolicyBlocks}, networkPolicy},
	{[]string{ServiceUnreachable}, serviceUnreachable},
	{[]string{DNSBroken}, dnsBroken},
	{[]string{HostPortNotOnThisNode}, hostPortOnly},
}

// pathRules returns the first rule's finding, or degraded.
func pathRules(p *picture) finding {
	for _, r := range rules {
		if f, ok := r.match(p); ok {
			return f
		}
	}
	return degraded(p)
}

// nothingDown is rules 1 and 2: no result yet, or every result up.
func nothingDown(p *picture) (Verdict, bool) {
	switch {
	case len(p.seen) == 0:
		return Verdict{Name: Unknown,
			Cause: "no path has been probed yet",
			Fix:   "wait for the first round; if this persists, check the probe's logs and its --target flags"}, true
	case len(p.down) == 0:
		return Verdict{Name: Healthy,
			Cause: fmt.Sprintf("every probed path reaches sensor (%s)", names(p.seen)),
			Fix:   "nothing to do"}, true
	}
	return Verdict{}, false
}
