package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/vsockmetrics"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// addOptionalParts adds the VSOCK watcher (and its beacon) and Kubernetes
// discovery to e as configured; without discovery the --target paths are
// probed as given.
func addOptionalParts(ctx context.Context, e *Engine, cfg *Config) error {
	w := vsockwatch.New(vsockwatch.Config{
		RelayPort: cfg.VSOCKRelayPort,
		Interval:  cfg.VSOCKInterval,
		Window:    cfg.VSOCKWindow,
	}, e.Log)
	if err := e.Register(vsockmetrics.New(w)); err != nil {
		return err
	}
	e.Add(w.Run)
	if cfg.VSOCKListenPort != 0 {
		ln, err := vsockwatch.ListenVSOCK(cfg.VSOCKListenPort)
		if err != nil {
			return fmt.Errorf("--vsock.listen-port %d: %w", cfg.VSOCKListenPort, err)
		}
		e.Add(func(ctx context.Context) error { return w.ServeBeacon(ctx, ln, cfg.Node) })
	}
	vsockFacts := func() *status.VSOCK { return VSOCKStatus(w.Snapshot()) }

	kubeFacts, err := addKube(ctx, e, cfg, w)
	if err != nil {
		return err
	}
	e.Monitor.SetFacts(vsockFacts, kubeFacts)
	return nil
}

// VSOCKStatus converts the watcher's snapshot into its status-report form.
func VSOCKStatus(s vsockwatch.Snapshot) *status.VSOCK {
	v := &status.VSOCK{
		RelayPort:         s.RelayPort,
		VSOCKDevice:       s.Capability.Devices[vsockwatch.DeviceVsock],
		VhostVSOCKDevice:  s.Capability.Devices[vsockwatch.DeviceVhostVsock],
		DiagSupported:     s.Diag.Support == vsockwatch.DiagSupported,
		RelayListening:    s.RelayListening,
		RelayConnections:  s.RelayConnections,
		ConnectionsRecent: s.ConnectionsRecent,
		PeerCIDs:          len(s.PeerCIDs),
	}
	if !s.LastActivity.IsZero() {
		t := s.LastActivity
		v.LastActivity = &t
	}
	switch {
	case s.Diag.LastError != "":
		v.Error = s.Diag.LastError
	case s.Diag.Support != vsockwatch.DiagSupported:
		v.Error = s.Diag.Hint
	}
	return v
}

var errNoTargets = errors.New("no paths to probe: not running in a cluster and no --target given")

// staticTargets returns the --target paths, or an error when there are none.
func staticTargets(cfg *Config) ([]dial.Target, error) {
	if len(cfg.Targets) == 0 {
		return nil, errNoTargets
	}
	return cfg.Targets, nil
}
