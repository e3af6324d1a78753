package app

import (
	"context"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// addKube adds Kubernetes discovery when configured and reachable. It
// returns the source of cluster facts for the verdict and the status page.
func addKube(_ context.Context, e *Engine, cfg *Config, _ *vsockwatch.Watcher) (func() *status.Kubernetes, error) {
	targets, err := staticTargets(cfg)
	if err != nil {
		return nil, err
	}
	e.SetTargets(targets, "")
	return nil, nil
}

// discoverOnce returns the paths to check: discovered ones when a cluster
// answers, with --target overrides, else the --target paths alone.
func discoverOnce(_ context.Context, cfg *Config) ([]dial.Target, string, *status.Kubernetes, error) {
	targets, err := staticTargets(cfg)
	return targets, "", nil, err
}
