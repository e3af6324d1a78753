package state

import (
	"slices"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// The bounds of a path's history. Whatever the number of attempts or how
// often a path flaps, a path keeps OutageLimit outages and two fixed rings of
// timeline buckets, so the memory of the history is flat.
const (
	// OutageLimit is how many outages a path keeps; older ones are dropped.
	OutageLimit = 20
	// HourStep is the width of a bucket of the last hour's timeline (240 buckets).
	HourStep = 15 * time.Second
	// DayStep is the width of a bucket of the last 24 hours' timeline (288 buckets).
	DayStep = 5 * time.Minute
	// DefaultMaxAttemptGap is the longest silence between two attempts on a
	// path that the timeline counts as probed until SetMaxAttemptGap says otherwise.
	DefaultMaxAttemptGap = time.Minute
)

// Outage is one stretch of time a path was down: from the first failed
// attempt of a streak to the first attempt after which the path was up again
// (state.PathState.Up: both tiers count as attempts).
type Outage struct {
	// Start is when the attempt that took the path down began.
	Start time.Time
	// End is when the attempt that brought the path back began; zero while
	// the outage lasts.
	End time.Time
	// StartReason and StartError are the reason and the error text of the
	// attempt that took the path down.
	StartReason dial.Reason
	StartError  string
	// EndReason is the reason the path was down for at the last attempt
	// that saw it down: when it came back, or now while the outage lasts.
	// It differs from StartReason when the failure changed on the way.
	EndReason dial.Reason
	// AttemptsFailed counts the failed attempts, of either tier, of the outage.
	AttemptsFailed int
	// Blip is true for an outage that only one attempt saw: the next
	// attempt found the path up again.
	Blip bool
}

// Ongoing reports whether the outage lasts.
func (o Outage) Ongoing() bool { return o.End.IsZero() }

// Duration is how long the outage lasted, or has lasted at now.
func (o Outage) Duration(now time.Time) time.Duration {
	end := o.End
	if o.Ongoing() {
		end = now
	}
	return max(end.Sub(o.Start), 0)
}

// SpanState is what a timeline span shows.
type SpanState uint8

// The span states.
const (
	// SpanGap: the path was not probed. The probe was not running (or had
	// not started), the path was not configured, or attempts stopped for
	// longer than the maximum attempt gap.
	SpanGap SpanState = iota
	// SpanUp: every attempt of the span found the path up.
	SpanUp
	// SpanDown: the path was down for some of the span.
	SpanDown
)

// String returns "gap", "up" or "down".
func (s SpanState) String() string {
	switch s {
	case SpanUp:
		return "up"
	case SpanDown:
		return "down"
	}
	return "gap"
}

// Span is a stretch of a timeline in one state. A path's state holds from
// one attempt to the next, at most the maximum attempt gap.
type Span struct {
	From, To time.Time
	State    SpanState
	// Reason is the failure reason of a down span: of each of its buckets,
	// the reason the path was down for most of its down time, or, when no
	// reason had more than half, one of the later ones (adjacent buckets
	// merge only when it is the same).
	Reason dial.Reason
}

// Timeline is a path's state over a window ending now, in buckets of Step:
// spans start and end on bucket boundaries but for the window's own ends.
type Timeline struct {
	From, To time.Time
	Step     time.Duration
	// Spans cover [From, To) in order, adjacent buckets of the same state
	// and reason merged; never empty.
	Spans []Span
}

// PathHistory is what a Store remembers of a path beyond its latest results.
type PathHistory struct {
	// Outages are the path's last outages, newest first, at most OutageLimit.
	Outages []Outage
	// OutagesLastHour counts the outages under way at some time in the
	// hour before now, the ongoing one included.
	OutagesLastHour int
	// Hour and Day are the last hour and the last 24 hours.
	Hour, Day Timeline
}

// DownSince returns the start of the ongoing outage, zero when there is none.
func (h PathHistory) DownSince() time.Time {
	if len(h.Outages) > 0 && h.Outages[0].Ongoing() {
		return h.Outages[0].Start
	}
	return time.Time{}
}

// SetMaxAttemptGap sets the longest time between two attempts on a path while
// the probe runs (the daemon: twice the interval plus the timeout). A path's
// state holds from one attempt to the next, but no longer than d: a longer
// silence is a gap in the timeline. d <= 0 restores DefaultMaxAttemptGap.
func (s *Store) SetMaxAttemptGap(d time.Duration) {
	if d <= 0 {
		d = DefaultMaxAttemptGap
	}
	s.mu.Lock()
	s.maxGap = d
	s.mu.Unlock()
}

// History returns the history of every path at now, by path name.
func (s *Store) History(now time.Time) map[string]PathHistory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]PathHistory, len(s.hist))
	for name, h := range s.hist {
		out[name] = h.snapshot(now, s.gap(), s.reasons)
	}
	return out
}

