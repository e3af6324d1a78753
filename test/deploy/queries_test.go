package deploy

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

	"github.com/sensorprobe/sensorprobe/internal/monitoringgen"
)

const (
	dashboardFile = monitoringgen.GrafanaDashboardFile
	metricsDoc    = "docs/metrics.md"
	// relayMetricPrefix is the namespace of the RHACS compliance VM relay's
	// own metrics (compliance/virtualmachines/relay in the stackrox sources,
	// 4.9.0 to 4.11.2); the dashboard shows them when they exist.
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

// sensorPullMetrics are RHACS sensor's own metrics of its VM scraper (the 4.12 line, pull
// mode: sensor/common/virtualmachine/vmscraper at stackrox master bed4a7b2427), scraped from
// sensor's monitoring port; the pull-mode alerts and the dashboard's pull-mode row read them.
func sensorPullMetrics() []string {
	const prefix = "rox_sensor_vsock_pull_"
	return []string{
		prefix + "requests_total",
		prefix + "tracked_vms",
		prefix + "dial_duration_seconds",
		prefix + "read_duration_seconds",
		prefix + "total_duration_seconds",
		prefix + "tick_duration_seconds",
	}
}

// externalMetrics are the few series the rules and dashboards use that other exporters
// provide: Prometheus' own `up`, and kube-state-metrics' DaemonSet status (shipped with
// OpenShift monitoring and kube-prometheus-stack).
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
			AllValue   string          `json:"allValue"`
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

// consoleDashboard is the part of an OpenShift console dashboard the tests read: the legacy
// `rows` form, with the fields the console's renderer uses.
type consoleDashboard struct {
	Title      string `json:"title"`
	Rows       []consoleRow
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      string `json:"query"`
			IncludeAll bool   `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
}

type consoleRow struct {
	Title     string         `json:"title"`
	ShowTitle bool           `json:"showTitle"`
	Panels    []consolePanel `json:"panels"`
}

type consolePanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Span    int    `json:"span"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Styles []struct {
		Pattern string `json:"pattern"`
		Alias   string `json:"alias"`
		Type    string `json:"type"`
	} `json:"styles"`
}

// loadConsoleDashboard reads the console dashboard ConfigMap and the dashboard in it.
func loadConsoleDashboard(t *testing.T) (*corev1.ConfigMap, consoleDashboard) {
	t.Helper()
	obj, err := decodeStrict(readRepoFile(t, monitoringgen.ConsoleDashboardFile))
	if err != nil {
		t.Fatalf("%s: %v", monitoringgen.ConsoleDashboardFile, err)
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("%s holds a %T, want a ConfigMap", monitoringgen.ConsoleDashboardFile, obj)
	}
	if len(cm.Data) != 1 {
		t.Fatalf("%s: want one dashboard in data, got keys %v", monitoringgen.ConsoleDashboardFile, cm.Data)
	}
	var d consoleDashboard
	for _, v := range cm.Data {
		dec := json.NewDecoder(strings.NewReader(v))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", monitoringgen.ConsoleDashboardFile, err)
		}
	}
	return cm, d
}

// namedQuery is one PromQL expression and where it comes from.
type namedQuery struct {
	From string
	Expr string
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// dashboardQueries returns every PromQL expression of the Grafana dashboard: the panels'
// targets and the selectors inside the variables' label_values().
func dashboardQueries(t *testing.T, d dashboard) []namedQuery {
	t.Helper()
	var qs []namedQuery
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, namedQuery{From: fmt.Sprintf("grafana panel %d %q target %s", p.ID, p.Title, tg.RefID), Expr: tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("grafana variable %s: definition %q is not label_values(<selector>, <label>)", v.Name, v.Definition)
			continue
		}
		qs = append(qs, namedQuery{From: "grafana variable " + v.Name, Expr: m[1]})
	}
	return qs
}

// consoleQueries returns every PromQL expression of the console dashboard.
func consoleQueries(t *testing.T, d consoleDashboard) []namedQuery {
	t.Helper()
	var qs []namedQuery
	for _, r := range d.Rows {
		for _, p := range r.Panels {
			for _, tg := range p.Targets {
				qs = append(qs, namedQuery{From: fmt.Sprintf("console panel %d %q target %s", p.ID, p.Title, tg.RefID), Expr: tg.Expr})
			}
		}
	}
	for _, v := range d.Templating.List {
		m := labelValues.FindStringSubmatch(v.Query)
		if m == nil {
			t.Errorf("console variable %s: query %q is not label_values(<selector>, <label>)", v.Name, v.Query)
			continue
		}
		qs = append(qs, namedQuery{From: "console variable " + v.Name, Expr: m[1]})
	}
	return qs
}

