// Package scraperlog reads sensor's VM scraper log (RHACS 4.12 line, pull
// mode): which VMs sensor scraped, how each attempt ended and when the next
// is due, from the lines sensor writes at its default level, Info.
//
// The format strings are sensor's, from
// sensor/common/virtualmachine/vmscraper/scraper.go of stackrox/stackrox at
// bed4a7b2427 (2026-08-22); %q is the VM as namespace/name, quoted as Go
// quotes strings. A line is a RHACS console log line ("<module>: <time>
// <file>:<line>: <Level>: <message>"), possibly behind the kubelet's
// RFC 3339 timestamp when read with timestamps=true. At Info, sensor logs
// the start and the end of every attempt and the cause of most failures;
// the connection closed by the agent (read_error) and the agent without a
// report yet (not_ready) are logged at Debug only, so an attempt that fails
// with no cause line in between is one of those two: "agent_down".
package scraperlog

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status is how an attempt ended, in sensor's words
// (rox_sensor_vsock_pull_requests_total{status}) where it has them.
type Status string

// The statuses.
const (
	Success       Status = "success"
	Unchanged     Status = "unchanged"
	DialError     Status = "dial_error"
	ReadError     Status = "read_error"
	Timeout       Status = "timeout"
	Busy          Status = "busy"
	UnknownMethod Status = "unknown_method"
	InvalidReport Status = "invalid_report"
	SendError     Status = "send_error"
	// AgentDown is a failure whose cause sensor logs at Debug only: the
	// agent closed the connection at once (read_error: roxagent not
	// running, or the VM still runs the 4.11 push agent) or has no report
	// yet (not_ready).
	AgentDown Status = "agent_down"
)

// Failed reports whether s is a failed attempt.
func (s Status) Failed() bool { return s != Success && s != Unchanged && s != "" }

// Cause refines a dial_error by the error text sensor quotes, which is
// virt-api's or the API server's answer.
type Cause string

// The causes of a failed dial.
const (
	CauseNone       Cause = ""
	CauseNoVSOCK    Cause = "vsock_not_attached"
	CauseRBAC       Cause = "rbac_denied"
	CauseHandler    Cause = "virt_handler_unreachable"
	CauseNotRunning Cause = "vmi_not_running"
	CauseAPIService Cause = "subresource_api_unavailable"
)

// causeOf classifies the error text of a failed dial.
func causeOf(err string) Cause {
	switch {
	case strings.Contains(err, "VSOCK is not attached"):
		return CauseNoVSOCK
	case strings.Contains(err, `"virtualmachineinstances/vsock"`) && strings.Contains(err, "forbidden"),
		strings.Contains(err, "forbidden") && strings.Contains(err, "subresources.kubevirt.io"):
		return CauseRBAC
	case strings.Contains(err, "dialing virt-handler"), strings.Contains(err, "No virt-handler on node"),
		strings.Contains(err, ":8186: "):
		// virt-api: 500 "Internal error occurred: dialing virt-handler: …" (the
		// newest KubeVirt drops the prefix: the pod address, port 8186, stays),
		// 400 "No virt-handler on node … found".
		return CauseHandler
	case strings.Contains(err, "Unable to connect to VirtualMachineInstance because phase is"):
		return CauseNotRunning
	case strings.Contains(err, "the server could not find the requested resource"),
		strings.Contains(err, "service unavailable"), strings.Contains(err, "503 Service Unavailable"):
		return CauseAPIService
	}
	return CauseNone
}

// Attempt is the latest attempt on one VM.
type Attempt struct {
	// VM is namespace/name.
	VM string
	// At is when the attempt started (the line's timestamp; zero when the
	// log has none).
	At time.Time
	// Status is how it ended; "" while it has not ended yet.
	Status Status
	// Cause refines a dial_error.
	Cause Cause
	// Detail is the error text sensor logged for it, on one line.
	Detail string
	// Next is how long until sensor's next attempt, as sensor logged it (0
	// when not logged).
	Next time.Duration
}

// NextAt is when the next attempt is due; zero when not known.
func (a Attempt) NextAt() time.Time {
	if a.At.IsZero() || a.Next == 0 {
		return time.Time{}
	}
	return a.At.Add(a.Next)
}

// Summary is what a log says: the latest attempt per VM and the count of
// ended attempts per status.
type Summary struct {
	// Latest are the latest attempts, sorted by VM.
	Latest []Attempt
	// Counts counts the ended attempts by status.
	Counts map[Status]int
	// Lines counts the scraper's lines read.
	Lines int
}

// Read reads a log and summarises the scraper's lines in it.
func Read(r io.Reader) (Summary, error) {
	s := Summary{Counts: map[Status]int{}}
	latest := map[string]*Attempt{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l, ok := Parse(sc.Text())
		if !ok {
			continue
		}
		s.Lines++
		a := latest[l.VM]
		switch {
		case l.Kind == KindStart:
			latest[l.VM] = &Attempt{VM: l.VM, At: l.At}
		case a == nil:
			// The attempt began before the log does: keep what the line says.
			a = &Attempt{VM: l.VM, At: l.At}
			latest[l.VM] = a
			fallthrough
		default:
			a.apply(l, s.Counts)
		}
	}
	for _, a := range latest {
		s.Latest = append(s.Latest, *a)
	}
	slices.SortFunc(s.Latest, func(a, b Attempt) int { return strings.Compare(a.VM, b.VM) })
	return s, sc.Err()
}

