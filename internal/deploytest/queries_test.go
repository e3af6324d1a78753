package deploytest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	dashboardFile = "dashboards/sensorprobe.json"
	metricsDoc    = "docs/metrics.md"
	// relayMetricPrefix is the namespace of the RHACS compliance VM relay's
	// own metrics (RHACS-FACTS.md); the dashboard shows them when they exist.
	relayMetricPrefix = "rox_compliance_virtual_machine_relay_"
)

// relayMetrics are the relay's metric names across RHACS 4.9 to 4.11.
func relayMetrics() []string {
	return []string{
		relayMetricPrefix + "index_reports_received_total",
		relayMetricPrefix + "index_reports_sent_total",
		relayMetricPrefix + "vsock_connections_accepted_total",
		relayMetricPrefix + "connections_accepted_total",
		relayMetricPrefix + "index_report_send_attempts_total",
	}
}

// externalMetrics are the few series the rules use that other exporters
// provide: Prometheus' own `up`, and kube-state-metrics' DaemonSet status
// (shipped with OpenShift monitoring and kube-prometheus-stack).
func externalMetrics() []string {
	return []string{"up", "kube_daemonset_status_desired_number_scheduled"}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// allPanels flattens rows' nested panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readRepoFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// namedQuery is one PromQL expression and where it comes from.
type namedQuery struct {
	From string
	Expr string
}

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets and the selectors inside the variables' label_values().
func dashboardQueries(t *testing.T, d dashboard) []namedQuery {
	t.Helper()
	var qs []namedQuery
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, namedQuery{From: fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), Expr: tg.Expr})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: definition %q is not label_values(<selector>, <label>)", v.Name, v.Definition)
			continue
		}
		qs = append(qs, namedQuery{From: "variable " + v.Name, Expr: m[1]})
	}
	return qs
}

// ruleQueries returns the expression of every rule in the rules file.
func ruleQueries(t *testing.T) []namedQuery {
	t.Helper()
	var qs []namedQuery
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, namedQuery{From: "rule " + r.Alert + r.Record, Expr: r.Expr.String()})
		}
	}
	return qs
}

// substituteGrafanaVariables replaces Grafana's variables with values that
// keep the query valid PromQL, so promtool can parse it.
func substituteGrafanaVariables(expr string) string {
	return regexp.MustCompile(`\$\{?(\w+)\}?`).ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__range":
			return "5m"
		case "__interval":
			return "1m"
		default:
			return ".*"
		}
	})
}

