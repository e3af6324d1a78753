package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The chart, as a path from the repository root, and what the tests install it as.
const (
	chartDir           = "deploy/helm/sensorprobe"
	chartOpenShiftFile = chartDir + "/values-openshift.yaml"
	releaseName        = "sensorprobe"
	releaseNamespace   = "stackrox"
)

// helmHint says how to get the helm binary the tests run.
const helmHint = `HELM is not set: export HELM="$(hack/helm.sh | tail -n1)" ` +
	`(builds helm once from the Go module proxy, a few minutes cold, then cached outside the repository)`

// helmBin returns the helm binary named by the HELM environment variable. Without one it
// skips the test with the hint, or fails it when the CI environment variable is set: CI must
// run every chart check.
func helmBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("HELM")
	if p == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and " + helmHint)
		}
		t.Skip(helmHint)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("HELM=%s is not an executable file (%v); %s", p, err, helmHint)
	}
	return p
}

// helmResult is one helm run's output.
type helmResult struct {
	Stdout, Stderr string
	// OK is whether helm exited 0.
	OK bool
}

// runHelm runs helm with args in the repository root. Helm's configuration, cache and data
// live in a temporary directory, so the user's repositories and plugins play no part; the
// kubeconfig is kubeconfig (empty: none). Failing to start helm fails the test.
func runHelm(t *testing.T, kubeconfig string, args ...string) helmResult {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), helmBin(t), args...)
	cmd.Dir = repoRoot(t)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "HELM_") && !strings.HasPrefix(e, "KUBECONFIG=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	if kubeconfig == "" {
		kubeconfig = filepath.Join(home, "no-kubeconfig")
	}
	cmd.Env = append(cmd.Env,
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run helm %v: %v", args, err)
	}
	return helmResult{Stdout: stdout.String(), Stderr: stderr.String(), OK: err == nil}
}

// helmTemplate renders the chart as release sensorprobe in namespace stackrox with the extra
// helm arguments (-f, --set) and decodes every object strictly, as render does for kustomize.
func helmTemplate(t *testing.T, args ...string) []renderedObject {
	t.Helper()
	r := runHelm(t, "", slices.Concat([]string{"template", releaseName, chartDir, "-n", releaseNamespace}, args)...)
	if !r.OK {
		t.Fatalf("helm template %v: %s", args, r.Stderr)
	}
	objs, err := decodeDocuments(r.Stdout)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return objs
}

// decodeDocuments splits a multi-document YAML stream and decodes each object strictly.
func decodeDocuments(stream string) ([]renderedObject, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var objs []renderedObject
	var errs []error
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(bytes.TrimSpace(j)) == "null" {
			continue // only comments
		}
		o, err := decodeChartObject(doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, errors.Join(errs...)
}

// decodeChartObject decodes one object of the chart strictly (decodeStrict), with the two
// kinds only the chart ships, the ServiceMonitor alternative's Service and ServiceMonitor.
func decodeChartObject(doc []byte) (renderedObject, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return renderedObject{}, fmt.Errorf("yaml to json: %w", err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return renderedObject{}, err
	}
	var obj any
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Service":
		obj = &corev1.Service{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	default:
		if obj, err = decodeStrict(doc); err != nil {
			return renderedObject{}, err
		}
	}
	if strictErrs, err := sigsjson.UnmarshalStrict(j, obj); err != nil || len(strictErrs) > 0 {
		return renderedObject{}, fmt.Errorf("decode %s strictly: %w", tm.Kind, errors.Join(append(strictErrs, err)...))
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return renderedObject{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	id := tm.Kind + " " + m.GetName()
	if m.GetNamespace() != "" {
		id = tm.Kind + " " + m.GetNamespace() + "/" + m.GetName()
	}
	return renderedObject{ID: id, Obj: obj}, nil
}

// ids returns the objects' IDs, sorted.
func ids(objs []renderedObject) []string {
	var s []string
	for _, o := range objs {
		s = append(s, o.ID)
	}
	slices.Sort(s)
	return s
}

// find returns the object with id, failing the test when there is none.
func find(t *testing.T, objs []renderedObject, id string) any {
	t.Helper()
	for _, o := range objs {
		if o.ID == id {
			return o.Obj
		}
	}
	t.Fatalf("no %s among %v", id, ids(objs))
	return nil
}

// asMap returns the object as the generic JSON the API server would store: what the typed
// object encodes to, so that two spellings of one value (10m and 0.01) compare equal.
func asMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHelmLint runs helm lint --strict on the chart with its defaults, with the OpenShift
// values and with the ServiceMonitor alternative: the chart, its templates and the values
// against values.schema.json.
func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-f", chartOpenShiftFile},
		{"--set", "monitoring.scrape.kind=ServiceMonitor", "--set", "monitoring.prometheusRBAC.enabled=true"},
	} {
		name := strings.Join(args, " ")
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			r := runHelm(t, "", slices.Concat([]string{"lint", "--strict", chartDir}, args)...)
			if !r.OK || !strings.Contains(r.Stdout, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint --strict %v failed:\n%s%s", args, r.Stdout, r.Stderr)
			}
		})
	}
}

