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
	"reflect"
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

	"github.com/sensorprobe/sensorprobe/internal/cni"
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

// OK reports whether the read worked. It may still have returned nothing:
// see Read.Found.
func (a Access) OK() bool { return a.Err == nil }

// Read is one read from the API server: what it returned and what happened
// to it. Value is the object (a pointer) or the items of a list; it is the
// zero value when the read failed, and Access says why.
type Read[T any] struct {
	Value  T
	Access Access
}

// Found reports whether the read worked and returned something: an object,
// or a list with at least one item.
func (r Read[T]) Found() bool { return r.Access.OK() && !r.empty() }

// Missing reports whether there is nothing to read: the object or its
// resource does not exist (404, for a CRD "not installed"), or the read
// worked and returned no object or no items.
func (r Read[T]) Missing() bool { return r.Access.NotFound || r.Access.OK() && r.empty() }

// Denied reports whether the API server refused the read (403); Access.Rule
// is the permission that would allow it.
func (r Read[T]) Denied() bool { return r.Access.Forbidden }

// empty reports whether Value holds nothing: a nil object, or no items.
func (r Read[T]) empty() bool {
	v := reflect.ValueOf(&r.Value).Elem()
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

// items turns the read of a list object into the read of what itemsOf takes
// from it (its Items), with the same Access; itemsOf is not called, and the
// value stays empty, when the read failed.
func items[L, T any](r Read[*L], itemsOf func(*L) T) Read[T] {
	out := Read[T]{Access: r.Access}
	if r.Value != nil {
		out.Value = itemsOf(r.Value)
	}
	return out
}

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
	// CNI overrides the detected network plugin; "" detects it.
	CNI cni.Plugin
	// KubeVirtNamespace is where virt-handler runs when no KubeVirt
	// resource says (default kube.DefaultKubeVirtNamespace).
	KubeVirtNamespace string
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
	if o.KubeVirtNamespace == "" {
		o.KubeVirtNamespace = kube.DefaultKubeVirtNamespace
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

// Model is what Gather read from the cluster: one Read per object or list,
// holding its value (nil or empty when it was not found or not readable) and
// its Access (which says which). The Model's queries (InstallOf, CNI,
// FlagState, ...) derive facts from it; Evaluate turns it into checks.
type Model struct {
	Options Options
	// ServerVersion is the API server's GET /version: whether the cluster
	// can be reached at all.
	ServerVersion Read[string]

	// Central and Sensor are the Deployments in Options.Namespace;
	// Collector is the DaemonSet there and Relay its relay configuration.
	Central, Sensor Read[*appsv1.Deployment]
	Collector       Read[*appsv1.DaemonSet]
	Relay           kube.RelayConfig
	// SensorPods are the pods labelled app=sensor in Options.Namespace.
	SensorPods Read[[]corev1.Pod]
	// Probe is the sensorprobe DaemonSet.
	Probe Read[*appsv1.DaemonSet]
	// Nodes are all the cluster's nodes, sorted by name.
	Nodes Read[[]corev1.Node]
	// Namespaces maps each namespace's name to its labels.
	Namespaces Read[map[string]map[string]string]
	// Policies and CiliumPolicies are the NetworkPolicies and
	// CiliumNetworkPolicies in Options.Namespace.
	Policies       Read[[]networkingv1.NetworkPolicy]
	CiliumPolicies Read[[]unstructured.Unstructured]
	// HyperConverged, KubeVirt and VMIs are the KubeVirt objects in all
	// namespaces.
	HyperConverged Read[[]unstructured.Unstructured]
	KubeVirt       Read[[]unstructured.Unstructured]
	VMIs           Read[[]unstructured.Unstructured]
	// NetworkConfig is OpenShift's Network.config named cluster.
	NetworkConfig Read[*unstructured.Unstructured]
	// SecuredClusters are the RHACS operator's SecuredClusters in
	// Options.Namespace.
	SecuredClusters Read[[]unstructured.Unstructured]
	// Fleet is each probe pod's node verdict, read through the API server's
	// pod proxy; its Access is the pods/proxy permission (or the listing of
	// the probe pods, when that failed).
	Fleet Read[[]NodeStatus]
	// FleetErr is why the probe pods could not even be selected.
	FleetErr error
	// Pull is the pull path, read in pull mode only (the 4.12 line).
	Pull Pull
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
			m.Central = get(Rule{"apps", "deployments", "get", ns}, func() (*appsv1.Deployment, error) {
				return c.Kube.AppsV1().Deployments(ns).Get(ctx, "central", metav1.GetOptions{})
			})
			m.Sensor = get(Rule{"apps", "deployments", "get", ns}, func() (*appsv1.Deployment, error) {
				return c.Kube.AppsV1().Deployments(ns).Get(ctx, kube.SensorDeployment, metav1.GetOptions{})
			})
			m.Collector = get(Rule{"apps", "daemonsets", "get", ns}, func() (*appsv1.DaemonSet, error) {
				return c.Kube.AppsV1().DaemonSets(ns).Get(ctx, kube.CollectorDaemonSet, metav1.GetOptions{})
			})
			m.Relay = kube.ReadRelayConfig(m.Collector.Value)
			m.SensorPods = items(get(Rule{"", "pods", "list", ns}, func() (*corev1.PodList, error) {
				return c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=sensor"})
			}), func(l *corev1.PodList) []corev1.Pod { return l.Items })
		}},
		{"the probe DaemonSet", func() {
			m.Probe = get(Rule{"apps", "daemonsets", "get", opts.ProbeNamespace}, func() (*appsv1.DaemonSet, error) {
				return c.Kube.AppsV1().DaemonSets(opts.ProbeNamespace).Get(ctx, opts.ProbeDaemonSet, metav1.GetOptions{})
			})
		}},
		{"nodes and namespaces", func() {
			m.Nodes = items(get(Rule{"", "nodes", "list", ""}, func() (*corev1.NodeList, error) {
				return c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			}), func(l *corev1.NodeList) []corev1.Node {
				sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
				return l.Items
			})
			m.Namespaces = items(get(Rule{"", "namespaces", "list", ""}, func() (*corev1.NamespaceList, error) {
				return c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			}), func(l *corev1.NamespaceList) map[string]map[string]string {
				labels := map[string]map[string]string{}
				for _, n := range l.Items {
					labels[n.Name] = n.Labels
				}
				return labels
			})
		}},
		{"network policies", func() {
			m.Policies = items(get(Rule{"networking.k8s.io", "networkpolicies", "list", ns}, func() (*networkingv1.NetworkPolicyList, error) {
				return c.Kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
			}), func(l *networkingv1.NetworkPolicyList) []networkingv1.NetworkPolicy { return l.Items })
			m.CiliumPolicies = listDynamic(ctx, c.Dynamic, GVRCiliumPolicy, ns)
		}},
		{"KubeVirt and OpenShift objects", func() {
			m.HyperConverged = listDynamic(ctx, c.Dynamic, GVRHyperConverged, "")
			m.KubeVirt = listDynamic(ctx, c.Dynamic, GVRKubeVirt, "")
			m.VMIs = listDynamic(ctx, c.Dynamic, GVRVMI, "")
			m.NetworkConfig = get(Rule{GVRNetworkConfig.Group, GVRNetworkConfig.Resource, "get", ""}, func() (*unstructured.Unstructured, error) {
				return c.Dynamic.Resource(GVRNetworkConfig).Get(ctx, "cluster", metav1.GetOptions{})
			})
			m.SecuredClusters = listDynamic(ctx, c.Dynamic, GVRSecuredCluster, ns)
		}},
		{"the pull path (RHACS 4.12)", func() { m.gatherPull(ctx, c) }},
		{"node verdicts through the pod proxy", func() { m.gatherFleet(ctx, c) }},
	}
	n := len(steps) + 1
	if progress != nil {
		progress("API server", 1, n)
	}
	v, err := c.Kube.ServerVersion(ctx)
	m.ServerVersion.Access = Access{Rule: Rule{Verb: "get", Resource: "/version"}, Err: err}
	if err != nil {
		return m, fmt.Errorf("cluster unreachable: %w", err)
	}
	m.ServerVersion.Value = v.GitVersion
	for i, s := range steps {
		if progress != nil {
			progress(s.name, i+2, n)
		}
		s.do()
	}
	return m, nil
}

