// Package kubeclient is the probe's Kubernetes client: typed clients for
// the few API groups and resources the probe reads or writes, with the same
// call shapes as client-go's clientset (client.CoreV1().Pods(ns).List(ctx,
// opts)), built on client-go's REST client and a scheme holding only those
// groups.
//
// client-go's full clientset (k8s.io/client-go/kubernetes) links every API
// group, its apply configurations and its discovery client into a binary:
// about 10 MB of a DaemonSet pod's memory-mapped binary and a fifth of its
// start-up time, for calls the probe never makes (docs/performance.md). The
// binary must not link it; cmd/probe's TestBinaryDependencies says so.
// Tests may still use the full clientset to set up a cluster. Nor does it use
// client-go's generic typed client (k8s.io/client-go/gentype), whose package
// also holds the fakes and links client-go/testing, server-side apply and
// the OpenAPI models (another 4 MB); typed.go is the little of it needed.
package kubeclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Reader reads one kind of object: Get, List and Watch, as client-go's
// typed clients do (their interfaces satisfy it).
type Reader[T, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// Pods reads Pods and streams their logs.
type Pods interface {
	Reader[*corev1.Pod, *corev1.PodList]
	// GetLogs returns the request for a container's log (pods/log).
	GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request
}

// CoreV1 is the core ("") group, version v1.
type CoreV1 interface {
	Pods(namespace string) Pods
	Services(namespace string) Reader[*corev1.Service, *corev1.ServiceList]
	Nodes() Reader[*corev1.Node, *corev1.NodeList]
	Namespaces() Reader[*corev1.Namespace, *corev1.NamespaceList]
	// RESTClient is the group's REST client, for requests without a typed
	// method (the pod proxy).
	RESTClient() rest.Interface
}

// AppsV1 is the apps group, version v1.
type AppsV1 interface {
	DaemonSets(namespace string) Reader[*appsv1.DaemonSet, *appsv1.DaemonSetList]
	Deployments(namespace string) Reader[*appsv1.Deployment, *appsv1.DeploymentList]
	// RESTClient is the group's REST client (for cache.NewListWatchFromClient).
	RESTClient() rest.Interface
}

// DiscoveryV1 is the discovery.k8s.io group, version v1.
type DiscoveryV1 interface {
	EndpointSlices(namespace string) Reader[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList]
}

// NetworkingV1 is the networking.k8s.io group, version v1.
type NetworkingV1 interface {
	NetworkPolicies(namespace string) Reader[*networkingv1.NetworkPolicy, *networkingv1.NetworkPolicyList]
}

// SelfSubjectAccessReviews asks the API server what the caller may do.
type SelfSubjectAccessReviews interface {
	Create(ctx context.Context, review *authorizationv1.SelfSubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SelfSubjectAccessReview, error)
}

// SubjectAccessReviews asks the API server what another user (a
// ServiceAccount) may do.
type SubjectAccessReviews interface {
	Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// AuthorizationV1 is the authorization.k8s.io group, version v1.
type AuthorizationV1 interface {
	SelfSubjectAccessReviews() SelfSubjectAccessReviews
	SubjectAccessReviews() SubjectAccessReviews
}

// Events writes events.k8s.io Events: create a new one, patch one to count
// repeats.
type Events interface {
	Create(ctx context.Context, event *eventsv1.Event, opts metav1.CreateOptions) (*eventsv1.Event, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*eventsv1.Event, error)
}

// EventsV1 is the events.k8s.io group, version v1.
type EventsV1 interface {
	Events(namespace string) Events
}

// Interface is the part of the Kubernetes API the probe uses. *Clientset
// implements it against an API server.
type Interface interface {
	CoreV1() CoreV1
	AppsV1() AppsV1
	DiscoveryV1() DiscoveryV1
	NetworkingV1() NetworkingV1
	AuthorizationV1() AuthorizationV1
	EventsV1() EventsV1
	// Dynamic reads custom resources (KubeVirt's VMIs) as unstructured objects.
	Dynamic() dynamic.Interface
	// ServerVersion is the API server's GET /version.
	ServerVersion(ctx context.Context) (*version.Info, error)
}

// codecs are the scheme holding the API groups of Interface and nothing
// else, and its serializers. They are built with the first client, not at
// start-up: a probe without the Kubernetes API (--kube=false) never touches
// them.
type codecs struct {
	scheme *runtime.Scheme
	codecs serializer.CodecFactory
	params runtime.ParameterCodec
}

var schemeCodecs = sync.OnceValue(func() codecs {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, discoveryv1.AddToScheme,
		networkingv1.AddToScheme, authorizationv1.AddToScheme, eventsv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("kubeclient scheme: %v", err)) // a programming error, found by every test
		}
	}
	return codecs{scheme: s, codecs: serializer.NewCodecFactory(s), params: runtime.NewParameterCodec(s)}
})

