package deploy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// The metrics port the manifests choose, and the ports it must not be:
// what shares the host network on these nodes (collector 9090 and 8080,
// compliance 9091, node-inventory 9001, sensor 8443 and 9443, node
// exporter 9100). See docs/install.md.
const metricsPort = 9818

// imageTag is the release the manifests pin the image to (deploy/base/kustomization.yaml).
const imageTag = "v0.1.0"

func forbiddenPorts() []int32 { return []int32{9090, 8080, 9091, 9001, 8443, 9443, 9100} }

// TestRenderedObjects renders every kustomization the project ships, decodes
// each object strictly against its real API type (render fails the test on
// an unknown or misspelt field), and compares the set of objects.
func TestRenderedObjects(t *testing.T) {
	base := []string{
		"ServiceAccount stackrox/sensorprobe",
		"Role stackrox/sensorprobe",
		"RoleBinding stackrox/sensorprobe",
		"PriorityClass sensorprobe",
		"ClusterRole sensorprobe-node-reader",
		"ClusterRoleBinding sensorprobe-node-reader",
		"ClusterRole sensorprobe-vmi-reader",
		"ClusterRoleBinding sensorprobe-vmi-reader",
		"DaemonSet stackrox/sensorprobe",
	}
	monitoring := []string{
		"PodMonitor stackrox/sensorprobe",
		"PrometheusRule stackrox/sensorprobe",
	}
	openshift := []string{
		"SecurityContextConstraints sensorprobe",
		"ClusterRole sensorprobe-scc",
		"RoleBinding stackrox/sensorprobe-scc",
		"ConfigMap openshift-config-managed/sensorprobe-dashboard",
	}
	kubePrometheus := []string{
		"Role stackrox/sensorprobe-prometheus-k8s",
		"RoleBinding stackrox/sensorprobe-prometheus-k8s",
	}
	tests := []struct {
		name string
		dir  string
		want []string
	}{
		{name: "base", dir: "deploy/base", want: base},
		{name: "kubernetes", dir: "deploy/overlays/kubernetes", want: slices.Concat(base, monitoring)},
		{name: "openshift", dir: "deploy/overlays/openshift", want: slices.Concat(base, monitoring, openshift)},
		{name: "kube-prometheus-stack", dir: "deploy/overlays/kube-prometheus-stack", want: slices.Concat(base, monitoring)},
		{name: "kube-prometheus", dir: "deploy/overlays/kube-prometheus", want: slices.Concat(base, monitoring, kubePrometheus)},
		{name: "grafana", dir: "deploy/grafana", want: []string{"ConfigMap sensorprobe-dashboard"}},
		{name: "grafana-operator", dir: "deploy/grafana-operator", want: []string{"ConfigMap sensorprobe-dashboard", "GrafanaDashboard sensorprobe"}},
		{name: "openshift-console", dir: "deploy/openshift-console", want: []string{"ConfigMap openshift-config-managed/sensorprobe-dashboard"}},
		{name: "kubevirt", dir: "deploy/kubevirt", want: []string{"ClusterRole sensorprobe-virt-handler-reader", "RoleBinding kubevirt/sensorprobe-virt-handler-reader"}},
		{name: "openshift-virtualization", dir: "deploy/openshift-virtualization", want: []string{"ClusterRole sensorprobe-virt-handler-reader", "RoleBinding openshift-cnv/sensorprobe-virt-handler-reader"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range render(t, tt.dir) {
				got = append(got, o.ID)
			}
			want := slices.Clone(tt.want)
			slices.Sort(want)
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects of %s (-want +got):\n%s", tt.dir, diff)
			}
		})
	}
}

// podSummary is what the tests pin down about the DaemonSet's pod.
type podSummary struct {
	HostNetwork        bool
	DNSPolicy          corev1.DNSPolicy
	ServiceAccountName string
	PriorityClassName  string
	NodeSelector       map[string]string
	Tolerations        []corev1.Toleration
	PodSecurityContext *corev1.PodSecurityContext
	Annotations        map[string]string
	Image              string
	Command            []string
	Args               []string
	EnvFieldRefs       map[string]string
	Ports              []corev1.ContainerPort
	Readiness          string
	Liveness           string
	Resources          corev1.ResourceRequirements
	SecurityContext    *corev1.SecurityContext
	Mounts             []corev1.VolumeMount
	Volumes            []corev1.Volume
}

