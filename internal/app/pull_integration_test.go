//go:build linux

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/kubevirttest"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// pullCluster is a pull-mode cluster (kubevirttest.Lab) with what the lab
// leaves to its users: collector's DaemonSet of the 4.12 line (pod network,
// the version label), sensor's Services, the probe's DaemonSet and pods,
// and a sensor stand-in on loopback that every host-network path of the
// node checks reaches (--target). The cluster check's fleet table reads
// each node's verdict from a real `probe check` of that node.
type pullCluster struct {
	*kubevirttest.Lab
	caFile, sensorAddr string
}

func newPullCluster(t *testing.T, opts kubevirttest.Options) *pullCluster {
	t.Helper()
	lab := kubevirttest.Start(t, opts)
	// The lab's Services and sensor pod sit in the ranges the daemon tests
	// make unreachable; the probe dials loopback (--target) and the
	// virt-handlers in the lab's network namespace only.
	e2eBlockClusterNetworks(t)
	o := lab.Options()
	ns := o.RHACSNamespace
	f := &kubetest.Fixture{T: t, Ctx: t.Context(), Client: lab.Client(), Namespace: ns}
	nodes := int32(len(o.Nodes)) //nolint:gosec // a few lab nodes
	daemonSet := func(name string, labels map[string]string, hostNetwork bool, containers ...corev1.Container) {
		_, err := lab.Client().AppsV1().DaemonSets(ns).Create(t.Context(), &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/version": o.Version}},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{HostNetwork: hostNetwork, Containers: containers}},
			},
		}, metav1.CreateOptions{})
		f.Must("create daemonset "+name, err)
		f.DaemonSetReady(name, nodes)
	}
	daemonSet(kube.CollectorDaemonSet, map[string]string{"app": "collector"}, false,
		corev1.Container{Name: "collector", Image: "quay.io/stackrox-io/collector:" + o.Version},
		corev1.Container{Name: kube.ComplianceContainer, Image: "quay.io/stackrox-io/main:" + o.Version,
			Env: []corev1.EnvVar{{Name: "ROX_SENSOR_ENDPOINT", Value: "sensor." + ns + ".svc:443"}}})
	probeLabels := map[string]string{"app.kubernetes.io/name": "sensorprobe"}
	daemonSet("sensorprobe", probeLabels, true, corev1.Container{Name: "probe", Image: "registry.invalid/sensorprobe:test"})
	for i, node := range o.Nodes {
		ip := fmt.Sprintf("192.0.2.%d", 10+i)
		f.Pod("sensorprobe-"+node.Name, node.Name, probeLabels, ip, ip)
	}
	f.Service("sensor", "10.96.0.50", corev1.ServicePort{Name: "https", Port: 443})
	f.Service("sensor-webhook", "10.96.0.51", corev1.ServicePort{Name: "webhook", Port: 443})

	sensor := startSensorStandIn(t, ns)
	return &pullCluster{Lab: lab, caFile: sensor.CAFile, sensorAddr: sensor.Addr()}
}

// nodeArgs are the flags of the probe on node: the lab's API server and
// KubeVirt namespace, every host-network path at the sensor stand-in.
func (c *pullCluster) nodeArgs(node string) []string {
	a := []string{"--kubeconfig=" + c.Kubeconfig(), "--namespace=" + c.Options().RHACSNamespace, "--node=" + node,
		"--kubevirt.namespace=" + c.Options().KubeVirtNamespace, "--timeout=2s", "--ca-file=" + c.caFile}
	for _, p := range []string{"clusterip", "dns", "podip", "webhook"} {
		a = append(a, "--target="+p+"="+c.sensorAddr)
	}
	return a
}

// nodeCheck runs `probe check --output json` on node.
func (c *pullCluster) nodeCheck(ctx context.Context, node string) (status.Report, error) {
	cfg, err := ParseCheck(append(c.nodeArgs(node), "--output=json"), io.Discard, func(string) string { return "" })
	if err != nil {
		return status.Report{}, err
	}
	var out bytes.Buffer
	if _, err := RunCheck(ctx, cfg, &out); err != nil {
		return status.Report{}, err
	}
	var rep status.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return status.Report{}, fmt.Errorf("decode: %w\n%s", err, out.String())
	}
	return rep, nil
}