func TestSubstituteGrafanaVariables(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "rate interval", in: `rate(x[$__rate_interval])`, want: `rate(x[5m])`},
		{name: "label variables", in: `x{node=~"$node", cluster=~"${cluster}"}`, want: `x{node=~".*", cluster=~".*"}`},
		{name: "no variables", in: `up == 0`, want: `up == 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, substituteGrafanaVariables(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestQueriesParse wraps every dashboard and alert query as a recording
// rule and has `promtool check rules` parse them all.
func TestQueriesParse(t *testing.T) {
	qs := slices.Concat(dashboardQueries(t, loadDashboard(t)), ruleQueries(t))
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	type group struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	}
	g := group{Name: "queries"}
	for i, q := range qs {
		g.Rules = append(g.Rules, rule{Record: fmt.Sprintf("query_%d", i), Expr: substituteGrafanaVariables(q.Expr)})
	}
	y, err := yaml.Marshal(map[string][]group{"groups": {g}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "queries.yaml"), y, 0o644); err != nil {
		t.Fatal(err)
	}
	out, ok := runPromtool(t, dir, "check", "rules", "queries.yaml")
	if !ok {
		// promtool names the failing record: map it back to where it came from.
		for i, q := range qs {
			if strings.Contains(out, fmt.Sprintf("query_%d:", i)) || strings.Contains(out, fmt.Sprintf("%q", fmt.Sprintf("query_%d", i))) {
				t.Errorf("%s does not parse: %s", q.From, q.Expr)
			}
		}
		t.Fatalf("promtool check rules on %d wrapped queries failed:\n%s", len(qs), out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(qs)); !strings.Contains(out, want) {
		t.Errorf("promtool output lacks %q:\n%s", want, out)
	}
}

// documentedMetrics returns the metric names in the first column of the
// tables of docs/metrics.md.
func documentedMetrics(doc string) map[string]bool {
	names := map[string]bool{}
	row := regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|")
	for line := range strings.SplitSeq(doc, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// metricNames returns the metric names an expression uses: identifiers
// outside string literals that are sensorprobe's, the relay's, recorded
// (with a colon), or one of externalMetrics.
func metricNames(expr string) []string {
	noStrings := regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`).ReplaceAllString(expr, `""`)
	var out []string
	for _, id := range regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`).FindAllString(noStrings, -1) {
		if strings.HasPrefix(id, "sensorprobe_") || strings.HasPrefix(id, "rox_") ||
			strings.Contains(id, ":") || slices.Contains(externalMetrics(), id) {
			out = append(out, id)
		}
	}
	return out
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{name: "selector and labels", expr: `sensorprobe_path_up{path="clusterip"} == 0`, want: []string{"sensorprobe_path_up"}},
		{name: "label value that looks like a metric", expr: `up{job="sensorprobe_x"}`, want: []string{"up"}},
		{name: "recorded and histogram", expr: `a:b:c > histogram_quantile(0.9, rate(sensorprobe_d_bucket[5m]))`, want: []string{"a:b:c", "sensorprobe_d_bucket"}},
		{name: "functions and by labels are not metrics", expr: `sum by (node) (rate(x[5m]))`, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, metricNames(tt.expr)); diff != "" {
				t.Errorf("metricNames(%q) (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}

// TestMetricNamesDocumented checks every metric name used by the alerts and
// the dashboard is in docs/metrics.md (the exposition's contract), is one of
// the relay's metrics, is recorded by the rules file, or is one of the few
// external series the rules rely on.
func TestMetricNamesDocumented(t *testing.T) {
	known := documentedMetrics(string(readRepoFile(t, metricsDoc)))
	if len(known) < 10 {
		t.Fatalf("found only %d metric names in %s; has its table format changed?", len(known), metricsDoc)
	}
	for _, m := range slices.Concat(relayMetrics(), externalMetrics()) {
		known[m] = true
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	// The histogram's series.
	for name := range known {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(name, "_seconds") {
				known[name+suffix] = true
			}
		}
	}
	qs := slices.Concat(dashboardQueries(t, loadDashboard(t)), ruleQueries(t))
	used := 0
	for _, q := range qs {
		for _, name := range metricNames(q.Expr) {
			used++
			if !known[name] {
				t.Errorf("%s uses %s, which is neither in %s nor a relay or external metric", q.From, name, metricsDoc)
			}
		}
	}
	if used == 0 {
		t.Fatal("no metric names found in any query")
	}
}

// TestDashboard checks the dashboard's shape: current schema, the
// datasource, cluster and node variables, every panel on the datasource
// variable, unique panel IDs, and the panels issue 6 asks for.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q and title %q must be set", d.UID, d.Title)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want 39 or later", d.SchemaVersion)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Type+" "+v.Name)
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s does not query the datasource variable", v.Name)
		}
	}
	if diff := cmp.Diff([]string{"datasource datasource", "query cluster", "query node"}, vars); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
	ids := map[int]bool{}
	var types []string
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		types = append(types, p.Type)
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `node=~"$node"`) || !strings.Contains(tg.Expr, `cluster=~"$cluster"`) {
				t.Errorf("panel %q target %s ignores the node or cluster variable: %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	// What issue 6 asks for: a node × path timeline, the verdict per node,
	// the i/o-timeout rate, phase heatmaps, VSOCK activity, certificate
	// expiry, the relay's own metrics.
	used := map[string]bool{}
	for _, q := range dashboardQueries(t, d) {
		for _, m := range metricNames(q.Expr) {
			used[m] = true
		}
	}
	for _, m := range []string{
		"sensorprobe_path_up", "sensorprobe_verdict", "sensorprobe_io_timeouts_total",
		"sensorprobe_probe_duration_seconds_bucket", "sensorprobe_vsock_connections_seen_total",
		"sensorprobe_tls_cert_not_after_timestamp_seconds",
		relayMetricPrefix + "index_reports_received_total",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	if !slices.Contains(types, "heatmap") || !slices.Contains(types, "state-timeline") {
		t.Errorf("want heatmap and state-timeline panels, got %v", types)
	}
}

// TestDashboardConfigMap checks deploy/grafana ships the dashboard file,
// unchanged, in a ConfigMap the Grafana sidecar picks up.
func TestDashboardConfigMap(t *testing.T) {
	cm := only[*corev1.ConfigMap](t, render(t, "deploy/grafana"))
	if got := cm.Labels["grafana_dashboard"]; got != "1" {
		t.Errorf("label grafana_dashboard = %q, want \"1\"", got)
	}
	if diff := cmp.Diff(string(readRepoFile(t, dashboardFile)), cm.Data["sensorprobe.json"]); diff != "" {
		t.Errorf("ConfigMap data differs from %s (-want +got):\n%s", dashboardFile, diff)
	}
}
