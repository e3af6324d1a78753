package app

import (
	"context"
	"errors"
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

const checkUsage = `Usage: probe check [flags]

Make one round of attempts over every path, from where it runs, print a table
and the verdict with its fix. Exit 0 when healthy, 1 when degraded, 2 on a
usage error. Run it on a node shell or through: oc -n stackrox exec ds/sensorprobe -- probe check

Flags:
`

// ParseCheck parses the flags of `probe check`.
func ParseCheck(args []string, stdout io.Writer, getenv func(string) string) (*CheckConfig, error) {
	fs := newFlagSet("probe check", stdout, checkUsage)
	var c commonFlags
	c.register(fs, getenv)
	cfg := &CheckConfig{}
	fs.StringVar(&cfg.Output, "output", "table", "output format: table or json")
	history := fs.String("history", "auto", "the /status `URL` of a running probe whose outage history (since when each path is down, how often) to show with this round's results; auto: "+DefaultHistoryURL+" inside the probe's pod (POD_NAME set), none elsewhere; none: this round's only")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	c.resolve(&p, &cfg.Config)
	cfg.History = resolveHistory(&p, *history, getenv)
	if cfg.Output != "table" && cfg.Output != "json" {
		p.add("--output: %q is not one of table, json", cfg.Output)
	}
	if !cfg.Kube && len(c.targets.raw) == 0 {
		p.add("--target: no paths to probe; give at least one --target NAME=HOST:PORT, or run in a cluster with --kube")
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// CheckRound makes one attempt on every target at once and returns the
// report. One round has no history: RunCheck adds a running probe's. uses says which path the relay uses and who depends on each; f
// is what else is known.
func CheckRound(ctx context.Context, p *dial.Prober, targets []dial.Target, uses state.Uses, node string, f monitor.Facts) status.Report {
	store := state.New()
	store.SetTargets(targets, uses)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { store.Record(p.Probe(ctx, t)) })
	}
	wg.Wait()
	paths := store.Snapshot()
	return monitor.StatusReport(node, version.Version, time.Now(), paths, monitor.Decide(paths, f), f)
}

// RunCheck runs `probe check`: one round, with the outage history of the
// probe at --history when it can be read, as a table or JSON on out. It
// returns whether the verdict is healthy.
func RunCheck(ctx context.Context, cfg *CheckConfig, out io.Writer) (healthy bool, err error) {
	p, err := dial.New(cfg.dialConfig())
	if err != nil {
		return false, err
	}
	targets, uses, cluster := cfg.Targets, state.Uses{}, (*monitor.ClusterFacts)(nil)
	if cfg.Kube {
		targets, uses, cluster, err = discoverOnce(ctx, &cfg.Config, p)
		if err != nil {
			return false, err
		}
	}
	r := CheckRound(ctx, p, targets, uses, cfg.Node, monitor.Facts{Cluster: cluster})
	withHistory(ctx, &r, cfg.History)
	if cfg.Output == "json" {
		err = status.WriteJSON(out, r)
	} else {
		err = status.WriteTable(out, r)
	}
	return r.Verdict.Name == verdict.Healthy, err
}
