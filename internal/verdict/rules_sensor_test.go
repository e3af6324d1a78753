package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// sensorCases are the cases of rule 3: sensor_unavailable and node_network_broken (rules_sensor.go).
func sensorCases() []decideCase {
	return []decideCase{
		{
			name: "every path times out, webhook included, sensor ready: the node's network",
			in: Input{
				Paths:   []state.PathState{p("clusterip", timeout), p("podip", timeout), p("webhook", timeout)},
				Cluster: &Cluster{SensorReady: new(true), SensorRestarts: 2, SensorLastTermination: "OOMKilled"},
			},
			want:      got{Name: NodeNetworkBroken, Severity: SeverityCritical},
			wantCause: []string{"webhook (9443, open to all sources) included", "restarted 2 times, last ended OOMKilled"},
			wantFix:   []string{"MTU"},
		},
		{
			name:      "every path times out, sensor readiness unknown: undecided",
			in:        Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout), p("webhook", timeout)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"clusterip (connect_timeout)"},
		},
		{
			name: "sensor unavailable: every path refused",
			in: Input{Paths: []state.PathState{p("clusterip", refused), p("dns", refused), p("hostport", refused),
				p("podip", refused), p("webhook", refused)}},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"webhook (refused)"},
			wantFix:   []string{"oc -n stackrox"},
		},
		{
			name: "every path times out, the webhook included, readiness unknown: undecided, says why",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout),
				p("webhook", dial.ReasonTLSTimeout)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"cannot tell sensor down from this node's network"},
		},
		{
			name: "every path times out and the API says sensor is not ready",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout),
				p("webhook", dial.ReasonTLSTimeout)}, Cluster: &Cluster{SensorReady: new(false)}},
			want: got{Name: SensorUnavailable, Severity: SeverityCritical},
		},
		{
			name: "sensor unavailable: not ready everywhere",
			in: Input{Paths: []state.PathState{p("clusterip", dial.ReasonCheckFailed), p("podip", dial.ReasonCheckFailed),
				p("webhook", dial.ReasonCheckFailed)}},
			want: got{Name: SensorUnavailable, Severity: SeverityCritical},
		},
		{
			name: "sensor unavailable: no webhook path, pod IP refused",
			in:   Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", refused)}},
			want: got{Name: SensorUnavailable, Severity: SeverityCritical},
		},
		{
			name: "sensor unavailable: dns unresolved does not hide it",
			in: Input{Paths: []state.PathState{p("clusterip", refused), p("dns", dnsErr), p("podip", refused),
				p("webhook", refused)}},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"clusterip (refused)", "podip (refused)", "webhook (refused)"},
		},
		{
			name: "not unavailable: webhook unresolved and pod IP times out",
			in: Input{Paths: []state.PathState{p("clusterip", timeout), p("podip", timeout),
				p("webhook", dnsErr)}},
			want: got{Name: Degraded, Severity: SeverityWarning},
		},
		{
			name:      "not unavailable: only custom paths, all refused",
			in:        Input{Paths: []state.PathState{p("a", refused), p("b", refused)}},
			want:      got{Name: Degraded, Severity: SeverityWarning},
			wantCause: []string{"a (refused)", "b (refused)"},
			notCause:  []string{"no webhook result", "no podip result"},
		},
	}
}

func TestSensorDown(t *testing.T) { runCases(t, sensorCases()) }
