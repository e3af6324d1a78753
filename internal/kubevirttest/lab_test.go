//go:build linux

package kubevirttest

import (
	"bufio"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sensorprobe/sensorprobe/internal/testsupport"
)

// The VMIs of TestPullMode, one per outcome.
const (
	vmOK       = "vms/rhel9"
	vmNoVSOCK  = "vms/fedora-plain"
	vmDown     = "vms/rhel9-agent-down"
	vmBusy     = "vms/rhel9-busy"
	vmScanning = "vms/rhel9-scanning"
	vmHung     = "vms/rhel9-hung"
	vmWorker1  = "vms/rhel9-on-worker-1"
	vmNew      = "vms/rhel9-new"
)

func name(key string) string { return key[strings.Index(key, "/")+1:] }

// TestPullMode runs sensor's scraper against every failure the pull path
// has, through the real API server, aggregator and RBAC, then reads
// sensor's log and metrics back through the API server as a probe would.
// The subtests share one lab and run in order.
func TestPullMode(t *testing.T) {
	lab := Start(t, Options{
		SensorEnv:    []corev1.EnvVar{{Name: envPerVMTimeout, Value: "2s"}},
		VirtHandlers: []VirtHandler{{Node: "worker-0"}, {Node: "worker-1", Down: true}},
		VMIs: []VMI{
			{Name: name(vmOK)},
			{Name: name(vmNoVSOCK), NoVSOCK: true},
			{Name: name(vmDown), Agent: AgentDown},
			{Name: name(vmBusy), Agent: AgentBusy},
			{Name: name(vmScanning), Agent: AgentNotReady},
			{Name: name(vmHung), Agent: AgentHang},
			{Name: name(vmWorker1), Node: "worker-1"},
			{Name: "rhel9-pending", Phase: "Pending"},
		},
	})
	ctx := t.Context()

	t.Run("discovery", func(t *testing.T) {
		rl, err := lab.Client().Discovery().ServerResourcesForGroupVersion(subresourceGroup + "/v1")
		if err != nil {
			t.Fatalf("discovery of %s/v1 through the aggregator: %v", subresourceGroup, err)
		}
		found := false
		for _, r := range rl.APIResources {
			found = found || r.Name == "virtualmachineinstances/vsock"
		}
		if !found {
			t.Errorf("virtualmachineinstances/vsock not in %+v", rl.APIResources)
		}
	})

	first := scrape(ctx, t, lab)
	t.Run("first round", func(t *testing.T) {
		want := map[string]struct{ status, err string }{
			vmOK:       {StatusSuccess, ""},
			vmNoVSOCK:  {StatusDialError, "VSOCK is not attached."},
			vmDown:     {StatusReadError, "reading response: reading frame length: EOF"},
			vmBusy:     {StatusBusy, "agent is busy with another request: agent is already serving another request; retry after a backoff"},
			vmScanning: {StatusNotReady, "agent has not yet generated a report: initial scan in progress, try again later"},
			vmWorker1:  {StatusDialError, "dialing virt-handler: dial tcp " + lab.VirtHandlerAddr("worker-1") + ": connect: connection refused"},
		}
		checkResults(t, first, want)
		checkHung(t, first[vmHung])
	})

	t.Run("second round", func(t *testing.T) {
		second := scrape(ctx, t, lab)
		if second[vmOK].Status != StatusUnchanged || second[vmOK].Err != nil {
			t.Errorf("%s: %s %v, want %s: the agent has the generation sensor forwarded", vmOK, second[vmOK].Status, second[vmOK].Err, StatusUnchanged)
		}
	})

	t.Run("central unreachable", func(t *testing.T) {
		lab.SetCentralReachable(false)
		defer lab.SetCentralReachable(true)
		if _, err := lab.CreateVMI(ctx, VMI{Name: name(vmNew)}); err != nil {
			t.Fatal(err)
		}
		third := scrape(ctx, t, lab)
		checkResults(t, third, map[string]struct{ status, err string }{
			vmNew: {StatusSendError, "resource exhausted: Central is not reachable"},
			vmOK:  {StatusUnchanged, ""},
		})
	})

	t.Run("direct dials", func(t *testing.T) {
		for _, c := range []struct{ name, want string }{
			{"rhel9-pending", "Unable to connect to VirtualMachineInstance because phase is Pending instead of Running or Scheduled"},
			{"no-such-vm", `virtualmachineinstance.kubevirt.io "no-such-vm" not found`},
		} {
			s, err := lab.Dial(ctx, DefaultVMNamespace, c.name)
			if err == nil {
				s.Close()
				t.Errorf("dial %s succeeded", c.name)
				continue
			}
			t.Logf("client-go error, %s: %v", c.name, err)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("dial %s: %v, want it to contain %q", c.name, err, c.want)
			}
		}
	})

	t.Run("virt-handler as a control", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", lab.VirtHandlerAddr("worker-0"), 5*time.Second)
		if err != nil {
			t.Errorf("worker-0's virt-handler: %v", err)
		} else {
			c.Close()
		}
		_, err = net.DialTimeout("tcp", lab.VirtHandlerAddr("worker-1"), 5*time.Second)
		t.Logf("worker-1's virt-handler (down): %v", err)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("worker-1's virt-handler is down, dial: %v", err)
		}
	})

	t.Run("log through the API server", func(t *testing.T) { checkLog(ctx, t, lab) })
	t.Run("metrics through the pod proxy", func(t *testing.T) {
		checkMetrics(ctx, t, lab, map[string]float64{
			StatusSuccess: 1, StatusUnchanged: 2, StatusDialError: 6,
			StatusBusy: 3, StatusNotReady: 3, StatusSendError: 1,
		}, 8)
	})
	t.Run("follow the log", func(t *testing.T) { followLog(ctx, t, lab) })
	t.Run("virt-handler comes back", func(t *testing.T) {
		if err := lab.SetVirtHandlerDown("worker-1", false); err != nil {
			t.Fatal(err)
		}
		s, err := lab.Dial(ctx, DefaultVMNamespace, name(vmWorker1))
		if err != nil {
			t.Fatalf("dial %s with worker-1's virt-handler up again: %v", vmWorker1, err)
		}
		s.Close()
	})
}

