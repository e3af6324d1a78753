package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

func TestRelayPath(t *testing.T) {
	targets := []dial.Target{
		{Name: dial.PathClusterIP, Addr: "10.96.0.50:443"},
		{Name: dial.PathDNS, Addr: "sensor.stackrox.svc:443"},
		{Name: dial.PathHostPort, Addr: "127.0.0.1:8443"},
		{Name: dial.PathPodIP, Addr: "10.244.1.5:8443"},
		{Name: dial.PathWebhook, Addr: "10.96.0.51:443"},
		{Name: "custom", Addr: "[fd00::7]:9443"},
	}
	tests := []struct {
		name      string
		endpoint  string
		namespace string
		want      string
	}{
		{name: "unset means the default service name", endpoint: "", namespace: "stackrox", want: dial.PathDNS},
		{name: "default service name", endpoint: "sensor.stackrox.svc:443", namespace: "stackrox", want: dial.PathDNS},
		{name: "short name without port", endpoint: "sensor.stackrox", namespace: "stackrox", want: dial.PathDNS},
		{name: "bare service name", endpoint: "sensor:443", namespace: "stackrox", want: dial.PathDNS},
		{name: "fully qualified with cluster domain and dot", endpoint: "sensor.stackrox.svc.cluster.local.:443", namespace: "stackrox", want: dial.PathDNS},
		{name: "upper case and scheme", endpoint: "https://Sensor.StackRox.svc:443/", namespace: "stackrox", want: dial.PathDNS},
		{name: "other namespace name does not match", endpoint: "sensor.other.svc:443", namespace: "stackrox", want: ""},
		{name: "unset in another namespace", endpoint: "", namespace: "rhacs", want: dial.PathDNS},
		{name: "localhost hostPort", endpoint: "localhost:8443", namespace: "stackrox", want: dial.PathHostPort},
		{name: "127.0.0.1 exact target", endpoint: "127.0.0.1:8443", namespace: "stackrox", want: dial.PathHostPort},
		{name: "ipv6 loopback", endpoint: "[::1]:8443", namespace: "stackrox", want: dial.PathHostPort},
		{name: "cluster IP", endpoint: "10.96.0.50:443", namespace: "stackrox", want: dial.PathClusterIP},
		{name: "cluster IP without port", endpoint: "10.96.0.50", namespace: "stackrox", want: dial.PathClusterIP},
		{name: "pod IP", endpoint: "10.244.1.5:8443", namespace: "stackrox", want: dial.PathPodIP},
		{name: "webhook IP", endpoint: "10.96.0.51:443", namespace: "stackrox", want: dial.PathWebhook},
		{name: "webhook name", endpoint: "sensor-webhook.stackrox.svc:443", namespace: "stackrox", want: dial.PathWebhook},
		{name: "override target by address", endpoint: "[fd00::7]:9443", namespace: "stackrox", want: "custom"},
		{name: "unknown IP", endpoint: "192.0.2.10:8443", namespace: "stackrox", want: ""},
		{name: "unknown name", endpoint: "central.example.com:443", namespace: "stackrox", want: ""},
		{name: "garbage", endpoint: ":", namespace: "stackrox", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RelayPath(tt.endpoint, tt.namespace, targets); got != tt.want {
				t.Errorf("RelayPath(%q, %q) = %q, want %q", tt.endpoint, tt.namespace, got, tt.want)
			}
		})
	}
}

func FuzzRelayPath(f *testing.F) {
	for _, s := range []string{"sensor.stackrox.svc:443", "localhost:8443", "[::1]", "https://x/y", ":", "[", "10.0.0.1"} {
		f.Add(s)
	}
	targets := []dial.Target{{Name: dial.PathDNS, Addr: "sensor.stackrox.svc:443"}}
	f.Fuzz(func(t *testing.T, endpoint string) {
		got := RelayPath(endpoint, "stackrox", targets)
		switch got {
		case "", dial.PathDNS, dial.PathHostPort, dial.PathWebhook:
		default:
			t.Errorf("RelayPath(%q) = %q, not a known path", endpoint, got)
		}
	})
}

func collectorDS(hostNetwork bool, compliance, collector []corev1.EnvVar) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "collector", Namespace: "stackrox"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			HostNetwork: hostNetwork,
			DNSPolicy:   corev1.DNSClusterFirstWithHostNet,
			Containers: []corev1.Container{
				{Name: "collector", Env: collector},
				{Name: "compliance", Env: compliance},
				{Name: "node-inventory", Env: []corev1.EnvVar{{Name: "ROX_ADVERTISED_ENDPOINT", Value: "wrong:1"}}},
			},
		}}},
	}
}

