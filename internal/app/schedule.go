package app

import (
	"flag"
	"math"
	"strconv"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/kube"
)

// DefaultSensorBudget is the default of --sensor-budget: full attempts (TLS
// handshakes) per second that sensor serves the whole fleet. Why 50:
// docs/architecture.md, "Sensor's side".
const DefaultSensorBudget = 50

// unknownFleetSize is the fleet size assumed in a cluster while the probe
// DaemonSet's count is unknown (not yet read, or forbidden): large, so that
// a probe that cannot count its fleet errs towards sparing sensor.
const unknownFleetSize = 1000

// scheduleFlags are --sensor-budget, --full-interval, --fleet-size and --fleet.daemonset.
type scheduleFlags struct {
	budget, fleetSize stringValue
	fullInterval      durationFlag
	daemonSet         string
}

// stringValue keeps a flag's raw text for validation after parsing.
type stringValue struct {
	raw string
	set bool
}

func (v *stringValue) String() string { return v.raw }
func (v *stringValue) Set(s string) error {
	v.raw, v.set = s, true
	return nil
}

func (f *scheduleFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.budget, "sensor-budget", "TLS handshakes per second sensor serves the whole fleet; 0: every attempt is full (docs/architecture.md, Sensor's side) (default 50)")
	fs.Var(&f.fullInterval, "full-interval", "shortest time between two full attempts on one path; 0 = as often as the sensor budget allows, but not more often than --interval (default 0)")
	fs.Var(&f.fleetSize, "fleet-size", "number of probe pods sharing the sensor budget; 0 = the probe DaemonSet's desired count from the API (1 without Kubernetes, 1000 while unknown) (default 0)")
	fs.StringVar(&f.daemonSet, "fleet.daemonset", kube.DefaultProbeDaemonSet, "the probe's own DaemonSet, in its own namespace ($POD_NAMESPACE), whose desired count is the fleet size")
}

func (f *scheduleFlags) resolve(p *problems, interval time.Duration) Schedule {
	s := Schedule{Interval: interval, SensorBudget: DefaultSensorBudget}
	if f.budget.set {
		v, err := strconv.ParseFloat(f.budget.raw, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			p.add("--sensor-budget: %q: want a number of handshakes per second, 0 or more", f.budget.raw)
		}
		s.SensorBudget = v
	}
	s.FullInterval = f.fullInterval.resolve(p, "full-interval", 0, false)
	if s.FullInterval < 0 {
		p.add("--full-interval: must not be negative, got %q", f.fullInterval.raw)
	}
	if f.fleetSize.set {
		v, err := strconv.Atoi(f.fleetSize.raw)
		if err != nil || v < 0 {
			p.add("--fleet-size: %q: want a number of nodes, 0 (from the API) or more", f.fleetSize.raw)
		}
		s.FleetSize = v
	}
	if f.daemonSet == "" {
		p.add("--fleet.daemonset: must not be empty")
	}
	return s
}
