package clustercheck

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubeclient"
	"github.com/sensorprobe/sensorprobe/internal/status"
	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

// Fetcher reads the /status report of one probe pod. The default goes
// through the API server's pod proxy; tests inject their own, because a test
// API server has no kubelet and no pod network to proxy to.
type Fetcher func(ctx context.Context, pod corev1.Pod) (status.Report, error)

// ProxyRequest is the pod-proxy request for pod's /status on port:
// GET /api/v1/namespaces/<ns>/pods/http:<pod>:<port>/proxy/status. It needs
// "get" on pods/proxy in the probe's namespace.
func ProxyRequest(c kubeclient.Interface, pod corev1.Pod, port int) *rest.Request {
	return c.CoreV1().RESTClient().Get().
		Namespace(pod.Namespace).Resource("pods").
		Name("http:" + pod.Name + ":" + strconv.Itoa(port)).
		SubResource("proxy").Suffix("status")
}

// ProxyFetcher returns a Fetcher that reads /status through the pod proxy.
func ProxyFetcher(c kubeclient.Interface, port int) Fetcher {
	return func(ctx context.Context, pod corev1.Pod) (status.Report, error) {
		var r status.Report
		body, err := ProxyRequest(c, pod, port).DoRaw(ctx)
		if err != nil {
			return r, fmt.Errorf("get %s/%s /status through the pod proxy: %w", pod.Namespace, pod.Name, err)
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return r, fmt.Errorf("decode %s/%s /status: %w", pod.Namespace, pod.Name, err)
		}
		return r, nil
	}
}

// NodeStatus is one row of the fleet table: a node's verdict as its probe
// pod reports it.
type NodeStatus struct {
	Node     string `json:"node"`
	Pod      string `json:"pod"`
	Verdict  string `json:"verdict"`
	Severity string `json:"severity"`
	// FailingPaths are the paths that are down and that something depends on
	// (consumer relay or unknown), as name(reason).
	FailingPaths []string `json:"failing_paths"`
	// Relay is the relay evidence: relay path and network, listening,
	// connections, sends and send errors; in pull mode, the node's VMIs
	// and virt-handler instead.
	Relay string `json:"relay"`
	// Error is why the status could not be read, "" when it was.
	Error string `json:"error,omitempty"`
	// Down says, for each of FailingPaths, since when it is down and how
	// often it was in the last hour (fleet_history.go).
	Down []PathDown `json:"down"`
}

// Unreadable is the verdict column of a node whose /status could not be read.
const Unreadable = "unreadable"

func fetchFleet(ctx context.Context, fetch Fetcher, pods []corev1.Pod) []NodeStatus {
	rows := make([]NodeStatus, 0, len(pods))
	for _, p := range pods {
		row := NodeStatus{Node: p.Spec.NodeName, Pod: p.Name}
		r, err := fetch(ctx, p)
		if err != nil {
			row.Verdict, row.Error = Unreadable, err.Error()
			rows = append(rows, row)
			continue
		}
		row.Verdict, row.Severity = r.Verdict.Name, r.Verdict.Severity
		for _, ps := range r.Paths {
			if !ps.Up && ps.State != "" && ps.State != "pending" && ps.Consumer != "none" {
				row.FailingPaths = append(row.FailingPaths, fmt.Sprintf("%s(%s)", ps.Name, ps.Reason))
				row.Down = append(row.Down, downOf(r, ps))
			}
		}
		row.Relay = relayEvidence(r)
		rows = append(rows, row)
	}
	SortFleet(rows)
	return rows
}

// SortFleet groups rows by verdict (healthy last, the rest by name) and
// sorts nodes by name within a group.
func SortFleet(rows []NodeStatus) {
	sort.SliceStable(rows, func(i, j int) bool {
		hi, hj := rows[i].Verdict == verdict.Healthy, rows[j].Verdict == verdict.Healthy
		if hi != hj {
			return hj
		}
		if rows[i].Verdict != rows[j].Verdict {
			return rows[i].Verdict < rows[j].Verdict
		}
		return rows[i].Node < rows[j].Node
	})
}

func relayEvidence(r status.Report) string {
	var parts []string
	if k := r.Kubernetes; k != nil && k.VMs != nil {
		// Pull mode: no relay; the node's part of the path is its VMIs and
		// its virt-handler.
		return k.VMs.Summary()
	}
	if k := r.Kubernetes; k != nil {
		net := "unknown network"
		if k.RelayHostNetwork != nil {
			net = map[bool]string{true: "host network", false: "pod network"}[*k.RelayHostNetwork]
		}
		path := k.RelayPath
		if path == "" {
			path = "-"
		}
		parts = append(parts, "path "+path+", "+net)
	}
	if v := r.VSOCK; v != nil {
		listening := "not listening"
		if v.RelayListening {
			listening = "listening"
		}
		parts = append(parts, fmt.Sprintf("relay %s on %d, %d sent, %d send errors", listening, v.RelayPort, v.ReportsSentRecent, v.SendErrorsRecent))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}
