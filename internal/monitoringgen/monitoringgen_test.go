package monitoringgen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// repoFS returns the repository root as an fs.FS.
func repoFS(t *testing.T) (string, *os.Root) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return root, r
}

// everything returns the rules and both dashboards of m as one text, for searching.
func everything(t *testing.T, m *Mixin) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfig evaluates the mixin with every selector, the cluster label and the runbook URL
// changed, and checks the change reaches every rule and both dashboards with no default left
// behind: the _config is the only place these live.
func TestConfig(t *testing.T) {
	_, r := repoFS(t)
	defaults, err := Evaluate(r.FS(), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Evaluate(r.FS(), `{
		sensorprobeSelector: 'job="probe-x"',
		kubeStateMetricsSelector: 'job="ksm-x"',
		daemonSetSelector: 'daemonset="probe-ds-x"',
		clusterLabel: 'k8s_cluster_x',
		runbookURLPattern: 'https://mirror.example/rb.html#%s',
	}`)
	if err != nil {
		t.Fatal(err)
	}
	all := everything(t, m)
	for _, gone := range []string{`job=\"sensorprobe\"`, `job=\"kube-state-metrics\"`, `daemonset=\"sensorprobe\"`, "github.com/sensorprobe/sensorprobe/blob/main/docs/runbooks.md#"} {
		if strings.Contains(all, gone) {
			t.Errorf("%s is still in the output", gone)
		}
	}
	// The default cluster label, as a label name: in by/on lists and matchers.
	if regexp.MustCompile(`[(, ]cluster[,)=]`).MatchString(all) {
		t.Error("the default cluster label is still in the output")
	}
	for _, want := range []string{`job=\"probe-x\"`, `job=\"ksm-x\"`, `daemonset=\"probe-ds-x\"`, "k8s_cluster_x", "https://mirror.example/rb.html#sensorprobetargetdown"} {
		if !strings.Contains(all, want) {
			t.Errorf("%s is not in the output", want)
		}
	}
	// Only those differ: same rules, same dashboards otherwise.
	if len(m.Groups) != len(defaults.Groups) {
		t.Fatalf("%d groups with the changed config, %d by default", len(m.Groups), len(defaults.Groups))
	}
	for i := range m.Groups {
		if len(m.Groups[i].Rules) != len(defaults.Groups[i].Rules) {
			t.Errorf("group %s: %d rules, %d by default", m.Groups[i].Name, len(m.Groups[i].Rules), len(defaults.Groups[i].Rules))
		}
	}
}

// TestFilesShape checks what Files renders from the default configuration: the four files and
// the chart's copies of three of them, a header that says where they come from, and YAML that
// keeps PromQL as written.
func TestFilesShape(t *testing.T) {
	_, r := repoFS(t)
	files, err := Generate(r.FS())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ConsoleDashboardFile, PrometheusRuleFile, GrafanaDashboardFile, RulesFile,
		ChartRulesFile, ChartGrafanaDashboardFile, ChartConsoleDashboardFile}
	if diff := cmp.Diff(slices.Sorted(slices.Values(want)), Paths(files)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for chart, orig := range map[string]string{ChartRulesFile: RulesFile, ChartGrafanaDashboardFile: GrafanaDashboardFile} {
		if string(files[chart]) != string(files[orig]) {
			t.Errorf("%s is not a copy of %s", chart, orig)
		}
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(files[ConsoleDashboardFile], &cm); err != nil {
		t.Fatalf("%s: %v", ConsoleDashboardFile, err)
	}
	if cm.Data[consoleDashboardName] != string(files[ChartConsoleDashboardFile]) {
		t.Errorf("%s is not the dashboard of %s", ChartConsoleDashboardFile, ConsoleDashboardFile)
	}
	for _, p := range []string{RulesFile, PrometheusRuleFile, ConsoleDashboardFile} {
		if !strings.HasPrefix(string(files[p]), "# GENERATED from mixin/ by make generate; DO NOT EDIT.\n") {
			t.Errorf("%s lacks the generated-file header", p)
		}
	}
	if !strings.Contains(string(files[RulesFile]), "expr: |\n") {
		t.Errorf("%s keeps no multi-line expression as a literal block", RulesFile)
	}
	var d map[string]any
	if err := json.Unmarshal(files[GrafanaDashboardFile], &d); err != nil {
		t.Errorf("%s: %v", GrafanaDashboardFile, err)
	}
}

// TestImporter checks the importer resolves imports relative to the importing file, returns
// the same contents for the same file, and reports a missing file.
func TestImporter(t *testing.T) {
	fsys := fstest.MapFS{
		"mixin/mixin.libsonnet":     {Data: []byte(`(import 'lib/a.libsonnet') + { b: (import 'lib/b.libsonnet').v }`)},
		"mixin/lib/a.libsonnet":     {Data: []byte(`{ a: (import 'b.libsonnet').v }`)},
		"mixin/lib/b.libsonnet":     {Data: []byte(`{ v: 1 }`)},
		"mixin/missing.libsonnet":   {Data: []byte(`import 'nope.libsonnet'`)},
		"mixin/config.libsonnet":    {Data: []byte(`{}`)},
		"elsewhere/mixin.libsonnet": {Data: []byte(`{}`)},
	}
	im := &fsImporter{fsys: fsys, dir: MixinDir}
	c1, at1, err := im.Import("", "mixin.libsonnet")
	if err != nil || at1 != "mixin/mixin.libsonnet" {
		t.Fatalf("Import mixin.libsonnet = %q, %v", at1, err)
	}
	if _, at, err := im.Import("mixin/lib/a.libsonnet", "b.libsonnet"); err != nil || at != "mixin/lib/b.libsonnet" {
		t.Errorf("relative import = %q, %v; want mixin/lib/b.libsonnet", at, err)
	}
	c2, _, _ := im.Import("", "mixin.libsonnet")
	if &c1.Data()[0] != &c2.Data()[0] {
		t.Error("a second import of the same file returned other contents")
	}
	if _, _, err := im.Import("mixin/missing.libsonnet", "nope.libsonnet"); err == nil {
		t.Error("importing a missing file succeeded")
	}
}

// TestValidate checks the checks JSON decoding cannot make.
func TestValidate(t *testing.T) {
	dash := map[string]json.RawMessage{"d.json": json.RawMessage(`{}`)}
	tests := []struct {
		name    string
		groups  []RuleGroup
		wantErr string
	}{
		{name: "valid", groups: []RuleGroup{{Name: "g", Rules: []Rule{{Record: "a:b", Expr: "up"}, {Alert: "A", Expr: "up"}}}}},
		{name: "both record and alert", groups: []RuleGroup{{Name: "g", Rules: []Rule{{Record: "a:b", Alert: "A", Expr: "up"}}}}, wantErr: "exactly one"},
		{name: "neither", groups: []RuleGroup{{Name: "g", Rules: []Rule{{Expr: "up"}}}}, wantErr: "exactly one"},
		{name: "recorded twice", groups: []RuleGroup{{Name: "g", Rules: []Rule{{Record: "a:b", Expr: "up"}, {Record: "a:b", Expr: "up"}}}}, wantErr: "recorded twice"},
		{name: "empty expr", groups: []RuleGroup{{Name: "g", Rules: []Rule{{Alert: "A", Expr: " "}}}}, wantErr: "empty expr"},
		{name: "no groups", wantErr: "no rule groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Mixin{Groups: tt.groups, GrafanaDashboards: dash, ConsoleDashboards: dash}).validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