// allDashboardQueries returns the queries of both dashboards.
func allDashboardQueries(t *testing.T) []namedQuery {
	t.Helper()
	_, cd := loadConsoleDashboard(t)
	return slices.Concat(dashboardQueries(t, loadDashboard(t)), consoleQueries(t, cd))
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

// substituteGrafanaVariables replaces the dashboards' variables with values that keep the
// query valid PromQL: what Grafana or the console put there when "All" is selected.
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

// TestQueriesParse wraps every dashboard and rule query as a recording rule and has
// `promtool check rules` parse them all.
func TestQueriesParse(t *testing.T) {
	qs := slices.Concat(allDashboardQueries(t), ruleQueries(t))
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

// plannedHeading is the heading of docs/metrics.md under which metrics of the issue-10
// design that the probe does not export yet are listed (as bullets, not table rows, so that
// the daemon's own documentation test, which compares the tables with what it exports, is
// not affected).
const plannedHeading = "## Planned"

// documentedMetrics returns the metric names in the first column of the tables of
// docs/metrics.md, and those listed as bullets under plannedHeading.
func documentedMetrics(doc string) map[string]bool {
	names := map[string]bool{}
	row := regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|")
	bullet := regexp.MustCompile("^- `([a-zA-Z_:][a-zA-Z0-9_:]*)`")
	planned := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			planned = strings.HasPrefix(line, plannedHeading)
		}
		if m := row.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
		if m := bullet.FindStringSubmatch(line); planned && m != nil {
			names[m[1]] = true
		}
	}
	return names
}

func TestDocumentedMetrics(t *testing.T) {
	doc := "| `a_total` | counter |\n- `b` gauge\n## Planned (later)\n- `c` gauge\n| x |\n## Next\n- `d` not a metric\n"
	var got []string
	for n := range documentedMetrics(doc) {
		got = append(got, n)
	}
	if diff := cmp.Diff([]string{"a_total", "c"}, sortedCopy(got)); diff != "" {
		t.Errorf("documentedMetrics (-want +got):\n%s", diff)
	}
}

// metricNames returns the metric names an expression uses: identifiers outside string
// literals that are sensorprobe's, the relay's, recorded (with a colon), or one of
// externalMetrics.
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

// knownMetrics returns every metric name a query may use: docs/metrics.md's, the relay's,
// sensor's VM scraper's, the external ones, those the rules file records, and the
// histograms' series.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := documentedMetrics(string(readRepoFile(t, metricsDoc)))
	if len(known) < 10 {
		t.Fatalf("found only %d metric names in %s; has its table format changed?", len(known), metricsDoc)
	}
	for _, m := range slices.Concat(relayMetrics(), sensorPullMetrics(), externalMetrics()) {
		known[m] = true
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	for name := range known {
		if strings.HasSuffix(name, "_seconds") {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				known[name+suffix] = true
			}
		}
	}
	return known
}

// TestMetricNamesDocumented checks every metric name used by the alerts and the dashboards
// is in docs/metrics.md (the exposition's contract), is one of the relay's or sensor's VM
// scraper's metrics, is recorded by the rules file, or is one of the few external series the
// rules rely on.
func TestMetricNamesDocumented(t *testing.T) {
	known := knownMetrics(t)
	used := 0
	for _, q := range slices.Concat(allDashboardQueries(t), ruleQueries(t)) {
		for _, name := range metricNames(q.Expr) {
			used++
			if !known[name] {
				t.Errorf("%s uses %s, which is neither in %s nor a relay, sensor or external metric", q.From, name, metricsDoc)
			}
		}
	}
	if used == 0 {
		t.Fatal("no metric names found in any query")
	}
}

// foreignQuery reports whether a query uses only other exporters' series (the relay's,
// sensor's, kube-state-metrics') rather than sensorprobe's own.
func foreignQuery(expr string) bool {
	for _, m := range metricNames(expr) {
		if strings.HasPrefix(m, "sensorprobe_") || m == "up" {
			return false
		}
	}
	return true
}