// summarize extracts a podSummary from a DaemonSet with one container.
func summarize(t *testing.T, ds *appsv1.DaemonSet) podSummary {
	t.Helper()
	spec := ds.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("want one container and no init container, got %d and %d", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil:
			r := e.ValueFrom.ResourceFieldRef
			env[e.Name] = "resource:" + r.Resource
			if !r.Divisor.IsZero() {
				env[e.Name] += "/" + r.Divisor.String()
			}
		case e.ValueFrom == nil || e.ValueFrom.FieldRef == nil:
			env[e.Name] = "value:" + e.Value
		default:
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	probe := func(p *corev1.Probe) string {
		if p == nil || p.HTTPGet == nil {
			return ""
		}
		return "GET " + p.HTTPGet.Path + " on port " + p.HTTPGet.Port.String()
	}
	return podSummary{
		HostNetwork:        spec.HostNetwork,
		DNSPolicy:          spec.DNSPolicy,
		ServiceAccountName: spec.ServiceAccountName,
		PriorityClassName:  spec.PriorityClassName,
		NodeSelector:       spec.NodeSelector,
		Tolerations:        spec.Tolerations,
		PodSecurityContext: spec.SecurityContext,
		Annotations:        ds.Spec.Template.Annotations,
		Image:              c.Image,
		Command:            c.Command,
		Args:               c.Args,
		EnvFieldRefs:       env,
		Ports:              c.Ports,
		Readiness:          probe(c.ReadinessProbe),
		Liveness:           probe(c.LivenessProbe),
		Resources:          c.Resources,
		SecurityContext:    c.SecurityContext,
		Mounts:             c.VolumeMounts,
		Volumes:            spec.Volumes,
	}
}

// TestDaemonSet pins down the probe's pod in each overlay: host network,
// flags, the downward API, probes, resources, the CA mount and a
// least-privilege security context.
func TestDaemonSet(t *testing.T) {
	want := podSummary{
		HostNetwork:        true,
		DNSPolicy:          corev1.DNSClusterFirstWithHostNet,
		ServiceAccountName: "sensorprobe",
		PriorityClassName:  "sensorprobe",
		NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
		Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		PodSecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			RunAsUser:      ptr.To[int64](65532),
			RunAsGroup:     ptr.To[int64](65532),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Image:   "quay.io/sensorprobe/sensorprobe:" + imageTag,
		Command: nil, // the image's entrypoint, /probe
		Args: []string{
			"--web.listen-address=:" + strconv.Itoa(metricsPort),
			"--log.format=json",
		},
		EnvFieldRefs: map[string]string{
			"NODE_NAME":     "spec.nodeName",
			"POD_NAME":      "metadata.name",
			"POD_NAMESPACE": "metadata.namespace",
			"POD_UID":       "metadata.uid",
			// In bytes: the probe sets its runtime's memory limit to 90% of it.
			"MEMORY_LIMIT": "resource:limits.memory",
		},
		Ports:     []corev1.ContainerPort{{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP}},
		Readiness: "GET /readyz on port metrics",
		Liveness:  "GET /healthz on port metrics",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    mustQuantity(t, "10m"),
				corev1.ResourceMemory: mustQuantity(t, "32Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: mustQuantity(t, "64Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			Privileged:               new(false),
			ReadOnlyRootFilesystem:   new(true),
			RunAsNonRoot:             new(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		Mounts: []corev1.VolumeMount{{Name: "stackrox-ca", MountPath: "/run/secrets/stackrox.io/ca", ReadOnly: true}},
		// Every CA source, each optional: the pod starts on every install flavour.
		Volumes: []corev1.Volume{{
			Name: "stackrox-ca",
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](0o444),
				Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: "tls-ca-bundle"}, Optional: new(true),
						Items: []corev1.KeyToPath{{Key: "ca-bundle.pem", Path: "ca-bundle.pem"}}}},
					{Secret: &corev1.SecretProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: "tls-cert-collector"}, Optional: new(true),
						Items: []corev1.KeyToPath{{Key: "ca.pem", Path: "tls-cert-collector-ca.pem"}}}},
					{Secret: &corev1.SecretProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: "collector-tls"}, Optional: new(true),
						Items: []corev1.KeyToPath{{Key: "ca.pem", Path: "collector-tls-ca.pem"}}}},
					{Secret: &corev1.SecretProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: "collector-tls"}, Optional: new(true),
						Items: []corev1.KeyToPath{{Key: "ca-secondary.pem", Path: "collector-tls-ca-secondary.pem"}}}},
				},
			}},
		}},
	}
	wantOpenShift := want
	wantOpenShift.Annotations = map[string]string{"openshift.io/required-scc": "sensorprobe"}
	// OpenShift Virtualization runs virt-handler in openshift-cnv.
	wantOpenShift.Args = append(slices.Clone(want.Args), "--kubevirt.namespace=openshift-cnv")

	tests := []struct {
		name string
		dir  string
		want podSummary
	}{
		{name: "kubernetes", dir: "deploy/overlays/kubernetes", want: want},
		{name: "openshift", dir: "deploy/overlays/openshift", want: wantOpenShift},
		{name: "kube-prometheus-stack", dir: "deploy/overlays/kube-prometheus-stack", want: want},
		{name: "kube-prometheus", dir: "deploy/overlays/kube-prometheus", want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := only[*appsv1.DaemonSet](t, render(t, tt.dir))
			got := summarize(t, ds)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DaemonSet pod (-want +got):\n%s", diff)
			}
			sel, err := metav1LabelSelector(ds)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
				t.Errorf("selector %s does not match the pod template's labels %v", sel, ds.Spec.Template.Labels)
			}
		})
	}
}