// get runs fn and classifies its error.
func get[T any](r Rule, fn func() (T, error)) Read[T] {
	v, err := fn()
	if err != nil {
		return Read[T]{Access: refused(r, err)}
	}
	return Read[T]{Value: v, Access: Access{Rule: r}}
}

// refused is the Access of a read of r that failed with err.
func refused(r Rule, err error) Access {
	return Access{Rule: r, Err: err, Forbidden: apierrors.IsForbidden(err), NotFound: apierrors.IsNotFound(err)}
}

// listDynamic lists gvr in ns ("" for all namespaces). A missing CRD answers
// 404, recorded as NotFound: "not installed".
func listDynamic(ctx context.Context, d dynamic.Interface, gvr schema.GroupVersionResource, ns string) Read[[]unstructured.Unstructured] {
	r := Rule{Group: gvr.Group, Resource: gvr.Resource, Verb: "list", Namespace: ns}
	return items(get(r, func() (*unstructured.UnstructuredList, error) {
		if ns == "" {
			return d.Resource(gvr).List(ctx, metav1.ListOptions{})
		}
		return d.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	}), func(l *unstructured.UnstructuredList) []unstructured.Unstructured { return l.Items })
}

// gatherFleet asks whether pods/proxy may be read (a SelfSubjectAccessReview,
// so a refusal names the rule before any request), lists the probe pods and
// reads each one's /status.
func (m *Model) gatherFleet(ctx context.Context, c Clients) {
	ns := m.Options.ProbeNamespace
	acc := &m.Fleet.Access
	*acc = Access{Rule: Rule{Group: "", Resource: "pods/proxy", Verb: "get", Namespace: ns}}
	if !m.Probe.Found() {
		acc.Err = errors.New("no probe DaemonSet")
		acc.NotFound = true
		return
	}
	allowed, err := canI(ctx, c.Kube, acc.Rule)
	switch {
	case err != nil:
		acc.Err = err
		acc.Forbidden = apierrors.IsForbidden(err)
		return
	case !allowed:
		acc.Err = errors.New("pods/proxy get not allowed")
		acc.Forbidden = true
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(m.Probe.Value.Spec.Selector)
	if err != nil {
		m.FleetErr = fmt.Errorf("probe DaemonSet selector: %w", err)
		return
	}
	pods := get(Rule{"", "pods", "list", ns}, func() (*corev1.PodList, error) {
		return c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	})
	if pods.Value == nil {
		*acc = pods.Access
		return
	}
	fetch := c.Fetch
	if fetch == nil {
		fetch = ProxyFetcher(c.Kube, m.Options.ProbePort)
	}
	m.Fleet.Value = fetchFleet(ctx, fetch, pods.Value.Items)
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
