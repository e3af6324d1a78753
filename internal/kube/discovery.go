// Package kube makes sensorprobe Kubernetes-aware: it discovers the paths to
// sensor from the API server (Services sensor and sensor-webhook, sensor's
// EndpointSlices and Pods), reads how the collector DaemonSet configures the
// VM relay, and reports path and verdict changes as Kubernetes Events.
//
// Everything is scoped to one namespace (default "stackrox") and needs only the
// namespaced Role in deploy/base/rbac.yaml. When the API server is unreachable
// or a rule is missing, discovery keeps the last known targets, reports it in
// Snapshot.DiscoveryUp/Error and in metrics, and retries with client-go's
// reflector backoff (0.8 s doubling to 30 s, jittered); it never fails the
// process. See docs/kubernetes.md.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
)

// DefaultNamespace is the RHACS namespace discovery watches unless told otherwise.
const DefaultNamespace = "stackrox"

// Config configures a Discovery.
type Config struct {
	// Namespace is the RHACS namespace; "" means DefaultNamespace.
	Namespace string
	// NodeName is the node the probe runs on (env NODE_NAME from the downward
	// API). When empty, Snapshot.SensorOnThisNode stays nil.
	NodeName string
	// Overrides maps a path name to host:port (from --target flags). An
	// override wins over discovery; an unknown name adds a path.
	Overrides map[string]string
	// Resync is the informers' resync period; 0 (the default) disables
	// resyncs, which discovery does not need: it reacts to watch events.
	Resync time.Duration
	// OnChange, if set, is called with a copy of the snapshot every time it
	// changes, including once when Run starts. Calls are serialised, from
	// Run's goroutine; OnChange must not block for long.
	OnChange func(Snapshot)
}

// resource is one informer's identity: what it lists and how.
type resource struct {
	name     string // for errors and logs, e.g. "services/sensor"
	example  runtime.Object
	list     func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	watch    func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	informer cache.SharedIndexInformer
	// optional resources add facts but are not needed to probe: their
	// failures (e.g. no ClusterRole to read nodes) do not mark discovery down.
	optional bool
	lastOK   bool   // guarded by Discovery.mu
	lastErr  string // guarded by Discovery.mu
	errSeq   uint64 // guarded by Discovery.mu; orders errors across resources
}

// Discovery watches the RHACS namespace and keeps a Snapshot of the targets
// to probe and the relay's configuration. Create it with NewDiscovery, start
// it with Run. Snapshot is safe for concurrent use.
type Discovery struct {
	client kubeclient.Interface
	cfg    Config
	logger *slog.Logger

	dirty  chan struct{}
	errors atomic.Uint64 // failed list and watch calls

	mu        sync.Mutex
	snap      Snapshot
	seq       uint64
	resources []*resource
	wasUp     bool
	started   bool
}

// NewDiscovery returns a Discovery that reads through client. cfg.Namespace
// defaults to DefaultNamespace; cfg.Overrides is copied. Before Run has
// computed anything, Snapshot returns the static targets (see StaticSnapshot).
func NewDiscovery(client kubeclient.Interface, cfg Config, logger *slog.Logger) *Discovery {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	cfg.Overrides = maps.Clone(cfg.Overrides)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Discovery{
		client: client,
		cfg:    cfg,
		logger: logger.With("component", "kube-discovery", "namespace", cfg.Namespace),
		dirty:  make(chan struct{}, 1),
		snap:   StaticSnapshot(cfg),
	}
	d.resources = d.newResources()
	return d
}

// StaticSnapshot is the snapshot of a probe without the Kubernetes API (or
// before discovery has read anything): the dns and hostport paths for
// cfg.Namespace plus cfg.Overrides. Use it for --kube=false.
func StaticSnapshot(cfg Config) Snapshot {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	return build(cfg.Namespace, "", cfg.Overrides, objects{})
}

// Snapshot returns a copy of the latest snapshot, with the current count
// of failed calls.
func (d *Discovery) Snapshot() Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.snap.clone()
	s.Errors = d.errors.Load()
	return s
}

