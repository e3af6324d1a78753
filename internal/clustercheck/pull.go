package clustercheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kubevirt"
	"github.com/sensorprobe/sensorprobe/internal/scraperlog"
)

// The pull path (RHACS 4.12 line): sensor scrapes every Running VMI
// through kube-apiserver, the APIService v1.subresources.kubevirt.io,
// virt-api and the virt-handler of the VMI's node. Gather reads what it
// needs only in pull mode; in push mode these reads stay empty with
// errNotPull as their Access error, and the checks are not applicable.

// errNotPull marks the pull reads of a cluster not in pull mode.
var errNotPull = errors.New("not in pull mode")

// sensorMetricsPort is sensor's Prometheus port (container port
// "monitoring"), which RHACS's exposeMonitoring opens to scrapers.
const sensorMetricsPort = 9090

// pullRequestsMetric is sensor's count of scrapes by status.
const pullRequestsMetric = "rox_sensor_vsock_pull_requests_total"

// scraperLogWindow is how far back sensor's log is read: longer than the
// poll interval (5m by default, 4h once RHACS's pending change lands).
const scraperLogWindow = 6 * time.Hour

// Pull is what Gather read of the pull path.
type Pull struct {
	// APIService is v1.subresources.kubevirt.io.
	APIService Read[*unstructured.Unstructured]
	// VirtHandlers are the virt-handler pods of KubeVirtNamespace.
	VirtHandlers Read[[]corev1.Pod]
	// KubeVirtNamespace is the namespace of the KubeVirt resource.
	KubeVirtNamespace string
	// SensorAccess says, per namespace with VMIs, whether sensor's
	// ServiceAccount may get virtualmachineinstances/vsock there (the API
	// server's answer to a SubjectAccessReview).
	SensorAccess Read[map[string]bool]
	// ScraperLog is sensor's scraper log over scraperLogWindow.
	ScraperLog Read[scraperlog.Summary]
	// ScraperMetrics is rox_sensor_vsock_pull_requests_total by status,
	// read through the pod proxy from sensor's metrics port.
	ScraperMetrics Read[map[string]float64]
}

// Transport is how VM index reports reach sensor on this cluster.
func (m *Model) Transport() kube.Transport {
	flags := m.FlagState()
	return kube.TransportOf(m.Relay, kube.FeatureFlag(flags["compliance"]), kube.FeatureFlag(flags[kube.SensorDeployment]))
}

// pullMode reports whether sensor scrapes VMs here (the 4.12 line with
// sensor's flag on).
func (m *Model) pullMode() bool { return m.Transport() == kube.TransportPull }

// pullLine reports whether the installed RHACS is on the 4.12 line, whatever its flags.
func (m *Model) pullLine() bool { return m.Collector.Found() && m.Relay.PullMode() }

// gatherPull reads the pull path.
func (m *Model) gatherPull(ctx context.Context, c Clients) {
	p := &m.Pull
	p.KubeVirtNamespace = m.Options.KubeVirtNamespace
	if m.KubeVirt.Found() {
		p.KubeVirtNamespace = m.KubeVirt.Value[0].GetNamespace()
	}
	if !m.pullMode() {
		na := Access{Err: errNotPull}
		p.APIService.Access, p.VirtHandlers.Access, p.SensorAccess.Access = na, na, na
		p.ScraperLog.Access, p.ScraperMetrics.Access = na, na
		return
	}
	p.APIService = get(Rule{kubevirt.GVRAPIService.Group, kubevirt.GVRAPIService.Resource, "get", ""}, func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(kubevirt.GVRAPIService).Get(ctx, kubevirt.SubresourceAPIService, metav1.GetOptions{})
	})
	p.VirtHandlers = items(get(Rule{"", "pods", "list", p.KubeVirtNamespace}, func() (*corev1.PodList, error) {
		return c.Kube.CoreV1().Pods(p.KubeVirtNamespace).List(ctx, metav1.ListOptions{LabelSelector: kubevirt.VirtHandlerSelector})
	}), func(l *corev1.PodList) []corev1.Pod { return l.Items })
	p.SensorAccess = m.sensorAccess(ctx, c)
	if pod := m.sensorPod(); pod != "" {
		p.ScraperLog = m.scraperLog(ctx, c, pod)
		p.ScraperMetrics = m.scraperMetrics(ctx, c, pod)
	} else {
		p.ScraperLog.Access = Access{Err: errors.New("no running sensor pod"), NotFound: true}
		p.ScraperMetrics.Access = p.ScraperLog.Access
	}
}

