package clustercheck

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/scraperlog"
)

// pullModel is a 4.12 cluster in pull mode with a Running VMI with VSOCK
// on each of nodes.
func pullModel(nodes ...string) *Model {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "collector", Namespace: "stackrox", Labels: map[string]string{"app.kubernetes.io/version": "4.12.0"}},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "compliance"}}}}}}
	sensor := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "sensor", Env: []corev1.EnvVar{{Name: "ROX_VIRTUAL_MACHINES", Value: "true"}}}}}}}}
	m := &Model{Options: Options{Namespace: "stackrox"}.withDefaults(), Collector: Read[*appsv1.DaemonSet]{Value: ds},
		Sensor: Read[*appsv1.Deployment]{Value: sensor}}
	m.Relay = kube.ReadRelayConfig(ds)
	m.Pull.KubeVirtNamespace = "openshift-cnv"
	for i, n := range nodes {
		m.VMIs.Value = append(m.VMIs.Value, unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"namespace": "vms", "name": "vm-" + n},
			"spec":     map[string]any{"domain": map[string]any{"devices": map[string]any{"autoattachVSOCK": true}}},
			"status":   map[string]any{"phase": "Running", "nodeName": n, "VSOCKCID": int64(100 + i)},
		}})
	}
	return m
}

func virtHandler(node string, ready bool) corev1.Pod {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-handler-" + node}, Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}}}
}

// The virt-handler check fails a node whose virt-handler is missing or not
// ready, and one whose pod is Ready but refused sensor's latest scrape
// there (virt-api: dialing virt-handler): pod status alone would pass it.
func TestVirtHandlerCheck(t *testing.T) {
	for _, tt := range []struct {
		name     string
		handlers []corev1.Pod
		latest   []scraperlog.Attempt
		want     Status
		evidence string
	}{
		{name: "ready everywhere", handlers: []corev1.Pod{virtHandler("w0", true), virtHandler("w1", true)}, want: Pass, evidence: "(w0, w1)"},
		{name: "none on a node", handlers: []corev1.Pod{virtHandler("w0", true)}, want: Fail, evidence: "w1 (none)"},
		{name: "not ready", handlers: []corev1.Pod{virtHandler("w0", true), virtHandler("w1", false)}, want: Fail, evidence: "w1 (virt-handler-w1 not ready)"},
		{
			name:     "ready but unreachable",
			handlers: []corev1.Pod{virtHandler("w0", true), virtHandler("w1", true)},
			latest: []scraperlog.Attempt{
				{VM: "vms/vm-w0", Status: scraperlog.Success},
				{VM: "vms/vm-w1", Status: scraperlog.DialError, Cause: scraperlog.CauseHandler},
			},
			want: Fail, evidence: "w1 (virt-handler-w1 ready, but sensor's latest scrape of vms/vm-w1 could not reach it)",
		},
		{
			name:     "another dial error is not the handler's",
			handlers: []corev1.Pod{virtHandler("w0", true), virtHandler("w1", true)},
			latest:   []scraperlog.Attempt{{VM: "vms/vm-w1", Status: scraperlog.DialError, Cause: scraperlog.CauseRBAC}},
			want:     Pass,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := pullModel("w0", "w1")
			m.Pull.VirtHandlers.Value = tt.handlers
			m.Pull.ScraperLog.Value.Latest = tt.latest
			r := m.checkVirtHandler()
			if r.Status != tt.want || !strings.Contains(r.Evidence, tt.evidence) {
				t.Errorf("%s %q, want %s with %q", r.Status, r.Evidence, tt.want, tt.evidence)
			}
		})
	}
}

// Outside pull mode the pull checks do not apply.
func TestPullChecksNeedPullMode(t *testing.T) {
	m := pullModel("w0")
	m.Sensor.Value.Spec.Template.Spec.Containers[0].Env = nil
	for _, r := range []Result{m.checkVirtHandler(), m.checkScraper(), m.checkSensorRBAC()} {
		if r.Status != NotApplicable {
			t.Errorf("%s with sensor's flag off: %s %q", r.Name, r.Status, r.Evidence)
		}
	}
}
