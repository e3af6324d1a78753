package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/state"
)

// basicCases are the cases of no result and every result up: rules 1 and 2.
func basicCases() []decideCase {
	return []decideCase{
		{
			name: "no paths configured",
			in:   Input{},
			want: got{Name: Unknown, Severity: SeverityUnknown},
		},
		{
			name: "paths configured but none probed yet",
			in:   Input{Paths: []state.PathState{pending("clusterip"), pending("webhook")}},
			want: got{Name: Unknown, Severity: SeverityUnknown},
		},
		{
			name: "every path up",
			in: Input{Paths: []state.PathState{p("clusterip", ok), p("dns", ok), p("hostport", ok),
				p("podip", ok), p("webhook", ok)}},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantCause: []string{"clusterip (ok)", "webhook (ok)"},
		},
		{
			name:      "partial: probed paths up, others pending",
			in:        Input{Paths: []state.PathState{p("clusterip", ok), pending("dns"), pending("webhook")}},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantCause: []string{"clusterip (ok)"},
		},
	}
}

func TestNothingDown(t *testing.T) { runCases(t, basicCases()) }
