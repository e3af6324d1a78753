package kube

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/kubevirt"
)

// DefaultKubeVirtNamespace is where KubeVirt's virt-handler pods run unless
// told otherwise; OpenShift Virtualization uses openshift-cnv.
const DefaultKubeVirtNamespace = "kubevirt"

// VMWatchConfig configures a VMWatch.
type VMWatchConfig struct {
	// NodeName is this node; required.
	NodeName string
	// KubeVirtNamespace is the namespace of the virt-handler pods; ""
	// means DefaultKubeVirtNamespace.
	KubeVirtNamespace string
}

// VirtHandler is the virt-handler pod on a node.
type VirtHandler struct {
	// Pod is namespace/name, "" when no virt-handler pod runs on the node.
	Pod string
	// Ready is the pod's Ready condition (and phase Running).
	Ready bool
	// Addr is its pod IP and port 8186 (kubevirt.VirtHandlerPort), where
	// virt-api dials it; "" without a pod IP.
	Addr string
}

// NodeVMs is what the VM watch knows of one node: its VMIs and its
// virt-handler. Slices are sorted and the receiver may keep them.
type NodeVMs struct {
	// VMIsKnown is true once the VMIs on the node have been listed.
	VMIsKnown bool
	// VMIs are the VirtualMachineInstances on the node, sorted by key.
	VMIs []kubevirt.VMI
	// VirtHandlerKnown is true once the virt-handler pods have been listed.
	VirtHandlerKnown bool
	// VirtHandler is this node's virt-handler (Pod "" when there is none).
	VirtHandler VirtHandler
	// Error is the latest failed list or watch, "" while both work. It names
	// the resource, e.g. "virtualmachineinstances: ... forbidden ...".
	Error string
}

// VMWatch follows the VMIs and the virt-handler pod of one node, for the
// RHACS 4.12 line, where sensor scrapes every Running VMI through
// virt-handler. It reads the VMIs labelled kubevirt.io/nodeName=<node>
// (cluster-wide list and watch of virtualmachineinstances.kubevirt.io) and
// the virt-handler pods of that node in the KubeVirt namespace; both are
// optional (RBAC or an absent KubeVirt leave them unknown). Create it with
// NewVMWatch; Snapshot is safe for concurrent use.
type VMWatch struct {
	cfg    VMWatchConfig
	client kubeclient.Interface
	logger *slog.Logger
	vmis   cache.SharedIndexInformer
	pods   cache.SharedIndexInformer

	mu   sync.Mutex
	errs map[string]string // by resource
}

// NewVMWatch returns a VMWatch reading through client.
func NewVMWatch(client kubeclient.Interface, cfg VMWatchConfig, logger *slog.Logger) *VMWatch {
	if cfg.KubeVirtNamespace == "" {
		cfg.KubeVirtNamespace = DefaultKubeVirtNamespace
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &VMWatch{cfg: cfg, client: client, logger: logger.With("component", "kube-vm-watch", "node", cfg.NodeName),
		errs: map[string]string{}}
	vmis := client.Dynamic().Resource(kubevirt.GVRVMI)
	w.vmis = w.informer(newResource("virtualmachineinstances", &unstructured.Unstructured{}, func(o *metav1.ListOptions) {
		o.LabelSelector = kubevirt.NodeNameLabel + "=" + cfg.NodeName
	}, vmis.List, vmis.Watch))
	pods := client.CoreV1().Pods(cfg.KubeVirtNamespace)
	w.pods = w.informer(newResource("pods/virt-handler", &corev1.Pod{}, func(o *metav1.ListOptions) {
		o.LabelSelector = kubevirt.VirtHandlerSelector
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}, pods.List, pods.Watch))
	return w
}

// informer is r's informer, every failed call recorded under r's name.
func (w *VMWatch) informer(r *resource) cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := r.list(ctx, o)
			if ctx.Err() == nil {
				w.record(r.name, err)
			}
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wi, err := r.watch(ctx, o)
			if ctx.Err() == nil && err != nil {
				w.record(r.name, err)
			}
			return wi, err
		},
	}
	inf := cache.NewSharedIndexInformer(lw, r.example, 0, cache.Indexers{})
	_ = inf.SetTransform(stripManagedFields)
	_ = inf.SetWatchErrorHandlerWithContext(func(context.Context, *cache.Reflector, error) {})
	return inf
}

