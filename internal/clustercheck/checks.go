package clustercheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sensorprobe/sensorprobe/internal/cni"
	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// Status is a check's outcome.
type Status string

// The outcomes.
const (
	Pass          Status = "pass"
	Fail          Status = "fail"
	NotApplicable Status = "not_applicable"
	NotPermitted  Status = "not_permitted"
)

// Mark is the one-character sign of s in the table.
func (s Status) Mark() string {
	switch s {
	case Pass:
		return "✓"
	case Fail:
		return "✗"
	case NotPermitted:
		return "?"
	}
	return "–"
}

// Check names, in output order.
const (
	CheckReachable      = "cluster-reachable"
	CheckCentral        = "central"
	CheckSensor         = "sensor"
	CheckCollector      = "collector"
	CheckVersion        = "rhacs-version"
	CheckFeatureFlags   = "feature-flags"
	CheckCollectorNet   = "collector-network"
	CheckDNSPolicy      = "collector-dns-policy"
	CheckHostPort       = "sensor-hostport"
	CheckPolicy         = "sensor-network-policy"
	CheckControlPlane   = "relay-on-control-plane"
	CheckProbeCoverage  = "probe-coverage"
	CheckNodeVerdicts   = "node-verdicts"
	CheckVirtualization = "virtualization"
	CheckVSOCKGate      = "vsock-feature-gate"
	CheckVMs            = "vms-with-vsock"
	CheckNetworkType    = "network-type"
)

// Result is one check's outcome with its evidence, and for a failure the fix.
type Result struct {
	Name     string `json:"name"`
	Status   Status `json:"status"`
	Evidence string `json:"evidence"`
	Fix      string `json:"fix,omitempty"`
	// Rule is the RBAC rule that would allow a not-permitted check.
	Rule *Rule `json:"rbac_rule,omitempty"`
}

// Evaluate turns the model into the checks, in a fixed order.
func Evaluate(m *Model) []Result {
	if !m.ServerVersion.Access.OK() {
		return []Result{{Name: CheckReachable, Status: Fail, Evidence: m.ServerVersion.Access.Err.Error(),
			Fix: "check the kubeconfig (--kubeconfig, KUBECONFIG, --context) and that the API server answers: kubectl version"}}
	}
	out := []Result{{Name: CheckReachable, Status: Pass, Evidence: "API server " + m.ServerVersion.Value}}
	out = append(out, m.checkCentral(), m.checkSensor(), m.checkCollector(), m.checkVersion(), m.checkFlags(),
		m.checkCollectorNet(), m.checkDNSPolicy(), m.checkHostPort(), m.checkPolicy(), m.checkControlPlane(),
		m.checkProbeCoverage(), m.checkNodeVerdicts(), m.checkVirtualization(), m.checkVSOCKGate(), m.checkVMs())
	out = append(out, m.pullChecks()...)
	out = append(out, m.checkNetworkType())
	return out
}

// denied returns the result for a read that was refused.
func denied(name string, a Access) Result {
	r := a.Rule
	return Result{Name: name, Status: NotPermitted, Evidence: "not permitted: " + a.Err.Error(), Rule: &r}
}

// readErr returns the result for a read that failed otherwise.
func readErr(name string, a Access) Result {
	if a.Forbidden {
		return denied(name, a)
	}
	return Result{Name: name, Status: Fail, Evidence: a.Err.Error(), Fix: "retry; if it persists, check the API server's health"}
}

func (m *Model) checkCentral() Result {
	switch {
	case m.Central.Missing():
		return Result{Name: CheckCentral, Status: NotApplicable, Evidence: "no Deployment central in " + m.ns() + " (Central may run in another cluster)"}
	case !m.Central.Access.OK():
		return readErr(CheckCentral, m.Central.Access)
	}
	return deploymentReady(CheckCentral, m.Central.Value, "central")
}

func (m *Model) checkSensor() Result {
	switch {
	case m.Sensor.Missing():
		return Result{Name: CheckSensor, Status: Fail, Evidence: "no Deployment sensor in " + m.ns(),
			Fix: "install the RHACS secured cluster services in " + m.ns() + " (SecuredCluster resource or the stackrox-secured-cluster-services Helm chart), or pass --namespace"}
	case !m.Sensor.Access.OK():
		return readErr(CheckSensor, m.Sensor.Access)
	}
	return deploymentReady(CheckSensor, m.Sensor.Value, kube.SensorDeployment)
}

