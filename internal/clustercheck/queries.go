package clustercheck

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/dial"
	"github.com/sensorprobe/sensorprobe/internal/kube"
)

// The install methods of Install.Method.
const (
	MethodOperator  = "operator"
	MethodHelm      = "helm"
	MethodManifests = "manifests"
)

// Install is how RHACS was installed, which decides how a fix must be made.
type Install struct {
	// Version is the RHACS version, "" when unknown.
	Version string `json:"version"`
	// Method is MethodOperator, MethodHelm or MethodManifests.
	Method string `json:"method"`
	// Owner names the SecuredCluster or Helm release, "" for manifests.
	Owner string `json:"owner,omitempty"`
}

// InstallOf reads the install method from the labels and owners of the
// sensor Deployment or collector DaemonSet.
func (m *Model) InstallOf() Install {
	in := Install{Version: m.Relay.Version, Method: MethodManifests}
	var metas []struct {
		labels, annotations map[string]string
		owners              []string
	}
	add := func(l, a map[string]string, refs []string) {
		metas = append(metas, struct {
			labels, annotations map[string]string
			owners              []string
		}{l, a, refs})
	}
	if d := m.Sensor.Value; d != nil {
		add(d.Labels, d.Annotations, ownerNames(d.OwnerReferences))
	}
	if d := m.Collector.Value; d != nil {
		add(d.Labels, d.Annotations, ownerNames(d.OwnerReferences))
	}
	if in.Version == "" && m.Sensor.Found() {
		in.Version = m.Sensor.Value.Labels["app.kubernetes.io/version"]
	}
	for _, md := range metas {
		for _, o := range md.owners {
			if name, ok := strings.CutPrefix(o, "SecuredCluster/"); ok {
				return Install{Version: in.Version, Method: MethodOperator, Owner: "SecuredCluster " + name}
			}
		}
		if md.labels["app.stackrox.io/managed-by"] == MethodOperator {
			owner := "SecuredCluster"
			if m.SecuredClusters.Found() {
				owner += " " + m.SecuredClusters.Value[0].GetName()
			}
			return Install{Version: in.Version, Method: MethodOperator, Owner: owner}
		}
	}
	for _, md := range metas {
		if chart := md.labels["helm.sh/chart"]; chart != "" {
			owner := "Helm chart " + chart
			if rel := md.annotations["meta.helm.sh/release-name"]; rel != "" {
				owner = "Helm release " + rel + ", chart " + chart
			}
			return Install{Version: in.Version, Method: MethodHelm, Owner: owner}
		}
	}
	return in
}

// ownerNames renders owner references as Kind/name.
func ownerNames(refs []metav1.OwnerReference) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Kind+"/"+r.Name)
	}
	return out
}

// CNI names the cluster's network plugin: the --cni override, else
// Network.config's networkType, else a Cilium policy CRD, else Calico
// annotations on the nodes, else "other".
func (m *Model) CNI() cni.Plugin {
	if m.Options.CNI != "" {
		return m.Options.CNI
	}
	if m.NetworkConfig.Found() {
		if p := cni.FromNetworkType(networkType(m.NetworkConfig.Value)); p != cni.Other {
			return p
		}
	}
	if m.CiliumPolicies.Access.OK() {
		return cni.Cilium
	}
	for _, n := range m.Nodes.Value {
		for k := range n.Annotations {
			if strings.HasPrefix(k, "projectcalico.org/") {
				return cni.Calico
			}
		}
	}
	return cni.Other
}

// networkType is the networkType of a Network.config: its status, else its spec.
func networkType(u *unstructured.Unstructured) string {
	if t, _, _ := unstructured.NestedString(u.Object, "status", "networkType"); t != "" {
		return t
	}
	t, _, _ := unstructured.NestedString(u.Object, "spec", "networkType")
	return t
}

// ns is the RHACS namespace.
func (m *Model) ns() string { return m.Options.Namespace }

// flagOf reads ROX_VIRTUAL_MACHINES of container name in a pod template.
func flagOf(spec corev1.PodSpec, container string) string {
	for _, c := range spec.Containers {
		if c.Name != container {
			continue
		}
		for _, e := range c.Env {
			if e.Name == "ROX_VIRTUAL_MACHINES" {
				return e.Value
			}
		}
		return "unset"
	}
	return "no container " + container
}

// isTrue reports whether a feature-flag value turns the flag on, as RHACS
// reads it (kube.FeatureFlag: "true" in any case; "1" leaves it off).
func isTrue(v string) bool {
	b := kube.FeatureFlag(v)
	return b != nil && *b
}