// TestDashboard checks the Grafana dashboard's shape: current schema, the datasource,
// cluster, namespace, job and node variables, every query filtered by them, unique panel
// IDs, a fleet row on top, failing node × path pairs in a table rather than one timeline row
// per node × path, and the panels issues 6, 12 and 20 ask for.
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
		if v.Type == "query" && v.AllValue != ".*" {
			t.Errorf("variable %s: allValue %q, want .* (so that All also matches series without the label)", v.Name, v.AllValue)
		}
	}
	if diff := cmp.Diff([]string{"datasource datasource", "query cluster", "query namespace", "query job", "query node"}, vars); diff != "" {
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
			want := []string{`cluster=~"$cluster"`, `namespace=~"$namespace"`}
			if !foreignQuery(tg.Expr) {
				want = append(want, `job="sensorprobe"`, `job=~"$job"`, `node=~"$node"`)
			}
			for _, w := range want {
				if !strings.Contains(tg.Expr, w) {
					t.Errorf("panel %q target %s lacks %s: %s", p.Title, tg.RefID, w, tg.Expr)
				}
			}
		}
	}
	if len(d.Panels) == 0 || d.Panels[0].Type != "row" || d.Panels[0].Title != "Fleet" {
		t.Fatalf("the dashboard does not start with the Fleet row")
	}
	// The fleet row: probes reporting vs desired, nodes per verdict, nodes with a path down,
	// failing pairs.
	var fleet []string
	for _, p := range d.Panels[1:] {
		if p.Type == "row" {
			break
		}
		for _, tg := range p.Targets {
			fleet = append(fleet, metricNames(tg.Expr)...)
		}
	}
	for _, m := range []string{"up", "kube_daemonset_status_desired_number_scheduled", "sensorprobe_verdict", "sensorprobe_path_up", "sensorprobe_path_info"} {
		if !slices.Contains(fleet, m) {
			t.Errorf("the Fleet row does not show %s", m)
		}
	}
	used := map[string]bool{}
	for _, q := range dashboardQueries(t, d) {
		for _, m := range metricNames(q.Expr) {
			used[m] = true
		}
	}
	for _, m := range []string{
		"sensorprobe_path_up", "sensorprobe_verdict", "sensorprobe_probe_attempts_total",
		"sensorprobe_connect_duration_seconds_bucket", "sensorprobe_phase_duration_seconds", "sensorprobe_vsock_connections_recent",
		"sensorprobe_tls_cert_not_after_timestamp_seconds", "sensorprobe_build_info",
		"sensorprobe_kube_discovery_up", "sensorprobe_vsock_relay_send_errors_total",
		relayMetricPrefix + "index_reports_received_total",
		// The pull-mode row (issue 20).
		"sensorprobe_vm_transport_info", "sensorprobe_vmis_running", "sensorprobe_vmis_without_vsock",
		"sensorprobe_virt_handler_up", "rox_sensor_vsock_pull_requests_total", "rox_sensor_vsock_pull_tracked_vms",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	if slices.Contains(types, "state-timeline") {
		t.Error("a state-timeline panel: one row per node × path is unreadable at hundreds of nodes; show failing pairs in a table")
	}
	if !slices.Contains(types, "heatmap") || !slices.Contains(types, "table") {
		t.Errorf("want heatmap and table panels, got %v", types)
	}
}

// consolePanelTypes are the panel types the OpenShift console's dashboards render (its
// legacy dashboard component skips every other type silently).
func consolePanelTypes() []string {
	return []string{"gauge", "grafana-piechart-panel", "graph", "singlestat", "table"}
}

