//go:build linux

// Package testcluster builds the clusters the clustercheck tests run against in
// a real kube-apiserver: minimal KubeVirt and OpenShift CRDs of its own
// making, nodes, the RHACS objects of an install flavour, sensor's chart
// NetworkPolicy and the probe DaemonSet, and a fake /status fetcher (a test
// API server has no kubelet to proxy to).
package testcluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// Nodes are the test cluster's nodes and their InternalIPs.
var Nodes = map[string]string{"worker-0": "192.0.2.10", "worker-1": "192.0.2.11", "worker-2": "192.0.2.12"}

// CRDs creates minimal CRDs (any fields allowed) for HyperConverged,
// KubeVirt, VirtualMachineInstance, Network.config and SecuredCluster and
// waits until they are served.
func CRDs(ctx context.Context, t testing.TB, d dynamic.Interface) {
	t.Helper()
	CRD(ctx, t, d, clustercheck.GVRHyperConverged, "HyperConverged", false)
	CRD(ctx, t, d, clustercheck.GVRKubeVirt, "KubeVirt", false)
	CRD(ctx, t, d, clustercheck.GVRVMI, "VirtualMachineInstance", false)
	CRD(ctx, t, d, clustercheck.GVRNetworkConfig, "Network", true)
	CRD(ctx, t, d, clustercheck.GVRSecuredCluster, "SecuredCluster", false)
}

// CRD creates a minimal CRD (any fields allowed) serving gvr as kind and
// waits until it is served.
func CRD(ctx context.Context, t testing.TB, d dynamic.Interface, gvr schema.GroupVersionResource, kind string, cluster bool) {
	t.Helper()
	crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	scope := "Namespaced"
	if cluster {
		scope = "Cluster"
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": gvr.Resource + "." + gvr.Group},
		"spec": map[string]any{
			"group": gvr.Group, "scope": scope,
			"names": map[string]any{"plural": gvr.Resource, "kind": kind, "listKind": kind + "List"},
			"versions": []any{map[string]any{"name": gvr.Version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	if _, err := d.Resource(crd).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create CRD %s: %v", gvr.Resource, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := d.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not served: %v", gvr.Resource, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Virtualization creates a HyperConverged, a KubeVirt with the VSOCK gate
// (when vsock) and VMIs on worker-1 (one with VSOCK) and a Network.config
// of networkType (skipped when "").
func Virtualization(ctx context.Context, t testing.TB, c kubernetes.Interface, d dynamic.Interface, vsock bool, networkType string) {
	t.Helper()
	kubetest.EnsureNamespace(ctx, t, c, "openshift-cnv")
	kubetest.EnsureNamespace(ctx, t, c, "vms")
	gates := []any{"Snapshot"}
	if vsock {
		gates = append(gates, "VSOCK")
	}
	create(ctx, t, d, clustercheck.GVRHyperConverged, "openshift-cnv", map[string]any{"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
		"metadata": map[string]any{"name": "kubevirt-hyperconverged"}})
	create(ctx, t, d, clustercheck.GVRKubeVirt, "openshift-cnv", map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
		"metadata": map[string]any{"name": "kubevirt-kubevirt-hyperconverged"},
		"spec":     map[string]any{"configuration": map[string]any{"developerConfiguration": map[string]any{"featureGates": gates}}}})
	create(ctx, t, d, clustercheck.GVRVMI, "vms", map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
		"metadata": map[string]any{"name": "rhel9-scanned"},
		"spec":     map[string]any{"domain": map[string]any{"devices": map[string]any{"autoattachVSOCK": true}}},
		"status":   map[string]any{"VSOCKCID": int64(123), "nodeName": "worker-1", "phase": "Running"}})
	create(ctx, t, d, clustercheck.GVRVMI, "vms", map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
		"metadata": map[string]any{"name": "fedora-plain"},
		"spec":     map[string]any{"domain": map[string]any{"devices": map[string]any{}}},
		"status":   map[string]any{"nodeName": "worker-2", "phase": "Running"}})
	if networkType != "" {
		create(ctx, t, d, clustercheck.GVRNetworkConfig, "", map[string]any{"apiVersion": "config.openshift.io/v1", "kind": "Network",
			"metadata": map[string]any{"name": "cluster"}, "status": map[string]any{"networkType": networkType}})
	}
}

func create(ctx context.Context, t testing.TB, d dynamic.Interface, gvr schema.GroupVersionResource, ns string, obj map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	var err error
	if ns == "" {
		_, err = d.Resource(gvr).Create(ctx, u, metav1.CreateOptions{})
	} else {
		_, err = d.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create %s %s: %v", gvr.Resource, u.GetName(), err)
	}
}

// CreateNodes creates Nodes with their InternalIPs.
func CreateNodes(ctx context.Context, t testing.TB, c kubernetes.Interface) {
	t.Helper()
	for name, ip := range Nodes {
		n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			t.Fatalf("create node %s: %v", name, err)
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("node %s status: %v", name, err)
		}
	}
}

// RHACS lays out install in f's namespace: sensor's Services, pod,
// EndpointSlice and Deployment, collector (rolled out on every node), the
// chart's NetworkPolicy sensor and the sensorprobe DaemonSet with pods.
func RHACS(f *kubetest.Fixture, in kubetest.Install) {
	f.T.Helper()
	f.ApplyInstall(in)
	f.SensorDeployment(in)
	n := int32(len(Nodes)) //nolint:gosec // three nodes
	f.DaemonSetReady("collector", n)
	SensorPolicy(f)
	labels := map[string]string{"app.kubernetes.io/name": "sensorprobe"}
	_, err := f.Client.AppsV1().DaemonSets(f.Namespace).Create(f.Ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "sensorprobe", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				HostNetwork: true, Containers: []corev1.Container{{Name: "probe", Image: "registry.invalid/sensorprobe:test"}},
			}},
		},
	}, metav1.CreateOptions{})
	f.Must("create daemonset sensorprobe", err)
	f.DaemonSetReady("sensorprobe", n)
	for node, ip := range Nodes {
		p := f.Pod("sensorprobe-"+node, node, labels, ip, ip)
		_ = p
	}
}

