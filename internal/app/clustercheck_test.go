//go:build linux

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/clustercheck/testcluster"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

func TestParseClusterCommands(t *testing.T) {
	tests := []struct {
		name    string
		fix     bool
		args    []string
		wantErr string
	}{
		{name: "check defaults", args: []string{"--cluster"}},
		{name: "check json", args: []string{"--cluster", "--output", "json"}},
		{name: "check bad output", args: []string{"--cluster", "--output", "yaml"}, wantErr: `--output: "yaml"`},
		{name: "check bad cni", args: []string{"--cluster", "--cni", "weave"}, wantErr: `--cni: "weave"`},
		{name: "fix defaults", fix: true},
		{name: "fix bad strategy and timeout", fix: true, args: []string{"--strategy", "nodeport", "--timeout", "soon"}, wantErr: "--strategy"},
		{name: "fix negative timeout", fix: true, args: []string{"--timeout", "-1s"}, wantErr: "--timeout: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.fix {
				_, err = ParseFix(tt.args, &bytes.Buffer{})
			} else {
				_, err = ParseClusterCheck(tt.args, &bytes.Buffer{})
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if !IsClusterCheck([]string{"--output", "json", "--cluster"}) || IsClusterCheck([]string{"--output", "json"}) {
		t.Error("IsClusterCheck")
	}
}

// hostNetworkCluster starts an API server holding the walk-through's
// cluster: three workers, OpenShift Virtualization with the VSOCK gate on
// OVN-Kubernetes, and RHACS with collector customised onto the host network
// (sensor on worker-0) in namespace stackrox; it returns the server and its
// admin clients.
func hostNetworkCluster(t *testing.T) (*kubetest.Env, kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	env := kubetest.StartForTest(t)
	admin := env.AdminClient(t)
	d, err := dynamic.NewForConfig(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	testcluster.CreateNodes(t.Context(), t, admin)
	testcluster.CRDs(t.Context(), t, d)
	testcluster.Virtualization(t.Context(), t, admin, d, true, "OVNKubernetes")
	f := kubetest.NewFixture(t, admin, "stackrox")
	testcluster.RHACS(f, kubetest.Install{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet, SensorVMs: "true",
		SensorNode: "worker-0", SensorIP: "10.128.0.5", SensorHostIP: "192.0.2.10", ClusterIP: "10.96.1.1", WebhookIP: "10.96.2.1"})
	return env, admin, d
}

// TestTroubleshootingWalkthrough produces the sample output of
// docs/troubleshooting.md: check → fix (dry run) → fix --apply → fix --apply
// again → check, on a cluster whose collector was customised onto the host
// network, in a real API server. The outputs are golden files, and the doc
// must quote each of them verbatim.
func TestTroubleshootingWalkthrough(t *testing.T) {
	env, admin, d := hostNetworkCluster(t)
	k, err := kube.NewClient(env.Admin)
	if err != nil {
		t.Fatal(err)
	}
	// The probes stand-in: nodes other than sensor's report the blocked
	// host network until a policy admits it (a real probe sees that within
	// one probe interval).
	broken := testcluster.Fetcher(map[string]string{"worker-0": "healthy", "worker-1": "networkpolicy_blocks_host_network", "worker-2": "networkpolicy_blocks_host_network"})
	healthy := testcluster.Fetcher(map[string]string{"worker-0": "healthy", "worker-1": "healthy", "worker-2": "healthy"})
	probes := func(ctx context.Context, pod corev1.Pod) (status.Report, error) {
		_, err := k.NetworkingV1().NetworkPolicies("stackrox").Get(ctx, clustercheck.HostNetworkPolicyName, metav1.GetOptions{})
		if err == nil {
			return healthy(ctx, pod)
		}
		return broken(ctx, pod)
	}
	c := clustercheck.Clients{Kube: k, Dynamic: d, Fetch: probes}

	var doc []string
	step := func(golden string, wantCode int, run func(out *bytes.Buffer) (int, error)) {
		t.Helper()
		var out bytes.Buffer
		failed, err := run(&out)
		if err != nil {
			t.Fatalf("%s: %v", golden, err)
		}
		if code := min(failed, 1); code != wantCode {
			t.Errorf("%s: exit %d, want %d:\n%s", golden, code, wantCode, out.String())
		}
		testsupport.Golden(t, "testdata/"+golden, out.Bytes())
		doc = append(doc, out.String())
	}
	check, err := ParseClusterCheck([]string{"--cluster"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	step("troubleshooting-1-check.golden", 1, func(out *bytes.Buffer) (int, error) { return RunClusterCheck(t.Context(), check, c, out, nil) })
	fix, err := ParseFix(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	step("troubleshooting-2-fix.golden", 1, func(out *bytes.Buffer) (int, error) { return RunFix(t.Context(), fix, c, out, nil) })
	apply, err := ParseFix([]string{"--apply", "--timeout", "10s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	step("troubleshooting-3-apply.golden", 0, func(out *bytes.Buffer) (int, error) { return RunFix(t.Context(), apply, c, out, nil) })
	step("troubleshooting-4-apply-again.golden", 0, func(out *bytes.Buffer) (int, error) { return RunFix(t.Context(), apply, c, out, nil) })
	step("troubleshooting-5-verify.golden", 0, func(out *bytes.Buffer) (int, error) { return RunClusterCheck(t.Context(), check, c, out, nil) })

	// The same verification as JSON.
	jc, err := ParseClusterCheck([]string{"--cluster", "--output", "json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if failed, err := RunClusterCheck(t.Context(), jc, c, &js, nil); err != nil || failed != 0 {
		t.Fatalf("json check: %d failed, %v", failed, err)
	}
	var rep clustercheck.Report
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil || len(rep.Checks) != 22 || len(rep.Fleet) != 3 || rep.Install.Method != "helm" || rep.CNI != "ovn-kubernetes" {
		t.Errorf("json report: %v\n%s", err, js.String())
	}

	// fix as JSON on the fixed cluster: nothing planned, nothing failing.
	jf, err := ParseFix([]string{"--output", "json"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	js.Reset()
	if failed, err := RunFix(t.Context(), jf, c, &js, nil); err != nil || failed != 0 {
		t.Fatalf("json fix: %d failed, %v", failed, err)
	}
	var fr FixReport
	if err := json.Unmarshal(js.Bytes(), &fr); err != nil || len(fr.Plan.Actions) != 0 || len(fr.Before) != 22 || fr.FailedBefore != 0 {
		t.Errorf("json fix report: %v\n%s", err, js.String())
	}

	// The rollout that never ends, with the exit-code path of --apply.
	f2 := kubetest.NewFixture(t, admin, "stuck")
	testcluster.RHACS(f2, kubetest.Install{HostNetwork: true, SensorVMs: "true",
		SensorNode: "worker-0", SensorIP: "10.128.0.6", SensorHostIP: "192.0.2.10", ClusterIP: "10.96.1.2", WebhookIP: "10.96.2.2"})
	stuck, err := ParseFix([]string{"--apply", "--namespace", "stuck", "--timeout", "1s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var out bytes.Buffer
	_, err = RunFix(t.Context(), stuck, c, &out, nil)
	if err == nil || !strings.Contains(err.Error(), "not finished after 1s") {
		t.Errorf("stuck rollout: err = %v, want the bounded-wait error\n%s", err, out.String())
	}
	if time.Since(start) > time.Minute {
		t.Errorf("the bounded wait did not bound")
	}

	b, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Fatalf("read docs/troubleshooting.md: %v", err)
	}
	for i, sample := range doc {
		if !strings.Contains(string(b), sample) {
			t.Errorf("docs/troubleshooting.md does not quote sample %d verbatim (go test ./internal/app -run Troubleshooting -update, then paste testdata/troubleshooting-*.golden):\n%s", i+1, sample)
		}
	}
}

// bindOncall creates the ClusterRoles of docs/oncall-rbac.yaml and binds
// them to a new ServiceAccount oncall in ns.
func bindOncall(t *testing.T, admin kubernetes.Interface, ns string) {
	t.Helper()
	f := kubetest.NewFixture(t, admin, ns)
	raw, err := os.ReadFile("../../docs/oncall-rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		var cr rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &cr); err != nil {
			t.Fatalf("docs/oncall-rbac.yaml: %v", err)
		}
		_, err := admin.RbacV1().ClusterRoles().Create(t.Context(), &cr, metav1.CreateOptions{})
		f.Must("create clusterrole "+cr.Name, err)
		roles = append(roles, cr.Name)
	}
	_, err = admin.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "oncall"}}, metav1.CreateOptions{})
	f.Must("sa", err)
	for _, r := range roles {
		_, err = admin.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: r},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: r},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "oncall", Namespace: ns}}}, metav1.CreateOptions{})
		f.Must("bind "+r, err)
	}
}

// asOncall binds docs/oncall-rbac.yaml to a new ServiceAccount ns/oncall
// and returns clients acting as it (fetching node verdicts with fetch),
// once `probe check --cluster` with them has no check "not permitted" (RBAC
// takes effect asynchronously), with that check's report.
func asOncall(t *testing.T, env *kubetest.Env, admin kubernetes.Interface, ns string, fetch clustercheck.Fetcher) (clustercheck.Clients, clustercheck.Report) {
	t.Helper()
	bindOncall(t, admin, ns)
	cfg := env.ServiceAccountConfig(t.Context(), t, ns, "oncall")
	k, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := clustercheck.Clients{Kube: k, Dynamic: d, Fetch: fetch}
	var r clustercheck.Report
	testsupport.Eventually(t, 20*time.Second, func() (bool, string) {
		m, err := clustercheck.Gather(t.Context(), c, clustercheck.Options{}, nil)
		if err != nil {
			return false, err.Error()
		}
		r = clustercheck.NewReport(m)
		var b bytes.Buffer
		_ = clustercheck.WriteText(&b, r)
		return r.NotPermitted == 0, "not permitted with docs/oncall-rbac.yaml:\n" + b.String()
	})
	return c, r
}

// fixApply runs `probe fix --apply --timeout 10s` with c and returns its
// output and error.
func fixApply(t *testing.T, c clustercheck.Clients) (string, error) {
	t.Helper()
	cfg, err := ParseFix([]string{"--apply", "--timeout", "10s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = RunFix(t.Context(), cfg, c, &out, nil)
	return out.String(), err
}

// TestOncallRBAC applies docs/oncall-rbac.yaml to a real API server and runs
// the check and fix --apply as a ServiceAccount bound to both ClusterRoles:
// no check may be "not permitted", and the apply must go through.
func TestOncallRBAC(t *testing.T) {
	env, admin, _ := hostNetworkCluster(t)

	c, _ := asOncall(t, env, admin, "stackrox", testcluster.Fetcher(map[string]string{"worker-0": "healthy", "worker-1": "healthy", "worker-2": "healthy"}))
	if out, err := fixApply(t, c); err != nil || !strings.Contains(out, "applied ") {
		t.Errorf("fix --apply as the on-call ServiceAccount: %v\n%s", err, out)
	}
}
