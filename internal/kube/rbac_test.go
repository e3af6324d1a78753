//go:build linux

package kube

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// shippedRBAC is the file the manifests ship and these tests apply.
const shippedRBAC = "../../deploy/base/rbac.yaml"

// rbacObjects are the objects in an RBAC manifest.
type rbacObjects struct {
	serviceAccounts     []*corev1.ServiceAccount
	roles               []*rbacv1.Role
	roleBindings        []*rbacv1.RoleBinding
	clusterRoles        []*rbacv1.ClusterRole
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
}

// loadRBAC parses a multi-document YAML manifest. Any kind other than the
// five RBAC ones fails the test, so the file cannot grow something the test
// silently ignores.
func loadRBAC(t *testing.T, path string) rbacObjects {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var o rbacObjects
	for doc := range bytes.SplitSeq(b, []byte("\n---")) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		strict := func(into any) {
			if err := yaml.UnmarshalStrict(doc, into); err != nil {
				t.Fatalf("%s: %s: %v", path, tm.Kind, err)
			}
		}
		switch tm.Kind {
		case "":
			continue
		case "ServiceAccount":
			v := &corev1.ServiceAccount{}
			strict(v)
			o.serviceAccounts = append(o.serviceAccounts, v)
		case "Role":
			v := &rbacv1.Role{}
			strict(v)
			o.roles = append(o.roles, v)
		case "RoleBinding":
			v := &rbacv1.RoleBinding{}
			strict(v)
			o.roleBindings = append(o.roleBindings, v)
		case "ClusterRole":
			v := &rbacv1.ClusterRole{}
			strict(v)
			o.clusterRoles = append(o.clusterRoles, v)
		case "ClusterRoleBinding":
			v := &rbacv1.ClusterRoleBinding{}
			strict(v)
			o.clusterRoleBindings = append(o.clusterRoleBindings, v)
		default:
			t.Fatalf("%s: unexpected kind %q", path, tm.Kind)
		}
	}
	if len(o.serviceAccounts) != 1 {
		t.Fatalf("%s: %d ServiceAccounts, want 1", path, len(o.serviceAccounts))
	}
	return o
}

// moveTo returns the objects with every namespace (and the subjects of the
// bindings) moved from their namespace to ns, so one API server can hold
// several variants of the same manifest.
func (o rbacObjects) moveTo(ns string) rbacObjects {
	var c rbacObjects
	for _, v := range o.serviceAccounts {
		v = v.DeepCopy()
		v.Namespace = ns
		c.serviceAccounts = append(c.serviceAccounts, v)
	}
	for _, v := range o.roles {
		v = v.DeepCopy()
		v.Namespace = ns
		c.roles = append(c.roles, v)
	}
	for _, v := range o.roleBindings {
		v = v.DeepCopy()
		v.Namespace = ns
		for i := range v.Subjects {
			v.Subjects[i].Namespace = ns
		}
		c.roleBindings = append(c.roleBindings, v)
	}
	for _, v := range o.clusterRoles {
		v = v.DeepCopy()
		v.Name += "-" + ns
		c.clusterRoles = append(c.clusterRoles, v)
	}
	for _, v := range o.clusterRoleBindings {
		v = v.DeepCopy()
		v.Name += "-" + ns
		v.RoleRef.Name += "-" + ns
		for i := range v.Subjects {
			v.Subjects[i].Namespace = ns
		}
		c.clusterRoleBindings = append(c.clusterRoleBindings, v)
	}
	return c
}

// withoutRule returns the objects with every Role rule that grants resource dropped.
func (o rbacObjects) withoutRule(resource string) rbacObjects {
	c := o.moveTo(o.serviceAccounts[0].Namespace)
	for _, r := range c.roles {
		r.Rules = slices.DeleteFunc(r.Rules, func(p rbacv1.PolicyRule) bool { return slices.Contains(p.Resources, resource) })
	}
	return c
}

func (o rbacObjects) apply(ctx context.Context, t *testing.T, c kubernetes.Interface) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("apply %s: %v", what, err)
		}
	}
	for _, v := range o.serviceAccounts {
		_, err := c.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		check("serviceaccount "+v.Name, err)
	}
	for _, v := range o.roles {
		_, err := c.RbacV1().Roles(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		check("role "+v.Name, err)
	}
	for _, v := range o.roleBindings {
		_, err := c.RbacV1().RoleBindings(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
		check("rolebinding "+v.Name, err)
	}
	for _, v := range o.clusterRoles {
		_, err := c.RbacV1().ClusterRoles().Create(ctx, v, metav1.CreateOptions{})
		check("clusterrole "+v.Name, err)
	}
	for _, v := range o.clusterRoleBindings {
		_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, v, metav1.CreateOptions{})
		check("clusterrolebinding "+v.Name, err)
	}
}