// TestHelmValuesSchema checks values.schema.json refuses what a typo makes, at helm
// template (helm install and helm upgrade validate the same way), and says where.
func TestHelmValuesSchema(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(typo, []byte("monitoring:\n  prometheusRules:\n    enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "misspelt key", args: []string{"--set", "intervall=30s"}, want: "- at '': additional properties 'intervall' not allowed"},
		{name: "misspelt nested key", args: []string{"--set", "image.tga=v0.1.0"}, want: "- at '/image': additional properties 'tga' not allowed"},
		{name: "misspelt key in a values file", args: []string{"-f", typo}, want: "- at '/monitoring': additional properties 'prometheusRules' not allowed"},
		{name: "misspelt key in a list item", args: []string{"--set", "tolerations[0].operater=Exists"}, want: "- at '/tolerations/0': additional properties 'operater' not allowed"},
		{name: "misspelt enum value", args: []string{"--set", "monitoring.scrape.kind=ServiceMonitors"}, want: "- at '/monitoring/scrape/kind': value must be one of 'PodMonitor', 'ServiceMonitor'"},
		{name: "number for a duration", args: []string{"--set", "interval=30"}, want: "- at '/interval': got number, want string"},
		{name: "not a duration", args: []string{"--set", "timeout=5 seconds"}, want: "- at '/timeout': '5 seconds' does not match pattern"},
		{name: "not a target", args: []string{"--set", "targets[0]=172.30.12.7:443"}, want: "- at '/targets/0': '172.30.12.7:443' does not match pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHelm(t, "", slices.Concat([]string{"template", releaseName, chartDir, "-n", releaseNamespace}, tt.args)...)
			if r.OK {
				t.Fatalf("helm template %v succeeded", tt.args)
			}
			for _, want := range []string{"values don't meet the specifications of the schema(s) in the following chart(s):\nsensorprobe:\n", tt.want} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("helm template %v: error lacks %q:\n%s", tt.args, want, r.Stderr)
				}
			}
		})
	}
}

// TestHelmChartVersion checks the chart carries the release it belongs to: appVersion is the
// image tag deploy/base/kustomization.yaml pins, and the chart's version is the same without
// the v (Chart.yaml says so; docs/install.md, "Helm").
func TestHelmChartVersion(t *testing.T) {
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, chartDir+"/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	var kust struct {
		Images []struct {
			Name   string `json:"name"`
			NewTag string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/base/kustomization.yaml"), &kust); err != nil {
		t.Fatal(err)
	}
	if len(kust.Images) != 1 {
		t.Fatalf("deploy/base/kustomization.yaml: want one image, got %+v", kust.Images)
	}
	if chart.AppVersion != kust.Images[0].NewTag || chart.AppVersion != imageTag {
		t.Errorf("Chart.yaml appVersion %q, kustomize pins %q (tests: %q): release them together", chart.AppVersion, kust.Images[0].NewTag, imageTag)
	}
	if want := strings.TrimPrefix(chart.AppVersion, "v"); chart.Version != want {
		t.Errorf("Chart.yaml version %q, want %q (appVersion without the v)", chart.Version, want)
	}
}

// TestHelmNotes checks the notes helm prints after an install say how to reach /status and
// run probe check, in the namespace and on the port the chart used.
func TestHelmNotes(t *testing.T) {
	r := runHelm(t, "", "install", releaseName, chartDir, "-n", "acs", "--set", "metricsPort=9819", "--dry-run=client")
	if !r.OK {
		t.Fatalf("helm install --dry-run=client: %s", r.Stderr)
	}
	_, notes, ok := strings.Cut(r.Stdout, "NOTES:\n")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", r.Stdout)
	}
	for _, want := range []string{
		"kubectl -n acs exec ds/sensorprobe -- probe check",
		`kubectl get --raw "/api/v1/namespaces/acs/pods/http:$(kubectl -n acs get pod -l app.kubernetes.io/name=sensorprobe -o jsonpath='{.items[0].metadata.name}'):9819/proxy/status"`,
		"curl -s http://localhost:9819/status",
		"probe check --cluster --namespace acs",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
}

