package kube

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
)

// DefaultProbeDaemonSet is the name of the probe's own DaemonSet in deploy/base.
const DefaultProbeDaemonSet = "sensorprobe"

// FleetConfig configures WatchFleet.
type FleetConfig struct {
	// Namespace is the probe's own namespace (POD_NAMESPACE, downward API).
	Namespace string
	// Name is the probe's DaemonSet (--fleet.daemonset).
	Name string
	// OnSize is called with status.desiredNumberScheduled every time it
	// changes, including once when first seen. Calls come from the
	// informer's goroutine, one at a time; OnSize must not block for long.
	OnSize func(n int)
	// OnError is called with each failed list or watch call (forbidden,
	// unreachable), and once when the first list finds no such DaemonSet.
	OnError func(err error)
}

// WatchFleet follows the number of probe pods: the probe DaemonSet's
// status.desiredNumberScheduled, the nodes it should run on. The
// scheduler shares the sensor budget by it. It lists and watches only that
// DaemonSet (field selector metadata.name), which the Role in
// deploy/base/rbac.yaml pins with resourceNames. It runs until ctx ends.
func WatchFleet(ctx context.Context, client kubeclient.Interface, cfg FleetConfig) error {
	dss := client.AppsV1().DaemonSets(cfg.Namespace)
	sel := fields.OneTermEqualSelector("metadata.name", cfg.Name).String()
	report := func(verb string, err error) {
		if err != nil && ctx.Err() == nil && cfg.OnError != nil {
			cfg.OnError(fmt.Errorf("%s daemonsets/%s in %s: %w", verb, cfg.Name, cfg.Namespace, err))
		}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			obj, err := dss.List(ctx, o)
			report("list", err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			w, err := dss.Watch(ctx, o)
			report("watch", err)
			return w, err
		},
	}
	var (
		mu   sync.Mutex
		last = -1
	)
	update := func(obj any) {
		ds, ok := obj.(*appsv1.DaemonSet)
		if !ok || ds.Name != cfg.Name {
			return
		}
		n := int(ds.Status.DesiredNumberScheduled)
		mu.Lock()
		changed := n != last
		last = n
		mu.Unlock()
		if changed && n > 0 && cfg.OnSize != nil {
			cfg.OnSize(n)
		}
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, &appsv1.DaemonSet{}, cache.SharedIndexInformerOptions{})
	_ = inf.SetTransform(stripManagedFields)
	_ = inf.SetWatchErrorHandlerWithContext(func(context.Context, *cache.Reflector, error) {})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj any) { update(obj) },
	})
	go func() {
		// A DaemonSet of another name (or in another namespace) is not an
		// error of any call: say so once the first list is in, so the probe
		// does not share the budget by a guess without a word.
		if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) && len(inf.GetStore().List()) == 0 && cfg.OnError != nil {
			cfg.OnError(fmt.Errorf("no DaemonSet %s in namespace %s (--fleet.daemonset, POD_NAMESPACE)", cfg.Name, cfg.Namespace))
		}
	}()
	inf.RunWithContext(ctx)
	return nil
}
