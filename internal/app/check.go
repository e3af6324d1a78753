package app

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/prometheus/common/version"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// CheckRound makes one attempt on every target at once and returns the
// resulting path states and the report. relay names the relay's configured
// path; vsock and kube may be nil.
func CheckRound(ctx context.Context, p *dial.Prober, targets []dial.Target, relay, node string, vsock *status.VSOCK, kube *status.Kubernetes) status.Report {
	store := state.New()
	store.SetTargets(targets, relay)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { store.Record(p.Probe(ctx, t)) })
	}
	wg.Wait()
	paths := store.Snapshot()
	return monitor.Report(node, version.Version, time.Now(), paths, monitor.Decide(paths, vsock, kube), vsock, kube)
}

// RunCheck runs `probe check`: one round, a table or JSON on out. It returns
// whether the verdict is healthy.
func RunCheck(ctx context.Context, cfg *Config, out io.Writer) (healthy bool, err error) {
	p, err := dial.New(cfg.Dial)
	if err != nil {
		return false, err
	}
	targets, relay, kube := cfg.Targets, "", (*status.Kubernetes)(nil)
	if cfg.Kube {
		targets, relay, kube, err = discoverOnce(ctx, cfg)
		if err != nil {
			return false, err
		}
	}
	r := CheckRound(ctx, p, targets, relay, cfg.Node, nil, kube)
	if cfg.Output == "json" {
		err = status.WriteJSON(out, r)
	} else {
		err = status.WriteTable(out, r)
	}
	return r.Verdict.Name == verdict.Healthy, err
}
