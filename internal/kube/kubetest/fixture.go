//go:build linux

package kubetest

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Fixture creates the RHACS objects discovery reads, the way the chart and
// the (absent) controllers and kubelets would: Services, a sensor pod with
// its status, the sensor EndpointSlice and DaemonSet collector. Every method
// fails the test on an API error.
type Fixture struct {
	T         testing.TB
	Ctx       context.Context
	Client    kubernetes.Interface
	Namespace string
}

// NewFixture creates namespace ns (if needed) and returns a Fixture working in it.
func NewFixture(t testing.TB, c kubernetes.Interface, ns string) *Fixture {
	EnsureNamespace(t.Context(), t, c, ns)
	return &Fixture{T: t, Ctx: t.Context(), Client: c, Namespace: ns}
}

// Must fails the test when err is not nil.
func (f *Fixture) Must(what string, err error) {
	f.T.Helper()
	if err != nil {
		f.T.Fatalf("%s: %v", what, err)
	}
}

// Service creates Service name with a fixed ClusterIP and one port, selecting app=sensor.
func (f *Fixture) Service(name, ip string, port corev1.ServicePort) {
	f.T.Helper()
	port.Protocol = corev1.ProtocolTCP
	_, err := f.Client.CoreV1().Services(f.Namespace).Create(f.Ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{port}, Selector: map[string]string{"app": "sensor"}},
	}, metav1.CreateOptions{})
	f.Must("create service "+name, err)
}

// DeleteService deletes Service name.
func (f *Fixture) DeleteService(name string) {
	f.T.Helper()
	f.Must("delete service "+name, f.Client.CoreV1().Services(f.Namespace).Delete(f.Ctx, name, metav1.DeleteOptions{}))
}

// Pod creates a pod bound to node and gives it the status a kubelet would.
func (f *Fixture) Pod(name, node string, labels map[string]string, podIP, hostIP string) *corev1.Pod {
	f.T.Helper()
	p, err := f.Client.CoreV1().Pods(f.Namespace).Create(f.Ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName: node,
			Containers: []corev1.Container{{
				Name: "main", Image: "registry.invalid/sensor:test",
				Ports: []corev1.ContainerPort{{Name: "api", ContainerPort: 8443, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}, metav1.CreateOptions{})
	f.Must("create pod "+name, err)
	p.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
		PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	p, err = f.Client.CoreV1().Pods(f.Namespace).UpdateStatus(f.Ctx, p, metav1.UpdateOptions{})
	f.Must("update pod status "+name, err)
	return p
}

// DeletePod deletes pod name at once.
func (f *Fixture) DeletePod(name string) {
	f.T.Helper()
	zero := int64(0)
	f.Must("delete pod "+name, f.Client.CoreV1().Pods(f.Namespace).Delete(f.Ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
}

// EndpointSlice creates or updates the sensor EndpointSlice with one endpoint.
func (f *Fixture) EndpointSlice(ip, node string, ready bool) {
	f.T.Helper()
	name, port, proto := "https", int32(8443), corev1.ProtocolTCP
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "sensor-x1", Labels: map[string]string{"kubernetes.io/service-name": "sensor"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName:   &node,
		}},
	}
	cur, err := f.Client.DiscoveryV1().EndpointSlices(f.Namespace).Get(f.Ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = f.Client.DiscoveryV1().EndpointSlices(f.Namespace).Create(f.Ctx, es, metav1.CreateOptions{})
		f.Must("create endpointslice", err)
	case err != nil:
		f.Must("get endpointslice", err)
	default:
		es.ResourceVersion = cur.ResourceVersion
		_, err = f.Client.DiscoveryV1().EndpointSlices(f.Namespace).Update(f.Ctx, es, metav1.UpdateOptions{})
		f.Must("update endpointslice", err)
	}
}

// Collector creates or updates DaemonSet collector with the relay set-up of a
// VM-scanning cluster: hostNetwork, and the given advertised endpoint.
func (f *Fixture) Collector(advertised string) {
	f.T.Helper()
	labels := map[string]string{"app": "collector"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "collector"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork: true,
					DNSPolicy:   corev1.DNSClusterFirstWithHostNet,
					Containers: []corev1.Container{
						{Name: "collector", Image: "registry.invalid/collector:test", Env: []corev1.EnvVar{
							{Name: "GRPC_SERVER", Value: "sensor." + f.Namespace + ".svc:443"},
							{Name: "SNI_HOSTNAME", Value: "sensor." + f.Namespace + ".svc"},
						}},
						{Name: "compliance", Image: "registry.invalid/main:test", Env: []corev1.EnvVar{
							{Name: "ROX_ADVERTISED_ENDPOINT", Value: advertised},
							{Name: "ROX_VIRTUAL_MACHINES_VSOCK_PORT", Value: "1818"},
							{Name: "ROX_VIRTUAL_MACHINES", Value: "true"},
						}},
					},
				},
			},
		},
	}
	cur, err := f.Client.AppsV1().DaemonSets(f.Namespace).Get(f.Ctx, "collector", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = f.Client.AppsV1().DaemonSets(f.Namespace).Create(f.Ctx, ds, metav1.CreateOptions{})
		f.Must("create daemonset", err)
	case err != nil:
		f.Must("get daemonset", err)
	default:
		ds.ResourceVersion = cur.ResourceVersion
		_, err = f.Client.AppsV1().DaemonSets(f.Namespace).Update(f.Ctx, ds, metav1.UpdateOptions{})
		f.Must("update daemonset", err)
	}
}

