package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// hostPortCases are the cases of rule 8 and the hostPort workaround (rules_hostport.go).
func hostPortCases() []decideCase {
	return []decideCase{
		{
			name: "hostport: refused on a node without sensor",
			in: Input{
				Paths: []state.PathState{p("clusterip", ok), p("hostport", refused), p("podip", ok),
					p("webhook", ok)},
				Cluster: offNode,
			},
			want:      got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
			wantCause: []string{"127.0.0.1:8443", "refused"},
			wantFix:   []string{"sensor.stackrox.svc:443"},
		},
		{
			name: "hostport: another listener's certificate on a node without sensor",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("hostport", dial.ReasonCertNameMismatch)},
				Cluster: offNode,
			},
			want: got{Name: HostPortNotOnThisNode, Severity: SeverityCritical},
		},
		{
			name: "hostport: refused but sensor runs here",
			in: Input{
				Paths:   []state.PathState{p("clusterip", ok), p("hostport", refused), p("podip", ok)},
				Cluster: onNode,
			},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"sensor runs on this node", "portmap"},
		},
		{
			name:      "hostport: refused, sensor placement unknown",
			in:        Input{Paths: []state.PathState{p("clusterip", ok), p("hostport", refused), p("podip", ok)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"not known whether sensor runs on this node"},
		},
		{
			name: "hostport: placement unknown because Cluster has no answer",
			in: Input{
				Paths: []state.PathState{p("clusterip", ok), p("hostport", refused)},
			},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
	}
}

func TestHostPort(t *testing.T) { runCases(t, hostPortCases()) }
