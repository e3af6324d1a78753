package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBinaryDependencies keeps what the probe never calls out of the
// binary: client-go's full clientset links every API group, its scheme, its
// apply configurations and the discovery client, and the generic typed
// client's package links the fakes, server-side apply and the OpenAPI
// models. Together they were half of a 52 MB binary, mapped into every
// DaemonSet pod (docs/performance.md). internal/kube/kubeclient is the
// narrow client the probe uses instead.
func TestBinaryDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"k8s.io/client-go/kubernetes",
		"k8s.io/client-go/discovery",
		"k8s.io/client-go/tools/events",
		"k8s.io/client-go/tools/record",
		"k8s.io/client-go/applyconfigurations",
		"k8s.io/client-go/gentype",
		"k8s.io/client-go/testing",
		"k8s.io/apimachinery/pkg/util/managedfields",
		"k8s.io/apimachinery/pkg/util/strategicpatch",
		"k8s.io/kube-openapi/pkg/validation",
		"github.com/google/gnostic-models",
	}
	var groups []string
	for p := range strings.FieldsSeq(string(out)) {
		for _, f := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				t.Errorf("the binary links %s (under %s)", p, f)
			}
		}
		if g, ok := strings.CutPrefix(p, "k8s.io/api/"); ok {
			groups = append(groups, g)
		}
	}
	// The API groups the probe reads or writes, and no other.
	slices.Sort(groups)
	want := []string{"apps/v1", "authorization/v1", "core/v1", "discovery/v1", "events/v1", "networking/v1"}
	if diff := cmp.Diff(want, groups); diff != "" {
		t.Errorf("API groups linked (-want +got):\n%s", diff)
	}
}
