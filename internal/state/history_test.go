package state_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// errText is the error text result gives a failure of target.
func errText(target dial.Target, reason dial.Reason) string {
	return "connect: dial tcp " + target.Addr + ": " + string(reason)
}

func TestOutageLog(t *testing.T) {
	ok, refused, timeout := dial.ReasonOK, dial.ReasonRefused, dial.ReasonConnectTimeout
	full := func(reason dial.Reason, at time.Duration) dial.Result {
		return fullResult(reason, dial.PhaseConnect, at)
	}
	tests := []struct {
		name    string
		results []dial.Result
		now     time.Duration
		want    []state.Outage // newest first
		// wantChanges are the Transitions' outages of the results that changed the path, in order.
		wantChanges []*state.Outage
	}{
		{
			name:    "a streak of two failures, the reason changing on the way",
			results: []dial.Result{full(ok, 0), full(refused, time.Second), full(timeout, 2*time.Second), full(ok, 3*time.Second)},
			now:     4 * time.Second,
			want: []state.Outage{{
				Start: t0.Add(time.Second), End: t0.Add(3 * time.Second),
				StartReason: refused, StartError: errText(clusterIP, refused), EndReason: timeout, AttemptsFailed: 2,
			}},
			wantChanges: []*state.Outage{
				nil,
				{Start: t0.Add(time.Second), StartReason: refused, StartError: errText(clusterIP, refused), EndReason: refused, AttemptsFailed: 1},
				{Start: t0.Add(time.Second), StartReason: refused, StartError: errText(clusterIP, refused), EndReason: timeout, AttemptsFailed: 2},
				{Start: t0.Add(time.Second), End: t0.Add(3 * time.Second), StartReason: refused, StartError: errText(clusterIP, refused), EndReason: timeout, AttemptsFailed: 2},
			},
		},
		{
			name:    "a one-attempt blip is kept and marked",
			results: []dial.Result{full(ok, 0), full(timeout, time.Second), full(ok, 2*time.Second)},
			now:     3 * time.Second,
			want: []state.Outage{{
				Start: t0.Add(time.Second), End: t0.Add(2 * time.Second),
				StartReason: timeout, StartError: errText(clusterIP, timeout), EndReason: timeout, AttemptsFailed: 1, Blip: true,
			}},
		},
		{
			name:    "down from the first attempt, still down",
			results: []dial.Result{full(refused, 0), full(refused, time.Second)},
			now:     90 * time.Second,
			want: []state.Outage{{
				Start: t0, StartReason: refused, StartError: errText(clusterIP, refused), EndReason: refused, AttemptsFailed: 2,
			}},
		},
		{
			// A connect success does not end an outage of a failing full
			// attempt; the outage is not a blip although one attempt failed.
			name: "connect successes while the full attempt fails",
			results: []dial.Result{
				full(ok, 0),
				fullResult(dial.ReasonCertUnknownAuthority, dial.PhaseTLS, time.Second),
				connectResult(ok, 2*time.Second),
				connectResult(ok, 3*time.Second),
				full(ok, 4*time.Second),
			},
			now: 5 * time.Second,
			want: []state.Outage{{
				Start: t0.Add(time.Second), End: t0.Add(4 * time.Second),
				StartReason: dial.ReasonCertUnknownAuthority, StartError: errText(clusterIP, dial.ReasonCertUnknownAuthority),
				EndReason: dial.ReasonCertUnknownAuthority, AttemptsFailed: 1,
			}},
		},
		{
			name:    "a connect failure takes a full-ok path down, a connect success brings it back",
			results: []dial.Result{full(ok, 0), connectResult(timeout, time.Second), connectResult(timeout, 2*time.Second), connectResult(ok, 3*time.Second)},
			now:     3 * time.Second,
			want: []state.Outage{{
				Start: t0.Add(time.Second), End: t0.Add(3 * time.Second),
				StartReason: timeout, StartError: errText(clusterIP, timeout), EndReason: timeout, AttemptsFailed: 2,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
			var changes []*state.Outage
			for _, r := range tt.results {
				if tr, changed := s.Record(r); changed {
					changes = append(changes, tr.Outage)
				}
			}
			h := s.History(t0.Add(tt.now))[clusterIP.Name]
			if diff := cmp.Diff(tt.want, h.Outages); diff != "" {
				t.Errorf("outages (-want +got):\n%s", diff)
			}
			if h.OutagesLastHour != len(tt.want) {
				t.Errorf("OutagesLastHour = %d, want %d", h.OutagesLastHour, len(tt.want))
			}
			wantSince := time.Time{}
			if tt.want[0].Ongoing() {
				wantSince = tt.want[0].Start
			}
			if got := h.DownSince(); !got.Equal(wantSince) {
				t.Errorf("DownSince() = %v, want %v", got, wantSince)
			}
			if tt.wantChanges != nil {
				if diff := cmp.Diff(tt.wantChanges, changes); diff != "" {
					t.Errorf("the Transitions' outages (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestOutageLogBounded flaps a path 30 times in an hour: the log keeps the
// last OutageLimit, newest first, and the hour's count still sees all 30.
func TestOutageLogBounded(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	const flaps = 30
	for i := range flaps {
		at := time.Duration(i) * time.Minute
		s.Record(result(clusterIP, dial.ReasonOK, at))
		s.Record(result(clusterIP, dial.ReasonRefused, at+20*time.Second))
		s.Record(result(clusterIP, dial.ReasonRefused, at+30*time.Second))
	}
	s.Record(result(clusterIP, dial.ReasonOK, flaps*time.Minute))
	now := t0.Add(flaps*time.Minute + time.Second)
	h := s.History(now)[clusterIP.Name]
	if len(h.Outages) != state.OutageLimit {
		t.Fatalf("%d outages kept, want %d", len(h.Outages), state.OutageLimit)
	}
	for i, o := range h.Outages {
		want := t0.Add(time.Duration(flaps-1-i)*time.Minute + 20*time.Second)
		if !o.Start.Equal(want) || o.Duration(now) != 40*time.Second || o.AttemptsFailed != 2 {
			t.Errorf("outage %d: start %v, %v, %d failed; want start %v, 40s, 2 failed", i, o.Start, o.Duration(now), o.AttemptsFailed, want)
		}
	}
	if h.OutagesLastHour != flaps {
		t.Errorf("OutagesLastHour = %d, want %d (counted beyond the log from the buckets)", h.OutagesLastHour, flaps)
	}
	// An hour later only the newest outages are within the hour.
	h = s.History(now.Add(50 * time.Minute))[clusterIP.Name]
	if h.OutagesLastHour != 10 {
		t.Errorf("50 minutes later, OutagesLastHour = %d, want 10", h.OutagesLastHour)
	}
}

type span struct {
	From, To time.Duration // from t0
	State    string
	Reason   dial.Reason
}

func spansOf(tl state.Timeline) []span {
	out := []span{}
	for _, s := range tl.Spans {
		out = append(out, span{s.From.Sub(t0), s.To.Sub(t0), s.State.String(), s.Reason})
	}
	return out
}

// TestTimeline: up, down, a silence longer than the maximum attempt gap,
// up again; the state holds from one attempt to the next. t0 is a multiple
// of both steps, so the spans fall on round offsets.
func TestTimeline(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	s.SetMaxAttemptGap(3 * time.Second)
	record := func(reason dial.Reason, from, to time.Duration) {
		for at := from; at < to; at += time.Second {
			s.Record(result(clusterIP, reason, at))
		}
	}
	record(dial.ReasonOK, 0, 60*time.Second)                            // up 0–60 s
	record(dial.ReasonRefused, 60*time.Second, 90*time.Second)          // down 60–90 s
	record(dial.ReasonOK, 90*time.Second, 120*time.Second)              // up 90–122 s (the last attempt holds 3 s)
	record(dial.ReasonConnectTimeout, 300*time.Second, 331*time.Second) // after a gap, down 300–330 s and on

	now := t0.Add(340 * time.Second)
	h := s.History(now)[clusterIP.Name]
	want := []span{
		{340*time.Second - time.Hour, 0, "gap", ""},
		{0, 60 * time.Second, "up", ""},
		{60 * time.Second, 90 * time.Second, "down", dial.ReasonRefused},
		{90 * time.Second, 120 * time.Second, "up", ""},
		// 120–122 s held up, then nothing: the bucket 120–135 s is up.
		{120 * time.Second, 135 * time.Second, "up", ""},
		{135 * time.Second, 300 * time.Second, "gap", ""},
		// The latest attempt (330 s) holds until 333 s: the bucket
		// 330–345 s, cut at now, is down.
		{300 * time.Second, 340 * time.Second, "down", dial.ReasonConnectTimeout},
	}
	// Adjacent spans of the same state merge: 90–120 and 120–135 are one.
	want = append(want[:3], append([]span{{90 * time.Second, 135 * time.Second, "up", ""}}, want[5:]...)...)
	if diff := cmp.Diff(want, spansOf(h.Hour)); diff != "" {
		t.Errorf("hour timeline (-want +got):\n%s", diff)
	}
	if !h.Hour.From.Equal(now.Add(-time.Hour)) || !h.Hour.To.Equal(now) || h.Hour.Step != state.HourStep {
		t.Errorf("hour timeline %v–%v step %v, want the hour before now in steps of %v", h.Hour.From, h.Hour.To, h.Hour.Step, state.HourStep)
	}
	// The day, in 5-minute buckets: refused was the longest down reason of
	// the first bucket, connect_timeout of the second.
	wantDay := []span{
		{340*time.Second - 24*time.Hour, 0, "gap", ""},
		{0, 300 * time.Second, "down", dial.ReasonRefused},
		{300 * time.Second, 340 * time.Second, "down", dial.ReasonConnectTimeout},
	}
	if diff := cmp.Diff(wantDay, spansOf(h.Day)); diff != "" {
		t.Errorf("day timeline (-want +got):\n%s", diff)
	}
}

// TestHistoryFollowsTargets: a retargeted path keeps its history, a removed
// one loses it, a new one starts empty.
func TestHistoryFollowsTargets(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP, podIP}, state.Uses{})
	s.Record(result(clusterIP, dial.ReasonRefused, 0))
	s.Record(result(podIP, dial.ReasonRefused, 0))
	moved := clusterIP
	moved.Addr = "172.30.0.99:443"
	s.SetTargets([]dial.Target{moved, webhook}, state.Uses{})
	h := s.History(t0.Add(time.Second))
	if got := len(h[clusterIP.Name].Outages); got != 1 {
		t.Errorf("retargeted clusterip has %d outages, want its 1", got)
	}
	if _, ok := h[podIP.Name]; ok {
		t.Error("removed podip still has a history")
	}
	if w, ok := h[webhook.Name]; !ok || len(w.Outages) != 0 || w.Hour.Spans[0].State != state.SpanGap {
		t.Errorf("new webhook history = %+v, want an empty one", w)
	}
	s.Record(result(moved, dial.ReasonOK, time.Second))
	if o := s.History(t0.Add(2 * time.Second))[clusterIP.Name].Outages[0]; o.Ongoing() || o.Duration(t0) != time.Second {
		t.Errorf("the outage after the move = %+v, want it ended by the new target's success after 1s", o)
	}
}

func ExampleStore_History() {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	s.Record(result(clusterIP, dial.ReasonOK, 0))
	s.Record(result(clusterIP, dial.ReasonConnectTimeout, 10*time.Second))
	s.Record(result(clusterIP, dial.ReasonConnectTimeout, 20*time.Second))
	now := t0.Add(3*time.Minute + 12*time.Second + 10*time.Second)
	h := s.History(now)[clusterIP.Name]
	fmt.Printf("down since %s (%v), %d outage in the last hour\n",
		h.DownSince().UTC().Format(time.TimeOnly), h.Outages[0].Duration(now), h.OutagesLastHour)
	// Output: down since 08:00:10 (3m12s), 1 outage in the last hour
}
