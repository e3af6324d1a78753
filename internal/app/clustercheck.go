package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"golang.org/x/term"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/kube"
)

const clusterCheckUsage = `Usage: probe check --cluster [flags]

Check the whole cluster for VM scanning, with your kubeconfig (like kubectl:
--kubeconfig, else KUBECONFIG, else ~/.kube/config, else the pod's
ServiceAccount): RHACS components, version and install method, feature flags,
collector's network and DNS policy, sensor's hostPort and NetworkPolicies,
the probe DaemonSet's coverage and every node's verdict (read from the probe
pods' /status through the API server's pod proxy), KubeVirt and OpenShift.
One line per check: ✓ pass, ✗ fail (with the fix), – not applicable,
? not permitted (with the RBAC rule that would allow it).
Exit 0 when every check passes, 1 when any fails, 2 on a usage error.
The RBAC these commands need: docs/troubleshooting.md.

Flags:
`

// ClusterConfig is the configuration of `probe check --cluster` and `probe fix`.
type ClusterConfig struct {
	Kubeconfig, Context string
	Options             clustercheck.Options
	Output              string
	// cni is --cni as given; validate sets Options.CNI from it.
	cni string
	// Fix only:
	Apply    bool
	Strategy string
	Timeout  durationFlag
}

// IsClusterCheck reports whether `probe check` args ask for the cluster check.
func IsClusterCheck(args []string) bool {
	return slices.Contains(args, "--cluster") || slices.Contains(args, "-cluster") || slices.Contains(args, "--cluster=true")
}

func (c *ClusterConfig) register(fsName string, stdout io.Writer, usage string) *flag.FlagSet {
	fs := newFlagSet(fsName, stdout, usage)
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(&c.Context, "context", "", "kubeconfig context (default: the current one)")
	fs.StringVar(&c.Options.Namespace, "namespace", kube.DefaultNamespace, "RHACS namespace")
	fs.StringVar(&c.Options.ProbeNamespace, "probe-namespace", "", "namespace of the sensorprobe DaemonSet (default: --namespace)")
	fs.StringVar(&c.Options.ProbeDaemonSet, "probe-daemonset", "sensorprobe", "name of the sensorprobe DaemonSet")
	fs.IntVar(&c.Options.ProbePort, "probe-port", 9818, "the probe pods' web port serving /status")
	fs.StringVar(&c.cni, "cni", "", "network plugin: ovn-kubernetes, cilium, calico or other (default: detect)")
	fs.StringVar(&c.Output, "output", "table", "output format: table or json")
	return fs
}

func (c *ClusterConfig) validate(p *problems) {
	if c.Output != "table" && c.Output != "json" {
		p.add("--output: %q is not one of table, json", c.Output)
	}
	if c.Options.ProbePort < 1 || c.Options.ProbePort > 65535 {
		p.add("--probe-port: %d out of range (1 to 65535)", c.Options.ProbePort)
	}
	if c.cni != "" {
		plugin, ok := cni.Parse(c.cni)
		if !ok {
			p.add("--cni: %q is not one of ovn-kubernetes, cilium, calico, other", c.cni)
		}
		c.Options.CNI = plugin
	}
}

// ParseClusterCheck parses the flags of `probe check --cluster`.
func ParseClusterCheck(args []string, stdout io.Writer) (*ClusterConfig, error) {
	cfg := &ClusterConfig{}
	fs := cfg.register("probe check --cluster", stdout, clusterCheckUsage)
	var cluster bool
	fs.BoolVar(&cluster, "cluster", true, "check the whole cluster (this mode)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	var p problems
	cfg.validate(&p)
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return cfg, nil
}

// Clients builds the API clients from the kubeconfig the way kubectl does.
func (c *ClusterConfig) Clients() (clustercheck.Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.Kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context}).ClientConfig()
	if err != nil {
		return clustercheck.Clients{}, fmt.Errorf("kubeconfig: %w", err)
	}
	k, err := kube.NewClient(rc)
	if err != nil {
		return clustercheck.Clients{}, err
	}
	rc.UserAgent = kube.UserAgent
	d, err := dynamic.NewForConfig(rc)
	if err != nil {
		return clustercheck.Clients{}, fmt.Errorf("dynamic client: %w", err)
	}
	return clustercheck.Clients{Kube: k, Dynamic: d}, nil
}

// progressTo returns a progress printer on out when out is a terminal, else nil.
func progressTo(out io.Writer) clustercheck.Progress {
	f, ok := out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) { //nolint:gosec // a file descriptor fits in int
		return nil
	}
	return func(step string, i, n int) {
		fmt.Fprintf(out, "\r\033[K[%d/%d] reading %s…", i, n, step)
	}
}

// RunClusterCheck runs `probe check --cluster` and returns the number of
// failed checks. progress may be nil.
func RunClusterCheck(ctx context.Context, cfg *ClusterConfig, c clustercheck.Clients, out io.Writer, progress clustercheck.Progress) (int, error) {
	m, err := clustercheck.Gather(ctx, c, cfg.Options, progress)
	if progress != nil {
		fmt.Fprint(out, "\r\033[K")
	}
	if err != nil && m == nil {
		return 0, err
	}
	r := clustercheck.NewReport(m)
	if cfg.Output == "json" {
		return r.Failed, clustercheck.WriteJSON(out, r)
	}
	return r.Failed, clustercheck.WriteText(out, r)
}

// Progress returns the progress printer for out: on a terminal only.
func Progress(out io.Writer) clustercheck.Progress { return progressTo(out) }
