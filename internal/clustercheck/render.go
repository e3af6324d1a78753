package clustercheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sensorprobe/sensorprobe/internal/cni"
)

// Report is the output of `probe check --cluster`.
type Report struct {
	Install Install      `json:"install"`
	CNI     cni.Plugin   `json:"cni"`
	Checks  []Result     `json:"checks"`
	Fleet   []NodeStatus `json:"fleet"`
	// Failed counts the failed checks; NotPermitted those it could not read.
	Failed       int `json:"failed"`
	NotPermitted int `json:"not_permitted"`
}

// NewReport evaluates m.
func NewReport(m *Model) Report {
	checks := Evaluate(m)
	r := Report{Checks: checks, Fleet: m.Fleet.Value, Failed: Failed(checks)}
	if m.ServerVersion.Access.OK() {
		r.Install, r.CNI = m.InstallOf(), m.CNI()
	}
	if r.Fleet == nil {
		r.Fleet = []NodeStatus{}
	}
	for _, c := range checks {
		if c.Status == NotPermitted {
			r.NotPermitted++
		}
	}
	return r
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// WriteText writes one line per check (✓ pass, ✗ fail, – not applicable,
// ? not permitted) with its evidence, the fix under each ✗, the RBAC rule
// under each ?, the fleet table grouped by verdict (with since when each
// failing path is down, when the probes keep that), and the summary.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%s %-24s %s\n", c.Status.Mark(), c.Name, c.Evidence)
		if c.Status == Fail && c.Fix != "" {
			fmt.Fprintf(&b, "    fix: %s\n", c.Fix)
		}
		if c.Status == NotPermitted && c.Rule != nil {
			fmt.Fprintf(&b, "    allow with: %s\n", c.Rule)
		}
	}
	if len(r.Fleet) > 0 {
		b.WriteString("\nNode verdicts (grouped by verdict):\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		history := fleetHasHistory(r.Fleet)
		if history {
			fmt.Fprintln(tw, "VERDICT\tNODE\tFAILING PATHS\tDOWN SINCE\tRELAY EVIDENCE")
		} else {
			fmt.Fprintln(tw, "VERDICT\tNODE\tFAILING PATHS\tRELAY EVIDENCE")
		}
		for _, n := range r.Fleet {
			paths := strings.Join(n.FailingPaths, ", ")
			if paths == "" {
				paths = "-"
			}
			ev := n.Relay
			if n.Error != "" {
				ev = n.Error
			}
			if history {
				paths += "\t" + downText(n)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Verdict, n.Node, paths, ev)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	fmt.Fprintf(&b, "\n%d checks: %d failed, %d not permitted\n", len(r.Checks), r.Failed, r.NotPermitted)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
