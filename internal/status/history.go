package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/state"
)

// Outage is one outage of a path: from the first failed attempt of a streak
// to the first attempt after which the path was up again.
type Outage struct {
	// Start is when the attempt that took the path down began.
	Start time.Time `json:"start"`
	// End is when the attempt that brought it back began; null while ongoing.
	End *time.Time `json:"end"`
	// Ongoing is true while the path is still down.
	Ongoing bool `json:"ongoing"`
	// DurationSeconds is End − Start, or GeneratedAt − Start while ongoing.
	DurationSeconds float64 `json:"duration_seconds"`
	// StartReason and StartError are the reason and error text (one line)
	// of the attempt that took the path down.
	StartReason string `json:"start_reason"`
	StartError  string `json:"start_error"`
	// EndReason is the reason of the last attempt that saw the path down.
	EndReason string `json:"end_reason"`
	// AttemptsFailed counts the failed attempts of the outage, either tier.
	AttemptsFailed int `json:"attempts_failed"`
	// Blip is true when only one attempt saw the path down.
	Blip bool `json:"blip"`
}

// VerdictChange is one change of the node's verdict.
type VerdictChange struct {
	// At is when the new verdict was decided.
	At time.Time `json:"at"`
	// From and To are the verdict names before and after.
	From string `json:"from"`
	To   string `json:"to"`
	// Severity is To's severity.
	Severity string `json:"severity"`
}

// History says whose memory the report's outages and verdict changes come
// from, and holds the verdict changes.
type History struct {
	// StartedAt is when the process that kept the history started; null
	// when `probe check --history` could not read one (Error says why).
	StartedAt *time.Time `json:"started_at"`
	// Source is "" when the history is this report's own process's, else
	// the /status address it was read from (`probe check --history`).
	Source string `json:"source"`
	// Error is why the history named by `probe check --history` could not
	// be read, "" otherwise.
	Error string `json:"error"`
	// VerdictChanges are the last changes of the node's verdict, newest
	// first; never null.
	VerdictChanges []VerdictChange `json:"verdict_changes"`
}

// Timeline is one strip of a path's history on the page (not in the JSON).
type Timeline struct {
	// Window names the strip: "last hour" or "last 24 hours".
	Window   string
	From, To time.Time
	// Spans cover From to To in order.
	Spans []Span
}

// Span is a stretch of a timeline in one state.
type Span struct {
	From, To time.Time
	// State is StateUp, StateDown or SpanGap (the path was not probed).
	State string
	// Reason is a down span's failure reason.
	Reason string
}

// SpanGap is the state of a timeline span in which the path was not probed.
const SpanGap = "gap"

// The window names of the page's strips.
const (
	WindowHour = "last hour"
	WindowDay  = "last 24 hours"
)

// SetHistory adds to r the history of every path (by name), the verdict
// changes (oldest first, as kept) and when the process that kept them
// started. The 24-hour strip is added once that process has been up for
// more than an hour; before, it would only repeat the hour's.
func (r *Report) SetHistory(paths map[string]state.PathHistory, changes []VerdictChange, startedAt time.Time) {
	now := r.GeneratedAt
	h := &History{StartedAt: &startedAt, VerdictChanges: make([]VerdictChange, 0, len(changes))}
	for _, c := range slices.Backward(changes) {
		h.VerdictChanges = append(h.VerdictChanges, c)
	}
	r.History = h
	for i := range r.Paths {
		ph, ok := paths[r.Paths[i].Name]
		if !ok {
			continue
		}
		p := &r.Paths[i]
		p.DownSince = timePtr(ph.DownSince())
		p.OutagesLastHour = ph.OutagesLastHour
		p.Outages = make([]Outage, 0, len(ph.Outages))
		for _, o := range ph.Outages {
			p.Outages = append(p.Outages, outageOf(o, now))
		}
		p.Timelines = []Timeline{timelineOf(WindowHour, ph.Hour)}
		if now.Sub(startedAt) > time.Hour {
			p.Timelines = append(p.Timelines, timelineOf(WindowDay, ph.Day))
		}
	}
}

func outageOf(o state.Outage, now time.Time) Outage {
	return Outage{
		Start:           o.Start,
		End:             timePtr(o.End),
		Ongoing:         o.Ongoing(),
		DurationSeconds: o.Duration(now).Seconds(),
		StartReason:     string(o.StartReason),
		StartError:      oneLine(o.StartError),
		EndReason:       string(o.EndReason),
		AttemptsFailed:  o.AttemptsFailed,
		Blip:            o.Blip,
	}
}

