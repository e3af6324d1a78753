package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// ReportingController is the events.k8s.io reportingController of every Event
// the probe writes.
const ReportingController = "sensorprobe"

// Event reasons (events.k8s.io Event.reason).
const (
	ReasonPathDown           = "PathDown"
	ReasonPathUp             = "PathUp"
	ReasonPathFailureChanged = "PathFailureChanged"
	ReasonVerdictChanged     = "VerdictChanged"
)

// NotifierConfig configures a Notifier.
type NotifierConfig struct {
	// PodName, PodNamespace and PodUID identify the probe's own Pod (env
	// POD_NAME, POD_NAMESPACE, POD_UID from the downward API). Events are
	// about this Pod: they land in the RHACS namespace next to sensor's and
	// collector's, `kubectl describe pod` shows them, and writing them needs
	// no permission outside that namespace. Without PodName and PodNamespace
	// the Notifier drops every event (and logs that once).
	PodName, PodNamespace, PodUID string
	// NodeName is written into every event's note (the Pod's node).
	NodeName string
	// Burst is how many events one key (a path, or the verdict) may emit at
	// once; default 3.
	Burst int
	// Interval is how often a key regains one event; default 5 minutes. A
	// path flapping faster emits at most Burst events, then one per Interval,
	// each saying how many changes were not reported.
	Interval time.Duration
	// TotalBurst and TotalInterval bound all keys together; defaults 10 and 1 minute.
	TotalBurst    int
	TotalInterval time.Duration
	// Now is the clock the rate limits read; default time.Now.
	Now func() time.Time
}

type keyState struct {
	lim        *rate.Limiter
	suppressed int
}

// Notifier writes events.k8s.io Events when a path or the node's verdict
// changes, rate-limited per key and in total. On top of that, the recorder
// folds repeats of the same reason and action into one Event with a growing
// series count, as client-go's events recorder does. Create it with NewNotifier and start it with Run;
// PathChanged and VerdictChanged are safe for concurrent use and never block
// on the API server.
type Notifier struct {
	cfg       NotifierConfig
	logger    *slog.Logger
	sink      *recorder     // nil without a Pod to report about
	recorder  eventRecorder // sink, or a test's recorder
	regarding *corev1.ObjectReference
	started   chan struct{} // closed once Run records to the API server

	emitted atomic.Uint64

	mu    sync.Mutex
	total *rate.Limiter
	keys  map[string]*keyState
}

// NewNotifier returns a Notifier that writes through client. Events written
// before Run starts are dropped.
func NewNotifier(client kubeclient.Interface, cfg NotifierConfig, logger *slog.Logger) *Notifier {
	var sink kubeclient.Events
	if cfg.PodName != "" && cfg.PodNamespace != "" {
		sink = client.EventsV1().Events(cfg.PodNamespace)
	}
	return newNotifier(cfg, logger, sink, nil)
}

