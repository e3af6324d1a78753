package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fakeEvents records the recorder's writes; err, when set, answers the
// next writes.
type fakeEvents struct {
	calls []string
	errs  []error
}

func (f *fakeEvents) next() error {
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *fakeEvents) Create(_ context.Context, ev *eventsv1.Event, _ metav1.CreateOptions) (*eventsv1.Event, error) {
	series := ""
	if ev.Series != nil {
		series = " series " + string(rune('0'+ev.Series.Count))
	}
	f.calls = append(f.calls, "create "+ev.Name+" "+ev.Type+" "+ev.Reason+" "+ev.Action+" "+ev.Note+series)
	return ev, f.next()
}

func (f *fakeEvents) Patch(_ context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, _ ...string) (*eventsv1.Event, error) {
	var p struct {
		Series struct {
			Count            int32            `json:"count"`
			LastObservedTime metav1.MicroTime `json:"lastObservedTime"`
		} `json:"series"`
	}
	if err := json.Unmarshal(data, &p); err != nil || pt != types.MergePatchType {
		f.calls = append(f.calls, "bad patch "+string(pt)+" "+string(data))
		return nil, f.next()
	}
	f.calls = append(f.calls, "patch "+name+" count "+string(rune('0'+p.Series.Count))+" at "+p.Series.LastObservedTime.UTC().Format(time.TimeOnly))
	return &eventsv1.Event{}, f.next()
}

func TestRecorderSeries(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)}
	sink := &fakeEvents{}
	r := newRecorder(sink, corev1.ObjectReference{Kind: "Pod", Namespace: "stackrox", Name: "probe-x"}, slog.New(slog.DiscardHandler))
	r.now = clock.now
	ctx := t.Context()
	nameAt := func(t time.Time) string { return fmt.Sprintf("probe-x.%x", t.UnixNano()) } // client-go's names
	name := nameAt(clock.t)

	record := func(reason, note string) {
		t.Helper()
		r.Eventf(nil, nil, corev1.EventTypeWarning, reason, "Probe/dns", "%s", note)
		select {
		case ev := <-r.queue:
			if w := r.add(ev); w != nil {
				r.write(ctx, w)
			}
		default:
			t.Fatal("Eventf queued nothing")
		}
	}

	r.Eventf(nil, nil, corev1.EventTypeWarning, ReasonPathDown, "Probe/dns", "before Run")
	if len(r.queue) != 0 {
		t.Fatal("an Event before Run was queued, want it dropped")
	}
	r.running.Store(true)

	record(ReasonPathDown, "node n: path dns is refused")
	clock.t = clock.t.Add(time.Minute)
	record(ReasonPathDown, "node n: path dns is refused") // the first repeat is written at once
	clock.t = clock.t.Add(time.Minute)
	record(ReasonPathDown, "node n: path dns is refused") // later ones only count
	record(ReasonPathUp, "node n: path dns is ok")        // another key
	r.finishSeries(ctx)                                   // nothing has ended yet
	clock.t = clock.t.Add(finishTime + time.Second)
	r.finishSeries(ctx) // the series ends with its final count; the single Event is forgotten
	want := []string{
		"create " + name + " Warning PathDown Probe/dns node n: path dns is refused",
		"patch " + name + " count 2 at 10:01:00",
		"create " + nameAt(clock.t.Add(-finishTime-time.Second)) + " Warning PathUp Probe/dns node n: path dns is ok",
		"patch " + name + " count 3 at 10:02:00",
	}
	if diff := cmp.Diff(want, sink.calls); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if len(r.cache) != 0 {
		t.Errorf("cache after the series ended: %v", r.cache)
	}

	t.Run("an expired series is created anew", func(t *testing.T) {
		sink.calls = nil
		record(ReasonVerdictChanged, "v")
		sink.errs = []error{apierrors.NewNotFound(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, name)}
		record(ReasonVerdictChanged, "v")
		if len(sink.calls) != 3 || sink.calls[1][:5] != "patch" || sink.calls[2][len(sink.calls[2])-8:] != "series 2" {
			t.Errorf("writes: %q, want create, patch (not found), create with series 2", sink.calls)
		}
	})
	t.Run("a rejected Event is not retried", func(t *testing.T) {
		sink.calls, sink.errs = nil, []error{apierrors.NewForbidden(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "", nil)}
		record("Other", "forbidden")
		if len(sink.calls) != 1 {
			t.Errorf("writes: %q, want one", sink.calls)
		}
	})
	t.Run("a full queue drops", func(t *testing.T) {
		for range queueLen + 5 {
			r.Eventf(nil, nil, corev1.EventTypeNormal, "R", "A", "n")
		}
		if got := r.dropped.Load(); got != 5 {
			t.Errorf("dropped %d, want 5", got)
		}
	})
}
