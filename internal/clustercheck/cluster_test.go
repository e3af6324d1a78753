//go:build linux

package clustercheck_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/clustercheck/testcluster"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
)

func clients(t *testing.T, cfg *rest.Config, fetch clustercheck.Fetcher) clustercheck.Clients {
	t.Helper()
	k, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clustercheck.Clients{Kube: k, Dynamic: d, Fetch: fetch}
}

func statuses(rs []clustercheck.Result) map[string]clustercheck.Status {
	out := map[string]clustercheck.Status{}
	for _, r := range rs {
		out[r.Name] = r.Status
	}
	return out
}

func gather(t *testing.T, c clustercheck.Clients, ns string) *clustercheck.Model {
	t.Helper()
	var steps []string
	m, err := clustercheck.Gather(t.Context(), c, clustercheck.Options{Namespace: ns}, func(s string, i, n int) { steps = append(steps, fmt.Sprintf("%d/%d %s", i, n, s)) })
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	if len(steps) < 5 {
		t.Errorf("progress steps = %v, want one per step", steps)
	}
	return m
}

func expect(t *testing.T, got []clustercheck.Result, want map[string]clustercheck.Status) {
	t.Helper()
	s := statuses(got)
	for name, w := range want {
		if s[name] != w {
			var b bytes.Buffer
			_ = clustercheck.WriteText(&b, clustercheck.Report{Checks: got})
			t.Errorf("check %s = %s, want %s\n%s", name, s[name], w, b.String())
		}
	}
}

var allHealthy = map[string]string{"worker-0": "healthy", "worker-1": "healthy", "worker-2": "healthy"}

