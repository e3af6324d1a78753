package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	rulesFile          = "deploy/rules/sensorprobe-rules.yaml"
	rulesTestDir       = "deploy/rules/tests"
	prometheusRuleFile = "deploy/components/monitoring/prometheusrule.yaml"
	runbooksFile       = "docs/runbooks.md"
	runbookURLPrefix   = "https://github.com/sensorprobe/sensorprobe/blob/main/docs/runbooks.md#"
)

// rulesFileContent is a Prometheus rule file, decoded into the Prometheus
// Operator's types so that the PrometheusRule generated from it is known to
// hold the same fields.
type rulesFileContent struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// loadRules strictly decodes the rules file.
func loadRules(t *testing.T) rulesFileContent {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict(readRepoFile(t, rulesFile))
	if err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rf rulesFileContent
	strictErrs, err := json.UnmarshalStrict(j, &rf)
	if err == nil && len(strictErrs) > 0 {
		err = errors.Join(strictErrs...)
	}
	if err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rf
}

// alertRules returns every alerting rule of rf, in file order.
func alertRules(rf rulesFileContent) []monitoringv1.Rule {
	var out []monitoringv1.Rule
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// prometheusRuleHeader is what the generated PrometheusRule has before the
// rules file's groups.
const prometheusRuleHeader = `# GENERATED from deploy/rules/sensorprobe-rules.yaml; DO NOT EDIT.
# Regenerate: SENSORPROBE_UPDATE=1 go test ./internal/deploytest/ -run TestPrometheusRuleMatchesRulesFile
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: sensorprobe
  namespace: stackrox
  labels:
    app.kubernetes.io/name: sensorprobe
spec:
`

// generatePrometheusRule wraps the rules file's groups, from the `groups:`
// line on, into a PrometheusRule's spec, keeping the text (and its comments)
// as written.
func generatePrometheusRule(rules []byte) ([]byte, error) {
	i := bytes.Index(rules, []byte("\ngroups:"))
	if i < 0 {
		return nil, errors.New("rules file has no top-level groups: line")
	}
	var b bytes.Buffer
	b.WriteString(prometheusRuleHeader)
	for line := range strings.SplitAfterSeq(string(rules[i+1:]), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes(), nil
}

// TestPrometheusRuleMatchesRulesFile checks that the PrometheusRule shipped
// in the overlays is the rules file: byte for byte as generated, and field
// for field once rendered by kustomize.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	want, err := generatePrometheusRule(readRepoFile(t, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot(t), filepath.FromSlash(prometheusRuleFile))
	if os.Getenv("SENSORPROBE_UPDATE") != "" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale; regenerate it with SENSORPROBE_UPDATE=1 go test ./internal/deploytest/ -run %s (-want +got):\n%s",
			prometheusRuleFile, t.Name(), diff)
	}

	groups := loadRules(t).Groups
	for _, overlay := range []string{"deploy/overlays/kubernetes", "deploy/overlays/openshift"} {
		t.Run(overlay, func(t *testing.T) {
			pr := only[*monitoringv1.PrometheusRule](t, render(t, overlay))
			if diff := cmp.Diff(groups, pr.Spec.Groups); diff != "" {
				t.Errorf("rendered PrometheusRule differs from %s (-want +got):\n%s", rulesFile, diff)
			}
		})
	}
}

// TestRulesPromtool runs `promtool check rules` on the rules file and
// `promtool test rules` on every test file.
func TestRulesPromtool(t *testing.T) {
	root := repoRoot(t)
	if out, ok := runPromtool(t, root, "check", "rules", filepath.FromSlash(rulesFile)); !ok {
		t.Errorf("promtool check rules %s failed:\n%s", rulesFile, out)
	}
	tests := testFiles(t)
	out, ok := runPromtool(t, root, append([]string{"test", "rules"}, tests...)...)
	if !ok {
		t.Errorf("promtool test rules failed:\n%s", out)
	}
	for _, f := range tests {
		if !strings.Contains(out, filepath.Base(f)) {
			t.Errorf("promtool output does not mention %s; did it run?\n%s", f, out)
		}
	}
}

