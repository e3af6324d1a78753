package deploy

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/sensorprobe/sensorprobe/internal/app"
)

// probeContainer returns the DaemonSet's one container.
func probeContainer(t *testing.T, objs []renderedObject) corev1.Container {
	t.Helper()
	return only[*appsv1.DaemonSet](t, objs).Spec.Template.Spec.Containers[0]
}

// checkProbeAccepts checks the probe's own flag parser takes args, the flags the chart wrote,
// with the environment the DaemonSet gives it. Outside a cluster there is no discovery, so a
// target is added when args name none.
func checkProbeAccepts(t *testing.T, args []string) {
	t.Helper()
	env := map[string]string{"NODE_NAME": "node-a", "POD_NAME": "sensorprobe-x", "POD_NAMESPACE": releaseNamespace, "POD_UID": "u", "MEMORY_LIMIT": "67108864"}
	all := slices.Concat(args, []string{"--kube=false"})
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--target=") }) {
		all = append(all, "--target=clusterip=127.0.0.1:1")
	}
	if _, err := app.ParseDaemon(all, io.Discard, func(k string) string { return env[k] }); err != nil {
		t.Errorf("the probe refuses the chart's flags %q: %v", args, err)
	}
}

// TestHelmFlags checks each flag value becomes the probe's flag, after the two the kustomize
// DaemonSet passes, and that the probe accepts the result.
func TestHelmFlags(t *testing.T) {
	base := []string{"--web.listen-address=:9818", "--log.format=json"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "defaults", want: base},
		{
			name: "every flag value",
			args: []string{"--set", "interval=30s", "--set", "timeout=2s", "--set", "sensorBudget=0", "--set", "check=grpc",
				"--set", "targets[0]=clusterip=172.30.12.7:443", "--set", "targets[1]=extra=10.0.0.1:8443",
				"--set", "logLevel=debug", "--set", "logFormat=text", "--set", "metricsPort=9819",
				"--set", "extraArgs[0]=--web.status=false"},
			want: []string{"--web.listen-address=:9819", "--log.format=text", "--interval=30s", "--timeout=2s", "--sensor-budget=0",
				"--check=grpc", "--target=clusterip=172.30.12.7:443", "--target=extra=10.0.0.1:8443", "--log.level=debug", "--web.status=false"},
		},
		{name: "fractional sensor budget", args: []string{"--set-json", "sensorBudget=12.5"}, want: append(slices.Clone(base), "--sensor-budget=12.5")},
		{name: "another RHACS namespace", args: []string{"--set", "rhacsNamespace=acs"}, want: append(slices.Clone(base), "--namespace=acs")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := probeContainer(t, helmTemplate(t, tt.args...)).Args
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			checkProbeAccepts(t, got)
		})
	}
}

// TestHelmNamespace checks rhacsNamespace moves every namespaced object but the console's
// dashboard, and every subject bound to the probe's ServiceAccount, to that namespace.
func TestHelmNamespace(t *testing.T) {
	objs := helmTemplate(t, "-f", chartOpenShiftFile, "--set", "rhacsNamespace=acs", "--set", "monitoring.prometheusRBAC.enabled=true")
	for _, o := range objs {
		ns, _, namespaced := strings.Cut(strings.SplitN(o.ID, " ", 2)[1], "/")
		if namespaced && ns != "acs" && o.ID != "ConfigMap openshift-config-managed/sensorprobe-dashboard" {
			t.Errorf("%s is not in namespace acs", o.ID)
		}
		var subjects []rbacv1.Subject
		switch v := o.Obj.(type) {
		case *rbacv1.RoleBinding:
			subjects = v.Subjects
		case *rbacv1.ClusterRoleBinding:
			subjects = v.Subjects
		}
		for _, s := range subjects {
			if s.Name == "sensorprobe" && s.Namespace != "acs" {
				t.Errorf("%s binds sensorprobe in namespace %q", o.ID, s.Namespace)
			}
		}
	}
}

