// Package state keeps the latest result of every path the probe dials, and
// a bounded history of each: its last outages and a timeline of the last
// hour and day (history.go).
//
// The scheduler writes into a Store; the metrics collector, the verdict, the
// status page and the readiness check read Snapshots, the status report the
// History. A Store is safe for concurrent use.
package state

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// PathState is what the probe knows about one path.
type PathState struct {
	// Target is the path's current target.
	Target dial.Target
	// Consumer says who depends on this path from the host network;
	// ConsumerRelay marks the relay's path.
	Consumer Consumer
	// Latest is the most recent full result (TLS and the check, when the
	// check mode has them); nil before the first full attempt. TLS facts and
	// per-phase figures come from it.
	Latest *dial.Result
	// LatestConnect is the most recent connect-tier result (resolve and TCP
	// connect only); nil before the first, and always nil when every attempt
	// is full (--sensor-budget=0).
	LatestConnect *dial.Result
	// LastSuccess is when the path last succeeded; zero if never.
	LastSuccess time.Time
	// Since is when the path entered its current state: up, or down for its
	// current reason (a new failure reason restarts it).
	Since time.Time
	// ConsecutiveFailures counts failed attempts (of either tier) since the
	// path was last up.
	ConsecutiveFailures int
}

// Current returns the result that decides the path's state, nil before the
// first attempt. A connect-tier failure newer than the latest full result
// wins: the path is down at once, for that reason. Otherwise the latest full
// result decides, so a connect success does not hide a full failure (a
// certificate or /ready problem); a connect success counts alone only while
// no full attempt has been made yet.
func (p PathState) Current() *dial.Result {
	c, f := p.LatestConnect, p.Latest
	switch {
	case c != nil && !c.OK() && (f == nil || c.Start.After(f.Start)):
		return c
	case f != nil:
		return f
	}
	return c
}

// Up reports whether the path is up: see Current.
func (p PathState) Up() bool {
	r := p.Current()
	return r != nil && r.OK()
}

// reason is the path's current reason, "" before the first attempt.
func (p PathState) reason() dial.Reason {
	if r := p.Current(); r != nil {
		return r.Reason
	}
	return ""
}

// Transition describes a change of a path between up and down, or of its failure reason.
type Transition struct {
	Path      string
	WasKnown  bool        // false for the first result of a path
	OldReason dial.Reason // empty when !WasKnown
	NewReason dial.Reason
	// Outage is the outage this result started, continued or ended, as it
	// stands after the result; nil when the path is up and was not down
	// before it.
	Outage *Outage
	// OutagesLastHour counts the path's outages in the hour before the
	// result began, Outage included.
	OutagesLastHour int
}

// Store holds the latest state of every path. The zero value is not usable; call New.
type Store struct {
	mu    sync.RWMutex
	paths map[string]*PathState
	// hist is each path's history, kept while the path is configured.
	hist    map[string]*pathHistory
	maxGap  time.Duration
	reasons []dial.Reason // dial.Reasons(), the timeline's reason index
}

// New returns an empty Store.
func New() *Store {
	return &Store{paths: map[string]*PathState{}, hist: map[string]*pathHistory{}, reasons: dial.Reasons()}
}

// SetTargets replaces the set of paths. Paths not in targets are forgotten;
// new paths start with no result; a path whose address or server name changed
// keeps its history but its next result is compared afresh. uses says which
// path the relay is configured with and who depends on each. It returns the
// names of removed paths.
func (s *Store) SetTargets(targets []dial.Target, uses Uses) (removed []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]bool, len(targets))
	for _, t := range targets {
		keep[t.Name] = true
		p, ok := s.paths[t.Name]
		if !ok {
			p = &PathState{}
			s.paths[t.Name] = p
			s.hist[t.Name] = newPathHistory()
		}
		if p.Target != t && ok {
			p.Latest, p.LatestConnect = nil, nil
		}
		p.Target = t
		p.Consumer = uses.Consumer(t.Name)
	}
	for name := range s.paths {
		if !keep[name] {
			delete(s.paths, name)
			delete(s.hist, name)
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	return removed
}

// Record stores r as the latest result of its tier (Latest or
// LatestConnect), adds it to the path's history, and reports whether the
// path changed state (up↔down or a different failure reason; see
// PathState.Current). A result for a path that
// is no longer in the target set, or whose target changed since the attempt
// began, is dropped: the returned Transition then has an empty Path.
func (s *Store) Record(r dial.Result) (Transition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.paths[r.Target.Name]
	if !ok || p.Target != r.Target {
		return Transition{}, false
	}
	old := p.reason()
	rc := r
	if r.Full() {
		p.Latest = &rc
	} else {
		p.LatestConnect = &rc
	}
	tr := Transition{Path: r.Target.Name, NewReason: p.reason(), WasKnown: old != "", OldReason: old}
	changed := tr.NewReason != old
	if changed || p.Since.IsZero() {
		p.Since = r.Start
	}
	switch {
	case !r.OK():
		p.ConsecutiveFailures++
	case p.Up():
		p.LastSuccess = r.Start.Add(r.Duration)
		p.ConsecutiveFailures = 0
	}
	if h := s.hist[r.Target.Name]; h != nil {
		a := attempt{at: r.Start, failed: !r.OK(), err: r.Err, up: p.Up(), reason: tr.NewReason, ri: s.reasonIndex(tr.NewReason)}
		o := h.observe(a, s.gap())
		if changed {
			// Only a change is heard; an unchanged result costs no copy and no count.
			tr.Outage = o.copy()
			tr.OutagesLastHour = h.lastHour(r.Start)
		}
	}
	return tr, changed
}

// Snapshot returns a copy of every path, sorted by name.
func (s *Store) Snapshot() []PathState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]PathState, 0, len(s.paths))
	for _, p := range s.paths {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PathState) int { return strings.Compare(a.Target.Name, b.Target.Name) })
	return out
}

// Ready reports whether every path has at least one result (of either
// tier) and there is at least one path.
func (s *Store) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.paths) == 0 {
		return false
	}
	for _, p := range s.paths {
		if p.Latest == nil && p.LatestConnect == nil {
			return false
		}
	}
	return true
}
