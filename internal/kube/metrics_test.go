package kube

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		snap   Snapshot
		errors int
		events int
		want   string
	}{
		{
			name: "unknown node, down",
			snap: Snapshot{},
			want: `
# HELP sensorprobe_kube_discovery_errors_total Failed list/watch calls (unreachable API server, forbidden).
# TYPE sensorprobe_kube_discovery_errors_total counter
sensorprobe_kube_discovery_errors_total 0
# HELP sensorprobe_kube_discovery_up 1 while the API server answers and the probe's informers are synced; 0 while it keeps probing the last known targets.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 0
# HELP sensorprobe_kube_events_total Kubernetes Events emitted.
# TYPE sensorprobe_kube_events_total counter
sensorprobe_kube_events_total 0
`,
		},
		{
			name: "up, sensor here, counted",
			snap: Snapshot{APIUp: true, SensorOnThisNode: &yes}, errors: 2, events: 5,
			want: `
# HELP sensorprobe_kube_discovery_errors_total Failed list/watch calls (unreachable API server, forbidden).
# TYPE sensorprobe_kube_discovery_errors_total counter
sensorprobe_kube_discovery_errors_total 2
# HELP sensorprobe_kube_discovery_up 1 while the API server answers and the probe's informers are synced; 0 while it keeps probing the last known targets.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 1
# HELP sensorprobe_kube_events_total Kubernetes Events emitted.
# TYPE sensorprobe_kube_events_total counter
sensorprobe_kube_events_total 5
# HELP sensorprobe_sensor_on_this_node 1 if a sensor pod runs on this node (the hostPort path can only work there), 0 if not. Absent when not known.
# TYPE sensorprobe_sensor_on_this_node gauge
sensorprobe_sensor_on_this_node 1
`,
		},
		{
			name: "sensor elsewhere",
			snap: Snapshot{APIUp: true, SensorOnThisNode: &no},
			want: `
# HELP sensorprobe_kube_discovery_errors_total Failed list/watch calls (unreachable API server, forbidden).
# TYPE sensorprobe_kube_discovery_errors_total counter
sensorprobe_kube_discovery_errors_total 0
# HELP sensorprobe_kube_discovery_up 1 while the API server answers and the probe's informers are synced; 0 while it keeps probing the last known targets.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 1
# HELP sensorprobe_kube_events_total Kubernetes Events emitted.
# TYPE sensorprobe_kube_events_total counter
sensorprobe_kube_events_total 0
# HELP sensorprobe_sensor_on_this_node 1 if a sensor pod runs on this node (the hostPort path can only work there), 0 if not. Absent when not known.
# TYPE sensorprobe_sensor_on_this_node gauge
sensorprobe_sensor_on_this_node 0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			m := NewMetrics(reg)
			m.observe(tt.snap)
			for range tt.errors {
				m.discoveryError()
			}
			for range tt.events {
				m.eventEmitted()
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

// discoveryUp reads what sensorprobe_kube_discovery_up exports.
func (m *Metrics) discoveryUp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up
}
