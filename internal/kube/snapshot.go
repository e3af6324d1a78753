package kube

import (
	"net"
	"slices"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/state"
)

// Snapshot is what discovery knows at one moment. Discovery hands out copies;
// a receiver may keep and modify its copy.
type Snapshot struct {
	// Targets are the paths to probe, sorted by path name, overrides applied.
	Targets []dial.Target
	// RelayVSOCKPort is the VSOCK port the relay listens on
	// (ROX_VIRTUAL_MACHINES_VSOCK_PORT, default 818); 0 when the collector
	// DaemonSet is not known.
	RelayVSOCKPort uint32
	// ComplianceVirtualMachines is the compliance container's ROX_VIRTUAL_MACHINES;
	// nil when not set.
	ComplianceVirtualMachines *bool
	// Relay is the collector DaemonSet's relay configuration.
	Relay RelayConfig
	// SensorPod is the running sensor pod that counts, as namespace/name;
	// "" if none is known. Ready pods win, then the first by name.
	SensorPod string
	// SensorNode is the node SensorPod is on; "" if none is known.
	SensorNode string
	// SensorHostIP is that pod's host IP.
	SensorHostIP string
	// SensorOnThisNode tells whether a running sensor pod is on this node
	// (Config.NodeName); nil when NodeName is empty or the pods are not known yet.
	SensorOnThisNode *bool
	// SensorReady tells whether sensor has a ready endpoint or pod; nil while
	// the pods are not known.
	SensorReady *bool
	// SensorRestarts is the restart count of SensorPod's sensor container.
	SensorRestarts int32
	// SensorLastTermination is why that container last ended (e.g.
	// "OOMKilled", "Error"), "" if it never did.
	SensorLastTermination string
	// SensorHostPort is the hostPort declared for sensor's api port, 0 when
	// none is (the stock install).
	SensorHostPort int
	// SensorVirtualMachines is the sensor container's ROX_VIRTUAL_MACHINES;
	// nil when not set.
	SensorVirtualMachines *bool
	// RelaySkipsNode tells whether the relay starts on no node like this one
	// (RelayConfig.SkipsNode: 4.11 on a control-plane node); nil when the
	// node cannot be read.
	RelaySkipsNode *bool
	// NodeTakesWorkloads tells whether this node accepts pods that tolerate
	// no taint (TakesWorkloads); nil when the node cannot be read.
	NodeTakesWorkloads *bool
	// Transport is how VM index reports reach sensor (TransportOf).
	Transport Transport
	// Uses says which probed path the relay's endpoint names
	// (Uses.RelayPath, "" if none or no collector DaemonSet) and who depends
	// on each path.
	Uses state.Uses
	// DiscoveryUp is true while every informer is synced and its latest list or
	// watch call succeeded.
	DiscoveryUp bool
	// Error is the most recent list/watch error ("" while DiscoveryUp). It names
	// the resource, e.g. "list endpointslices: ... forbidden ...".
	Error string
	// Errors counts the failed list and watch calls since the start.
	Errors uint64
}

