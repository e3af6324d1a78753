package verdict

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestRulesDocumented checks that docs/status.md lists the path rules in the
// order Decide applies them (step 2), each with the verdicts it can give.
func TestRulesDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/status.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "**Step 2")
	end := strings.Index(doc, "**Step 3")
	if start < 0 || end < start {
		t.Fatal(`docs/status.md has no "**Step 2" … "**Step 3" section`)
	}
	want := [][]string{{Unknown}, {Healthy}}
	for _, r := range rules {
		want = append(want, r.names)
	}
	want = append(want, []string{Degraded})

	item := regexp.MustCompile(`(?m)^(\d+)\. \*\*([a-z_ /]+)\*\*`)
	var got [][]string
	for _, m := range item.FindAllStringSubmatch(doc[start:end], -1) {
		got = append(got, strings.Split(m[2], " / "))
	}
	if !slices.EqualFunc(want, got, slices.Equal[[]string]) {
		t.Errorf("docs/status.md step 2 lists the rules as\n%q\nDecide applies them as\n%q", got, want)
	}
}
