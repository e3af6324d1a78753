//go:build e2e && linux

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the harness started. Its output goes to
// <artifacts>/<name>.log (appended to across restarts).
type proc struct {
	name  string
	cmd   *exec.Cmd
	done  chan struct{}
	ready chan struct{} // closed when the process prints a line "ready"
	err   error         // Wait's result, set before done is closed
	log   *os.File
}

// procOpts describes a process to start.
type procOpts struct {
	// netns runs the process in that network namespace (ip netns exec);
	// empty means the node namespace the harness runs in.
	netns string
	args  []string
	env   []string
	// uid, when not zero, runs the process as that user and group (the
	// probe runs as 65532, as in the DaemonSet).
	uid uint32
}

// start starts a process; the harness stops it at the end of the test.
func (h *harness) start(name string, o procOpts) (*proc, error) {
	args := o.args
	if o.netns != "" {
		args = append([]string{"ip", "netns", "exec", o.netns}, args...)
	}
	logf, err := os.OpenFile(filepath.Join(h.artifacts, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stderr = logf
	// Dies with the harness, whatever kills it; run.sh removes what is left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if o.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: o.uid, Gid: o.uid}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), ready: make(chan struct{}), log: logf}
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if line == "ready" {
				once.Do(func() { close(p.ready) })
			}
		}
		io.Copy(logf, stdout)
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p, nil
}

// awaitReadyLine waits until p prints "ready", or fails when it exits first.
func (p *proc) awaitReadyLine(limit time.Duration) error {
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it was ready: %w (see its log)", p.name, p.err)
	case <-time.After(limit):
		return fmt.Errorf("%s not ready after %v", p.name, limit)
	}
}

// awaitReady polls check until it succeeds, p exits or limit passes.
func (p *proc) awaitReady(ctx context.Context, limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %w (last check: %w)", p.name, p.err, err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w", p.name, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// running reports whether p has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to 10 s, then SIGKILL, and waits for the exit.
func (p *proc) stop() error {
	if p == nil || !p.running() {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop on SIGTERM within 10s", p.name)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return p.err
	}
	return nil
}

// run runs a command to completion and returns its combined output.
func run(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
