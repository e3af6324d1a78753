package state_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

var t0 = time.Unix(1_800_000_000, 0)

var (
	clusterIP = dial.Target{Name: dial.PathClusterIP, Addr: "172.30.0.10:443"}
	podIP     = dial.Target{Name: dial.PathPodIP, Addr: "10.128.0.5:8443"}
	webhook   = dial.Target{Name: dial.PathWebhook, Addr: "172.30.0.11:443", ServerName: "sensor-webhook.stackrox.svc"}
)

// result returns a result for target with reason, starting at t0+at and lasting 10ms.
func result(target dial.Target, reason dial.Reason, at time.Duration) dial.Result {
	r := dial.Result{Target: target, Reason: reason, Start: t0.Add(at), Duration: 10 * time.Millisecond}
	if reason != dial.ReasonOK {
		r.FailedPhase = dial.PhaseConnect
		r.Err = &dial.PhaseError{Phase: dial.PhaseConnect, Err: errors.New("dial tcp " + target.Addr + ": " + string(reason))}
	}
	return r
}

func names(paths []state.PathState) []string {
	out := []string{}
	for _, p := range paths {
		out = append(out, p.Target.Name)
	}
	return out
}

// snapshotByName returns the snapshot as a map for lookups by path name.
func snapshotByName(s *state.Store) map[string]state.PathState {
	m := map[string]state.PathState{}
	for _, p := range s.Snapshot() {
		m[p.Target.Name] = p
	}
	return m
}

func TestSetTargets(t *testing.T) {
	type call struct {
		targets []dial.Target
		relay   string
	}
	tests := []struct {
		name        string
		before      []call        // applied first, each followed by an OK result on every path
		targets     []dial.Target // then this call
		relay       string
		wantRemoved []string
		wantPaths   []state.PathState // Snapshot after the call, Latest compared as "has a result"
		wantLatest  map[string]bool
	}{
		{
			name:        "add to an empty store",
			targets:     []dial.Target{webhook, clusterIP},
			relay:       dial.PathClusterIP,
			wantRemoved: nil,
			wantPaths: []state.PathState{
				{Target: clusterIP, Consumer: state.ConsumerRelay},
				{Target: webhook, Consumer: state.ConsumerNone},
			},
			wantLatest: map[string]bool{dial.PathClusterIP: false, dial.PathWebhook: false},
		},
		{
			name:        "same targets keep their results",
			before:      []call{{targets: []dial.Target{clusterIP, webhook}}},
			targets:     []dial.Target{clusterIP, webhook},
			wantRemoved: nil,
			wantLatest:  map[string]bool{dial.PathClusterIP: true, dial.PathWebhook: true},
		},
		{
			name:        "removed names are returned sorted",
			before:      []call{{targets: []dial.Target{webhook, clusterIP, podIP, {Name: "a", Addr: "a:1"}}}},
			targets:     []dial.Target{podIP},
			wantRemoved: []string{"a", dial.PathClusterIP, dial.PathWebhook},
			wantLatest:  map[string]bool{dial.PathPodIP: true},
		},
		{
			name:        "remove all",
			before:      []call{{targets: []dial.Target{clusterIP, podIP}}},
			targets:     nil,
			wantRemoved: []string{dial.PathClusterIP, dial.PathPodIP},
			wantLatest:  map[string]bool{},
		},
		{
			name:        "add one remove one",
			before:      []call{{targets: []dial.Target{clusterIP, podIP}}},
			targets:     []dial.Target{clusterIP, webhook},
			wantRemoved: []string{dial.PathPodIP},
			wantLatest:  map[string]bool{dial.PathClusterIP: true, dial.PathWebhook: false},
		},
		{
			name:        "changed address drops the latest result",
			before:      []call{{targets: []dial.Target{clusterIP, podIP}}},
			targets:     []dial.Target{{Name: dial.PathClusterIP, Addr: "172.30.0.99:443"}, podIP},
			wantRemoved: nil,
			wantLatest:  map[string]bool{dial.PathClusterIP: false, dial.PathPodIP: true},
		},
		{
			name:        "changed server name drops the latest result",
			before:      []call{{targets: []dial.Target{webhook}}},
			targets:     []dial.Target{{Name: dial.PathWebhook, Addr: webhook.Addr, ServerName: "other.svc"}},
			wantRemoved: nil,
			wantLatest:  map[string]bool{dial.PathWebhook: false},
		},
		{
			name:        "relay moves without dropping results",
			before:      []call{{targets: []dial.Target{clusterIP, podIP}, relay: dial.PathClusterIP}},
			targets:     []dial.Target{clusterIP, podIP},
			relay:       dial.PathPodIP,
			wantRemoved: nil,
			wantPaths: []state.PathState{
				{Target: clusterIP, Consumer: state.ConsumerNone},
				{Target: podIP, Consumer: state.ConsumerRelay},
			},
			wantLatest: map[string]bool{dial.PathClusterIP: true, dial.PathPodIP: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			for i, c := range tt.before {
				if removed := s.SetTargets(c.targets, usesOf(c.relay)); len(removed) != 0 {
					t.Fatalf("setup call %d removed %v", i, removed)
				}
				for _, target := range c.targets {
					if tr, _ := s.Record(result(target, dial.ReasonOK, 0)); tr.Path == "" {
						t.Fatalf("setup result for %s was dropped", target.Name)
					}
				}
			}
			removed := s.SetTargets(tt.targets, usesOf(tt.relay))
			if diff := cmp.Diff(tt.wantRemoved, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			snap := s.Snapshot()
			if tt.wantPaths != nil {
				opts := cmpopts.IgnoreFields(state.PathState{}, "Latest", "LastSuccess", "Since", "ConsecutiveFailures")
				if diff := cmp.Diff(tt.wantPaths, snap, opts); diff != "" {
					t.Errorf("paths (-want +got):\n%s", diff)
				}
			}
			gotTargets := []dial.Target{}
			gotLatest := map[string]bool{}
			for _, p := range snap {
				gotTargets = append(gotTargets, p.Target)
				gotLatest[p.Target.Name] = p.Latest != nil
			}
			wantTargets := append([]dial.Target{}, tt.targets...)
			if diff := cmp.Diff(wantTargets, gotTargets, cmpopts.SortSlices(func(a, b dial.Target) bool { return a.Name < b.Name })); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLatest, gotLatest); diff != "" {
				t.Errorf("has a latest result (-want +got):\n%s", diff)
			}
		})
	}
}