// Run starts the informers and keeps the snapshot current until ctx is done.
// It returns nil when ctx is done; it does not return early because the API
// server is unreachable or forbids a request (that is reported in the
// snapshot, and retried). Run may be called once.
func (d *Discovery) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return fmt.Errorf("kube discovery: Run called twice")
	}
	d.started = true
	d.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	for _, r := range d.resources {
		wg.Go(func() { r.informer.RunWithContext(ctx) })
		wg.Go(func() {
			if cache.WaitForCacheSync(ctx.Done(), r.informer.HasSynced) {
				d.markDirty()
			}
		})
	}

	d.recompute()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.dirty:
			d.recompute()
		}
	}
}

func (d *Discovery) markDirty() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// newResource is one informer's list and watch, each narrowed by tweak.
func newResource[L runtime.Object](name string, example runtime.Object, tweak func(*metav1.ListOptions),
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *resource {
	return &resource{
		name:    name,
		example: example,
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return list(ctx, o)
		},
		watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			return watchFn(ctx, o)
		},
	}
}

// newResources builds the five namespaced informers, each narrowed by a
// field or label selector so that the Role can be as tight as
// deploy/base/rbac.yaml is.
func (d *Discovery) newResources() []*resource {
	ns := d.cfg.Namespace
	core := d.client.CoreV1()
	byName := func(name string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
	byLabel := func(sel string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) { o.LabelSelector = sel }
	}
	apps, disc := d.client.AppsV1(), d.client.DiscoveryV1()
	rs := []*resource{
		newResource("services/"+sensorService, &corev1.Service{}, byName(sensorService),
			core.Services(ns).List, core.Services(ns).Watch),
		newResource("services/"+webhookService, &corev1.Service{}, byName(webhookService),
			core.Services(ns).List, core.Services(ns).Watch),
		newResource("endpointslices", &discoveryv1.EndpointSlice{}, byLabel(serviceNameLabel+"="+sensorService),
			disc.EndpointSlices(ns).List, disc.EndpointSlices(ns).Watch),
		newResource("pods", &corev1.Pod{}, byLabel(sensorPodLabel),
			core.Pods(ns).List, core.Pods(ns).Watch),
		newResource("daemonsets/"+collectorDaemonSet, &appsv1.DaemonSet{}, byName(collectorDaemonSet),
			apps.DaemonSets(ns).List, apps.DaemonSets(ns).Watch),
	}
	if node := d.cfg.NodeName; node != "" {
		// This node's labels tell a control-plane node, where 4.11 starts
		// no relay by default. Reading it needs the optional ClusterRole.
		r := newResource("nodes/"+node, &corev1.Node{}, byName(node), core.Nodes().List, core.Nodes().Watch)
		r.optional = true
		rs = append(rs, r)
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { d.markDirty() },
		UpdateFunc: func(any, any) { d.markDirty() },
		DeleteFunc: func(any) { d.markDirty() },
	}
	for _, r := range rs {
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				obj, err := r.list(ctx, o)
				if ctx.Err() == nil { // a call cut short by shutdown is no API failure
					d.report(r, "list", err)
				}
				return obj, err
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				w, err := r.watch(ctx, o)
				if ctx.Err() == nil {
					d.report(r, "watch", err)
				}
				return w, err
			},
		}
		inf := cache.NewSharedIndexInformerWithOptions(lw, r.example, cache.SharedIndexInformerOptions{ResyncPeriod: d.cfg.Resync})
		// Discovery reads a handful of fields; managed fields are the bulk of an object.
		_ = inf.SetTransform(stripManagedFields)
		// The reflector logs failed calls through klog; report() logs the
		// transitions through slog instead, so silence the per-call handler.
		_ = inf.SetWatchErrorHandlerWithContext(func(context.Context, *cache.Reflector, error) {})
		_, _ = inf.AddEventHandler(handler)
		r.informer = inf
	}
	return rs
}

func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// report records the outcome of one list or watch call of r.
func (d *Discovery) report(r *resource, verb string, err error) {
	if err != nil && !r.optional {
		d.errors.Add(1)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		if !r.lastOK {
			r.lastOK, r.lastErr = true, ""
			d.markDirty()
		}
		return
	}
	msg := fmt.Sprintf("%s %s: %v", verb, r.name, err)
	d.seq++
	if r.lastOK || r.lastErr != msg {
		r.lastOK, r.lastErr, r.errSeq = false, msg, d.seq
		d.markDirty()
	}
}

