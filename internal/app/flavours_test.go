//go:build linux

package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/clustercheck/testcluster"
	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/monitor"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// flavour is one RHACS install as a real API server holds it, the node the
// probe runs on, and what the probe must conclude there when sensor's
// NetworkPolicy drops host-network traffic to 8443 (the stock policy: every
// node but sensor's). docs/status.md ("Install flavours") lists the same
// rows; TestInstallFlavoursDocumented keeps the two in step.
type flavour struct {
	name     string
	install  kubetest.Install
	node     string            // the probe's node
	nodeRole map[string]string // its labels
	taints   []corev1.Taint    // its taints
	// nodes are the cluster's nodes, the probe's among them, for
	// TestNodeAndClusterAgree; default worker-0 to worker-2.
	nodes     []testNode
	consumers map[string]state.Consumer
	verdict   string
	note      string // a substring of the notes, when the verdict carries one
}

func flavours() []flavour {
	worker := map[string]string{"node-role.kubernetes.io/worker": ""}
	master := map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}
	noSchedule := []corev1.Taint{{Key: "node-role.kubernetes.io/master", Effect: corev1.TaintEffectNoSchedule}}
	compact := []testNode{{"master-0", master, nil}, {"master-1", master, nil}, {"master-2", master, nil}}
	withWorkers := []testNode{{"master-0", master, noSchedule}, {"master-1", master, noSchedule}, {"master-2", master, noSchedule},
		{"worker-0", worker, nil}, {"worker-1", worker, nil}}
	controls := map[string]state.Consumer{"clusterip": "none", "dns": "none", "podip": "none", "webhook": "none"}
	base := func(in kubetest.Install) kubetest.Install {
		in.SensorNode, in.SensorIP, in.SensorHostIP = "worker-0", "10.128.2.15", "192.0.2.10"
		in.ClusterIP, in.WebhookIP = "10.96.12.7", "10.96.80.2"
		return in
	}
	onMaster := func(in kubetest.Install) kubetest.Install { in.SensorNode = "master-0"; return in }
	return []flavour{
		{name: "stock 4.9, Helm", install: base(kubetest.Install{Version: "4.9.10"}), node: "worker-1", nodeRole: worker,
			consumers: controls, verdict: verdict.Healthy, note: "collector runs in the pod network"},
		{name: "stock 4.10, Helm", install: base(kubetest.Install{Version: "4.10.6"}), node: "worker-1", nodeRole: worker,
			consumers: controls, verdict: verdict.Healthy, note: "collector runs in the pod network"},
		{name: "stock 4.11, Helm", install: base(kubetest.Install{Version: "4.11.2"}), node: "worker-1", nodeRole: worker,
			consumers: controls, verdict: verdict.Healthy, note: "collector runs in the pod network"},
		{name: "stock 4.11, operator", install: base(kubetest.Install{Version: "4.11.2", Operator: true}), node: "worker-1", nodeRole: worker,
			consumers: controls, verdict: verdict.Healthy, note: "collector runs in the pod network"},
		{name: "stock 4.11, cluster-registration-secret install", install: base(kubetest.Install{Version: "4.11.2"}), node: "worker-1", nodeRole: worker,
			consumers: controls, verdict: verdict.Healthy, note: "collector runs in the pod network"},
		{name: "collector customised onto the host network", node: "worker-1", nodeRole: worker,
			install:   base(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet}),
			consumers: map[string]state.Consumer{"clusterip": "none", "dns": "relay", "podip": "none", "webhook": "none"},
			verdict:   verdict.NetworkPolicyBlocks},
		{name: "host network with dnsPolicy ClusterFirst", node: "worker-1", nodeRole: worker,
			install:   base(kubetest.Install{HostNetwork: true}),
			consumers: map[string]state.Consumer{"clusterip": "none", "dns": "relay", "podip": "none", "webhook": "none"},
			verdict:   verdict.NetworkPolicyBlocks, note: "dnsPolicy ClusterFirst"},
		{name: "hostPort workaround, on a node without sensor", node: "worker-1", nodeRole: worker,
			install: base(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet,
				SensorHostPort: 8443, Advertised: "localhost:8443"}),
			consumers: map[string]state.Consumer{"clusterip": "none", "dns": "none", "hostport": "relay", "podip": "none", "webhook": "none"},
			verdict:   verdict.HostPortNotOnThisNode, note: verdict.NetworkPolicyBlocks + ": sensor's NetworkPolicy"},
		{name: "hostPort workaround, on sensor's node", node: "worker-0", nodeRole: worker,
			install: base(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet,
				SensorHostPort: 8443, Advertised: "localhost:8443"}),
			consumers: map[string]state.Consumer{"clusterip": "none", "dns": "none", "hostport": "relay", "podip": "none", "webhook": "none"},
			verdict:   verdict.Healthy},
		{name: "compact three-node cluster, stock", node: "master-1", nodeRole: master, nodes: compact,
			install: onMaster(base(kubetest.Install{})), consumers: controls, verdict: verdict.RelayNotStarted},
		{name: "compact three-node cluster, relay enabled on masters", node: "master-1", nodeRole: master, nodes: compact,
			install: onMaster(base(kubetest.Install{RelayOnMasters: true})), consumers: controls, verdict: verdict.Healthy},
		{name: "4.11 with workers, on a tainted control-plane node", node: "master-1", nodeRole: master, taints: noSchedule, nodes: withWorkers,
			install: base(kubetest.Install{}), consumers: controls, verdict: verdict.Healthy, note: "none is needed"},
		{name: "4.12 line, VM scanning off (no push relay)", node: "worker-1", nodeRole: worker,
			install:   base(kubetest.Install{Version: "4.12.0", SensorEndpoint: "sensor.NAMESPACE.svc:443"}),
			consumers: controls, verdict: verdict.Healthy, note: "has no push relay"},
	}
}

