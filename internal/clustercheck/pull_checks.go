package clustercheck

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sensorprobe/sensorprobe/internal/kube"
	"github.com/sensorprobe/sensorprobe/internal/kubevirt"
	"github.com/sensorprobe/sensorprobe/internal/scraperlog"
)

// The checks of the pull path, in the order a scrape crosses it.
const (
	CheckTransport      = "vm-transport"
	CheckSubresourceAPI = "kubevirt-vsock-api"
	CheckSensorRBAC     = "sensor-vsock-rbac"
	CheckVirtHandler    = "virt-handler"
	CheckScraper        = "sensor-scraper"
)

// pullChecks are the pull path's checks, after the KubeVirt ones.
func (m *Model) pullChecks() []Result {
	return []Result{m.checkTransport(), m.checkSubresourceAPI(), m.checkSensorRBAC(), m.checkVirtHandler(), m.checkScraper()}
}

// notPull is the result of a pull check on a cluster not in pull mode.
func (m *Model) notPull(name string) (Result, bool) {
	if m.pullMode() {
		return Result{}, false
	}
	ev := "push mode: VMs send reports to the relay; sensor scrapes no VM"
	switch m.Transport() {
	case kube.TransportOff:
		ev = "VM scanning is off"
	case kube.TransportUnknown:
		ev = "the RHACS version is unknown (no collector DaemonSet)"
	}
	return Result{Name: name, Status: NotApplicable, Evidence: ev}, true
}

func (m *Model) checkTransport() Result {
	v := orUnknown(m.Relay.Version)
	switch t := m.Transport(); {
	case t == kube.TransportPull:
		return Result{Name: CheckTransport, Status: Pass, Evidence: "pull (RHACS " + v + ", sensor's ROX_VIRTUAL_MACHINES on): sensor scrapes every Running VMI through KubeVirt's vsock subresource"}
	case t == kube.TransportPush:
		return Result{Name: CheckTransport, Status: Pass, Evidence: "push (RHACS " + v + "): VMs send reports to the relay in collector's compliance container"}
	case m.pullLine() && len(m.runningVMIs()) > 0:
		r := Result{Name: CheckTransport, Status: Fail,
			Evidence: fmt.Sprintf("RHACS %s pulls reports only with ROX_VIRTUAL_MACHINES on sensor, which is %s; %d Running VMIs are not scanned", v, orUnknown(m.FlagState()[kube.SensorDeployment]), len(m.runningVMIs())),
			Fix:      "enable VM scanning: SecuredCluster spec.virtualMachines.mode: Enabled, or the secured-cluster chart's virtualMachines.enabled: true (it also creates sensor's vsock RBAC); probe fix prints the change"}
		return r
	case t == kube.TransportOff:
		return Result{Name: CheckTransport, Status: NotApplicable, Evidence: "VM scanning is off (RHACS " + v + ")"}
	}
	return Result{Name: CheckTransport, Status: NotApplicable, Evidence: "the RHACS version is unknown (no collector DaemonSet)"}
}

func (m *Model) checkSubresourceAPI() Result {
	if r, ok := m.notPull(CheckSubresourceAPI); ok {
		return r
	}
	a := m.Pull.APIService
	switch {
	case a.Denied():
		return denied(CheckSubresourceAPI, a.Access)
	case a.Missing():
		return Result{Name: CheckSubresourceAPI, Status: Fail, Evidence: "no APIService " + kubevirt.SubresourceAPIService + ": KubeVirt's virt-api is not registered, every scrape fails with 404",
			Fix: "install or repair KubeVirt (OpenShift Virtualization): virt-operator registers the APIService with virt-api"}
	case !a.Access.OK():
		return readErr(CheckSubresourceAPI, a.Access)
	}
	status, msg := apiServiceAvailable(a.Value)
	if status == "True" {
		return Result{Name: CheckSubresourceAPI, Status: Pass, Evidence: "APIService " + kubevirt.SubresourceAPIService + " Available"}
	}
	return Result{Name: CheckSubresourceAPI, Status: Fail,
		Evidence: fmt.Sprintf("APIService %s not Available (%s): kube-apiserver cannot reach virt-api, every scrape fails", kubevirt.SubresourceAPIService, orUnknown(msg)),
		Fix:      "check virt-api in " + m.Pull.KubeVirtNamespace + " (its pods, its Service's endpoints) and the network from the API server to it"}
}