// SensorPolicy creates the chart's NetworkPolicy sensor in f's namespace:
// 8443 from collector and admission control pods only, 9443 from anywhere.
func SensorPolicy(f *kubetest.Fixture) {
	f.T.Helper()
	tcp := corev1.ProtocolTCP
	api, webhook := intstr.FromInt32(8443), intstr.FromInt32(9443)
	_, err := f.Client.NetworkingV1().NetworkPolicies(f.Namespace).Create(f.Ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor", Labels: map[string]string{"auto-upgrade.stackrox.io/component": "sensor"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "sensor"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{{Port: &api, Protocol: &tcp}}, From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "collector"}}},
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"service": "collector"}}},
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "admission-control"}}},
				}},
				{Ports: []networkingv1.NetworkPolicyPort{{Port: &webhook, Protocol: &tcp}}},
			},
		},
	}, metav1.CreateOptions{})
	f.Must("create networkpolicy sensor", err)
}

// FetchedAt is when the fake probes of Fetcher make their reports.
func FetchedAt() time.Time { return time.Date(2026, 12, 7, 6, 26, 5, 0, time.UTC) }

// Fetcher is a fake /status fetcher: the verdict of each node, failing
// paths for the non-healthy ones, down since a while before FetchedAt
// (worker-1 for 2h14m, others for 3m12s after 4 outages in the hour).
func Fetcher(verdicts map[string]string) clustercheck.Fetcher {
	return func(_ context.Context, pod corev1.Pod) (status.Report, error) {
		v, ok := verdicts[pod.Spec.NodeName]
		if !ok {
			return status.Report{}, fmt.Errorf("connection refused")
		}
		hn := true
		since, outages := FetchedAt().Add(-3*time.Minute-12*time.Second), 4
		if pod.Spec.NodeName == "worker-1" {
			since, outages = FetchedAt().Add(-2*time.Hour-14*time.Minute), 1
		}
		r := status.Report{Node: pod.Spec.NodeName, GeneratedAt: FetchedAt(), Verdict: status.Verdict{Name: v, Severity: "none"},
			Kubernetes: &status.Kubernetes{RelayPath: "dns", RelayHostNetwork: &hn},
			VSOCK:      &status.VSOCK{RelayPort: 818, RelayListening: true, ReportsSentRecent: 3}}
		r.Paths = []status.PathStatus{{Name: dial.PathWebhook, State: status.StateUp, Up: true, Consumer: string(state.ConsumerNone)}}
		if v != verdict.Healthy {
			r.Verdict.Severity = "critical"
			r.VSOCK.ReportsSentRecent, r.VSOCK.SendErrorsRecent = 0, 4
			r.Paths = append(r.Paths, status.PathStatus{Name: dial.PathDNS, State: status.StateDown, Reason: string(dial.ReasonConnectTimeout), Consumer: string(state.ConsumerRelay),
				DownSince: &since, OutagesLastHour: outages},
				status.PathStatus{Name: dial.PathClusterIP, State: status.StateDown, Reason: string(dial.ReasonConnectTimeout), Consumer: string(state.ConsumerNone)})
		}
		return r, nil
	}
}