func (c *pullCluster) clients(t *testing.T) clustercheck.Clients {
	t.Helper()
	k, err := kube.NewClient(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(ctx context.Context, pod corev1.Pod) (status.Report, error) {
		return c.nodeCheck(ctx, pod.Spec.NodeName)
	}
	return clustercheck.Clients{Kube: k, Dynamic: c.Dynamic(), Fetch: fetch}
}

// clusterCheck runs `probe check --cluster` and `--output json` on c and
// returns the report and the text output.
func (c *pullCluster) clusterCheck(t *testing.T) (clustercheck.Report, string) {
	t.Helper()
	cl := c.clients(t)
	var text, js bytes.Buffer
	for _, out := range []struct {
		args []string
		w    *bytes.Buffer
	}{{[]string{"--cluster"}, &text}, {[]string{"--cluster", "--output", "json"}, &js}} {
		cfg, err := ParseClusterCheck(out.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RunClusterCheck(t.Context(), cfg, cl, out.w, nil); err != nil {
			t.Fatalf("probe check --cluster: %v", err)
		}
	}
	var rep clustercheck.Report
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatalf("decode: %v\n%s", err, js.String())
	}
	return rep, text.String()
}

// fixApply runs `probe fix --apply` on c as the lab's admin.
func (c *pullCluster) fixApply(t *testing.T) string {
	t.Helper()
	out, err := fixApply(t, c.clients(t))
	if err != nil {
		t.Fatalf("probe fix --apply: %v\n%s", err, out)
	}
	return out
}

func result(rep clustercheck.Report, name string) clustercheck.Result {
	for _, r := range rep.Checks {
		if r.Name == name {
			return r
		}
	}
	return clustercheck.Result{Name: name, Status: "missing"}
}

// wantChecks fails t unless each named check has its status and, when
// given, an evidence containing the text.
func wantChecks(t *testing.T, rep clustercheck.Report, text string, want map[string][2]string) {
	t.Helper()
	for name, w := range want {
		r := result(rep, name)
		if string(r.Status) != w[0] || !strings.Contains(r.Evidence, w[1]) {
			t.Errorf("%s: %s %q, want %s with %q\n%s", name, r.Status, r.Evidence, w[0], w[1], text)
		}
	}
}

// TestPullModeClusterCheck builds RHACS 4.12 pull-mode clusters in a real
// API server with the aggregation layer, a virt-api stand-in behind the
// APIService v1.subresources.kubevirt.io, RBAC decided by the API server,
// and a sensor stand-in that scrapes through all of it and logs as sensor
// does; then `probe check --cluster` must name each fault with its fix, and
// agree with the probe on each node.
func TestPullModeClusterCheck(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		c := newPullCluster(t, kubevirttest.Options{VMIs: []kubevirttest.VMI{{Name: "rhel9"}, {Name: "rhel9-b", Node: "worker-1"}}})
		if _, err := c.Scrape(t.Context()); err != nil {
			t.Fatal(err)
		}
		rep, text := c.clusterCheck(t)
		t.Logf("probe check --cluster:\n%s", text)
		if rep.Failed != 0 || rep.NotPermitted != 0 {
			t.Errorf("a healthy pull cluster: %d failed, %d not permitted\n%s", rep.Failed, rep.NotPermitted, text)
		}
		wantChecks(t, rep, text, map[string][2]string{
			clustercheck.CheckTransport:      {"pass", "pull (RHACS 4.12.x-nightly-20260813"},
			clustercheck.CheckSubresourceAPI: {"pass", "Available"},
			clustercheck.CheckSensorRBAC:     {"pass", "may get virtualmachineinstances/vsock in vms"},
			clustercheck.CheckVirtHandler:    {"pass", "worker-0, worker-1"},
			clustercheck.CheckScraper:        {"pass", "success 2"},
			clustercheck.CheckVMs:            {"pass", "all 2 Running VMIs have VSOCK"},
			clustercheck.CheckNodeVerdicts:   {"pass", ""},
			clustercheck.CheckPolicy:         {"not_applicable", ""},
		})
		if rep.Transport != "pull" || len(rep.VMs) != 2 || rep.VMs[0].Outcome != "success" {
			t.Errorf("transport %q, VM table %+v", rep.Transport, rep.VMs)
		}
		testsupport.Golden(t, "testdata/pull-healthy.golden", []byte(stripTimes(text)))
	})

	t.Run("faults", func(t *testing.T) {
		c := newPullCluster(t, kubevirttest.Options{
			NoVSOCKAccessRole: true, NoViewClusterRole: true, NoVSOCKFeatureGate: true, CentralUnreachable: true,
			VirtHandlers: []kubevirttest.VirtHandler{{Node: "worker-0"}, {Node: "worker-1", Down: true}},
			VMIs: []kubevirttest.VMI{{Name: "rhel9"}, {Name: "fedora-plain", NoVSOCK: true},
				{Name: "agent-down", Agent: kubevirttest.AgentDown}, {Name: "on-worker-1", Node: "worker-1"}},
		})
		if _, err := c.Scrape(t.Context()); err != nil {
			t.Fatal(err)
		}
		rep, text := c.clusterCheck(t)
		t.Logf("probe check --cluster:\n%s", text)
		wantChecks(t, rep, text, map[string][2]string{
			clustercheck.CheckSensorRBAC:   {"fail", "refuses system:serviceaccount:stackrox:sensor get virtualmachineinstances/vsock"},
			clustercheck.CheckVSOCKGate:    {"fail", "lack VSOCK"},
			clustercheck.CheckVMs:          {"fail", "vms/fedora-plain@worker-0"},
			clustercheck.CheckScraper:      {"fail", "dial_error/rbac_denied"},
			clustercheck.CheckNodeVerdicts: {"fail", "virt_handler_down"},
			// Pod Ready; sensor, refused by RBAC, has not reached it yet.
			clustercheck.CheckVirtHandler: {"pass", ""},
		})
		testsupport.Golden(t, "testdata/pull-faults.golden", []byte(stripTimes(text)))

		// With RBAC: sensor reaches virt-api; what is left are the VMs' and the nodes' own faults.
		fix := c.fixApply(t)
		if !strings.Contains(fix, "applied") || !strings.Contains(fix, "ClusterRole stackrox:vsock-access") {
			t.Errorf("probe fix --apply:\n%s", fix)
		}
		if again := c.fixApply(t); regexp.MustCompile(`applied\s+add ClusterRole`).MatchString(again) {
			t.Errorf("a second probe fix --apply changed the RBAC again:\n%s", again)
		}
		testsupport.Eventually(t, e2eWaitLimit, func() (bool, string) {
			if _, err := c.Scrape(t.Context()); err != nil {
				return false, err.Error()
			}
			rep, text = c.clusterCheck(t)
			return result(rep, clustercheck.CheckSensorRBAC).Status == clustercheck.Pass, text
		})
		wantChecks(t, rep, text, map[string][2]string{
			clustercheck.CheckScraper:     {"fail", "vms/fedora-plain dial_error/vsock_not_attached"},
			clustercheck.CheckVirtHandler: {"fail", "worker-1 (virt-handler-"},
		})
		for _, want := range []string{"vms/agent-down agent_down", "vms/on-worker-1 dial_error/virt_handler_unreachable", "vms/rhel9 send_error"} {
			if !strings.Contains(result(rep, clustercheck.CheckScraper).Evidence, want) {
				t.Errorf("sensor-scraper lacks %q:\n%s", want, text)
			}
		}
		testsupport.Golden(t, "testdata/pull-after-fix.golden", []byte(stripTimes(text)))

		doc, err := os.ReadFile("../../docs/troubleshooting.md")
		if err != nil {
			t.Fatal(err)
		}
		for _, golden := range []string{"testdata/pull-faults.golden", "testdata/pull-after-fix.golden"} {
			b, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(doc), "$ probe check --cluster\n"+strings.TrimSuffix(string(b), "\n")+"\n```") {
				t.Errorf("docs/troubleshooting.md does not quote %s verbatim", golden)
			}
		}
	})
}