func (m *Model) checkSensorRBAC() Result {
	if r, ok := m.notPull(CheckSensorRBAC); ok {
		return r
	}
	a := m.Pull.SensorAccess
	switch {
	case a.Denied():
		return denied(CheckSensorRBAC, a.Access)
	case !a.Access.OK():
		return readErr(CheckSensorRBAC, a.Access)
	case len(a.Value) == 0:
		return Result{Name: CheckSensorRBAC, Status: NotApplicable, Evidence: "no namespace runs a VMI"}
	}
	var allowed, refused []string
	for _, ns := range slices.Sorted(maps.Keys(a.Value)) {
		if a.Value[ns] {
			allowed = append(allowed, ns)
		} else {
			refused = append(refused, ns)
		}
	}
	user := "system:serviceaccount:" + m.ns() + ":" + kube.SensorDeployment
	if len(refused) == 0 {
		return Result{Name: CheckSensorRBAC, Status: Pass, Evidence: user + " may get virtualmachineinstances/vsock in " + strings.Join(allowed, ", ")}
	}
	return Result{Name: CheckSensorRBAC, Status: Fail,
		Evidence: fmt.Sprintf("the API server refuses %s get virtualmachineinstances/vsock (subresources.kubevirt.io) in %s: virt-api answers sensor's scrapes there with 403", user, strings.Join(refused, ", ")),
		Fix:      "bind sensor to ClusterRole " + vsockAccessName(m.ns()) + " (get virtualmachineinstances/vsock in subresources.kubevirt.io), as RHACS does with virtualMachines enabled: probe fix --apply creates both"}
}

func (m *Model) checkVirtHandler() Result {
	if r, ok := m.notPull(CheckVirtHandler); ok {
		return r
	}
	a := m.Pull.VirtHandlers
	switch {
	case a.Denied():
		return denied(CheckVirtHandler, a.Access)
	case !a.Access.OK():
		return readErr(CheckVirtHandler, a.Access)
	}
	// A Ready pod can still refuse virt-api on its port (the process
	// restarting, a firewall or NetworkPolicy before port 8186): sensor's
	// latest scrapes say so.
	unreachable := map[string]string{}
	for _, r := range m.VMTable() {
		if strings.HasSuffix(r.Outcome, "/"+string(scraperlog.CauseHandler)) && unreachable[r.Node] == "" {
			unreachable[r.Node] = r.VM
		}
	}
	var nodes, bad []string
	for _, v := range m.runningVMIs() {
		if !v.HasVSOCK() || v.Node == "" || slices.Contains(nodes, v.Node) {
			continue
		}
		nodes = append(nodes, v.Node)
		switch pod, ready := m.virtHandlerOn(v.Node); {
		case pod == "":
			bad = append(bad, v.Node+" (none)")
		case !ready:
			bad = append(bad, v.Node+" ("+pod+" not ready)")
		case unreachable[v.Node] != "":
			bad = append(bad, v.Node+" ("+pod+" ready, but sensor's latest scrape of "+unreachable[v.Node]+" could not reach it)")
		}
	}
	slices.Sort(nodes)
	slices.Sort(bad)
	switch {
	case len(nodes) == 0:
		return Result{Name: CheckVirtHandler, Status: NotApplicable, Evidence: "no Running VMI with VSOCK"}
	case len(bad) == 0:
		return Result{Name: CheckVirtHandler, Status: Pass, Evidence: fmt.Sprintf("virt-handler ready on the %d nodes with Running VMIs with VSOCK (%s)", len(nodes), strings.Join(nodes, ", "))}
	}
	return Result{Name: CheckVirtHandler, Status: Fail,
		Evidence: "virt-handler not serving nodes with Running VMIs with VSOCK: " + strings.Join(bad, ", ") + "; virt-api answers their scrapes with 500 dialing virt-handler",
		Fix:      "kubectl -n " + m.Pull.KubeVirtNamespace + " get pods -l " + kubevirt.VirtHandlerSelector + " -o wide; look at the events and logs of those pods (the probe on each such node names it too)"}
}

func (m *Model) checkScraper() Result {
	if r, ok := m.notPull(CheckScraper); ok {
		return r
	}
	lg, mt := m.Pull.ScraperLog, m.Pull.ScraperMetrics
	if !lg.Access.OK() && !mt.Access.OK() {
		if lg.Denied() || mt.Denied() {
			r := denied(CheckScraper, lg.Access)
			if !lg.Denied() {
				r = denied(CheckScraper, mt.Access)
			}
			return r
		}
		return Result{Name: CheckScraper, Status: NotApplicable, Evidence: "sensor's log and metrics could not be read: " + firstErr(lg.Access, mt.Access)}
	}
	var ev []string
	if mt.Access.OK() {
		ev = append(ev, "sensor's "+pullRequestsMetric+": "+countsText(mt.Value))
	} else {
		ev = append(ev, "metrics port not reachable ("+firstErr(mt.Access)+"; RHACS exposes it with exposeMonitoring)")
	}
	rows := m.VMTable()
	var failing []string
	for _, r := range rows {
		if o := scraperlog.Status(strings.Split(r.Outcome, "/")[0]); o.Failed() {
			failing = append(failing, r.VM+" "+r.Outcome)
		}
	}
	if lg.Access.OK() {
		ev = append(ev, fmt.Sprintf("log: %d scraper lines, latest outcome of %d VMs", lg.Value.Lines, len(lg.Value.Latest)))
	}
	if len(failing) == 0 {
		return Result{Name: CheckScraper, Status: Pass, Evidence: strings.Join(ev, "; ")}
	}
	return Result{Name: CheckScraper, Status: Fail,
		Evidence: "sensor's latest scrape failed for " + strings.Join(failing, ", ") + "; " + strings.Join(ev, "; "),
		Fix:      scraperFix(failing)}
}