// newNotifier applies cfg's defaults. With a sink, the recorder writes to
// it unless rec is given (tests).
func newNotifier(cfg NotifierConfig, logger *slog.Logger, sink kubeclient.Events, rec eventRecorder) *Notifier {
	if cfg.Burst <= 0 {
		cfg.Burst = 3
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.TotalBurst <= 0 {
		cfg.TotalBurst = 10
	}
	if cfg.TotalInterval <= 0 {
		cfg.TotalInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		cfg:      cfg,
		logger:   logger.With("component", "kube-events"),
		total:    rate.NewLimiter(rate.Every(cfg.TotalInterval), cfg.TotalBurst),
		keys:     map[string]*keyState{},
		recorder: rec,
		started:  make(chan struct{}),
	}
	if cfg.PodName != "" && cfg.PodNamespace != "" {
		n.regarding = &corev1.ObjectReference{
			APIVersion: "v1",
			Kind:       "Pod",
			Namespace:  cfg.PodNamespace,
			Name:       cfg.PodName,
			UID:        types.UID(cfg.PodUID),
		}
		if n.recorder == nil && sink != nil {
			n.sink = newRecorder(sink, *n.regarding, n.logger)
			n.recorder = n.sink
		}
	}
	return n
}

// Run sends recorded events to the API server until ctx is done, then stops
// the recorder. Without a Pod to report about it only waits for ctx.
func (n *Notifier) Run(ctx context.Context) error {
	if n.sink == nil {
		n.logger.InfoContext(ctx, "kubernetes events disabled: POD_NAME or POD_NAMESPACE not set")
		<-ctx.Done()
		return nil
	}
	n.sink.Run(ctx, n.started)
	return nil
}

// Emitted returns how many Events the Notifier has handed to the API
// server's recorder since it was created.
func (n *Notifier) Emitted() uint64 { return n.emitted.Load() }

// PathChanged reports that path went from oldReason to newReason (dial
// reasons such as "ok" or "connect_timeout"; oldReason "" for the first result).
func (n *Notifier) PathChanged(path, oldReason, newReason string) {
	n.PathChangedOutage(path, oldReason, newReason, PathOutage{})
}

// PathOutage is what the probe's outage log says about a change of a path.
type PathOutage struct {
	// Down is how long the path was down, when the change brought it back; 0 otherwise.
	Down time.Duration
	// LastHour counts the path's outages in the last hour, the one the
	// change started or ended included.
	LastHour int
}

// PathChangedOutage is PathChanged with the outage: the Event of a path that
// came back says after how long and how many outages the last hour saw
// ("… is ok (was connect_timeout): back after 3m12s, 1 outage in the last
// hour"); that of a path going down, how many when more than one.
func (n *Notifier) PathChangedOutage(path, oldReason, newReason string, o PathOutage) {
	typ, reason := corev1.EventTypeWarning, ReasonPathFailureChanged
	switch {
	case newReason == string(dial.ReasonOK):
		typ, reason = corev1.EventTypeNormal, ReasonPathUp
	case oldReason == string(dial.ReasonOK) || oldReason == "":
		reason = ReasonPathDown
	}
	was := oldReason
	if was == "" {
		was = "unknown"
	}
	note := fmt.Sprintf("node %s: path %s is %s (was %s)", n.cfg.NodeName, path, newReason, was)
	switch {
	case reason == ReasonPathUp && o.Down > 0:
		note += fmt.Sprintf(": back after %s, %s in the last hour", downFor(o.Down), outages(o.LastHour))
	case reason == ReasonPathDown && o.LastHour > 1:
		note += fmt.Sprintf(", %s in the last hour", outages(o.LastHour))
	}
	n.emit("path/"+path, typ, reason, "Probe/"+path, note)
}

// downFor formats how long a path was down: 3m12s, 450ms.
func downFor(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func outages(n int) string {
	if n == 1 {
		return "1 outage"
	}
	return fmt.Sprintf("%d outages", n)
}

// VerdictChanged reports that the node's verdict went from old to new;
// cause is the verdict's one-line explanation.
func (n *Notifier) VerdictChanged(old, new, cause string) {
	typ := corev1.EventTypeWarning
	if new == verdict.Healthy { // a Normal event; every other verdict is a Warning
		typ = corev1.EventTypeNormal
	}
	if old == "" {
		old = "unknown"
	}
	note := fmt.Sprintf("node %s: verdict %s (was %s)", n.cfg.NodeName, new, old)
	if cause != "" {
		note += ": " + cause
	}
	n.emit("verdict", typ, ReasonVerdictChanged, "Diagnose", note)
}

// maxNote is the API server's limit on an Event note (1 kB).
const maxNote = 1024

// emit applies the rate limits and hands the event to the recorder.
func (n *Notifier) emit(key, typ, reason, action, note string) {
	if n.recorder == nil {
		return
	}
	now := n.cfg.Now()
	n.mu.Lock()
	ks, ok := n.keys[key]
	if !ok {
		ks = &keyState{lim: rate.NewLimiter(rate.Every(n.cfg.Interval), n.cfg.Burst)}
		n.keys[key] = ks
	}
	// Take the key's token first: a flapping key must not drain the total.
	if !ks.lim.AllowN(now, 1) {
		ks.suppressed++
		n.mu.Unlock()
		return
	}
	if !n.total.AllowN(now, 1) {
		ks.suppressed++
		n.mu.Unlock()
		return
	}
	if ks.suppressed > 0 {
		note += fmt.Sprintf(" (%d earlier changes not reported: rate limit)", ks.suppressed)
		ks.suppressed = 0
	}
	n.mu.Unlock()
	if len(note) > maxNote {
		note = note[:maxNote-3] + "..."
	}
	n.recorder.Eventf(n.regarding, nil, typ, reason, action, "%s", note)
	n.emitted.Add(1)
	n.logger.Debug("kubernetes event", "reason", reason, "action", action, "note", note)
}