// Install describes how an RHACS install flavour lays out the objects
// discovery reads. The zero value is the stock install of the Helm chart or
// operator, 4.9 to 4.11: collector in the pod network, no hostPort on
// sensor, the relay dialling the default sensor.<ns>.svc:443.
type Install struct {
	// Version is the RHACS version: the image tag of every container and
	// the app.kubernetes.io/version label, as the chart sets it. Default "4.11.2".
	Version string
	// Operator marks an operator install: images pinned by digest (no tag
	// to read the version from) and the app.stackrox.io/managed-by label.
	Operator bool
	// HostNetwork and DNSPolicy customise the collector DaemonSet.
	HostNetwork bool
	DNSPolicy   corev1.DNSPolicy
	// Advertised is ROX_ADVERTISED_ENDPOINT ("" leaves it unset: the default).
	Advertised string
	// SensorEndpoint is ROX_SENSOR_ENDPOINT (the 4.12 line).
	SensorEndpoint string
	// RelayOnMasters sets ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true.
	RelayOnMasters bool
	// SensorHostPort adds a hostPort to sensor's api port (the workaround).
	SensorHostPort int32
	// SensorVMs is sensor's ROX_VIRTUAL_MACHINES ("" unset).
	SensorVMs string
	// SensorNode, SensorIP and SensorHostIP place the sensor pod.
	SensorNode, SensorIP, SensorHostIP string
	// ClusterIP and WebhookIP are the Services' addresses.
	ClusterIP, WebhookIP string
}

// ApplyInstall creates sensor's Services, pod and EndpointSlice and the
// collector DaemonSet as install lays them out.
func (f *Fixture) ApplyInstall(in Install) {
	f.T.Helper()
	if in.Version == "" {
		in.Version = "4.11.2"
	}
	image := func(name string) string {
		if in.Operator {
			return "registry.redhat.io/advanced-cluster-security/rhacs-" + name + "-rhel9@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		}
		return "quay.io/stackrox-io/" + name + ":" + in.Version
	}
	labels := map[string]string{"app.kubernetes.io/version": in.Version}
	if in.Operator {
		labels["app.stackrox.io/managed-by"] = "operator"
	} else {
		labels["helm.sh/chart"] = "stackrox-secured-cluster-services-400." + in.Version[2:]
	}
	f.Service("sensor", in.ClusterIP, corev1.ServicePort{Name: "https", Port: 443})
	f.Service("sensor-webhook", in.WebhookIP, corev1.ServicePort{Name: "webhook", Port: 443})

	sensorEnv := []corev1.EnvVar{}
	if in.SensorVMs != "" {
		sensorEnv = append(sensorEnv, corev1.EnvVar{Name: "ROX_VIRTUAL_MACHINES", Value: in.SensorVMs})
	}
	p, err := f.Client.CoreV1().Pods(f.Namespace).Create(f.Ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor-5d8f9c7b4-abcde", Labels: map[string]string{"app": "sensor"}},
		Spec: corev1.PodSpec{
			NodeName: in.SensorNode,
			Containers: []corev1.Container{{
				Name: "sensor", Image: image("main"), Env: sensorEnv,
				Ports: []corev1.ContainerPort{
					{Name: "api", ContainerPort: 8443, HostPort: in.SensorHostPort, Protocol: corev1.ProtocolTCP},
					{Name: "webhook", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
				},
			}},
		},
	}, metav1.CreateOptions{})
	f.Must("create sensor pod", err)
	p.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: in.SensorHostIP, HostIPs: []corev1.HostIP{{IP: in.SensorHostIP}},
		PodIP: in.SensorIP, PodIPs: []corev1.PodIP{{IP: in.SensorIP}},
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "sensor", Ready: true, Image: image("main")}},
	}
	_, err = f.Client.CoreV1().Pods(f.Namespace).UpdateStatus(f.Ctx, p, metav1.UpdateOptions{})
	f.Must("update sensor pod status", err)
	f.EndpointSlice(in.SensorIP, in.SensorNode, true)

	compliance := []corev1.EnvVar{
		{Name: "ROX_VIRTUAL_MACHINES", Value: "true"},
	}
	if in.Advertised != "" {
		compliance = append(compliance, corev1.EnvVar{Name: "ROX_ADVERTISED_ENDPOINT", Value: in.Advertised})
	}
	if in.SensorEndpoint != "" {
		compliance = append(compliance, corev1.EnvVar{Name: "ROX_SENSOR_ENDPOINT", Value: in.SensorEndpoint})
	}
	if in.RelayOnMasters {
		compliance = append(compliance, corev1.EnvVar{Name: "ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES", Value: "true"})
	}
	podLabels := map[string]string{"app": "collector", "service": "collector"}
	dnsPolicy := in.DNSPolicy
	if dnsPolicy == "" {
		dnsPolicy = corev1.DNSClusterFirst
	}
	_, err = f.Client.AppsV1().DaemonSets(f.Namespace).Create(f.Ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "collector", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "collector"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					HostNetwork: in.HostNetwork,
					DNSPolicy:   dnsPolicy,
					Containers: []corev1.Container{
						{Name: "collector", Image: image("collector"), Env: []corev1.EnvVar{
							{Name: "GRPC_SERVER", Value: "sensor." + f.Namespace + ".svc:443"},
						}},
						{Name: "compliance", Image: image("main"), Env: compliance},
					},
				},
			},
		},
	}, metav1.CreateOptions{})
	f.Must("create collector daemonset", err)
}