// Clientset is the probe's client for one API server. Create it with
// NewForConfig; it is safe for concurrent use and holds no goroutines.
type Clientset struct {
	core, apps, discovery, networking, authorization, events rest.Interface
	dynamic                                                  dynamic.Interface
}

var _ Interface = (*Clientset)(nil)

// NewForConfig returns a Clientset for cfg. Like client-go's clientset, all
// groups share one HTTP client (one connection to the API server) and one
// rate limiter built from cfg.QPS and cfg.Burst (client-go's defaults, 5 and
// 10, when unset).
func NewForConfig(cfg *rest.Config) (*Clientset, error) {
	c := *cfg
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		if c.Burst <= 0 {
			return nil, fmt.Errorf("kubernetes client: burst must be positive when QPS is set")
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	if c.RateLimiter == nil && c.QPS == 0 {
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rest.DefaultQPS, rest.DefaultBurst)
	}
	hc, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	var cs Clientset
	for _, g := range []struct {
		dst *rest.Interface
		gv  schema.GroupVersion
	}{
		{&cs.core, corev1.SchemeGroupVersion},
		{&cs.apps, appsv1.SchemeGroupVersion},
		{&cs.discovery, discoveryv1.SchemeGroupVersion},
		{&cs.networking, networkingv1.SchemeGroupVersion},
		{&cs.authorization, authorizationv1.SchemeGroupVersion},
		{&cs.events, eventsv1.SchemeGroupVersion},
	} {
		// The core group is served under /api, every named group under /apis.
		path := "/apis"
		if g.gv.Group == "" {
			path = "/api"
		}
		if *g.dst, err = restClientFor(c, g.gv, path, hc); err != nil {
			return nil, fmt.Errorf("kubernetes client %s: %w", g.gv, err)
		}
	}
	if cs.dynamic, err = dynamic.NewForConfigAndClient(&c, hc); err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &cs, nil
}

func restClientFor(c rest.Config, gv schema.GroupVersion, apiPath string, hc *http.Client) (rest.Interface, error) {
	c.GroupVersion = &gv
	c.APIPath = apiPath
	sc := schemeCodecs()
	c.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(sc.scheme, sc.codecs).WithoutConversion()
	return rest.RESTClientForConfigAndClient(&c, hc)
}

// reader is a namespaced (or, with namespace "", cluster-scoped) typed
// client of one resource.
func reader[T, L runtime.Object](c rest.Interface, resource, namespace string, newObj func() T, newList func() L) typed[T, L] {
	return typed[T, L]{c: c, resource: resource, namespace: namespace, newObj: newObj, newList: newList}
}

// CoreV1 returns the core group's client.
func (c *Clientset) CoreV1() CoreV1 { return coreV1{c.core} }

// AppsV1 returns the apps group's client.
func (c *Clientset) AppsV1() AppsV1 { return appsV1{c.apps} }

// DiscoveryV1 returns the discovery.k8s.io group's client.
func (c *Clientset) DiscoveryV1() DiscoveryV1 { return discoveryV1{c.discovery} }

// NetworkingV1 returns the networking.k8s.io group's client.
func (c *Clientset) NetworkingV1() NetworkingV1 { return networkingV1{c.networking} }

// AuthorizationV1 returns the authorization.k8s.io group's client.
func (c *Clientset) AuthorizationV1() AuthorizationV1 { return authorizationV1{c.authorization} }

// EventsV1 returns the events.k8s.io group's client.
func (c *Clientset) EventsV1() EventsV1 { return eventsV1{c.events} }

// Dynamic returns the client for custom resources.
func (c *Clientset) Dynamic() dynamic.Interface { return c.dynamic }

// ServerVersion returns the API server's version (GET /version).
func (c *Clientset) ServerVersion(ctx context.Context) (*version.Info, error) {
	body, err := c.core.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("get /version: %w", err)
	}
	var v version.Info
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("decode /version: %w", err)
	}
	return &v, nil
}

