package clustercheck

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/status"
)

func TestProxyRequestPath(t *testing.T) {
	c, err := kube.NewClient(&rest.Config{Host: "https://api.example.invalid:6443"})
	if err != nil {
		t.Fatal(err)
	}
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "stackrox", Name: "sensorprobe-x7k2p"}}
	got := ProxyRequest(c, pod, 9818).URL().Path
	want := "/api/v1/namespaces/stackrox/pods/http:sensorprobe-x7k2p:9818/proxy/status"
	if got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestFetchFleetGroupsByVerdict(t *testing.T) {
	pods := []corev1.Pod{}
	for _, n := range []string{"w3", "w1", "w2", "w0"} {
		pods = append(pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + n}, Spec: corev1.PodSpec{NodeName: n}})
	}
	verdicts := map[string]string{"w0": "healthy", "w1": "networkpolicy_blocks_host_network", "w3": "networkpolicy_blocks_host_network"}
	fetch := func(_ context.Context, p corev1.Pod) (status.Report, error) {
		v, ok := verdicts[p.Spec.NodeName]
		if !ok {
			return status.Report{}, errors.New("refused")
		}
		r := status.Report{Verdict: status.Verdict{Name: v}}
		if v != "healthy" {
			r.Paths = []status.PathStatus{{Name: "dns", State: "down", Reason: "timeout", Consumer: "relay"}, {Name: "podip", State: "down", Reason: "timeout", Consumer: "none"}}
		}
		return r, nil
	}
	rows := fetchFleet(t.Context(), fetch, pods)
	var got [][2]string
	for _, r := range rows {
		got = append(got, [2]string{r.Verdict, r.Node})
	}
	want := [][2]string{{"networkpolicy_blocks_host_network", "w1"}, {"networkpolicy_blocks_host_network", "w3"}, {Unreadable, "w2"}, {"healthy", "w0"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fleet order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dns(timeout)"}, rows[0].FailingPaths); diff != "" {
		t.Errorf("failing paths (control paths left out) (-want +got):\n%s", diff)
	}
}

