//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/sensorprobe/sensorprobe/test/e2e/topology"
)

// The RHACS objects, as the chart and the (absent) controllers and kubelet
// would make them, for the addresses of package topology. There is no
// controller-manager or scheduler: the harness plays the Deployment,
// DaemonSet and EndpointSlice controllers and the kubelet.
const (
	namespace     = "stackrox"
	nodeName      = "node-a"
	sensorSvcIP   = "10.160.0.50"
	webhookSvcIP  = "10.160.0.51"
	sensorPod     = "sensor-7d9c8b6f5-x2x4p"
	collectorPod  = "collector-q8w2n"
	probePod      = "sensorprobe-m4k7d"
	relayDNS      = "sensor." + namespace + ".svc:443"
	relayHostPort = "127.0.0.1:8443"
	relayPodIP    = topology.SensorIP + ":8443"
)

var sensorLabels = map[string]string{"app": "sensor"}

// cluster writes the RHACS objects through an admin client.
type cluster struct {
	c kubernetes.Interface
}

func (k cluster) createAll(ctx context.Context, repo string) (probeUID string, err error) {
	steps := []func(context.Context) error{
		k.node,
		func(ctx context.Context) error {
			return k.applyRBAC(ctx, filepath.Join(repo, "deploy", "base", "rbac.yaml"))
		},
		k.services,
		k.sensorDeployment,
		func(ctx context.Context) error { return k.sensorPod(ctx, true) },
		func(ctx context.Context) error { return k.endpointSlices(ctx, true, true) },
		k.networkPolicy,
		func(ctx context.Context) error { return k.collector(ctx, true, relayDNS) },
		k.probeDaemonSet,
	}
	for _, s := range steps {
		if err := s(ctx); err != nil {
			return "", err
		}
	}
	p, err := k.hostNetworkPod(ctx, probePod, map[string]string{"app.kubernetes.io/name": "sensorprobe"}, "sensorprobe")
	if err != nil {
		return "", err
	}
	return string(p.UID), nil
}

// node is node-a with the node address and this node's pod range.
func (k cluster) node(ctx context.Context) error {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{"kubernetes.io/hostname": nodeName}},
		Spec:       corev1.NodeSpec{PodCIDR: topology.NodePodCIDR, PodCIDRs: []string{topology.NodePodCIDR}},
	}
	n, err := k.c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	n.Status = corev1.NodeStatus{
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: topology.NodeIP}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	_, err = k.c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return wrap("node status", err)
}

// applyRBAC creates the objects of the shipped deploy/base/rbac.yaml, unchanged.
func (k cluster) applyRBAC(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for doc := range bytes.SplitSeq(b, []byte("\n---")) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch tm.Kind {
		case "":
		case "ServiceAccount":
			var o corev1.ServiceAccount
			if err := yaml.UnmarshalStrict(doc, &o); err != nil {
				return err
			}
			_, err = k.c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
		case "Role":
			var o rbacv1.Role
			if err := yaml.UnmarshalStrict(doc, &o); err != nil {
				return err
			}
			_, err = k.c.RbacV1().Roles(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
		case "RoleBinding":
			var o rbacv1.RoleBinding
			if err := yaml.UnmarshalStrict(doc, &o); err != nil {
				return err
			}
			_, err = k.c.RbacV1().RoleBindings(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
		default:
			return fmt.Errorf("%s: unexpected kind %s (extend the harness)", path, tm.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s: create %s: %w", path, tm.Kind, err)
		}
	}
	return nil
}

// services are sensor (443 → api) and sensor-webhook (443 → webhook).
func (k cluster) services(ctx context.Context) error {
	for _, s := range []struct{ name, ip, port, target string }{
		{"sensor", sensorSvcIP, "https", "api"},
		{"sensor-webhook", webhookSvcIP, "webhook", "webhook"},
	} {
		_, err := k.c.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: sensorLabels},
			Spec: corev1.ServiceSpec{
				Type:      corev1.ServiceTypeClusterIP,
				ClusterIP: s.ip,
				Selector:  sensorLabels,
				Ports: []corev1.ServicePort{{
					Name: s.port, Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString(s.target),
				}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create service %s: %w", s.name, err)
		}
	}
	return nil
}

func sensorPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName: "default",
		Containers: []corev1.Container{{
			Name: "sensor", Image: "registry.invalid/stackrox/main:e2e",
			Ports: []corev1.ContainerPort{
				// The hostPort some VM-scanning set-ups add, so that a
				// host-network relay can use localhost:8443.
				{Name: "api", ContainerPort: 8443, HostPort: 8443, Protocol: corev1.ProtocolTCP},
				{Name: "webhook", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
			},
		}},
	}
}

func (k cluster) sensorDeployment(ctx context.Context) error {
	one := int32(1)
	_, err := k.c.AppsV1().Deployments(namespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor", Labels: sensorLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: sensorLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sensorLabels}, Spec: sensorPodSpec()},
		},
	}, metav1.CreateOptions{})
	return wrap("create deployment sensor", err)
}

