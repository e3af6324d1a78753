//go:build e2e && linux

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// renderTable prints fault → observed reasons, verdict, alerts and the
// result of each row, then each row's notes and failures, the probe's
// footprint and the run's timings.
func renderTable(rows []row, fp footprintResult, setup, total time.Duration) string {
	var b strings.Builder
	b.WriteString("\nEND-TO-END RESULTS\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tOBSERVED REASONS\tVERDICT\tALERTS FIRED\tRESULT\tDETECT\tALERTS\tRESOLVED\tROW")
	failed := 0
	for _, r := range rows {
		result := "pass"
		if len(r.errs) > 0 {
			result = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.id, groupReasons(r.reasons), r.verdict, r.alerts, result,
			secs(r.detect), secs(r.fire), secs(r.resolve), secs(r.took))
	}
	tw.Flush()
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s  %s\n", r.id, r.name)
		for _, n := range r.notes {
			fmt.Fprintf(&b, "      %s\n", n)
		}
		for _, e := range r.errs {
			fmt.Fprintf(&b, "      FAIL: %s\n", strings.ReplaceAll(e.Error(), "\n", "\n            "))
		}
		if len(r.errs) > 0 {
			for _, d := range r.probeFailures {
				fmt.Fprintf(&b, "      probe: %s\n", d)
			}
		}
	}
	b.WriteString("\nprobe footprint (after each recovery):")
	for _, f := range fp.series {
		fmt.Fprintf(&b, " %s:%v/%d", f.at, f.goroutines, f.fds)
	}
	b.WriteString("  (goroutines/open files)\n")
	if fp.err != nil {
		fmt.Fprintf(&b, "  FAIL: %v\n", fp.err)
	} else if len(fp.series) > 1 {
		first, last := fp.series[0], fp.series[len(fp.series)-1]
		fmt.Fprintf(&b, "  flat: goroutines %v → %v, open files %d → %d\n", first.goroutines, last.goroutines, first.fds, last.fds)
	}
	fmt.Fprintf(&b, "\n%d of %d faults passed; set-up %.0fs, whole run %.0fs\n", len(rows)-failed, len(rows), setup.Seconds(), total.Seconds())
	return b.String()
}

// groupReasons turns "clusterip=refused dns=refused podip=- webhook=ok"
// into "refused(clusterip,dns) ok(webhook) gone(podip)".
func groupReasons(s string) string {
	if s == "" || strings.Contains(s, "⇄") {
		return s
	}
	by := map[string][]string{}
	for f := range strings.FieldsSeq(s) {
		p, r, _ := strings.Cut(f, "=")
		if r == "-" {
			r = "gone"
		}
		by[r] = append(by[r], p)
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(by)) {
		if r == "ok" || r == "gone" {
			continue
		}
		parts = append(parts, r+"("+strings.Join(by[r], ",")+")")
	}
	for _, r := range []string{"ok", "gone"} {
		if ps := by[r]; len(ps) > 0 {
			parts = append(parts, r+"("+strings.Join(ps, ",")+")")
		}
	}
	return strings.Join(parts, " ")
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