// scraperFix says what to do by the failures' kinds.
func scraperFix(failing []string) string {
	has := func(s string) bool {
		return slices.ContainsFunc(failing, func(f string) bool { return strings.Contains(f, s) })
	}
	var fixes []string
	if has(string(scraperlog.CauseNoVSOCK)) {
		fixes = append(fixes, "attach VSOCK to the VMs named (autoattachVSOCK: true, then restart them; probe fix prints it per VM)")
	}
	if has(string(scraperlog.CauseRBAC)) {
		fixes = append(fixes, "grant sensor get on virtualmachineinstances/vsock (see "+CheckSensorRBAC+")")
	}
	if has(string(scraperlog.CauseHandler)) {
		fixes = append(fixes, "repair virt-handler on their nodes (see "+CheckVirtHandler+")")
	}
	if has(string(scraperlog.AgentDown)) || has(string(scraperlog.ReadError)) {
		fixes = append(fixes, "start roxagent in those VMs in pull mode (roxagent serve --port 818; a VM still running the 4.11 push agent, roxagent --daemon, serves nothing)")
	}
	if has(string(scraperlog.SendError)) {
		fixes = append(fixes, "restore sensor's connection to Central (sensor's log; Central's health)")
	}
	if has(string(scraperlog.Busy)) || has(string(scraperlog.Timeout)) {
		fixes = append(fixes, "busy or slow agents: another client is talking to roxagent, or the VM is overloaded; sensor retries with backoff")
	}
	if len(fixes) == 0 {
		return "read sensor's log for the VMs named (kubectl logs deploy/sensor | grep VMScraper)"
	}
	return strings.Join(fixes, "; ")
}

// countsText renders counts by status, largest first.
func countsText(c map[string]float64) string {
	if len(c) == 0 {
		return "no scrapes yet"
	}
	keys := slices.Sorted(maps.Keys(c))
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case c[a] > c[b]:
			return -1
		case c[a] < c[b]:
			return 1
		}
		return 0
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %g", k, c[k])
	}
	return strings.Join(parts, ", ")
}

func firstErr(as ...Access) string {
	for _, a := range as {
		if a.Err != nil && !errors.Is(a.Err, errNotPull) {
			return a.Err.Error()
		}
	}
	return "unknown error"
}

// vsockAccessName is RHACS's name of sensor's vsock ClusterRole in
// namespace ns (the chart's srox.globalResourceName): stackrox:vsock-access
// in stackrox, stackrox-<ns>:vsock-access elsewhere.
func vsockAccessName(ns string) string {
	return globalPrefix(ns) + ":vsock-access"
}

func globalPrefix(ns string) string {
	if ns == kube.DefaultNamespace {
		return "stackrox"
	}
	return "stackrox-" + strings.TrimPrefix(ns, "stackrox-")
}

// checkVMsPull: sensor scrapes every Running VMI, and one without VSOCK
// fails forever ("VSOCK is not attached."): each is named.
func (m *Model) checkVMsPull() Result {
	running := m.runningVMIs()
	var without, with []string
	for _, v := range running {
		if v.HasVSOCK() {
			with = append(with, v.Key()+"@"+orUnknown(v.Node))
		} else {
			without = append(without, v.Key()+"@"+orUnknown(v.Node))
		}
	}
	switch {
	case len(running) == 0:
		return Result{Name: CheckVMs, Status: NotApplicable, Evidence: "no Running VirtualMachineInstance"}
	case len(without) == 0:
		return Result{Name: CheckVMs, Status: Pass, Evidence: fmt.Sprintf("all %d Running VMIs have VSOCK: %s", len(running), strings.Join(with, ", "))}
	}
	return Result{Name: CheckVMs, Status: Fail,
		Evidence: fmt.Sprintf("%d of %d Running VMIs have no VSOCK and fail every scrape (virt-api: VSOCK is not attached.): %s", len(without), len(running), strings.Join(without, ", ")),
		Fix:      "set spec.template.spec.domain.devices.autoattachVSOCK: true on each VirtualMachine to scan and restart it (probe fix prints the change per VM; the VSOCK feature gate must be on)"}
}
