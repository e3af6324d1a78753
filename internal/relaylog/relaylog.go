// Package relaylog recognises the RHACS VM relay's log lines and follows the
// relay's log.
//
// The relay runs in the compliance container of the collector pod. Its
// messages changed between RHACS 4.9 and 4.11; one table here lists them, so a
// new version is one line to add. The Follower reads lines from a log that its
// caller opens (the Kubernetes pod-log stream in the probe), and reopens it
// with backoff when it ends.
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
	// EventStarted: the relay (or its report stream) started.
	EventStarted Event = "started"
	// EventConnection: the relay accepted a VM's connection.
	EventConnection Event = "connection"
	// EventReportSent: the relay is sending a VM's report to sensor (it logs
	// before the send; a failure follows as send_error).
	EventReportSent Event = "report_sent"
	// EventSendError: sending a report to sensor failed (a retry or the final failure).
	EventSendError Event = "send_error"
	// EventHandleError: reading, parsing or validating a VM's report failed.
	EventHandleError Event = "handle_error"
	// EventListenError: the relay could not bind its VSOCK port.
	EventListenError Event = "listen_error"
)

// Events returns every event, in a fixed order. The slice is new on each call.
func Events() []Event {
	return []Event{EventStarted, EventConnection, EventReportSent, EventSendError, EventHandleError, EventListenError}
}

// Pattern recognises one message of the relay. A line matches when it
// contains Text (case-sensitive).
type Pattern struct {
	Event Event
	// Versions are the RHACS versions that print the message.
	Versions string
	// Text is the message's fixed part.
	Text string
}

// patterns is the one table of relay messages, read from the compliance
// sources of RHACS 4.9 to 4.11 (compliance/virtualmachines/relay). A new RHACS version is one line
// here (and its sample lines in relaylog_test.go). The first matching row
// wins, so a message that contains another's text comes first.
var patterns = []Pattern{
	{EventHandleError, "4.9", "Error handling vsock connection from "},
	{EventHandleError, "4.10-4.11", "Error handling connection from "},
	{EventSendError, "4.9-4.11", "Error sending index report to sensor, retrying"},
	{EventSendError, "4.10", "Failed to send VM report (vsock CID: "},
	{EventSendError, "4.11", "Failed to send report (vsock CID: "},
	{EventListenError, "4.9-4.11", "listen vsock "},
	{EventConnection, "4.9", "Handling vsock connection from "},
	{EventConnection, "4.10-4.11", "Handling connection from "},
	{EventReportSent, "4.9", "Sending index report to sensor (vsockCID: "},
	{EventReportSent, "4.10-4.11", "Sending VM report to sensor (vsockCID: "},
	{EventReportSent, "4.11 later builds", "Sending vsock message to sensor (vsockCID: "},
	{EventStarted, "4.9-4.11", "Starting virtual machine relay"},
	{EventStarted, "4.10-4.11", "Starting report stream"},
}

// Patterns returns a copy of the pattern table, for documentation and tests.
func Patterns() []Pattern {
	return append([]Pattern(nil), patterns...)
}

// Match is a recognised relay log line.
type Match struct {
	Event Event
	// CID is the VM's context ID named in the line, 0 if none.
	CID uint32
	// Pattern is the table row that matched.
	Pattern Pattern
}

// MatchLine recognises a line of the compliance container's log. It
// reports false for every line that is not one of the relay's messages.
func MatchLine(line string) (Match, bool) {
	for _, p := range patterns {
		i := strings.Index(line, p.Text)
		if i < 0 {
			continue
		}
		// The CID follows the message's fixed part; searching from its start
		// keeps a CID in the prefix (there is none today) from being taken.
		return Match{Event: p.Event, CID: cidIn(line[i:]), Pattern: p}, true
	}
	return Match{}, false
}

// cidIn finds a VM context ID written as "vm(123)", "vsockCID: 123" or
// "vsock CID: 123" and returns it, or 0.
func cidIn(s string) uint32 {
	for _, marker := range []string{"vm(", "vsockCID: ", "vsock CID: "} {
		i := strings.Index(s, marker)
		if i < 0 {
			continue
		}
		digits := s[i+len(marker):]
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
