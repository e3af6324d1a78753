// Package clustercheck is `probe check --cluster` and `probe fix`: it reads
// the RHACS install, the probe DaemonSet, the network policies and the
// KubeVirt/OpenShift objects through the API server (with the caller's
// kubeconfig), turns them into typed checks (pass, fail, not applicable, not
// permitted) with evidence and a fix, and plans and applies the remediation
// the evidence calls for.
//
// Gather reads the cluster once into a Model; Evaluate is a pure function of
// the Model; Plan derives the remediation from the same Model. Every read
// that is refused is recorded with the RBAC rule that would allow it, so a
// narrow Role gives "not permitted" checks, never failures.
package clustercheck

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
)

// Rule is one RBAC permission: what a check needed and was refused.
type Rule struct {
	Group     string `json:"api_group"`
	Resource  string `json:"resource"`
	Verb      string `json:"verb"`
	Namespace string `json:"namespace,omitempty"` // "" for cluster-scoped or all namespaces
}

// String renders the rule as a Role/ClusterRole rule line.
func (r Rule) String() string {
	kind := "ClusterRole"
	if r.Namespace != "" {
		kind = "Role in " + r.Namespace
	}
	return fmt.Sprintf(`%s: apiGroups: [%q], resources: [%q], verbs: [%q]`, kind, r.Group, r.Resource, r.Verb)
}

// Access is what happened to one read: nil Err when it worked.
type Access struct {
	Rule      Rule
	Forbidden bool
	NotFound  bool
	Err       error
}

// OK reports whether the read returned an object.
func (a Access) OK() bool { return a.Err == nil }

// GVRs of the objects read through the dynamic client. Their CRDs may be
// absent: a 404 on the resource means "not installed".
var (
	GVRHyperConverged = schema.GroupVersionResource{Group: "hco.kubevirt.io", Version: "v1beta1", Resource: "hyperconvergeds"}
	GVRKubeVirt       = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "kubevirts"}
	GVRVMI            = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	GVRNetworkConfig  = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "networks"}
	GVRSecuredCluster = schema.GroupVersionResource{Group: "platform.stackrox.io", Version: "v1alpha1", Resource: "securedclusters"}
	GVRCiliumPolicy   = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnetworkpolicies"}
)

// Options say where to look.
type Options struct {
	// Namespace is the RHACS namespace (default stackrox).
	Namespace string
	// ProbeNamespace is where the sensorprobe DaemonSet runs (default Namespace).
	ProbeNamespace string
	// ProbeDaemonSet is its name (default sensorprobe).
	ProbeDaemonSet string
	// ProbePort is the probe's web port serving /status (default 9818).
	ProbePort int
	// CNI overrides the detected network plugin ("ovn-kubernetes",
	// "cilium", "calico", "other"); "" detects it.
	CNI string
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = kube.DefaultNamespace
	}
	if o.ProbeNamespace == "" {
		o.ProbeNamespace = o.Namespace
	}
	if o.ProbeDaemonSet == "" {
		o.ProbeDaemonSet = "sensorprobe"
	}
	if o.ProbePort == 0 {
		o.ProbePort = 9818
	}
	return o
}

// Clients are the API clients the checks use.
type Clients struct {
	Kube    kubeclient.Interface
	Dynamic dynamic.Interface
	// Fetch reads a probe pod's /status; nil uses the API server's pod proxy.
	Fetch Fetcher
}

// Model is what Gather read from the cluster. Pointers are nil when the
// object was not found or not readable; the matching Access says which.
type Model struct {
	Options       Options
	ServerVersion string
	Reachable     Access

	Central, Sensor          *appsv1.Deployment
	CentralAccess, SensorAcc Access
	Collector                *appsv1.DaemonSet
	CollectorAccess          Access
	Relay                    kube.RelayConfig
	SensorPods               []corev1.Pod
	SensorPodsAccess         Access
	Probe                    *appsv1.DaemonSet
	ProbeAccess              Access
	Nodes                    []corev1.Node
	NodesAccess              Access
	Namespaces               map[string]map[string]string // name → labels
	NamespacesAccess         Access
	Policies                 []networkingv1.NetworkPolicy
	PoliciesAccess           Access
	CiliumPolicies           []unstructured.Unstructured
	CiliumAccess             Access
	HyperConverged           []unstructured.Unstructured
	HCOAccess                Access
	KubeVirt                 []unstructured.Unstructured
	KubeVirtAccess           Access
	VMIs                     []unstructured.Unstructured
	VMIAccess                Access
	NetworkConfig            *unstructured.Unstructured
	NetworkAccess            Access
	SecuredClusters          []unstructured.Unstructured
	SecuredClusterAccess     Access
	ProxyAccess              Access
	Fleet                    []NodeStatus
	FleetErr                 error
}