func deploymentReady(name string, d *appsv1.Deployment, what string) Result {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ev := fmt.Sprintf("Deployment %s: %d/%d ready", d.Name, d.Status.ReadyReplicas, want)
	if d.Status.ReadyReplicas >= want && want > 0 {
		return Result{Name: name, Status: Pass, Evidence: ev}
	}
	return Result{Name: name, Status: Fail, Evidence: ev,
		Fix: fmt.Sprintf("see why %s is not ready: kubectl -n %s describe deploy/%s; kubectl -n %s logs deploy/%s", what, d.Namespace, d.Name, d.Namespace, d.Name)}
}

func (m *Model) checkCollector() Result {
	switch {
	case m.Collector.Missing():
		return Result{Name: CheckCollector, Status: Fail, Evidence: "no DaemonSet collector in " + m.ns(),
			Fix: "collector (which runs compliance and the VM relay) is part of the secured cluster services; enable it in the SecuredCluster (perNode.collector) or Helm values (collector.collectionMethod not NO_COLLECTION)"}
	case !m.Collector.Access.OK():
		return readErr(CheckCollector, m.Collector.Access)
	}
	ds := m.Collector.Value
	ev := fmt.Sprintf("DaemonSet collector: %d/%d ready", ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
	if ds.Status.DesiredNumberScheduled > 0 && ds.Status.NumberReady == ds.Status.DesiredNumberScheduled {
		return Result{Name: CheckCollector, Status: Pass, Evidence: ev}
	}
	return Result{Name: CheckCollector, Status: Fail, Evidence: ev,
		Fix: fmt.Sprintf("see which collector pods are not ready: kubectl -n %s get pods -l app=collector -o wide", m.ns())}
}

func (m *Model) checkVersion() Result {
	if !m.Collector.Found() && !m.Sensor.Found() {
		return Result{Name: CheckVersion, Status: NotApplicable, Evidence: "neither sensor nor collector could be read"}
	}
	in := m.InstallOf()
	v := in.Version
	if v == "" {
		v = "unknown version"
	}
	ev := v + ", installed by " + in.Method
	if in.Owner != "" {
		ev += " (" + in.Owner + ")"
	}
	if m.Relay.PullMode() {
		ev += "; the 4.12 line has no push relay: sensor pulls reports through KubeVirt, the relay checks do not apply"
	}
	return Result{Name: CheckVersion, Status: Pass, Evidence: ev}
}

func (m *Model) checkFlags() Result {
	if !m.Sensor.Found() && !m.Collector.Found() {
		if m.Sensor.Denied() {
			return denied(CheckFeatureFlags, m.Sensor.Access)
		}
		return Result{Name: CheckFeatureFlags, Status: NotApplicable, Evidence: "neither sensor nor collector found"}
	}
	flags := m.FlagState()
	var ev, off []string
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		ev = append(ev, k+"="+flags[k])
		// On the 4.12 line compliance carries no VM reports: its flag does not matter.
		if !isTrue(flags[k]) && (k != complianceContainer || !m.pullLine()) {
			off = append(off, k)
		}
	}
	if !m.Central.Found() {
		ev = append(ev, "central not here (check it where Central runs)")
	}
	r := Result{Name: CheckFeatureFlags, Evidence: "ROX_VIRTUAL_MACHINES: " + strings.Join(ev, ", ")}
	if len(off) == 0 {
		r.Status = Pass
		return r
	}
	r.Status = Fail
	r.Fix = "set ROX_VIRTUAL_MACHINES=true on " + strings.Join(off, ", ") + " (probe fix prints the change; sensor without it answers the relay Unimplemented)"
	return r
}

func (m *Model) checkCollectorNet() Result {
	if !m.Collector.Found() {
		return collectorMissing(CheckCollectorNet, m.Collector.Access)
	}
	if !m.Relay.HostNetwork {
		return Result{Name: CheckCollectorNet, Status: Pass, Evidence: "pod network (stock): compliance dials sensor as an app: collector pod, which sensor's NetworkPolicy admits"}
	}
	return Result{Name: CheckCollectorNet, Status: Pass, Evidence: "hostNetwork: true — a customisation (the chart and operator never set it; VSOCK does not need it). The stock pod network avoids the NetworkPolicy problem; see " + CheckPolicy}
}

func collectorMissing(name string, a Access) Result {
	if a.Forbidden {
		return denied(name, a)
	}
	return Result{Name: name, Status: NotApplicable, Evidence: "no collector DaemonSet"}
}

