package relaylog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Sample lines, one or more per RHACS version and event. The 4.9 lines are as
// the compliance container printed them (the layout is StackRox's logger:
// module, date, time, file:line, level, message); the 4.10 and 4.11 lines are
// the relay's format strings of those releases in the same layout.
func TestMatchLine(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantEvent Event
		wantCID   uint32
		versions  string
	}{
		// RHACS 4.9
		{"4.9 started", "virtualmachine: 2025/10/07 11:49:20.100000 relay.go:96: Info: Starting virtual machine relay", EventStarted, 0, "4.9-4.11"},
		{"4.9 connection", "virtualmachine: 2025/10/07 11:49:28.801795 relay.go:124: Info: Handling vsock connection from vm(404660805):1856700015", EventConnection, 404660805, "4.9"},
		{"4.9 report", "virtualmachine: 2025/10/07 11:49:28.841930 relay.go:209: Info: Sending index report to sensor (vsockCID: 404660805)", EventReportSent, 404660805, "4.9"},
		{"4.9 send retry", "virtualmachine: 2025/10/07 11:50:02.000001 relay.go:238: Warn: Error sending index report to sensor, retrying. Error was: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 172.30.12.7:443: i/o timeout\"", EventSendError, 0, "4.9-4.11"},
		{"4.9 handle error", "virtualmachine: 2025/10/07 11:51:40.000002 relay.go:117: Error: Error handling vsock connection from vm(404660805):1856700020: sending report to sensor (vsock CID: 404660805): rpc error: code = DeadlineExceeded desc = context deadline exceeded", EventHandleError, 404660805, "4.9"},
		{"4.9 bind failure", "main: 2025/10/07 11:49:20.200000 compliance.go:160: Error: Error running virtual machine relay: starting vsock server: listening on port 818: listen vsock host(2):818: bind: cannot assign requested address", EventListenError, 0, "4.9-4.11"},
		// RHACS 4.10
		{"4.10 stream started", "virtualmachines/relay/stream: 2026/01/12 08:00:00.000001 vsock_index_report_stream.go:83: Info: Starting report stream", EventStarted, 0, "4.10-4.11"},
		{"4.10 connection", "virtualmachines/relay/stream: 2026/01/12 08:00:05.123456 vsock_index_report_stream.go:158: Info: Handling connection from vm(3141592):40001", EventConnection, 3141592, "4.10-4.11"},
		{"4.10 report", "virtualmachines/relay/sender: 2026/01/12 08:00:05.160000 index_report_sender.go:41: Info: Sending VM report to sensor (vsockCID: 3141592)", EventReportSent, 3141592, "4.10-4.11"},
		{"4.10 send failed", "virtualmachines/relay: 2026/01/12 08:01:45.000000 relay.go:41: Error: Failed to send VM report (vsock CID: 3141592): rpc error: code = Unavailable desc = no connection", EventSendError, 3141592, "4.10"},
		{"4.10 read error", "virtualmachines/relay/stream: 2026/01/12 08:02:00.000000 vsock_index_report_stream.go:162: Error: Error handling connection from vm(3141592):40002: reading from connection (vsock CID: 3141592): read vsock: i/o timeout", EventHandleError, 3141592, "4.10-4.11"},
		// RHACS 4.11
		{"4.11 relay started", "virtualmachines/relay: 2026/04/23 07:39:00.450000 relay.go:29: Info: Starting virtual machine relay", EventStarted, 0, "4.9-4.11"},
		{"4.11 connection", "virtualmachines/relay/stream: 2026/04/23 07:40:00.000001 vsock_index_report_stream.go:158: Info: Handling connection from vm(77):1025", EventConnection, 77, "4.10-4.11"},
		{"4.11 send failed", "virtualmachines/relay: 2026/04/23 07:41:40.000000 relay.go:38: Error: Failed to send report (vsock CID: 77): rpc error: code = Unavailable desc = connection error", EventSendError, 77, "4.11"},
		{"4.11 send retry", "virtualmachines/relay/sender: 2026/04/23 07:40:06.000000 index_report_sender.go:80: Warn: Error sending index report to sensor, retrying. Error was: rpc error: code = DeadlineExceeded desc = context deadline exceeded", EventSendError, 0, "4.9-4.11"},
		{"4.11 later report", "virtualmachines/relay/sender: 2026/05/02 10:00:00.000000 index_report_sender.go:41: Info: Sending vsock message to sensor (vsockCID: 77)", EventReportSent, 77, "4.11 later builds"},
		{"4.11 bind failure", "main: 2026/04/23 07:39:00.460000 compliance.go:170: Error: creating vsock listener: listen vsock host(2):818: bind: address already in use", EventListenError, 0, "4.9-4.11"},
		// Kubernetes timestamps in front change nothing.
		{"with a timestamp", "2026-04-23T07:40:00.000001234Z virtualmachines/relay/stream: 2026/04/23 07:40:00.000001 x.go:1: Info: Handling connection from vm(78):1025", EventConnection, 78, "4.10-4.11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := MatchLine(tt.line)
			if !ok {
				t.Fatalf("MatchLine(%q) did not match", tt.line)
			}
			got := struct {
				Event    Event
				CID      uint32
				Versions string
			}{m.Event, m.CID, m.Pattern.Versions}
			want := struct {
				Event    Event
				CID      uint32
				Versions string
			}{tt.wantEvent, tt.wantCID, tt.versions}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MatchLine (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchLineNonMatches(t *testing.T) {
	for _, line := range []string{
		"",
		"main: 2026/04/23 07:39:00.442346 compliance.go:80: Info: Running StackRox Version: 4.11.0",
		"virtualmachine: 2025/10/07 11:49:28.801887 relay.go:132: Debug: Reading from connection (max bytes: 4194304, timeout: 10s",
		"virtualmachine: 2025/10/07 11:49:28.842985 relay.go:156: Debug: Finished handling vsock connection from vm(404660805):1856700015",
		"virtualmachines/relay/stream: 2026/01/12 08:00:05.200000 x.go:1: Info: Finished handling connection from vm(3141592):40001",
		"virtualmachine: 2025/10/07 11:49:28.842922 relay.go:251: Debug: Successfully sent index report to sensor (vsock CID: 404660805)",
		"node/inventory: 2026/04/23 07:39:00.442255 node_scanner.go:50: Info: Initialized gRPC connection to node-inventory container",
		"virtualmachines/relay/stream: 2026/01/12 08:05:00.000000 x.go:1: Info: Stopping report stream",
		"handling connection from vm(3):1", // lower case: not the relay's message
	} {
		if m, ok := MatchLine(line); ok {
			t.Errorf("MatchLine(%q) = %+v, want no match", line, m)
		}
	}
}

// TestPatternTable keeps the table sound: every event has a pattern, no
// pattern is shadowed by an earlier one, and the CID markers are honoured.
func TestPatternTable(t *testing.T) {
	seen := map[Event]bool{}
	ps := Patterns()
	for i, p := range ps {
		seen[p.Event] = true
		if p.Text == "" || p.Versions == "" {
			t.Errorf("pattern %d has an empty field: %+v", i, p)
		}
		for _, q := range ps[:i] {
			if strings.Contains(p.Text, q.Text) {
				t.Errorf("pattern %q is shadowed by the earlier %q", p.Text, q.Text)
			}
		}
	}
	for _, e := range Events() {
		if !seen[e] {
			t.Errorf("event %q has no pattern", e)
		}
	}
	for _, tt := range []struct {
		in   string
		want uint32
	}{
		{"vm(12):3", 12}, {"(vsockCID: 99)", 99}, {"(vsock CID: 7): x", 7}, {"vm():1", 0}, {"vm(99999999999):1", 0}, {"host(2):818", 0},
	} {
		if got := cidIn(tt.in); got != tt.want {
			t.Errorf("cidIn(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func FuzzMatchLine(f *testing.F) {
	f.Add("virtualmachine: 2025/10/07 11:49:28.801795 relay.go:124: Info: Handling vsock connection from vm(404660805):1856700015")
	f.Add("Sending VM report to sensor (vsockCID: ")
	f.Add("2026-04-23T07:40:00Z listen vsock host(2):818: x")
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := MatchLine(line)
		if ok && !strings.Contains(line, m.Pattern.Text) {
			t.Fatalf("matched %q without its text %q", line, m.Pattern.Text)
		}
		_, _ = SplitTimestamp(line)
	})
}

// TestPatternsDocumented keeps docs/vsock.md's table in step with the code.
func TestPatternsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "vsock.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Patterns() {
		row := fmt.Sprintf("| `%s` | %s | `%s` |", p.Event, p.Versions, p.Text)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/vsock.md lacks the row %s", row)
		}
	}
}