// Progress is told the name of each step as Gather starts it; nil is silent.
type Progress func(step string, i, n int)

// Gather reads the cluster. It fails only when the API server cannot be
// reached at all; refused or missing objects are recorded in the Model.
func Gather(ctx context.Context, c Clients, opts Options, progress Progress) (*Model, error) {
	opts = opts.withDefaults()
	m := &Model{Options: opts}
	ns := opts.Namespace
	steps := []struct {
		name string
		do   func()
	}{
		{"RHACS workloads", func() {
			m.Central, m.CentralAccess = get(ctx, Rule{"apps", "deployments", "get", ns}, func() (*appsv1.Deployment, error) {
				return c.Kube.AppsV1().Deployments(ns).Get(ctx, "central", metav1.GetOptions{})
			})
			m.Sensor, m.SensorAcc = get(ctx, Rule{"apps", "deployments", "get", ns}, func() (*appsv1.Deployment, error) {
				return c.Kube.AppsV1().Deployments(ns).Get(ctx, "sensor", metav1.GetOptions{})
			})
			m.Collector, m.CollectorAccess = get(ctx, Rule{"apps", "daemonsets", "get", ns}, func() (*appsv1.DaemonSet, error) {
				return c.Kube.AppsV1().DaemonSets(ns).Get(ctx, "collector", metav1.GetOptions{})
			})
			m.Relay = kube.ReadRelayConfig(m.Collector)
			var pods *corev1.PodList
			pods, m.SensorPodsAccess = get(ctx, Rule{"", "pods", "list", ns}, func() (*corev1.PodList, error) {
				return c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=sensor"})
			})
			if pods != nil {
				m.SensorPods = pods.Items
			}
		}},
		{"the probe DaemonSet", func() {
			m.Probe, m.ProbeAccess = get(ctx, Rule{"apps", "daemonsets", "get", opts.ProbeNamespace}, func() (*appsv1.DaemonSet, error) {
				return c.Kube.AppsV1().DaemonSets(opts.ProbeNamespace).Get(ctx, opts.ProbeDaemonSet, metav1.GetOptions{})
			})
		}},
		{"nodes and namespaces", func() {
			var nodes *corev1.NodeList
			nodes, m.NodesAccess = get(ctx, Rule{"", "nodes", "list", ""}, func() (*corev1.NodeList, error) {
				return c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			})
			if nodes != nil {
				m.Nodes = nodes.Items
				sort.Slice(m.Nodes, func(i, j int) bool { return m.Nodes[i].Name < m.Nodes[j].Name })
			}
			var nss *corev1.NamespaceList
			nss, m.NamespacesAccess = get(ctx, Rule{"", "namespaces", "list", ""}, func() (*corev1.NamespaceList, error) {
				return c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			})
			if nss != nil {
				m.Namespaces = map[string]map[string]string{}
				for _, n := range nss.Items {
					m.Namespaces[n.Name] = n.Labels
				}
			}
		}},
		{"network policies", func() {
			var pols *networkingv1.NetworkPolicyList
			pols, m.PoliciesAccess = get(ctx, Rule{"networking.k8s.io", "networkpolicies", "list", ns}, func() (*networkingv1.NetworkPolicyList, error) {
				return c.Kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
			})
			if pols != nil {
				m.Policies = pols.Items
			}
			m.CiliumPolicies, m.CiliumAccess = listDynamic(ctx, c.Dynamic, GVRCiliumPolicy, ns)
		}},
		{"KubeVirt and OpenShift objects", func() {
			m.HyperConverged, m.HCOAccess = listDynamic(ctx, c.Dynamic, GVRHyperConverged, "")
			m.KubeVirt, m.KubeVirtAccess = listDynamic(ctx, c.Dynamic, GVRKubeVirt, "")
			m.VMIs, m.VMIAccess = listDynamic(ctx, c.Dynamic, GVRVMI, "")
			m.NetworkConfig, m.NetworkAccess = get(ctx, Rule{GVRNetworkConfig.Group, GVRNetworkConfig.Resource, "get", ""}, func() (*unstructured.Unstructured, error) {
				return c.Dynamic.Resource(GVRNetworkConfig).Get(ctx, "cluster", metav1.GetOptions{})
			})
			m.SecuredClusters, m.SecuredClusterAccess = listDynamic(ctx, c.Dynamic, GVRSecuredCluster, ns)
		}},
		{"node verdicts through the pod proxy", func() { m.gatherFleet(ctx, c) }},
	}
	n := len(steps) + 1
	if progress != nil {
		progress("API server", 1, n)
	}
	v, err := c.Kube.ServerVersion(ctx)
	m.Reachable = Access{Rule: Rule{Verb: "get", Resource: "/version"}, Err: err}
	if err != nil {
		return m, fmt.Errorf("cluster unreachable: %w", err)
	}
	m.ServerVersion = v.GitVersion
	for i, s := range steps {
		if progress != nil {
			progress(s.name, i+2, n)
		}
		s.do()
	}
	return m, nil
}

