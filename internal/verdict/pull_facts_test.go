package verdict

import (
	"testing"

	"github.com/sensorprobe/sensorprobe/internal/state"
)

// pullNode is a 4.12 cluster in pull mode whose node runs vms.
func pullNode(vms *NodeVMs) *Cluster {
	return &Cluster{Transport: TransportPull, NoRelay: true, Version: "4.12.x-nightly-20260813",
		RelayHostNetwork: new(false), SensorReady: new(true), VMs: vms}
}

// pullCases are the cases of step 4 in pull mode (pull_facts.go).
func pullCases() []decideCase {
	up := []state.PathState{ctl(p("clusterip", ok)), ctl(p("podip", ok)), ctl(p("webhook", ok))}
	blocked := []state.PathState{ctl(p("clusterip", timeout)), ctl(p("podip", timeout)), ctl(p("webhook", ok))}
	handler := func(vms NodeVMs) *NodeVMs {
		vms.VMIsKnown, vms.VirtHandlerKnown, vms.KubeVirtNamespace = true, true, "openshift-cnv"
		if vms.VirtHandlerPod == "" {
			vms.VirtHandlerPod, vms.VirtHandlerReady, vms.VirtHandlerReachable = "openshift-cnv/virt-handler-abcde", true, new(true)
		}
		return &vms
	}
	return []decideCase{
		{
			name:      "pull: VMIs with VSOCK, virt-handler ready and reachable",
			in:        Input{Paths: up, Cluster: pullNode(handler(NodeVMs{Running: []string{"vms/rhel9"}}))},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"pulls VM index reports", "relay checks do not apply"},
		},
		{
			name: "pull: a Running VMI without VSOCK",
			in: Input{Paths: up, Cluster: pullNode(handler(NodeVMs{Running: []string{"vms/fedora", "vms/rhel9"},
				WithoutVSOCK: []string{"vms/fedora"}}))},
			want:      got{Name: VMsWithoutVSOCK, Severity: SeverityWarning},
			wantCause: []string{"1 of the 2 Running VMIs", "vms/fedora", "VSOCK is not attached."},
			wantFix:   []string{"autoattachVSOCK: true", "restart"},
		},
		{
			name: "pull: virt-handler refuses port 8186",
			in: Input{Paths: up, Cluster: pullNode(handler(NodeVMs{Running: []string{"vms/rhel9"},
				VirtHandlerPod: "openshift-cnv/virt-handler-abcde", VirtHandlerReady: true, VirtHandlerReachable: new(false),
				VirtHandlerError: "dial tcp 10.128.2.9:8186: connect: connection refused"}))},
			want:      got{Name: VirtHandlerDown, Severity: SeverityCritical},
			wantCause: []string{"vms/rhel9", "port 8186", "connection refused", "500 dialing virt-handler"},
			wantFix:   []string{"oc -n openshift-cnv get pods -l kubevirt.io=virt-handler"},
		},
		{
			name:      "pull: no virt-handler on this node, and a VMI without VSOCK: the handler first, the VSOCK a note",
			in:        Input{Paths: up, Cluster: pullNode(&NodeVMs{VMIsKnown: true, VirtHandlerKnown: true, Running: []string{"vms/a", "vms/b"}, WithoutVSOCK: []string{"vms/b"}})},
			want:      got{Name: VirtHandlerDown, Severity: SeverityCritical},
			wantCause: []string{"no virt-handler pod runs on this node", "vms/a"},
			notCause:  []string{"vms/b"},
			wantNotes: []string{VMsWithoutVSOCK + ": 1 of the 2"},
		},
		{
			name:     "pull: every Running VMI lacks VSOCK, virt-handler down: virt-api never reaches it",
			in:       Input{Paths: up, Cluster: pullNode(&NodeVMs{VMIsKnown: true, VirtHandlerKnown: true, Running: []string{"vms/b"}, WithoutVSOCK: []string{"vms/b"}})},
			want:     got{Name: VMsWithoutVSOCK, Severity: SeverityWarning},
			notFix:   []string{"virt-handler"},
			notCause: []string{"virt-handler"},
		},
		{
			name:      "pull: the host-network controls blocked: healthy, notes",
			in:        Input{Paths: blocked, Cluster: pullNode(handler(NodeVMs{Running: []string{"vms/rhel9"}}))},
			want:      got{Name: Healthy, Severity: SeverityOK},
			wantNotes: []string{"only control paths fail", "has no push relay"},
		},
		{
			name: "pull: sensor down, a VMI without VSOCK is a note",
			in: Input{Paths: controls(p("clusterip", refused), p("podip", refused), p("webhook", refused)), Cluster: func() *Cluster {
				c := pullNode(handler(NodeVMs{Running: []string{"vms/f"}, WithoutVSOCK: []string{"vms/f"}}))
				c.SensorReady = new(false)
				return c
			}()},
			want:      got{Name: SensorUnavailable, Severity: SeverityCritical},
			wantNotes: []string{VMsWithoutVSOCK + ": 1 of the 1"},
		},
		{
			name: "pull: VMIs not listed (no permission): nothing claimed",
			in:   Input{Paths: up, Cluster: pullNode(&NodeVMs{})},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "pull: virt-handler not listed: its state is not claimed",
			in:   Input{Paths: up, Cluster: pullNode(&NodeVMs{VMIsKnown: true, Running: []string{"vms/rhel9"}})},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
		{
			name: "pull: VMs seen connecting do not escalate (there is no relay)",
			in: Input{Paths: blocked, Cluster: pullNode(handler(NodeVMs{Running: []string{"vms/rhel9"}})),
				VSOCK: &VSOCK{ConnectionsRecent: 3}},
			want: got{Name: Healthy, Severity: SeverityOK},
		},
	}
}

func TestPullFacts(t *testing.T) { runCases(t, pullCases()) }

func TestListSome(t *testing.T) {
	if got := listSome([]string{"a", "b", "c"}, 2); got != "a, b and 1 more" {
		t.Errorf("listSome = %q", got)
	}
}
