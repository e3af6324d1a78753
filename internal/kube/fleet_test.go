//go:build linux

package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sensorprobe/sensorprobe/internal/kube/kubetest"
)

// The probe follows its own DaemonSet's desired count, as its
// ServiceAccount with the shipped rules.
func TestWatchFleetAsServiceAccount(t *testing.T) {
	env := sharedKube(t)
	f := newFixture(t, env, "stackrox", 4)
	loadRBAC(t, shippedRBAC).apply(t.Context(), t, f.Client)
	labels := map[string]string{"app.kubernetes.io/name": DefaultProbeDaemonSet}
	ds, err := f.Client.AppsV1().DaemonSets("stackrox").Create(t.Context(), &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultProbeDaemonSet},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.invalid/sensorprobe:test"}}},
			},
		},
	}, metav1.CreateOptions{})
	f.Must("create daemonset", err)
	setDesired := func(n int32) {
		t.Helper()
		ds.Status.DesiredNumberScheduled = n
		ds, err = f.Client.AppsV1().DaemonSets("stackrox").UpdateStatus(t.Context(), ds, metav1.UpdateOptions{})
		f.Must("update daemonset status", err)
	}
	setDesired(3)

	sa := kubetest.NewProbeClient(t, env.ServiceAccountConfig(t.Context(), t, "stackrox", "sensorprobe"))
	var mu sync.Mutex
	var sizes []int
	var errs []error
	got := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = WatchFleet(ctx, sa, FleetConfig{
			Namespace: "stackrox", Name: DefaultProbeDaemonSet,
			OnSize: func(n int) {
				mu.Lock()
				sizes = append(sizes, n)
				mu.Unlock()
				got <- struct{}{}
			},
			OnError: func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			},
		})
	}()
	defer func() { cancel(); <-done }()
	wait := func() {
		t.Helper()
		select {
		case <-got:
		case <-time.After(waitLimit):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no fleet size reported; errors: %v", errs)
		}
	}
	wait()
	setDesired(3) // unchanged: no call
	setDesired(5000)
	wait()
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[0] != 3 || sizes[1] != 5000 || len(errs) != 0 {
		t.Errorf("sizes reported %v, errors %v; want [3 5000] and no error", sizes, errs)
	}
}

// A --fleet.daemonset that names no DaemonSet is reported once, after the
// first list, so the probe says why it shares the budget by a guess.
func TestWatchFleetNoSuchDaemonSet(t *testing.T) {
	env := sharedKube(t)
	errs := make(chan error, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = WatchFleet(ctx, env.ProbeClient(t), FleetConfig{
			Namespace: "stackrox", Name: "no-such-probe",
			OnSize:  func(n int) { t.Errorf("fleet size %d reported for a DaemonSet that does not exist", n) },
			OnError: func(err error) { errs <- err },
		})
	}()
	defer func() { cancel(); <-done }()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "no DaemonSet no-such-probe in namespace stackrox") {
			t.Errorf("error %q does not name the DaemonSet and namespace", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("a missing DaemonSet was never reported")
	}
	select {
	case err := <-errs:
		t.Errorf("reported twice: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
}