// clone returns a deep copy of s.
func (s Snapshot) clone() Snapshot {
	c := s
	c.Targets = slices.Clone(s.Targets)
	if s.ComplianceVirtualMachines != nil {
		v := *s.ComplianceVirtualMachines
		c.ComplianceVirtualMachines = &v
	}
	c.SensorOnThisNode = clonePtr(s.SensorOnThisNode)
	c.SensorReady = clonePtr(s.SensorReady)
	c.SensorVirtualMachines = clonePtr(s.SensorVirtualMachines)
	c.RelaySkipsNode = clonePtr(s.RelaySkipsNode)
	c.NodeTakesWorkloads = clonePtr(s.NodeTakesWorkloads)
	c.Uses.RelayHostNetwork = clonePtr(s.Uses.RelayHostNetwork)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// objects is the informers' view of the cluster that a Snapshot is built
// from. A nil or empty field means "not found" (or not listed yet).
type objects struct {
	sensor     *corev1.Service
	webhook    *corev1.Service
	slices     []*discoveryv1.EndpointSlice
	pods       []*corev1.Pod
	podsSynced bool
	collector  *appsv1.DaemonSet
	node       *corev1.Node
}

// build computes the targets and relay facts from objs. It is a pure function
// of its inputs so that it can be table-tested without an API server.
func build(namespace, nodeName string, overrides map[string]string, objs objects) Snapshot {
	serverName := sensorService + "." + namespace + ".svc"
	byPath := map[string]dial.Target{}

	dnsPort := defaultServicePort
	if svc := objs.sensor; svc != nil {
		port, ok := servicePort(svc, sensorServicePortTLS)
		if ok {
			dnsPort = int(port)
		}
		if ip := clusterIP(svc); ip != "" && ok {
			byPath[dial.PathClusterIP] = dial.Target{Name: dial.PathClusterIP, Addr: net.JoinHostPort(ip, strconv.Itoa(int(port))), ServerName: serverName}
		}
	}
	byPath[dial.PathDNS] = dial.Target{Name: dial.PathDNS, Addr: net.JoinHostPort(serverName, strconv.Itoa(dnsPort)), ServerName: serverName}

	if svc := objs.webhook; svc != nil {
		port, ok := servicePort(svc, "")
		if ip := clusterIP(svc); ip != "" && ok {
			byPath[dial.PathWebhook] = dial.Target{Name: dial.PathWebhook, Addr: net.JoinHostPort(ip, strconv.Itoa(int(port))), ServerName: webhookService + "." + namespace + ".svc"}
		}
	}

	readyAddr := readyEndpoint(objs.slices)
	if readyAddr != "" {
		byPath[dial.PathPodIP] = dial.Target{Name: dial.PathPodIP, Addr: readyAddr, ServerName: serverName}
	}

	sp := sensorPlacement(objs.pods, nodeName)
	hostPort := sp.hostPort
	if hostPort == 0 {
		hostPort = defaultHostPort
	}
	byPath[dial.PathHostPort] = dial.Target{Name: dial.PathHostPort, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)), ServerName: serverName}

	for path, addr := range overrides {
		t, ok := byPath[path]
		if !ok {
			t = dial.Target{Name: path}
		}
		t.Addr = addr
		byPath[path] = t
	}

	relay, port, vms := relayFromDaemonSet(objs.collector)
	relayPath := ""
	if relay.Found {
		relayPath = RelayPath(relay.Endpoint(), namespace, sortedTargets(byPath))
	}
	// localhost:8443 exists only where someone added a hostPort: probe it
	// when sensor declares one, when the relay dials a loopback address, or
	// when --target names it. Otherwise every node but sensor's would report
	// a path nobody has.
	_, hostPortAsked := overrides[dial.PathHostPort]
	if sp.hostPort == 0 && relayPath != dial.PathHostPort && !hostPortAsked {
		delete(byPath, dial.PathHostPort)
	}
	targets := sortedTargets(byPath)

	snap := Snapshot{
		Targets:                   targets,
		RelayVSOCKPort:            port,
		ComplianceVirtualMachines: vms,
		Relay:                     relay,
		SensorNode:                sp.node,
		SensorPod:                 sp.pod,
		SensorHostIP:              sp.hostIP,
		SensorRestarts:            sp.restarts,
		SensorLastTermination:     sp.lastTermination,
		SensorHostPort:            sp.hostPort,
		SensorVirtualMachines:     sp.virtualMachines,
	}
	if nodeName != "" && objs.podsSynced {
		snap.SensorOnThisNode = &sp.onThisNode
	}
	if objs.podsSynced {
		ready := readyAddr != "" || sp.ready
		snap.SensorReady = &ready
	}
	if objs.node != nil {
		skips, takes := relay.SkipsNode(objs.node), TakesWorkloads(objs.node)
		snap.RelaySkipsNode, snap.NodeTakesWorkloads = &skips, &takes
	}
	snap.Transport = TransportOf(relay, vms, sp.virtualMachines)
	if relay.Found {
		hn := relay.HostNetwork
		snap.Uses = state.Uses{RelayPath: relayPath, RelayHostNetwork: &hn, NoRelay: relay.PullMode()}
	}
	return snap
}

