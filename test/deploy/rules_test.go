package deploy

import (
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
	"github.com/prometheus/common/model"
	"sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/sensorprobe/sensorprobe/internal/monitoringgen"
)

const (
	rulesFile        = monitoringgen.RulesFile
	rulesTestDir     = "deploy/rules/tests"
	runbooksFile     = "docs/runbooks.md"
	runbookURLPrefix = "https://github.com/sensorprobe/sensorprobe/blob/main/docs/runbooks.md#"
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

// TestPrometheusRuleRendered checks that the PrometheusRule the overlays ship holds the rules
// file's groups field for field once kustomize has rendered it (runbook-url.yaml included).
func TestPrometheusRuleRendered(t *testing.T) {
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

// TestRunbookURLOverride renders an overlay of the kind docs/install.md shows for a
// disconnected cluster, which points every runbook_url at a mirror, and checks that every
// alert's link moved and nothing else changed.
func TestRunbookURLOverride(t *testing.T) {
	dir := t.TempDir()
	// kustomize takes bases by relative path only.
	base, err := filepath.Rel(dir, filepath.Join(repoRoot(t), "deploy", "overlays", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	const mirror = "https://docs.example.internal/sensorprobe/runbooks.html"
	files := map[string]string{
		"kustomization.yaml": fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
  - runbook-url.yaml
replacements:
  - source: {kind: ConfigMap, name: my-runbook-url, fieldPath: data.url}
    targets:
      - select: {kind: PrometheusRule, name: sensorprobe}
        fieldPaths: ["spec.groups.*.rules.*.annotations.runbook_url"]
        options: {delimiter: "#", index: 0}
`, base),
		"runbook-url.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: my-runbook-url
  annotations: {config.kubernetes.io/local-config: "true"}
data: {url: "` + mirror + `"}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pr := only[*monitoringv1.PrometheusRule](t, renderDir(t, dir))
	want := loadRules(t).Groups
	n := 0
	for gi, g := range want {
		for ri, r := range g.Rules {
			if u, ok := r.Annotations["runbook_url"]; ok {
				want[gi].Rules[ri].Annotations["runbook_url"] = mirror + "#" + strings.TrimPrefix(u, runbookURLPrefix)
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert has a runbook_url")
	}
	if diff := cmp.Diff(want, pr.Spec.Groups); diff != "" {
		t.Errorf("PrometheusRule with the mirrored runbooks (-want +got):\n%s", diff)
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

// nodeAlerts are the alerts about one node, which carry its node label; every other alert is
// about a namespace's probes as a whole (one alert per fault domain, not per node).
func nodeAlerts() []string { return []string{"SensorProbeNoPathToSensor", "SensorProbePathDown"} }

// kubeStateMetricsAlerts are the alerts computed from kube-state-metrics' series, whose job is
// kube-state-metrics', so they keep namespace and the DaemonSet instead of job.
func kubeStateMetricsAlerts() []string { return []string{"SensorProbeMissingOnNodes"} }

// TestAlertLabelsAndAnnotations checks what every alert carries: a severity; a summary; a
// description naming the node (node alerts) or the namespace (the others) and mentioning the
// path(s) concerned; what it means for VM scanning (impact) and how urgent it is, in step
// with the severity; and a runbook_url whose anchor is a section of docs/runbooks.md.
func TestAlertLabelsAndAnnotations(t *testing.T) {
	anchors := markdownAnchors(string(readRepoFile(t, runbooksFile)))
	for _, r := range alertRules(loadRules(t)) {
		t.Run(r.Alert, func(t *testing.T) {
			severity := r.Labels["severity"]
			if severity != "warning" && severity != "critical" {
				t.Errorf("severity = %q, want warning or critical", severity)
			}
			for _, a := range []string{"summary", "description", "impact", "urgency"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("no %s annotation", a)
				}
			}
			if want := strings.ToUpper(severity[:1]) + severity[1:] + ":"; !strings.HasPrefix(r.Annotations["urgency"], want) {
				t.Errorf("urgency %q does not start with %q", r.Annotations["urgency"], want)
			}
			if !strings.Contains(r.Annotations["impact"], "VM") {
				t.Errorf("impact does not say what it means for VM scanning: %q", r.Annotations["impact"])
			}
			d := r.Annotations["description"]
			scope := "{{ $labels.namespace }}"
			if slices.Contains(nodeAlerts(), r.Alert) {
				scope = "{{ $labels.node }}"
			}
			if !strings.Contains(d, scope) {
				t.Errorf("description does not name %s: %q", scope, d)
			}
			if !strings.Contains(strings.ToLower(d), "path") {
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

// TestAggregationsKeepNamespaceAndJob checks every `by (...)` and `on (...)` of every rule
// keeps the cluster label, namespace and job, so that alerts route by namespace (the
// kube-prometheus default) and several installations or clusters never merge. An
// `ignoring (...)` may leave out job (a join of sensor's series with the probes', which are
// two jobs) and other labels, never the cluster label or namespace.
func TestAggregationsKeepNamespaceAndJob(t *testing.T) {
	clause := regexp.MustCompile(`\b(by|on|ignoring)\s*\(([^)]*)\)`)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			want := []string{"cluster", "namespace", "job"}
			if slices.Contains(kubeStateMetricsAlerts(), r.Alert) {
				want = []string{"cluster", "namespace"}
			}
			for _, m := range clause.FindAllStringSubmatch(r.Expr.String(), -1) {
				var labels []string
				for l := range strings.SplitSeq(m[2], ",") {
					labels = append(labels, strings.TrimSpace(l))
				}
				if m[1] == "ignoring" {
					for _, l := range []string{"cluster", "namespace"} {
						if slices.Contains(labels, l) {
							t.Errorf("%s: ignoring (%s) drops %s", name, m[2], l)
						}
					}
					continue
				}
				for _, w := range want {
					if !slices.Contains(labels, w) {
						t.Errorf("%s: %s (%s) drops %s", name, m[1], m[2], w)
					}
				}
			}
		}
	}
}

// scenarioCheck is what TestOnePagePerFault and TestSilentScenarios read from the promtool
// test files: at a test's last evaluation time, which alerts it names and how many alerts it
// expects in all.
type scenarioCheck struct {
	File, Name string
	Named      map[string]int
	Expected   int
}

// scenarios returns the promtool tests whose name starts with prefix, each at its last
// evaluation time.
func scenarios(t *testing.T, prefix string) []scenarioCheck {
	t.Helper()
	var out []scenarioCheck
	for _, f := range testFiles(t) {
		var tf promtoolTestFile
		if err := yaml.Unmarshal(readRepoFile(t, filepath.ToSlash(f)), &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			if !strings.HasPrefix(tc.Name, prefix) {
				continue
			}
			var last model.Duration
			for _, art := range tc.AlertRuleTest {
				d, err := model.ParseDuration(art.EvalTime)
				if err != nil {
					t.Fatalf("%s, test %q: eval_time %q: %v", f, tc.Name, art.EvalTime, err)
				}
				last = max(last, d)
			}
			sc := scenarioCheck{File: f, Name: tc.Name, Named: map[string]int{}}
			for _, art := range tc.AlertRuleTest {
				if d, _ := model.ParseDuration(art.EvalTime); d == last {
					sc.Named[art.Alertname]++
					sc.Expected += len(art.ExpAlerts)
				}
			}
			out = append(out, sc)
		}
	}
	return out
}

// alertNames returns the distinct alert names of the rules file.
func alertNames(t *testing.T) []string {
	var names []string
	for _, r := range alertRules(loadRules(t)) {
		if !slices.Contains(names, r.Alert) {
			names = append(names, r.Alert)
		}
	}
	return names
}

// checkScenarios checks each scenario names every alert exactly once at its last evaluation
// and expects want alerts in all, and that a scenario exists for each of required.
func checkScenarios(t *testing.T, prefix string, want int, required []string) {
	names := alertNames(t)
	found := scenarios(t, prefix)
	for _, sc := range found {
		for _, n := range names {
			if sc.Named[n] != 1 {
				t.Errorf("%s, test %q: alert %s named %d times at the last evaluation, want once", sc.File, sc.Name, n, sc.Named[n])
			}
		}
		if sc.Expected != want {
			t.Errorf("%s, test %q: %d alerts expected at the last evaluation, want %d", sc.File, sc.Name, sc.Expected, want)
		}
	}
	for _, r := range required {
		if !slices.ContainsFunc(found, func(sc scenarioCheck) bool { return strings.Contains(sc.Name, r) }) {
			t.Errorf("no promtool test %q… for %q", prefix, r)
		}
	}
}

// TestOnePagePerFault checks the shape of the "one page:" promtool tests: each reproduces a
// fault and, at its last evaluation, expects exactly one alert among all the alerts, for each
// fault the issue names. TestRulesPromtool runs them.
func TestOnePagePerFault(t *testing.T) {
	checkScenarios(t, "one page:", 1, []string{
		"sensor down, every node",
		"one node's network broken",
		"ClusterIP blocked on every node",
		"a crash-looping probe",
		"sensor certificate expires",
		"hostPort workaround on the nodes without sensor",
		// RHACS 4.12 pull mode.
		"a VM without VSOCK",
		"agents down, read_error",
		"virt-handler down on a node",
		"central unreachable, send_error",
		"sensor may not open the vsock subresource",
	})
}

// TestSilentScenarios checks the shape of the "silent:" promtool tests: at the last
// evaluation every alert is named and none is expected; the stock install, a healthy
// pull-mode cluster and a push cluster without pull metrics are among them.
func TestSilentScenarios(t *testing.T) {
	checkScenarios(t, "silent:", 0, []string{"stock install", "healthy pull cluster", "push cluster, pull metrics absent"})
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
