//go:build linux

package kubevirttest

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestNet checks the namespace on its own: a listener made inside answers
// from the root namespace over the veth, its address is not the root
// namespace's, a second Net gets another index, and Close leaves nothing.
func TestNet(t *testing.T) {
	RequireRoot(t)
	ctx := t.Context()
	n, err := newNet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = n.Close(ctx)
		}
	})
	addr, err := n.AddAddress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, netPrefix) {
		t.Fatalf("address %s outside %s", addr, netRange)
	}
	if _, err := net.Listen("tcp4", addr+":0"); err == nil {
		t.Fatalf("%s can be bound in the root namespace: it should exist only in %s", addr, n.Name)
	}
	l, err := n.Listen(addr + ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp4", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from the root namespace: %v", l.Addr(), err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Close()

	other, err := newNet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if other.Name == n.Name {
		t.Errorf("two labs share %s", n.Name)
	}
	if err := other.Close(ctx); err != nil {
		t.Error(err)
	}

	l.Close()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, x := range []*Net{n, other} {
		if left := x.Leftovers(ctx); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	}
}
