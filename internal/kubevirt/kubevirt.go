// Package kubevirt holds what sensorprobe knows of KubeVirt (OpenShift
// Virtualization): the names of its objects, labels and ports, and a
// VirtualMachineInstance as the probe reads it, so that the DaemonSet's node
// watch and `probe check --cluster` read VMs the same way.
//
// On the RHACS 4.12 line sensor fetches VM index reports itself ("pull
// mode"): sensor → kube-apiserver → APIService v1.subresources.kubevirt.io →
// virt-api → virt-handler on the VM's node (pod IP, port 8186) → VSOCK to
// the VM's CID, port 818 → roxagent. Every Running VMI is scraped, VSOCK or
// not.
package kubevirt

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Names of KubeVirt objects, labels and ports (KubeVirt's
// staging/src/kubevirt.io/api/core/v1 and virt-handler).
const (
	// NodeNameLabel is the label virt-controller puts on a VMI naming its node
	// (CRDs have no field selectors, so this is how to list one node's VMIs).
	NodeNameLabel = "kubevirt.io/nodeName"
	// VirtHandlerSelector selects the virt-handler pods (DaemonSet virt-handler).
	VirtHandlerSelector = "kubevirt.io=virt-handler"
	// VirtHandlerPort is where virt-api reaches virt-handler on a node (pod
	// IP, mutual TLS) for console, VNC and VSOCK streams.
	VirtHandlerPort = 8186
	// FeatureGateVSOCK is the KubeVirt feature gate for VMIs with autoattachVSOCK.
	FeatureGateVSOCK = "VSOCK"
	// SubresourceGroup is the API group of the VMI subresources virt-api serves.
	SubresourceGroup = "subresources.kubevirt.io"
	// SubresourceAPIService is the APIService through which kube-apiserver
	// reaches virt-api.
	SubresourceAPIService = "v1." + SubresourceGroup
	// AgentPort is roxagent's VSOCK port (ROX_VIRTUAL_MACHINES_VSOCK_PORT).
	AgentPort = 818
	// PhaseRunning is the VMI phase sensor scrapes.
	PhaseRunning = "Running"
)

// The resources read through the dynamic client. Their CRDs may be absent:
// a 404 on the resource means "not installed".
var (
	GVRVMI            = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	GVRKubeVirt       = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "kubevirts"}
	GVRHyperConverged = schema.GroupVersionResource{Group: "hco.kubevirt.io", Version: "v1beta1", Resource: "hyperconvergeds"}
	GVRAPIService     = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
)

// VMI is a VirtualMachineInstance as the probe reads it.
type VMI struct {
	Namespace, Name string
	// Node is status.nodeName, "" before scheduling.
	Node string
	// Phase is status.phase, e.g. Running.
	Phase string
	// AutoattachVSOCK is spec.domain.devices.autoattachVSOCK.
	AutoattachVSOCK bool
	// CID is status.VSOCKCID, 0 when it has none.
	CID uint32
}

// Key is namespace/name, as sensor's scraper names a VM in its log.
func (v VMI) Key() string { return v.Namespace + "/" + v.Name }

// Running reports whether sensor scrapes the VMI (phase Running).
func (v VMI) Running() bool { return v.Phase == PhaseRunning }

// HasVSOCK reports whether the VMI has a VSOCK device with a CID: without
// one, virt-api answers sensor's every scrape with 400 "VSOCK is not attached."
func (v VMI) HasVSOCK() bool { return v.AutoattachVSOCK && v.CID != 0 }

// VMIFrom reads a VMI from its unstructured object (as listed through the
// dynamic client).
func VMIFrom(obj map[string]any) VMI {
	meta, _ := obj["metadata"].(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	status, _ := obj["status"].(map[string]any)
	v := VMI{Namespace: str(meta["namespace"]), Name: str(meta["name"]),
		Node: str(status["nodeName"]), Phase: str(status["phase"])}
	if domain, ok := spec["domain"].(map[string]any); ok {
		if devices, ok := domain["devices"].(map[string]any); ok {
			v.AutoattachVSOCK, _ = devices["autoattachVSOCK"].(bool)
		}
	}
	v.CID = cid(status["VSOCKCID"])
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// cid reads a JSON number (int64 from the API machinery, float64 from
// encoding/json) or a numeric string.
func cid(v any) uint32 {
	switch n := v.(type) {
	case int64:
		if n > 0 && n <= 1<<32-1 {
			return uint32(n)
		}
	case float64:
		if n > 0 && n <= 1<<32-1 {
			return uint32(n)
		}
	case string:
		if u, err := strconv.ParseUint(n, 10, 32); err == nil {
			return uint32(u)
		}
	}
	return 0
}

// PodReady reports whether pod (a virt-handler) is Running and Ready.
func PodReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
