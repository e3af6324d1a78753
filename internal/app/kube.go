package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/metrics"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// kubeClient returns a client when Kubernetes discovery is on and a cluster
// is at hand: the pod's ServiceAccount, or --kubeconfig. It returns nil, nil
// when not in a cluster.
func kubeClient(cfg *Config) (kubeclient.Interface, error) {
	if !cfg.Kube {
		return nil, nil
	}
	if cfg.Kubeconfig != "" {
		c, err := kube.NewClientFromKubeconfig(cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %q: %w", cfg.Kubeconfig, err)
		}
		return c, nil
	}
	c, err := kube.NewInClusterClient()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, nil
	}
	return c, err
}

func (cfg *Config) kubeConfig() kube.Config {
	overrides := map[string]string{}
	for _, t := range cfg.Targets {
		overrides[t.Name] = t.Addr
	}
	return kube.Config{Namespace: cfg.Namespace, NodeName: cfg.Node, Overrides: overrides}
}

// addKube adds Kubernetes discovery, events and the relay log follower when
// a cluster is at hand; otherwise the --target paths are probed as given.
// It returns the source of cluster facts for the verdict and the status page.
func addKube(ctx context.Context, e *Engine, cfg *DaemonConfig, w *vsockwatch.Watcher) (func() *monitor.ClusterFacts, error) {
	client, err := kubeClient(&cfg.Config)
	if err != nil {
		return nil, err
	}
	if client == nil {
		for _, c := range []prometheus.Collector{metrics.NewKubeCollector(nil, nil), metrics.NewPullCollector(noPullFacts)} {
			if err := e.Register(c); err != nil {
				return nil, err
			}
		}
		targets, err := staticTargets(&cfg.Config)
		if err != nil {
			return nil, err
		}
		if cfg.Kube {
			e.Log.InfoContext(ctx, "not running in a cluster: probing the --target paths only")
		}
		e.SetTargets(targets, state.Uses{})
		return nil, nil
	}

	addFleetWatch(e, cfg, client)
	var pull *pullPart
	pullFacts := noPullFacts
	if cfg.Node != "" {
		pull = newPullPart(client, &cfg.Config, e.Prober.Connect, e)
		e.Add(pull.Run)
		pullFacts = pull.facts
	}
	if err := e.Register(metrics.NewPullCollector(pullFacts)); err != nil {
		return nil, err
	}
	kcfg := cfg.kubeConfig()
	kcfg.OnChange = func(s kube.Snapshot) {
		e.SetTargets(s.Targets, s.Uses)
		if s.RelayVSOCKPort != 0 {
			w.SetRelayPort(s.RelayVSOCKPort)
		}
		if pull != nil && s.Transport == kube.TransportPull {
			pull.Start()
		}
	}
	// Probe the static paths (dns, hostport, overrides) until the informers answer.
	first := kube.StaticSnapshot(kcfg)
	e.SetTargets(first.Targets, state.Uses{})
	d := kube.NewDiscovery(client, kcfg, e.Log)
	e.Add(d.Run)

	n := kube.NewNotifier(client, kube.NotifierConfig{
		PodName: cfg.PodName, PodNamespace: cfg.PodNamespace, PodUID: cfg.PodUID,
		NodeName: cfg.Node,
	}, e.Log)
	if err := e.Register(metrics.NewKubeCollector(d, n)); err != nil {
		return nil, err
	}
	e.Add(n.Run)
	e.Monitor.AddListener(eventListener{n})

	if cfg.RelayLog && cfg.Node != "" {
		open := relayLogOpener(client, cfg.Namespace, cfg.Node)
		e.Add(func(ctx context.Context) error { return w.FollowRelayLog(ctx, open) })
	}
	plugin := cni.Detect()
	return func() *monitor.ClusterFacts {
		f := clusterFactsOf(d.Snapshot(), cfg.Namespace, plugin)
		if pull != nil && f.Transport == string(kube.TransportPull) {
			f.VMs = pull.facts()
		}
		return f
	}, nil
}

// addFleetWatch shares the sensor budget by the probe DaemonSet's desired
// count, unless --fleet-size set the fleet size. Until the count is read the
// fleet is taken to be unknownFleetSize nodes; the first failure to read it
// is logged once, at warn.
func addFleetWatch(e *Engine, cfg *DaemonConfig, client kubeclient.Interface) {
	if cfg.Schedule.FleetSize > 0 {
		return
	}
	e.Scheduler.SetFleetSize(unknownFleetSize)
	var warned atomic.Bool
	fc := kube.FleetConfig{
		Namespace: cfg.FleetNamespace, Name: cfg.FleetDaemonSet,
		OnSize: func(n int) {
			e.Scheduler.SetFleetSize(n)
			e.Log.Info("fleet size from the probe DaemonSet", "daemonset", cfg.FleetDaemonSet, "fleet_size", n,
				"full_interval", e.Scheduler.FullInterval().String())
		},
		OnError: func(err error) {
			if warned.CompareAndSwap(false, true) {
				e.Log.Warn("cannot read the fleet size; sharing the sensor budget as if the fleet were 1000 nodes (set --fleet-size, or allow list/watch on the DaemonSet)",
					"daemonset", cfg.FleetNamespace+"/"+cfg.FleetDaemonSet, "err", err)
			}
		},
	}
	e.Add(func(ctx context.Context) error { return kube.WatchFleet(ctx, client, fc) })
}

