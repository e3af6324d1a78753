//go:build linux

package kubevirttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
)

// Defaults of Options.
const (
	DefaultRHACSNamespace    = "stackrox"
	DefaultKubeVirtNamespace = "openshift-cnv"
	// DefaultVersion is a 4.12 nightly, the first without the push relay.
	DefaultVersion = "4.12.x-nightly-20260813"
	// DefaultVMNamespace is where a VMI without a Namespace goes.
	DefaultVMNamespace = "vms"
	// EnvUnset as Options.SensorVMs leaves ROX_VIRTUAL_MACHINES off sensor's container.
	EnvUnset = "<unset>"
)

// Fixed ports of the stand-ins, as the real components use them.
const (
	VirtHandlerPort = 8186  // virt-handler's console server, which virt-api dials
	virtAPIPort     = 8443  // virt-api's container port behind Service port 443
	KubeletPort     = 10250 // node.status.daemonEndpoints.kubeletEndpoint.Port
	SensorAPIPort   = 8443
	SensorMetrics   = 9090 // sensor's "monitoring" port
)

// Options describe the pull-mode cluster Start builds. The zero value is a
// healthy one: RHACS's vsock role bound, KubeVirt's VSOCK gate on, Central
// reachable, sensor with ROX_VIRTUAL_MACHINES=true, two nodes each with a
// ready virt-handler, and no VMIs.
type Options struct {
	// RHACSNamespace is sensor's namespace (default stackrox).
	RHACSNamespace string
	// KubeVirtNamespace holds virt-api, virt-handler and the KubeVirt and
	// HyperConverged CRs (default openshift-cnv).
	KubeVirtNamespace string
	// Version is RHACS's version: the app.kubernetes.io/version label and
	// the image tags, as kubetest.Fixture.ApplyInstall sets them (default
	// DefaultVersion).
	Version string
	// SensorVMs is sensor's ROX_VIRTUAL_MACHINES: "" means "true", EnvUnset
	// leaves it out. Sensor scrapes only when it reads "true" in any case,
	// as RHACS's feature flags do.
	SensorVMs string
	// SensorEnv is added to sensor's container. The stand-in honours the
	// scraper's settings: ROX_VIRTUAL_MACHINES_VSOCK_PORT,
	// ..._SCRAPER_POLL_INTERVAL, ..._SCRAPER_PER_VM_TIMEOUT,
	// ..._SCRAPER_CONCURRENCY, ..._SCRAPER_INITIAL_BACKOFF and
	// ..._SCRAPER_MANDATORY_REFRESH_INTERVAL.
	SensorEnv []corev1.EnvVar
	// NoVSOCKAccessRole leaves out ClusterRole stackrox:vsock-access and its
	// binding stackrox:vsock-access-binding to ServiceAccount sensor, which
	// the chart creates with virtualMachines.enabled.
	NoVSOCKAccessRole bool
	// NoViewClusterRole leaves out ClusterRole stackrox:view-cluster (get,
	// list, watch on */*) and its binding stackrox:monitor-cluster, which
	// the chart always creates and which covers virtualmachineinstances/vsock
	// too: only without both roles is sensor forbidden.
	NoViewClusterRole bool
	// NoVSOCKFeatureGate leaves VSOCK out of the KubeVirt CR's
	// spec.configuration.developerConfiguration.featureGates.
	NoVSOCKFeatureGate bool
	// CentralUnreachable makes sensor's sends to Central fail as they do
	// when Central is not connected (send_error). See SetCentralReachable.
	CentralUnreachable bool
	// APIServiceInsecure registers the APIService with
	// insecureSkipTLSVerify instead of the caBundle of virt-api's CA.
	APIServiceInsecure bool
	// Nodes default to worker-0 and worker-1.
	Nodes []Node
	// VirtHandlers default (nil) to one ready and listening per node; an
	// empty, non-nil slice means none.
	VirtHandlers []VirtHandler
	// VMIs to create.
	VMIs []VMI
}

