package app

import (
	"context"
	"sync"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// The pull path on this node (RHACS 4.12 line): the VMIs here and the
// virt-handler through which sensor scrapes them. The daemon starts the
// watch once discovery reports pull mode, so push clusters never list VMIs.

// virtHandlerEvery is how often the probe checks that this node's
// virt-handler accepts TCP connections on port 8186: a control, as virt-api
// dials it from the pod network; cheap, and never more than one connection.
const virtHandlerEvery = 30 * time.Second

// virtHandlerRetry is how soon the probe checks again after a connect that
// was not accepted (or before the virt-handler pod is known), so that a
// repaired virt-handler clears virt_handler_down within seconds.
const virtHandlerRetry = 5 * time.Second

// virtHandlerTarget names the probe's connects to a virt-handler's port
// 8186 (not a path: they are not in the path metrics).
const virtHandlerTarget = "virt-handler"

// pullPart is the daemon's pull-mode node watch.
type pullPart struct {
	watch   *kube.VMWatch
	connect func(context.Context, dial.Target) dial.Result
	kvNS    string
	start   chan struct{}
	once    sync.Once

	mu      sync.Mutex
	started bool
	last    *dial.Result // the latest virt-handler connect, nil before one
	lastTo  string       // its address
}

func newPullPart(client kubeclient.Interface, cfg *Config, connect func(context.Context, dial.Target) dial.Result, e *Engine) *pullPart {
	return &pullPart{
		watch:   kube.NewVMWatch(client, kube.VMWatchConfig{NodeName: cfg.Node, KubeVirtNamespace: cfg.KubeVirtNamespace}, e.Log),
		connect: connect, kvNS: cfg.kubeVirtNamespace(), start: make(chan struct{}),
	}
}

// Start lets Run begin; it is called on every discovery change in pull mode.
func (p *pullPart) Start() { p.once.Do(func() { close(p.start) }) }

// Run waits for Start, then follows the node's VMIs and checks its
// virt-handler every virtHandlerEvery until ctx ends.
func (p *pullPart) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-p.start:
	}
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.watch.Run(ctx) })
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
		}
		next := virtHandlerEvery
		if !p.checkVirtHandler(ctx, p.watch.Snapshot()) {
			next = virtHandlerRetry
		}
		t.Reset(next)
	}
}

// checkVirtHandler makes one TCP connect to the virt-handler in n and
// reports whether it was accepted.
func (p *pullPart) checkVirtHandler(ctx context.Context, n kube.NodeVMs) bool {
	addr := n.VirtHandler.Addr
	var r *dial.Result
	if addr != "" {
		res := p.connect(ctx, dial.Target{Name: virtHandlerTarget, Addr: addr})
		r = &res
	}
	p.mu.Lock()
	p.last, p.lastTo = r, addr
	p.mu.Unlock()
	return r != nil && r.OK()
}

// facts returns this node's pull facts, nil before the watch started.
func (p *pullPart) facts() *verdict.NodeVMs {
	p.mu.Lock()
	started, last, to := p.started, p.last, p.lastTo
	p.mu.Unlock()
	if !started {
		return nil
	}
	return nodeVMsOf(p.watch.Snapshot(), p.kvNS, last, to)
}

// nodeVMsOf converts the watch's snapshot and the latest connect to addr
// into the verdict's facts.
func nodeVMsOf(n kube.NodeVMs, kvNS string, last *dial.Result, addr string) *verdict.NodeVMs {
	f := &verdict.NodeVMs{VMIsKnown: n.VMIsKnown, KubeVirtNamespace: kvNS, VirtHandlerKnown: n.VirtHandlerKnown,
		VirtHandlerPod: n.VirtHandler.Pod, VirtHandlerReady: n.VirtHandler.Ready}
	for _, v := range n.VMIs {
		if !v.Running() {
			continue
		}
		f.Running = append(f.Running, v.Key())
		if !v.HasVSOCK() {
			f.WithoutVSOCK = append(f.WithoutVSOCK, v.Key())
		}
	}
	if last != nil && addr == n.VirtHandler.Addr {
		up := last.OK()
		f.VirtHandlerReachable = &up
		if last.Err != nil {
			f.VirtHandlerError = last.Err.Error()
		}
	}
	return f
}

// noPullFacts is the pull facts of a probe that does not watch the pull path.
func noPullFacts() *verdict.NodeVMs { return nil }

// pullOnce is the one-shot check's pull part: one list and one connect.
func pullOnce(ctx context.Context, client kubeclient.Interface, cfg *Config, p *dial.Prober) *verdict.NodeVMs {
	w := kube.NewVMWatch(client, kube.VMWatchConfig{NodeName: cfg.Node, KubeVirtNamespace: cfg.KubeVirtNamespace}, nil)
	n := w.ListOnce(ctx)
	var last *dial.Result
	if n.VirtHandler.Addr != "" {
		r := p.Connect(ctx, dial.Target{Name: virtHandlerTarget, Addr: n.VirtHandler.Addr})
		last = &r
	}
	return nodeVMsOf(n, cfg.kubeVirtNamespace(), last, n.VirtHandler.Addr)
}

// kubeVirtNamespace is --kubevirt.namespace, or its default.
func (cfg *Config) kubeVirtNamespace() string {
	if cfg.KubeVirtNamespace == "" {
		return kube.DefaultKubeVirtNamespace
	}
	return cfg.KubeVirtNamespace
}