// clusterFactsOf converts a discovery snapshot into the monitor's facts.
func clusterFactsOf(s kube.Snapshot, namespace string, plugin cni.Plugin) *monitor.ClusterFacts {
	return &monitor.ClusterFacts{
		Cluster: verdict.Cluster{
			SensorOnThisNode:          s.SensorOnThisNode,
			SensorNode:                s.SensorNode,
			SensorHostPort:            s.SensorHostPort,
			Namespace:                 namespace,
			RelayHostNetwork:          s.Uses.RelayHostNetwork,
			RelayDNSPolicy:            s.Relay.DNSPolicy,
			RelayEndpoint:             s.Relay.Endpoint(),
			NoRelay:                   s.Uses.NoRelay,
			Version:                   s.Relay.Version,
			SensorReady:               s.SensorReady,
			SensorRestarts:            s.SensorRestarts,
			SensorLastTermination:     s.SensorLastTermination,
			RelaySkipsNode:            s.RelaySkipsNode,
			NodeTakesWorkloads:        s.NodeTakesWorkloads,
			ComplianceVirtualMachines: s.ComplianceVirtualMachines,
			SensorVirtualMachines:     s.SensorVirtualMachines,
			CNI:                       plugin,
			Transport:                 string(s.Transport),
		},
		DiscoveryUp: s.DiscoveryUp,
		SensorPod:   s.SensorPod,
		RelayPath:   s.Uses.RelayPath,
		Error:       s.Error,
	}
}

// eventListener turns the monitor's transitions into Kubernetes Events.
type eventListener struct{ n *kube.Notifier }

var _ monitor.OutageListener = eventListener{}

func (l eventListener) PathChanged(path string, old, new dial.Reason, _ error) {
	l.n.PathChanged(path, string(old), string(new))
}

// PathOutageChanged makes the monitor pass the outage: the Event of a path
// that came back says after how long.
func (l eventListener) PathOutageChanged(c monitor.PathChange) {
	o := kube.PathOutage{LastHour: c.OutagesLastHour}
	if d, ok := c.Back(); ok {
		o.Down = d
	}
	l.n.PathChangedOutage(c.Path, string(c.Old), string(c.New), o)
}

func (l eventListener) VerdictChanged(old, new verdict.Verdict) {
	l.n.VerdictChanged(old.Name, new.Name, new.Cause)
}

// relayLogOpener follows the compliance container's log of the collector
// pod on this node, where the VM relay logs each connection and send.
func relayLogOpener(client kubeclient.Interface, namespace, node string) func(ctx context.Context, since time.Time) (io.ReadCloser, error) {
	return func(ctx context.Context, since time.Time) (io.ReadCloser, error) {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: kube.CollectorPodSelector,
			FieldSelector: "spec.nodeName=" + node,
		})
		if err != nil {
			return nil, fmt.Errorf("list collector pods on %s: %w", node, err)
		}
		var pod string
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				pod = p.Name
				break
			}
		}
		if pod == "" {
			return nil, fmt.Errorf("no running collector pod on node %s", node)
		}
		if since.IsZero() {
			since = time.Now()
		}
		return client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
			Container:  kube.ComplianceContainer,
			Follow:     true,
			Timestamps: true,
			SinceTime:  &metav1.Time{Time: since},
		}).Stream(ctx)
	}
}

// discoverOnce returns the paths to check: discovered ones when a cluster
// answers, with --target overrides, else the --target paths alone.
// In pull mode it lists this node's VMIs and virt-handler and connects to
// the virt-handler once with p.
func discoverOnce(ctx context.Context, cfg *Config, p *dial.Prober) ([]dial.Target, state.Uses, *monitor.ClusterFacts, error) {
	client, err := kubeClient(cfg)
	if err != nil {
		return nil, state.Uses{}, nil, err
	}
	if client == nil {
		targets, err := staticTargets(cfg)
		return targets, state.Uses{}, nil, err
	}
	s, err := kube.DiscoverOnce(ctx, client, cfg.kubeConfig())
	if err != nil && len(s.Targets) == 0 {
		return nil, state.Uses{}, nil, fmt.Errorf("discover sensor's paths: %w", err)
	}
	f := clusterFactsOf(s, cfg.Namespace, cni.Detect())
	if s.Transport == kube.TransportPull && cfg.Node != "" {
		f.VMs = pullOnce(ctx, client, cfg, p)
	}
	return s.Targets, s.Uses, f, nil
}