// get runs fn and classifies its error.
func get[T any](_ context.Context, r Rule, fn func() (T, error)) (T, Access) {
	v, err := fn()
	a := Access{Rule: r, Err: err}
	if err != nil {
		a.Forbidden = apierrors.IsForbidden(err)
		a.NotFound = apierrors.IsNotFound(err)
		var zero T
		return zero, a
	}
	return v, a
}

// listDynamic lists gvr in ns ("" for all namespaces). A missing CRD answers
// 404, recorded as NotFound: "not installed".
func listDynamic(ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns string) ([]unstructured.Unstructured, Access) {
	r := Rule{Group: gvr.Group, Resource: gvr.Resource, Verb: "list", Namespace: ns}
	var (
		list *unstructured.UnstructuredList
		err  error
	)
	if ns == "" {
		list, err = d.Resource(gvr).List(ctx, metav1.ListOptions{})
	} else {
		list, err = d.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	}
	a := Access{Rule: r, Err: err}
	if err != nil {
		a.Forbidden = apierrors.IsForbidden(err)
		a.NotFound = apierrors.IsNotFound(err)
		return nil, a
	}
	return list.Items, a
}

// gatherFleet asks whether pods/proxy may be read (a SelfSubjectAccessReview,
// so a refusal names the rule before any request), lists the probe pods and
// reads each one's /status.
func (m *Model) gatherFleet(ctx context.Context, c Clients) {
	ns := m.Options.ProbeNamespace
	m.ProxyAccess = Access{Rule: Rule{Group: "", Resource: "pods/proxy", Verb: "get", Namespace: ns}}
	if m.Probe == nil {
		m.ProxyAccess.Err = errors.New("no probe DaemonSet")
		m.ProxyAccess.NotFound = true
		return
	}
	allowed, err := canI(ctx, c.Kube, m.ProxyAccess.Rule)
	switch {
	case err != nil:
		m.ProxyAccess.Err = err
		m.ProxyAccess.Forbidden = apierrors.IsForbidden(err)
		return
	case !allowed:
		m.ProxyAccess.Err = errors.New("pods/proxy get not allowed")
		m.ProxyAccess.Forbidden = true
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(m.Probe.Spec.Selector)
	if err != nil {
		m.FleetErr = fmt.Errorf("probe DaemonSet selector: %w", err)
		return
	}
	pods, acc := get(ctx, Rule{"", "pods", "list", ns}, func() (*corev1.PodList, error) {
		return c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	})
	if pods == nil {
		m.ProxyAccess = acc
		return
	}
	fetch := c.Fetch
	if fetch == nil {
		fetch = ProxyFetcher(c.Kube, m.Options.ProbePort)
	}
	m.Fleet = fetchFleet(ctx, fetch, pods.Items)
}

// canI asks the API server whether the caller may do r.
func canI(ctx context.Context, c kubeclient.Interface, r Rule) (bool, error) {
	res, sub, _ := strings.Cut(r.Resource, "/")
	ssar, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: r.Namespace, Verb: r.Verb, Group: r.Group, Resource: res, Subresource: sub,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("selfsubjectaccessreview: %w", err)
	}
	return ssar.Status.Allowed, nil
}
