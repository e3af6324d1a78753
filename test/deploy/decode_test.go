package deploy

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// SecurityContextConstraints mirrors OpenShift's security.openshift.io/v1
// SecurityContextConstraints field for field (github.com/openshift/api
// security/v1/types.go), so the SCC in the openshift overlay can be decoded
// strictly without depending on the whole openshift/api module. Fields the
// overlay does not use are kept so that valid SCC YAML still decodes.
type SecurityContextConstraints struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitzero"`

	Priority                        *int32                            `json:"priority"`
	AllowPrivilegedContainer        bool                              `json:"allowPrivilegedContainer"`
	DefaultAddCapabilities          []corev1.Capability               `json:"defaultAddCapabilities"`
	RequiredDropCapabilities        []corev1.Capability               `json:"requiredDropCapabilities"`
	AllowedCapabilities             []corev1.Capability               `json:"allowedCapabilities"`
	AllowHostDirVolumePlugin        bool                              `json:"allowHostDirVolumePlugin"`
	Volumes                         []string                          `json:"volumes"`
	AllowedFlexVolumes              []AllowedFlexVolume               `json:"allowedFlexVolumes,omitempty"`
	AllowHostNetwork                bool                              `json:"allowHostNetwork"`
	AllowHostPorts                  bool                              `json:"allowHostPorts"`
	AllowHostPID                    bool                              `json:"allowHostPID"`
	AllowHostIPC                    bool                              `json:"allowHostIPC"`
	DefaultAllowPrivilegeEscalation *bool                             `json:"defaultAllowPrivilegeEscalation,omitempty"`
	AllowPrivilegeEscalation        *bool                             `json:"allowPrivilegeEscalation,omitempty"`
	SELinuxContext                  SELinuxContextStrategyOptions     `json:"seLinuxContext,omitzero"`
	RunAsUser                       RunAsUserStrategyOptions          `json:"runAsUser,omitzero"`
	SupplementalGroups              SupplementalGroupsStrategyOptions `json:"supplementalGroups,omitzero"`
	FSGroup                         FSGroupStrategyOptions            `json:"fsGroup,omitzero"`
	ReadOnlyRootFilesystem          bool                              `json:"readOnlyRootFilesystem"`
	Users                           []string                          `json:"users"`
	Groups                          []string                          `json:"groups"`
	SeccompProfiles                 []string                          `json:"seccompProfiles,omitempty"`
	AllowedUnsafeSysctls            []string                          `json:"allowedUnsafeSysctls,omitempty"`
	ForbiddenSysctls                []string                          `json:"forbiddenSysctls,omitempty"`
	UserNamespaceLevel              string                            `json:"userNamespaceLevel,omitempty"`
}

// AllowedFlexVolume mirrors the SCC's allowedFlexVolumes item.
type AllowedFlexVolume struct {
	Driver string `json:"driver"`
}

// SELinuxContextStrategyOptions mirrors the SCC's seLinuxContext.
type SELinuxContextStrategyOptions struct {
	Type           string                 `json:"type,omitempty"`
	SELinuxOptions *corev1.SELinuxOptions `json:"seLinuxOptions,omitempty"`
}

// RunAsUserStrategyOptions mirrors the SCC's runAsUser.
type RunAsUserStrategyOptions struct {
	Type        string `json:"type,omitempty"`
	UID         *int64 `json:"uid,omitempty"`
	UIDRangeMin *int64 `json:"uidRangeMin,omitempty"`
	UIDRangeMax *int64 `json:"uidRangeMax,omitempty"`
}

// SupplementalGroupsStrategyOptions mirrors the SCC's supplementalGroups.
type SupplementalGroupsStrategyOptions struct {
	Type   string    `json:"type,omitempty"`
	Ranges []IDRange `json:"ranges,omitempty"`
}