// checkHung accepts every outcome of a hung agent: sensor sets the
// connection's read deadline to its context's deadline, so when both expire
// the read's i/o timeout can beat the context's cancellation, before the
// protocol client wraps the error (a timeout with the i/o timeout's text)
// or even before sensor classifies it (a read_error with a "protocol
// error" warning), as in the real sensor.
func checkHung(t *testing.T, r ScrapeResult) {
	t.Helper()
	text := errString(r.Err)
	switch {
	case r.Status == StatusTimeout && strings.Contains(text, "reading response: context deadline exceeded"):
	case r.Status == StatusTimeout && strings.Contains(text, "i/o timeout"):
	case r.Status == StatusReadError && strings.Contains(text, "i/o timeout"):
	default:
		t.Errorf("%s: %s %v, want timeout (or read_error with an i/o timeout)", r.VMI, r.Status, r.Err)
	}
}

// scrape runs a round and returns its results by VMI.
func scrape(ctx context.Context, t *testing.T, lab *Lab) map[string]ScrapeResult {
	t.Helper()
	res, err := lab.Scrape(ctx)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	m := map[string]ScrapeResult{}
	for _, r := range res {
		m[r.VMI] = r
		t.Logf("%s: %s: %v", r.VMI, r.Status, r.Err)
	}
	return m
}

func checkResults(t *testing.T, got map[string]ScrapeResult, want map[string]struct{ status, err string }) {
	t.Helper()
	for vm, w := range want {
		g, ok := got[vm]
		switch {
		case !ok:
			t.Errorf("%s not scraped", vm)
		case g.Status != w.status:
			t.Errorf("%s: status %s (%v), want %s", vm, g.Status, g.Err, w.status)
		case w.err == "" && g.Err != nil:
			t.Errorf("%s: %v, want no error", vm, g.Err)
		case w.err != "" && (g.Err == nil || !strings.Contains(g.Err.Error(), w.err)):
			t.Errorf("%s: error %v, want it to contain %q", vm, g.Err, w.err)
		}
	}
}

// linePrefix is the start of every scraper line: module, time, caller.
const linePrefix = `common/virtualmachine/vmscraper: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} scraper\.go:`

