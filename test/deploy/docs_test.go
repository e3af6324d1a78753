package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestDocsLinks checks every relative link in the runbooks and the install
// guide points at an existing file and, when it has one, an existing anchor.
func TestDocsLinks(t *testing.T) {
	for _, doc := range []string{runbooksFile, "docs/install.md"} {
		t.Run(doc, func(t *testing.T) { checkLinks(t, doc, string(readRepoFile(t, doc))) })
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// checkLinks checks that every relative link in text, the content of the
// repository file doc, points at an existing file and, when it has one, an
// existing anchor.
func checkLinks(t *testing.T, doc, text string) {
	t.Helper()
	for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		linked := doc
		if file != "" {
			linked = filepath.ToSlash(filepath.Join(filepath.Dir(doc), file))
			if _, err := os.Stat(filepath.Join(repoRoot(t), filepath.FromSlash(linked))); err != nil {
				t.Errorf("%s: link %q: %v", doc, target, err)
				continue
			}
		}
		if anchor != "" && !markdownAnchors(string(readRepoFile(t, linked)))[anchor] {
			t.Errorf("%s: link %q: %s has no heading with anchor %q", doc, target, linked, anchor)
		}
	}
}

// TestInstallGuide checks the install guide gives the exact commands for
// both overlays and names the port the manifests actually use.
func TestInstallGuide(t *testing.T) {
	guide := string(readRepoFile(t, "docs/install.md"))
	for _, cmd := range []string{
		"oc apply -k deploy/overlays/openshift",
		"oc apply -k deploy/openshift-console",
		"kubectl apply -k deploy/overlays/kubernetes",
		"kubectl apply -k deploy/overlays/kube-prometheus-stack",
		"kubectl apply -k deploy/overlays/kube-prometheus",
		"kubectl apply -k deploy/grafana",
		"kubectl apply -k deploy/grafana-operator",
		// The user-workload-monitoring caveat.
		"openshift.io/cluster-monitoring=true",
		"make image BASE=scratch",
	} {
		if !strings.Contains(guide, cmd) {
			t.Errorf("docs/install.md lacks the command %q", cmd)
		}
	}
	port := only[*appsv1.DaemonSet](t, render(t, "deploy/overlays/kubernetes")).Spec.Template.Spec.Containers[0].Ports[0].ContainerPort
	if !strings.Contains(guide, "**"+strconv.Itoa(int(port))+"**") {
		t.Errorf("docs/install.md does not explain the metrics port %d the manifests use", port)
	}
	runbooks := string(readRepoFile(t, runbooksFile))
	for _, s := range []string{
		"curl -s localhost:" + strconv.Itoa(int(port)) + "/metrics | grep sensorprobe_",
		"probe check",
		"oc get networkpolicy sensor -n stackrox -o yaml",
		`policy-group.network.openshift.io/host-network: ""`,
		"ipBlock",
	} {
		if !strings.Contains(runbooks, s) {
			t.Errorf("%s lacks %q", runbooksFile, s)
		}
	}
}

// runbookSections returns the text of each "## " section of the runbooks, by heading.
func runbookSections(doc string) map[string]string {
	sections := map[string]string{}
	var name string
	var b strings.Builder
	inFence := false
	flush := func() {
		if name != "" {
			sections[name] = b.String()
		}
		b.Reset()
	}
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "## ") {
			flush()
			name = strings.TrimPrefix(line, "## ")
			continue
		}
		b.WriteString(line + "\n")
	}
	flush()
	return sections
}

// TestRunbooks checks docs/runbooks.md opens with a triage table that links every alert and
// has silencing advice for sensor upgrades, and that each alert's section says what it means
// for VM scanning and how urgent it is, and starts with `probe check` in the probe's pod.
func TestRunbooks(t *testing.T) {
	doc := string(readRepoFile(t, runbooksFile))
	sections := runbookSections(doc)
	triage, ok := sections["Triage"]
	if !ok {
		t.Fatal("no Triage section")
	}
	if first := strings.Index(doc, "## "); first < 0 || !strings.HasPrefix(doc[first:], "## Triage") {
		t.Error("the Triage section is not the first")
	}
	if !strings.Contains(doc, "### Silencing during sensor upgrades") || !strings.Contains(triage, "amtool silence add") {
		t.Error("no silencing advice for sensor upgrades in the Triage section")
	}
	for _, name := range alertNames(t) {
		if !strings.Contains(triage, "["+name+"](#"+strings.ToLower(name)+")") {
			t.Errorf("the triage table does not link %s", name)
		}
		s, ok := sections[name]
		if !ok {
			t.Errorf("no section for %s", name)
			continue
		}
		for _, part := range []string{"**Meaning for VM scanning.**", "**Urgency.**", "**First step.** `oc -n <ns> exec <pod> -- probe check`"} {
			if !strings.Contains(s, part) {
				t.Errorf("section %s lacks %q", name, part)
			}
		}
		if first, step := strings.Index(s, "`"), strings.Index(s, "`oc -n <ns> exec <pod> -- probe check`"); first >= 0 && first < step && strings.Contains(s[:step], "`oc ") {
			t.Errorf("section %s runs another command before probe check", name)
		}
	}
}