// A retargeted path keeps its history (last success) and compares its next
// result afresh: that result is reported as the path's first.
func TestSetTargetsRetargetKeepsHistory(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	s.Record(result(clusterIP, dial.ReasonOK, 0))
	moved := dial.Target{Name: dial.PathClusterIP, Addr: "172.30.0.99:443"}
	s.SetTargets([]dial.Target{moved}, state.Uses{})

	p := snapshotByName(s)[dial.PathClusterIP]
	if p.Latest != nil {
		t.Errorf("Latest after retarget = %+v, want nil", p.Latest)
	}
	if want := t0.Add(10 * time.Millisecond); !p.LastSuccess.Equal(want) {
		t.Errorf("LastSuccess after retarget = %v, want %v (history kept)", p.LastSuccess, want)
	}
	if s.Ready() {
		t.Error("Ready() = true after retarget, want false until the new target answers")
	}

	tr, changed := s.Record(result(moved, dial.ReasonOK, time.Minute))
	want := state.Transition{Path: dial.PathClusterIP, NewReason: dial.ReasonOK}
	if diff := cmp.Diff(want, tr); diff != "" || !changed {
		t.Errorf("first result after retarget: changed = %v, transition (-want +got):\n%s", changed, diff)
	}
}

func TestRecordTransitions(t *testing.T) {
	type step struct {
		reason      dial.Reason
		want        state.Transition
		wantChanged bool
	}
	p := dial.PathClusterIP
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "first result up",
			steps: []step{
				{dial.ReasonOK, state.Transition{Path: p, NewReason: dial.ReasonOK}, true},
			},
		},
		{
			name: "first result down",
			steps: []step{
				{dial.ReasonRefused, state.Transition{Path: p, NewReason: dial.ReasonRefused}, true},
			},
		},
		{
			name: "same reason again is not a change",
			steps: []step{
				{dial.ReasonOK, state.Transition{Path: p, NewReason: dial.ReasonOK}, true},
				{dial.ReasonOK, state.Transition{Path: p, WasKnown: true, OldReason: dial.ReasonOK, NewReason: dial.ReasonOK}, false},
			},
		},
		{
			name: "repeated failure is not a change",
			steps: []step{
				{dial.ReasonConnectTimeout, state.Transition{Path: p, NewReason: dial.ReasonConnectTimeout}, true},
				{dial.ReasonConnectTimeout, state.Transition{Path: p, WasKnown: true, OldReason: dial.ReasonConnectTimeout, NewReason: dial.ReasonConnectTimeout}, false},
				{dial.ReasonConnectTimeout, state.Transition{Path: p, WasKnown: true, OldReason: dial.ReasonConnectTimeout, NewReason: dial.ReasonConnectTimeout}, false},
			},
		},
		{
			name: "up then down then up",
			steps: []step{
				{dial.ReasonOK, state.Transition{Path: p, NewReason: dial.ReasonOK}, true},
				{dial.ReasonRefused, state.Transition{Path: p, WasKnown: true, OldReason: dial.ReasonOK, NewReason: dial.ReasonRefused}, true},
				{dial.ReasonOK, state.Transition{Path: p, WasKnown: true, OldReason: dial.ReasonRefused, NewReason: dial.ReasonOK}, true},
			},
		},
		{
			name: "reason change while down",
			steps: []step{
				{dial.ReasonRefused, state.Transition{Path: p, NewReason: dial.ReasonRefused}, true},
				{dial.ReasonConnectTimeout, state.Transition{Path: p, WasKnown: true, OldReason: dial.ReasonRefused, NewReason: dial.ReasonConnectTimeout}, true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			s.SetTargets([]dial.Target{clusterIP, podIP}, state.Uses{})
			for i, st := range tt.steps {
				tr, changed := s.Record(result(clusterIP, st.reason, time.Duration(i)*time.Minute))
				// The outage a transition carries: history_test.go.
				if diff := cmp.Diff(st.want, tr, cmpopts.IgnoreFields(state.Transition{}, "Outage", "OutagesLastHour")); diff != "" {
					t.Errorf("step %d (%s): transition (-want +got):\n%s", i, st.reason, diff)
				}
				if changed != st.wantChanged {
					t.Errorf("step %d (%s): changed = %v, want %v", i, st.reason, changed, st.wantChanged)
				}
			}
			last := tt.steps[len(tt.steps)-1].reason
			got := snapshotByName(s)[dial.PathClusterIP]
			if got.Latest == nil || got.Latest.Reason != last {
				t.Errorf("Latest = %+v, want reason %s", got.Latest, last)
			}
			if other := snapshotByName(s)[dial.PathPodIP]; other.Latest != nil {
				t.Errorf("podip Latest = %+v, want nil: results must not leak across paths", other.Latest)
			}
		})
	}
}

