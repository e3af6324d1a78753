package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// consumerCases are the cases of step 3 for control paths: stock installs page no one (consumers.go).
func consumerCases() []decideCase {
	return []decideCase{
		{
			name: "stock install: networkpolicy blocks the host network, collector in the pod network",
			in: Input{
				Paths:   controls(p("clusterip", timeout), p("dns", timeout), p("podip", timeout), p("webhook", ok)),
				Cluster: &Cluster{RelayHostNetwork: new(false), SensorReady: new(true)},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantCause: []string{"control paths are informational"},
			wantNotes: []string{"networkpolicy_blocks_host_network", "collector runs in the pod network", "is not affected"},
		},
		{
			name: "stock install: Service routing broken from the host network only",
			in: Input{
				Paths:   controls(p("clusterip", timeout), p("podip", ok), p("webhook", ok)),
				Cluster: &Cluster{RelayHostNetwork: new(false)},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"service_unreachable_from_host_network"},
		},
		{
			name: "stock install: an expired certificate still matters",
			in: Input{
				Paths:   controls(p("clusterip", dial.ReasonCertExpired), p("webhook", ok)),
				Cluster: &Cluster{RelayHostNetwork: new(false)},
			},
			want: got{Name: TLSTrust, Severity: SeverityCritical},
		},
		{
			name: "stock install: sensor down still matters",
			in: Input{
				Paths:   controls(p("clusterip", refused), p("podip", refused), p("webhook", refused)),
				Cluster: &Cluster{RelayHostNetwork: new(false), SensorReady: new(false), Namespace: "acs"},
			},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantCause: []string{"no ready sensor endpoint"},
			wantFix:   []string{"oc -n acs get pods"},
		},
		{
			name: "4.12 line: no push relay, host-network failures are notes",
			in: Input{
				Paths:   controls(p("clusterip", timeout), p("webhook", ok)),
				Cluster: &Cluster{NoRelay: true, Version: "4.12.0"},
			},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"RHACS 4.12.0 has no push relay", "relay checks do not apply"},
		},
	}
}

func TestConsumers(t *testing.T) { runCases(t, consumerCases()) }