// TestClusterCheck runs the checks and fixes against a real API server.
func TestClusterCheck(t *testing.T) {
	env := kubetest.StartForTest(t)
	admin := env.AdminClient(t)
	ac := clients(t, env.Admin, testcluster.Fetcher(allHealthy))
	testcluster.CreateNodes(t.Context(), t, admin)

	t.Run("KubeVirt and OpenShift CRDs absent mean not installed", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "nocrds")
		testcluster.RHACS(f, kubetest.Install{SensorVMs: "true", ClusterIP: "10.96.0.20", WebhookIP: "10.96.0.21", SensorNode: "worker-0", SensorIP: "10.128.0.5", SensorHostIP: "192.0.2.10"})
		m := gather(t, ac, "nocrds")
		expect(t, clustercheck.Evaluate(m), map[string]clustercheck.Status{
			clustercheck.CheckVirtualization: clustercheck.Fail,
			clustercheck.CheckVSOCKGate:      clustercheck.NotApplicable,
			clustercheck.CheckVMs:            clustercheck.NotApplicable,
			clustercheck.CheckNetworkType:    clustercheck.NotApplicable,
			clustercheck.CheckPolicy:         clustercheck.Pass,
		})
	})

	testcluster.CRDs(t.Context(), t, dynamicOf(t, env.Admin))
	testcluster.Virtualization(t.Context(), t, admin, dynamicOf(t, env.Admin), true, "OVNKubernetes")

	base := func(in kubetest.Install, i int) kubetest.Install {
		in.SensorNode, in.SensorIP, in.SensorHostIP = "worker-0", "10.128.0.5", "192.0.2.10"
		in.ClusterIP, in.WebhookIP = fmt.Sprintf("10.96.1.%d", i), fmt.Sprintf("10.96.2.%d", i)
		in.SensorVMs = "true"
		return in
	}

	t.Run("stock install passes everything", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "stock")
		testcluster.RHACS(f, base(kubetest.Install{Version: "4.11.2"}, 1))
		m := gather(t, ac, "stock")
		rs := clustercheck.Evaluate(m)
		if n := clustercheck.Failed(rs); n != 0 {
			var b bytes.Buffer
			_ = clustercheck.WriteText(&b, clustercheck.NewReport(m))
			t.Fatalf("failed = %d, want 0:\n%s", n, b.String())
		}
		if in := m.InstallOf(); in.Method != "helm" || in.Version != "4.11.2" {
			t.Errorf("install = %+v, want helm 4.11.2", in)
		}
		p := clustercheck.PlanFix(m, "")
		if len(p.Actions) != 0 {
			t.Errorf("plan for a stock cluster = %+v, want nothing", p.Actions)
		}
	})

	t.Run("customised host network: check, fix, apply, idempotent", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "custom")
		testcluster.RHACS(f, base(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet}, 2))
		c := clients(t, env.Admin, testcluster.Fetcher(map[string]string{"worker-0": "healthy", "worker-1": "networkpolicy_blocks_host_network", "worker-2": "networkpolicy_blocks_host_network"}))
		m := gather(t, c, "custom")
		expect(t, clustercheck.Evaluate(m), map[string]clustercheck.Status{
			clustercheck.CheckPolicy:       clustercheck.Fail,
			clustercheck.CheckNodeVerdicts: clustercheck.Fail,
			clustercheck.CheckDNSPolicy:    clustercheck.Pass,
			clustercheck.CheckCollectorNet: clustercheck.Pass,
		})
		if fleet := m.Fleet.Value; fleet[0].Verdict != "networkpolicy_blocks_host_network" || fleet[len(fleet)-1].Verdict != "healthy" {
			t.Errorf("fleet not grouped with healthy last: %+v", fleet)
		}
		p := clustercheck.PlanFix(m, "")
		if len(p.Actions) != 1 || p.Actions[0].Object.GetKind() != "NetworkPolicy" {
			t.Fatalf("plan = %+v, want one NetworkPolicy", p.Actions)
		}
		var b bytes.Buffer
		if err := clustercheck.WritePlan(&b, p); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{clustercheck.HostNetworkPolicyName, "policy-group.network.openshift.io/host-network", "kubectl apply --server-side", "--strategy pod-network", "WARNING"} {
			if strings.Contains(b.String(), want) == (want == "WARNING") {
				t.Errorf("plan output: %q presence wrong:\n%s", want, b.String())
			}
		}
		out, err := clustercheck.Apply(t.Context(), c, p, 5*time.Second, nil)
		if err != nil || len(out) != 1 || !out[0].Changed {
			t.Fatalf("Apply = %+v, %v; want one change", out, err)
		}
		// After the fix the policy admits the host network; the node
		// verdicts are the probes' to change (faked here as healthy).
		m2 := gather(t, clients(t, env.Admin, testcluster.Fetcher(allHealthy)), "custom")
		if n := clustercheck.Failed(clustercheck.Evaluate(m2)); n != 0 {
			t.Errorf("after the fix: %d failed", n)
		}
		p2 := clustercheck.PlanFix(m2, "")
		if len(p2.Actions) != 0 {
			t.Errorf("already-fixed cluster: plan = %+v, want nothing", p2.Actions)
		}
		// Applying the same plan again changes nothing.
		out, err = clustercheck.Apply(t.Context(), c, p, 5*time.Second, nil)
		if err != nil || len(out) != 1 || out[0].Changed {
			t.Errorf("second Apply = %+v, %v; want unchanged", out, err)
		}
	})

	t.Run("operator-managed sensor: warning and SecuredCluster snippet", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "operator")
		in := base(kubetest.Install{Operator: true, HostNetwork: true}, 3) // dnsPolicy ClusterFirst
		in.SensorVMs = ""                                                  // feature flag mismatch
		testcluster.RHACS(f, in)
		m := gather(t, ac, "operator")
		expect(t, clustercheck.Evaluate(m), map[string]clustercheck.Status{
			clustercheck.CheckDNSPolicy:    clustercheck.Fail,
			clustercheck.CheckFeatureFlags: clustercheck.Fail,
		})
		if in := m.InstallOf(); in.Method != "operator" {
			t.Errorf("install = %+v, want operator", in)
		}
		p := clustercheck.PlanFix(m, "")
		var b bytes.Buffer
		_ = clustercheck.WritePlan(&b, p)
		for _, want := range []string{"reconcile reverts", "overlays:", "spec.template.spec.dnsPolicy", "containers[name:sensor].env[-1]", "ROX_VIRTUAL_MACHINES"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("plan lacks %q:\n%s", want, b.String())
			}
		}
		// Applied anyway (the warning said what reverts it): the env var is
		// merged into sensor's container, which keeps its image and ports.
		if _, err := clustercheck.Apply(t.Context(), ac, p, time.Second, nil); err == nil || !strings.Contains(err.Error(), "not finished") {
			t.Errorf("Apply err = %v, want the bounded-wait error (no controllers here)", err)
		}
		d, err := admin.AppsV1().Deployments("operator").Get(t.Context(), "sensor", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Env) != 1 || c.Env[0].Name != "ROX_VIRTUAL_MACHINES" || c.Env[0].Value != "true" || c.Image == "" || len(c.Ports) != 2 {
			t.Errorf("sensor container after the fix: %+v", c)
		}
	})

	t.Run("rollout that never becomes ready: bounded wait", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "stuck")
		testcluster.RHACS(f, base(kubetest.Install{HostNetwork: true}, 4)) // dnsPolicy ClusterFirst
		m := gather(t, ac, "stuck")
		p := clustercheck.PlanFix(m, "")
		var progress bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := clustercheck.Apply(ctx, ac, p, 1500*time.Millisecond, &progress)
		// No DaemonSet controller runs here: the new generation is never observed.
		if err == nil || !strings.Contains(err.Error(), "rollout of stuck/daemonset/collector not finished after 1.5s") {
			t.Fatalf("Apply err = %v, want the bounded-wait message", err)
		}
		if !strings.Contains(progress.String(), "waiting for stuck/daemonset/collector") {
			t.Errorf("no progress: %q", progress.String())
		}
	})

	t.Run("hostport strategy names the nodes where it fails", func(t *testing.T) {
		m := gather(t, ac, "stuck")
		p := clustercheck.PlanFix(m, clustercheck.StrategyHostPort)
		var b bytes.Buffer
		_ = clustercheck.WritePlan(&b, p)
		if !strings.Contains(b.String(), "worker-1, worker-2") || !strings.Contains(b.String(), "localhost:8443") {
			t.Errorf("hostport plan:\n%s", b.String())
		}
	})

	t.Run("cilium: a CiliumNetworkPolicy, applied once", func(t *testing.T) {
		testcluster.CRD(t.Context(), t, dynamicOf(t, env.Admin), clustercheck.GVRCiliumPolicy, "CiliumNetworkPolicy", false)
		f := kubetest.NewFixture(t, admin, "cilium")
		testcluster.RHACS(f, base(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet}, 6))
		opts := clustercheck.Options{Namespace: "cilium", CNI: "cilium"}
		m, err := clustercheck.Gather(t.Context(), ac, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, clustercheck.Evaluate(m), map[string]clustercheck.Status{clustercheck.CheckPolicy: clustercheck.Fail})
		p := clustercheck.PlanFix(m, "")
		if len(p.Actions) != 1 || p.Actions[0].Object.GetKind() != "CiliumNetworkPolicy" {
			t.Fatalf("plan = %+v, want one CiliumNetworkPolicy", p.Actions)
		}
		for i, wantChanged := range []bool{true, false} {
			out, err := clustercheck.Apply(t.Context(), ac, p, 5*time.Second, nil)
			if err != nil || len(out) != 1 || out[0].Changed != wantChanged {
				t.Fatalf("apply %d = %+v, %v; want changed %v", i+1, out, err, wantChanged)
			}
		}
		m, err = clustercheck.Gather(t.Context(), ac, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, clustercheck.Evaluate(m), map[string]clustercheck.Status{clustercheck.CheckPolicy: clustercheck.Pass})
	})

	t.Run("pod-network strategy returns collector to the pod network", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "podnet")
		testcluster.RHACS(f, base(kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet}, 7))
		m := gather(t, ac, "podnet")
		p := clustercheck.PlanFix(m, clustercheck.StrategyPodNetwork)
		// No DaemonSet controller here: the wait ends at its bound.
		if _, err := clustercheck.Apply(t.Context(), ac, p, time.Second, nil); err == nil || !strings.Contains(err.Error(), "not finished after 1s") {
			t.Errorf("Apply err = %v, want the bounded-wait error", err)
		}
		ds, err := admin.AppsV1().DaemonSets("podnet").Get(t.Context(), "collector", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ds.Spec.Template.Spec.HostNetwork || ds.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst || len(ds.Spec.Template.Spec.Containers) != 2 {
			t.Errorf("collector after pod-network: hostNetwork %v, dnsPolicy %s, %d containers", ds.Spec.Template.Spec.HostNetwork, ds.Spec.Template.Spec.DNSPolicy, len(ds.Spec.Template.Spec.Containers))
		}
		mgr := ""
		for _, mf := range ds.ManagedFields {
			if mf.Operation == metav1.ManagedFieldsOperationApply {
				mgr = mf.Manager
			}
		}
		if mgr != clustercheck.FieldManager {
			t.Errorf("apply field manager = %q, want %q", mgr, clustercheck.FieldManager)
		}
		m2 := gather(t, ac, "podnet")
		expect(t, clustercheck.Evaluate(m2), map[string]clustercheck.Status{clustercheck.CheckPolicy: clustercheck.Pass})
	})

	t.Run("partial permissions: not permitted, with the rule", func(t *testing.T) {
		f := kubetest.NewFixture(t, admin, "narrow")
		testcluster.RHACS(f, base(kubetest.Install{}, 5))
		_, err := admin.CoreV1().ServiceAccounts("narrow").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "oncall"}}, metav1.CreateOptions{})
		f.Must("sa", err)
		_, err = admin.RbacV1().Roles("narrow").Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "oncall"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
		f.Must("role", err)
		_, err = admin.RbacV1().RoleBindings("narrow").Create(t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "oncall"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "oncall"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "oncall", Namespace: "narrow"}}}, metav1.CreateOptions{})
		f.Must("rolebinding", err)
		nc := clients(t, env.ServiceAccountConfig(t.Context(), t, "narrow", "oncall"), testcluster.Fetcher(allHealthy))
		var m *clustercheck.Model
		// RBAC takes effect asynchronously; wait until the Role is in force.
		deadline := time.Now().Add(20 * time.Second)
		for {
			m = gather(t, nc, "narrow")
			if m.Sensor.Found() || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		rs := clustercheck.Evaluate(m)
		expect(t, rs, map[string]clustercheck.Status{
			clustercheck.CheckSensor:         clustercheck.Pass,
			clustercheck.CheckCollector:      clustercheck.Pass,
			clustercheck.CheckPolicy:         clustercheck.NotPermitted,
			clustercheck.CheckControlPlane:   clustercheck.NotPermitted,
			clustercheck.CheckNodeVerdicts:   clustercheck.NotPermitted,
			clustercheck.CheckVirtualization: clustercheck.NotPermitted,
			clustercheck.CheckVMs:            clustercheck.NotPermitted,
		})
		for _, r := range rs {
			if r.Status == clustercheck.NotPermitted && r.Rule == nil {
				t.Errorf("%s: not permitted without a rule", r.Name)
			}
			if r.Name == clustercheck.CheckNodeVerdicts && (r.Rule == nil || r.Rule.Resource != "pods/proxy" || r.Rule.Verb != "get") {
				t.Errorf("node-verdicts rule = %+v, want pods/proxy get", r.Rule)
			}
		}
		if n := clustercheck.Failed(rs); n != 0 {
			var b bytes.Buffer
			_ = clustercheck.WriteText(&b, clustercheck.NewReport(m))
			t.Errorf("a narrow Role gave %d failures, want 0 (not permitted is not a failure):\n%s", n, b.String())
		}
	})
}

func dynamicOf(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