// gap is the maximum attempt gap in force. The caller holds s.mu.
func (s *Store) gap() time.Duration {
	if s.maxGap <= 0 {
		return DefaultMaxAttemptGap
	}
	return s.maxGap
}

// reasonIndex is r's index in s.reasons (dial.Reasons()); an unknown
// reason counts as ReasonOther.
func (s *Store) reasonIndex(r dial.Reason) uint8 {
	i := slices.Index(s.reasons, r)
	if i < 0 {
		i = slices.Index(s.reasons, dial.ReasonOther)
	}
	return uint8(i) //nolint:gosec // dial.Reasons() has 14 entries
}

// pathHistory is the bounded history of one path.
type pathHistory struct {
	// outages are oldest first, at most OutageLimit.
	outages   []outageRecord
	hour, day ring
	// The latest attempt: when it began and the state it left the path
	// in; known is false before the first.
	known      bool
	lastAt     time.Time
	lastUp     bool
	lastReason uint8
}

// outageRecord is an Outage and how many attempts saw it.
type outageRecord struct {
	Outage
	seen int
}

func newPathHistory() *pathHistory {
	return &pathHistory{
		outages: make([]outageRecord, 0, OutageLimit),
		hour:    newRing(HourStep, time.Hour),
		day:     newRing(DayStep, 24*time.Hour),
	}
}

// attempt is what the history learns from one result.
type attempt struct {
	at     time.Time
	failed bool  // the attempt itself failed
	err    error // its error
	up     bool  // the path is up after it (PathState.Up)
	reason dial.Reason
	ri     uint8 // reason's index
}

// observe takes in one attempt and returns the outage it started, continued
// or ended, nil when the path is up and was up (or unknown) before it. The
// outage is the log's own: it is valid until the next observe.
func (h *pathHistory) observe(a attempt, maxGap time.Duration) *outageRecord {
	if h.known && a.at.After(h.lastAt) {
		// The state the previous attempt left held until this one.
		h.fill(h.lastAt, minTime(a.at, h.lastAt.Add(maxGap)), h.lastUp, h.lastReason)
	}
	var o *outageRecord
	if n := len(h.outages); n > 0 && h.outages[n-1].Ongoing() {
		o = &h.outages[n-1]
	}
	switch {
	case o == nil && !a.up:
		o = h.start(a)
	case o != nil && !a.up:
		o.seen++
		if a.failed {
			o.AttemptsFailed++
		}
		o.EndReason = a.reason
	case o != nil:
		o.End = maxTime(a.at, o.Start)
		o.Blip = o.seen == 1
	}
	if !h.known || a.at.After(h.lastAt) {
		h.lastAt = a.at
	}
	h.known, h.lastUp, h.lastReason = true, a.up, a.ri
	return o
}

// copy returns a copy of o's Outage, nil for nil.
func (o *outageRecord) copy() *Outage {
	if o == nil {
		return nil
	}
	out := o.Outage
	return &out
}

// start begins an outage with attempt a, dropping the oldest when the log is full.
func (h *pathHistory) start(a attempt) *outageRecord {
	at := a.at
	if n := len(h.outages); n > 0 && at.Before(h.outages[n-1].End) {
		at = h.outages[n-1].End // results of two tiers may arrive out of order
	}
	if len(h.outages) == OutageLimit {
		h.outages = append(h.outages[:0], h.outages[1:]...)
	}
	failed, text := 0, ""
	if a.failed {
		failed = 1
	}
	if a.err != nil {
		text = a.err.Error()
	}
	h.outages = append(h.outages, outageRecord{
		Outage: Outage{Start: at, StartReason: a.reason, StartError: text, EndReason: a.reason, AttemptsFailed: failed},
		seen:   1,
	})
	h.hour.bucket(h.hour.slotOf(at)).starts++
	return &h.outages[len(h.outages)-1]
}

// fill records that the path was up (or down for reason) over [from, to).
func (h *pathHistory) fill(from, to time.Time, up bool, reason uint8) {
	h.hour.add(from, to, up, reason)
	h.day.add(from, to, up, reason)
}

// lastHour counts the outages under way at some time in the hour before now.
func (h *pathHistory) lastHour(now time.Time) int {
	from := now.Add(-time.Hour)
	n := 0
	for _, o := range h.outages {
		if o.Ongoing() || o.End.After(from) {
			n++
		}
	}
	if len(h.outages) == OutageLimit && h.outages[0].Start.After(from) {
		// Older outages of the hour fell off the log: count their starts
		// from the buckets before the oldest one kept.
		n += h.hour.startsBetween(from, h.outages[0].Start)
	}
	return n
}

func (h *pathHistory) snapshot(now time.Time, maxGap time.Duration, reasons []dial.Reason) PathHistory {
	out := PathHistory{Outages: make([]Outage, 0, len(h.outages)), OutagesLastHour: h.lastHour(now)}
	for _, o := range slices.Backward(h.outages) {
		out.Outages = append(out.Outages, o.Outage)
	}
	var open openSpan
	if h.known {
		open = openSpan{from: h.lastAt, to: minTime(now, h.lastAt.Add(maxGap)), up: h.lastUp, reason: h.lastReason}
	}
	out.Hour = h.hour.timeline(now, time.Hour, open, reasons)
	out.Day = h.day.timeline(now, 24*time.Hour, open, reasons)
	return out
}