// TestHelmServiceMonitor checks the ServiceMonitor alternative: a headless Service over the
// probes' metrics port and a ServiceMonitor selecting it with the PodMonitor's endpoint, and no
// PodMonitor; the Prometheus RBAC then also covers endpoint discovery.
func TestHelmServiceMonitor(t *testing.T) {
	defaults := only[*monitoringv1.PodMonitor](t, helmTemplate(t)).Spec.PodMetricsEndpoints[0]
	objs := helmTemplate(t, "--set", "monitoring.scrape.kind=ServiceMonitor", "--set", "monitoring.prometheusRBAC.enabled=true",
		"--set", "monitoring.labels.release=kps")
	for _, o := range objs {
		if _, ok := o.Obj.(*monitoringv1.PodMonitor); ok {
			t.Errorf("%s rendered beside the ServiceMonitor", o.ID)
		}
	}
	ds := only[*appsv1.DaemonSet](t, objs)
	svc := only[*corev1.Service](t, objs)
	sm := only[*monitoringv1.ServiceMonitor](t, objs)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service clusterIP %q, want None (headless)", svc.Spec.ClusterIP)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("Service selector %v does not match the probe's pods %v", svc.Spec.Selector, ds.Spec.Template.Labels)
	}
	wantPorts := []corev1.ServicePort{{Name: "metrics", Port: metricsPort, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP}}
	if diff := cmp.Diff(wantPorts, svc.Spec.Ports); diff != "" {
		t.Errorf("Service ports (-want +got):\n%s", diff)
	}
	sel, err := metav1LabelSelectorFrom(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(svc.Labels)) || sm.Namespace != svc.Namespace {
		t.Errorf("ServiceMonitor selector %s in %s does not select Service %s/%s %v", sel, sm.Namespace, svc.Namespace, svc.Name, svc.Labels)
	}
	if sm.Labels["release"] != "kps" {
		t.Errorf("ServiceMonitor labels %v lack monitoring.labels", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ptr := defaults.Port; ep.Port != *ptr || ep.Path != defaults.Path || ep.Interval != defaults.Interval || !cmp.Equal(ep.RelabelConfigs, defaults.RelabelConfigs) {
		t.Errorf("ServiceMonitor endpoint %+v differs from the PodMonitor's %+v", ep, defaults)
	}
	role := find(t, objs, "Role stackrox/sensorprobe-prometheus-k8s").(*rbacv1.Role)
	var resources []string
	for _, r := range role.Rules {
		resources = append(resources, r.Resources...)
	}
	for _, want := range []string{"pods", "services", "endpoints", "endpointslices"} {
		if !slices.Contains(resources, want) {
			t.Errorf("Role sensorprobe-prometheus-k8s cannot read %s (rules %+v)", want, role.Rules)
		}
	}
}

// TestHelmWebConfig checks webConfig: the secret is mounted read-only beside the CAs and named
// by --web.config.file, the kubelet checks follow webConfig.kubeletProbes, and the scrape
// takes the scheme, TLS and basic auth settings.
func TestHelmWebConfig(t *testing.T) {
	tests := []struct {
		mode      string
		readiness corev1.ProbeHandler
	}{
		{mode: "tcp", readiness: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("metrics")}}},
		{mode: "https", readiness: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("metrics"), Scheme: corev1.URISchemeHTTPS}}},
		{mode: "http", readiness: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("metrics")}}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			objs := helmTemplate(t, "--set", "webConfig.secretName=sensorprobe-web", "--set", "webConfig.key=web.yml",
				"--set", "webConfig.kubeletProbes="+tt.mode, "--set", "monitoring.scrape.scheme=https",
				"--set", "monitoring.scrape.tlsConfig.serverName=sensorprobe",
				"--set", "monitoring.scrape.tlsConfig.ca.secret.name=sensorprobe-web", "--set", "monitoring.scrape.tlsConfig.ca.secret.key=ca.pem",
				"--set", "monitoring.scrape.basicAuth.username.name=scrape", "--set", "monitoring.scrape.basicAuth.username.key=user",
				"--set", "monitoring.scrape.basicAuth.password.name=scrape", "--set", "monitoring.scrape.basicAuth.password.key=password")
			ds := only[*appsv1.DaemonSet](t, objs)
			c := ds.Spec.Template.Spec.Containers[0]
			if !slices.Contains(c.Args, "--web.config.file=/etc/sensorprobe/web/web.yml") {
				t.Errorf("args %q lack --web.config.file", c.Args)
			}
			wantMount := corev1.VolumeMount{Name: "web-config", MountPath: "/etc/sensorprobe/web", ReadOnly: true}
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return cmp.Equal(m, wantMount) }) {
				t.Errorf("mounts %+v lack the web configuration", c.VolumeMounts)
			}
			vols := ds.Spec.Template.Spec.Volumes
			if i := slices.IndexFunc(vols, func(v corev1.Volume) bool { return v.Name == "web-config" }); i < 0 || vols[i].Secret == nil || vols[i].Secret.SecretName != "sensorprobe-web" {
				t.Errorf("volumes %+v lack secret sensorprobe-web", vols)
			}
			if diff := cmp.Diff(tt.readiness, c.ReadinessProbe.ProbeHandler); diff != "" {
				t.Errorf("readiness (-want +got):\n%s", diff)
			}
			ep := only[*monitoringv1.PodMonitor](t, objs).Spec.PodMetricsEndpoints[0]
			if ep.Scheme == nil || ep.Scheme.String() != "https" || ep.TLSConfig == nil || ep.TLSConfig.CA.Secret == nil ||
				ep.TLSConfig.CA.Secret.Key != "ca.pem" || ep.BasicAuth == nil || ep.BasicAuth.Password.Key != "password" {
				t.Errorf("PodMonitor endpoint lacks the scheme, TLS or basic auth: %+v", ep)
			}
		})
	}
}

