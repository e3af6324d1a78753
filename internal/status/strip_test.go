package status

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func pathNamed(r Report, name string) PathStatus {
	for _, p := range r.Paths {
		if p.Name == name {
			return p
		}
	}
	return PathStatus{}
}

// TestStrip lays out clusterip's hour in the sample: three outages at their
// exact place (the window is 15:40:05–16:40:05, 1000 units wide), the
// spans of the buckets beneath them.
func TestStrip(t *testing.T) {
	r := sampleReport()
	p := pathNamed(r, "clusterip")
	if len(p.Timelines) != 2 || p.Timelines[0].Window != WindowHour || p.Timelines[1].Window != WindowDay {
		t.Fatalf("timelines %+v, want the hour and the day (the probe has been up 3 h)", p.Timelines)
	}
	v := strip(p, p.Timelines[0], r.GeneratedAt)
	type rect struct{ X, W, Class, Start, End, Reason string }
	var got []rect
	for _, o := range v.Outages {
		got = append(got, rect{o.X, o.W, o.Class, o.Start, o.End, o.Reason})
	}
	want := []rect{
		{"83.33", "8.33", "outage r-timeout", "2026-11-28T15:45:05Z", "2026-11-28T15:45:35Z", "connect_timeout"},
		{"133.33", "33.33", "outage r-refused", "2026-11-28T15:48:05Z", "2026-11-28T15:50:05Z", "refused"},
		{"233.33", "766.67", "outage r-timeout", "2026-11-28T15:54:05Z", "", "connect_timeout"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outage rectangles, oldest first (-want +got):\n%s", diff)
	}
	if title := v.Outages[1].Title; title != "clusterip down 15:48:05 – 15:50:05 (2m00s): refused, then reset; 4 attempts failed; error: dial tcp 172.30.12.7:443: refused" {
		t.Errorf("outage title = %q", title)
	}
	// Down spans come last, drawn over the others.
	var classes []string
	for _, s := range v.Spans {
		classes = append(classes, s.X+" "+s.Class)
	}
	// Buckets of 15 s from 15:40:00: the blip is down in 15:45:00–15:45:45.
	want2 := []string{"0.00 up", "94.44 up", "169.44 up", "81.94 down r-timeout", "131.94 down r-refused", "231.94 down r-timeout"}
	if !cmp.Equal(want2, classes) {
		t.Errorf("spans = %v, want %v", classes, want2)
	}
	if v.From != "15:40:05" || v.To != "16:40:05 (now)" {
		t.Errorf("axis %q … %q", v.From, v.To)
	}
}

func TestStripBlipStaysVisible(t *testing.T) {
	now := fixtureNow()
	start := now.Add(-10 * time.Minute)
	end := start.Add(100 * time.Millisecond)
	p := PathStatus{Name: "podip", Outages: []Outage{{Start: start, End: &end, DurationSeconds: 0.1, StartReason: "reset", EndReason: "reset", AttemptsFailed: 1, Blip: true}}}
	v := strip(p, Timeline{Window: WindowHour, From: now.Add(-time.Hour), To: now}, now)
	if len(v.Outages) != 1 || v.Outages[0].W != "7.00" || v.Outages[0].X != "829.85" {
		t.Fatalf("a 0.1 s blip in an hour, 10 minutes ago: %+v, want one rectangle %v units wide about 833.35", v.Outages, minDownWidth)
	}
	if !strings.Contains(v.Outages[0].Title, "a blip (one attempt)") {
		t.Errorf("blip title = %q", v.Outages[0].Title)
	}
}

func TestLegend(t *testing.T) {
	got := legend(sampleReport().Paths)
	want := []legendEntry{
		{"up", "up"}, {"gap", "not probed"},
		{"r-timeout", "down: connect_timeout"}, {"r-refused", "down: refused, reset"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("legend (-want +got):\n%s", diff)
	}
}

func TestLength(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                   "0.0s",
		3200 * time.Millisecond:        "3.2s",
		12 * time.Second:               "12s",
		3*time.Minute + 12*time.Second: "3m12s",
		2*time.Hour + 5*time.Minute:    "2h05m",
		50 * time.Hour:                 "2d2h",
	} {
		if got := Length(d); got != want {
			t.Errorf("Length(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestHistoryLine(t *testing.T) {
	now := fixtureNow()
	since := now.Add(-3*time.Minute - 12*time.Second)
	end := now.Add(-10 * time.Minute)
	twoHours, twelveMinutes := now.Add(-2*time.Hour), now.Add(-12*time.Minute)
	old := &History{StartedAt: &twoHours}
	young := &History{StartedAt: &twelveMinutes}
	tests := []struct {
		name string
		p    PathStatus
		h    *History
		want string
	}{
		{name: "down", p: PathStatus{State: StateDown, DownSince: &since, OutagesLastHour: 4}, h: old,
			want: "down since 16:36:53 (3m12s), 4 outages in the last hour"},
		{name: "down, probe younger than an hour", p: PathStatus{State: StateDown, DownSince: &since, OutagesLastHour: 1}, h: young,
			want: "down since 16:36:53 (3m12s), 1 outage since the probe started 12m00s ago"},
		{name: "down, the daemon saw it up", p: PathStatus{State: StateDown, OutagesLastHour: 2}, h: old,
			want: "down now, up at the probe's latest attempt, 2 outages in the last hour"},
		{name: "up, the daemon saw it down", p: PathStatus{State: StateUp, Up: true, DownSince: &since, OutagesLastHour: 1}, h: old,
			want: "up now, down since 16:36:53 at the probe's latest attempt, 1 outage in the last hour"},
		{name: "up after outages", p: PathStatus{State: StateUp, Up: true, OutagesLastHour: 2, Outages: []Outage{{Start: end.Add(-20 * time.Second), End: &end, DurationSeconds: 20, StartReason: "refused"}}}, h: old,
			want: "up, 2 outages in the last hour; the last 16:29:45–16:30:05 (20s, refused)"},
		{name: "up, quiet", p: PathStatus{State: StateUp, Up: true}, h: old, want: ""},
		{name: "pending", p: PathStatus{State: StatePending}, h: old, want: ""},
		{name: "no history", p: PathStatus{State: StateDown, DownSince: &since}, h: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := historyLine(tt.p, tt.h, now); got != tt.want {
				t.Errorf("historyLine() = %q, want %q", got, tt.want)
			}
		})
	}
}