// FlagState is ROX_VIRTUAL_MACHINES per component; "" when the component was not read.
func (m *Model) FlagState() map[string]string {
	out := map[string]string{}
	if m.Central.Found() {
		out["central"] = flagOf(m.Central.Value.Spec.Template.Spec, "central")
	}
	if m.Sensor.Found() {
		out[kube.SensorDeployment] = flagOf(m.Sensor.Value.Spec.Template.Spec, kube.SensorDeployment)
	}
	if m.Collector.Found() {
		out["compliance"] = flagOf(m.Collector.Value.Spec.Template.Spec, kube.ComplianceContainer)
	}
	return out
}

// endpointOrDefault is the endpoint the relay dials: the configured one, else
// the sensor Service.
func endpointOrDefault(m *Model) string {
	if e := m.Relay.Endpoint(); e != "" {
		return e
	}
	return "sensor." + m.ns() + ".svc:443"
}

// RelayLoopback reports whether the relay dials a loopback address (the
// hostPort workaround).
func (m *Model) RelayLoopback() bool {
	return kube.RelayPath(m.Relay.Endpoint(), m.ns(), nil) == dial.PathHostPort
}

// SensorHostPort returns the hostPort of sensor's api port in the
// Deployment's template, 0 when none.
func (m *Model) SensorHostPort() int32 {
	if !m.Sensor.Found() {
		return 0
	}
	for _, c := range m.Sensor.Value.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "api" && p.HostPort != 0 {
				return p.HostPort
			}
		}
	}
	return 0
}

// SensorNode is the node of a running sensor pod, "" if none is known.
func (m *Model) SensorNode() string {
	for _, p := range m.SensorPods.Value {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
			return p.Spec.NodeName
		}
	}
	return ""
}

// NodesWithoutSensor are the nodes (of those listed) that do not run sensor:
// where localhost:8443 is refused.
func (m *Model) NodesWithoutSensor() []string {
	sn := m.SensorNode()
	var out []string
	for _, n := range m.Nodes.Value {
		if n.Name != sn {
			out = append(out, n.Name)
		}
	}
	return out
}

// PolicyAdmission evaluates whether the relay's real sources reach sensor:8443.
func (m *Model) PolicyAdmission() admission {
	sensorLabels := map[string]string{"app": kube.SensorDeployment}
	if m.Sensor.Found() {
		sensorLabels = m.Sensor.Value.Spec.Template.Labels
	}
	src := source{podLabels: map[string]string{"app": kube.CollectorDaemonSet, "service": kube.CollectorDaemonSet}, nsLabels: m.Namespaces.Value[m.ns()]}
	if m.Collector.Found() {
		src.podLabels = m.Collector.Value.Spec.Template.Labels
	}
	if src.nsLabels == nil {
		src.nsLabels = map[string]string{"kubernetes.io/metadata.name": m.ns()}
	}
	if m.Relay.HostNetwork {
		src = source{hostNetwork: true, nodeAddrs: nodeSourceAddrs(m.Nodes.Value)}
	}
	return admits(m.Policies.Value, m.CiliumPolicies.Value, sensorLabels, src, m.CNI())
}

// RelayOffOnControlPlane reports whether the relay stays off on
// control-plane nodes that need it (4.11 without
// ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true), and which: those
// that take workloads (kube.TakesWorkloads: every node of a compact
// cluster), and tainted ones that run a VM with VSOCK anyway. The node
// verdict (relay_not_started) asks the same of its own node.
func (m *Model) RelayOffOnControlPlane() (bool, []string) {
	if !m.Collector.Found() || m.Relay.PullMode() {
		return false, nil
	}
	onNode := map[string]bool{}
	for _, v := range vsockVMs(m.VMIs.Value) {
		onNode[v.node] = true
	}
	var need []string
	for i := range m.Nodes.Value {
		n := &m.Nodes.Value[i]
		if m.Relay.SkipsNode(n) && (kube.TakesWorkloads(n) || onNode[n.Name]) {
			need = append(need, n.Name)
		}
	}
	return len(need) > 0, need
}

// is411 reports whether version v is on the 4.11 line.
func is411(v string) bool { return strings.HasPrefix(v, "4.11.") || v == "4.11" }

// kubevirtInstalled reports whether a KubeVirt resource was listed.
func (m *Model) kubevirtInstalled() bool { return m.KubeVirt.Found() }

// vmi is a VirtualMachineInstance as namespace/name and the node it runs on.
type vmi struct{ name, node string }

// vsockVMs are the VMIs with autoattachVSOCK and a VSOCKCID.
func vsockVMs(items []unstructured.Unstructured) []vmi {
	var out []vmi
	for _, it := range items {
		auto, _, _ := unstructured.NestedBool(it.Object, "spec", "domain", "devices", "autoattachVSOCK")
		cid, found, _ := unstructured.NestedFieldNoCopy(it.Object, "status", "VSOCKCID")
		if !auto || !found || cid == nil {
			continue
		}
		node, _, _ := unstructured.NestedString(it.Object, "status", "nodeName")
		out = append(out, vmi{name: it.GetNamespace() + "/" + it.GetName(), node: node})
	}
	return out
}