// sensorPod creates the sensor pod on node-a, or updates its Ready condition.
func (k cluster) sensorPod(ctx context.Context, ready bool) error {
	pods := k.c.CoreV1().Pods(namespace)
	p, err := pods.Get(ctx, sensorPod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		spec := sensorPodSpec()
		spec.NodeName = nodeName
		p, err = pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: sensorPod, Labels: sensorLabels}, Spec: spec}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("sensor pod: %w", err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: topology.NodeIP, HostIPs: []corev1.HostIP{{IP: topology.NodeIP}},
		PodIP: topology.SensorIP, PodIPs: []corev1.PodIP{{IP: topology.SensorIP}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()},
			{Type: corev1.ContainersReady, Status: status, LastTransitionTime: metav1.Now()},
		},
	}
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return wrap("sensor pod status", err)
}

// endpointSlices writes the EndpointSlices of sensor and sensor-webhook as
// the EndpointSlice controller would: the sensor pod as endpoint (ready or
// not), or, when present is false, no endpoint in sensor's (the Service
// selects no pod) while sensor-webhook's keeps it.
func (k cluster) endpointSlices(ctx context.Context, present, ready bool) error {
	node := nodeName
	serving := ready
	for _, s := range []struct {
		svc, port string
		number    int32
		endpoints bool
	}{
		{"sensor", "https", 8443, present},
		{"sensor-webhook", "webhook", 9443, true},
	} {
		port, proto := s.port, corev1.ProtocolTCP
		es := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: s.svc + "-e2e",
				Labels: map[string]string{
					discoveryv1.LabelServiceName: s.svc,
					discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
				},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &port, Port: &s.number, Protocol: &proto}},
			Endpoints:   []discoveryv1.Endpoint{},
		}
		if s.endpoints {
			es.Endpoints = []discoveryv1.Endpoint{{
				Addresses:  []string{topology.SensorIP},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving},
				NodeName:   &node,
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: sensorPod},
			}}
		}
		slices := k.c.DiscoveryV1().EndpointSlices(namespace)
		cur, err := slices.Get(ctx, es.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = slices.Create(ctx, es, metav1.CreateOptions{})
		case err == nil:
			es.ResourceVersion = cur.ResourceVersion
			_, err = slices.Update(ctx, es, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("endpointslice %s: %w", es.Name, err)
		}
	}
	return nil
}

// networkPolicy is sensor's NetworkPolicy as the chart ships it: 8443 from
// collector and admission-control pods, 9443 from anywhere. Nothing here
// enforces it; the harness's fault 1 drops what an implementation that does
// not exempt host-network sources drops.
func (k cluster) networkPolicy(ctx context.Context) error {
	api, webhook := intstr.FromInt32(8443), intstr.FromInt32(9443)
	tcp := corev1.ProtocolTCP
	_, err := k.c.NetworkingV1().NetworkPolicies(namespace).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor", Labels: map[string]string{"auto-upgrade.stackrox.io/component": "sensor"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: sensorLabels},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &api}},
					From: []networkingv1.NetworkPolicyPeer{
						{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "collector"}}},
						{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"service": "collector"}}},
						{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "admission-control"}}},
					},
				},
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &webhook}}},
			},
		},
	}, metav1.CreateOptions{})
	return wrap("create networkpolicy sensor", err)
}