func TestRelayFromDaemonSet(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name     string
		ds       *appsv1.DaemonSet
		want     RelayConfig
		wantPort uint32
		wantVMs  *bool
	}{
		{name: "no daemonset", ds: nil, want: RelayConfig{}, wantPort: 0},
		{
			name: "defaults",
			ds:   collectorDS(false, nil, nil),
			want: RelayConfig{Found: true, DNSPolicy: "ClusterFirstWithHostNet"}, wantPort: 818,
		},
		{
			name: "vm relay set up",
			ds: collectorDS(true,
				[]corev1.EnvVar{
					{Name: "ROX_ADVERTISED_ENDPOINT", Value: " localhost:8443 "},
					{Name: "ROX_VIRTUAL_MACHINES_VSOCK_PORT", Value: "1818"},
					{Name: "ROX_VIRTUAL_MACHINES", Value: "true"},
				},
				[]corev1.EnvVar{{Name: "GRPC_SERVER", Value: "sensor.stackrox.svc:443"}, {Name: "SNI_HOSTNAME", Value: "sensor.stackrox.svc"}}),
			want: RelayConfig{
				Found: true, HostNetwork: true, DNSPolicy: "ClusterFirstWithHostNet",
				AdvertisedEndpoint: "localhost:8443", GRPCServer: "sensor.stackrox.svc:443", SNIHostname: "sensor.stackrox.svc",
			},
			wantPort: 1818, wantVMs: &yes,
		},
		{
			name: "bad port and flag keep defaults",
			ds: collectorDS(false, []corev1.EnvVar{
				{Name: "ROX_VIRTUAL_MACHINES_VSOCK_PORT", Value: "-3"},
				{Name: "ROX_VIRTUAL_MACHINES", Value: "maybe"},
			}, nil),
			want: RelayConfig{Found: true, DNSPolicy: "ClusterFirstWithHostNet"}, wantPort: 818,
		},
		{
			name:     "vms off, endpoint from a configmap is not resolved",
			ds:       collectorDS(false, []corev1.EnvVar{{Name: "ROX_VIRTUAL_MACHINES", Value: "false"}, {Name: "ROX_ADVERTISED_ENDPOINT", ValueFrom: &corev1.EnvVarSource{}}}, nil),
			want:     RelayConfig{Found: true, DNSPolicy: "ClusterFirstWithHostNet"},
			wantPort: 818, wantVMs: &no,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, port, vms := relayFromDaemonSet(tt.ds)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("relay config (-want +got):\n%s", diff)
			}
			if port != tt.wantPort {
				t.Errorf("port = %d, want %d", port, tt.wantPort)
			}
			if diff := cmp.Diff(tt.wantVMs, vms); diff != "" {
				t.Errorf("virtual machines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionAndPullMode(t *testing.T) {
	tests := []struct {
		image    string
		version  string
		pullMode bool
	}{
		{"quay.io/stackrox-io/main:4.11.2", "4.11.2", false},
		{"registry.redhat.io/advanced-cluster-security/rhacs-main-rhel8:4.9.10", "4.9.10", false},
		{"quay.io/stackrox-io/main:v4.12.0", "4.12.0", true},
		{"quay.io/stackrox-io/main:5.0.1", "5.0.1", true},
		{"quay.io/stackrox-io/main:4.12.x-nightly-20260624", "4.12.x-nightly-20260624", true},
		{"registry.redhat.io/rhacs-main-rhel9@sha256:0123", "", false},
		{"localhost:5000/main", "", false},
		{"quay.io/stackrox-io/main:latest", "", false},
	}
	for _, tt := range tests {
		got := imageVersion(tt.image)
		if got != tt.version {
			t.Errorf("imageVersion(%q) = %q, want %q", tt.image, got, tt.version)
		}
		if pm := (RelayConfig{Version: got}).PullMode(); pm != tt.pullMode {
			t.Errorf("PullMode for %q = %v, want %v", tt.image, pm, tt.pullMode)
		}
	}
	if got := (RelayConfig{AdvertisedEndpoint: "a:1", SensorEndpoint: "b:2"}).Endpoint(); got != "b:2" {
		t.Errorf("Endpoint() = %q, want ROX_SENSOR_ENDPOINT first", got)
	}
	if got := (RelayConfig{AdvertisedEndpoint: "a:1"}).Endpoint(); got != "a:1" {
		t.Errorf("Endpoint() = %q, want the ROX_ADVERTISED_ENDPOINT fallback", got)
	}
}

func TestRelaySkipsNode(t *testing.T) {
	cp := map[string]string{"node-role.kubernetes.io/control-plane": ""}
	taint := []corev1.Taint{{Key: "node-role.kubernetes.io/master", Effect: corev1.TaintEffectNoSchedule}}
	tests := []struct {
		name      string
		rc        RelayConfig
		labels    map[string]string
		taints    []corev1.Taint
		wantSkip  bool
		wantTakes bool
	}{
		{name: "4.11 control-plane node of a compact cluster", rc: RelayConfig{Version: "4.11.2"}, labels: cp, wantSkip: true, wantTakes: true},
		{name: "4.11 tainted control-plane node", rc: RelayConfig{Version: "4.11.0"}, labels: cp, taints: taint, wantSkip: true},
		{name: "4.11 enabled on masters", rc: RelayConfig{Version: "4.11.2", RelayOnMasters: true}, labels: cp, wantTakes: true},
		{name: "4.10 starts it everywhere", rc: RelayConfig{Version: "4.10.6"}, labels: cp, wantTakes: true},
		{name: "4.12 has no relay", rc: RelayConfig{Version: "4.12.0"}, labels: cp, wantTakes: true},
		{name: "version unknown", rc: RelayConfig{}, labels: cp, wantTakes: true},
		{name: "4.11 worker", rc: RelayConfig{Version: "4.11.2"}, labels: map[string]string{"node-role.kubernetes.io/worker": ""}, wantTakes: true},
		{name: "a condition taint comes and goes", rc: RelayConfig{Version: "4.11.2"}, labels: cp,
			taints: []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}}, wantSkip: true, wantTakes: true},
		{name: "PreferNoSchedule does not keep pods off", rc: RelayConfig{Version: "4.11.2"}, labels: cp,
			taints: []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}, wantSkip: true, wantTakes: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: tt.labels}, Spec: corev1.NodeSpec{Taints: tt.taints}}
			if got := tt.rc.SkipsNode(n); got != tt.wantSkip {
				t.Errorf("SkipsNode = %v, want %v", got, tt.wantSkip)
			}
			if got := TakesWorkloads(n); got != tt.wantTakes {
				t.Errorf("TakesWorkloads = %v, want %v", got, tt.wantTakes)
			}
		})
	}
}