func timelineOf(window string, tl state.Timeline) Timeline {
	out := Timeline{Window: window, From: tl.From, To: tl.To, Spans: make([]Span, 0, len(tl.Spans))}
	for _, s := range tl.Spans {
		out.Spans = append(out.Spans, Span{From: s.From, To: s.To, State: s.State.String(), Reason: string(s.Reason)})
	}
	return out
}

// historyLine is the path's history in one line for `probe check`: "down
// since 14:02:11 (3m12s), 4 outages in the last hour"; "" when there is
// nothing to say (an up path without outages in the hour, no history).
func historyLine(p PathStatus, h *History, now time.Time) string {
	if h == nil || h.StartedAt == nil {
		return ""
	}
	count := outagesPhrase(p.OutagesLastHour, h.started(), now)
	// With a daemon's history (`probe check --history`), this round and
	// the daemon's latest attempt may disagree for a moment.
	switch {
	case p.State == StateDown && p.DownSince != nil:
		return fmt.Sprintf("down since %s (%s), %s", clock(*p.DownSince, now), Length(now.Sub(*p.DownSince)), count)
	case p.State == StateDown:
		return "down now, up at the probe's latest attempt, " + count
	case p.Up && p.DownSince != nil:
		return fmt.Sprintf("up now, down since %s at the probe's latest attempt, %s", clock(*p.DownSince, now), count)
	case p.Up && p.OutagesLastHour > 0 && len(p.Outages) > 0 && p.Outages[0].End != nil:
		last := p.Outages[0]
		return fmt.Sprintf("up, %s; the last %s–%s (%s, %s)", count, clock(last.Start, now), clock(*last.End, now),
			Length(seconds2d(last.DurationSeconds)), last.StartReason)
	}
	return ""
}

// outagesPhrase is "4 outages in the last hour", or, when the history is
// younger than an hour, "4 outages since the probe started 12m ago".
func outagesPhrase(n int, started, now time.Time) string {
	s := fmt.Sprintf("%d outages", n)
	if n == 1 {
		s = "1 outage"
	}
	if !started.IsZero() && now.Sub(started) < time.Hour {
		return s + " since the probe started " + Length(now.Sub(started)) + " ago"
	}
	return s + " in the last hour"
}

// historyText is the HISTORY line of `probe check`: whose memory the
// outages are, and since when.
func historyText(h *History, now time.Time) string {
	if h == nil {
		return "none: this round only (--history URL reads a running probe's: since when, how often)"
	}
	if h.StartedAt == nil {
		return "none: " + h.Error
	}
	s := fmt.Sprintf("kept since %s (%s ago)", clock(*h.StartedAt, now), Length(now.Sub(*h.StartedAt)))
	if h.Source != "" {
		s += " by the probe at " + h.Source
	} else {
		s += " by this process"
	}
	if h.Error != "" {
		s += "; " + h.Error
	}
	return s
}

// started is StartedAt, zero when not known.
func (h *History) started() time.Time {
	if h == nil || h.StartedAt == nil {
		return time.Time{}
	}
	return *h.StartedAt
}

// clock formats t as a time of day in UTC, with the date when t is a day
// or more before now.
func clock(t, now time.Time) string {
	if now.Sub(t) >= 24*time.Hour {
		return t.UTC().Format(time.DateTime)
	}
	return t.UTC().Format(time.TimeOnly)
}

// Length formats a duration for people in at most two units: 3.2s, 12s,
// 3m12s, 2h05m, 3d4h.
func Length(d time.Duration) string {
	d = max(d, 0)
	const day = 24 * time.Hour
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < day:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/day), int(d%day/time.Hour))
}

func seconds2d(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// outageTitle describes an outage in one line, for the page's tooltips and list.
func outageTitle(path string, o Outage, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s down %s", path, clock(o.Start, now))
	if o.End != nil {
		fmt.Fprintf(&b, " – %s (%s)", clock(*o.End, now), Length(seconds2d(o.DurationSeconds)))
	} else {
		fmt.Fprintf(&b, ", ongoing (%s)", Length(seconds2d(o.DurationSeconds)))
	}
	b.WriteString(": " + o.StartReason)
	if o.EndReason != "" && o.EndReason != o.StartReason {
		b.WriteString(", then " + o.EndReason)
	}
	if o.Blip {
		b.WriteString("; a blip (one attempt)")
	} else {
		fmt.Fprintf(&b, "; %d attempts failed", o.AttemptsFailed)
	}
	if o.StartError != "" {
		b.WriteString("; error: " + o.StartError)
	}
	return b.String()
}