func TestRecordDropsStaleResults(t *testing.T) {
	tests := []struct {
		name   string
		after  []dial.Target // targets set while the attempt ran
		result dial.Result   // the attempt's result, for the original target
	}{
		{
			name:   "path removed",
			after:  []dial.Target{podIP},
			result: result(clusterIP, dial.ReasonRefused, time.Minute),
		},
		{
			name:   "address changed",
			after:  []dial.Target{{Name: dial.PathClusterIP, Addr: "172.30.0.99:443"}, podIP},
			result: result(clusterIP, dial.ReasonRefused, time.Minute),
		},
		{
			name:   "server name changed",
			after:  []dial.Target{clusterIP, {Name: dial.PathPodIP, Addr: podIP.Addr, ServerName: "sensor.stackrox.svc"}},
			result: result(podIP, dial.ReasonRefused, time.Minute),
		},
		{
			name:   "never configured",
			after:  []dial.Target{clusterIP, podIP},
			result: result(dial.Target{Name: "elsewhere", Addr: "192.0.2.1:443"}, dial.ReasonRefused, time.Minute),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			s.SetTargets([]dial.Target{clusterIP, podIP}, state.Uses{})
			s.Record(result(clusterIP, dial.ReasonOK, 0))
			s.Record(result(podIP, dial.ReasonOK, 0))
			s.SetTargets(tt.after, state.Uses{})
			before := s.Snapshot()

			tr, changed := s.Record(tt.result)
			if diff := cmp.Diff(state.Transition{}, tr); diff != "" {
				t.Errorf("transition (-want +got):\n%s", diff)
			}
			if changed {
				t.Error("changed = true for a dropped result")
			}
			if diff := cmp.Diff(before, s.Snapshot(), cmpopts.EquateErrors()); diff != "" {
				t.Errorf("store changed by a dropped result (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRecordCounters(t *testing.T) {
	type want struct {
		lastSuccess time.Time
		since       time.Time
		failures    int
	}
	ms := 10 * time.Millisecond // every result lasts 10ms
	steps := []struct {
		name   string
		reason dial.Reason
		at     time.Duration
		want   want
	}{
		{"first failure", dial.ReasonRefused, 0, want{since: t0, failures: 1}},
		{"second failure", dial.ReasonRefused, 1 * time.Minute, want{since: t0, failures: 2}},
		{"first success", dial.ReasonOK, 2 * time.Minute, want{lastSuccess: t0.Add(2*time.Minute + ms), since: t0.Add(2 * time.Minute)}},
		{"success again", dial.ReasonOK, 3 * time.Minute, want{lastSuccess: t0.Add(3*time.Minute + ms), since: t0.Add(2 * time.Minute)}},
		{"down", dial.ReasonConnectTimeout, 4 * time.Minute, want{lastSuccess: t0.Add(3*time.Minute + ms), since: t0.Add(4 * time.Minute), failures: 1}},
		{"down again", dial.ReasonConnectTimeout, 5 * time.Minute, want{lastSuccess: t0.Add(3*time.Minute + ms), since: t0.Add(4 * time.Minute), failures: 2}},
		// docs/status.md: since is when the path entered its current state (reason).
		{"down for a new reason", dial.ReasonRefused, 6 * time.Minute, want{lastSuccess: t0.Add(3*time.Minute + ms), since: t0.Add(6 * time.Minute), failures: 3}},
		{"back", dial.ReasonOK, 7 * time.Minute, want{lastSuccess: t0.Add(7*time.Minute + ms), since: t0.Add(7 * time.Minute)}},
	}
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s.Record(result(clusterIP, st.reason, st.at))
			p := snapshotByName(s)[dial.PathClusterIP]
			got := want{lastSuccess: p.LastSuccess, since: p.Since, failures: p.ConsecutiveFailures}
			if diff := cmp.Diff(st.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if up := st.reason == dial.ReasonOK; p.Up() != up {
				t.Errorf("Up() = %v, want %v", p.Up(), up)
			}
		})
	}
}

func TestSnapshotSortedAndCopied(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{webhook, {Name: "b", Addr: "b:1"}, podIP, clusterIP, {Name: "a", Addr: "a:1"}}, state.Uses{})
	s.Record(result(clusterIP, dial.ReasonRefused, 0))

	first := s.Snapshot()
	want := []string{"a", "b", dial.PathClusterIP, dial.PathPodIP, dial.PathWebhook}
	if diff := cmp.Diff(want, names(first)); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}

	// Changing the returned paths does not change the store.
	first[2].ConsecutiveFailures = 99
	first[2].Target.Addr = "changed:1"
	first[2].Consumer = state.ConsumerRelay
	first[2].Latest = nil
	first[0], first[4] = first[4], first[0]

	second := s.Snapshot()
	if diff := cmp.Diff(want, names(second)); diff != "" {
		t.Errorf("order after changing a snapshot (-want +got):\n%s", diff)
	}
	ci := second[2]
	if ci.ConsecutiveFailures != 1 || ci.Target != clusterIP || ci.Consumer == state.ConsumerRelay || ci.Latest == nil {
		t.Errorf("store changed through a snapshot: %+v", ci)
	}

	// A later result does not change an earlier snapshot.
	s.Record(result(clusterIP, dial.ReasonOK, time.Minute))
	if got := second[2]; got.Latest.Reason != dial.ReasonRefused || got.ConsecutiveFailures != 1 {
		t.Errorf("earlier snapshot changed by a later result: reason %s, failures %d", got.Latest.Reason, got.ConsecutiveFailures)
	}
}

