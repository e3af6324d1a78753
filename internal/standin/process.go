package standin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// ProcessInfo is what a stand-in process (ServeProcess) tells the process
// that started it, as one JSON line on its standard output.
type ProcessInfo struct {
	// Sensor is the address of a sensor stand-in whose certificate carries
	// sensor's SANs in namespace stackrox.
	Sensor string `json:"sensor"`
	// Blackhole is the address of a listener that never completes a connection.
	Blackhole string `json:"blackhole"`
	// CAPEM is the CA that issued the sensor stand-in's certificate.
	CAPEM []byte `json:"ca_pem"`
}

// ServeProcess is the body of a stand-in process: it starts a sensor
// stand-in (client certificates verified when offered, as sensor does) and a
// blackhole, writes their ProcessInfo as one JSON line to out, and serves
// until in ends. Each line "requests" read from in is answered on out with
// the number of HTTP and gRPC requests the sensor stand-in has served. A
// benchmark runs the stand-ins in a child process so that the CPU they use
// is not counted as the client's.
func ServeProcess(in io.Reader, out io.Writer) error {
	ca, err := NewCA(CAName)
	if err != nil {
		return err
	}
	cert, err := ca.Issue(LeafOptions{CommonName: "sensor.stackrox", DNSNames: SensorSANs("stackrox")})
	if err != nil {
		return err
	}
	s, err := NewSensor(SensorConfig{Cert: cert, ClientCAs: ca.Pool()})
	if err != nil {
		return err
	}
	defer s.Close()
	hole, err := NewBlackhole("")
	if err != nil {
		return err
	}
	defer hole.Close()
	if err := json.NewEncoder(out).Encode(ProcessInfo{Sensor: s.Addr(), Blackhole: hole.Addr(), CAPEM: ca.PEM()}); err != nil {
		return fmt.Errorf("write process info: %w", err)
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "requests" {
			continue
		}
		if _, err := fmt.Fprintln(out, s.Requests()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Process is a running stand-in process started by StartProcess. Close
// stops it.
type Process struct {
	// Info is what the process announced.
	Info  ProcessInfo
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines *bufio.Scanner
}

// StartProcess starts cmd, a program that calls ServeProcess, and waits for
// its ProcessInfo. cmd's Stdin and Stdout must be unset; its Stderr is
// left as the caller set it.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stand-in process: %w", err)
	}
	p := &Process{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	if !p.lines.Scan() {
		err := p.lines.Err()
		p.Close()
		return nil, fmt.Errorf("stand-in process said nothing: %w", errors.Join(err, io.ErrUnexpectedEOF))
	}
	if err := json.Unmarshal(p.lines.Bytes(), &p.Info); err != nil {
		p.Close()
		return nil, fmt.Errorf("stand-in process info %q: %w", p.lines.Text(), err)
	}
	return p, nil
}

// PID returns the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Requests returns the number of HTTP and gRPC requests the sensor stand-in
// has served so far.
func (p *Process) Requests() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, "requests\n"); err != nil {
		return 0, fmt.Errorf("ask stand-in process: %w", err)
	}
	if !p.lines.Scan() {
		return 0, fmt.Errorf("stand-in process: no answer: %w", errors.Join(p.lines.Err(), io.ErrUnexpectedEOF))
	}
	return strconv.ParseInt(p.lines.Text(), 10, 64)
}

// Close ends the process (its input ends) and waits for it.
func (p *Process) Close() error {
	p.stdin.Close()
	err := p.cmd.Wait()
	if _, ok := errors.AsType[*exec.ExitError](err); ok {
		return fmt.Errorf("stand-in process: %w", err)
	}
	return err
}