// TestPromtoolCatchesWrongExpectation makes sure a failing promtool unit test
// fails the run, so TestRulesPromtool cannot pass by accident.
func TestPromtoolCatchesWrongExpectation(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	rules, err := filepath.Rel(dir, filepath.Join(root, filepath.FromSlash(rulesFile)))
	if err != nil {
		t.Fatal(err)
	}
	// The target is down for 20 minutes, so SensorProbeTargetDown fires;
	// expecting silence must fail.
	test := fmt.Sprintf(`rule_files: [%q]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="sensorprobe", node="worker-1"}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 20m
        alertname: SensorProbeTargetDown
        exp_alerts: []
`, filepath.ToSlash(rules))
	if err := os.WriteFile(filepath.Join(dir, "wrong.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, ok := runPromtool(t, dir, "test", "rules", "wrong.yaml"); ok {
		t.Errorf("promtool test rules passed a test whose expectation is wrong:\n%s", out)
	}
}

// promtoolTestFile is the part of a promtool unit-test file this package reads.
type promtoolTestFile struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			EvalTime  string           `json:"eval_time"`
			Alertname string           `json:"alertname"`
			ExpAlerts []map[string]any `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// testFiles lists the promtool test files, relative to the repository root.
func testFiles(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot(t), filepath.FromSlash(rulesTestDir), "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no promtool test files in %s", rulesTestDir)
	}
	var rel []string
	for _, m := range matches {
		r, err := filepath.Rel(repoRoot(t), m)
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	return rel
}

// TestEveryAlertHasFiringAndSilentCases checks the promtool test files
// cover each alert at least once firing and once staying silent, load the
// rules file itself, and name no alert that does not exist (a misspelt
// alertname would make a silent case pass vacuously).
func TestEveryAlertHasFiringAndSilentCases(t *testing.T) {
	type coverage struct{ Firing, Silent int }
	got := map[string]coverage{}
	known := map[string]bool{}
	for _, r := range alertRules(loadRules(t)) {
		known[r.Alert] = true
		got[r.Alert] = coverage{}
	}
	for _, f := range testFiles(t) {
		var tf promtoolTestFile
		if err := yaml.Unmarshal(readRepoFile(t, filepath.ToSlash(f)), &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := []string{"../sensorprobe-rules.yaml"}; !slices.Equal(tf.RuleFiles, want) {
			t.Errorf("%s: rule_files = %q, want %q", f, tf.RuleFiles, want)
		}
		for _, tc := range tf.Tests {
			for _, art := range tc.AlertRuleTest {
				if !known[art.Alertname] {
					t.Errorf("%s, test %q: alert %q is not in %s", f, tc.Name, art.Alertname, rulesFile)
					continue
				}
				c := got[art.Alertname]
				if len(art.ExpAlerts) > 0 {
					c.Firing++
				} else {
					c.Silent++
				}
				got[art.Alertname] = c
			}
		}
	}
	for name, c := range got {
		if c.Firing == 0 || c.Silent == 0 {
			t.Errorf("alert %s: %d firing and %d silent cases in %s, want at least one of each", name, c.Firing, c.Silent, rulesTestDir)
		}
	}
}

// clusterWideAlerts are the alerts that cannot name a node: they compare
// the DaemonSet's desired pods with the probes reporting, and the nodes that
// have no probe have no sensorprobe series to take a node label from.
func clusterWideAlerts() []string { return []string{"SensorProbeMissingOnNodes"} }

// TestAlertLabelsAndAnnotations checks what every alert carries: a
// severity, a summary, a description naming the node (the DaemonSet for
// clusterWideAlerts) and the path, and a runbook_url whose anchor is a
// section of docs/runbooks.md.
func TestAlertLabelsAndAnnotations(t *testing.T) {
	anchors := markdownAnchors(string(readRepoFile(t, runbooksFile)))
	for _, r := range alertRules(loadRules(t)) {
		t.Run(r.Alert, func(t *testing.T) {
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("severity = %q, want warning or critical", s)
			}
			if r.Annotations["summary"] == "" {
				t.Error("no summary")
			}
			d := r.Annotations["description"]
			if slices.Contains(clusterWideAlerts(), r.Alert) {
				if !strings.Contains(d, "{{ $labels.daemonset }}") {
					t.Errorf("description of a cluster-wide alert does not name the DaemonSet: %q", d)
				}
			} else if !strings.Contains(d, "{{ $labels.node }}") {
				t.Errorf("description does not name the node ({{ $labels.node }}): %q", d)
			}
			if !strings.Contains(d, "path") {
				t.Errorf("description does not name the path: %q", d)
			}
			wantURL := runbookURLPrefix + strings.ToLower(r.Alert)
			if got := r.Annotations["runbook_url"]; got != wantURL {
				t.Errorf("runbook_url = %q, want %q", got, wantURL)
			}
			if !anchors[strings.ToLower(r.Alert)] {
				t.Errorf("%s has no section whose anchor is %q", runbooksFile, strings.ToLower(r.Alert))
			}
		})
	}
}

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown document: lower case, punctuation dropped, spaces to hyphens.
func markdownAnchors(doc string) map[string]bool {
	punct := regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	anchors := map[string]bool{}
	inFence := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		h = punct.ReplaceAllString(strings.ToLower(h), "")
		anchors[strings.ReplaceAll(h, " ", "-")] = true
	}
	return anchors
}

func TestMarkdownAnchors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{name: "alert name", doc: "## SensorProbeTargetDown\n", want: []string{"sensorprobetargetdown"}},
		{name: "words and punctuation", doc: "# Install on a cluster (OpenShift)\n", want: []string{"install-on-a-cluster-openshift"}},
		{name: "code fence is not a heading", doc: "```\n# not a heading\n```\n## Yes\n", want: []string{"yes"}},
		{name: "plain text", doc: "no heading here\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for a := range markdownAnchors(tt.doc) {
				got = append(got, a)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("markdownAnchors (-want +got):\n%s", diff)
			}
		})
	}
}