func TestSnapshotEmpty(t *testing.T) {
	got := state.New().Snapshot()
	if got == nil || len(got) != 0 {
		t.Errorf("Snapshot() of an empty store = %#v, want an empty non-nil slice", got)
	}
}

func TestReady(t *testing.T) {
	tests := []struct {
		name    string
		targets []dial.Target
		results []dial.Result
		want    bool
	}{
		{name: "no paths", want: false},
		{name: "no paths after a dropped result", results: []dial.Result{result(clusterIP, dial.ReasonOK, 0)}, want: false},
		{name: "no path has a result", targets: []dial.Target{clusterIP, podIP}, want: false},
		{
			name:    "some paths have a result",
			targets: []dial.Target{clusterIP, podIP},
			results: []dial.Result{result(clusterIP, dial.ReasonOK, 0)},
			want:    false,
		},
		{
			name:    "every path has a result",
			targets: []dial.Target{clusterIP, podIP},
			results: []dial.Result{result(clusterIP, dial.ReasonOK, 0), result(podIP, dial.ReasonRefused, 0)},
			want:    true,
		},
		{
			name:    "every path has a failed result",
			targets: []dial.Target{clusterIP},
			results: []dial.Result{result(clusterIP, dial.ReasonConnectTimeout, 0)},
			want:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			s.SetTargets(tt.targets, state.Uses{})
			for _, r := range tt.results {
				s.Record(r)
			}
			if got := s.Ready(); got != tt.want {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadyFollowsTargets checks that Ready follows changes of the target set:
// a new path makes the store unready until it answers; removing the only
// pending path makes it ready again.
func TestReadyFollowsTargets(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	s.Record(result(clusterIP, dial.ReasonOK, 0))
	if !s.Ready() {
		t.Fatal("Ready() = false with every path answered")
	}
	s.SetTargets([]dial.Target{clusterIP, podIP}, state.Uses{})
	if s.Ready() {
		t.Error("Ready() = true with podip pending")
	}
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	if !s.Ready() {
		t.Error("Ready() = false after the pending path was removed")
	}
	s.SetTargets(nil, state.Uses{})
	if s.Ready() {
		t.Error("Ready() = true with no paths")
	}
}

// TestConcurrentRecordSnapshot records from several goroutines while others
// read; run it with -race. Every result is for a configured target, so none
// may be lost.
func TestConcurrentRecordSnapshot(t *testing.T) {
	const (
		paths   = 4
		writers = 2 // per path
		each    = 100
	)
	s := state.New()
	var targets []dial.Target
	for i := range paths {
		targets = append(targets, dial.Target{Name: fmt.Sprintf("p%d", i), Addr: fmt.Sprintf("192.0.2.%d:443", i+1)})
	}
	s.SetTargets(targets, state.Uses{RelayPath: "p0"})

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, p := range s.Snapshot() {
					if p.Latest != nil {
						_ = p.Latest.Reason // read through the shared pointer
					}
				}
				_ = s.Ready()
			}
		})
	}
	// Re-setting the same targets concurrently must not drop anything.
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if removed := s.SetTargets(targets, state.Uses{RelayPath: "p0"}); len(removed) != 0 {
				t.Errorf("SetTargets with the same targets removed %v", removed)
				return
			}
		}
	})
	for _, target := range targets {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					s.Record(result(target, dial.ReasonRefused, time.Duration(w*each+i)*time.Millisecond))
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	got := map[string]int{}
	for _, p := range s.Snapshot() {
		got[p.Target.Name] = p.ConsecutiveFailures
	}
	want := map[string]int{}
	for _, target := range targets {
		want[target.Name] = writers * each
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("consecutive failures (-want +got):\n%s", diff)
	}
	if !s.Ready() {
		t.Error("Ready() = false after every path answered")
	}
}

