package state_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// connectResult is a connect-tier result of clusterIP at t0+at.
func connectResult(reason dial.Reason, at time.Duration) dial.Result {
	r := result(clusterIP, reason, at)
	r.Tier = dial.TierConnect
	r.Check = dial.CheckTCP
	return r
}

// fullResult is a full result failing in the given phase (ignored for ok).
func fullResult(reason dial.Reason, phase dial.Phase, at time.Duration) dial.Result {
	r := result(clusterIP, reason, at)
	r.Tier = dial.TierFull
	if reason != dial.ReasonOK {
		r.FailedPhase = phase
	}
	return r
}

// The two tiers combine: a connect failure takes the path down at once; a
// connect success does not bring back a path whose latest full attempt
// failed; it counts alone only before the first full attempt.
func TestTiersCombine(t *testing.T) {
	type step struct {
		res         dial.Result
		wantUp      bool
		wantReason  dial.Reason
		wantChanged bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "connect success before any full attempt is up",
			steps: []step{
				{connectResult(dial.ReasonOK, 0), true, dial.ReasonOK, true},
				{fullResult(dial.ReasonOK, "", time.Second), true, dial.ReasonOK, false},
			},
		},
		{
			name: "connect failure takes a full-ok path down at once, a connect success brings it back",
			steps: []step{
				{fullResult(dial.ReasonOK, "", 0), true, dial.ReasonOK, true},
				{connectResult(dial.ReasonConnectTimeout, time.Second), false, dial.ReasonConnectTimeout, true},
				{connectResult(dial.ReasonConnectTimeout, 2*time.Second), false, dial.ReasonConnectTimeout, false},
				{connectResult(dial.ReasonOK, 3*time.Second), true, dial.ReasonOK, true},
			},
		},
		{
			name: "connect success does not hide a full failure",
			steps: []step{
				{fullResult(dial.ReasonCertUnknownAuthority, dial.PhaseTLS, 0), false, dial.ReasonCertUnknownAuthority, true},
				{connectResult(dial.ReasonOK, time.Second), false, dial.ReasonCertUnknownAuthority, false},
				{fullResult(dial.ReasonOK, "", 2*time.Second), true, dial.ReasonOK, true},
			},
		},
		{
			name: "a newer full result outranks an older connect failure",
			steps: []step{
				{connectResult(dial.ReasonRefused, 0), false, dial.ReasonRefused, true},
				{fullResult(dial.ReasonOK, "", time.Second), true, dial.ReasonOK, true},
			},
		},
		{
			name: "connect failure after a full failure changes the reason",
			steps: []step{
				{fullResult(dial.ReasonCheckFailed, dial.PhaseCheck, 0), false, dial.ReasonCheckFailed, true},
				{connectResult(dial.ReasonRefused, time.Second), false, dial.ReasonRefused, true},
				{connectResult(dial.ReasonOK, 2*time.Second), false, dial.ReasonCheckFailed, true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New()
			s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
			for i, st := range tt.steps {
				_, changed := s.Record(st.res)
				p := s.Snapshot()[0]
				type outcome struct {
					Up      bool
					Reason  dial.Reason
					Changed bool
				}
				want := outcome{st.wantUp, st.wantReason, st.wantChanged}
				got := outcome{p.Up(), p.Current().Reason, changed}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("step %d (%s %s): (-want +got):\n%s", i, st.res.Tier, st.res.Reason, diff)
				}
			}
		})
	}
}

func TestTiersKeepTheirOwnLatest(t *testing.T) {
	s := state.New()
	s.SetTargets([]dial.Target{clusterIP}, state.Uses{})
	if s.Ready() {
		t.Fatal("ready before any result")
	}
	s.Record(connectResult(dial.ReasonOK, 0))
	if !s.Ready() {
		t.Error("not ready after a connect-tier result")
	}
	full := fullResult(dial.ReasonOK, "", time.Second)
	full.TLS = &dial.TLSFacts{Version: "TLS 1.3"}
	s.Record(full)
	s.Record(connectResult(dial.ReasonOK, 2*time.Second))
	p := s.Snapshot()[0]
	if p.Latest == nil || p.Latest.TLS == nil || p.Latest.Tier != dial.TierFull {
		t.Errorf("Latest = %+v, want the full result with its TLS facts", p.Latest)
	}
	if p.LatestConnect == nil || !p.LatestConnect.Start.Equal(t0.Add(2*time.Second)) {
		t.Errorf("LatestConnect = %+v, want the connect result at +2s", p.LatestConnect)
	}
	if want := t0.Add(2*time.Second + 10*time.Millisecond); !p.LastSuccess.Equal(want) {
		t.Errorf("LastSuccess = %v, want %v (a connect success while up counts)", p.LastSuccess, want)
	}
	// A connect success while the full attempt failed is not a success of the path.
	s.Record(fullResult(dial.ReasonTLSError, dial.PhaseTLS, 3*time.Second))
	s.Record(connectResult(dial.ReasonOK, 4*time.Second))
	p = s.Snapshot()[0]
	if p.ConsecutiveFailures != 1 {
		t.Errorf("ConsecutiveFailures = %d, want 1", p.ConsecutiveFailures)
	}
	if want := t0.Add(2*time.Second + 10*time.Millisecond); !p.LastSuccess.Equal(want) {
		t.Errorf("LastSuccess = %v, want %v (unchanged while the full attempt fails)", p.LastSuccess, want)
	}
}
