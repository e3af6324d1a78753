//go:build e2e && linux

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/status"
)

// outageSlack is how long before the fault an outage may begin: an attempt
// that began up to an interval and a timeout before it may fail because of it.
const outageSlack = 2 * time.Second

// wantOutages returns, per path, how many outages a fault must leave in the
// probe's outage log (/status paths[].outages): at least one on every path
// its expected state has down, or minOutages where the row sets it.
func wantOutages(f fault) map[string]int {
	if f.minOutages != nil {
		return f.minOutages
	}
	want := map[string]int{}
	for p, reason := range f.want.paths {
		if reason != "ok" && reason != "" {
			want[p] = 1
		}
	}
	return want
}

// checkOutages reads the probe's /status once the node is healthy again
// after a fault and checks its outage log: every path the fault took down
// has the outages it must have, begun after the fault was injected and
// ended. A note lists them; rows that take no path down note any outage.
func (h *harness) checkOutages(f fault, r *row, injected time.Time) {
	rep, err := h.status(h.ctx)
	if err != nil {
		r.fail("outage log: %v", err)
		return
	}
	byPath := map[string][]status.Outage{}
	for _, p := range rep.Paths {
		for _, o := range p.Outages {
			if !o.Start.Before(injected.Add(-outageSlack)) {
				byPath[p.Name] = append(byPath[p.Name], o)
			}
		}
	}
	want := wantOutages(f)
	var notes []string
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		notes = append(notes, p+" "+describeOutages(byPath[p]))
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		got := byPath[p]
		if len(got) < want[p] {
			r.fail("outage log: %s has %d outages since the fault, want at least %d", p, len(got), want[p])
			continue
		}
		for _, o := range got {
			if o.Ongoing {
				r.fail("outage log: %s's outage since %s still ongoing on a healthy node", p, o.Start.Format(time.TimeOnly))
			}
		}
	}
	switch {
	case len(notes) > 0:
		r.notes = append(r.notes, "outage log: "+strings.Join(notes, "; "))
	case len(want) == 0:
		r.notes = append(r.notes, "outage log: no outage (none expected)")
	}
}

// describeOutages summarises a path's outages, oldest first: "2: refused
// 8.1s, connect_timeout→refused 0.9s (blip)".
func describeOutages(os []status.Outage) string {
	parts := make([]string, 0, len(os))
	for _, o := range slices.Backward(os) {
		s := o.StartReason
		if o.EndReason != "" && o.EndReason != o.StartReason {
			s += "→" + o.EndReason
		}
		s += fmt.Sprintf(" %.1fs", o.DurationSeconds)
		if o.Blip {
			s += " (blip)"
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d: %s", len(os), strings.Join(parts, ", "))
}