// sensorAccess asks the API server, per namespace with VMIs, whether
// sensor's ServiceAccount may get virtualmachineinstances/vsock: the
// decision virt-api asks for on every scrape. A wildcard role may or may
// not cover it; only the API server knows.
func (m *Model) sensorAccess(ctx context.Context, c Clients) Read[map[string]bool] {
	r := Rule{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"}
	user := "system:serviceaccount:" + m.ns() + ":" + kube.SensorDeployment
	out := map[string]bool{}
	for _, ns := range m.vmiNamespaces() {
		sar, err := c.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + m.ns(), "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get",
					Group: kubevirt.SubresourceGroup, Resource: "virtualmachineinstances", Subresource: "vsock"}},
		}, metav1.CreateOptions{})
		if err != nil {
			return Read[map[string]bool]{Access: refused(r, err)}
		}
		out[ns] = sar.Status.Allowed
	}
	return Read[map[string]bool]{Value: out, Access: Access{Rule: r}}
}

// scraperLog reads sensor's log of the last scraperLogWindow.
func (m *Model) scraperLog(ctx context.Context, c Clients, pod string) Read[scraperlog.Summary] {
	r := Rule{Group: "", Resource: "pods/log", Verb: "get", Namespace: m.ns()}
	since := int64(scraperLogWindow / time.Second)
	limit := int64(16 << 20)
	body, err := c.Kube.CoreV1().Pods(m.ns()).GetLogs(pod, &corev1.PodLogOptions{
		Container: kube.SensorDeployment, Timestamps: true, SinceSeconds: &since, LimitBytes: &limit,
	}).DoRaw(ctx)
	if err != nil {
		return Read[scraperlog.Summary]{Access: refused(r, err)}
	}
	s, err := scraperlog.Read(bytes.NewReader(body))
	if err != nil {
		return Read[scraperlog.Summary]{Access: Access{Rule: r, Err: err}}
	}
	return Read[scraperlog.Summary]{Value: s, Access: Access{Rule: r}}
}

// scraperMetrics reads sensor's scrape counters through the pod proxy.
func (m *Model) scraperMetrics(ctx context.Context, c Clients, pod string) Read[map[string]float64] {
	r := Rule{Group: "", Resource: "pods/proxy", Verb: "get", Namespace: m.ns()}
	body, err := c.Kube.CoreV1().RESTClient().Get().Namespace(m.ns()).Resource("pods").
		Name("http:" + pod + ":" + strconv.Itoa(sensorMetricsPort)).SubResource("proxy").Suffix("metrics").DoRaw(ctx)
	if err != nil {
		return Read[map[string]float64]{Access: refused(r, err)}
	}
	counts, err := pullCounts(body)
	if err != nil {
		return Read[map[string]float64]{Access: Access{Rule: r, Err: err}}
	}
	return Read[map[string]float64]{Value: counts, Access: Access{Rule: r}}
}

// pullCounts reads rox_sensor_vsock_pull_requests_total by status from a
// text exposition.
func pullCounts(body []byte) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse sensor's metrics: %w", err)
	}
	out := map[string]float64{}
	if mf, ok := mfs[pullRequestsMetric]; ok {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "status" {
					out[l.GetValue()] += mt.GetCounter().GetValue()
				}
			}
		}
	}
	return out, nil
}

// sensorPod is the name of a running sensor pod, "" if none.
func (m *Model) sensorPod() string {
	for _, p := range m.SensorPods.Value {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			return p.Name
		}
	}
	return ""
}