// helmLabels are the labels the chart adds to every object beyond the kustomize manifests'.
func helmLabels() map[string]string {
	return map[string]string{
		"helm.sh/chart":                "sensorprobe-" + strings.TrimPrefix(imageTag, "v"),
		"app.kubernetes.io/instance":   releaseName,
		"app.kubernetes.io/version":    imageTag,
		"app.kubernetes.io/managed-by": "Helm",
	}
}

// withoutHelmLabels returns the generic form of a chart object without the labels of
// helmLabels, after checking it carries each of them.
func withoutHelmLabels(t *testing.T, o renderedObject) map[string]any {
	t.Helper()
	m := asMap(t, o.Obj)
	md, _ := m["metadata"].(map[string]any)
	l, _ := md["labels"].(map[string]any)
	for k, v := range helmLabels() {
		if l[k] != v {
			t.Errorf("%s: label %s=%v, want %s", o.ID, k, l[k], v)
		}
		delete(l, k)
	}
	return m
}

// kustomizeSource is a kustomization whose objects the chart must render, applied as
// `kubectl apply -k Dir -n Namespace` (Namespace empty: as the kustomization says).
type kustomizeSource struct {
	Dir, Namespace string
}

// TestHelmMatchesKustomize is the no-drift check between the two ways to install: for each
// kustomize overlay, the chart with the values that stand for it renders the same objects
// (kind, namespace and name) and each object the same, field for field (the DaemonSet's pod
// spec, the RBAC rules and subjects, the SCC, the PodMonitor, the PrometheusRule's groups, the
// dashboards), but for the labels Helm adds (helmLabels, which every chart object must carry).
func TestHelmMatchesKustomize(t *testing.T) {
	const kpsRelease = "monitoring.labels.release=kube-prometheus-stack"
	tests := []struct {
		name      string
		kustomize []kustomizeSource
		args      []string
	}{
		{name: "kubernetes", kustomize: []kustomizeSource{{Dir: "deploy/overlays/kubernetes"}}},
		{name: "openshift", kustomize: []kustomizeSource{{Dir: "deploy/overlays/openshift"}}, args: []string{"-f", chartOpenShiftFile}},
		{name: "kube-prometheus-stack", kustomize: []kustomizeSource{{Dir: "deploy/overlays/kube-prometheus-stack"}}, args: []string{"--set", kpsRelease}},
		{name: "kube-prometheus", kustomize: []kustomizeSource{{Dir: "deploy/overlays/kube-prometheus"}}, args: []string{"--set", "monitoring.prometheusRBAC.enabled=true"}},
		{name: "kubernetes with the virt-handler reader", kustomize: []kustomizeSource{{Dir: "deploy/overlays/kubernetes"}, {Dir: "deploy/kubevirt"}},
			args: []string{"--set", "kubevirt.virtHandlerReader=true"}},
		{name: "openshift with the virt-handler reader", kustomize: []kustomizeSource{{Dir: "deploy/overlays/openshift"}, {Dir: "deploy/openshift-virtualization"}},
			args: []string{"-f", chartOpenShiftFile, "--set", "kubevirt.virtHandlerReader=true"}},
		{
			name:      "kube-prometheus-stack with the Grafana dashboard",
			kustomize: []kustomizeSource{{Dir: "deploy/overlays/kube-prometheus-stack"}, {Dir: "deploy/grafana", Namespace: "monitoring"}},
			args: []string{"--set", kpsRelease, "--set", "monitoring.grafanaDashboard.enabled=true",
				"--set", "monitoring.grafanaDashboard.namespace=monitoring"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[string]map[string]any{}
			for _, src := range tt.kustomize {
				for _, o := range render(t, src.Dir) {
					m := asMap(t, o.Obj)
					if src.Namespace != "" {
						m["metadata"].(map[string]any)["namespace"] = src.Namespace
						o.ID = strings.Replace(o.ID, " ", " "+src.Namespace+"/", 1)
					}
					want[o.ID] = m
				}
			}
			got := map[string]map[string]any{}
			for _, o := range helmTemplate(t, tt.args...) {
				got[o.ID] = withoutHelmLabels(t, o)
			}
			if diff := cmp.Diff(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got))); diff != "" {
				t.Fatalf("objects (-kustomize +helm):\n%s", diff)
			}
			for id, w := range want {
				if diff := cmp.Diff(w, got[id]); diff != "" {
					t.Errorf("%s (-kustomize +helm):\n%s", id, diff)
				}
			}
		})
	}
}
