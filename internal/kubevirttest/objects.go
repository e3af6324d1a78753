//go:build linux

package kubevirttest

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API groups and resources the lab serves or creates.
const (
	subresourceGroup = "subresources.kubevirt.io"
	kubevirtGroup    = "kubevirt.io"
	vmiResource      = "virtualmachineinstances"
	phaseRunning     = "Running"
	labelKubeVirt    = "kubevirt.io" // kubevirt.io=virt-handler, =virt-api
	labelVMINode     = "kubevirt.io/nodeName"
	labelVersion     = "app.kubernetes.io/version"
	valueTrue        = "true"
	sensorName       = "sensor" // ServiceAccount, Deployment, container, app label
	virtAPIName      = "virt-api"
)

// Names RHACS's chart gives its sensor RBAC.
const (
	VSOCKAccessRole    = "stackrox:vsock-access"
	VSOCKAccessBinding = "stackrox:vsock-access-binding"
	ViewClusterRole    = "stackrox:view-cluster"
	ViewClusterBinding = "stackrox:monitor-cluster"
)

// GVRs of the KubeVirt objects, their minimal CRDs and the APIService.
var (
	GVRVMI            = schema.GroupVersionResource{Group: kubevirtGroup, Version: "v1", Resource: vmiResource}
	GVRKubeVirt       = schema.GroupVersionResource{Group: kubevirtGroup, Version: "v1", Resource: "kubevirts"}
	GVRHyperConverged = schema.GroupVersionResource{Group: "hco.kubevirt.io", Version: "v1beta1", Resource: "hyperconvergeds"}
	GVRAPIService     = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	gvrCRD            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// createBase makes the namespaces, KubeVirt's ServiceAccounts and the
// minimal KubeVirt CRDs.
func (l *Lab) createBase(ctx context.Context) error {
	for _, ns := range []string{l.opts.RHACSNamespace, l.opts.KubeVirtNamespace} {
		if err := l.ensureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	// KubeVirt's components run as these.
	for _, sa := range []string{"kubevirt-handler", "kubevirt-apiserver"} {
		_, err := l.client.CoreV1().ServiceAccounts(l.opts.KubeVirtNamespace).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create serviceaccount %s: %w", sa, err)
		}
	}
	for _, c := range kubevirtCRDs() {
		if err := l.crd(ctx, c.gvr, c.kind); err != nil {
			return err
		}
	}
	return nil
}

func kubevirtCRDs() []struct {
	gvr  schema.GroupVersionResource
	kind string
} {
	return []struct {
		gvr  schema.GroupVersionResource
		kind string
	}{{GVRKubeVirt, "KubeVirt"}, {GVRVMI, "VirtualMachineInstance"}, {GVRHyperConverged, "HyperConverged"}}
}

// createKubeVirt waits until the CRDs are served (they take a second or
// two, so the lab starts other parts meanwhile) and creates the KubeVirt
// and HyperConverged CRs.
func (l *Lab) createKubeVirt(ctx context.Context) error {
	for _, c := range kubevirtCRDs() {
		if err := poll(ctx, 30*time.Second, func() error {
			_, err := l.dyn.Resource(c.gvr).List(ctx, metav1.ListOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("CRD %s not served: %w", c.gvr.Resource, err)
		}
	}
	gates := []any{"Snapshot", "HotplugVolumes"}
	if !l.opts.NoVSOCKFeatureGate {
		gates = append(gates, "VSOCK")
	}
	ns := l.opts.KubeVirtNamespace
	if err := l.createObject(ctx, GVRHyperConverged, ns, map[string]any{"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
		"metadata": map[string]any{"name": "kubevirt-hyperconverged"}}); err != nil {
		return err
	}
	return l.createObject(ctx, GVRKubeVirt, ns, map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
		"metadata": map[string]any{"name": "kubevirt-kubevirt-hyperconverged"},
		"spec":     map[string]any{"configuration": map[string]any{"developerConfiguration": map[string]any{"featureGates": gates}}},
		"status":   map[string]any{"phase": "Deployed"}})
}

// ensureNamespace creates namespace ns and its default ServiceAccount
// (there is no controller-manager to make it), tolerating both existing.
func (l *Lab) ensureNamespace(ctx context.Context, ns string) error {
	_, err := l.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	_, err = l.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create serviceaccount %s/default: %w", ns, err)
	}
	return nil
}

// crd creates a minimal namespaced CRD (any fields allowed, no status
// subresource) for gvr.
func (l *Lab) crd(ctx context.Context, gvr schema.GroupVersionResource, kind string) error {
	obj := map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": gvr.Resource + "." + gvr.Group},
		"spec": map[string]any{
			"group": gvr.Group, "scope": "Namespaced",
			"names": map[string]any{"plural": gvr.Resource, "kind": kind, "listKind": kind + "List"},
			"versions": []any{map[string]any{"name": gvr.Version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}
	return l.createObject(ctx, gvrCRD, "", obj)
}

func (l *Lab) createObject(ctx context.Context, gvr schema.GroupVersionResource, ns string, obj map[string]any) error {
	u := &unstructured.Unstructured{Object: obj}
	var err error
	if ns == "" {
		_, err = l.dyn.Resource(gvr).Create(ctx, u, metav1.CreateOptions{})
	} else {
		_, err = l.dyn.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("create %s %s: %w", gvr.Resource, u.GetName(), err)
	}
	return nil
}

// createVMIs creates Options.VMIs.
func (l *Lab) createVMIs(ctx context.Context) error {
	for _, v := range l.opts.VMIs {
		if err := l.createVMI(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// CreateVMI creates a VMI while the lab runs (Options.VMIs are created by
// Start) and returns it with its defaults filled in.
func (l *Lab) CreateVMI(ctx context.Context, v VMI) (VMI, error) {
	l.mu.Lock()
	n := len(l.vmis)
	l.mu.Unlock()
	v = v.withDefaults(l.nodes, n)
	return v, l.createVMI(ctx, v)
}

// createVMI creates v with its status (the CRD has no status subresource)
// and records its agent's behaviour.
func (l *Lab) createVMI(ctx context.Context, v VMI) error {
	if err := l.ensureNamespace(ctx, v.Namespace); err != nil {
		return err
	}
	devices := map[string]any{}
	status := map[string]any{"phase": v.Phase}
	if v.Node != "" {
		status["nodeName"] = v.Node
	}
	if !v.NoVSOCK {
		devices["autoattachVSOCK"] = true
		status["VSOCKCID"] = int64(v.CID)
	}
	obj := map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
		"metadata": map[string]any{"name": v.Name, "labels": map[string]any{labelVMINode: v.Node}},
		"spec":     map[string]any{"domain": map[string]any{"devices": devices}},
		"status":   status}
	if err := l.createObject(ctx, GVRVMI, v.Namespace, obj); err != nil {
		return err
	}
	l.agent(v.Key()).set(v.Agent)
	l.mu.Lock()
	l.vmis = append(l.vmis, v)
	l.mu.Unlock()
	return nil
}

// chartLabels are the labels RHACS's Helm chart puts on what it renders.
func (l *Lab) chartLabels() map[string]string {
	v := l.opts.Version
	chart := "stackrox-secured-cluster-services-400"
	if len(v) > 2 {
		chart += "." + v[2:]
	}
	return map[string]string{
		labelVersion:                   v,
		"helm.sh/chart":                chart,
		"app.kubernetes.io/name":       "stackrox",
		"app.kubernetes.io/managed-by": "Helm",
		"app.kubernetes.io/instance":   "stackrox-secured-cluster-services",
	}
}

// createRBAC creates sensor's cluster roles as the chart does: view-cluster
// always, vsock-access with virtualMachines.enabled; Options leave either out.
func (l *Lab) createRBAC(ctx context.Context) error {
	type role struct {
		role, binding string
		rule          rbacv1.PolicyRule
	}
	var roles []role
	if !l.opts.NoViewClusterRole {
		roles = append(roles, role{ViewClusterRole, ViewClusterBinding,
			rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "watch", "list"}}})
	}
	if !l.opts.NoVSOCKAccessRole {
		roles = append(roles, role{VSOCKAccessRole, VSOCKAccessBinding,
			rbacv1.PolicyRule{APIGroups: []string{subresourceGroup}, Resources: []string{vmiResource + "/vsock"}, Verbs: []string{"get"}}})
	}
	rb := l.client.RbacV1()
	for _, r := range roles {
		meta := metav1.ObjectMeta{Name: r.role, Labels: l.chartLabels()}
		if _, err := rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: []rbacv1.PolicyRule{r.rule}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create clusterrole %s: %w", r.role, err)
		}
		b := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: r.binding, Labels: l.chartLabels()},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sensorName, Namespace: l.opts.RHACSNamespace}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.role},
		}
		if _, err := rb.ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create clusterrolebinding %s: %w", r.binding, err)
		}
	}
	return nil
}

// createPod creates pod and gives it the status a kubelet would: Running,
// podIP ip on node IP hostIP, Ready or not.
func (l *Lab) createPod(ctx context.Context, pod *corev1.Pod, ip, hostIP string, ready bool) error {
	p, err := l.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	now := metav1.Now()
	p.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
		PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: readyStatus, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: now},
		},
	}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: ready, Started: &ready,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if _, err := l.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pod status %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// podSuffix derives a pod name suffix of n characters from seed, in the
// alphabet Kubernetes generates names from, so that names look real and
// stay the same from run to run.
func podSuffix(seed string, n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	h := fnv.New64a()
	_, _ = h.Write([]byte(seed))
	x := h.Sum64()
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[x%uint64(len(alphabet))]
		x /= uint64(len(alphabet))
	}
	return string(b)
}

// poll calls check every 100 ms until it succeeds, ctx ends or limit
// passes, and returns check's last error then.
func poll(ctx context.Context, limit time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
