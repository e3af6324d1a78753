package deploy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	// Registers -update.
	_ "github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// updating reports whether -update was given, the project's one flag for rewriting what a
// test checks (internal/testsupport defines it): here the table of Helm values in
// docs/install.md.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// The markers around docs/install.md's table of Helm values.
const (
	valuesDocFile  = "docs/install.md"
	valuesDocBegin = "<!-- The table of values is generated from deploy/helm/sensorprobe/values.yaml: " +
		"go test ./test/deploy -run TestHelmValuesDoc -update -->\n"
	valuesDocEnd = "<!-- end of the generated table -->\n"
)

// chartValue is one documented value of the chart: a key of values.yaml with a "# --"
// description.
type chartValue struct {
	// Path is the key's dotted path, e.g. image.tag.
	Path string
	// Default is values.yaml's value as compact JSON.
	Default string
	// Description is the text of the "# --" comment, on one line.
	Description string
}

// chartValues reads the documented values from values.yaml. A key is documented when the
// comment above it starts with "# --"; a mapping without one is a group, and each of its keys
// must be documented or a group in turn.
func chartValues(t *testing.T) []chartValue {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readRepoFile(t, chartDir+"/values.yaml"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatal("values.yaml is not one mapping")
	}
	var out []chartValue
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			path := strings.TrimPrefix(prefix+"."+k.Value, ".")
			desc, ok := valueDescription(k.HeadComment)
			switch {
			case ok:
				var x any
				if err := v.Decode(&x); err != nil {
					t.Fatalf("values.yaml %s: %v", path, err)
				}
				b, err := json.Marshal(x)
				if err != nil {
					t.Fatalf("values.yaml %s: %v", path, err)
				}
				out = append(out, chartValue{Path: path, Default: string(b), Description: desc})
			case v.Kind == yaml.MappingNode:
				walk(path, v)
			default:
				t.Errorf("values.yaml: %s has no \"# --\" description", path)
			}
		}
	}
	walk("", doc.Content[0])
	return out
}

// valueDescription returns the text from the last "# --" line of a head comment on, as one
// line, and whether there is one.
func valueDescription(comment string) (string, bool) {
	lines := strings.Split(comment, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "# -- ") {
			start = i
		}
	}
	if start < 0 {
		return "", false
	}
	var words []string
	for i, l := range lines[start:] {
		l = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		if i == 0 {
			l = strings.TrimPrefix(l, "-- ")
		}
		words = append(words, l)
	}
	return strings.Join(words, " "), true
}

// valuesTable renders the documented values as docs/install.md's markdown table.
func valuesTable(values []chartValue) string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| value | default | what it does |\n|---|---|---|\n")
	for _, v := range values {
		b.WriteString("| `" + v.Path + "` | `" + cell(v.Default) + "` | " + cell(v.Description) + " |\n")
	}
	return b.String()
}

// TestHelmValuesDoc checks docs/install.md's table of Helm values is the one values.yaml's
// "# --" comments make, every key of values.yaml documented. With -update it rewrites the
// table instead.
func TestHelmValuesDoc(t *testing.T) {
	doc := string(readRepoFile(t, valuesDocFile))
	begin := strings.Index(doc, valuesDocBegin)
	end := strings.Index(doc, valuesDocEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers of the values table:\n%s…\n%s", valuesDocFile, valuesDocBegin, valuesDocEnd)
	}
	got := doc[begin+len(valuesDocBegin) : end]
	want := valuesTable(chartValues(t))
	if got == want {
		return
	}
	if updating() {
		updated := doc[:begin+len(valuesDocBegin)] + want + doc[end:]
		if err := os.WriteFile(filepath.Join(repoRoot(t), valuesDocFile), []byte(updated), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the values table in %s", valuesDocFile)
		return
	}
	t.Errorf("%s: the values table differs from values.yaml; run go test ./test/deploy -run TestHelmValuesDoc -update (-values.yaml +doc):\n%s",
		valuesDocFile, cmp.Diff(want, got))
}

// TestHelmInstallCommands checks the README's install section and docs/install.md give the
// Helm commands beside the kustomize ones, the commands TestHelmInstall and
// TestHelmInstallOpenShift run.
func TestHelmInstallCommands(t *testing.T) {
	install := "helm install " + releaseName + " " + chartDir + " -n " + releaseNamespace
	readme := string(readRepoFile(t, "README.md"))
	start := strings.Index(readme, "## Install on a cluster\n")
	end := strings.Index(readme[max(start, 0):], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README.md has no section \"Install on a cluster\"")
	}
	section := readme[start : start+end]
	guide := string(readRepoFile(t, valuesDocFile))
	for _, want := range []string{install, "-f " + chartOpenShiftFile, "kubectl apply -k deploy/overlays/kubernetes", "oc apply -k deploy/overlays/openshift"} {
		if !strings.Contains(section, want) {
			t.Errorf("README.md's install section lacks %q", want)
		}
	}
	for _, want := range []string{install + "\n", install + " -f " + chartOpenShiftFile + "\n",
		"helm upgrade " + releaseName + " " + chartDir + " -n " + releaseNamespace, "helm uninstall " + releaseName + " -n " + releaseNamespace + "\n"} {
		if !strings.Contains(guide, want) {
			t.Errorf("%s lacks %q", valuesDocFile, want)
		}
	}
}
