//go:build linux

package kubevirttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The lab's addresses. Lab N (0 to 255, one per running lab on the
// machine) owns 10.215.N.0/24: the root namespace's end of its veth is
// 10.215.N.1, the stand-ins get 10.215.N.2 and up inside network namespace
// sp-pull-N. While the namespace exists the root namespace holds
// `unreachable 10.215.0.0/16 metric 4000+N`, so nothing in the range can
// leave the machine by the default route; the connected /24 on the veth is
// more specific and carries the lab's own traffic.
const (
	netRange     = "10.215.0.0/16"
	netPrefix    = "10.215."
	netNamePfx   = "sp-pull-"
	routeMetric0 = 4000
	// lockDir holds one lock file per lab index: a lab holds an exclusive
	// flock on its file while it runs, and the kernel drops the lock when
	// the process dies, so the next lab can tell a leftover from a live one.
	lockDir = "/run/sensorprobe"
)

// RequireRoot skips t (fails it when the environment variable CI is set)
// unless the test runs as root, which network namespaces need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "the pull-mode lab makes a network namespace and routes: run the test as root (sudo -E go test ...)"
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and the test is not root: %s", msg)
	}
	t.Skip(msg)
}

// Net is one lab's network namespace: a veth from the root namespace and
// private addresses that exist only inside it. Listeners opened with Listen
// live in the namespace; the test process reaches them, as the API server
// does, over the veth. Close removes it all; newNet registers nothing with
// a test, Start does.
type Net struct {
	// Name is the network namespace's name and the root end of the veth.
	Name  string
	index int
	lock  *os.File
	nsFD  int

	mu   sync.Mutex
	next int
}

// newNet claims a free lab index, removing what a dead lab of that index
// left behind, and builds the namespace.
func newNet(ctx context.Context) (*Net, error) {
	if err := os.MkdirAll(lockDir, 0o750); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	sweep(ctx)
	start := os.Getpid() % 256
	for i := range 256 {
		idx := (start + i) % 256
		lock, ok, err := tryLock(idx)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		n := &Net{Name: netNamePfx + strconv.Itoa(idx), index: idx, lock: lock, nsFD: -1, next: 2}
		if err := n.up(ctx); err != nil {
			return nil, errors.Join(err, n.Close(ctx))
		}
		return n, nil
	}
	return nil, fmt.Errorf("no free lab index: 256 labs hold locks in %s", lockDir)
}

// sweep removes what labs that died without cleaning up (killed, or a
// test binary's timeout) left behind: any index whose lock nobody holds.
func sweep(ctx context.Context) {
	locks, _ := filepath.Glob(filepath.Join(lockDir, netNamePfx+"*.lock"))
	for _, path := range locks {
		idx, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), netNamePfx), ".lock"))
		if err != nil || idx < 0 || idx > 255 {
			continue
		}
		lock, ok, err := tryLock(idx)
		if err != nil || !ok {
			continue
		}
		n := &Net{Name: netNamePfx + strconv.Itoa(idx), index: idx, lock: lock, nsFD: -1}
		_ = n.Close(ctx)
	}
}

