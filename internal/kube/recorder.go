package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
)

// eventRecorder takes one Event about regarding; it must not block. The
// recorder below writes to the API server; tests pass client-go's
// events.FakeRecorder.
type eventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// The timings of client-go's events.k8s.io recorder (tools/events), which
// this recorder follows: a series ends after finishTime without a repeat,
// an open series is rewritten every refreshTime, a failed write is retried
// maxTries times retryDelay (±25%) apart.
const (
	finishTime  = 6 * time.Minute
	refreshTime = 30 * time.Minute
	retryDelay  = 10 * time.Second
	maxTries    = 12
	// queueLen bounds the Events waiting for the API server; the
	// Notifier's rate limits keep far fewer in flight.
	queueLen = 64
)

// seriesKey is what makes two Events the same series (the regarding object
// is always the probe's Pod).
type seriesKey struct{ typ, reason, action string }

// recorder writes events.k8s.io Events about one object through the API
// and folds repeats into a series, as client-go's tools/events recorder
// does (which the probe does not link: it pulls in every API group's
// scheme, see internal/kube/kubeclient): the first Event of a key is
// created; the first repeat patches series.count to 2 at once; later
// repeats only count, and the count is written every refreshTime and when
// the series ends (finishTime without a repeat). Eventf never blocks: it
// queues, and Run writes from one goroutine.
type recorder struct {
	sink      kubeclient.Events
	regarding corev1.ObjectReference
	instance  string // reportingInstance: controller-hostname, as client-go
	logger    *slog.Logger
	now       func() time.Time

	queue   chan *eventsv1.Event
	running atomic.Bool
	dropped atomic.Uint64

	// Run's goroutine only:
	cache map[seriesKey]*eventsv1.Event
}

func newRecorder(sink kubeclient.Events, regarding corev1.ObjectReference, logger *slog.Logger) *recorder {
	host, _ := os.Hostname()
	return &recorder{
		sink:      sink,
		regarding: regarding,
		instance:  ReportingController + "-" + host,
		logger:    logger,
		now:       time.Now,
		queue:     make(chan *eventsv1.Event, queueLen),
		cache:     map[seriesKey]*eventsv1.Event{},
	}
}

// Eventf queues an Event about the recorder's object (regarding and related
// are ignored: the probe only reports about its own Pod). Before Run starts
// and after it ends, and when the queue is full, the Event is dropped.
func (r *recorder) Eventf(_, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	if !r.running.Load() {
		return
	}
	now := r.now()
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// client-go's name: the object's name and the time in hex.
			Name:      fmt.Sprintf("%s.%x", r.regarding.Name, now.UnixNano()),
			Namespace: r.regarding.Namespace,
		},
		EventTime:           metav1.MicroTime{Time: now},
		ReportingController: ReportingController,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           r.regarding,
		Note:                fmt.Sprintf(note, args...),
		Type:                eventtype,
	}
	select {
	case r.queue <- ev:
	default:
		r.dropped.Add(1)
	}
}

// Run writes queued Events until ctx is done.
func (r *recorder) Run(ctx context.Context, started chan<- struct{}) {
	r.running.Store(true)
	defer r.running.Store(false)
	close(started)
	finish := time.NewTicker(finishTime)
	defer finish.Stop()
	refresh := time.NewTicker(refreshTime)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.queue:
			if w := r.add(ev); w != nil {
				r.write(ctx, w)
			}
		case <-finish.C:
			r.finishSeries(ctx)
		case <-refresh.C:
			r.refreshSeries(ctx)
		}
	}
}

// add files ev in the cache and returns what to write now: ev itself when
// it starts a key, the series when it is the first repeat, else nil.
func (r *recorder) add(ev *eventsv1.Event) *eventsv1.Event {
	k := seriesKey{ev.Type, ev.Reason, ev.Action}
	cached, ok := r.cache[k]
	if !ok {
		r.cache[k] = ev
		return ev.DeepCopy()
	}
	seen := metav1.MicroTime{Time: ev.EventTime.Time}
	if cached.Series != nil {
		cached.Series.Count++
		cached.Series.LastObservedTime = seen
		return nil
	}
	cached.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: seen}
	return cached.DeepCopy()
}

// finishSeries writes the final count of every series without a repeat for
// finishTime and forgets it, and forgets single Events as old.
func (r *recorder) finishSeries(ctx context.Context) {
	cutoff := r.now().Add(-finishTime)
	for k, ev := range r.cache {
		switch {
		case ev.Series != nil && ev.Series.LastObservedTime.Before(&metav1.MicroTime{Time: cutoff}):
			r.write(ctx, ev.DeepCopy())
			delete(r.cache, k)
		case ev.Series == nil && ev.EventTime.Time.Before(cutoff):
			delete(r.cache, k)
		}
	}
}

// refreshSeries rewrites every open series, so that its Event outlives the
// API server's event TTL (one hour by default).
func (r *recorder) refreshSeries(ctx context.Context) {
	for _, ev := range r.cache {
		if ev.Series != nil {
			r.write(ctx, ev.DeepCopy())
		}
	}
}

// write creates ev, or patches its series, retrying what may succeed later
// (transport errors, the API server away) up to maxTries times.
func (r *recorder) write(ctx context.Context, ev *eventsv1.Event) {
	for try := 1; ; try++ {
		err := r.writeOnce(ctx, ev)
		if err == nil {
			return
		}
		var (
			status    apierrors.APIStatus
			construct *rest.RequestConstructionError
		)
		// A series written as a new Event may meet its twin being created:
		// that one is retried (as client-go does).
		twin := apierrors.IsAlreadyExists(err) && ev.Series != nil
		if errors.As(err, &construct) || errors.As(err, &status) && !twin {
			// The server rejected it (forbidden, invalid), or the request
			// cannot be built: it would be again.
			r.logger.WarnContext(ctx, "kubernetes event rejected, not retrying", "reason", ev.Reason, "err", err)
			return
		}
		if try >= maxTries || ctx.Err() != nil {
			r.logger.WarnContext(ctx, "kubernetes event not written, giving up", "reason", ev.Reason, "tries", try, "err", err)
			return
		}
		d := retryDelay * time.Duration(75+rand.IntN(51)) / 100 //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

func (r *recorder) writeOnce(ctx context.Context, ev *eventsv1.Event) error {
	if ev.Series != nil {
		patch, err := json.Marshal(map[string]any{"series": ev.Series})
		if err != nil {
			return fmt.Errorf("event series patch: %w", err)
		}
		_, err = r.sink.Patch(ctx, ev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			return err
		}
		// The Event is gone (expired): write the series as a new one.
	}
	ev.ResourceVersion = ""
	_, err := r.sink.Create(ctx, ev, metav1.CreateOptions{})
	return err
}
