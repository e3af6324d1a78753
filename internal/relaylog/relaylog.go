// Package relaylog recognises the RHACS VM relay's log lines and follows the
// relay's log.
//
// The relay runs in the compliance container of the collector pod. Its
// messages changed between RHACS 4.9 and 4.11; one table here lists them, one
// row per message and range of versions, so a new version is one row to add.
// The Follower reads lines from a log that its caller opens (the Kubernetes
// pod-log stream in the probe), and reopens it with backoff when it ends.
package relaylog

import (
	"strconv"
	"strings"
)

// Event is what a relay log line says happened. It is a small fixed set,
// safe as a metric label.
type Event string

// The relay log events.
const (
	// EventStarted: the relay started. 4.9 logs it before binding its VSOCK
	// port, 4.10 and 4.11 after.
	EventStarted Event = "started"
	// EventConnection: the relay accepted a VM's connection.
	EventConnection Event = "connection"
	// EventReportSent: the relay is sending a VM's report to sensor (it logs
	// before the send; a failure follows as send_retry or send_error).
	EventReportSent Event = "report_sent"
	// EventSendRetry: one attempt to send a report failed and the relay will
	// try again (4.9 and 4.10 only: 4.11 sends once).
	EventSendRetry Event = "send_retry"
	// EventSendError: a report did not reach sensor: the last attempt failed.
	// Every version logs one per report lost this way.
	EventSendError Event = "send_error"
	// EventReportDropped: the relay dropped a report without sending it: too
	// many concurrent connections (4.10+), a VM over its rate limit or a report
	// without a CID (4.11).
	EventReportDropped Event = "report_dropped"
	// EventHandleError: reading, parsing or validating a VM's report failed.
	EventHandleError Event = "handle_error"
	// EventListenError: the relay could not bind its VSOCK port.
	EventListenError Event = "listen_error"
)

// Events returns every event, in a fixed order. The slice is new on each call.
func Events() []Event {
	return []Event{
		EventStarted, EventConnection, EventReportSent, EventSendRetry, EventSendError,
		EventReportDropped, EventHandleError, EventListenError,
	}
}

// Pattern recognises one message of the relay. A line matches when it
// contains Text (case-sensitive).
type Pattern struct {
	Event Event
	// Versions are the RHACS versions that print the message, as a range of
	// minor versions ("4.10-4.11"); every patch release of each prints it.
	Versions string
	// Text is the message's fixed part, verbatim from the log call.
	Text string
	// Source is the file of stackrox/stackrox that logs the message, with
	// "relay/" short for compliance/virtualmachines/relay/.
	Source string
}

// patterns is the one table of relay messages, read from the stackrox/stackrox
// tags 4.9.0, 4.9.10, 4.10.0, 4.10.6, 4.11.0, 4.11.2 and 4.12.x (the 4.12
// nightlies print the 4.11 messages until the relay was removed on
// 2026-08-12). A new RHACS version is one row here (and its sample lines in
// relaylog_test.go). The first matching row wins, so a message that contains
// another's text comes first.

// The releases a pattern is printed by (Pattern.Versions).
const (
	v49      = "4.9"
	v411     = "4.11"
	v410to11 = "4.10-4.11"
	v49to11  = "4.9-4.11"
)

// The files of compliance/virtualmachines in stackrox/stackrox that log the
// messages (Pattern.Source).
const (
	srcRelay  = "relay/relay.go"
	srcStream = "relay/stream/vsock_index_report_stream.go"
)

var patterns = []Pattern{
	{EventHandleError, v49, "Error handling vsock connection: ", srcRelay},
	{EventHandleError, v410to11, "Error handling connection from ", srcStream},
	{EventSendRetry, "4.9-4.10", "Error sending index report to sensor, retrying. Error was: ", "relay/relay.go (4.9), relay/sender/index_report_sender.go (4.10)"},
	{EventSendError, v49, "Error sending index report to sensor (vsock CID: ", srcRelay},
	{EventSendError, "4.10", "Failed to send VM report (vsock CID: ", srcRelay},
	{EventSendError, v411, "Failed to send report (vsock CID: ", srcRelay},
	{EventReportDropped, v410to11, "Failed to acquire semaphore to handle connection: ", srcStream},
	{EventReportDropped, v411, "Rate limited for VSOCK ", srcRelay},
	{EventReportDropped, v411, "Received VM report without a valid vsock CID; dropping", srcRelay},
	// The text is mdlayher/vsock's (v1.2.1) error for a failed listen, which
	// each version logs wrapped in its own words.
	{EventListenError, v49to11, "listen vsock host(", "compliance/compliance.go (4.9, 4.10), relay/retry.go (4.11)"},
	{EventConnection, v49, "Handling vsock connection from ", srcRelay},
	{EventConnection, v410to11, "Handling connection from ", srcStream},
	{EventReportSent, v49, "Sending index report to sensor (vsockCID: ", srcRelay},
	{EventReportSent, v410to11, "Sending VM report to sensor (vsockCID: ", "relay/sender/index_report_sender.go"},
	{EventStarted, v49to11, "Starting virtual machine relay", srcRelay},
}

// repeats are messages that repeat a failure the line before them already
// reported: MatchLine recognises them and reports no match, so one failure
// counts once.
var repeats = []Pattern{
	// 4.9 logs a failed send as "Error sending index report to sensor (vsock
	// CID: <cid>): <err>" and then once more, wrapped, as a handling error.
	{EventSendError, v49, "Error handling vsock connection: sending report to sensor (vsock CID: ", srcRelay},
}