// openSpan is the stretch after the latest attempt, which the buckets do
// not hold yet: its state holds until now, or the maximum gap.
type openSpan struct {
	from, to time.Time
	up       bool
	reason   uint8
}

// bucket is one step of a ring: how long the path was up and down in it,
// in microseconds, the reason it was down for (a vote: reasonDown is the
// winner's margin), and the outages that began in it. slot is the bucket's number since the epoch; a bucket whose
// slot is not the one asked for is empty.
type bucket struct {
	slot                 int64
	up, down, reasonDown uint32
	reason               uint8
	starts               uint16
}

func (b *bucket) add(d time.Duration, up bool, reason uint8) {
	us := uint32(min(d/time.Microsecond, time.Duration(^uint32(0)))) //nolint:gosec // bounded by the line itself
	if up {
		b.up += us
		return
	}
	b.down += us
	// A majority vote weighted by time (Boyer and Moore's): a reason the
	// path was down for more than half of the bucket's down time wins;
	// without one, one of the later reasons does.
	switch {
	case b.reason == reason || b.reasonDown == 0:
		b.reason, b.reasonDown = reason, b.reasonDown+us
	case us > b.reasonDown:
		b.reason, b.reasonDown = reason, us-b.reasonDown
	default:
		b.reasonDown -= us
	}
}

// ring is a fixed number of buckets of one step, covering a window and one
// step more (the window's first bucket is partial).
type ring struct {
	step    time.Duration
	buckets []bucket
}

func newRing(step, window time.Duration) ring {
	return ring{step: step, buckets: make([]bucket, int(window/step)+1)}
}

func (r *ring) slotOf(t time.Time) int64 {
	n, s := t.UnixNano(), int64(r.step)
	if n < 0 && n%s != 0 {
		return n/s - 1
	}
	return n / s
}

func (r *ring) slotStart(slot int64) time.Time { return time.Unix(0, slot*int64(r.step)) }

func (r *ring) index(slot int64) int {
	n := int64(len(r.buckets))
	return int(((slot % n) + n) % n)
}

// bucket returns the bucket of slot, emptied if it held an older slot.
func (r *ring) bucket(slot int64) *bucket {
	b := &r.buckets[r.index(slot)]
	if b.slot != slot {
		*b = bucket{slot: slot}
	}
	return b
}

// peek returns a copy of slot's bucket, empty when the ring does not hold it.
func (r *ring) peek(slot int64) bucket {
	if b := r.buckets[r.index(slot)]; b.slot == slot {
		return b
	}
	return bucket{slot: slot}
}

// add records the state over [from, to), of which only the ring's window matters.
func (r *ring) add(from, to time.Time, up bool, reason uint8) {
	if earliest := to.Add(-r.step * time.Duration(len(r.buckets))); from.Before(earliest) {
		from = earliest
	}
	for s := r.slotOf(from); from.Before(to); s++ {
		end := minTime(to, r.slotStart(s+1))
		r.bucket(s).add(end.Sub(from), up, reason)
		from = end
	}
}

// startsBetween sums the outage starts of the buckets that lie wholly
// within [from, until's bucket).
func (r *ring) startsBetween(from, until time.Time) int {
	n := 0
	for s := r.slotOf(from) + 1; s < r.slotOf(until); s++ {
		n += int(r.peek(s).starts)
	}
	return n
}

// timeline returns the spans of the window of the given length before now,
// the open span after the latest attempt included.
func (r *ring) timeline(now time.Time, window time.Duration, open openSpan, reasons []dial.Reason) Timeline {
	tl := Timeline{From: now.Add(-window), To: now, Step: r.step}
	for s := r.slotOf(tl.From); ; s++ {
		from, to := maxTime(r.slotStart(s), tl.From), minTime(r.slotStart(s+1), now)
		if !from.Before(to) {
			break
		}
		b := r.peek(s)
		if a, z := maxTime(from, open.from), minTime(to, open.to); a.Before(z) {
			b.add(z.Sub(a), open.up, open.reason)
		}
		sp := Span{From: from, To: to}
		switch {
		case b.down > 0:
			sp.State, sp.Reason = SpanDown, reasons[b.reason]
		case b.up > 0:
			sp.State = SpanUp
		}
		if n := len(tl.Spans); n > 0 && tl.Spans[n-1].State == sp.State && tl.Spans[n-1].Reason == sp.Reason {
			tl.Spans[n-1].To = to
			continue
		}
		tl.Spans = append(tl.Spans, sp)
	}
	if len(tl.Spans) == 0 {
		tl.Spans = []Span{{From: tl.From, To: tl.To}}
	}
	return tl
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
