package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/monitoringgen"
)

// TestGeneratedFilesUpToDate checks that the rule files and dashboards in the repository are
// what the mixin generates today: one source, nothing edited by hand.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root := repoRoot(t)
	files, err := monitoringgen.Generate(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		monitoringgen.ConsoleDashboardFile,
		monitoringgen.PrometheusRuleFile,
		monitoringgen.GrafanaDashboardFile,
		monitoringgen.RulesFile,
		// The Helm chart's copies (deploy/helm/sensorprobe/files).
		monitoringgen.ChartRulesFile,
		monitoringgen.ChartGrafanaDashboardFile,
		monitoringgen.ChartConsoleDashboardFile,
	}
	if diff := cmp.Diff(sortedCopy(want), monitoringgen.Paths(files)); diff != "" {
		t.Errorf("generated files (-want +got):\n%s", diff)
	}
	for _, p := range monitoringgen.Paths(files) {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%v; run make generate", err)
			continue
		}
		if diff := cmp.Diff(string(files[p]), string(got)); diff != "" {
			t.Errorf("%s differs from what mixin/ generates; run make generate (-generated +file):\n%s", p, diff)
		}
	}
}

// TestMixinWithReferenceJsonnet evaluates the mixin with the jsonnet command (the reference
// C++ implementation, Debian package jsonnet) and checks it agrees with go-jsonnet, which
// generates the files: the mixin is usable with either. Without jsonnet the test skips with a
// hint, except in CI.
func TestMixinWithReferenceJsonnet(t *testing.T) {
	bin, err := exec.LookPath("jsonnet")
	if err != nil {
		const hint = "jsonnet not found in PATH; install it with `apt-get install jsonnet`"
		if os.Getenv("CI") != "" {
			t.Fatal(hint)
		}
		t.Skip(hint)
	}
	root := repoRoot(t)
	cmd := exec.CommandContext(t.Context(), bin, "-J", monitoringgen.MixinDir, "-e",
		`local m = import "mixin.libsonnet"; {groups: m.prometheusRules.groups + m.prometheusAlerts.groups, grafana: m.grafanaDashboards, console: m.openshiftConsoleDashboards}`)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jsonnet: %v\n%s", err, stderr.String())
	}
	var ref map[string]any
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := monitoringgen.Evaluate(os.DirFS(root), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"groups": m.Groups, "grafana": m.GrafanaDashboards, "console": m.ConsoleDashboards})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ref, got); diff != "" {
		t.Errorf("go-jsonnet differs from %s (-jsonnet +go-jsonnet):\n%s", bin, diff)
	}
}