func TestFeatureFlag(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		in   string
		want *bool
	}{
		{"true", &yes}, {"TRUE", &yes}, {"True", &yes}, {"false", &no}, {"FALSE", &no},
		// RHACS reads these as "not set": the default applies.
		{"", nil}, {"1", nil}, {"t", nil}, {"yes", nil}, {"0", nil}, {" true", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, FeatureFlag(tt.in)); diff != "" {
			t.Errorf("FeatureFlag(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestBooleanSetting(t *testing.T) {
	tests := []struct {
		in        string
		def, want bool
	}{
		{"", false, false}, {"", true, true}, {"true", false, true}, {"1", false, true}, {"t", false, true},
		{"false", true, false}, {"yes", true, false}, {"0", true, false},
	}
	for _, tt := range tests {
		if got := BooleanSetting(tt.in, tt.def); got != tt.want {
			t.Errorf("BooleanSetting(%q, %v) = %v, want %v", tt.in, tt.def, got, tt.want)
		}
	}
}

func TestTransportOf(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name                  string
		rc                    RelayConfig
		compliance, sensorVMs *bool
		want                  Transport
	}{
		{name: "no collector", want: TransportUnknown},
		{name: "4.11 relay on", rc: RelayConfig{Found: true, Version: "4.11.2"}, compliance: &yes, want: TransportPush},
		{name: "4.11 relay off", rc: RelayConfig{Found: true, Version: "4.11.2"}, compliance: &no, sensorVMs: &yes, want: TransportOff},
		{name: "version unknown counts as released", rc: RelayConfig{Found: true}, compliance: &yes, want: TransportPush},
		{name: "4.12 nightly, sensor on", rc: RelayConfig{Found: true, Version: "4.12.x-nightly-20260813"}, sensorVMs: &yes, want: TransportPull},
		{name: "4.12, compliance on but sensor not", rc: RelayConfig{Found: true, Version: "4.12.0"}, compliance: &yes, want: TransportOff},
		{name: "4.12, flag unset", rc: RelayConfig{Found: true, Version: "4.12.0"}, want: TransportOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TransportOf(tt.rc, tt.compliance, tt.sensorVMs); got != tt.want {
				t.Errorf("TransportOf = %s, want %s", got, tt.want)
			}
		})
	}
}