// TestHelmOptionalObjects checks each on/off value adds or removes exactly its objects.
func TestHelmOptionalObjects(t *testing.T) {
	defaults := ids(helmTemplate(t))
	tests := []struct {
		name          string
		args          []string
		added, gone   []string
		noPriorityFor bool
	}{
		{name: "no PodMonitor", args: []string{"--set", "monitoring.scrape.enabled=false"}, gone: []string{"PodMonitor stackrox/sensorprobe"}},
		{name: "no PrometheusRule", args: []string{"--set", "monitoring.prometheusRule.enabled=false"}, gone: []string{"PrometheusRule stackrox/sensorprobe"}},
		{name: "no node reader", args: []string{"--set", "rbac.nodeReader=false"}, gone: []string{"ClusterRole sensorprobe-node-reader", "ClusterRoleBinding sensorprobe-node-reader"}},
		{name: "no PriorityClass", args: []string{"--set", "priorityClass.create=false", "--set", "priorityClass.name="}, gone: []string{"PriorityClass sensorprobe"}, noPriorityFor: true},
		{name: "SCC", args: []string{"--set", "openshift.scc.enabled=true"}, added: []string{"SecurityContextConstraints sensorprobe", "ClusterRole sensorprobe-scc", "RoleBinding stackrox/sensorprobe-scc"}},
		{name: "console dashboard", args: []string{"--set", "monitoring.consoleDashboard.enabled=true"}, added: []string{"ConfigMap openshift-config-managed/sensorprobe-dashboard"}},
		{name: "Grafana dashboard", args: []string{"--set", "monitoring.grafanaDashboard.enabled=true"}, added: []string{"ConfigMap stackrox/sensorprobe-dashboard"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := helmTemplate(t, tt.args...)
			want := slices.DeleteFunc(slices.Concat(defaults, tt.added), func(id string) bool { return slices.Contains(tt.gone, id) })
			slices.Sort(want)
			if diff := cmp.Diff(want, ids(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if pc := only[*appsv1.DaemonSet](t, objs).Spec.Template.Spec.PriorityClassName; tt.noPriorityFor != (pc == "") {
				t.Errorf("priorityClassName %q", pc)
			}
		})
	}
}

// TestHelmImage checks the image reference: the tag defaults to appVersion, a tag or a
// digest replaces it.
func TestHelmImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		args []string
		want string
	}{
		{want: "quay.io/sensorprobe/sensorprobe:" + imageTag},
		{args: []string{"--set", "image.repository=registry.example.com/sensorprobe", "--set", "image.tag=v0.1.1"}, want: "registry.example.com/sensorprobe:v0.1.1"},
		{args: []string{"--set", "image.digest=" + digest}, want: "quay.io/sensorprobe/sensorprobe@" + digest},
	}
	for _, tt := range tests {
		if got := probeContainer(t, helmTemplate(t, tt.args...)).Image; got != tt.want {
			t.Errorf("%v: image %q, want %q", tt.args, got, tt.want)
		}
	}
}