// tryLock takes lab index idx's lock without waiting; ok is false when
// another live process holds it.
func tryLock(idx int) (*os.File, bool, error) {
	path := filepath.Join(lockDir, netNamePfx+strconv.Itoa(idx)+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600) //nolint:gosec // a path of this file's constants
	if err != nil {
		return nil, false, fmt.Errorf("lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, true, nil
}

func (n *Net) gateway() string { return n.subnet() + ".1" }
func (n *Net) subnet() string  { return netPrefix + strconv.Itoa(n.index) }
func (n *Net) metric() string  { return strconv.Itoa(routeMetric0 + n.index) }

// up removes leftovers of this index (a lab that died without cleaning up),
// then adds the root route, the namespace and the veth, in that order.
func (n *Net) up(ctx context.Context) error {
	if err := n.down(ctx); err != nil {
		return fmt.Errorf("remove leftovers of %s: %w", n.Name, err)
	}
	if err := ip(ctx, "", "route", "add", "unreachable", netRange, "metric", n.metric()); err != nil {
		return err
	}
	if err := ip(ctx, "", "netns", "add", n.Name); err != nil {
		return err
	}
	fd, err := unix.Open(filepath.Join("/run/netns", n.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", n.Name, err)
	}
	n.nsFD = fd
	// IPv6 off before eth0 exists, so it gets no address.
	if err := n.do(func() error {
		return errors.Join(sysctl("net/ipv6/conf/all/disable_ipv6", "1"), sysctl("net/ipv6/conf/default/disable_ipv6", "1"))
	}); err != nil {
		return err
	}
	const link, add, up, eth0 = "link", "add", "up", "eth0"
	if err := errors.Join(ip(ctx, n.Name, link, "set", "lo", up),
		ip(ctx, "", link, add, n.Name, "type", "veth", "peer", "name", eth0, "netns", n.Name)); err != nil {
		return err
	}
	if err := sysctl("net/ipv6/conf/"+n.Name+"/disable_ipv6", "1"); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"", "addr", add, n.gateway() + "/24", "dev", n.Name},
		{"", link, "set", n.Name, up},
		{n.Name, link, "set", eth0, up},
		{n.Name, "route", add, "unreachable", "default"},
	} {
		if err := ip(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// AddAddress gives the namespace's eth0 the next free address of the lab's
// /24 and returns it.
func (n *Net) AddAddress(ctx context.Context) (string, error) {
	n.mu.Lock()
	if n.next > 254 {
		n.mu.Unlock()
		return "", fmt.Errorf("%s: no addresses left", n.Name)
	}
	a := n.subnet() + "." + strconv.Itoa(n.next)
	n.next++
	n.mu.Unlock()
	if err := ip(ctx, n.Name, "addr", "add", a+"/24", "dev", "eth0"); err != nil {
		return "", err
	}
	return a, nil
}

// Listen opens a TCP listener on addr inside the namespace. The socket stays
// in the namespace it was made in; serve it from any goroutine. The caller
// closes it.
func (n *Net) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s in %s: %w", addr, n.Name, err)
	}
	return l, nil
}

// do runs f on an OS thread of its own that has entered the namespace, then
// returns the thread to the namespace it came from. A thread that cannot
// go back stays locked, and Go ends it with its goroutine.
func (n *Net) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(n.nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave %s: %w", n.Name, err))
			return // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Close deletes the namespace (its end of the veth, and so the pair, goes
// with it), then the root route, then drops the lab index's lock. What is
// gone already is skipped.
func (n *Net) Close(ctx context.Context) error {
	if n.nsFD >= 0 {
		_ = unix.Close(n.nsFD)
		n.nsFD = -1
	}
	err := n.down(ctx)
	if n.lock != nil {
		_ = n.lock.Close() // releases the flock
		n.lock = nil
	}
	return err
}

func (n *Net) down(ctx context.Context) error {
	var errs []error
	if _, err := os.Stat(filepath.Join("/run/netns", n.Name)); err == nil {
		errs = append(errs, ip(ctx, "", "netns", "del", n.Name))
	}
	// The kernel destroys the namespace's devices, and so the veth pair,
	// shortly after the namespace goes; one left after that (its peer moved
	// elsewhere) is deleted here.
	if !waitGone(ctx, n.Name) {
		if err := ip(ctx, "", "link", "del", n.Name); err != nil && !waitGone(ctx, n.Name) {
			errs = append(errs, err)
		}
	}
	if n.routeExists(ctx) {
		errs = append(errs, ip(ctx, "", "route", "del", "unreachable", netRange, "metric", n.metric()))
	}
	return errors.Join(errs...)
}

// waitGone waits up to 5 s for interface name to vanish from the root
// namespace and reports whether it did.
func waitGone(ctx context.Context, name string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := net.InterfaceByName(name); err != nil {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Leftovers lists what a lab of this Net's index would leave behind:
// namespace, veth, root route. Empty after Close.
func (n *Net) Leftovers(ctx context.Context) []string {
	var left []string
	if _, err := os.Stat(filepath.Join("/run/netns", n.Name)); err == nil {
		left = append(left, "network namespace "+n.Name)
	}
	if _, err := net.InterfaceByName(n.Name); err == nil {
		left = append(left, "link "+n.Name)
	}
	if n.routeExists(ctx) {
		left = append(left, "route unreachable "+netRange+" metric "+n.metric())
	}
	return left
}

// routeExists reports whether the root namespace has this lab's unreachable route.
func (n *Net) routeExists(ctx context.Context) bool {
	out, err := exec.CommandContext(ctx, "ip", "route", "show", "type", "unreachable", netRange, "metric", n.metric()).Output() //nolint:gosec // ip with arguments this file builds
	return err == nil && len(bytes.TrimSpace(out)) > 0
}

// ip runs `ip [-n ns] args...`.
func ip(ctx context.Context, ns string, args ...string) error {
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput() //nolint:gosec // ip with arguments this file builds
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// sysctl writes value to /proc/sys/key in the calling thread's network
// namespace (the root one, or the lab's inside do). A kernel without IPv6
// has no such key, which is as good as disabled.
func sysctl(key, value string) error {
	err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o600)
	if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(key, "net/ipv6/") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