// apply adds line l to the attempt and, when it ends the attempt, counts it.
func (a *Attempt) apply(l Line, counts map[Status]int) {
	switch l.Kind {
	case KindCause:
		if a.Status == "" || a.Status == AgentDown {
			a.Status, a.Cause, a.Detail = l.Status, causeOf(l.Detail), l.Detail
		}
	case KindEnd:
		switch {
		case l.Status != "":
			a.Status = l.Status
		case a.Status == "":
			// Failed with no cause at Info: read_error or not_ready (Debug).
			a.Status = AgentDown
		}
		a.Next = l.Next
		counts[a.Status]++
	}
}

// Kind is what a line says of an attempt.
type Kind int

// The kinds of line.
const (
	// KindStart: "scraping %q".
	KindStart Kind = iota + 1
	// KindCause: a failure's cause (Status set, Detail the error).
	KindCause
	// KindEnd: "scrape %q ok|failed … next=…" (Status set for ok outcomes).
	KindEnd
)

// Line is one scraper line.
type Line struct {
	Kind   Kind
	VM     string
	Status Status
	Detail string
	Next   time.Duration
	At     time.Time
}

// agentOn begins the messages about one VM's agent.
const agentOn = "VMScraper: roxagent on "

// The message prefixes and what they mean, as sensor writes them (Info,
// Warn or Error level; the format string in the comment).
var causes = []struct {
	prefix, after string
	status        Status
}{
	{"VMScraper: dialing roxagent on ", " timed out: ", Timeout},                    // Warn "VMScraper: dialing roxagent on %q timed out: %v"
	{"VMScraper: dialing roxagent on ", " failed: ", DialError},                     // Warn "VMScraper: dialing roxagent on %q failed: %v"
	{"VMScraper: reading report from ", " timed out: ", Timeout},                    // Warn "VMScraper: reading report from %q timed out: %v"
	{agentOn, " is busy with another request: ", Busy},                              // Info "VMScraper: roxagent on %q is busy with another request: %v"
	{agentOn, " does not support the GetReport method", UnknownMethod},              // Warn
	{agentOn, " reported an internal error: ", ReadError},                           // Warn "... reported an internal error: %v"
	{"VMScraper: protocol error for ", " (possible version mismatch): ", ReadError}, // Warn "VMScraper: protocol error for %q (possible version mismatch): %v"
	{"VMScraper: sending ", " report to Central failed: ", SendError},               // Error "VMScraper: sending %q report to Central failed: %v"
}

// Parse reads one log line; ok is false for a line that is not the scraper's.
func Parse(line string) (l Line, ok bool) {
	at, rest := timestamp(line)
	i := strings.Index(rest, "VMScraper: ")
	if i < 0 {
		return Line{}, false
	}
	msg := rest[i:]
	l.At = at
	if vm, tail, ok := quoted(msg, "VMScraper: scraping "); ok && strings.HasPrefix(tail, " (reason=") {
		l.Kind, l.VM = KindStart, vm
		return l, true
	}
	if vm, tail, ok := quoted(msg, "VMScraper: scrape "); ok {
		l.Kind, l.VM = KindEnd, vm
		switch {
		case strings.HasPrefix(tail, " ok outcome=unchanged"):
			l.Status = Unchanged
		case strings.HasPrefix(tail, " ok outcome=forwarded"):
			l.Status = Success
		case strings.HasPrefix(tail, " failed non-retryable"), strings.HasPrefix(tail, " failed retryable"):
		default:
			return Line{}, false
		}
		if j := strings.LastIndex(tail, " next="); j >= 0 {
			l.Next, _ = time.ParseDuration(strings.TrimSpace(tail[j+len(" next="):]))
		}
		return l, true
	}
	for _, c := range causes {
		vm, tail, ok := quoted(msg, c.prefix)
		if !ok || !strings.HasPrefix(tail, c.after) {
			continue
		}
		l.Kind, l.VM, l.Status = KindCause, vm, c.status
		l.Detail = strings.Join(strings.Fields(tail[len(c.after):]), " ")
		return l, true
	}
	return Line{}, false
}

// quoted reads the Go-quoted string after prefix at the start of s.
func quoted(s, prefix string) (value, tail string, ok bool) {
	rest, found := strings.CutPrefix(s, prefix)
	if !found || !strings.HasPrefix(rest, `"`) {
		return "", "", false
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", "", false
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", "", false
	}
	return v, rest[len(q):], true
}

// timestamp splits off the kubelet's RFC 3339 timestamp, if the line has one.
func timestamp(line string) (time.Time, string) {
	sp := strings.IndexByte(line, ' ')
	if sp < 20 {
		return time.Time{}, line
	}
	t, err := time.Parse(time.RFC3339Nano, line[:sp])
	if err != nil {
		return time.Time{}, line
	}
	return t, line[sp+1:]
}
