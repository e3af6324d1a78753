package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeScheduler struct{}

func (fakeScheduler) Panics() uint64              { return 2 }
func (fakeScheduler) FleetSize() int              { return 300 }
func (fakeScheduler) FullInterval() time.Duration { return 30 * time.Second }

func TestSchedulerCollector(t *testing.T) {
	c := NewSchedulerCollector(fakeScheduler{})
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP sensorprobe_fleet_size Probe pods sharing the sensor budget.
# TYPE sensorprobe_fleet_size gauge
sensorprobe_fleet_size 300
# HELP sensorprobe_full_interval_seconds Time between full attempts on a path.
# TYPE sensorprobe_full_interval_seconds gauge
sensorprobe_full_interval_seconds 30
# HELP sensorprobe_probe_panics_total Panics recovered in attempts; a bug if above 0.
# TYPE sensorprobe_probe_panics_total counter
sensorprobe_probe_panics_total 2
`)); err != nil {
		t.Error(err)
	}
}
