package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sensorprobe/sensorprobe/internal/dial"
)

// problems collects configuration errors so that all of them are reported at once.
type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

// durationFlag accepts any text at parse time and is validated afterwards,
// so one run reports every bad value instead of the first.
type durationFlag struct {
	v   time.Duration
	raw string
	set bool
}

func (d *durationFlag) String() string { return d.v.String() }
func (d *durationFlag) Set(s string) error {
	d.raw, d.set = s, true
	return nil
}

func (d *durationFlag) resolve(p *problems, name string, def time.Duration, positive bool) time.Duration {
	if !d.set {
		return def
	}
	v, err := time.ParseDuration(d.raw)
	switch {
	case err != nil:
		p.add("--%s: invalid duration %q (examples: 500ms, 10s, 1m)", name, d.raw)
	case positive && v <= 0:
		p.add("--%s: must be positive, got %q", name, d.raw)
	}
	return v
}

type portFlag struct {
	raw string
	set bool
}

func (f *portFlag) String() string { return f.raw }
func (f *portFlag) Set(s string) error {
	f.raw, f.set = s, true
	return nil
}

func (f *portFlag) resolve(p *problems, name string, def uint32, max uint64) uint32 {
	if !f.set {
		return def
	}
	v, err := strconv.ParseUint(f.raw, 10, 32)
	if err != nil || v > max {
		p.add("--%s: port %q out of range (0 to %d)", name, f.raw, max)
		return 0
	}
	return uint32(v)
}

// stringsFlag collects a repeatable flag's values.
type stringsFlag struct{ raw []string }

func (f *stringsFlag) String() string { return strings.Join(f.raw, ",") }
func (f *stringsFlag) Set(s string) error {
	f.raw = append(f.raw, s)
	return nil
}

// targetsFlag collects --target NAME=HOST:PORT.
type targetsFlag struct{ raw []string }

func (t *targetsFlag) String() string { return strings.Join(t.raw, ",") }
func (t *targetsFlag) Set(s string) error {
	t.raw = append(t.raw, s)
	return nil
}

// ParseTarget parses NAME=HOST:PORT. NAME is a lower-case path name
// ([a-z0-9_-], at most 32 characters, it becomes a metric label); PORT is 1 to 65535.
func ParseTarget(s string) (dial.Target, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || addr == "" {
		return dial.Target{}, fmt.Errorf("want NAME=HOST:PORT, got %q", s)
	}
	if len(name) > 32 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		return dial.Target{}, fmt.Errorf("path name %q: use up to 32 of a-z, 0-9, _ and -", name)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return dial.Target{}, fmt.Errorf("address %q: want HOST:PORT", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return dial.Target{}, fmt.Errorf("address %q: port out of range (1 to 65535)", addr)
	}
	return dial.Target{Name: name, Addr: addr}, nil
}

func newFlagSet(name string, out io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse runs fs.Parse and turns its error into one line naming the flag.
func parse(fs *flag.FlagSet, args []string) error {
	// The flag package prints the usage on every parse error; print it only
	// when asked for (-h, --help), once. A bad flag is one line on stderr.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return ErrHelp
	}
	if err != nil {
		return fmt.Errorf("%w (see %s --help)", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see %s --help)", fs.Arg(0), fs.Name())
	}
	return nil
}
