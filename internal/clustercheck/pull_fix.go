package clustercheck

import (
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kubevirt"
)

const rbacGroup = "rbac.authorization.k8s.io"

var (
	gvrClusterRole        = schema.GroupVersionResource{Group: rbacGroup, Version: "v1", Resource: "clusterroles"}
	gvrClusterRoleBinding = schema.GroupVersionResource{Group: rbacGroup, Version: "v1", Resource: "clusterrolebindings"}
)

// jsonPatchAnnotation is HyperConverged's annotation for a JSON patch of
// the KubeVirt resource it owns (HCO's "unsupported" tuning knob, the one
// way to add a KubeVirt feature gate that HCO does not expose).
const jsonPatchAnnotation = "kubevirt.kubevirt.io/jsonpatch"

// planPull adds the pull path's remedies to p.
func (m *Model) planPull(p *Plan, in Install, failed func(string) bool) {
	if failed(CheckVSOCKGate) {
		if a, ok := m.gateAction(); ok {
			p.Actions = append(p.Actions, a)
		}
	}
	if !m.pullLine() {
		return
	}
	if failed(CheckTransport) {
		a := m.envAction(in, CheckTransport, kube.SensorDeployment, "ROX_VIRTUAL_MACHINES", "true")
		switch in.Method {
		case MethodOperator:
			a.Snippet = "spec:\n  virtualMachines:\n    mode: Enabled"
		case MethodHelm:
			a.Snippet = "virtualMachines:\n  enabled: true"
		}
		p.Actions = append(p.Actions, a)
	}
	if failed(CheckSensorRBAC) {
		p.Actions = append(p.Actions, m.vsockRBACActions(in)...)
	}
	if failed(CheckVMs) {
		for _, v := range m.runningVMIs() {
			if v.HasVSOCK() {
				continue
			}
			p.Notes = append(p.Notes, fmt.Sprintf("VM %s has no VSOCK (not applied: it needs a restart, the VM's owner decides): kubectl -n %s patch vm %s --type merge -p '{\"spec\":{\"template\":{\"spec\":{\"domain\":{\"devices\":{\"autoattachVSOCK\":true}}}}}}' && virtctl -n %s restart %s",
				v.Key(), v.Namespace, v.Name, v.Namespace, v.Name))
		}
	}
}

// vsockRBACActions are RHACS's own ClusterRole and ClusterRoleBinding for
// sensor's vsock subresource, as its chart creates them with
// virtualMachines.enabled (image/templates/helm/stackrox-secured-cluster/
// templates/sensor-rbac.yaml at bed4a7b2427).
func (m *Model) vsockRBACActions(in Install) []Action {
	ns := m.ns()
	role := vsockAccessName(ns)
	labels := map[string]any{"app.kubernetes.io/managed-by": FieldManager}
	cr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": rbacGroup + "/v1", "kind": "ClusterRole",
		"metadata": map[string]any{"name": role, "labels": labels},
		"rules": []any{map[string]any{"apiGroups": []any{kubevirt.SubresourceGroup},
			"resources": []any{"virtualmachineinstances/vsock"}, "verbs": []any{"get"}}},
	}}
	crb := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": rbacGroup + "/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": role + "-binding", "labels": labels},
		"roleRef":  map[string]any{"apiGroup": rbacGroup, "kind": "ClusterRole", "name": role},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": kube.SensorDeployment, "namespace": ns}},
	}}
	acts := []Action{
		{Check: CheckSensorRBAC, Summary: "add ClusterRole " + role + " (get virtualmachineinstances/vsock in subresources.kubevirt.io)", GVR: gvrClusterRole, Object: cr, Command: applyCommand(cr)},
		{Check: CheckSensorRBAC, Summary: "bind it to ServiceAccount " + ns + "/sensor (ClusterRoleBinding " + role + "-binding)", GVR: gvrClusterRoleBinding, Object: crb, Command: applyCommand(crb)},
	}
	switch in.Method {
	case MethodOperator:
		acts[0].Owner = "RHACS is installed by its operator (" + in.Owner + "): with VM scanning enabled there it creates these itself"
		acts[0].Snippet = "spec:\n  virtualMachines:\n    mode: Enabled"
	case MethodHelm:
		acts[0].Owner = "RHACS is installed by Helm (" + in.Owner + "): with VM scanning enabled in its values the chart creates these itself"
		acts[0].Snippet = "virtualMachines:\n  enabled: true"
	}
	return acts
}

// gateAction adds KubeVirt's VSOCK feature gate: through HyperConverged's
// JSON-patch annotation where HCO owns the KubeVirt resource (it reverts
// edits of it), else on the KubeVirt resource, keeping its other gates.
func (m *Model) gateAction() (Action, bool) {
	if !m.KubeVirt.Found() {
		return Action{}, false
	}
	kv := m.KubeVirt.Value[0]
	gates, _, _ := unstructured.NestedStringSlice(kv.Object, "spec", "configuration", "developerConfiguration", "featureGates")
	if slices.Contains(gates, kubevirt.FeatureGateVSOCK) {
		return Action{}, false
	}
	if m.HyperConverged.Found() {
		hc := m.HyperConverged.Value[0]
		var patch []any
		if cur := hc.GetAnnotations()[jsonPatchAnnotation]; cur != "" {
			_ = json.Unmarshal([]byte(cur), &patch) // a broken value is replaced
		}
		patch = append(patch, map[string]any{"op": "add", "path": "/spec/configuration/developerConfiguration/featureGates/-", "value": kubevirt.FeatureGateVSOCK})
		val, _ := json.Marshal(patch)
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
			"metadata": map[string]any{"name": hc.GetName(), "namespace": hc.GetNamespace(),
				"annotations": map[string]any{jsonPatchAnnotation: string(val)}},
		}}
		return Action{Check: CheckVSOCKGate, Summary: "enable KubeVirt's VSOCK feature gate through HyperConverged " + hc.GetName() + "'s " + jsonPatchAnnotation + " annotation",
			GVR: GVRHyperConverged, Object: obj, Command: applyCommand(obj)}, true
	}
	all := make([]any, 0, len(gates)+1)
	for _, g := range gates {
		all = append(all, g)
	}
	all = append(all, kubevirt.FeatureGateVSOCK)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
		"metadata": map[string]any{"name": kv.GetName(), "namespace": kv.GetNamespace()},
		"spec":     map[string]any{"configuration": map[string]any{"developerConfiguration": map[string]any{"featureGates": all}}},
	}}
	return Action{Check: CheckVSOCKGate, Summary: "enable KubeVirt's VSOCK feature gate on KubeVirt " + kv.GetName() + " (its other gates kept)",
		GVR: GVRKubeVirt, Object: obj, Command: applyCommand(obj)}, true
}