// TestMetricsPort checks the port is chosen once and consistently: the
// listen address, the container port and the PodMonitor agree, and the port
// is none of those already taken on the host network.
func TestMetricsPort(t *testing.T) {
	for _, dir := range []string{"deploy/overlays/kubernetes", "deploy/overlays/openshift"} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			c := only[*appsv1.DaemonSet](t, objs).Spec.Template.Spec.Containers[0]
			var listen string
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
					listen = v
				}
			}
			if len(c.Ports) != 1 {
				t.Fatalf("want one container port, got %v", c.Ports)
			}
			port := c.Ports[0].ContainerPort
			if want := ":" + strconv.Itoa(int(port)); listen != want {
				t.Errorf("--web.listen-address=%s, want %s (the container port)", listen, want)
			}
			if slices.Contains(forbiddenPorts(), port) {
				t.Errorf("metrics port %d collides with a port already used on the host network", port)
			}
			pm := only[*monitoringv1.PodMonitor](t, objs)
			if len(pm.Spec.PodMetricsEndpoints) != 1 || ptr.Deref(pm.Spec.PodMetricsEndpoints[0].Port, "") != c.Ports[0].Name {
				t.Errorf("PodMonitor endpoints %+v do not scrape port %q", pm.Spec.PodMetricsEndpoints, c.Ports[0].Name)
			}
		})
	}
}

// TestPodMonitor checks the PodMonitor selects the probe's pods and puts
// the node name on every series as `node`, with job="sensorprobe".
func TestPodMonitor(t *testing.T) {
	objs := render(t, "deploy/overlays/kubernetes")
	pm := only[*monitoringv1.PodMonitor](t, objs)
	ds := only[*appsv1.DaemonSet](t, objs)
	sel, err := metav1LabelSelectorFrom(&pm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("PodMonitor selector %s does not match the probe's pod labels %v", sel, ds.Spec.Template.Labels)
	}
	if pm.Namespace != ds.Namespace {
		t.Errorf("PodMonitor in namespace %q, DaemonSet in %q", pm.Namespace, ds.Namespace)
	}
	want := []monitoringv1.RelabelConfig{
		{SourceLabels: []monitoringv1.LabelName{"__meta_kubernetes_pod_node_name"}, TargetLabel: "node", Action: "replace"},
		{TargetLabel: "job", Replacement: new("sensorprobe"), Action: "replace"},
	}
	if diff := cmp.Diff(want, pm.Spec.PodMetricsEndpoints[0].RelabelConfigs); diff != "" {
		t.Errorf("relabelings (-want +got):\n%s", diff)
	}
}

