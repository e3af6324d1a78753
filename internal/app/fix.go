package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
)

const fixUsage = `Usage: probe fix [flags]

Choose the remediation from the same evidence as probe check --cluster and
print it: the exact objects (server-side apply, field manager sensorprobe) and
the equivalent kubectl/oc commands. Nothing changes without --apply. With
--apply: a server-side dry run first, then the apply, a bounded wait for the
rollouts, the checks again and a before/after table. Objects owned by the RHACS
operator or a Helm release are changed only with a warning that the next
reconcile reverts them, and the SecuredCluster or Helm values to change instead.
Exit 0 when nothing is left failing, 1 when checks still fail or a rollout
times out, 2 on a usage error.

Flags:
`

// ParseFix parses the flags of `probe fix`.
func ParseFix(args []string, stdout io.Writer) (*ClusterConfig, error) {
	cfg := &ClusterConfig{}
	fs := cfg.register("probe fix", stdout, fixUsage)
	fs.BoolVar(&cfg.Apply, "apply", false, "apply the changes (default: dry run, print them)")
	fs.StringVar(&cfg.Strategy, "strategy", clustercheck.StrategyNetworkPolicy,
		"for a relay on the host network: networkpolicy (a separate policy admitting the host network), pod-network (return collector to the pod network), hostport (localhost:8443; works only on sensor's node)")
	fs.Var(&cfg.Timeout, "timeout", "how long --apply waits for each rollout (default 5m)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	cfg.validate(&p)
	switch cfg.Strategy {
	case clustercheck.StrategyNetworkPolicy, clustercheck.StrategyPodNetwork, clustercheck.StrategyHostPort:
	default:
		p.add("--strategy: %q is not one of networkpolicy, pod-network, hostport", cfg.Strategy)
	}
	cfg.Timeout.v = cfg.Timeout.resolve(&p, "timeout", 5*time.Minute, true)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// FixReport is the JSON output of `probe fix --output json`.
type FixReport struct {
	Plan clustercheck.Plan `json:"plan"`
	// Applied is what --apply did to each action; empty for a dry run.
	Applied      []clustercheck.Outcome `json:"applied"`
	Before       []clustercheck.Result  `json:"before"`
	After        []clustercheck.Result  `json:"after,omitempty"`
	FailedBefore int                    `json:"failed_before"`
	FailedAfter  int                    `json:"failed_after"`
}

// RunFix runs `probe fix` and returns the number of checks failing at the
// end (before, for a dry run). With --output json the text goes nowhere and
// one FixReport is written at the end.
func RunFix(ctx context.Context, cfg *ClusterConfig, c clustercheck.Clients, out io.Writer, progress clustercheck.Progress) (int, error) {
	text := out
	if cfg.Output == "json" {
		text, progress = io.Discard, nil
	}
	rep, err := runFix(ctx, cfg, c, text, progress)
	if err != nil {
		return 0, err
	}
	if cfg.Output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 0, fmt.Errorf("write json: %w", err)
		}
	}
	return rep.FailedAfter, nil
}

func runFix(ctx context.Context, cfg *ClusterConfig, c clustercheck.Clients, out io.Writer, progress clustercheck.Progress) (FixReport, error) {
	var rep FixReport
	before, err := clustercheck.Gather(ctx, c, cfg.Options, progress)
	if progress != nil {
		fmt.Fprint(out, "\r\033[K")
	}
	if err != nil {
		return rep, err
	}
	rep.Before = clustercheck.Evaluate(before)
	rep.FailedBefore = clustercheck.Failed(rep.Before)
	rep.FailedAfter = rep.FailedBefore
	rep.Plan = clustercheck.PlanFix(before, cfg.Strategy)
	rep.Applied = []clustercheck.Outcome{}
	if err := clustercheck.WritePlan(out, rep.Plan); err != nil {
		return rep, err
	}
	if !cfg.Apply {
		if len(rep.Plan.Actions) > 0 {
			fmt.Fprintln(out, "\nDry run: nothing changed. Run again with --apply to apply.")
		}
		return rep, nil
	}
	if len(rep.Plan.Actions) == 0 {
		fmt.Fprintln(out, "--apply: nothing applied, the cluster needs no change.")
		return rep, nil
	}
	fmt.Fprintln(out, "\nApplying (server-side dry run first):")
	outcomes, err := clustercheck.Apply(ctx, c, rep.Plan, cfg.Timeout.v, out)
	rep.Applied = append(rep.Applied, outcomes...)
	changed := 0
	for _, o := range outcomes {
		mark := "unchanged"
		if o.Changed {
			mark, changed = "applied", changed+1
		}
		fmt.Fprintf(out, "  %-9s %s\n", mark, o.Action)
	}
	if err != nil {
		return rep, err
	}
	if changed == 0 {
		fmt.Fprintln(out, "Nothing changed: the cluster already has every change (idempotent).")
	}
	after, err := clustercheck.Gather(ctx, c, cfg.Options, nil)
	if err != nil {
		return rep, err
	}
	rep.After = clustercheck.Evaluate(after)
	rep.FailedAfter = clustercheck.Failed(rep.After)
	fmt.Fprintln(out)
	return rep, clustercheck.WriteBeforeAfter(out, rep.Before, rep.After)
}