// checkLog reads sensor's log with GET pods/log and looks for each kind of
// line sensor writes at Info, and for none of the debug ones.
func checkLog(ctx context.Context, t *testing.T, lab *Lab) {
	pods := lab.Client().CoreV1().Pods(lab.Options().RHACSNamespace)
	raw, err := pods.GetLogs(lab.SensorPod(), &corev1.PodLogOptions{Container: "sensor"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("pods/log: %v", err)
	}
	log := string(raw)
	if log != lab.SensorLog() {
		t.Errorf("pods/log differs from what sensor wrote:\n%s\n---\n%s", log, lab.SensorLog())
	}
	for _, re := range []string{
		linePrefix + `364: Info: VMScraper: scraping "vms/rhel9" \(reason=poll backoff=0s\)$`,
		linePrefix + `364: Info: VMScraper: scraping "vms/rhel9-agent-down" \(reason=retry backoff=10s\)$`,
		linePrefix + `490: Warn: VMScraper: dialing roxagent on "vms/fedora-plain" failed: VSOCK dial vms/fedora-plain:818: websocket dial: unable to upgrade streaming request: VSOCK is not attached\.$`,
		linePrefix + `490: Warn: VMScraper: dialing roxagent on "vms/rhel9-on-worker-1" failed: VSOCK dial vms/rhel9-on-worker-1:818: websocket dial: unable to upgrade streaming request: Internal error occurred: dialing virt-handler: dial tcp [0-9.]+:8186: connect: connection refused$`,
		linePrefix + `389: Info: VMScraper: scrape "vms/rhel9-agent-down" failed retryable next=10s$`,
		linePrefix + `389: Info: VMScraper: scrape "vms/rhel9-scanning" failed retryable next=20s$`,
		linePrefix + `535: Info: VMScraper: roxagent on "vms/rhel9-busy" is busy with another request: agent is busy with another request: agent is already serving another request; retry after a backoff$`,
		linePrefix + `(510: Warn: VMScraper: reading report from "vms/rhel9-hung" timed out|` +
			`539: Warn: VMScraper: protocol error for "vms/rhel9-hung" \(possible version mismatch\)): ` +
			`reading response: (context deadline exceeded|reading frame length: read tcp [0-9.:]+->[0-9.:]+: i/o timeout)$`,
		linePrefix + `431: Info: VMScraper: scrape "vms/rhel9" ok outcome=forwarded next=5m0s$`,
		linePrefix + `395: Info: VMScraper: scrape "vms/rhel9" ok outcome=unchanged next=5m0s$`,
		`common/virtualmachine/index: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} handler_impl\.go:71: Warn: Cannot send index report for virtual machine with vsock_cid="108" to Central because Central is not reachable$`,
		linePrefix + `418: Error: VMScraper: sending "vms/rhel9-new" report to Central failed: resource exhausted: Central is not reachable$`,
		linePrefix + `423: Info: VMScraper: scrape "vms/rhel9-new" failed retryable next=10s$`,
	} {
		if !regexp.MustCompile(`(?m)^` + re).MatchString(log) {
			t.Errorf("no line matches %s", re)
		}
	}
	for _, debug := range []string{"has not yet generated a report", "connection closed (agent may be down", "Debug:"} {
		if strings.Contains(log, debug) {
			t.Errorf("log has a debug line (%q), which sensor does not write at Info", debug)
		}
	}
	t.Logf("sensor's log as pods/log returns it:\n%s", log)

	// The kubelet's parameters, as the API server passes them.
	tail := int64(2)
	raw, err = pods.GetLogs(lab.SensorPod(), &corev1.PodLogOptions{Container: "sensor", Timestamps: true, TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("pods/log?timestamps=true&tailLines=2: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	all := strings.Split(strings.TrimSuffix(lab.SensorLog(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("tailLines=2 gave %d lines: %q", len(lines), raw)
	}
	for i, l := range lines {
		ts, rest, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("line %q has no RFC 3339 timestamp: %v", l, err)
		}
		if want := all[len(all)-2+i]; rest != want {
			t.Errorf("tailed line %d: %q, want %q", i, rest, want)
		}
	}
	future := metav1.NewTime(time.Now().Add(time.Hour))
	raw, err = pods.GetLogs(lab.SensorPod(), &corev1.PodLogOptions{Container: "sensor", SinceTime: &future}).DoRaw(ctx)
	if err != nil || len(raw) != 0 {
		t.Errorf("sinceTime an hour ahead: %q, %v; want nothing", raw, err)
	}
}

// followLog follows sensor's log from now on and sees a new round's lines arrive.
func followLog(ctx context.Context, t *testing.T, lab *Lab) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	zero := int64(0)
	stream, err := lab.Client().CoreV1().Pods(lab.Options().RHACSNamespace).
		GetLogs(lab.SensorPod(), &corev1.PodLogOptions{Container: "sensor", Follow: true, TailLines: &zero}).Stream(ctx)
	if err != nil {
		t.Fatalf("pods/log?follow=true: %v", err)
	}
	defer stream.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stream)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	if _, err := lab.Scrape(ctx); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		if strings.Contains(l, `VMScraper: scraping "vms/rhel9"`) {
			return
		}
	}
	t.Errorf("the followed log never showed the new round: %v", ctx.Err())
}