// TestInstallFlavours builds each flavour in a real API server, discovers it
// as `probe check` does, and feeds the verdict the results a node sees when
// sensor's NetworkPolicy drops host-network sources: every 8443 path times
// out except on sensor's own node (where node-local traffic is exempt), the
// webhook answers, and localhost:8443 exists only on sensor's node.
func TestInstallFlavours(t *testing.T) {
	env := kubetest.StartForTest(t)
	client := env.AdminClient(t)
	for i, fl := range flavours() {
		t.Run(fl.name, func(t *testing.T) {
			ns := fmt.Sprintf("flavour-%d", i)
			f := kubetest.NewFixture(t, client, ns)
			in := fl.install
			in.SensorEndpoint = strings.ReplaceAll(in.SensorEndpoint, "NAMESPACE", ns)
			// ClusterIPs are unique in a cluster: one pair per flavour.
			in.ClusterIP, in.WebhookIP = fmt.Sprintf("10.96.12.%d", 10+i), fmt.Sprintf("10.96.80.%d", 10+i)
			f.ApplyInstall(in)
			createNode(f, testNode{fl.node, fl.nodeRole, fl.taints})

			snap, err := kube.DiscoverOnce(t.Context(), env.ProbeClient(t), kube.Config{Namespace: ns, NodeName: fl.node})
			if err != nil {
				t.Fatalf("DiscoverOnce: %v", err)
			}
			store := state.New()
			store.SetTargets(snap.Targets, snap.Uses)
			onSensorNode := fl.node == in.SensorNode
			for _, tg := range snap.Targets {
				store.Record(blockedResult(tg, onSensorNode))
			}
			paths := store.Snapshot()
			gotConsumers := map[string]state.Consumer{}
			for _, p := range paths {
				gotConsumers[p.Target.Name] = p.Consumer
			}
			if fmt.Sprint(gotConsumers) != fmt.Sprint(fl.consumers) {
				t.Errorf("consumers = %v, want %v", gotConsumers, fl.consumers)
			}
			v := monitor.Decide(paths, monitor.Facts{Cluster: clusterFactsOf(snap, ns, "")})
			if v.Name != fl.verdict {
				t.Errorf("verdict = %s (%s), want %s; notes %q", v.Name, v.Cause, fl.verdict, v.Notes)
			}
			if fl.note != "" && !strings.Contains(strings.Join(v.Notes, "\n"), fl.note) {
				t.Errorf("notes %q lack %q", v.Notes, fl.note)
			}
			if v.Severity == verdict.SeverityCritical && fl.verdict == verdict.Healthy {
				t.Errorf("a stock install pages: %s", v.Cause)
			}
			t.Logf("%s: %s (%s); notes %q", fl.name, v.Name, v.Cause, v.Notes)
		})
	}
}

