package kubeclient

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestGroupPaths checks each group's REST client against the API server's
// paths (a wrong APIPath or GroupVersion would 404 every call).
func TestGroupPaths(t *testing.T) {
	c, err := NewForConfig(&rest.Config{Host: "https://api.example.invalid:6443"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client rest.Interface
		res    string
		want   string
	}{
		{"core", c.CoreV1().RESTClient(), "pods", "/api/v1/namespaces/stackrox/pods"},
		{"apps", c.AppsV1().RESTClient(), "daemonsets", "/apis/apps/v1/namespaces/stackrox/daemonsets"},
		{"discovery", c.discovery, "endpointslices", "/apis/discovery.k8s.io/v1/namespaces/stackrox/endpointslices"},
		{"networking", c.networking, "networkpolicies", "/apis/networking.k8s.io/v1/namespaces/stackrox/networkpolicies"},
		{"authorization", c.authorization, "selfsubjectaccessreviews", "/apis/authorization.k8s.io/v1/namespaces/stackrox/selfsubjectaccessreviews"},
		{"events", c.events, "events", "/apis/events.k8s.io/v1/namespaces/stackrox/events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.client.Get().Namespace("stackrox").Resource(tt.res).URL().Path; got != tt.want {
				t.Errorf("path = %q, want %q", got, tt.want)
			}
		})
	}
}