func sortedTargets(byPath map[string]dial.Target) []dial.Target {
	targets := make([]dial.Target, 0, len(byPath))
	for _, t := range byPath {
		targets = append(targets, t)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].Name < targets[j].Name })
	return targets
}

// isControlPlane reports whether node carries a control-plane role label
// (node-role.kubernetes.io/control-plane, or the older …/master).
func isControlPlane(node *corev1.Node) bool {
	for _, l := range []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} {
		if _, ok := node.Labels[l]; ok {
			return true
		}
	}
	return false
}

// clusterIP returns the Service's ClusterIP, "" for headless or unset.
func clusterIP(svc *corev1.Service) string {
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return ""
	}
	return ip
}

// servicePort returns the port named name, or, when there is none (or name is
// ""), port 443, or else the only port.
func servicePort(svc *corev1.Service, name string) (int32, bool) {
	ports := svc.Spec.Ports
	if name != "" {
		for _, p := range ports {
			if p.Name == name {
				return p.Port, true
			}
		}
	}
	for _, p := range ports {
		if p.Port == defaultServicePort {
			return p.Port, true
		}
	}
	if len(ports) == 1 {
		return ports[0].Port, true
	}
	return 0, false
}

// readyEndpoint returns IP:port of the first (by address) ready,
// non-terminating endpoint in the sensor EndpointSlices, or "". The port is the
// slice's port for the Service port named https (a slice names its ports after
// the Service's), or one named api, or its only port.
func readyEndpoint(eps []*discoveryv1.EndpointSlice) string {
	var addrs []string
	for _, es := range eps {
		port, ok := slicePort(es)
		if !ok {
			continue
		}
		for _, ep := range es.Endpoints {
			c := ep.Conditions
			// A nil Ready means "unknown" and is to be read as ready (API docs).
			if (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) {
				continue
			}
			for _, a := range ep.Addresses {
				addrs = append(addrs, net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	if len(addrs) == 0 {
		return ""
	}
	slices.Sort(addrs)
	return addrs[0]
}

func slicePort(es *discoveryv1.EndpointSlice) (int32, bool) {
	for _, want := range []string{sensorServicePortTLS, sensorPodPortAPI} {
		for _, p := range es.Ports {
			if p.Name != nil && *p.Name == want && p.Port != nil {
				return *p.Port, true
			}
		}
	}
	if len(es.Ports) == 1 && es.Ports[0].Port != nil {
		return *es.Ports[0].Port, true
	}
	return 0, false
}

// placement is where sensor runs and what its pod says about it.
type placement struct {
	pod, node, hostIP string
	// hostPort is the hostPort of the api port, 0 when none is declared.
	hostPort        int
	onThisNode      bool
	ready           bool
	restarts        int32
	lastTermination string
	virtualMachines *bool
}

// sensorPlacement picks the sensor pod that counts (running, not being
// deleted, ready ones first, then by name) and reports its node, host IP,
// api hostPort, readiness, restarts and feature flag, and whether any
// running sensor pod is on nodeName.
func sensorPlacement(pods []*corev1.Pod, nodeName string) placement {
	var pl placement
	var running []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			continue
		}
		running = append(running, p)
		if nodeName != "" && p.Spec.NodeName == nodeName {
			pl.onThisNode = true
		}
	}
	if len(running) == 0 {
		return pl
	}
	sort.SliceStable(running, func(i, j int) bool {
		ri, rj := podReady(running[i]), podReady(running[j])
		if ri != rj {
			return ri
		}
		return running[i].Name < running[j].Name
	})
	p := running[0]
	pl.pod, pl.node, pl.hostIP, pl.ready = p.Namespace+"/"+p.Name, p.Spec.NodeName, p.Status.HostIP, podReady(p)
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == sensorPodPortAPI && cp.HostPort != 0 {
				pl.hostPort = int(cp.HostPort)
			}
		}
		if c.Name == sensorContainer {
			pl.virtualMachines = FeatureFlag(envValue(c, envVirtualMachines))
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != sensorContainer {
			continue
		}
		pl.restarts = cs.RestartCount
		if t := cs.LastTerminationState.Terminated; t != nil {
			pl.lastTermination = t.Reason
		}
	}
	return pl
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