// TestSCC pins the OpenShift SCC: host networking (and the host port it
// implies for the metrics port) and nothing more.
func TestSCC(t *testing.T) {
	objs := render(t, "deploy/overlays/openshift")
	scc := only[*SecurityContextConstraints](t, objs)
	got := *scc
	got.TypeMeta, got.ObjectMeta = SecurityContextConstraints{}.TypeMeta, SecurityContextConstraints{}.ObjectMeta
	want := SecurityContextConstraints{
		AllowHostNetwork:                true,
		AllowHostPorts:                  true,
		AllowPrivilegeEscalation:        new(false),
		DefaultAllowPrivilegeEscalation: new(false),
		AllowedCapabilities:             []corev1.Capability{},
		DefaultAddCapabilities:          []corev1.Capability{},
		RequiredDropCapabilities:        []corev1.Capability{"ALL"},
		ReadOnlyRootFilesystem:          true,
		RunAsUser:                       RunAsUserStrategyOptions{Type: "MustRunAs", UID: ptr.To[int64](65532)},
		SELinuxContext:                  SELinuxContextStrategyOptions{Type: "MustRunAs"},
		FSGroup:                         FSGroupStrategyOptions{Type: "MustRunAs"},
		SupplementalGroups:              SupplementalGroupsStrategyOptions{Type: "RunAsAny"},
		SeccompProfiles:                 []string{"runtime/default"},
		Volumes:                         []string{"secret", "projected", "downwardAPI", "configMap", "emptyDir"},
		Users:                           []string{},
		Groups:                          []string{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SCC (-want +got):\n%s", diff)
	}
	if scc.Namespace != "" {
		t.Errorf("SCC is cluster-scoped but has namespace %q", scc.Namespace)
	}
	ds := only[*appsv1.DaemonSet](t, objs)
	if uid := ptr.Deref(ds.Spec.Template.Spec.SecurityContext.RunAsUser, -1); uid != *want.RunAsUser.UID {
		t.Errorf("pod runs as UID %d, SCC requires %d", uid, *want.RunAsUser.UID)
	}
}

// TestImagePinned checks the image is chosen in one place, kustomize's images in
// deploy/base, by a release tag: the DaemonSet names no tag of its own, the tag is never
// latest, and overriding it there reaches every overlay.
func TestImagePinned(t *testing.T) {
	raw := string(readRepoFile(t, "deploy/base/daemonset.yaml"))
	if !strings.Contains(raw, "image: quay.io/sensorprobe/sensorprobe\n") {
		t.Error("deploy/base/daemonset.yaml should name the image without a tag; the tag is set in kustomization.yaml only")
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(imageTag) {
		t.Errorf("image tag %q is not a release version", imageTag)
	}
	for _, dir := range []string{"deploy/overlays/kubernetes", "deploy/overlays/openshift", "deploy/overlays/kube-prometheus-stack", "deploy/overlays/kube-prometheus"} {
		img := only[*appsv1.DaemonSet](t, render(t, dir)).Spec.Template.Spec.Containers[0].Image
		if strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
			t.Errorf("%s: image %q is not pinned by tag", dir, img)
		}
	}
}

// TestReleaseLabel checks the kube-prometheus-stack overlay labels the PodMonitor and the
// PrometheusRule with the Helm release its Prometheus selects on, and only them.
func TestReleaseLabel(t *testing.T) {
	for _, o := range render(t, "deploy/overlays/kube-prometheus-stack") {
		var l map[string]string
		switch v := o.Obj.(type) {
		case *monitoringv1.PodMonitor:
			l = v.Labels
		case *monitoringv1.PrometheusRule:
			l = v.Labels
		case *appsv1.DaemonSet:
			if _, ok := v.Labels["release"]; ok {
				t.Errorf("%s carries the release label", o.ID)
			}
			continue
		default:
			continue
		}
		if l["release"] != "kube-prometheus-stack" {
			t.Errorf("%s: release label %q, want kube-prometheus-stack", o.ID, l["release"])
		}
	}
}

// TestKubePrometheusRBAC checks the kube-prometheus overlay lets kube-prometheus' Prometheus
// (monitoring/prometheus-k8s) discover pods in the probe's namespace and grants nothing else.
func TestKubePrometheusRBAC(t *testing.T) {
	objs := render(t, "deploy/overlays/kube-prometheus")
	ds := only[*appsv1.DaemonSet](t, objs)
	var role *rbacv1.Role
	var binding *rbacv1.RoleBinding
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *rbacv1.Role:
			if v.Name == "sensorprobe-prometheus-k8s" {
				role = v
			}
		case *rbacv1.RoleBinding:
			if v.Name == "sensorprobe-prometheus-k8s" {
				binding = v
			}
		}
	}
	if role == nil || binding == nil {
		t.Fatal("no Role and RoleBinding sensorprobe-prometheus-k8s")
	}
	if role.Namespace != ds.Namespace || binding.Namespace != ds.Namespace {
		t.Errorf("Role in %q, RoleBinding in %q, probes in %q", role.Namespace, binding.Namespace, ds.Namespace)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}
	if diff := cmp.Diff(want, role.Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus-k8s", Namespace: "monitoring"}}
	if diff := cmp.Diff(wantSubjects, binding.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name {
		t.Errorf("roleRef %+v does not name the Role", binding.RoleRef)
	}
}