// Node is a cluster node. The lab gives it an InternalIP in its network
// namespace, where a kubelet stand-in serves container logs.
type Node struct {
	Name string
	// Labels are the node's labels; kubernetes.io/hostname and
	// kubernetes.io/os are added when missing.
	Labels map[string]string
	// InternalIP is set by the lab (VMs and Nodes accessors).
	InternalIP string
}

// VirtHandler is KubeVirt's virt-handler pod on a node: namespace
// Options.KubeVirtNamespace, label kubevirt.io=virt-handler, an IP in the
// lab's network namespace.
type VirtHandler struct {
	Node string
	// NotReady gives the pod a Ready=False condition (virt-api dials it anyway).
	NotReady bool
	// Down: nothing listens on VirtHandlerPort (virt-api answers 500
	// "dialing virt-handler: ...").
	Down bool
}

// VMI is a VirtualMachineInstance and the roxagent inside it.
type VMI struct {
	// Namespace defaults to DefaultVMNamespace.
	Namespace, Name string
	// Node is status.nodeName and label kubevirt.io/nodeName (default: the first node).
	Node string
	// Phase is status.phase (default Running).
	Phase string
	// NoVSOCK leaves out spec.domain.devices.autoattachVSOCK and
	// status.VSOCKCID (virt-api: 400 "VSOCK is not attached.").
	NoVSOCK bool
	// CID is status.VSOCKCID; 0 lets the lab pick one (≥ 3).
	CID uint32
	// Agent is what roxagent does; see SetAgent.
	Agent Agent
}

// Key returns "namespace/name", as sensor names a VM in its log.
func (v VMI) Key() string { return v.Namespace + "/" + v.Name }

// Lab is a running pull-mode cluster: a real kube-apiserver with the
// aggregation layer and RBAC, and in-process stand-ins for virt-api,
// virt-handler, roxagent, kubelets and sensor, listening in the lab's
// network namespace. Start stops it all in t.Cleanup. Its methods are safe
// for concurrent use.
type Lab struct {
	opts       Options
	env        *kubetest.Env
	net        *Net
	client     kubernetes.Interface
	dyn        dynamic.Interface
	kubeconfig string
	pki        *labPKI
	logs       *logStore
	done       chan struct{}
	wg         sync.WaitGroup

	nodes    []Node
	vmis     []VMI
	handlers map[string]*virtHandler // by node
	virtAPI  *virtAPI
	sensor   *sensorStandIn

	mu     sync.Mutex
	agents map[string]*agentState // by VMI key
	closer []io.Closer
}

// Start builds the lab described by opts for test t: it skips t (fails it
// under CI) without root or without the kube-apiserver binaries, and fails
// t when any part does not come up, the APIService included. Everything it
// makes, the network namespace and routes too, is removed in t.Cleanup,
// also when t fails.
func Start(t *testing.T, opts Options) *Lab {
	t.Helper()
	assets := kubetest.RequireAssets(t)
	RequireRoot(t)
	opts = opts.withDefaults()
	ctx := t.Context()
	cleanupCtx := context.WithoutCancel(ctx)

	n, err := newNet(ctx)
	if err != nil {
		t.Fatalf("lab network: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(cleanupCtx); err != nil {
			t.Errorf("remove lab network %s: %v", n.Name, err)
		}
		if left := n.Leftovers(cleanupCtx); len(left) > 0 {
			t.Errorf("lab network %s left behind: %v", n.Name, left)
		}
	})
	env, err := kubetest.StartWithOptions(ctx, assets, t.TempDir(), kubetest.Options{Aggregation: true})
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(env.Stop)
	l := &Lab{opts: opts, env: env, net: n, logs: newLogStore(), done: make(chan struct{}),
		handlers: map[string]*virtHandler{}, agents: map[string]*agentState{}}
	t.Cleanup(l.close)
	if err := l.build(ctx, t); err != nil {
		t.Fatalf("build the lab: %v\n%s", err, env.Logs())
	}
	return l
}

