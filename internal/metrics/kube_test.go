package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorprobe/sensorprobe/internal/kube"
)

// fixedKube is a KubeSource and EventSource with fixed answers.
type fixedKube struct {
	snap   kube.Snapshot
	events uint64
}

func (f fixedKube) Snapshot() kube.Snapshot { return f.snap }
func (f fixedKube) Emitted() uint64         { return f.events }

func TestKubeCollector(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		snap   kube.Snapshot
		events uint64
		want   string
	}{
		{
			name: "unknown node, down",
			snap: kube.Snapshot{},
			want: `
# HELP sensorprobe_kube_discovery_errors_total Failed list/watch calls.
# TYPE sensorprobe_kube_discovery_errors_total counter
sensorprobe_kube_discovery_errors_total 0
# HELP sensorprobe_kube_discovery_up 1 while discovery is up.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 0
# HELP sensorprobe_kube_events_total Kubernetes Events emitted.
# TYPE sensorprobe_kube_events_total counter
sensorprobe_kube_events_total 0
`,
		},
		{
			name: "up, sensor here, counted",
			snap: kube.Snapshot{DiscoveryUp: true, SensorOnThisNode: &yes, Errors: 2}, events: 5,
			want: `
# HELP sensorprobe_kube_discovery_errors_total Failed list/watch calls.
# TYPE sensorprobe_kube_discovery_errors_total counter
sensorprobe_kube_discovery_errors_total 2
# HELP sensorprobe_kube_discovery_up 1 while discovery is up.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 1
# HELP sensorprobe_kube_events_total Kubernetes Events emitted.
# TYPE sensorprobe_kube_events_total counter
sensorprobe_kube_events_total 5
# HELP sensorprobe_sensor_on_this_node 1 if sensor runs on this node.
# TYPE sensorprobe_sensor_on_this_node gauge
sensorprobe_sensor_on_this_node 1
`,
		},
		{
			name: "sensor elsewhere",
			snap: kube.Snapshot{DiscoveryUp: true, SensorOnThisNode: &no},
			want: `
# HELP sensorprobe_kube_discovery_errors_total Failed list/watch calls.
# TYPE sensorprobe_kube_discovery_errors_total counter
sensorprobe_kube_discovery_errors_total 0
# HELP sensorprobe_kube_discovery_up 1 while discovery is up.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 1
# HELP sensorprobe_kube_events_total Kubernetes Events emitted.
# TYPE sensorprobe_kube_events_total counter
sensorprobe_kube_events_total 0
# HELP sensorprobe_sensor_on_this_node 1 if sensor runs on this node.
# TYPE sensorprobe_sensor_on_this_node gauge
sensorprobe_sensor_on_this_node 0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			src := fixedKube{snap: tt.snap, events: tt.events}
			reg.MustRegister(NewKubeCollector(src, src))
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

// TestKubeCollectorOutsideACluster: without discovery the probe exports
// discovery as down and no errors or events, and nothing about sensor.
func TestKubeCollectorOutsideACluster(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewKubeCollector(nil, nil))
	want := `
# HELP sensorprobe_kube_discovery_up 1 while discovery is up.
# TYPE sensorprobe_kube_discovery_up gauge
sensorprobe_kube_discovery_up 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sensorprobe_kube_discovery_up", "sensorprobe_sensor_on_this_node"); err != nil {
		t.Error(err)
	}
}
