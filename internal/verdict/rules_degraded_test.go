package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// degradedCases are the cases of rule 9: degraded (rules_degraded.go).
func degradedCases() []decideCase {
	return []decideCase{
		{
			name:      "ambiguous: 8443 paths time out, webhook not configured",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("dns", timeout), p("podip", timeout)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"no webhook result"},
		},
		{
			name:      "ambiguous: webhook configured but not probed yet",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout), pending("webhook")}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"no webhook result", "clusterip (connect_timeout)"},
		},
		{
			name: "ambiguous: clusterip refused (not a drop) while webhook answers, no podip",
			in:   Input{Paths: []state.PathState{p("clusterip", refused), p("webhook", ok)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name:      "ambiguous: clusterip times out, neither webhook nor podip configured",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("mysensor", ok)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"clusterip (connect_timeout)", "no webhook result", "no podip result"},
		},
		{
			name: "degraded: a custom path down, the rest up",
			in:   Input{Paths: []state.PathState{p("clusterip", ok), p("mysensor", dial.ReasonReset)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
	}
}

func TestDegraded(t *testing.T) { runCases(t, degradedCases()) }