func (o Options) withDefaults() Options {
	if o.RHACSNamespace == "" {
		o.RHACSNamespace = DefaultRHACSNamespace
	}
	if o.KubeVirtNamespace == "" {
		o.KubeVirtNamespace = DefaultKubeVirtNamespace
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.SensorVMs == "" {
		o.SensorVMs = "true"
	}
	if o.Nodes == nil {
		worker := map[string]string{"node-role.kubernetes.io/worker": "", "kubevirt.io/schedulable": "true"}
		o.Nodes = []Node{{Name: "worker-0", Labels: worker}, {Name: "worker-1", Labels: worker}}
	}
	o.Nodes = slices.Clone(o.Nodes)
	if o.VirtHandlers == nil {
		for _, n := range o.Nodes {
			o.VirtHandlers = append(o.VirtHandlers, VirtHandler{Node: n.Name})
		}
	}
	o.VMIs = slices.Clone(o.VMIs)
	for i := range o.VMIs {
		o.VMIs[i] = o.VMIs[i].withDefaults(o.Nodes, i)
	}
	return o
}

// withDefaults fills in v's namespace, node, phase and, for the i-th VMI, CID.
func (v VMI) withDefaults(nodes []Node, i int) VMI {
	if v.Namespace == "" {
		v.Namespace = DefaultVMNamespace
	}
	if v.Node == "" && len(nodes) > 0 {
		v.Node = nodes[0].Name
	}
	if v.Phase == "" {
		v.Phase = phaseRunning
	}
	if !v.NoVSOCK && v.CID == 0 {
		v.CID = uint32(100 + i) //nolint:gosec // a handful of VMIs
	}
	return v
}

// build creates the cluster's objects and starts the stand-ins, in the
// order the real components depend on each other.
func (l *Lab) build(ctx context.Context, t *testing.T) error {
	var err error
	if l.client, err = kubernetes.NewForConfig(l.env.Admin); err != nil {
		return err
	}
	if l.dyn, err = dynamic.NewForConfig(l.env.Admin); err != nil {
		return err
	}
	if l.pki, err = newLabPKI(l.opts.KubeVirtNamespace); err != nil {
		return err
	}
	l.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"kubeconfig", func(context.Context) error { return l.env.WriteKubeconfig(l.kubeconfig) }},
		{"namespaces and CRDs", l.createBase},
		{"nodes and kubelets", l.startNodes},
		{"virt-handlers", l.startVirtHandlers},
		{"virt-api and its APIService", l.startVirtAPI},
		{"KubeVirt CRs", l.createKubeVirt},
		{"VMIs", l.createVMIs},
		{"RHACS RBAC", l.createRBAC},
	}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	// Sensor's ServiceAccount token comes from the TokenRequest API, as a
	// pod's projected token does.
	if err := l.createSensorAccount(ctx); err != nil {
		return fmt.Errorf("sensor serviceaccount: %w", err)
	}
	sa := l.env.ServiceAccountConfig(ctx, t, l.opts.RHACSNamespace, sensorName)
	if err := l.startSensor(ctx, sa); err != nil {
		return fmt.Errorf("sensor: %w", err)
	}
	return nil
}

// close stops every stand-in and waits for their goroutines.
func (l *Lab) close() {
	select {
	case <-l.done:
		return
	default:
	}
	close(l.done)
	l.mu.Lock()
	closers := l.closer
	l.closer = nil
	l.mu.Unlock()
	for _, c := range slices.Backward(closers) {
		_ = c.Close()
	}
	for _, h := range l.handlers {
		h.stop()
	}
	l.wg.Wait()
}

// addCloser registers c to be closed when the lab stops.
func (l *Lab) addCloser(c io.Closer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closer = append(l.closer, c)
}

// Config returns a client config for the API server's system:masters user.
func (l *Lab) Config() *rest.Config { return rest.CopyConfig(l.env.Admin) }

// Kubeconfig returns the path of a kubeconfig for the same user, for a
// process that reads --kubeconfig.
func (l *Lab) Kubeconfig() string { return l.kubeconfig }