// testNode is a node of a flavour's cluster.
type testNode struct {
	name   string
	labels map[string]string
	taints []corev1.Taint
}

// createNode creates n, or gives the existing node n's labels and taints
// (nodes are cluster-wide; flavours share them).
func createNode(f *kubetest.Fixture, n testNode) {
	f.T.Helper()
	nodes := f.Client.CoreV1().Nodes()
	_, err := nodes.Create(f.Ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: n.labels},
		Spec:       corev1.NodeSpec{Taints: n.taints},
	}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		f.Must("create node "+n.name, err)
		return
	}
	old, err := nodes.Get(f.Ctx, n.name, metav1.GetOptions{})
	f.Must("get node "+n.name, err)
	old.Labels, old.Spec.Taints = n.labels, n.taints
	_, err = nodes.Update(f.Ctx, old, metav1.UpdateOptions{})
	f.Must("update node "+n.name, err)
}

// blockedResult is what an attempt on tg returns when sensor's NetworkPolicy
// drops host-network sources to 8443.
func blockedResult(tg dial.Target, onSensorNode bool) dial.Result {
	r := dial.Result{Target: tg, Start: time.Unix(1_800_000_000, 0), Duration: time.Millisecond}
	switch {
	case tg.Name == dial.PathWebhook || onSensorNode:
		r.Reason = dial.ReasonOK
	case tg.Name == dial.PathHostPort:
		r.Reason, r.FailedPhase = dial.ReasonRefused, dial.PhaseConnect
		r.Err = errors.New("dial tcp 127.0.0.1:8443: connect: connection refused")
	default:
		r.Reason, r.FailedPhase = dial.ReasonConnectTimeout, dial.PhaseConnect
		r.Err = errors.New("dial tcp " + tg.Addr + ": i/o timeout")
	}
	return r
}

// TestInstallFlavoursDocumented checks that docs/status.md's flavour table
// has a row per flavour with the verdict the test expects.
func TestInstallFlavoursDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/status.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var missing []string
	for _, fl := range flavours() {
		row := "| " + fl.name + " | "
		i := strings.Index(doc, row)
		if i < 0 {
			missing = append(missing, fl.name)
			continue
		}
		line := doc[i : i+strings.IndexByte(doc[i:], '\n')]
		if !strings.Contains(line, "`"+fl.verdict+"`") {
			t.Errorf("docs/status.md row %q does not name verdict %s", line, fl.verdict)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/status.md has no flavour row for: %s", strings.Join(missing, "; "))
	}
}

