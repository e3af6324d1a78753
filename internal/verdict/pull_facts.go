package verdict

import (
	"fmt"
	"slices"
	"strings"
)

// Pull mode: step 4 on the RHACS 4.12 line. There is no relay: sensor
// fetches each Running VMI's report through kube-apiserver, virt-api and
// the virt-handler of the VMI's node, over VSOCK. The paths the probe dials
// are controls there (nothing on the host network carries reports); what
// this node contributes to the pull path is its virt-handler and whether
// its VMIs have VSOCK. The probe never dials roxagent itself: the agent
// serves one connection at a time and sensor's scrapes would fail with busy.

// pull reports whether the node is on the pull path with its facts known.
func (p *picture) pull() bool {
	return p.cl != nil && p.cl.Transport == TransportPull
}

// pullFacts adds this node's part of the pull path: on a healthy node a
// virt-handler that cannot be reached or VMIs without VSOCK are the
// verdict; beside a path verdict they are notes.
func pullFacts(base Verdict, p *picture) Verdict {
	base.Notes = append(base.Notes, "RHACS "+orDefault(p.cl.Version, "4.12+")+" pulls VM index reports (sensor scrapes every Running VMI through KubeVirt's vsock subresource): the relay checks do not apply")
	vms := p.cl.VMs
	if vms == nil || !vms.VMIsKnown {
		return base
	}
	var found []Verdict
	if v, ok := virtHandlerDown(vms); ok {
		found = append(found, v)
	}
	if v, ok := vmsWithoutVSOCK(vms); ok {
		found = append(found, v)
	}
	return promote(base, found)
}

// virtHandlerDown: VMIs with VSOCK run here, and sensor reaches them only
// through this node's virt-handler, which is missing, not ready, or whose
// port 8186 does not accept a connection.
func virtHandlerDown(vms *NodeVMs) (Verdict, bool) {
	withVSOCK := len(vms.Running) - len(vms.WithoutVSOCK)
	if withVSOCK <= 0 || !vms.VirtHandlerKnown {
		return Verdict{}, false
	}
	var why string
	switch {
	case vms.VirtHandlerPod == "":
		why = "no virt-handler pod runs on this node"
	case !vms.VirtHandlerReady:
		why = "virt-handler " + vms.VirtHandlerPod + " is not ready"
	case vms.VirtHandlerReachable != nil && !*vms.VirtHandlerReachable:
		why = fmt.Sprintf("virt-handler %s does not accept connections on port 8186 (%s)", vms.VirtHandlerPod, oneLine(vms.VirtHandlerError))
	default:
		return Verdict{}, false
	}
	ns := orDefault(vms.KubeVirtNamespace, "kubevirt")
	subject, verb := runningVMIs(withVSOCK)
	return Verdict{Name: VirtHandlerDown,
		Cause: fmt.Sprintf("%s with VSOCK on this node (%s) %s scraped through this node's virt-handler, and %s: virt-api answers sensor's scrapes with 500 dialing virt-handler and their reports are lost",
			subject, listSome(except(vms.Running, vms.WithoutVSOCK), 5), verb, why),
		Fix: fmt.Sprintf("look at the virt-handler pod of this node (oc -n %s get pods -l kubevirt.io=virt-handler -o wide --field-selector spec.nodeName=<this node>; its events and logs) and at the pod network between virt-api and its pod IP, port 8186; KubeVirt's operator recreates a deleted virt-handler pod", ns)}, true
}

// vmsWithoutVSOCK: sensor scrapes every Running VMI, VSOCK or not; virt-api
// answers a VMI without VSOCK with 400 "VSOCK is not attached.", forever.
func vmsWithoutVSOCK(vms *NodeVMs) (Verdict, bool) {
	if len(vms.WithoutVSOCK) == 0 {
		return Verdict{}, false
	}
	return Verdict{Name: VMsWithoutVSOCK,
		Cause: fmt.Sprintf("%d of the %d Running VMIs on this node have no VSOCK device (%s): sensor scrapes them anyway, virt-api answers \"VSOCK is not attached.\" every time, and they are never scanned",
			len(vms.WithoutVSOCK), len(vms.Running), listSome(vms.WithoutVSOCK, 5)),
		Fix: "set spec.template.spec.domain.devices.autoattachVSOCK: true on each VirtualMachine to scan (KubeVirt's VSOCK feature gate must be on: probe check --cluster checks it) and restart it; a VM that is not to be scanned can stay as it is (probe fix prints the change per VM)"}, true
}

// runningVMIs is the subject "1 Running VMI" or "n Running VMIs" and its
// verb, "is" or "are".
func runningVMIs(n int) (subject, verb string) {
	if n == 1 {
		return "1 Running VMI", "is"
	}
	return fmt.Sprintf("%d Running VMIs", n), "are"
}

// listSome joins up to n of names, saying how many more there are.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// except returns the names of all not in drop.
func except(all, drop []string) []string {
	var out []string
	for _, n := range all {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}