// checkMetrics reads sensor's metrics through the API server's pod proxy.
func checkMetrics(ctx context.Context, t *testing.T, lab *Lab, want map[string]float64, tracked float64) {
	raw, err := lab.Client().CoreV1().RESTClient().Get().AbsPath(lab.SensorMetricsPath()).DoRaw(ctx)
	if err != nil {
		t.Fatalf("GET %s: %v", lab.SensorMetricsPath(), err)
	}
	text := string(raw)
	for _, help := range []string{
		"# HELP rox_sensor_vsock_pull_requests_total Per-VM pull attempts by outcome status",
		"# HELP rox_sensor_vsock_pull_tracked_vms Number of VMs currently tracked for pull-mode scraping",
	} {
		if !strings.Contains(text, help) {
			t.Errorf("no %q in the exposition", help)
		}
	}
	e := testsupport.ParseExposition(t, text)
	// The agent that is down reads EOF three times; the hung one times out
	// three times, each counted as timeout or read_error (see checkHung).
	readErr, _ := e.Value("rox_sensor_vsock_pull_requests_total", "status", StatusReadError)
	timeouts, _ := e.Value("rox_sensor_vsock_pull_requests_total", "status", StatusTimeout)
	if readErr < 3 || readErr+timeouts != 6 {
		t.Errorf("read_error %v and timeout %v, want 3 + 3 between them", readErr, timeouts)
	}
	for status, w := range want {
		if got, ok := e.Value("rox_sensor_vsock_pull_requests_total", "status", status); !ok || got != w {
			t.Errorf("%s = %v (found %v), want %v", testsupport.Describe("rox_sensor_vsock_pull_requests_total", "status", status), got, ok, w)
		}
	}
	if got, _ := e.Value("rox_sensor_vsock_pull_tracked_vms"); got != tracked {
		t.Errorf("rox_sensor_vsock_pull_tracked_vms = %v, want %v", got, tracked)
	}
	if got, _ := e.Value("rox_sensor_virtual_machine_index_reports_sent_total", "status", "central not ready"); got != 1 {
		t.Errorf(`rox_sensor_virtual_machine_index_reports_sent_total{status="central not ready"} = %v, want 1`, got)
	}
}

// TestRBAC shows what sensor's RBAC decides: without RHACS's vsock role and
// without view-cluster the API server refuses the stream, and the chart's
// view-cluster (get on */*) alone allows it.
func TestRBAC(t *testing.T) {
	lab := Start(t, Options{NoVSOCKAccessRole: true, NoViewClusterRole: true, VMIs: []VMI{{Name: "rhel9"}}})
	ctx := t.Context()
	res := scrape(ctx, t, lab)
	checkResults(t, res, map[string]struct{ status, err string }{vmOK: {StatusDialError,
		`virtualmachineinstances.subresources.kubevirt.io "rhel9" is forbidden: User "system:serviceaccount:stackrox:sensor" cannot get resource "virtualmachineinstances/vsock" in API group "subresources.kubevirt.io" in the namespace "vms"`}})

	rb := lab.Client().RbacV1()
	if _, err := rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ViewClusterRole},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "watch", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ViewClusterBinding},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "sensor", Namespace: DefaultRHACSNamespace}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ViewClusterRole}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 10*time.Second, func() (bool, string) {
		res := scrape(ctx, t, lab)
		return res[vmOK].Status == StatusSuccess, res[vmOK].Status + ": " + errString(res[vmOK].Err)
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
