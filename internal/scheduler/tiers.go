package scheduler

import (
	"context"
	"hash/fnv"
	"math"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// NodePhase returns where a node's attempts fall within the fast and the
// full interval, as fractions in [0, 1): FNV-1a of the name, mixed by
// SplitMix64's finaliser so that names differing in one digit land far
// apart. The same name always gives the same phases.
func NodePhase(node string) (fast, full float64) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(node))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>32) / (1 << 32), float64(x&math.MaxUint32) / (1 << 32)
}

// nextGrid returns the first time after t that is offset past a multiple of
// period, counted from the Unix epoch, so that every node's grid is the same
// absolute grid and only the offsets differ.
func nextGrid(t time.Time, period, offset time.Duration) time.Time {
	p, o := int64(period), int64(offset)%int64(period)
	ns := t.UnixNano() - o
	k := ns / p
	if ns < 0 && ns%p != 0 {
		k--
	}
	return time.Unix(0, (k+1)*p+o)
}

// at returns the fraction frac (wrapped into [0, 1)) of period.
func at(frac float64, period time.Duration) time.Duration {
	_, f := math.Modf(frac)
	return time.Duration(f * float64(period))
}

// FullInterval returns the time between two full attempts on one path:
// Interval when every attempt is full; otherwise the largest of Interval,
// Config.FullInterval and FleetSize × paths / Budget seconds, where paths is
// the number of this node's paths.
func (s *Scheduler) FullInterval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fullIntervalLocked()
}

func (s *Scheduler) fullIntervalLocked() time.Duration {
	iv := s.cfg.Interval
	if !s.tiered {
		return iv
	}
	f := max(iv, s.cfg.FullInterval)
	paths := max(len(s.targets), 1)
	byBudget := time.Duration(float64(s.fleet*paths) / s.cfg.Budget * float64(time.Second))
	f = max(f, byBudget)
	// Whole milliseconds, so that rounding does not count as a change.
	return f.Round(time.Millisecond)
}

// shareLocked is this node's share of the budget, in full attempts per second.
func (s *Scheduler) shareLocked() float64 {
	if s.cfg.Budget <= 0 {
		return 0
	}
	return s.cfg.Budget / float64(s.fleet)
}

// SetFleetSize sets the number of nodes sharing the budget (below 1 means
// 1). Full intervals are recomputed at each path's next attempt; phases are
// kept, so the fleet stays spread.
func (s *Scheduler) SetFleetSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket.refill(s.cfg.Clock.Now())
	s.fleet = max(n, 1)
	s.bucket.rate = s.shareLocked()
}

// FleetSize returns the number of nodes the budget is shared by.
func (s *Scheduler) FleetSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fleet
}

// early returns how early an attempt comes before its grid point: up to
// Jitter × Interval, at random (Config.Jitter).
func (s *Scheduler) early() time.Duration {
	s.mu.Lock()
	u := s.rnd.Float64()
	s.mu.Unlock()
	return time.Duration(u * s.cfg.Jitter * float64(s.cfg.Interval))
}

// confirmToken takes a token for a confirmation, reporting whether one was there.
func (s *Scheduler) confirmToken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bucket.take(s.cfg.Clock.Now())
}

// refundToken gives back the token of a confirmation that ended before its
// TLS handshake, and so cost sensor nothing.
func (s *Scheduler) refundToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket.tokens = min(s.bucket.tokens+1, s.bucket.burst)
}

// runTiered runs one path's loop with tiers. The path's fast-tier attempts
// fall on an absolute grid of period Interval at offset (node phase + slot)
// of it, each up to Jitter × Interval early; the first comes at the first grid point
// after the start, not at once, so that a fleet restarted together does not
// dial in step. An attempt is full when its grid point has reached the
// path's next full grid point (period FullInterval, offset (node full phase
// + slot) of it), connect-tier otherwise; when FullInterval is Interval,
// every attempt is full.
//
// A connect-tier result whose reason differs from what the latest full
// attempt saw of the connect (its reason if it failed in resolve or connect,
// ok otherwise) is confirmed at once by a full attempt when the node's token
// bucket allows; if not, the next connect-tier attempt asks again. A
// confirmation that reached TLS stands in for the path's next scheduled full
// attempt, so that confirmations do not add to the budget in the long run.
func (s *Scheduler) runTiered(ctx context.Context, t dial.Target, slot float64) {
	c := s.cfg.Clock
	iv := s.cfg.Interval
	fastOff := at(s.fracFast+slot, iv)
	grid := nextGrid(c.Now(), iv, fastOff)
	var (
		full     time.Duration // the full interval nextFull belongs to
		nextFull time.Time
		view     dial.Reason // the connect as the latest full attempt saw it; "" before the first
		skip     bool        // a confirmation took the place of the next scheduled full attempt
	)
	for {
		if !s.sleepUntil(ctx, grid.Add(-s.early())) {
			return
		}
		if f := s.FullInterval(); f != full {
			full = f
			nextFull = nextGrid(c.Now(), f, at(s.fracFull+slot, f))
		}
		tier, probe := dial.TierConnect, s.cfg.Connect
		switch {
		case full <= iv:
			// The node's share of the budget allows a full attempt every
			// interval (a fleet under budget × interval / paths nodes):
			// every attempt is a full one, the first included.
			tier, probe, skip = dial.TierFull, s.probe, false
		case !grid.Before(nextFull):
			nextFull = nextGrid(grid, full, at(s.fracFull+slot, full))
			if skip {
				skip = false
			} else {
				tier, probe = dial.TierFull, s.probe
			}
		}
		s.due(t, tier, grid)
		res := s.attempt(ctx, t, probe, tier)
		if ctx.Err() != nil {
			return
		}
		s.deliver(res)
		switch {
		case tier == dial.TierFull:
			view = connectView(res)
		case view != "" && res.Reason != view && s.confirmToken():
			s.due(t, dial.TierFull, c.Now())
			conf := s.attempt(ctx, t, s.probe, dial.TierFull)
			if ctx.Err() != nil {
				return
			}
			s.deliver(conf)
			view = connectView(conf)
			if reachedTLS(conf) {
				skip = true
			} else {
				s.refundToken()
			}
		}
		grid = grid.Add(iv)
		if now := c.Now(); !grid.After(now) {
			// The attempt overran its slot: the next grid point after now.
			grid = nextGrid(now, iv, fastOff)
		}
	}
}

func (s *Scheduler) due(t dial.Target, tier dial.Tier, at time.Time) {
	if s.cfg.Due != nil {
		s.cfg.Due(t, tier, at)
	}
}

// sleepUntil waits until t, reporting false when ctx ends first.
func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) bool {
	wait := t.Sub(s.cfg.Clock.Now())
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := s.cfg.Clock.NewTimer(wait)
	select {
	case <-ctx.Done():
		timer.Stop()
		return false
	case <-timer.C():
		return true
	}
}

// connectView is what a full result says about the connect: its reason when
// it failed resolving or connecting, ok when it got further.
func connectView(r dial.Result) dial.Reason {
	if r.FailedPhase == dial.PhaseResolve || r.FailedPhase == dial.PhaseConnect {
		return r.Reason
	}
	return dial.ReasonOK
}

// reachedTLS reports whether an attempt got as far as a TLS handshake.
func reachedTLS(r dial.Result) bool {
	return r.FailedPhase != dial.PhaseResolve && r.FailedPhase != dial.PhaseConnect
}

// bucket is a token bucket: rate tokens per second, at most burst.
type bucket struct {
	tokens, burst, rate float64
	last                time.Time
}

func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

func (b *bucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