type coreV1 struct{ c rest.Interface }

func (g coreV1) Pods(ns string) Pods {
	return pods{reader(g.c, "pods", ns, func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} })}
}

func (g coreV1) Services(ns string) Reader[*corev1.Service, *corev1.ServiceList] {
	return reader(g.c, "services", ns, func() *corev1.Service { return &corev1.Service{} }, func() *corev1.ServiceList { return &corev1.ServiceList{} })
}

func (g coreV1) Nodes() Reader[*corev1.Node, *corev1.NodeList] {
	return reader(g.c, "nodes", "", func() *corev1.Node { return &corev1.Node{} }, func() *corev1.NodeList { return &corev1.NodeList{} })
}

func (g coreV1) Namespaces() Reader[*corev1.Namespace, *corev1.NamespaceList] {
	return reader(g.c, "namespaces", "", func() *corev1.Namespace { return &corev1.Namespace{} }, func() *corev1.NamespaceList { return &corev1.NamespaceList{} })
}

func (g coreV1) RESTClient() rest.Interface { return g.c }

type pods struct {
	typed[*corev1.Pod, *corev1.PodList]
}

// GetLogs is client-go's PodExpansion.GetLogs: GET pods/<name>/log.
func (p pods) GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request {
	return p.c.Get().Namespace(p.namespace).Name(name).Resource("pods").SubResource("log").VersionedParams(opts, schemeCodecs().params)
}

type appsV1 struct{ c rest.Interface }

func (g appsV1) DaemonSets(ns string) Reader[*appsv1.DaemonSet, *appsv1.DaemonSetList] {
	return reader(g.c, "daemonsets", ns, func() *appsv1.DaemonSet { return &appsv1.DaemonSet{} }, func() *appsv1.DaemonSetList { return &appsv1.DaemonSetList{} })
}

func (g appsV1) Deployments(ns string) Reader[*appsv1.Deployment, *appsv1.DeploymentList] {
	return reader(g.c, "deployments", ns, func() *appsv1.Deployment { return &appsv1.Deployment{} }, func() *appsv1.DeploymentList { return &appsv1.DeploymentList{} })
}

func (g appsV1) RESTClient() rest.Interface { return g.c }

type discoveryV1 struct{ c rest.Interface }

func (g discoveryV1) EndpointSlices(ns string) Reader[*discoveryv1.EndpointSlice, *discoveryv1.EndpointSliceList] {
	return reader(g.c, "endpointslices", ns, func() *discoveryv1.EndpointSlice { return &discoveryv1.EndpointSlice{} }, func() *discoveryv1.EndpointSliceList { return &discoveryv1.EndpointSliceList{} })
}

type networkingV1 struct{ c rest.Interface }

func (g networkingV1) NetworkPolicies(ns string) Reader[*networkingv1.NetworkPolicy, *networkingv1.NetworkPolicyList] {
	return reader(g.c, "networkpolicies", ns, func() *networkingv1.NetworkPolicy { return &networkingv1.NetworkPolicy{} }, func() *networkingv1.NetworkPolicyList { return &networkingv1.NetworkPolicyList{} })
}

type authorizationV1 struct{ c rest.Interface }

func (g authorizationV1) SelfSubjectAccessReviews() SelfSubjectAccessReviews {
	return typed[*authorizationv1.SelfSubjectAccessReview, *metav1.Status]{c: g.c, resource: "selfsubjectaccessreviews",
		newObj: func() *authorizationv1.SelfSubjectAccessReview { return &authorizationv1.SelfSubjectAccessReview{} }}
}

func (g authorizationV1) SubjectAccessReviews() SubjectAccessReviews {
	return typed[*authorizationv1.SubjectAccessReview, *metav1.Status]{c: g.c, resource: "subjectaccessreviews",
		newObj: func() *authorizationv1.SubjectAccessReview { return &authorizationv1.SubjectAccessReview{} }}
}

type eventsV1 struct{ c rest.Interface }

func (g eventsV1) Events(ns string) Events {
	return typed[*eventsv1.Event, *eventsv1.EventList]{c: g.c, resource: "events", namespace: ns,
		newObj: func() *eventsv1.Event { return &eventsv1.Event{} }}
}