func TestAdmits(t *testing.T) {
	tcp := corev1.ProtocolTCP
	api := intstr.FromInt32(8443)
	sensor := map[string]string{"app": "sensor"}
	pol := func(name string, from ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicy {
		return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: sensor},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &api, Protocol: &tcp}}, From: from}},
		}}
	}
	chart := pol("sensor", networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "collector"}}})
	hostNS := pol("hn", networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{HostNetworkNamespaceLabel: ""}}})
	blocks := pol("ips", networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24"}})
	nodes := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}
	podSrc := source{podLabels: map[string]string{"app": "collector"}, nsLabels: map[string]string{}}
	hostSrc := source{hostNetwork: true, nodeAddrs: nodes}
	tunnelSrc := source{hostNetwork: true, nodeAddrs: append(nodes, netip.MustParseAddr("10.244.1.0"))}
	tests := []struct {
		name string
		pols []networkingv1.NetworkPolicy
		src  source
		cni  cni.Plugin
		want bool
	}{
		{name: "no policy", src: hostSrc, cni: "other", want: true},
		{name: "chart policy admits collector pods", pols: []networkingv1.NetworkPolicy{chart}, src: podSrc, cni: "other", want: true},
		{name: "chart policy drops host network", pols: []networkingv1.NetworkPolicy{chart}, src: hostSrc, cni: "ovn-kubernetes", want: false},
		{name: "OVN host-network namespace selector", pols: []networkingv1.NetworkPolicy{chart, hostNS}, src: hostSrc, cni: "ovn-kubernetes", want: true},
		{name: "host-network selector means nothing off OVN", pols: []networkingv1.NetworkPolicy{chart, hostNS}, src: hostSrc, cni: "calico", want: false},
		{name: "ipBlock covering the nodes", pols: []networkingv1.NetworkPolicy{chart, blocks}, src: hostSrc, cni: "other", want: true},
		{name: "ipBlock missing a tunnel address", pols: []networkingv1.NetworkPolicy{chart, blocks}, src: tunnelSrc, cni: "calico", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := admits(tt.pols, nil, sensor, tt.src, tt.cni).admitted; got != tt.want {
				t.Errorf("admitted = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnreachableCluster(t *testing.T) {
	// Port 1 on loopback: nothing listens, the dial is refused at once.
	cfg := &rest.Config{Host: "https://127.0.0.1:1", Timeout: 5e9}
	k, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Gather(t.Context(), Clients{Kube: k}, Options{}, nil)
	if err == nil || m == nil {
		t.Fatalf("Gather = %v, %v; want the model and an error", m, err)
	}
	rs := Evaluate(m)
	if len(rs) != 1 || rs[0].Name != CheckReachable || rs[0].Status != Fail || rs[0].Fix == "" {
		t.Errorf("Evaluate = %+v, want one failed %s with a fix", rs, CheckReachable)
	}
}

func TestPolicyActionPerCNI(t *testing.T) {
	nodes := []corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "w0", Annotations: map[string]string{"projectcalico.org/IPv4IPIPTunnelAddr": "10.244.0.1"}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}, {Type: corev1.NodeExternalIP, Address: "203.0.113.9"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.11"}}}},
	}
	tests := []struct {
		cni      cni.Plugin
		kind     string
		contains []string
	}{
		{cni: "ovn-kubernetes", kind: "NetworkPolicy", contains: []string{`policy-group.network.openshift.io/host-network: ""`}},
		{cni: "cilium", kind: "CiliumNetworkPolicy", contains: []string{"- fromEntities:\n    - host\n    - remote-node", "endpointSelector"}},
		{cni: "calico", kind: "NetworkPolicy", contains: []string{"cidr: 10.244.0.1/32", "cidr: 192.0.2.10/32", "cidr: 192.0.2.11/32"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.cni), func(t *testing.T) {
			m := &Model{Options: Options{Namespace: "stackrox", CNI: tt.cni}, Nodes: Read[[]corev1.Node]{Value: nodes}}
			a := m.policyAction()
			if a.Object.GetKind() != tt.kind {
				t.Errorf("kind = %s, want %s", a.Object.GetKind(), tt.kind)
			}
			for _, want := range tt.contains {
				if !strings.Contains(a.Command, want) {
					t.Errorf("command lacks %q:\n%s", want, a.Command)
				}
			}
			if strings.Contains(a.Command, "203.0.113.9") {
				t.Errorf("an ExternalIP is not a host-network source inside the cluster:\n%s", a.Command)
			}
		})
	}
}

func TestRelayOffOnControlPlane(t *testing.T) {
	cp := func(name string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}}
	}
	tainted := func(name string) corev1.Node {
		n := cp(name)
		n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/master", Effect: corev1.TaintEffectNoSchedule}}
		return n
	}
	worker := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w0", Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}}
	tests := []struct {
		name    string
		version string
		nodes   []corev1.Node
		env     string
		want    Status
	}{
		{name: "compact cluster, 4.11", version: "4.11.2", nodes: []corev1.Node{cp("m0"), cp("m1"), cp("m2")}, want: Fail},
		{name: "compact cluster, enabled on masters", version: "4.11.2", nodes: []corev1.Node{cp("m0"), cp("m1")}, env: "true", want: Pass},
		{name: "workers, tainted control-plane nodes", version: "4.11.2", nodes: []corev1.Node{tainted("m0"), worker}, want: Pass},
		{name: "workers, a control-plane node that takes workloads", version: "4.11.2", nodes: []corev1.Node{cp("m0"), worker}, want: Fail},
		{name: "4.10 starts the relay everywhere", version: "4.10.6", nodes: []corev1.Node{cp("m0")}, want: NotApplicable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []corev1.EnvVar{{Name: "ROX_VIRTUAL_MACHINES", Value: "true"}}
			if tt.env != "" {
				env = append(env, corev1.EnvVar{Name: "ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES", Value: tt.env})
			}
			ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "collector", Namespace: "stackrox", Labels: map[string]string{"app.kubernetes.io/version": tt.version}},
				Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "compliance", Env: env}}}}}}
			m := &Model{Options: Options{Namespace: "stackrox"}, Collector: Read[*appsv1.DaemonSet]{Value: ds}, Relay: kube.ReadRelayConfig(ds),
				Nodes: Read[[]corev1.Node]{Value: tt.nodes}}
			if got := m.checkControlPlane().Status; got != tt.want {
				t.Fatalf("status = %s, want %s", got, tt.want)
			}
			p := PlanFix(m, "")
			planned := false
			for _, a := range p.Actions {
				planned = planned || strings.Contains(a.Summary, "ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true")
			}
			if planned != (tt.want == Fail) {
				t.Errorf("fix planned = %v, want %v (%+v)", planned, tt.want == Fail, p.Actions)
			}
		})
	}
}

