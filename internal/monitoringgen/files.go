package monitoringgen

import (
	"bytes"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The generated files, relative to the repository root.
const (
	RulesFile            = "deploy/rules/sensorprobe-rules.yaml"
	PrometheusRuleFile   = "deploy/components/monitoring/prometheusrule.yaml"
	GrafanaDashboardFile = "dashboards/sensorprobe.json"
	ConsoleDashboardFile = "deploy/openshift-console/configmap.yaml"
	// The Helm chart's copies: a chart reads only files inside its directory, so the rule
	// file and both dashboards are written there too, byte for byte the same.
	ChartRulesFile            = "deploy/helm/sensorprobe/files/sensorprobe-rules.yaml"
	ChartGrafanaDashboardFile = "deploy/helm/sensorprobe/files/sensorprobe.json"
	ChartConsoleDashboardFile = "deploy/helm/sensorprobe/files/openshift-console-sensorprobe.json"
	consoleDashboardName      = "sensorprobe.json"
	consoleNamespace          = "openshift-config-managed"
	regenerate                = "make generate"
	generatedHeaderFormat     = "GENERATED from %s by %s; DO NOT EDIT."
)

// Generate evaluates the mixin in root with the default configuration and renders the files.
func Generate(root fs.FS) (map[string][]byte, error) {
	m, err := Evaluate(root, "")
	if err != nil {
		return nil, err
	}
	return Files(m)
}

// Files renders the generated files of m, keyed by their path from the repository root.
func Files(m *Mixin) (map[string][]byte, error) {
	files := map[string][]byte{}
	header := fmt.Sprintf(generatedHeaderFormat, MixinDir+"/", regenerate)

	groups := groupsNode(m.Groups)
	rules, err := encodeYAML(mapping("groups", groups), header+`
Prometheus rule file: recording rules, then one alert per fault domain. Tests: deploy/rules/tests
(promtool test rules). Runbooks: docs/runbooks.md, one section per alert. Series carry node
(the PodMonitor relabels the pod's node name) and job="sensorprobe".`)
	if err != nil {
		return nil, err
	}
	files[RulesFile] = rules
	files[ChartRulesFile] = rules

	pr, err := encodeYAML(mapping(
		"apiVersion", str("monitoring.coreos.com/v1"),
		"kind", str("PrometheusRule"),
		"metadata", mapping(
			"name", str("sensorprobe"),
			"namespace", str("stackrox"),
			"labels", mapping("app.kubernetes.io/name", str("sensorprobe")),
		),
		"spec", mapping("groups", groups),
	), header+"\nThe groups of "+RulesFile+" as a PrometheusRule. runbook-url.yaml can point the runbook\nlinks elsewhere.")
	if err != nil {
		return nil, err
	}
	files[PrometheusRuleFile] = pr

	grafana, ok := m.GrafanaDashboards["sensorprobe.json"]
	if !ok || len(m.GrafanaDashboards) != 1 || len(m.ConsoleDashboards) != 1 {
		return nil, fmt.Errorf("want exactly the dashboard sensorprobe.json, got %v", m.DashboardNames())
	}
	if files[GrafanaDashboardFile], err = indentJSON(grafana); err != nil {
		return nil, fmt.Errorf("grafana dashboard: %w", err)
	}
	files[ChartGrafanaDashboardFile] = files[GrafanaDashboardFile]

	console, err := indentJSON(m.ConsoleDashboards["sensorprobe.json"])
	if err != nil {
		return nil, fmt.Errorf("console dashboard: %w", err)
	}
	cm, err := encodeYAML(mapping(
		"apiVersion", str("v1"),
		"kind", str("ConfigMap"),
		"metadata", mapping(
			"name", str("sensorprobe-dashboard"),
			"namespace", str(consoleNamespace),
			"labels", mapping(
				"app.kubernetes.io/name", str("sensorprobe"),
				// Observe → Dashboards in the administrator perspective...
				"console.openshift.io/dashboard", quoted("true"),
				// ...and in the developer perspective (queries limited to the project).
				"console.openshift.io/odc-dashboard", quoted("true"),
			),
		),
		"data", mapping(consoleDashboardName, literal(string(console))),
	), header+"\nThe sensorprobe dashboard for the OpenShift console (Observe → Dashboards), in the panel\ntypes the console renders. Needs rights in "+consoleNamespace+".")
	if err != nil {
		return nil, err
	}
	files[ConsoleDashboardFile] = cm
	files[ChartConsoleDashboardFile] = console
	return files, nil
}

// Paths returns the generated files' paths, sorted.
func Paths(files map[string][]byte) []string {
	var ps []string
	for p := range files {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// annotationRank fixes the order of the annotations a person reads first; any other
// annotation follows in alphabetical order.
func annotationRank() map[string]int {
	return map[string]int{"summary": 1, "description": 2, "impact": 3, "urgency": 4, "runbook_url": 5}
}

// groupsNode renders rule groups with each rule's fields in the order Prometheus documents
// them and expressions as literal blocks.
func groupsNode(groups []RuleGroup) *yaml.Node {
	rank := annotationRank()
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, g := range groups {
		rules := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range g.Rules {
			var kv []any
			if r.Record != "" {
				kv = append(kv, "record", str(r.Record))
			} else {
				kv = append(kv, "alert", str(r.Alert))
			}
			kv = append(kv, "expr", literal(r.Expr))
			if r.For != "" {
				kv = append(kv, "for", str(r.For))
			}
			if len(r.Labels) > 0 {
				kv = append(kv, "labels", stringMap(r.Labels, nil))
			}
			if len(r.Annotations) > 0 {
				kv = append(kv, "annotations", stringMap(r.Annotations, rank))
			}
			rules.Content = append(rules.Content, mapping(kv...))
		}
		seq.Content = append(seq.Content, mapping("name", str(g.Name), "rules", rules))
	}
	return seq
}

// stringMap renders m with the keys in rank first (by rank), then the rest alphabetically.
func stringMap(m map[string]string, rank map[string]int) *yaml.Node {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank[keys[i]], rank[keys[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0 || rj != 0:
			return ri != 0
		}
		return keys[i] < keys[j]
	})
	var kv []any
	for _, k := range keys {
		kv = append(kv, k, str(m[k]))
	}
	return mapping(kv...)
}

// mapping builds a mapping node from alternating keys (strings) and value nodes.
func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

// literal renders a multi-line string as a literal block, which keeps PromQL and JSON as
// written; a one-line string stays plain.
func literal(s string) *yaml.Node {
	n := str(s)
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

// encodeYAML renders one document with header as its leading comment (one "# " line per line).
func encodeYAML(n *yaml.Node, header string) ([]byte, error) {
	n.HeadComment = header
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
