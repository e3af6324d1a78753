package relaylog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// opener serves scripted opens: each is a log text or an error. After the
// script it blocks until the context ends.
type opener struct {
	mu     sync.Mutex
	script []any // string or error
	sinces []time.Time
}

func (o *opener) open(ctx context.Context, since time.Time) (io.ReadCloser, error) {
	o.mu.Lock()
	o.sinces = append(o.sinces, since)
	if len(o.script) == 0 {
		o.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	next := o.script[0]
	o.script = o.script[1:]
	o.mu.Unlock()
	if err, ok := next.(error); ok {
		return nil, err
	}
	return io.NopCloser(strings.NewReader(next.(string))), nil
}

func (o *opener) calls() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.sinces...)
}

func TestFollower(t *testing.T) {
	// In a synctest bubble: the sleeps and backoffs below take no real time.
	synctest.Test(t, func(t *testing.T) {
		ts := func(s string) time.Time {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		o := &opener{script: []any{
			errors.New(`pods "collector-x" is forbidden`),
			// First log: a start, two connections, one report, noise.
			"2026-04-23T07:39:00.1Z m: x.go:1: Info: Starting virtual machine relay\n" +
				"2026-04-23T07:40:00.1Z m: x.go:1: Info: Handling connection from vm(77):1025\n" +
				"2026-04-23T07:40:00.2Z m: x.go:1: Debug: Parsing VM report (vsock CID: 77)\n" +
				"2026-04-23T07:40:00.3Z m: x.go:1: Info: Sending VM report to sensor (vsockCID: 77)\n" +
				"2026-04-23T07:40:01.0Z m: x.go:1: Info: Handling connection from vm(78):1025\n",
			// Reopened from the last second: the old lines come again and are skipped.
			"2026-04-23T07:40:00.3Z m: x.go:1: Info: Sending VM report to sensor (vsockCID: 77)\n" +
				"2026-04-23T07:40:01.0Z m: x.go:1: Info: Handling connection from vm(78):1025\n" +
				"2026-04-23T07:40:02.0Z m: x.go:1: Error: Failed to send report (vsock CID: 78): boom\n" +
				"no timestamp: Handling connection from vm(79):1\n",
		}}
		var (
			mu       sync.Mutex
			matches  []Match
			statuses []Status
		)
		f := NewFollower(o.open, slog.New(slog.DiscardHandler),
			func(m Match) { mu.Lock(); matches = append(matches, m); mu.Unlock() },
			func(s Status) { mu.Lock(); statuses = append(statuses, s); mu.Unlock() })
		f.MinBackoff, f.MaxBackoff = time.Millisecond, 4*time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		for len(o.calls()) < 4 { // the error, two logs, then the blocking open
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}

		type got struct {
			Event Event
			CID   uint32
		}
		var events []got
		for _, m := range matches {
			events = append(events, got{m.Event, m.CID})
		}
		want := []got{
			{EventStarted, 0}, {EventConnection, 77}, {EventReportSent, 77}, {EventConnection, 78},
			{EventSendError, 78}, {EventConnection, 79},
		}
		if diff := cmp.Diff(want, events); diff != "" {
			t.Errorf("matched events (-want +got):\n%s", diff)
		}
		calls := o.calls()
		wantSince := []time.Time{{}, {}, ts("2026-04-23T07:40:01Z"), ts("2026-04-23T07:40:02Z")}
		if diff := cmp.Diff(wantSince, calls); diff != "" {
			t.Errorf("opens' since (-want +got):\n%s", diff)
		}
		// Status: the forbidden error, following, ended, following, ended, then stopped.
		if len(statuses) < 2 || statuses[0].Following || !strings.Contains(statuses[0].LastError, "forbidden") {
			t.Errorf("first status %+v, want the forbidden error", statuses[0])
		}
		last := statuses[len(statuses)-1]
		if last.Following || last.Opens != 2 {
			t.Errorf("last status %+v, want not following after 2 opens", last)
		}
	})
}

func TestFollowerLongLine(t *testing.T) {
	// In a synctest bubble: the sleeps and backoffs below take no real time.
	synctest.Test(t, func(t *testing.T) {
		o := &opener{script: []any{strings.Repeat("x", maxLine+1) + "\n"}}
		var statuses []Status
		f := NewFollower(o.open, slog.New(slog.DiscardHandler), func(Match) {}, func(s Status) { statuses = append(statuses, s) })
		f.MinBackoff = time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		for len(o.calls()) < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		found := false
		for _, s := range statuses {
			found = found || strings.Contains(s.LastError, "longer than")
		}
		if !found {
			t.Errorf("no status reported the over-long line: %+v", statuses)
		}
	})
}

func TestSplitTimestamp(t *testing.T) {
	tests := []struct {
		name, in, rest string
		zero           bool
	}{
		{name: "kubernetes timestamp", in: "2026-04-23T07:40:00.123456789Z hello world", rest: "hello world"},
		{name: "offset timestamp", in: "2026-04-23T07:40:00+02:00 x", rest: "x"},
		{name: "no timestamp", in: "main: 2026/04/23 07:39:00.44 x", rest: "main: 2026/04/23 07:39:00.44 x", zero: true},
		{name: "one word", in: "hello", rest: "hello", zero: true},
		{name: "bad date", in: "2026-13-45T99:99:99Z x", rest: "2026-13-45T99:99:99Z x", zero: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, rest := SplitTimestamp(tt.in)
			if rest != tt.rest || ts.IsZero() != tt.zero {
				t.Errorf("SplitTimestamp(%q) = %v, %q; want zero=%v, %q", tt.in, ts, rest, tt.zero, tt.rest)
			}
		})
	}
}

// TestBackoffJittered: the reopen waits double from MinBackoff to
// MaxBackoff, each stretched by up to Jitter, and two followers do not wait
// in step.
func TestBackoffJittered(t *testing.T) {
	f := NewFollower(nil, nil, nil, nil)
	f.MinBackoff, f.MaxBackoff = time.Second, 8*time.Second
	base := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	a, b := f.newBackoff(), f.newBackoff()
	same := 0
	for i, d := range base {
		da, db := a.Step(), b.Step()
		for _, got := range []time.Duration{da, db} {
			if got < d || float64(got) > float64(d)*(1+f.Jitter) {
				t.Errorf("step %d: wait %v, want within [%v, %v]", i, got, d, time.Duration(float64(d)*(1+f.Jitter)))
			}
		}
		if da == db {
			same++
		}
	}
	if same == len(base) {
		t.Errorf("two followers waited the same at every step: not jittered")
	}
}
