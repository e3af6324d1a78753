package deploytest

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
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range []string{runbooksFile, "docs/install.md"} {
		t.Run(doc, func(t *testing.T) {
			text := string(readRepoFile(t, doc))
			for _, m := range link.FindAllStringSubmatch(text, -1) {
				target := m[1]
				if strings.Contains(target, "://") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				linked := doc
				if file != "" {
					linked = filepath.ToSlash(filepath.Join(filepath.Dir(doc), file))
					if _, err := os.Stat(filepath.Join(repoRoot(t), filepath.FromSlash(linked))); err != nil {
						t.Errorf("link %q: %v", target, err)
						continue
					}
				}
				if anchor != "" && !markdownAnchors(string(readRepoFile(t, linked)))[anchor] {
					t.Errorf("link %q: %s has no heading with anchor %q", target, linked, anchor)
				}
			}
		})
	}
}

// TestInstallGuide checks the install guide gives the exact commands for
// both overlays and names the port the manifests actually use.
func TestInstallGuide(t *testing.T) {
	guide := string(readRepoFile(t, "docs/install.md"))
	for _, cmd := range []string{
		"oc apply -k deploy/overlays/openshift",
		"kubectl apply -k deploy/overlays/kubernetes",
		"kubectl apply -k deploy/grafana",
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