// An empty (reachable) model — nothing found, nothing refused — evaluates
// and plans without a panic, and fails the checks that need RHACS.
func TestEvaluateEmptyModel(t *testing.T) {
	m := &Model{Options: Options{}.withDefaults()}
	rs := Evaluate(m)
	got := map[string]Status{}
	for _, r := range rs {
		got[r.Name] = r.Status
	}
	if got[CheckSensor] != Fail || got[CheckCollector] != Fail || got[CheckProbeCoverage] != Fail || got[CheckCentral] != NotApplicable {
		t.Errorf("statuses = %v", got)
	}
	if p := PlanFix(m, ""); len(p.Actions) != 0 {
		t.Errorf("plan = %+v, want nothing to apply without RHACS", p.Actions)
	}
}

// ROX_VIRTUAL_MACHINES counts as on only as RHACS reads it: "1" or "t"
// leave the feature off (pkg/features), so the check fails on them.
func TestFeatureFlagAsRHACSReadsIt(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  Status
	}{{"true", Pass}, {"TRUE", Pass}, {"1", Fail}, {"t", Fail}, {"false", Fail}} {
		t.Run(tt.value, func(t *testing.T) {
			env := []corev1.EnvVar{{Name: "ROX_VIRTUAL_MACHINES", Value: tt.value}}
			sensor := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "sensor", Env: env}}}}}}
			m := &Model{Options: Options{Namespace: "stackrox"}, Sensor: Read[*appsv1.Deployment]{Value: sensor}}
			if r := m.checkFlags(); r.Status != tt.want {
				t.Errorf("ROX_VIRTUAL_MACHINES=%s: %s (%s), want %s", tt.value, r.Status, r.Evidence, tt.want)
			}
		})
	}
}

// TestFleetDownSince: the fleet table says, per node and failing path,
// since when it is down and how many outages the node's last hour saw; a
// node whose probe keeps no history gets "?".
func TestFleetDownSince(t *testing.T) {
	at := time.Date(2026, 12, 7, 6, 26, 5, 0, time.UTC)
	since := at.Add(-3*time.Minute - 12*time.Second)
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "p-w1"}, Spec: corev1.PodSpec{NodeName: "w1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "p-w2"}, Spec: corev1.PodSpec{NodeName: "w2"}},
	}
	fetch := func(_ context.Context, p corev1.Pod) (status.Report, error) {
		r := status.Report{GeneratedAt: at, Verdict: status.Verdict{Name: "degraded"}}
		dns := status.PathStatus{Name: "dns", State: "down", Reason: "connect_timeout", Consumer: "relay"}
		if p.Spec.NodeName == "w1" {
			dns.DownSince, dns.OutagesLastHour = &since, 4
		}
		r.Paths = []status.PathStatus{dns}
		return r, nil
	}
	rows := fetchFleet(t.Context(), fetch, pods)
	want := []PathDown{{Path: "dns", Since: &since, Seconds: 192, OutagesLastHour: 4}}
	if diff := cmp.Diff(want, rows[0].Down); diff != "" {
		t.Errorf("w1 down (-want +got):\n%s", diff)
	}
	var b strings.Builder
	if err := WriteText(&b, Report{Fleet: rows}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"VERDICT   NODE  FAILING PATHS         DOWN SINCE                                        RELAY EVIDENCE",
		"degraded  w1    dns(connect_timeout)  dns 06:22:53 (3m12s), 4 outages in the last hour  -",
		"degraded  w2    dns(connect_timeout)  dns ?                                             -",
	} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("fleet table lacks %q:\n%s", line, b.String())
		}
	}
}
