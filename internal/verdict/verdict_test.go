package verdict

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// addrOf returns a realistic address for a known path name, "" for others.
func addrOf(name string) string {
	return map[string]string{
		dial.PathClusterIP: "172.30.12.7:443",
		dial.PathDNS:       "sensor.stackrox.svc:443",
		dial.PathHostPort:  "127.0.0.1:8443",
		dial.PathPodIP:     "10.128.2.15:8443",
		dial.PathWebhook:   "sensor-webhook.stackrox.svc:443",
	}[name]
}

// p returns a path called name whose latest attempt ended with r.
func p(name string, r dial.Reason) state.PathState {
	t := dial.Target{Name: name, Addr: addrOf(name)}
	if t.Addr == "" {
		t.Addr = "192.0.2.1:443"
	}
	res := &dial.Result{Target: t, Reason: r}
	if r != dial.ReasonOK {
		res.Err = errors.New("dial tcp " + t.Addr + ": " + string(r))
	}
	return state.PathState{Target: t, Latest: res}
}

// pending returns a configured path called name without a result.
func pending(name string) state.PathState {
	return state.PathState{Target: dial.Target{Name: name, Addr: addrOf(name)}}
}

// relay marks sp as the relay's path: the relay runs on the host network and dials it.
func relay(sp state.PathState) state.PathState { sp.Consumer = state.ConsumerRelay; return sp }

// used marks sp as a path consumer depends on.
func used(sp state.PathState, consumer state.Consumer) state.PathState {
	sp.Consumer = consumer
	return sp
}

// controls marks every path as a control (consumer none), as on a stock
// install where collector runs in the pod network.
func controls(ps ...state.PathState) []state.PathState {
	for i := range ps {
		ps[i].Consumer = state.ConsumerNone
	}
	return ps
}

//go:fix inline

const (
	ok      = dial.ReasonOK
	timeout = dial.ReasonConnectTimeout
	refused = dial.ReasonRefused
	dnsErr  = dial.ReasonDNSError
)

// got is the part of a Verdict the table compares exactly; Cause and Fix are
// checked for the substrings that make them useful.
type got struct {
	Name       string
	Severity   Severity
	Underlying string
}

var (
	onNode        = &Cluster{SensorOnThisNode: new(true)}
	offNode       = &Cluster{SensorOnThisNode: new(false)}
	vmsConnecting = &VSOCK{RelayListening: true, ConnectionsRecent: 3, RelayConnections: 1}
)

// decideCase is one case of a rule family's table.
type decideCase struct {
	name      string
	in        Input
	want      got
	wantCause []string // substrings of Cause
	notCause  []string // must not be in Cause
	wantFix   []string // substrings of Fix
	notFix    []string // must not be in Fix
	wantNotes []string // substrings of the joined Notes
}

// runCases runs a family's table with the checks every verdict must pass:
// cause and fix are one line each, the severity is the name's, and the
// order of the paths does not matter.
func runCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			v := Decide(tt.in)
			if diff := cmp.Diff(tt.want, got{v.Name, v.Severity, v.Underlying}); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s\ncause: %s", diff, v.Cause)
			}
			contains(t, "Cause", v.Cause, tt.wantCause, tt.notCause)
			contains(t, "Fix", v.Fix, tt.wantFix, tt.notFix)
			contains(t, "Notes", strings.Join(v.Notes, "\n"), tt.wantNotes, nil)
			for field, s := range map[string]string{"Cause": v.Cause, "Fix": v.Fix} {
				if s == "" || strings.ContainsAny(s, "\r\n") {
					t.Errorf("%s = %q, want one non-empty line", field, s)
				}
			}
			if v.Severity != SeverityOf(v.Name) {
				t.Errorf("Severity = %q, want SeverityOf(%q) = %q", v.Severity, v.Name, SeverityOf(v.Name))
			}

			// The order of the paths must not matter.
			rev := tt.in
			rev.Paths = slices.Clone(tt.in.Paths)
			slices.Reverse(rev.Paths)
			if r := Decide(rev); r.Name != v.Name || r.Underlying != v.Underlying {
				t.Errorf("Decide(reversed paths) = %q/%q, want %q/%q", r.Name, r.Underlying, v.Name, v.Underlying)
			}
		})
	}
}

func contains(t *testing.T, field, s string, want, not []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s = %q, want it to contain %q", field, s, w)
		}
	}
	for _, w := range not {
		if strings.Contains(s, w) {
			t.Errorf("%s = %q, want it not to contain %q", field, s, w)
		}
	}
}

// allCases are the tables of every family.
func allCases() []decideCase {
	return slices.Concat(basicCases(), sensorCases(), tlsCases(), hostNetworkCases(), hostPortCases(),
		degradedCases(), consumerCases(), relayPathCases(), relayCases(), pullCases())
}

// TestEveryVerdictTested checks that some case of some family expects each verdict.
func TestEveryVerdictTested(t *testing.T) {
	produced := map[string]bool{}
	for _, c := range allCases() {
		produced[c.want.Name] = true
	}
	for _, n := range Names() {
		if !produced[n] {
			t.Errorf("no test case expects verdict %q", n)
		}
	}
}

// TestNames checks that Names lists fifteen distinct verdicts, each with a severity.
func TestNames(t *testing.T) {
	names := Names()
	if len(names) != 15 {
		t.Errorf("len(Names()) = %d, want 15", len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("Names() lists %q twice", n)
		}
		seen[n] = true
		if SeverityOf(n) == SeverityUnknown && n != Unknown {
			t.Errorf("SeverityOf(%q) = unknown, want a severity", n)
		}
	}
	if SeverityOf("no_such_verdict") != SeverityUnknown {
		t.Errorf("SeverityOf(no_such_verdict) = %q, want unknown", SeverityOf("no_such_verdict"))
	}
	names[0] = "changed"
	if Names()[0] != Healthy {
		t.Errorf("Names() shares its slice between calls")
	}
}

func TestDecideDoesNotChangeInput(t *testing.T) {
	for _, c := range allCases() {
		before := slices.Clone(c.in.Paths)
		Decide(c.in)
		if diff := cmp.Diff(before, c.in.Paths, cmp.Comparer(sameError)); diff != "" {
			t.Errorf("%s: Decide changed its input (-want +got):\n%s", c.name, diff)
		}
	}
	in := Input{Paths: []state.PathState{relay(p("hostport", refused)), p("clusterip", ok)},
		Cluster: &Cluster{SensorOnThisNode: new(false)}, VSOCK: &VSOCK{RelayConnections: 1}}
	before := []state.PathState{relay(p("hostport", refused)), p("clusterip", ok)}
	Decide(in)
	if diff := cmp.Diff(before, in.Paths, cmp.Comparer(sameError)); diff != "" {
		t.Errorf("Decide changed its input (-want +got):\n%s", diff)
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}