// TestNodeAndClusterAgree builds each flavour's cluster in a real API
// server, with the chart's NetworkPolicy and the flavour's nodes, and asks
// both the node verdict (on every node, with the results a node sees when
// that policy drops host-network 8443) and `probe check --cluster` what is
// wrong. What they blame must be the same: the union of the nodes' blames
// is what the cluster check fails, and no node blames what it passes.
func TestNodeAndClusterAgree(t *testing.T) {
	env := kubetest.StartForTest(t)
	admin := env.AdminClient(t)
	k, err := kube.NewClient(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dynamic.NewForConfig(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	noFleet := func(context.Context, corev1.Pod) (status.Report, error) {
		return status.Report{}, errors.New("no kubelet here")
	}
	workers := []testNode{{"worker-0", map[string]string{"node-role.kubernetes.io/worker": ""}, nil},
		{"worker-1", map[string]string{"node-role.kubernetes.io/worker": ""}, nil},
		{"worker-2", map[string]string{"node-role.kubernetes.io/worker": ""}, nil}}
	for i, fl := range flavours() {
		t.Run(fl.name, func(t *testing.T) {
			nodes := fl.nodes
			if nodes == nil {
				nodes = workers
			}
			ns := fmt.Sprintf("agree-%d", i)
			f := kubetest.NewFixture(t, admin, ns)
			for _, n := range nodes {
				createNode(f, n)
			}
			// Nodes are cluster-wide: the next flavour brings its own.
			t.Cleanup(func() {
				for _, n := range nodes {
					_ = admin.CoreV1().Nodes().Delete(context.Background(), n.name, metav1.DeleteOptions{})
				}
			})
			in := fl.install
			in.SensorEndpoint = strings.ReplaceAll(in.SensorEndpoint, "NAMESPACE", ns)
			in.ClusterIP, in.WebhookIP = fmt.Sprintf("10.96.13.%d", 10+i), fmt.Sprintf("10.96.81.%d", 10+i)
			f.ApplyInstall(in)
			f.SensorDeployment(in)
			testcluster.SensorPolicy(f)

			m, err := clustercheck.Gather(t.Context(), clustercheck.Clients{Kube: k, Dynamic: d, Fetch: noFleet},
				clustercheck.Options{Namespace: ns}, nil)
			if err != nil {
				t.Fatal(err)
			}
			cluster := map[string]string{}
			for _, r := range clustercheck.Evaluate(m) {
				if b, ok := clusterBlame[r.Name]; ok && r.Status == clustercheck.Fail {
					cluster[b] = r.Name + ": " + r.Evidence
				}
			}

			union := map[string]string{}
			for _, n := range nodes {
				snap, err := kube.DiscoverOnce(t.Context(), env.ProbeClient(t), kube.Config{Namespace: ns, NodeName: n.name})
				if err != nil {
					t.Fatalf("DiscoverOnce on %s: %v", n.name, err)
				}
				store := state.New()
				store.SetTargets(snap.Targets, snap.Uses)
				for _, tg := range snap.Targets {
					store.Record(blockedResult(tg, n.name == in.SensorNode))
				}
				v := monitor.Decide(store.Snapshot(), monitor.Facts{Cluster: clusterFactsOf(snap, ns, "")})
				for _, b := range nodeBlames(v) {
					union[b] = n.name + ": " + v.Name + ": " + v.Cause
					if _, ok := cluster[b]; !ok {
						t.Errorf("node %s blames %s (%s: %s) but probe check --cluster passes it", n.name, b, v.Name, v.Cause)
					}
				}
			}
			for b, ev := range cluster {
				if _, ok := union[b]; !ok {
					t.Errorf("probe check --cluster fails %s (%s) but no node's verdict blames it", b, ev)
				}
			}
			t.Logf("blamed by both: %v", slices.Sorted(maps.Keys(union)))
		})
	}
}

// clusterBlame maps the cluster checks that name a cause of lost reports to
// what they blame.
var clusterBlame = map[string]string{
	clustercheck.CheckPolicy:       "networkpolicy",
	clustercheck.CheckHostPort:     "hostport",
	clustercheck.CheckDNSPolicy:    "dns",
	clustercheck.CheckControlPlane: "control-plane",
}

// nodeBlames is what a node verdict blames: its name, the verdict it was
// raised over and the findings of its notes ("<verdict>: …").
func nodeBlames(v verdict.Verdict) []string {
	of := map[string]string{
		verdict.NetworkPolicyBlocks:   "networkpolicy",
		verdict.HostPortNotOnThisNode: "hostport",
		verdict.DNSBroken:             "dns",
		verdict.RelayNotStarted:       "control-plane",
		verdict.Healthy:               "",
	}
	names := []string{v.Name, v.Underlying}
	for _, n := range v.Notes {
		if name, _, ok := strings.Cut(n, ": "); ok && slices.Contains(verdict.Names(), name) {
			names = append(names, name)
		}
	}
	var out []string
	for _, n := range names {
		b, known := of[n]
		switch {
		case n == "":
		case !known:
			out = append(out, n) // a verdict no cluster check names: fails the comparison
		case b != "":
			out = append(out, b)
		}
	}
	return out
}
