package kube

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/events"

	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func drain(rec *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-rec.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}

func TestNotifierEvents(t *testing.T) {
	tests := []struct {
		name string
		call func(n *Notifier)
		want []string
	}{
		{
			name: "path down from first result",
			call: func(n *Notifier) { n.PathChanged("clusterip", "", "connect_timeout") },
			want: []string{"Warning PathDown node node-a: path clusterip is connect_timeout (was unknown)"},
		},
		{
			name: "path up",
			call: func(n *Notifier) { n.PathChanged("dns", "dns_error", "ok") },
			want: []string{"Normal PathUp node node-a: path dns is ok (was dns_error)"},
		},
		{
			name: "path back after an outage",
			call: func(n *Notifier) {
				n.PathChangedOutage("clusterip", "connect_timeout", "ok", PathOutage{Down: 3*time.Minute + 12*time.Second + 400*time.Millisecond, LastHour: 1})
			},
			want: []string{"Normal PathUp node node-a: path clusterip is ok (was connect_timeout): back after 3m12s, 1 outage in the last hour"},
		},
		{
			name: "path back after a blip",
			call: func(n *Notifier) {
				n.PathChangedOutage("podip", "reset", "ok", PathOutage{Down: 456 * time.Millisecond, LastHour: 4})
			},
			want: []string{"Normal PathUp node node-a: path podip is ok (was reset): back after 460ms, 4 outages in the last hour"},
		},
		{
			name: "path down again",
			call: func(n *Notifier) {
				n.PathChangedOutage("clusterip", "ok", "refused", PathOutage{LastHour: 3})
			},
			want: []string{"Warning PathDown node node-a: path clusterip is refused (was ok), 3 outages in the last hour"},
		},
		{
			name: "path down, its first outage of the hour",
			call: func(n *Notifier) {
				n.PathChangedOutage("clusterip", "ok", "refused", PathOutage{LastHour: 1})
			},
			want: []string{"Warning PathDown node node-a: path clusterip is refused (was ok)"},
		},
		{
			name: "failure changed",
			call: func(n *Notifier) { n.PathChanged("podip", "refused", "connect_timeout") },
			want: []string{"Warning PathFailureChanged node node-a: path podip is connect_timeout (was refused)"},
		},
		{
			name: "verdict bad",
			call: func(n *Notifier) {
				n.VerdictChanged("healthy", "networkpolicy_blocks_host_network", "8443 times out, 9443 answers")
			},
			want: []string{"Warning VerdictChanged node node-a: verdict networkpolicy_blocks_host_network (was healthy): 8443 times out, 9443 answers"},
		},
		{
			name: "verdict healthy",
			call: func(n *Notifier) { n.VerdictChanged("", "healthy", "") },
			want: []string{"Normal VerdictChanged node node-a: verdict healthy (was unknown)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := events.NewFakeRecorder(100)
			n := newNotifier(NotifierConfig{PodName: "sensorprobe-x", PodNamespace: "stackrox", NodeName: "node-a"}, nil, nil, rec)
			tt.call(n)
			if diff := cmp.Diff(tt.want, drain(rec)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// A flapping path must not flood the API server: per key at most Burst
// events, then one per Interval that says how many changes it skipped.
func TestNotifierFlappingPathIsRateLimited(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	rec := events.NewFakeRecorder(10000)
	n := newNotifier(NotifierConfig{
		PodName: "sensorprobe-x", PodNamespace: "stackrox", NodeName: "node-a",
		Burst: 3, Interval: 5 * time.Minute, TotalBurst: 10, TotalInterval: time.Minute,
		Now: clock.now,
	}, nil, nil, rec)

	flap := func(times int) {
		for i := range times {
			if i%2 == 0 {
				n.PathChanged("clusterip", "ok", "connect_timeout")
			} else {
				n.PathChanged("clusterip", "connect_timeout", "ok")
			}
		}
	}
	flap(1000)
	if got := len(drain(rec)); got != 3 {
		t.Errorf("after 1000 flaps at one instant: %d events, want 3 (the burst)", got)
	}
	// Another path still gets its own events.
	n.PathChanged("dns", "ok", "dns_error")
	if got := len(drain(rec)); got != 1 {
		t.Errorf("other path: %d events, want 1", got)
	}

	clock.t = clock.t.Add(5 * time.Minute)
	flap(1000)
	got := drain(rec)
	if len(got) != 1 {
		t.Fatalf("after one interval: %d events, want 1: %q", len(got), got)
	}
	if !strings.Contains(got[0], "(997 earlier changes not reported: rate limit)") {
		t.Errorf("event does not count the skipped changes: %q", got[0])
	}

	// Many paths at once are bounded by the total limit.
	clock.t = clock.t.Add(time.Hour)
	for i := range 50 {
		n.PathChanged("custom"+string(rune('a'+i%26))+string(rune('a'+i/26)), "ok", "refused")
	}
	if got := len(drain(rec)); got != 10 {
		t.Errorf("50 paths at one instant: %d events, want 10 (the total burst)", got)
	}
	if got, want := n.Emitted(), uint64(3+1+1+10); got != want {
		t.Errorf("Emitted() = %v, want %v", got, want)
	}
}

// Without the downward-API identity there is no object to report about:
// the Notifier drops every event, says so once when it runs, and counts
// nothing, however many changes arrive.
func TestNotifierWithoutPodDropsEvents(t *testing.T) {
	var logs testsupport.LockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	n := NewNotifier(nil, NotifierConfig{NodeName: "node-a"}, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	for range 10 {
		n.PathChanged("clusterip", "ok", "refused")
		n.VerdictChanged("healthy", "degraded", "")
	}
	testsupport.Eventually(t, 5*time.Second, func() (bool, string) {
		return strings.Contains(logs.String(), "kubernetes events disabled"), "no log line saying events are disabled: " + logs.String()
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if got := n.Emitted(); got != 0 {
		t.Errorf("Emitted() = %d, want 0", got)
	}
	if got := strings.Count(logs.String(), "kubernetes events disabled"); got != 1 {
		t.Errorf("the disabled line was logged %d times, want 1:\n%s", got, logs.String())
	}
}