// Net returns the lab's network namespace, for a test that needs an address
// or a listener of its own there (Net.AddAddress, Net.Listen).
func (l *Lab) Net() *Net { return l.net }

// Env returns the etcd and kube-apiserver underneath.
func (l *Lab) Env() *kubetest.Env { return l.env }

// Client returns a clientset for the system:masters user.
func (l *Lab) Client() kubernetes.Interface { return l.client }

// Dynamic returns a dynamic client for the system:masters user.
func (l *Lab) Dynamic() dynamic.Interface { return l.dyn }

// Options returns the options the lab was built with, defaults filled in.
func (l *Lab) Options() Options { return l.opts }

// Nodes returns the nodes with their InternalIPs.
func (l *Lab) Nodes() []Node { return slices.Clone(l.nodes) }

// VMIs returns the VMIs the lab created, defaults filled in.
func (l *Lab) VMIs() []VMI {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.vmis)
}

// SensorPod returns the sensor pod's name (namespace Options.RHACSNamespace).
func (l *Lab) SensorPod() string { return l.sensor.pod }

// SensorMetricsPath is the API server path of sensor's metrics through the
// pod proxy: /api/v1/namespaces/<ns>/pods/http:<pod>:9090/proxy/metrics.
func (l *Lab) SensorMetricsPath() string {
	return fmt.Sprintf("/api/v1/namespaces/%s/pods/http:%s:%d/proxy/metrics", l.opts.RHACSNamespace, l.sensor.pod, SensorMetrics)
}

// SensorLog returns what sensor has logged so far, as its container log
// holds it (without the kubelet's timestamps).
func (l *Lab) SensorLog() string {
	return l.logs.stream(l.opts.RHACSNamespace, l.sensor.pod, sensorName).text()
}

// WriteLog appends line to the container log of namespace/pod/container
// that the pod's node's kubelet serves (the sensor stand-in writes its own).
func (l *Lab) WriteLog(namespace, pod, container, line string) {
	l.logs.stream(namespace, pod, container).write(time.Now(), line)
}

// VirtHandlerAddr returns node's virt-handler pod IP and port
// (ip:8186), the address virt-api dials; "" when the node has none.
func (l *Lab) VirtHandlerAddr(node string) string {
	h, ok := l.handlers[node]
	if !ok {
		return ""
	}
	return h.addr()
}

// SetVirtHandlerDown stops (down) or restarts node's virt-handler listener.
func (l *Lab) SetVirtHandlerDown(node string, down bool) error {
	h, ok := l.handlers[node]
	if !ok {
		return fmt.Errorf("no virt-handler on node %s", node)
	}
	if down {
		h.stop()
		return nil
	}
	return h.start()
}

// SetAgent changes what the roxagent of VMI namespace/name does from the
// next connection on.
func (l *Lab) SetAgent(namespace, name string, a Agent) {
	l.agent(namespace + "/" + name).set(a)
}

// SetCentralReachable changes whether sensor's sends to Central succeed.
func (l *Lab) SetCentralReachable(ok bool) { l.sensor.centralDown.Store(!ok) }

// Scrape runs one round of sensor's scraper now: every Running VMI is
// scraped, whatever its schedule (sensor would wait for its next attempt),
// and logged and counted as sensor does. It returns one result per VMI, by
// key. It does nothing when sensor's ROX_VIRTUAL_MACHINES is not "true".
func (l *Lab) Scrape(ctx context.Context) ([]ScrapeResult, error) {
	return l.sensor.scrape(ctx)
}

// Dial opens the VSOCK stream to VMI namespace/name as sensor does: a
// WebSocket through the API server's vsock subresource, as ServiceAccount
// sensor. The caller closes the stream.
func (l *Lab) Dial(ctx context.Context, namespace, name string) (io.ReadWriteCloser, error) {
	return l.sensor.dial(ctx, namespace, name)
}

// errLabClosed is returned by stand-ins once the lab stops.
var errLabClosed = errors.New("lab closed")