func TestUsesConsumer(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		uses state.Uses
		want map[string]state.Consumer // path → consumer
	}{
		{name: "nothing known", uses: state.Uses{},
			want: map[string]state.Consumer{"clusterip": state.ConsumerUnknown, "dns": state.ConsumerUnknown}},
		{name: "stock: collector in the pod network", uses: state.Uses{RelayPath: "dns", RelayHostNetwork: &no},
			want: map[string]state.Consumer{"clusterip": state.ConsumerNone, "dns": state.ConsumerNone}},
		{name: "customised: relay on the host network dials the ClusterIP", uses: state.Uses{RelayPath: "clusterip", RelayHostNetwork: &yes},
			want: map[string]state.Consumer{"clusterip": state.ConsumerRelay, "dns": state.ConsumerNone}},
		{name: "host network, endpoint matches no probed path", uses: state.Uses{RelayHostNetwork: &yes},
			want: map[string]state.Consumer{"clusterip": state.ConsumerUnknown, "dns": state.ConsumerUnknown}},
		{name: "no push relay (4.12 line)", uses: state.Uses{RelayPath: "dns", RelayHostNetwork: &yes, NoRelay: true},
			want: map[string]state.Consumer{"clusterip": state.ConsumerNone, "dns": state.ConsumerNone}},
		{name: "demo helper", uses: state.RelayOnHostNetwork("clusterip"),
			want: map[string]state.Consumer{"clusterip": state.ConsumerRelay, "dns": state.ConsumerNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			s.SetTargets([]dial.Target{{Name: "clusterip", Addr: "172.30.0.10:443"}, {Name: "dns", Addr: "sensor.stackrox.svc:443"}}, tt.uses)
			got := map[string]state.Consumer{}
			for _, p := range s.Snapshot() {
				got[p.Target.Name] = p.Consumer
				if p.Consumer != tt.uses.Consumer(p.Target.Name) {
					t.Errorf("%s: stored %q, Uses.Consumer says %q", p.Target.Name, p.Consumer, tt.uses.Consumer(p.Target.Name))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("consumers (-want +got):\n%s", diff)
			}
		})
	}
}

// usesOf is a host-network relay on path relay, or nothing known for "".
func usesOf(relay string) state.Uses {
	if relay == "" {
		return state.Uses{}
	}
	return state.RelayOnHostNetwork(relay)
}