func (m *Model) checkDNSPolicy() Result {
	if !m.Collector.Found() {
		return collectorMissing(CheckDNSPolicy, m.Collector.Access)
	}
	dp := m.Relay.DNSPolicy
	if dp == "" {
		dp = string(corev1.DNSClusterFirst)
	}
	if !m.Relay.HostNetwork {
		return Result{Name: CheckDNSPolicy, Status: Pass, Evidence: "dnsPolicy " + dp + " in the pod network"}
	}
	if dp == string(corev1.DNSClusterFirstWithHostNet) {
		return Result{Name: CheckDNSPolicy, Status: Pass, Evidence: "dnsPolicy ClusterFirstWithHostNet on the host network"}
	}
	return Result{Name: CheckDNSPolicy, Status: Fail,
		Evidence: "dnsPolicy " + dp + " on the host network: the relay resolves " + endpointOrDefault(m) + " with the node's resolver, which does not know cluster names",
		Fix:      "set dnsPolicy: ClusterFirstWithHostNet on DaemonSet collector (probe fix), or return collector to the pod network"}
}

func (m *Model) checkHostPort() Result {
	if !m.Sensor.Found() {
		if m.Sensor.Denied() {
			return denied(CheckHostPort, m.Sensor.Access)
		}
		return Result{Name: CheckHostPort, Status: NotApplicable, Evidence: "no sensor Deployment"}
	}
	if m.pullLine() {
		return Result{Name: CheckHostPort, Status: NotApplicable, Evidence: "no push relay on the 4.12 line: nothing dials sensor's hostPort for VMs"}
	}
	hp := m.SensorHostPort()
	loop := m.RelayLoopback()
	switch {
	case hp == 0 && !loop:
		return Result{Name: CheckHostPort, Status: Pass, Evidence: "no hostPort on sensor (stock); the relay dials " + endpointOrDefault(m)}
	case hp != 0 && !loop:
		return Result{Name: CheckHostPort, Status: Pass, Evidence: fmt.Sprintf("hostPort %d declared on sensor but the relay does not use it (it dials %s)", hp, endpointOrDefault(m))}
	}
	others := m.NodesWithoutSensor()
	ev := fmt.Sprintf("the relay dials %s (hostPort %d): that exists only on sensor's node %s", m.Relay.Endpoint(), hp, orUnknown(m.SensorNode()))
	if len(others) > 0 {
		ev += fmt.Sprintf("; refused on %d other nodes: %s", len(others), strings.Join(others, ", "))
	}
	return Result{Name: CheckHostPort, Status: Fail, Evidence: ev,
		Fix: "admit the host network to sensor:8443 with a separate NetworkPolicy and point the relay back at the Service (probe fix), or return collector to the pod network"}
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func (m *Model) checkPolicy() Result {
	switch {
	case !m.Policies.Access.OK():
		return readErr(CheckPolicy, m.Policies.Access)
	case !m.Collector.Found():
		return collectorMissing(CheckPolicy, m.Collector.Access)
	case m.Relay.PullMode():
		return Result{Name: CheckPolicy, Status: NotApplicable, Evidence: "no push relay on the 4.12 line"}
	}
	a := m.PolicyAdmission()
	src := "pod network (app: collector)"
	if m.Relay.HostNetwork {
		src = "host network of every node (CNI " + string(m.CNI()) + ")"
	}
	sel := "none"
	if len(a.selecting) > 0 {
		sel = strings.Join(a.selecting, ", ")
	}
	if a.admitted {
		return Result{Name: CheckPolicy, Status: Pass, Evidence: fmt.Sprintf("relay source %s admitted to sensor:8443 by %s (policies selecting sensor: %s)", src, a.by, sel)}
	}
	ev := fmt.Sprintf("relay source %s is not admitted to sensor:8443 by the policies selecting sensor (%s): reports from every node but sensor's time out", src, sel)
	if m.Relay.HostNetwork && m.CNI() == cni.Other && !m.Nodes.Access.OK() {
		ev += "; node addresses not readable, ipBlocks cannot be evaluated"
	}
	fix := "add a NetworkPolicy admitting app: collector to sensor:8443"
	if m.Relay.HostNetwork {
		fix = "add a separate NetworkPolicy admitting the host network to sensor:8443 (probe fix prints it), or return collector to the stock pod network (probe fix --strategy pod-network)"
	}
	return Result{Name: CheckPolicy, Status: Fail, Evidence: ev, Fix: fix}
}

func (m *Model) checkControlPlane() Result {
	if !m.Nodes.Access.OK() {
		return readErr(CheckControlPlane, m.Nodes.Access)
	}
	if !m.Collector.Found() {
		return collectorMissing(CheckControlPlane, m.Collector.Access)
	}
	if !is411(m.Relay.Version) {
		return Result{Name: CheckControlPlane, Status: NotApplicable, Evidence: "only 4.11 keeps the relay off on control-plane nodes (version " + orUnknown(m.Relay.Version) + ")"}
	}
	off, nodes := m.RelayOffOnControlPlane()
	if !off {
		ev := "no control-plane node needs the relay"
		if m.Relay.RelayOnMasters {
			ev = "ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true"
		}
		return Result{Name: CheckControlPlane, Status: Pass, Evidence: ev}
	}
	return Result{Name: CheckControlPlane, Status: Fail,
		Evidence: "4.11 starts no relay on control-plane nodes, and these need it: " + strings.Join(nodes, ", "),
		Fix:      "set ROX_VIRTUAL_MACHINES_RELAY_ENABLED_ON_MASTER_NODES=true on the compliance container (probe fix)"}
}

func (m *Model) checkProbeCoverage() Result {
	switch {
	case m.Probe.Missing():
		return Result{Name: CheckProbeCoverage, Status: Fail, Evidence: fmt.Sprintf("no DaemonSet %s in %s", m.Options.ProbeDaemonSet, m.Options.ProbeNamespace),
			Fix: "install sensorprobe: kubectl apply -k deploy/overlays/<flavour> (docs/install.md)"}
	case !m.Probe.Access.OK():
		return readErr(CheckProbeCoverage, m.Probe.Access)
	case !m.Collector.Found():
		return collectorMissing(CheckProbeCoverage, m.Collector.Access)
	}
	p, c := m.Probe.Value.Status.DesiredNumberScheduled, m.Collector.Value.Status.DesiredNumberScheduled
	ev := fmt.Sprintf("sensorprobe desired on %d nodes, collector on %d", p, c)
	if p >= c {
		return Result{Name: CheckProbeCoverage, Status: Pass, Evidence: ev}
	}
	return Result{Name: CheckProbeCoverage, Status: Fail, Evidence: ev,
		Fix: "give the sensorprobe DaemonSet the same nodeSelector and tolerations as collector (kubectl -n " + m.ns() + " get ds collector -o jsonpath='{.spec.template.spec.tolerations}')"}
}

func (m *Model) checkNodeVerdicts() Result {
	switch {
	case m.Fleet.Denied():
		return denied(CheckNodeVerdicts, m.Fleet.Access)
	case !m.Probe.Found():
		return Result{Name: CheckNodeVerdicts, Status: NotApplicable, Evidence: "no probe DaemonSet to ask"}
	case !m.Fleet.Access.OK():
		return readErr(CheckNodeVerdicts, m.Fleet.Access)
	case m.FleetErr != nil:
		return Result{Name: CheckNodeVerdicts, Status: Fail, Evidence: m.FleetErr.Error(), Fix: "check the sensorprobe DaemonSet's selector"}
	case len(m.Fleet.Value) == 0:
		return Result{Name: CheckNodeVerdicts, Status: Fail, Evidence: "no probe pods", Fix: "kubectl -n " + m.Options.ProbeNamespace + " describe ds " + m.Options.ProbeDaemonSet}
	}
	counts := map[string]int{}
	bad := 0
	for _, r := range m.Fleet.Value {
		counts[r.Verdict]++
		if r.Verdict != verdict.Healthy {
			bad++
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	ev := fmt.Sprintf("%d nodes: %s (table below)", len(m.Fleet.Value), strings.Join(parts, ", "))
	if bad == 0 {
		return Result{Name: CheckNodeVerdicts, Status: Pass, Evidence: ev}
	}
	return Result{Name: CheckNodeVerdicts, Status: Fail, Evidence: ev, Fix: "each node's verdict names its fix: kubectl -n " + m.Options.ProbeNamespace + " exec <pod> -- probe check; the cluster-wide remedies are in probe fix"}
}

func (m *Model) checkVirtualization() Result {
	switch {
	case m.HyperConverged.Found():
		hc := m.HyperConverged.Value[0]
		return Result{Name: CheckVirtualization, Status: Pass, Evidence: "OpenShift Virtualization: HyperConverged " + hc.GetNamespace() + "/" + hc.GetName()}
	case m.KubeVirt.Found():
		kv := m.KubeVirt.Value[0]
		return Result{Name: CheckVirtualization, Status: Pass, Evidence: "KubeVirt " + kv.GetNamespace() + "/" + kv.GetName() + " (no HyperConverged)"}
	case m.KubeVirt.Denied():
		return denied(CheckVirtualization, m.KubeVirt.Access)
	case m.KubeVirt.Missing():
		return Result{Name: CheckVirtualization, Status: Fail, Evidence: "not installed: no KubeVirt or HyperConverged resource (or their CRDs)",
			Fix: "install OpenShift Virtualization (or KubeVirt): VM scanning reads VMs over VSOCK"}
	}
	return readErr(CheckVirtualization, m.KubeVirt.Access)
}

func (m *Model) checkVSOCKGate() Result {
	if !m.kubevirtInstalled() {
		if m.KubeVirt.Denied() {
			return denied(CheckVSOCKGate, m.KubeVirt.Access)
		}
		return Result{Name: CheckVSOCKGate, Status: NotApplicable, Evidence: "KubeVirt not installed"}
	}
	kv := m.KubeVirt.Value[0]
	gates, _, _ := unstructured.NestedStringSlice(kv.Object, "spec", "configuration", "developerConfiguration", "featureGates")
	if slices.Contains(gates, "VSOCK") {
		return Result{Name: CheckVSOCKGate, Status: Pass, Evidence: "KubeVirt " + kv.GetName() + " featureGates include VSOCK"}
	}
	fix := `enable the VSOCK feature gate: kubectl -n ` + kv.GetNamespace() + ` patch kubevirt ` + kv.GetName() + ` --type=json -p '[{"op":"add","path":"/spec/configuration/developerConfiguration/featureGates/-","value":"VSOCK"}]'`
	if m.HyperConverged.Found() {
		hc := m.HyperConverged.Value[0]
		fix = `HyperConverged owns the KubeVirt resource: add the gate through its jsonpatch annotation: kubectl -n ` + hc.GetNamespace() + ` annotate hyperconverged ` + hc.GetName() +
			` kubevirt.kubevirt.io/jsonpatch='[{"op":"add","path":"/spec/configuration/developerConfiguration/featureGates/-","value":"VSOCK"}]'`
	}
	return Result{Name: CheckVSOCKGate, Status: Fail, Evidence: fmt.Sprintf("KubeVirt %s featureGates %v lack VSOCK", kv.GetName(), gates), Fix: fix}
}

func (m *Model) checkVMs() Result {
	switch {
	case m.VMIs.Denied():
		return denied(CheckVMs, m.VMIs.Access)
	case m.VMIs.Access.NotFound:
		return Result{Name: CheckVMs, Status: NotApplicable, Evidence: "KubeVirt not installed"}
	case !m.VMIs.Access.OK():
		return readErr(CheckVMs, m.VMIs.Access)
	case len(m.VMIs.Value) == 0:
		return Result{Name: CheckVMs, Status: NotApplicable, Evidence: "no VirtualMachineInstances running"}
	}
	if m.pullMode() {
		return m.checkVMsPull()
	}
	vms := vsockVMs(m.VMIs.Value)
	if len(vms) == 0 {
		return Result{Name: CheckVMs, Status: Fail, Evidence: fmt.Sprintf("%d VMIs, none with autoattachVSOCK and a VSOCKCID", len(m.VMIs.Value)),
			Fix: "set spec.template.spec.domain.devices.autoattachVSOCK: true on the VirtualMachines to scan (with the VSOCK feature gate on) and restart them"}
	}
	names := make([]string, 0, len(vms))
	for _, v := range vms {
		names = append(names, v.name+"@"+orUnknown(v.node))
	}
	return Result{Name: CheckVMs, Status: Pass, Evidence: fmt.Sprintf("%d of %d VMIs with VSOCK: %s", len(vms), len(m.VMIs.Value), strings.Join(names, ", "))}
}

func (m *Model) checkNetworkType() Result {
	switch {
	case m.NetworkConfig.Found():
		return Result{Name: CheckNetworkType, Status: Pass, Evidence: "Network.config cluster networkType " + networkType(m.NetworkConfig.Value) + " (fix uses CNI " + string(m.CNI()) + ")"}
	case m.NetworkConfig.Denied():
		return denied(CheckNetworkType, m.NetworkConfig.Access)
	}
	return Result{Name: CheckNetworkType, Status: NotApplicable, Evidence: "not OpenShift (no Network.config); fix uses CNI " + string(m.CNI())}
}

// Failed counts the failed checks.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Status == Fail {
			n++
		}
	}
	return n
}
