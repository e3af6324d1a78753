package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// mustQuantity parses a resource quantity, failing the test if it does not parse.
func mustQuantity(t *testing.T, s string) resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatalf("parse quantity %q: %v", s, err)
	}
	return q
}

// metav1LabelSelector returns the DaemonSet's selector as a labels.Selector.
func metav1LabelSelector(ds *appsv1.DaemonSet) (labels.Selector, error) {
	return metav1LabelSelectorFrom(ds.Spec.Selector)
}

// metav1LabelSelectorFrom converts an API label selector to a labels.Selector.
func metav1LabelSelectorFrom(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