// vmis are the VMIs read, as kubevirt.VMI.
func (m *Model) vmis() []kubevirt.VMI {
	out := make([]kubevirt.VMI, 0, len(m.VMIs.Value))
	for _, u := range m.VMIs.Value {
		out = append(out, kubevirt.VMIFrom(u.Object))
	}
	slices.SortFunc(out, func(a, b kubevirt.VMI) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// runningVMIs are the VMIs sensor scrapes: phase Running, VSOCK or not.
func (m *Model) runningVMIs() []kubevirt.VMI {
	var out []kubevirt.VMI
	for _, v := range m.vmis() {
		if v.Running() {
			out = append(out, v)
		}
	}
	return out
}

// vmiNamespaces are the namespaces with Running VMIs, sorted.
func (m *Model) vmiNamespaces() []string {
	var out []string
	for _, v := range m.runningVMIs() {
		if !slices.Contains(out, v.Namespace) {
			out = append(out, v.Namespace)
		}
	}
	slices.Sort(out)
	return out
}

// virtHandlerOn returns the virt-handler pod of node and whether it is ready.
func (m *Model) virtHandlerOn(node string) (pod string, ready bool) {
	for i := range m.Pull.VirtHandlers.Value {
		p := &m.Pull.VirtHandlers.Value[i]
		if p.Spec.NodeName != node {
			continue
		}
		if kubevirt.PodReady(p) {
			return p.Name, true
		}
		pod = p.Name
	}
	return pod, false
}

// apiServiceAvailable returns the APIService's Available condition: its
// status ("True", "False" or "") and message.
func apiServiceAvailable(u *unstructured.Unstructured) (status, message string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == "Available" {
			s, _ := cm["status"].(string)
			msg, _ := cm["message"].(string)
			if r, _ := cm["reason"].(string); r != "" && msg == "" {
				msg = r
			}
			return s, msg
		}
	}
	return "", ""
}

// VMRow is one line of the VM table of `probe check --cluster` in pull
// mode: a Running VMI and sensor's latest scrape of it.
type VMRow struct {
	VM    string `json:"vm"`
	Node  string `json:"node"`
	CID   uint32 `json:"cid"`
	VSOCK bool   `json:"vsock"`
	// Outcome is sensor's latest result for it (scraperlog's statuses, a
	// dial_error refined by its cause), "" when its log shows none.
	Outcome string     `json:"outcome"`
	Detail  string     `json:"detail,omitempty"`
	At      *time.Time `json:"at"`
	Next    *time.Time `json:"next"`
}

// VMTable is the VM table, nil outside pull mode.
func (m *Model) VMTable() []VMRow {
	if !m.pullMode() {
		return nil
	}
	return VMTableOf(m.runningVMIs(), m.Pull.ScraperLog.Value.Latest)
}

// VMTableOf is the VM table of the Running VMIs vmis, given sensor's
// latest attempt on each (scraperlog's Summary.Latest); never nil.
func VMTableOf(vmis []kubevirt.VMI, attempts []scraperlog.Attempt) []VMRow {
	latest := map[string]scraperlog.Attempt{}
	for _, a := range attempts {
		latest[a.VM] = a
	}
	rows := []VMRow{}
	for _, v := range vmis {
		row := VMRow{VM: v.Key(), Node: v.Node, CID: v.CID, VSOCK: v.HasVSOCK()}
		if a, ok := latest[v.Key()]; ok {
			row.Outcome, row.Detail = outcomeOf(a), a.Detail
			if !a.At.IsZero() {
				at := a.At
				row.At = &at
			}
			if n := a.NextAt(); !n.IsZero() {
				row.Next = &n
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// outcomeOf names an attempt's result: its status, refined by the cause of
// a failed dial.
func outcomeOf(a scraperlog.Attempt) string {
	switch {
	case a.Status == "":
		return "in progress"
	case a.Cause != scraperlog.CauseNone:
		return string(a.Status) + "/" + string(a.Cause)
	}
	return string(a.Status)
}
