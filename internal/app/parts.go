package app

import (
	"context"
	"errors"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/status"
)

// addOptionalParts adds Kubernetes discovery and the VSOCK watcher to e as
// configured; without discovery the --target paths are probed as given.
func addOptionalParts(_ context.Context, e *Engine, cfg *Config) error {
	e.SetTargets(cfg.Targets, "")
	return nil
}

// discoverOnce returns the paths to check: discovered ones when a cluster
// answers, with --target overrides, else the --target paths alone.
func discoverOnce(_ context.Context, cfg *Config) ([]dial.Target, string, *status.Kubernetes, error) {
	if len(cfg.Targets) == 0 {
		return nil, "", nil, errNoTargets
	}
	return cfg.Targets, "", nil, nil
}

var errNoTargets = errors.New("no paths to probe: not running in a cluster and no --target given")