// FSGroupStrategyOptions mirrors the SCC's fsGroup.
type FSGroupStrategyOptions struct {
	Type   string    `json:"type,omitempty"`
	Ranges []IDRange `json:"ranges,omitempty"`
}

// IDRange mirrors the SCC's ID range.
type IDRange struct {
	Min int64 `json:"min,omitempty"`
	Max int64 `json:"max,omitempty"`
}

// GrafanaDashboard mirrors grafana-operator v5's grafana.integreatly.org/v1beta1
// GrafanaDashboard (github.com/grafana/grafana-operator api/v1beta1: grafanadashboard_types.go,
// common.go, content.go) field for field, so deploy/grafana-operator decodes strictly without
// depending on the operator's module. Fields the manifest does not use are kept so that valid
// GrafanaDashboard YAML still decodes.
type GrafanaDashboard struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitzero"`

	Spec GrafanaDashboardSpec `json:"spec"`
}

// GrafanaDashboardSpec mirrors the GrafanaDashboard's spec (common, content and dashboard
// fields inline, as in the operator).
type GrafanaDashboardSpec struct {
	ResyncPeriod              metav1.Duration              `json:"resyncPeriod,omitzero"`
	InstanceSelector          *metav1.LabelSelector        `json:"instanceSelector"`
	AllowCrossNamespaceImport *bool                        `json:"allowCrossNamespaceImport,omitempty"`
	CustomUID                 string                       `json:"uid,omitempty"`
	JSON                      string                       `json:"json,omitempty"`
	GzipJSON                  []byte                       `json:"gzipJson,omitempty"`
	URL                       string                       `json:"url,omitempty"`
	Jsonnet                   string                       `json:"jsonnet,omitempty"`
	ConfigMapRef              *corev1.ConfigMapKeySelector `json:"configMapRef,omitempty"`
	GrafanaCom                *struct {
		ID       int  `json:"id"`
		Revision *int `json:"revision,omitempty"`
	} `json:"grafanaCom,omitempty"`
	ContentCacheDuration metav1.Duration `json:"contentCacheDuration,omitzero"`
	Datasources          []struct {
		InputName      string `json:"inputName"`
		DatasourceName string `json:"datasourceName"`
	} `json:"datasources,omitempty"`
	FolderTitle string `json:"folder,omitempty"`
	FolderUID   string `json:"folderUID,omitempty"`
	FolderRef   string `json:"folderRef,omitempty"`
	Plugins     []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"plugins,omitempty"`
}

// newObject returns an empty value of the Go type for apiVersion and kind,
// or an error for a kind the tests do not know: every kind the manifests
// ship must be decoded against a real type.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}, nil
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		return &rbacv1.RoleBinding{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "scheduling.k8s.io/v1/PriorityClass":
		return &schedulingv1.PriorityClass{}, nil
	case "monitoring.coreos.com/v1/PodMonitor":
		return &monitoringv1.PodMonitor{}, nil
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}, nil
	case "security.openshift.io/v1/SecurityContextConstraints":
		return &SecurityContextConstraints{}, nil
	case "grafana.integreatly.org/v1beta1/GrafanaDashboard":
		return &GrafanaDashboard{}, nil
	}
	return nil, fmt.Errorf("no Go type for %s %s: add one to newObject", apiVersion, kind)
}

// decodeStrict decodes one YAML object into the Go type of its apiVersion
// and kind, the way the API server's strict field validation does: field
// names are case-sensitive, and unknown or duplicate fields are errors.
func decodeStrict(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("yaml to json: %w", err)
	}
	var tm metav1.TypeMeta
	if err := json.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return nil, fmt.Errorf("read apiVersion and kind: %w", err)
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	strictErrs, err := json.UnmarshalStrict(j, obj)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", tm.Kind, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("decode %s strictly: %w", tm.Kind, errors.Join(strictErrs...))
	}
	return obj, nil
}

// renderedObject is one object of a kustomize build, decoded.
type renderedObject struct {
	// ID is "Kind namespace/name", or "Kind name" for a cluster-scoped object.
	ID string
	// Obj is a pointer to the object's Go type (see newObject).
	Obj any
}

// render builds the kustomization in dir (slash-separated, relative to the
// repository root) with kustomize's Go API, as `kubectl kustomize` would,
// and decodes every object strictly.
func render(t *testing.T, dir string) []renderedObject {
	t.Helper()
	return renderDir(t, filepath.Join(repoRoot(t), filepath.FromSlash(dir)))
}

// renderDir is render for a kustomization anywhere on disk, given by its OS path.
func renderDir(t *testing.T, dir string) []renderedObject {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []renderedObject
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s as yaml: %v", dir, r.CurId(), err)
		}
		obj, err := decodeStrict(y)
		if err != nil {
			t.Errorf("%s: %s: %v", dir, r.CurId(), err)
			continue
		}
		id := r.GetKind() + " " + r.GetName()
		if ns := r.GetNamespace(); ns != "" {
			id = r.GetKind() + " " + ns + "/" + r.GetName()
		}
		objs = append(objs, renderedObject{ID: id, Obj: obj})
	}
	return objs
}

// only returns the single object of type T in objs, failing the test when
// there is not exactly one.
func only[T any](t *testing.T, objs []renderedObject) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(found))
	}
	return found[0]
}

// TestDecodeStrict checks the decoder the render tests rely on rejects what
// the API server's strict field validation rejects, for core types, the
// monitoring CRDs and the SCC.
func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr bool
	}{
		{
			name: "valid DaemonSet",
			doc:  "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostNetwork: true\n",
		},
		{
			name:    "misspelt field",
			doc:     "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostNetwrok: true\n",
			wantErr: true,
		},
		{
			name:    "wrong case",
			doc:     "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      HostNetwork: true\n",
			wantErr: true,
		},
		{
			name:    "duplicate field",
			doc:     "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, name: y}\n",
			wantErr: true,
		},
		{
			name:    "string where an integer belongs",
			doc:     "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: [{name: c, ports: [{containerPort: \"9818\"}]}]\n",
			wantErr: true,
		},
		{
			name:    "unknown PodMonitor field",
			doc:     "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: x}\nspec:\n  selector: {}\n  podMetricsEndpoints: [{port: metrics, relabelling: []}]\n",
			wantErr: true,
		},
		{
			name:    "unknown PrometheusRule field",
			doc:     "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec:\n  groups: [{name: g, rules: [{alert: A, expr: up, severity: warning}]}]\n",
			wantErr: true,
		},
		{
			name: "valid SCC",
			doc:  "apiVersion: security.openshift.io/v1\nkind: SecurityContextConstraints\nmetadata: {name: x}\nallowHostNetwork: true\nrunAsUser: {type: MustRunAs, uid: 1}\n",
		},
		{
			name:    "unknown SCC field",
			doc:     "apiVersion: security.openshift.io/v1\nkind: SecurityContextConstraints\nmetadata: {name: x}\nallowHostNetworking: true\n",
			wantErr: true,
		},
		{
			name: "valid GrafanaDashboard",
			doc:  "apiVersion: grafana.integreatly.org/v1beta1\nkind: GrafanaDashboard\nmetadata: {name: x}\nspec:\n  instanceSelector: {matchLabels: {a: b}}\n  configMapRef: {name: c, key: k}\n  resyncPeriod: 10m0s\n",
		},
		{
			name:    "unknown GrafanaDashboard field",
			doc:     "apiVersion: grafana.integreatly.org/v1beta1\nkind: GrafanaDashboard\nmetadata: {name: x}\nspec:\n  instanceSelector: {}\n  configMap: {name: c, key: k}\n",
			wantErr: true,
		},
		{
			name:    "kind without a Go type",
			doc:     "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Errorf("decodeStrict error = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}
