package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// The page's timeline strips are SVG drawn on the server: one rectangle per
// span of the path's timeline (up, down in its reason's colour, gap where
// the path was not probed), and over them one rectangle per outage of the
// log at its exact place, each with a <title> (the tooltip: start, end,
// reason). The SVG stretches to the page's width (preserveAspectRatio
// none); its coordinates are thousandths of the window.

// stripWidth is the width of a strip's viewBox.
const stripWidth = 1000

// minDownWidth keeps a blip visible, at a phone's width too (7 units are
// 2 pixels of a 314-pixel strip): a tenth of a second in an hour would be
// far below a pixel. Down spans and outages narrower than that are widened
// about their middle and drawn over their neighbours.
const minDownWidth = 7.0

// stripView is what the template draws for one strip.
type stripView struct {
	Window         string
	From, To       string // axis labels
	Spans, Outages []stripRect
}

// stripRect is one rectangle of a strip. Start, End and Reason are an
// outage's, for its data- attributes.
type stripRect struct {
	X, W               string
	Class, Title       string
	Start, End, Reason string
}

// strip lays out one timeline of path p as seen at now.
func strip(p PathStatus, tl Timeline, now time.Time) stripView {
	v := stripView{Window: tl.Window, From: clock(tl.From, now), To: clock(tl.To, now) + " (now)"}
	window := tl.To.Sub(tl.From)
	if window <= 0 {
		return v
	}
	x := func(t time.Time) float64 {
		return float64(max(min(t.Sub(tl.From), window), 0)) / float64(window) * stripWidth
	}
	var down []stripRect
	for _, s := range mergeSpans(tl.Spans) {
		x0, w := x(s.From), x(s.To)-x(s.From)
		if s.State != StateDown {
			v.Spans = append(v.Spans, stripRect{X: coord(x0), W: coord(w), Class: s.class, Title: s.title(now)})
			continue
		}
		x0, w = widen(x0, w)
		down = append(down, stripRect{X: coord(x0), W: coord(w), Class: s.class, Title: s.title(now)})
	}
	v.Spans = append(v.Spans, down...)             // over the others
	for _, o := range slices.Backward(p.Outages) { // oldest first: the newest on top
		end := now
		if o.End != nil {
			end = *o.End
		}
		if !end.After(tl.From) || !o.Start.Before(tl.To) {
			continue
		}
		x0, w := widen(x(o.Start), x(end)-x(o.Start))
		r := stripRect{
			X: coord(x0), W: coord(w), Class: "outage " + reasonClass(dial.Reason(o.StartReason)),
			Title: outageTitle(p.Name, o, now),
			Start: o.Start.UTC().Format(time.RFC3339Nano), End: end.UTC().Format(time.RFC3339Nano), Reason: o.StartReason,
		}
		if o.Ongoing {
			r.End = ""
		}
		v.Outages = append(v.Outages, r)
	}
	return v
}

func coord(f float64) string { return fmt.Sprintf("%.2f", f) }

// widen makes a rectangle at x0, w wide at least minDownWidth wide about
// its middle, within the strip.
func widen(x0, w float64) (float64, float64) {
	if w >= minDownWidth {
		return x0, w
	}
	x0 = min(max(x0+w/2-minDownWidth/2, 0), stripWidth-minDownWidth)
	return x0, minDownWidth
}

// drawnSpan is a run of adjacent spans of one colour.
type drawnSpan struct {
	Span
	class   string
	reasons []string
}

// mergeSpans joins adjacent spans that are drawn in the same colour: down
// spans of reasons of one family.
func mergeSpans(spans []Span) []drawnSpan {
	var out []drawnSpan
	for _, s := range spans {
		c := s.State
		if s.State == StateDown {
			c += " " + reasonClass(dial.Reason(s.Reason))
		}
		if n := len(out); n > 0 && out[n-1].class == c {
			out[n-1].To = s.To
			if !slices.Contains(out[n-1].reasons, s.Reason) {
				out[n-1].reasons = append(out[n-1].reasons, s.Reason)
			}
			continue
		}
		out = append(out, drawnSpan{Span: s, class: c, reasons: []string{s.Reason}})
	}
	return out
}

// title is a drawn span's tooltip: "up 14:00:00 – 14:31:15".
func (s drawnSpan) title(now time.Time) string {
	what := s.State
	switch s.State {
	case SpanGap:
		what = "not probed"
	case StateDown:
		what = "down (" + strings.Join(s.reasons, ", ") + ")"
	}
	return fmt.Sprintf("%s %s – %s", what, clock(s.From, now), clock(s.To, now))
}

// reasonClass is the CSS class that colours a reason; reasons of one
// family share a colour.
func reasonClass(r dial.Reason) string {
	switch r {
	case dial.ReasonConnectTimeout, dial.ReasonTLSTimeout, dial.ReasonCheckTimeout:
		return "r-timeout"
	case dial.ReasonRefused, dial.ReasonReset, dial.ReasonUnreachable:
		return "r-refused"
	case dial.ReasonDNSError:
		return "r-dns"
	case dial.ReasonTLSError, dial.ReasonCertUnknownAuthority, dial.ReasonCertNameMismatch, dial.ReasonCertExpired:
		return "r-tls"
	case dial.ReasonCheckFailed:
		return "r-check"
	}
	return "r-other"
}

// legendEntry is one colour of the legend and the reasons it stands for.
type legendEntry struct {
	Class, Label string
}

// legend lists the colours the page's strips use: up, not probed, and one
// per reason family present, naming the reasons seen.
func legend(paths []PathStatus) []legendEntry {
	seen := map[string][]string{}
	add := func(r string) {
		c := reasonClass(dial.Reason(r))
		if r != "" && !slices.Contains(seen[c], r) {
			seen[c] = append(seen[c], r)
		}
	}
	for _, p := range paths {
		for _, tl := range p.Timelines {
			for _, s := range tl.Spans {
				add(s.Reason)
			}
		}
		for _, o := range p.Outages {
			add(o.StartReason)
		}
	}
	out := []legendEntry{{StateUp, StateUp}, {SpanGap, "not probed"}}
	for _, c := range []string{"r-timeout", "r-refused", "r-dns", "r-tls", "r-check", "r-other"} {
		if rs := seen[c]; len(rs) > 0 {
			slices.Sort(rs)
			out = append(out, legendEntry{c, "down: " + strings.Join(rs, ", ")})
		}
	}
	return out
}

// pathSummary is the line beside a path's strips: "down since 14:02:11
// (3m12s) · 4 outages in the last hour".
func pathSummary(p PathStatus, h *History, now time.Time) string {
	count := outagesPhrase(p.OutagesLastHour, h.started(), now)
	if p.OutagesLastHour == 0 {
		count = "no outage" + count[len("0 outages"):]
	}
	switch {
	case p.DownSince != nil:
		return fmt.Sprintf("down since %s (%s) · %s", clock(*p.DownSince, now), Length(now.Sub(*p.DownSince)), count)
	case p.State == StatePending:
		return "pending"
	}
	return p.State + " · " + count
}