func (w *VMWatch) record(name string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	was := w.errs[name]
	if err == nil {
		delete(w.errs, name)
		return
	}
	w.errs[name] = fmt.Sprintf("%s: %v", name, err)
	if was == "" {
		w.logger.Warn("cannot read "+name+"; the pull-mode facts of this node stay unknown", "err", err)
	}
}

// Run follows the node's VMIs and virt-handler until ctx is done.
func (w *VMWatch) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { w.vmis.RunWithContext(ctx) })
	wg.Go(func() { w.pods.RunWithContext(ctx) })
	wg.Wait()
	return nil
}

// Snapshot returns what is known now.
func (w *VMWatch) Snapshot() NodeVMs {
	var n NodeVMs
	if w.vmis.HasSynced() {
		n.VMIsKnown = true
		n.VMIs = vmisOf(w.vmis.GetStore().List())
	}
	if w.pods.HasSynced() {
		n.VirtHandlerKnown = true
		n.VirtHandler = virtHandlerOf(w.pods.GetStore().List())
	}
	w.mu.Lock()
	var errs []string
	for _, e := range w.errs {
		errs = append(errs, e)
	}
	w.mu.Unlock()
	slices.Sort(errs)
	n.Error = strings.Join(errs, "; ")
	return n
}

// ListOnce lists the node's VMIs and virt-handler once, for one-shot checks.
func (w *VMWatch) ListOnce(ctx context.Context) NodeVMs {
	var n NodeVMs
	var errs []string
	if list, err := w.client.Dynamic().Resource(kubevirt.GVRVMI).List(ctx,
		metav1.ListOptions{LabelSelector: kubevirt.NodeNameLabel + "=" + w.cfg.NodeName}); err == nil {
		items := make([]any, len(list.Items))
		for i := range list.Items {
			items[i] = &list.Items[i]
		}
		n.VMIsKnown, n.VMIs = true, vmisOf(items)
	} else {
		errs = append(errs, "virtualmachineinstances: "+err.Error())
	}
	if pods, err := w.client.CoreV1().Pods(w.cfg.KubeVirtNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: kubevirt.VirtHandlerSelector,
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", w.cfg.NodeName).String(),
	}); err == nil {
		items := make([]any, len(pods.Items))
		for i := range pods.Items {
			items[i] = &pods.Items[i]
		}
		n.VirtHandlerKnown, n.VirtHandler = true, virtHandlerOf(items)
	} else {
		errs = append(errs, "pods/virt-handler: "+err.Error())
	}
	n.Error = strings.Join(errs, "; ")
	return n
}

func vmisOf(items []any) []kubevirt.VMI {
	out := make([]kubevirt.VMI, 0, len(items))
	for _, it := range items {
		if u, ok := it.(*unstructured.Unstructured); ok {
			out = append(out, kubevirt.VMIFrom(u.Object))
		}
	}
	slices.SortFunc(out, func(a, b kubevirt.VMI) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// virtHandlerOf picks the node's virt-handler pod: a ready one first, then
// the first by name.
func virtHandlerOf(items []any) VirtHandler {
	var pods []*corev1.Pod
	for _, it := range items {
		if p, ok := it.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return VirtHandler{}
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		if ra, rb := kubevirt.PodReady(a), kubevirt.PodReady(b); ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	p := pods[0]
	vh := VirtHandler{Pod: p.Namespace + "/" + p.Name, Ready: kubevirt.PodReady(p)}
	if p.Status.PodIP != "" {
		vh.Addr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(kubevirt.VirtHandlerPort))
	}
	return vh
}
