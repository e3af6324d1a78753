package relaylog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// OpenFunc opens the relay's log for following. since is the timestamp of
// the newest line read so far, zero on the first call (open from now, so old
// lines are not counted as new events). Lines may start with an RFC 3339
// timestamp and a space, as the Kubernetes log API writes them with
// timestamps=true; the Follower then skips lines it has already read.
type OpenFunc func(ctx context.Context, since time.Time) (io.ReadCloser, error)

// Status says whether the Follower is following a log.
type Status struct {
	// Following is true while a log is open.
	Following bool `json:"following"`
	// Opens counts successful opens.
	Opens uint64 `json:"opens"`
	// LastError is why the latest open or read failed, "" after a good open.
	LastError string `json:"last_error,omitempty"`
}

// Follower follows the relay's log: it opens it, hands every recognised line
// to OnMatch, and when the log ends or fails, reopens it after a backoff that
// doubles from MinBackoff to MaxBackoff (and starts over after a log that
// stayed open for a while). Each wait is stretched by a random fraction of up
// to Jitter, so that the probes of every node, cut off by one API server
// outage, do not retry in step.
type Follower struct {
	open     OpenFunc
	log      *slog.Logger
	onMatch  func(Match)
	onStatus func(Status)
	// MinBackoff and MaxBackoff bound the wait before a reopen.
	MinBackoff, MaxBackoff time.Duration
	// Jitter is the largest random stretch of a wait, as a fraction of it.
	Jitter float64
}

// NewFollower returns a Follower. onMatch receives each recognised line and
// onStatus each change of status; both are called from Run's goroutine.
func NewFollower(open OpenFunc, logger *slog.Logger, onMatch func(Match), onStatus func(Status)) *Follower {
	return &Follower{
		open: open, log: logger, onMatch: onMatch, onStatus: onStatus,
		MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, Jitter: 0.5,
	}
}

// newBackoff returns the reopen backoff from its start: MinBackoff doubling
// to MaxBackoff, each step jittered.
func (f *Follower) newBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: f.MinBackoff, Factor: 2, Jitter: f.Jitter, Steps: math.MaxInt32, Cap: f.MaxBackoff}
}

// maxLine bounds one log line; a longer line ends that read with an error.
const maxLine = 256 << 10

// Run follows the log until ctx is done, then returns nil.
func (f *Follower) Run(ctx context.Context) error {
	var (
		st      Status
		last    time.Time // newest line timestamp read
		backoff = f.newBackoff()
		logged  string // latest error text logged, so a repeated failure logs once
	)
	for {
		rc, err := f.open(ctx, last)
		if ctx.Err() != nil {
			if rc != nil {
				_ = rc.Close()
			}
			break
		}
		opened := time.Now()
		if err == nil {
			st.Following, st.LastError = true, ""
			st.Opens++
			f.onStatus(st)
			f.log.InfoContext(ctx, "relay log: following the compliance log")
			logged = ""
			last, err = f.consume(ctx, rc, last)
			_ = rc.Close()
			st.Following = false
			if ctx.Err() != nil {
				break
			}
			if time.Since(opened) > f.MaxBackoff {
				backoff = f.newBackoff() // it worked for a while: retry soon
			}
			if err == nil {
				err = errors.New("relay log ended")
			}
		}
		st.LastError = err.Error()
		f.onStatus(st)
		delay := backoff.Step()
		if st.LastError != logged {
			f.log.WarnContext(ctx, "relay log: cannot follow the compliance log; retrying", "err", err, "retry_in", delay.Round(time.Millisecond).String())
			logged = st.LastError
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	st.Following = false
	f.onStatus(st)
	return nil
}

// consume reads r to its end, handing recognised lines newer than after to
// onMatch, and returns the newest timestamp read.
func (f *Follower) consume(ctx context.Context, r io.Reader, after time.Time) (time.Time, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	last := after
	for sc.Scan() {
		ts, line := SplitTimestamp(sc.Text())
		if !ts.IsZero() {
			if !ts.After(after) {
				continue // read before the reopen
			}
			last = ts
		}
		if m, ok := MatchLine(line); ok {
			f.onMatch(m)
		}
	}
	if ctx.Err() != nil {
		return last, nil
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return last, fmt.Errorf("read relay log: a line longer than %d bytes", maxLine)
		}
		return last, fmt.Errorf("read relay log: %w", err)
	}
	return last, nil
}

// SplitTimestamp splits "2026-01-02T03:04:05.123456789Z rest" into its time
// and the rest. A line without a leading RFC 3339 timestamp comes back whole,
// with a zero time.
func SplitTimestamp(s string) (time.Time, string) {
	head, rest, ok := strings.Cut(s, " ")
	if !ok || len(head) < len("2006-01-02T15:04:05Z") || head[4] != '-' {
		return time.Time{}, s
	}
	ts, err := time.Parse(time.RFC3339Nano, head)
	if err != nil {
		return time.Time{}, s
	}
	return ts, rest
}
