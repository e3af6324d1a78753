package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

func testService(name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func testSlice(port string, portNum int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "sensor-abcde", Labels: map[string]string{serviceNameLabel: sensorService}},
		Ports:      []discoveryv1.EndpointPort{{Name: &port, Port: &portNum}},
		Endpoints:  eps,
	}
}

func testEndpoint(ip string, ready *bool, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: &terminating}}
}

func testPod(name, node string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "stackrox"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "sensor", Ports: []corev1.ContainerPort{{Name: "api", ContainerPort: 8443}},
		}}},
		Status: corev1.PodStatus{Phase: phase, HostIP: "192.0.2." + node[len(node)-1:], Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func TestBuild(t *testing.T) {
	yes, no := true, false
	https := corev1.ServicePort{Name: "https", Port: 443}
	// Without anything known: only the dns path. localhost:8443 is probed
	// only where it can exist (a declared hostPort, a relay dialling
	// loopback, or --target).
	static := []dial.Target{
		{Name: "dns", Addr: "sensor.stackrox.svc:443", ServerName: "sensor.stackrox.svc"},
	}
	full := objects{
		sensor:     testService("sensor", "10.96.0.50", corev1.ServicePort{Name: "monitoring", Port: 9091}, https),
		webhook:    testService("sensor-webhook", "10.96.0.51", corev1.ServicePort{Name: "webhook", Port: 443}),
		slices:     []*discoveryv1.EndpointSlice{testSlice("https", 8443, testEndpoint("10.244.2.9", &no, false), testEndpoint("10.244.1.5", nil, false), testEndpoint("10.244.0.1", &yes, true))},
		pods:       []*corev1.Pod{testPod("sensor-old", "node-c", corev1.PodSucceeded, false), testPod("sensor-b", "node-b", corev1.PodRunning, false), testPod("sensor-a", "node-a", corev1.PodRunning, true)},
		podsSynced: true,
		collector:  collectorDS(true, []corev1.EnvVar{{Name: "ROX_ADVERTISED_ENDPOINT", Value: "localhost:8443"}}, nil),
	}
	fullTargets := []dial.Target{
		{Name: "clusterip", Addr: "10.96.0.50:443", ServerName: "sensor.stackrox.svc"},
		{Name: "dns", Addr: "sensor.stackrox.svc:443", ServerName: "sensor.stackrox.svc"},
		{Name: "hostport", Addr: "127.0.0.1:8443", ServerName: "sensor.stackrox.svc"},
		{Name: "podip", Addr: "10.244.1.5:8443", ServerName: "sensor.stackrox.svc"},
		{Name: "webhook", Addr: "10.96.0.51:443", ServerName: "sensor-webhook.stackrox.svc"},
	}
	tests := []struct {
		name      string
		node      string
		overrides map[string]string
		objs      objects
		want      Snapshot
	}{
		{
			name: "nothing known",
			want: Snapshot{Transport: TransportUnknown, Targets: static},
		},
		{
			name:      "nothing known, overrides",
			overrides: map[string]string{"dns": "sensor.example:443", "extra": "10.0.0.9:8443"},
			want: Snapshot{Transport: TransportUnknown, Targets: []dial.Target{
				{Name: "dns", Addr: "sensor.example:443", ServerName: "sensor.stackrox.svc"},
				{Name: "extra", Addr: "10.0.0.9:8443"},
			}},
		},
		{
			name: "everything, sensor on this node",
			node: "node-a",
			objs: full,
			want: Snapshot{Transport: TransportOff,
				Targets:        fullTargets,
				RelayVSOCKPort: 818,
				Relay:          RelayConfig{Found: true, HostNetwork: true, DNSPolicy: "ClusterFirstWithHostNet", AdvertisedEndpoint: "localhost:8443"},
				SensorPod:      "stackrox/sensor-a", SensorNode: "node-a", SensorHostIP: "192.0.2.a", SensorOnThisNode: &yes,
				SensorReady: &yes,
				Uses:        state.Uses{RelayPath: "hostport", RelayHostNetwork: &yes},
			},
		},
		{
			name:      "everything, other node, override wins and is the relay's path",
			node:      "node-x",
			overrides: map[string]string{"hostport": "127.0.0.1:18443", "clusterip": "localhost:8443"},
			objs:      full,
			want: Snapshot{Transport: TransportOff,
				Targets: []dial.Target{
					{Name: "clusterip", Addr: "localhost:8443", ServerName: "sensor.stackrox.svc"},
					fullTargets[1],
					{Name: "hostport", Addr: "127.0.0.1:18443", ServerName: "sensor.stackrox.svc"},
					fullTargets[3], fullTargets[4],
				},
				RelayVSOCKPort: 818,
				Relay:          RelayConfig{Found: true, HostNetwork: true, DNSPolicy: "ClusterFirstWithHostNet", AdvertisedEndpoint: "localhost:8443"},
				SensorPod:      "stackrox/sensor-a", SensorNode: "node-a", SensorHostIP: "192.0.2.a", SensorOnThisNode: &no,
				SensorReady: &yes,
				Uses:        state.Uses{RelayPath: "clusterip", RelayHostNetwork: &yes},
			},
		},
		{
			name: "headless service, no ready endpoint, pods not synced, odd port",
			node: "node-a",
			objs: objects{
				sensor: testService("sensor", "None", corev1.ServicePort{Name: "https", Port: 8444}),
				slices: []*discoveryv1.EndpointSlice{testSlice("https", 8443, testEndpoint("10.244.2.9", &no, false))},
				pods:   []*corev1.Pod{testPod("sensor-a", "node-a", corev1.PodRunning, true)},
			},
			want: Snapshot{Transport: TransportUnknown,
				Targets: []dial.Target{
					{Name: "dns", Addr: "sensor.stackrox.svc:8444", ServerName: "sensor.stackrox.svc"},
				},
				SensorPod: "stackrox/sensor-a", SensorNode: "node-a", SensorHostIP: "192.0.2.a",
			},
		},
		{
			name: "declared hostPort, pending pod ignored",
			node: "node-b",
			objs: objects{
				pods: func() []*corev1.Pod {
					p := testPod("sensor-a", "node-a", corev1.PodRunning, true)
					p.Spec.Containers[0].Ports[0].HostPort = 18443
					return []*corev1.Pod{p, testPod("sensor-b", "node-b", corev1.PodPending, false)}
				}(),
				podsSynced: true,
			},
			want: Snapshot{Transport: TransportUnknown,
				Targets:   []dial.Target{static[0], {Name: "hostport", Addr: "127.0.0.1:18443", ServerName: "sensor.stackrox.svc"}},
				SensorPod: "stackrox/sensor-a", SensorNode: "node-a", SensorHostIP: "192.0.2.a", SensorOnThisNode: &no,
				SensorReady: &yes, SensorHostPort: 18443,
			},
		},
		{
			name: "stock install: collector in the pod network, no hostPort, control-plane node",
			node: "node-a",
			objs: objects{
				sensor:     full.sensor,
				webhook:    full.webhook,
				slices:     full.slices,
				pods:       full.pods,
				podsSynced: true,
				collector: func() *appsv1.DaemonSet {
					ds := collectorDS(false, []corev1.EnvVar{{Name: "ROX_VIRTUAL_MACHINES", Value: "true"}}, nil)
					ds.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
					ds.Labels = map[string]string{"app.kubernetes.io/version": "4.11.2"}
					return ds
				}(),
				node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"node-role.kubernetes.io/master": ""}}},
			},
			want: Snapshot{Transport: TransportPush,
				Targets:                   []dial.Target{fullTargets[0], fullTargets[1], fullTargets[3], fullTargets[4]},
				RelayVSOCKPort:            818,
				ComplianceVirtualMachines: &yes,
				Relay:                     RelayConfig{Found: true, DNSPolicy: "ClusterFirst", Version: "4.11.2"},
				SensorPod:                 "stackrox/sensor-a", SensorNode: "node-a", SensorHostIP: "192.0.2.a", SensorOnThisNode: &yes,
				SensorReady:        &yes,
				RelaySkipsNode:     &yes,
				NodeTakesWorkloads: &yes,
				Uses:               state.Uses{RelayPath: "dns", RelayHostNetwork: &no},
			},
		},
		{
			name: "4.12 line: no push relay",
			objs: objects{
				collector: func() *appsv1.DaemonSet {
					ds := collectorDS(false, []corev1.EnvVar{{Name: "ROX_SENSOR_ENDPOINT", Value: "sensor.stackrox.svc:443"}}, nil)
					ds.Spec.Template.Spec.Containers[1].Image = "quay.io/stackrox-io/main:4.12.0"
					return ds
				}(),
			},
			want: Snapshot{Transport: TransportOff,
				Targets:        static,
				RelayVSOCKPort: 818,
				Relay: RelayConfig{Found: true, DNSPolicy: "ClusterFirstWithHostNet",
					SensorEndpoint: "sensor.stackrox.svc:443", Version: "4.12.0"},
				Uses: state.Uses{RelayPath: "dns", RelayHostNetwork: &no, NoRelay: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := build("stackrox", tt.node, tt.overrides, tt.objs)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("build (-want +got):\n%s", diff)
			}
		})
	}
}
