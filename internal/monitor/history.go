package monitor

import (
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
	"github.com/sensorprobe/sensorprobe/internal/status"
)

// VerdictChangeLimit is how many changes of the verdict the monitor keeps.
const VerdictChangeLimit = 20

// OutageListener is a Listener that also wants to know, with each change of
// a path, the outage it started, continued or ended. The monitor calls
// PathOutageChanged instead of PathChanged on a listener that implements it.
type OutageListener interface {
	Listener
	// PathOutageChanged is called when a path goes up, goes down, or fails
	// for a new reason. It must not block for long.
	PathOutageChanged(c PathChange)
}

// PathChange is one change of a path, with its outage.
type PathChange struct {
	Path     string
	Old, New dial.Reason
	// Err is the error of the result that made the change; nil when it succeeded.
	Err error
	// Outage is the outage the change started, continued (a new reason) or
	// ended (the path came back), as it stands after the change; nil when
	// the path is up and was not down before (its first result).
	Outage *state.Outage
	// OutagesLastHour counts the path's outages in the hour before the
	// change, Outage included.
	OutagesLastHour int
}

// Back reports whether the change ended an outage, and how long it lasted.
func (c PathChange) Back() (time.Duration, bool) {
	if c.Outage == nil || c.Outage.Ongoing() {
		return 0, false
	}
	return c.Outage.Duration(c.Outage.End), true
}

// notifyPath tells every listener about a change of a path.
func (m *Monitor) notifyPath(tr state.Transition, r dial.Result) {
	c := PathChange{Path: tr.Path, Old: tr.OldReason, New: tr.NewReason, Err: r.Err, Outage: tr.Outage, OutagesLastHour: tr.OutagesLastHour}
	for _, l := range m.listenersCopy() {
		if ol, ok := l.(OutageListener); ok {
			ol.PathOutageChanged(c)
			continue
		}
		l.PathChanged(c.Path, c.Old, c.New, c.Err)
	}
}

// recordVerdictChange keeps a change of the verdict's name, the last
// VerdictChangeLimit of them. The caller holds m.mu.
func (m *Monitor) recordVerdictChange(at time.Time, from, to, severity string) {
	if len(m.changes) == VerdictChangeLimit {
		m.changes = append(m.changes[:0], m.changes[1:]...)
	}
	m.changes = append(m.changes, status.VerdictChange{At: at, From: from, To: to, Severity: severity})
}

// StartedAt is when the monitor was created: since when its history is kept.
func (m *Monitor) StartedAt() time.Time { return m.started }