// recompute rebuilds the snapshot from the informers' stores and publishes
// it if it changed.
func (d *Discovery) recompute() {
	var objs objects
	for _, r := range d.resources {
		objs.add(r.example, r.informer.GetStore().List(), r.informer.HasSynced())
	}
	snap := build(d.cfg.Namespace, d.cfg.NodeName, d.cfg.Overrides, objs)

	d.mu.Lock()
	up := true
	var lastSeq uint64
	for _, r := range d.resources {
		if r.optional {
			continue
		}
		if !r.lastOK || !r.informer.HasSynced() {
			up = false
		}
		if !r.lastOK && r.lastErr != "" && r.errSeq >= lastSeq {
			lastSeq, snap.Error = r.errSeq, r.lastErr
		}
	}
	snap.DiscoveryUp = up
	changed := !reflect.DeepEqual(snap, d.snap)
	wasUp, prevErr := d.wasUp, d.snap.Error
	d.wasUp = up
	if changed {
		d.snap = snap
	}
	d.mu.Unlock()

	switch {
	case up && !wasUp:
		d.logger.Info("kubernetes discovery is up", "targets", len(snap.Targets))
	case snap.Error != "" && prevErr == "":
		d.logger.Warn("kubernetes discovery is failing, keeping the last known targets and retrying", "err", snap.Error)
	}
	if changed {
		d.logger.Debug("kubernetes snapshot changed", "targets", fmt.Sprint(snap.Targets), "relay_path", snap.Uses.RelayPath, "sensor_node", snap.SensorNode)
		if d.cfg.OnChange != nil {
			d.cfg.OnChange(snap.clone())
		}
	}
}

// add sorts the listed items of one resource (of example's type) into objs;
// synced tells whether the list is complete.
func (objs *objects) add(example runtime.Object, items []any, synced bool) {
	switch example.(type) {
	case *corev1.Service:
		for _, it := range items {
			svc := it.(*corev1.Service)
			switch svc.Name {
			case sensorService:
				objs.sensor = svc
			case webhookService:
				objs.webhook = svc
			}
		}
	case *discoveryv1.EndpointSlice:
		for _, it := range items {
			objs.slices = append(objs.slices, it.(*discoveryv1.EndpointSlice))
		}
	case *corev1.Pod:
		objs.podsSynced = synced
		for _, it := range items {
			objs.pods = append(objs.pods, it.(*corev1.Pod))
		}
	case *appsv1.DaemonSet:
		for _, it := range items {
			if ds := it.(*appsv1.DaemonSet); ds.Name == collectorDaemonSet {
				objs.collector = ds
			}
		}
	case *corev1.Node:
		for _, it := range items {
			objs.node = it.(*corev1.Node)
		}
	}
}

// DiscoverOnce lists what Discovery watches once, without informers, and
// returns the snapshot; it is for one-shot checks. The snapshot is built from
// the calls that succeeded; every failed call is in the returned error (joined)
// and in Snapshot.Error, and then Snapshot.DiscoveryUp is false.
func DiscoverOnce(ctx context.Context, client kubeclient.Interface, cfg Config) (Snapshot, error) {
	d := NewDiscovery(client, cfg, nil)
	var (
		objs objects
		errs []error
	)
	for _, r := range d.resources {
		obj, err := r.list(ctx, metav1.ListOptions{})
		if err == nil {
			var list []runtime.Object
			if list, err = meta.ExtractList(obj); err == nil {
				items := make([]any, len(list))
				for i, o := range list {
					items[i] = o
				}
				objs.add(r.example, items, true)
				continue
			}
		}
		if r.optional {
			continue
		}
		errs = append(errs, fmt.Errorf("list %s: %w", r.name, err))
	}
	snap := build(d.cfg.Namespace, d.cfg.NodeName, d.cfg.Overrides, objs)
	snap.DiscoveryUp = len(errs) == 0
	if len(errs) > 0 {
		snap.Error = errs[len(errs)-1].Error()
	}
	return snap, errors.Join(errs...)
}