// probeDaemonSet is the probe's own DaemonSet with the status the DaemonSet
// controller would give it on this one-node cluster: the probe reads its
// desired count (through the shipped Role) as the fleet size that shares
// the sensor budget, so here every attempt is a full one, as before tiers.
func (k cluster) probeDaemonSet(ctx context.Context) error {
	labels := map[string]string{"app.kubernetes.io/name": "sensorprobe"}
	ds, err := k.c.AppsV1().DaemonSets(namespace).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "sensorprobe", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				HostNetwork: true,
				Containers:  []corev1.Container{{Name: "probe", Image: "registry.invalid/sensorprobe:e2e"}},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create daemonset sensorprobe: %w", err)
	}
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: 1,
		CurrentNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1}
	_, err = k.c.AppsV1().DaemonSets(namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{})
	return wrap("daemonset sensorprobe status", err)
}

// collector creates or updates DaemonSet collector and its pod on node-a:
// on the host network or the pod network, with the VM relay's advertised
// endpoint.
func (k cluster) collector(ctx context.Context, hostNetwork bool, endpoint string) error {
	labels := map[string]string{"app": "collector", "service": "collector"}
	dnsPolicy := corev1.DNSClusterFirst
	if hostNetwork {
		dnsPolicy = corev1.DNSClusterFirstWithHostNet
	}
	spec := corev1.PodSpec{
		HostNetwork: hostNetwork,
		DNSPolicy:   dnsPolicy,
		Containers: []corev1.Container{
			{Name: "collector", Image: "registry.invalid/stackrox/collector:e2e", Env: []corev1.EnvVar{
				{Name: "GRPC_SERVER", Value: relayDNS},
				{Name: "SNI_HOSTNAME", Value: "sensor." + namespace + ".svc"},
			}},
			{Name: "compliance", Image: "registry.invalid/stackrox/main:e2e", Env: []corev1.EnvVar{
				{Name: "ROX_ADVERTISED_ENDPOINT", Value: endpoint},
				{Name: "ROX_VIRTUAL_MACHINES_VSOCK_PORT", Value: "818"},
				{Name: "ROX_VIRTUAL_MACHINES", Value: "true"},
			}},
		},
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "collector", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
	dss := k.c.AppsV1().DaemonSets(namespace)
	cur, err := dss.Get(ctx, "collector", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = dss.Create(ctx, ds, metav1.CreateOptions{})
	case err == nil:
		ds.ResourceVersion = cur.ResourceVersion
		_, err = dss.Update(ctx, ds, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("daemonset collector: %w", err)
	}
	// The DaemonSet controller would replace the pod; so does the harness.
	zero := int64(0)
	err = k.c.CoreV1().Pods(namespace).Delete(ctx, collectorPod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete collector pod: %w", err)
	}
	spec.NodeName = nodeName
	p, err := k.c.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: collectorPod, Labels: labels}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create collector pod: %w", err)
	}
	podIP := topology.CollectorIP
	if hostNetwork {
		podIP = topology.NodeIP
	}
	return k.running(ctx, p, podIP)
}

// hostNetworkPod creates a running host-network pod on node-a.
func (k cluster) hostNetworkPod(ctx context.Context, name string, labels map[string]string, sa string) (*corev1.Pod, error) {
	p, err := k.c.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName: nodeName, HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "probe", Image: "registry.invalid/sensorprobe:e2e"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s: %w", name, err)
	}
	return p, k.running(ctx, p, topology.NodeIP)
}

func (k cluster) running(ctx context.Context, p *corev1.Pod, podIP string) error {
	p.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: topology.NodeIP, HostIPs: []corev1.HostIP{{IP: topology.NodeIP}},
		PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	_, err := k.c.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return wrap("pod status "+p.Name, err)
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