// Patterns returns a copy of the pattern table, for documentation and tests.
func Patterns() []Pattern {
	return append([]Pattern(nil), patterns...)
}

// Repeats returns a copy of the messages recognised as repeats, for
// documentation and tests. Their Event is the event of the line they repeat.
func Repeats() []Pattern {
	return append([]Pattern(nil), repeats...)
}

// Code is the gRPC status of a failed send named in a relay log line, as a
// small fixed set safe as a metric label. The relay prints its sender's error,
// "rpc error: code = <Code> desc = <text>"; the mapping below is read from
// sensor's sources (sensor/common/virtualmachine/index, pkg/errox/grpc) and
// grpc-go, for RHACS 4.9 to 4.11.
type Code string

// The codes.
const (
	// CodeNone: the line names no gRPC status.
	CodeNone Code = ""
	// CodeResourceExhausted: sensor cannot reach central ("Central is not
	// reachable"), or another quota.
	CodeResourceExhausted Code = "resource_exhausted"
	// CodeUnimplemented: sensor does not serve the VM report service: it runs
	// without ROX_VIRTUAL_MACHINES ("unknown service
	// sensor.VirtualMachineIndexReportService").
	CodeUnimplemented Code = "unimplemented"
	// CodeNotImplemented: sensor serves the service, but central lacks the
	// virtual machine capability. Sensor answers gRPC Unimplemented with its
	// own "not implemented: Central does not have virtual machine capability"
	// in the description; that text tells it from CodeUnimplemented.
	CodeNotImplemented Code = "not_implemented"
	// CodeUnavailable: no connection to sensor.
	CodeUnavailable Code = "unavailable"
	// CodeDeadlineExceeded: sensor did not answer within the relay's 5 s.
	CodeDeadlineExceeded Code = "deadline_exceeded"
	// CodeCanceled: the send was cancelled (the relay stopping).
	CodeCanceled Code = "canceled"
	// CodeOther: any other gRPC status.
	CodeOther Code = "other"
)

// Codes returns every code a line can name, without CodeNone, in a fixed
// order. The slice is new on each call.
func Codes() []Code {
	return []Code{
		CodeResourceExhausted, CodeUnimplemented, CodeNotImplemented, CodeUnavailable,
		CodeDeadlineExceeded, CodeCanceled, CodeOther,
	}
}

// Match is a recognised relay log line.
type Match struct {
	Event Event
	// CID is the VM's context ID named in the line, 0 if none.
	CID uint32
	// Code is the gRPC status the line names (a failed send's), CodeNone if
	// none.
	Code Code
	// Pattern is the table row that matched.
	Pattern Pattern
}

// MatchLine recognises a line of the compliance container's log. It
// reports false for every line that is not one of the relay's messages, and
// for a message that repeats the failure of the line before it.
func MatchLine(line string) (Match, bool) {
	for _, p := range repeats {
		if strings.Contains(line, p.Text) {
			return Match{}, false
		}
	}
	for _, p := range patterns {
		i := strings.Index(line, p.Text)
		if i < 0 {
			continue
		}
		// The CID and the status follow the message's fixed part; searching
		// from its start keeps the prefix (file names, rate-limiter notes)
		// out.
		rest := line[i:]
		return Match{Event: p.Event, CID: cidIn(rest), Code: codeIn(rest), Pattern: p}, true
	}
	return Match{}, false
}

// cidIn finds a VM context ID written as "vm(123)", "vsockCID: 123",
// "vsock CID: 123" or "for VSOCK 123" and returns it, or 0.
func cidIn(s string) uint32 {
	for _, marker := range []string{"vm(", "vsockCID: ", "vsock CID: ", "for VSOCK "} {
		_, after, ok := strings.Cut(s, marker)
		if !ok {
			continue
		}
		digits := after
		n := 0
		for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
			n++
		}
		if cid, err := strconv.ParseUint(digits[:n], 10, 32); err == nil {
			return uint32(cid)
		}
	}
	return 0
}

// grpcCodes maps grpc-go's names of status codes (codes.Code.String) to Code.
var grpcCodes = map[string]Code{
	"ResourceExhausted": CodeResourceExhausted,
	"Unimplemented":     CodeUnimplemented,
	"Unavailable":       CodeUnavailable,
	"DeadlineExceeded":  CodeDeadlineExceeded,
	"Canceled":          CodeCanceled,
}

// codeIn finds the first gRPC status written as grpc-go prints one,
// "rpc error: code = <Name> desc = <text>", and returns its Code, or
// CodeNone.
func codeIn(s string) Code {
	const marker, descMarker = "rpc error: code = ", " desc = "
	_, after, ok0 := strings.Cut(s, marker)
	if !ok0 {
		return CodeNone
	}
	rest := after
	n := 0
	for n < len(rest) && (rest[n] >= 'A' && rest[n] <= 'Z' || rest[n] >= 'a' && rest[n] <= 'z') {
		n++
	}
	code, ok := grpcCodes[rest[:n]]
	if !ok {
		return CodeOther
	}
	if code == CodeUnimplemented && strings.HasPrefix(rest[n:], descMarker) &&
		strings.Contains(rest[n+len(descMarker):], "not implemented") {
		// Sensor's errox.NotImplemented, which its gRPC interceptor turns
		// into Unimplemented, keeping the sentinel's text.
		return CodeNotImplemented
	}
	return code
}
