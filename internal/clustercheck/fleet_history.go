package clustercheck

import (
	"fmt"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/status"
)

// PathDown is since when a failing path of a node is down and how often it
// was in the last hour, as the node's /status says.
type PathDown struct {
	Path string `json:"path"`
	// Since is when the ongoing outage began; null from a probe that keeps
	// no outage history.
	Since *time.Time `json:"since"`
	// Seconds is how long it had been down when the node's report was made.
	Seconds float64 `json:"seconds"`
	// OutagesLastHour counts the path's outages in the node's last hour.
	OutagesLastHour int `json:"outages_last_hour"`
}

// downOf returns the history of a failing path of report r.
func downOf(r status.Report, p status.PathStatus) PathDown {
	d := PathDown{Path: p.Name, Since: p.DownSince, OutagesLastHour: p.OutagesLastHour}
	if p.DownSince != nil && !r.GeneratedAt.IsZero() {
		d.Seconds = max(r.GeneratedAt.Sub(*p.DownSince).Seconds(), 0)
	}
	return d
}

// downText is the DOWN SINCE column of a node: "dns 14:02:11 (3m12s), 4
// outages in the last hour", one entry per failing path; "-" with none, "?"
// for a path its probe keeps no history of.
func downText(n NodeStatus) string {
	if len(n.Down) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(n.Down))
	for _, d := range n.Down {
		if d.Since == nil {
			parts = append(parts, d.Path+" ?")
			continue
		}
		noun := "outages"
		if d.OutagesLastHour == 1 {
			noun = "outage"
		}
		at := d.Since.UTC().Format(time.TimeOnly)
		if d.Seconds >= 24*time.Hour.Seconds() {
			at = d.Since.UTC().Format(time.DateTime)
		}
		down := status.Length(time.Duration(d.Seconds * float64(time.Second)))
		parts = append(parts, fmt.Sprintf("%s %s (%s), %d %s in the last hour", d.Path, at, down, d.OutagesLastHour, noun))
	}
	return strings.Join(parts, "; ")
}

// fleetHasHistory reports whether any node's failing path has a "down
// since": the fleet table then has its DOWN SINCE column.
func fleetHasHistory(rows []NodeStatus) bool {
	for _, n := range rows {
		for _, d := range n.Down {
			if d.Since != nil {
				return true
			}
		}
	}
	return false
}
