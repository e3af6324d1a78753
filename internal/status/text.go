package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// WriteJSON writes r as indented JSON followed by a new line, the body of
// /status and of `probe check --output json`.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write status json: %w", err)
	}
	return nil
}

// WriteTable writes r for a terminal: the node, an aligned table of paths
// with their phase timings, the error text of every failing path, since when
// each is down and how often it was in the last hour, the VSOCK and
// Kubernetes facts and whose history it is when known, and last the verdict
// with its cause and fix, so that the fix is on screen after `probe check`
// returns.
func WriteTable(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	node := r.Node
	if node == "" {
		node = "(unknown node)"
	}
	ew.printf("sensorprobe on %s at %s\n\n", node, r.GeneratedAt.UTC().Format(time.RFC3339))

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	head := []string{"PATH", "TARGET", "RESULT", "REASON", "FAILED"}
	for _, ph := range dial.Phases() {
		head = append(head, strings.ToUpper(string(ph)))
	}
	head = append(head, "LAST SUCCESS", "FAILS")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, p := range r.Paths {
		name := p.Name
		switch state.Consumer(p.Consumer) {
		case state.ConsumerRelay:
			name += " (relay)"
		case state.ConsumerNone:
			name += " (control)"
		}
		row := []string{name, dash(p.Target), strings.ToUpper(p.State), dash(p.Reason), dash(p.FailedPhase)}
		for _, ph := range dial.Phases() {
			if pt, ok := p.Phase(ph); ok {
				row = append(row, seconds(pt.Seconds))
			} else {
				row = append(row, "-")
			}
		}
		row = append(row, ago(p.LastSuccess, r.GeneratedAt), fmt.Sprint(p.ConsecutiveFailures))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if len(r.Paths) == 0 {
		fmt.Fprintln(tw, "(no paths configured)")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status table: %w", err)
	}

	writeErrors(ew, r)
	writeOutages(ew, r)

	ew.printf("\n")
	if v := r.VSOCK; v != nil {
		ew.printf("VSOCK     %s\n", vsockLine(v, r.GeneratedAt))
	}
	if k := r.Kubernetes; k != nil {
		ew.printf("CLUSTER   %s\n", kubeLine(k))
	}
	ew.printf("HISTORY   %s\n", historyText(r.History, r.GeneratedAt))
	name := r.Verdict.Name
	if r.Verdict.Severity != "" {
		name += " (" + r.Verdict.Severity + ")"
	}
	ew.printf("VERDICT   %s\nCAUSE     %s\nFIX       %s\n", name, r.Verdict.Cause, r.Verdict.Fix)
	for _, n := range r.Verdict.Notes {
		ew.printf("NOTE      %s\n", n)
	}
	if ew.err != nil {
		return fmt.Errorf("write status table: %w", ew.err)
	}
	return nil
}

// writeErrors writes the error text of every failing path.
func writeErrors(ew *errWriter, r Report) {
	var errs []string
	for _, p := range r.Paths {
		if p.Error != "" {
			errs = append(errs, fmt.Sprintf("  %s: %s", p.Name, p.Error))
		}
		if p.TLS != nil && p.TLS.VerifyError != "" && !strings.Contains(p.Error, p.TLS.VerifyError) {
			errs = append(errs, fmt.Sprintf("  %s: certificate: %s", p.Name, p.TLS.VerifyError))
		}
	}
	if len(errs) > 0 {
		ew.printf("\nerrors:\n%s\n", strings.Join(errs, "\n"))
	}
}

// writeOutages writes, for every path that is down or had outages in the
// last hour, since when and how often.
func writeOutages(ew *errWriter, r Report) {
	var lines []string
	for _, p := range r.Paths {
		if line := historyLine(p, r.History, r.GeneratedAt); line != "" {
			lines = append(lines, fmt.Sprintf("  %s: %s", p.Name, line))
		}
	}
	if len(lines) > 0 {
		ew.printf("\noutages:\n%s\n", strings.Join(lines, "\n"))
	}
}

// vsockLine summarises the VSOCK facts in one line.
func vsockLine(v *VSOCK, now time.Time) string {
	listening := "not listening"
	if v.RelayListening {
		listening = "listening"
	}
	s := fmt.Sprintf("relay port %d %s, %d established, %d recent connections, %d peer CIDs, last activity %s",
		v.RelayPort, listening, v.RelayConnections, v.ConnectionsRecent, v.PeerCIDs, ago(v.LastActivity, now))
	if !v.DiagSupported {
		s += "; sock_diag unsupported"
	}
	if v.SendErrorsRecent > 0 || v.ReportsSentRecent > 0 {
		s += fmt.Sprintf("; relay sent %d reports, %d failed", v.ReportsSentRecent, v.SendErrorsRecent)
	}
	if v.Error != "" {
		s += "; error: " + v.Error
	}
	if v.Evidence != "" {
		s += "; evidence: " + v.Evidence
	}
	return s
}

// kubeLine summarises the Kubernetes facts in one line.
func kubeLine(k *Kubernetes) string {
	var parts []string
	if !k.DiscoveryUp {
		parts = append(parts, "discovery down")
	}
	switch {
	case k.SensorOnThisNode == nil:
		parts = append(parts, "sensor placement unknown")
	case *k.SensorOnThisNode:
		parts = append(parts, "sensor runs on this node")
	default:
		parts = append(parts, "sensor does not run on this node")
	}
	if k.SensorPod != "" {
		s := "sensor pod " + k.SensorPod
		if k.SensorNode != "" {
			s += " on " + k.SensorNode
		}
		parts = append(parts, s)
	}
	if k.RelayEndpoint != "" || k.RelayPath != "" {
		parts = append(parts, fmt.Sprintf("relay endpoint %s (path %s)", dash(k.RelayEndpoint), dash(k.RelayPath)))
	}
	switch {
	case k.RelayHostNetwork == nil:
	case *k.RelayHostNetwork:
		parts = append(parts, "collector on the host network")
	default:
		parts = append(parts, "collector in the pod network (host-network paths are controls)")
	}
	if k.Version != "" {
		parts = append(parts, "RHACS "+k.Version)
	}
	if k.VMTransport != "" {
		parts = append(parts, "VM transport "+k.VMTransport)
	}
	if vms := k.VMs; vms != nil && vms.Listed {
		parts = append(parts, vms.Summary())
	}
	if k.SensorRestarts > 0 {
		s := fmt.Sprintf("sensor restarted %d times", k.SensorRestarts)
		if k.SensorLastTermination != "" {
			s += " (last " + k.SensorLastTermination + ")"
		}
		parts = append(parts, s)
	}
	if k.Error != "" {
		parts = append(parts, "error: "+k.Error)
	}
	return strings.Join(parts, ", ")
}

// seconds formats a duration given in seconds for people: 850µs, 12.3ms, 2.00s.
func seconds(s float64) string {
	switch {
	case s < 0.001:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}

// ago formats t relative to now in at most two units: "never", "12s ago",
// "47m ago", "3h5m ago", "2d4h ago".
func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	d := max(now.Sub(*t), 0)
	const day = 24 * time.Hour
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < day:
		s = fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		s = fmt.Sprintf("%dd%dh", int(d/day), int(d%day/time.Hour))
	}
	return s + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// errWriter remembers the first write error so that formatting code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

// Summary is one line on this node's part of the pull path: "2 Running
// VMIs here, 1 without VSOCK, virt-handler kubevirt/virt-handler-x up".
func (v *VMs) Summary() string {
	if !v.Listed {
		return "VMIs not listed"
	}
	noun := "VMIs"
	if len(v.Running) == 1 {
		noun = "VMI"
	}
	s := fmt.Sprintf("%d Running %s here, %d without VSOCK", len(v.Running), noun, len(v.WithoutVSOCK))
	if vh := v.VirtHandler; vh != nil {
		s += ", " + virtHandlerText(vh)
	}
	return s
}

// virtHandlerText says in a few words how this node's virt-handler is.
func virtHandlerText(vh *VirtHandler) string {
	switch {
	case vh.Pod == "":
		return "no virt-handler"
	case !vh.Ready:
		return "virt-handler " + vh.Pod + " not ready"
	case vh.Reachable == nil:
		return "virt-handler " + vh.Pod + " ready"
	case !*vh.Reachable:
		return "virt-handler " + vh.Pod + " refuses 8186: " + vh.Error
	}
	return "virt-handler " + vh.Pod + " up"
}
