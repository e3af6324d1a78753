package clustercheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/kube"
)

// Report is the output of `probe check --cluster`.
type Report struct {
	Install Install      `json:"install"`
	CNI     cni.Plugin   `json:"cni"`
	Checks  []Result     `json:"checks"`
	Fleet   []NodeStatus `json:"fleet"`
	// Transport is how VM index reports reach sensor: push, pull, off, unknown.
	Transport string `json:"vm_transport"`
	// VMs is the VM table in pull mode: every Running VMI and sensor's
	// latest scrape of it; null in push mode.
	VMs []VMRow `json:"vms"`
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
		r.Transport, r.VMs = string(m.Transport()), m.VMTable()
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
		evidence := "RELAY EVIDENCE"
		if r.Transport == string(kube.TransportPull) {
			evidence = "PULL PATH ON THE NODE"
		}
		history := fleetHasHistory(r.Fleet)
		if history {
			fmt.Fprintln(tw, "VERDICT\tNODE\tFAILING PATHS\tDOWN SINCE\t"+evidence)
		} else {
			fmt.Fprintln(tw, "VERDICT\tNODE\tFAILING PATHS\t"+evidence)
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
	if err := writeVMs(&b, r.VMs); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%d checks: %d failed, %d not permitted\n", len(r.Checks), r.Failed, r.NotPermitted)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// WriteVMTable writes the pull-mode VM table, as `probe check --cluster`
// prints it.
func WriteVMTable(w io.Writer, vms []VMRow) error {
	var b strings.Builder
	if err := writeVMs(&b, vms); err != nil {
		return err
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// writeVMs writes the pull-mode VM table.
func writeVMs(b *strings.Builder, vms []VMRow) error {
	if len(vms) == 0 {
		return nil
	}
	b.WriteString("\nVMs (pull mode: sensor's latest scrape of each Running VMI, from its log):\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tNODE\tCID\tVSOCK\tLAST OUTCOME\tAT\tNEXT")
	for _, v := range vms {
		cid, vsock := "-", "no"
		if v.CID != 0 {
			cid = strconv.FormatUint(uint64(v.CID), 10)
		}
		if v.VSOCK {
			vsock = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.VM, orUnknown(v.Node), cid, vsock, orDash(v.Outcome), clock(v.At), clock(v.Next))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clock is t as 15:04:05 UTC, "-" when nil.
func clock(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("15:04:05")
}