// Node creates node name with labels, as the cluster's nodes carry them.
func (f *Fixture) Node(name string, labels map[string]string) {
	f.T.Helper()
	_, err := f.Client.CoreV1().Nodes().Create(f.Ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return
	}
	f.Must("create node "+name, err)
}

// SensorDeployment creates Deployment sensor as the chart lays it out (the
// labels of in, sensor's ports and feature flag) and gives it a ready status,
// as a deployment controller would.
func (f *Fixture) SensorDeployment(in Install) {
	f.T.Helper()
	if in.Version == "" {
		in.Version = "4.11.2"
	}
	labels := map[string]string{"app": "sensor", "app.kubernetes.io/version": in.Version}
	if in.Operator {
		labels["app.stackrox.io/managed-by"] = "operator"
	} else {
		labels["helm.sh/chart"] = "stackrox-secured-cluster-services-400." + in.Version[2:]
	}
	env := []corev1.EnvVar{}
	if in.SensorVMs != "" {
		env = append(env, corev1.EnvVar{Name: "ROX_VIRTUAL_MACHINES", Value: in.SensorVMs})
	}
	one := int32(1)
	d, err := f.Client.AppsV1().Deployments(f.Namespace).Create(f.Ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "sensor"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "sensor"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "sensor", Image: "quay.io/stackrox-io/main:" + in.Version, Env: env,
					Ports: []corev1.ContainerPort{
						{Name: "api", ContainerPort: 8443, HostPort: in.SensorHostPort, Protocol: corev1.ProtocolTCP},
						{Name: "webhook", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
					},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	f.Must("create sensor deployment", err)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	_, err = f.Client.AppsV1().Deployments(f.Namespace).UpdateStatus(f.Ctx, d, metav1.UpdateOptions{})
	f.Must("update sensor deployment status", err)
}

// DaemonSetReady gives DaemonSet name the status of a finished rollout on
// nodes nodes, as the DaemonSet controller would.
func (f *Fixture) DaemonSetReady(name string, nodes int32) {
	f.T.Helper()
	ds, err := f.Client.AppsV1().DaemonSets(f.Namespace).Get(f.Ctx, name, metav1.GetOptions{})
	f.Must("get daemonset "+name, err)
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: nodes, CurrentNumberScheduled: nodes,
		NumberReady: nodes, NumberAvailable: nodes, UpdatedNumberScheduled: nodes}
	_, err = f.Client.AppsV1().DaemonSets(f.Namespace).UpdateStatus(f.Ctx, ds, metav1.UpdateOptions{})
	f.Must("update daemonset status "+name, err)
}