// TestConsoleDashboard checks the OpenShift console dashboard: where its ConfigMap goes and
// how it is labelled, only panel types the console renders, the fields those panels read,
// variables in the form the console substitutes, and the same panels as the Grafana
// dashboard, row for row.
func TestConsoleDashboard(t *testing.T) {
	cm, d := loadConsoleDashboard(t)
	if cm.Namespace != "openshift-config-managed" {
		t.Errorf("ConfigMap in namespace %q, want openshift-config-managed", cm.Namespace)
	}
	if got := cm.Labels["console.openshift.io/dashboard"]; got != "true" {
		t.Errorf(`label console.openshift.io/dashboard = %q, want "true"`, got)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Type+" "+v.Name)
		if !v.IncludeAll {
			t.Errorf("variable %s has no All option", v.Name)
		}
	}
	// No cluster variable: the console shows one cluster, and its All (".+") would not match
	// series without the label.
	if diff := cmp.Diff([]string{"query namespace", "query job", "query node"}, vars); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
	ids := map[int]bool{}
	consoleTitles := map[string][]string{}
	for _, r := range d.Rows {
		if r.Title == "" || !r.ShowTitle {
			t.Errorf("row %q: want a shown title", r.Title)
		}
		for _, p := range r.Panels {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if !slices.Contains(consolePanelTypes(), p.Type) {
				t.Errorf("panel %q: type %q is not one the console renders (%v)", p.Title, p.Type, consolePanelTypes())
			}
			if p.Span < 1 || p.Span > 12 {
				t.Errorf("panel %q: span %d, want 1 to 12", p.Title, p.Span)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			// singlestat, gauge and the bar chart read their first query only.
			if (p.Type == "singlestat" || p.Type == "gauge" || p.Type == "grafana-piechart-panel") && len(p.Targets) != 1 {
				t.Errorf("panel %q (%s) has %d queries; the console shows the first only", p.Title, p.Type, len(p.Targets))
			}
			if p.Type == "table" {
				checkConsoleTable(t, p)
			}
			for _, tg := range p.Targets {
				if strings.Contains(tg.Expr, "${") || strings.Contains(tg.Expr, "$cluster") {
					t.Errorf("panel %q: %s uses ${…} or $cluster, which the console does not substitute", p.Title, tg.Expr)
				}
				if !strings.Contains(tg.Expr, `namespace=~"$namespace"`) {
					t.Errorf("panel %q ignores the namespace variable: %s", p.Title, tg.Expr)
				}
			}
			title, _, _ := strings.Cut(p.Title, " · ")
			consoleTitles[r.Title] = append(consoleTitles[r.Title], title)
		}
	}
	// The same dashboard: every Grafana panel has its console counterpart in the same row.
	grafanaTitles := map[string][]string{}
	row := ""
	for _, p := range loadDashboard(t).Panels {
		if p.Type == "row" {
			row = p.Title
			continue
		}
		grafanaTitles[row] = append(grafanaTitles[row], p.Title)
	}
	for r, titles := range consoleTitles {
		consoleTitles[r] = slices.Compact(titles)
	}
	if diff := cmp.Diff(grafanaTitles, consoleTitles); diff != "" {
		t.Errorf("panels per row, Grafana (-) versus console (+):\n%s", diff)
	}
}

// checkConsoleTable checks a console table panel: the console takes its columns from
// `styles` (a label column per pattern, "Value" for the query's value, hidden or aliased), and
// shows nothing without them.
func checkConsoleTable(t *testing.T, p consolePanel) {
	t.Helper()
	if len(p.Styles) == 0 {
		t.Errorf("table %q has no styles: the console shows an error", p.Title)
		return
	}
	var shown int
	for _, s := range p.Styles {
		switch {
		case s.Type == "hidden":
		case s.Alias == "":
			t.Errorf("table %q: column %q has no alias, the console drops it", p.Title, s.Pattern)
		case strings.HasPrefix(s.Pattern, "/"):
			t.Errorf("table %q: regex pattern %q is not supported by the console", p.Title, s.Pattern)
		default:
			shown++
		}
	}
	if shown == 0 {
		t.Errorf("table %q shows no column", p.Title)
	}
}

// TestDashboardConfigMap checks deploy/grafana ships the dashboard file, unchanged, in a
// ConfigMap the Grafana sidecar picks up.
func TestDashboardConfigMap(t *testing.T) {
	cm := only[*corev1.ConfigMap](t, render(t, "deploy/grafana"))
	if got := cm.Labels["grafana_dashboard"]; got != "1" {
		t.Errorf("label grafana_dashboard = %q, want \"1\"", got)
	}
	if diff := cmp.Diff(string(readRepoFile(t, dashboardFile)), cm.Data["sensorprobe.json"]); diff != "" {
		t.Errorf("ConfigMap data differs from %s (-want +got):\n%s", dashboardFile, diff)
	}
}

// TestGrafanaOperatorDashboard checks deploy/grafana-operator: a grafana-operator v5
// GrafanaDashboard that loads the sidecar ConfigMap rendered beside it, so the dashboard JSON
// exists once.
func TestGrafanaOperatorDashboard(t *testing.T) {
	objs := render(t, "deploy/grafana-operator")
	cm := only[*corev1.ConfigMap](t, objs)
	gd := only[*GrafanaDashboard](t, objs)
	ref := gd.Spec.ConfigMapRef
	if ref == nil || ref.Name != cm.Name {
		t.Fatalf("GrafanaDashboard configMapRef %+v does not name ConfigMap %s", ref, cm.Name)
	}
	if got := cm.Data[ref.Key]; got != string(readRepoFile(t, dashboardFile)) {
		t.Errorf("ConfigMap %s key %q does not hold %s", cm.Name, ref.Key, dashboardFile)
	}
	if gd.Spec.InstanceSelector == nil || len(gd.Spec.InstanceSelector.MatchLabels) == 0 {
		t.Error("GrafanaDashboard has no instanceSelector: grafana-operator loads it nowhere")
	}
	if gd.Spec.JSON != "" || gd.Spec.URL != "" || gd.Spec.GrafanaCom != nil {
		t.Error("GrafanaDashboard carries a second copy or source of the dashboard")
	}
}