// virtHandlerAddr is a virt-handler pod's address in the lab, which the lab
// picks afresh each run.
var virtHandlerAddr = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+:8186\b`)

// TestPullModeOncallRBAC runs `probe check --cluster` and `probe fix
// --apply` on a pull-mode cluster as a ServiceAccount bound to the
// ClusterRoles of docs/oncall-rbac.yaml: no check may be "not permitted",
// and the fix must create sensor's vsock RBAC and add the feature gate.
func TestPullModeOncallRBAC(t *testing.T) {
	c := newPullCluster(t, kubevirttest.Options{NoVSOCKAccessRole: true, NoViewClusterRole: true, NoVSOCKFeatureGate: true,
		VMIs: []kubevirttest.VMI{{Name: "rhel9"}}})
	if _, err := c.Scrape(t.Context()); err != nil {
		t.Fatal(err)
	}
	cl, r := asOncall(t, c.Env(), c.Client(), c.Options().RHACSNamespace, c.clients(t).Fetch)
	if got := result(r, clustercheck.CheckSensorRBAC); got.Status != clustercheck.Fail {
		t.Errorf("sensor-vsock-rbac %s %q, want fail: the lab has no stackrox:vsock-access", got.Status, got.Evidence)
	}
	out, err := fixApply(t, cl)
	for _, want := range []string{`applied\s+add ClusterRole stackrox:vsock-access`, `applied\s+bind it to ServiceAccount stackrox/sensor`,
		`applied\s+enable KubeVirt's VSOCK feature gate through HyperConverged`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("fix --apply as the on-call ServiceAccount (%v) lacks %q:\n%s", err, want, out)
		}
	}
}

