package deploy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// installSensorMetricsHeading is the section of docs/install.md that shows how to scrape
// sensor's monitoring port, which the pull-mode alerts on sensor's VM scrapes need.
const installSensorMetricsHeading = "## Sensor's metrics"

// yamlBlocks returns the fenced ```yaml blocks of a Markdown section, each with the
// indentation of its opening fence removed (blocks inside list items are indented).
func yamlBlocks(section string) []string {
	var blocks []string
	var b strings.Builder
	indent, in := "", false
	for line := range strings.SplitSeq(section, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !in && trimmed == "```yaml":
			indent, in = line[:len(line)-len(trimmed)], true
			b.Reset()
		case in && trimmed == "```":
			blocks = append(blocks, b.String())
			in = false
		case in:
			b.WriteString(strings.TrimPrefix(line, indent) + "\n")
		}
	}
	return blocks
}

func TestYAMLBlocks(t *testing.T) {
	doc := "text\n1. step\n\n   ```yaml\n   a:\n     b: 1\n   ```\n```sh\nls\n```\n```yaml\nc: 2\n```\n"
	want := []string{"a:\n  b: 1\n", "c: 2\n"}
	if diff := cmp.Diff(want, yamlBlocks(doc)); diff != "" {
		t.Errorf("yamlBlocks (-want +got):\n%s", diff)
	}
}

// TestSensorPodMonitorExample decodes the PodMonitor docs/install.md gives for sensor's
// metrics strictly, and checks it selects sensor's pods (app=sensor) on port monitoring in
// sensor's namespace and sets the job the shipped rules select sensor's series by.
func TestSensorPodMonitorExample(t *testing.T) {
	section, ok := runbookSections(string(readRepoFile(t, "docs/install.md")))[strings.TrimPrefix(installSensorMetricsHeading, "## ")]
	if !ok {
		t.Fatalf("docs/install.md has no section %q", installSensorMetricsHeading)
	}
	for _, s := range []string{"exposeMonitoring", "sensor-monitoring", "9090"} {
		if !strings.Contains(section, s) {
			t.Errorf("section %q does not mention %s", installSensorMetricsHeading, s)
		}
	}
	blocks := yamlBlocks(section)
	if len(blocks) != 1 {
		t.Fatalf("section %q: %d yaml blocks, want the PodMonitor alone", installSensorMetricsHeading, len(blocks))
	}
	obj, err := decodeStrict([]byte(blocks[0]))
	if err != nil {
		t.Fatalf("the PodMonitor of %q: %v", installSensorMetricsHeading, err)
	}
	pm, ok := obj.(*monitoringv1.PodMonitor)
	if !ok {
		t.Fatalf("section %q shows a %T, want a PodMonitor", installSensorMetricsHeading, obj)
	}
	if pm.Namespace != "stackrox" {
		t.Errorf("PodMonitor in namespace %q, want sensor's, stackrox", pm.Namespace)
	}
	sel, err := metav1LabelSelectorFrom(&pm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set{"app": "sensor"}) || sel.Matches(labels.Set{"app": "collector"}) {
		t.Errorf("PodMonitor selector %s does not select sensor's pods (app=sensor) alone", sel)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d endpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil || *ep.Port != "monitoring" {
		t.Errorf("endpoint port %v, want sensor's container port monitoring", ep.Port)
	}
	var job string
	for _, r := range ep.RelabelConfigs {
		if r.TargetLabel == "job" && r.Replacement != nil {
			job = *r.Replacement
		}
	}
	want := sensorJobSelector(t)
	if got := `job="` + job + `"`; got != want {
		t.Errorf("the PodMonitor sets %s, the rules select sensor's series by %s", got, want)
	}
}

// sensorJobSelector returns the label matchers the shipped rules select sensor's series by
// (the mixin's sensorSelector), read from the rule that records sensor's VM scrapes.
func sensorJobSelector(t *testing.T) string {
	t.Helper()
	sel := regexp.MustCompile(`rox_sensor_vsock_pull_requests_total\{([^}]*)\}`)
	for _, r := range ruleQueries(t) {
		if m := sel.FindStringSubmatch(r.Expr); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no rule in %s reads rox_sensor_vsock_pull_requests_total", rulesFile)
	return ""
}
