package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityDocClaims keeps docs/security.md honest: every test it names
// as evidence exists in the file its link points at, every row of its
// tables of claims names at least one, and its other links resolve.
func TestSecurityDocClaims(t *testing.T) {
	const doc = "docs/security.md"
	text := string(readRepoFile(t, doc))
	evidence := regexp.MustCompile("\\[`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)`\\]\\(([^)#\\s]+)\\)")
	found := evidence.FindAllStringSubmatch(text, -1)
	if len(found) < 20 {
		t.Fatalf("%s names %d tests, want the evidence for every claim", doc, len(found))
	}
	sources := map[string]string{}
	for _, m := range found {
		name, target := m[1], m[2]
		path := filepath.ToSlash(filepath.Join(filepath.Dir(doc), target))
		if !strings.HasSuffix(path, "_test.go") {
			t.Errorf("%s links %s to %s, not a test file", doc, name, target)
			continue
		}
		src, ok := sources[path]
		if !ok {
			b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(path)))
			if err != nil {
				t.Errorf("%s: link to %s: %v", doc, target, err)
				continue
			}
			src = string(b)
			sources[path] = src
		}
		if !regexp.MustCompile(`(?m)^func ` + name + `\(`).MatchString(src) {
			t.Errorf("%s names %s in %s, which has no such function", doc, name, path)
		}
	}

	// Each claim in a table (a row with a "shown by" or "fuzz test"
	// column) points at its evidence.
	for _, section := range strings.Split(text, "\n## ")[1:] {
		title, _, _ := strings.Cut(section, "\n")
		var header string // the current table's header row, "" outside a table
		for line := range strings.SplitSeq(section, "\n") {
			switch {
			case !strings.HasPrefix(line, "|"):
				header = ""
			case header == "":
				header = line
			case strings.HasPrefix(line, "|---"):
			case strings.Contains(header, "shown by") || strings.Contains(header, "fuzz test"):
				if !evidence.MatchString(line) {
					t.Errorf("%s, %q: a row names no test:\n%s", doc, title, line)
				}
			}
		}
	}

	// Links to other documents and anchors resolve.
	checkLinks(t, doc, text)
}