// TestHelmRunbookURL checks monitoring.prometheusRule.runbookURL reaches every alert's
// runbook_url, each keeping its anchor (the alert's name in lower case).
func TestHelmRunbookURL(t *testing.T) {
	const mirror = "https://docs.example.internal/runbooks.html"
	pr := only[*monitoringv1.PrometheusRule](t, helmTemplate(t, "--set", "monitoring.prometheusRule.runbookURL="+mirror))
	var n int
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if want := mirror + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
	if want := len(alertRules(loadRules(t))); n != want {
		t.Errorf("%d alerts in the PrometheusRule, %d in the rule file", n, want)
	}
}

// schemaNode is the part of a JSON schema the closure check reads.
type schemaNode struct {
	Type                 any                    `json:"type"`
	Ref                  string                 `json:"$ref"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	AnyOf                []*schemaNode          `json:"anyOf"`
	Definitions          map[string]*schemaNode `json:"definitions"`
}

// helmMaps are the values that are maps of the user's own keys (labels, resource names):
// their schema constrains the values, not the keys.
func helmMaps() []string {
	return []string{"nodeSelector", "monitoring.labels", "monitoring.grafanaDashboard.labels", "resources.requests", "resources.limits"}
}

// TestHelmSchemaClosed checks values.schema.json refuses unknown keys at every level: every
// object schema has additionalProperties false, but the maps of helmMaps, whose values it
// constrains instead.
func TestHelmSchemaClosed(t *testing.T) {
	var root schemaNode
	if err := json.Unmarshal(readRepoFile(t, chartDir+"/values.schema.json"), &root); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, n *schemaNode)
	walk = func(path string, n *schemaNode) {
		if n == nil {
			return
		}
		if n.Ref != "" {
			name := strings.TrimPrefix(n.Ref, "#/definitions/")
			if root.Definitions[name] == nil {
				t.Errorf("%s: $ref %s names no definition", path, n.Ref)
			}
			return // definitions are walked on their own
		}
		if n.Type == "object" || n.Properties != nil {
			ap := strings.TrimSpace(string(n.AdditionalProperties))
			switch {
			case slices.Contains(helmMaps(), strings.TrimPrefix(path, ".")):
				if !strings.HasPrefix(ap, "{") {
					t.Errorf("%s: a map, but additionalProperties %q constrains no value", path, ap)
				}
			case ap != "false":
				t.Errorf("%s: additionalProperties is %q, want false", path, ap)
			}
		}
		for k, p := range n.Properties {
			walk(path+"."+k, p)
		}
		walk(path+"[]", n.Items)
		for _, a := range n.AnyOf {
			walk(path, a)
		}
	}
	walk("", &root)
	for name, d := range root.Definitions {
		walk("definitions."+name, d)
	}
}

// TestHelmSchemaMatchesValues checks values.schema.json and values.yaml know the same keys:
// every group of values (a mapping in values.yaml without a "# --" description of its own) has
// exactly the properties in the schema that it has keys in values.yaml.
func TestHelmSchemaMatchesValues(t *testing.T) {
	var schema schemaNode
	if err := json.Unmarshal(readRepoFile(t, chartDir+"/values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(readRepoFile(t, chartDir+"/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, v := range chartValues(t) {
		documented[v.Path] = true
	}
	var walk func(path string, s *schemaNode, v map[string]any)
	walk = func(path string, s *schemaNode, v map[string]any) {
		var inSchema, inValues []string
		for k := range s.Properties {
			inSchema = append(inSchema, k)
		}
		for k := range v {
			inValues = append(inValues, k)
		}
		slices.Sort(inSchema)
		slices.Sort(inValues)
		if diff := cmp.Diff(inValues, inSchema); diff != "" {
			t.Errorf("keys of %q (-values.yaml +values.schema.json):\n%s", path, diff)
		}
		for k, sub := range v {
			p := strings.TrimPrefix(path+"."+k, ".")
			if m, ok := sub.(map[string]any); ok && !documented[p] && s.Properties[k] != nil {
				walk(p, s.Properties[k], m)
			}
		}
	}
	walk("", &schema, values)
}