// stripTimes replaces what varies by run: the VM table's clock times and
// the virt-handlers' pod IPs.
func stripTimes(s string) string {
	s = virtHandlerAddr.ReplaceAllString(s, "POD-IP:8186")
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && strings.Count(f[len(f)-1], ":") == 2 || len(f) >= 7 && f[len(f)-1] == "-" && strings.Count(f[len(f)-2], ":") == 2 {
			for i := len(f) - 2; i < len(f); i++ {
				if strings.Count(f[i], ":") == 2 {
					line = strings.Replace(line, f[i], "hh:mm:ss", 1)
				}
			}
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// TestPullModeNode runs `probe check` on the nodes of a pull-mode lab: a
// node whose virt-handler is down is virt_handler_down, one with a VMI
// without VSOCK is vms_without_vsock, and the daemon's gauges follow them.
func TestPullModeNode(t *testing.T) {
	c := newPullCluster(t, kubevirttest.Options{
		VirtHandlers: []kubevirttest.VirtHandler{{Node: "worker-0"}, {Node: "worker-1", Down: true}},
		VMIs:         []kubevirttest.VMI{{Name: "rhel9"}, {Name: "fedora-plain", NoVSOCK: true}, {Name: "on-worker-1", Node: "worker-1"}},
	})
	for _, tt := range []struct {
		node, verdict string
		cause         []string
	}{
		{"worker-0", "vms_without_vsock", []string{"1 of the 2 Running VMIs", "vms/fedora-plain"}},
		{"worker-1", "virt_handler_down", []string{"vms/on-worker-1", "port 8186", "connection refused"}},
	} {
		t.Run(tt.node, func(t *testing.T) {
			rep, err := c.nodeCheck(t.Context(), tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict.Name != tt.verdict {
				t.Errorf("%s: verdict %s (%s), want %s", tt.node, rep.Verdict.Name, rep.Verdict.Cause, tt.verdict)
			}
			for _, want := range tt.cause {
				if !strings.Contains(rep.Verdict.Cause, want) {
					t.Errorf("%s: cause %q lacks %q", tt.node, rep.Verdict.Cause, want)
				}
			}
			if rep.Kubernetes == nil || rep.Kubernetes.VMTransport != "pull" || rep.Kubernetes.VMs == nil || rep.Kubernetes.VMs.VirtHandler == nil {
				t.Errorf("%s: /status kubernetes %+v", tt.node, rep.Kubernetes)
			}
		})
	}

	t.Run("daemon gauges", func(t *testing.T) {
		cfg, err := ParseDaemon(append(c.nodeArgs("worker-1"), "--interval=1s", "--timeout=500ms", "--fleet-size=1",
			"--web.listen-address=127.0.0.1:0"), io.Discard, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		d := startE2EDaemon(t, cfg)
		e2eAwait(t, "pull-mode gauges", func() error {
			m, err := d.metrics()
			if err != nil {
				return err
			}
			got := fmt.Sprintf("transport %v running %v without %v handler %v",
				m.value("sensorprobe_vm_transport_info", "mode", "pull"), m.value("sensorprobe_vmis_running"),
				m.value("sensorprobe_vmis_without_vsock"), m.value("sensorprobe_virt_handler_up"))
			if got != "transport 1 running 1 without 0 handler 0" {
				return fmt.Errorf("%s", got)
			}
			return nil
		})
		if err := c.SetVirtHandlerDown("worker-1", false); err != nil {
			t.Fatal(err)
		}
		e2eAwait(t, "virt-handler back up", func() error {
			m, err := d.metrics()
			if err != nil {
				return err
			}
			if v := m.value("sensorprobe_virt_handler_up"); v != 1 {
				return fmt.Errorf("sensorprobe_virt_handler_up %v", v)
			}
			return nil
		})
		if err := d.stop(t); err != nil {
			t.Error(err)
		}
	})
}
