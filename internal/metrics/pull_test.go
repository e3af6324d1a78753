package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorprobe/sensorprobe/internal/verdict"
)

func TestPullCollector(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name  string
		facts *verdict.NodeVMs
		want  string
	}{
		{name: "outside pull mode", facts: nil, want: ""},
		{name: "VMIs not listed yet", facts: &verdict.NodeVMs{}, want: ""},
		{name: "two VMIs, one without VSOCK, handler reachable",
			facts: &verdict.NodeVMs{VMIsKnown: true, Running: []string{"a/x", "a/y"}, WithoutVSOCK: []string{"a/y"},
				VirtHandlerKnown: true, VirtHandlerPod: "kv/h", VirtHandlerReady: true, VirtHandlerReachable: &yes},
			want: "sensorprobe_virt_handler_up 1\nsensorprobe_vmis_running 2\nsensorprobe_vmis_without_vsock 1\n"},
		{name: "handler refuses",
			facts: &verdict.NodeVMs{VMIsKnown: true, VirtHandlerKnown: true, VirtHandlerPod: "kv/h", VirtHandlerReady: true, VirtHandlerReachable: &no},
			want:  "sensorprobe_virt_handler_up 0\nsensorprobe_vmis_running 0\nsensorprobe_vmis_without_vsock 0\n"},
		{name: "no handler on the node",
			facts: &verdict.NodeVMs{VirtHandlerKnown: true},
			want:  "sensorprobe_virt_handler_up 0\n"},
		{name: "handler ready, not tried yet",
			facts: &verdict.NodeVMs{VirtHandlerKnown: true, VirtHandlerPod: "kv/h", VirtHandlerReady: true},
			want:  ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewPullCollector(func() *verdict.NodeVMs { return tt.facts })
			var b strings.Builder
			for line := range strings.SplitSeq(tt.want, "\n") {
				if line == "" {
					continue
				}
				name := strings.Fields(line)[0]
				b.WriteString("# HELP " + name + " " + map[string]string{
					"sensorprobe_virt_handler_up":    "1 if this node's virt-handler is ready and accepts connections on 8186.",
					"sensorprobe_vmis_running":       "Running VMIs on this node.",
					"sensorprobe_vmis_without_vsock": "Running VMIs on this node without VSOCK: scraped and failing.",
				}[name] + "\n# TYPE " + name + " gauge\n" + line + "\n")
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(b.String())); err != nil {
				t.Error(err)
			}
			if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %v", err, problems)
			}
		})
	}
}
