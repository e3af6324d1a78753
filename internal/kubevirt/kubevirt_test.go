package kubevirt

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVMIFrom(t *testing.T) {
	tests := []struct {
		name    string
		obj     string
		want    VMI
		running bool
		vsock   bool
	}{
		{
			name: "running with VSOCK",
			obj: `{"metadata":{"namespace":"vms","name":"rhel9"},"spec":{"domain":{"devices":{"autoattachVSOCK":true}}},
				"status":{"nodeName":"worker-1","phase":"Running","VSOCKCID":123}}`,
			want:    VMI{Namespace: "vms", Name: "rhel9", Node: "worker-1", Phase: "Running", AutoattachVSOCK: true, CID: 123},
			running: true, vsock: true,
		},
		{
			name:    "running without VSOCK",
			obj:     `{"metadata":{"namespace":"vms","name":"fedora"},"spec":{"domain":{"devices":{}}},"status":{"nodeName":"worker-2","phase":"Running"}}`,
			want:    VMI{Namespace: "vms", Name: "fedora", Node: "worker-2", Phase: "Running"},
			running: true,
		},
		{
			name: "VSOCK asked for, no CID yet",
			obj:  `{"metadata":{"namespace":"vms","name":"new"},"spec":{"domain":{"devices":{"autoattachVSOCK":true}}},"status":{"phase":"Scheduling"}}`,
			want: VMI{Namespace: "vms", Name: "new", Phase: "Scheduling", AutoattachVSOCK: true},
		},
		{
			name: "garbage types",
			obj:  `{"metadata":{"name":7},"spec":{"domain":"x"},"status":{"VSOCKCID":-3}}`,
			want: VMI{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj map[string]any
			if err := json.Unmarshal([]byte(tt.obj), &obj); err != nil {
				t.Fatal(err)
			}
			got := VMIFrom(obj)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("VMIFrom (-want +got):\n%s", diff)
			}
			if got.Running() != tt.running || got.HasVSOCK() != tt.vsock {
				t.Errorf("Running %v HasVSOCK %v, want %v %v", got.Running(), got.HasVSOCK(), tt.running, tt.vsock)
			}
		})
	}
	if k := (VMI{Namespace: "vms", Name: "rhel9"}).Key(); k != "vms/rhel9" {
		t.Errorf("Key = %q", k)
	}
	if cid(int64(77)) != 77 || cid("12") != 12 || cid(int64(1)<<33) != 0 {
		t.Error("cid")
	}
}
