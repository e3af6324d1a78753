package scraperlog

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// line builds a log line as the kubelet serves sensor's log with
// timestamps=true: its timestamp, then RHACS's console line.
func line(sec int, level, msg string) string {
	t := time.Date(2026, 8, 22, 10, 0, sec, 0, time.UTC)
	return t.Format(time.RFC3339Nano) + " vmscraper: " + t.Format("2006/01/02 15:04:05.000000") + " scraper.go:364: " + level + ": " + msg
}

func TestRead(t *testing.T) {
	log := strings.Join([]string{
		line(0, "Info", `VMScraper: scraping "vms/rhel9" (reason=poll backoff=0s)`),
		line(1, "Info", `VMScraper: scrape "vms/rhel9" ok outcome=forwarded next=5m0s`),
		line(2, "Info", `VMScraper: scraping "vms/fedora" (reason=poll backoff=0s)`),
		line(2, "Warn", `VMScraper: dialing roxagent on "vms/fedora" failed: VSOCK dial vms/fedora:818: websocket dial: unable to upgrade streaming request: VSOCK is not attached.`),
		line(2, "Info", `VMScraper: scrape "vms/fedora" failed retryable next=10s`),
		line(3, "Info", `VMScraper: scraping "vms/down" (reason=retry backoff=20s)`),
		line(3, "Info", `VMScraper: scrape "vms/down" failed retryable next=40s`),
		line(4, "Info", `VMScraper: scraping "team-a/denied" (reason=poll backoff=0s)`),
		line(4, "Warn", `VMScraper: dialing roxagent on "team-a/denied" failed: VSOCK dial team-a/denied:818: websocket dial: unable to upgrade streaming request: virtualmachineinstances.subresources.kubevirt.io "denied" is forbidden: User "system:serviceaccount:stackrox:sensor" cannot get resource "virtualmachineinstances/vsock" in API group "subresources.kubevirt.io" in the namespace "team-a"`),
		line(4, "Info", `VMScraper: scrape "team-a/denied" failed retryable next=10s`),
		line(5, "Info", `VMScraper: scraping "vms/busy" (reason=poll backoff=0s)`),
		line(5, "Info", `VMScraper: roxagent on "vms/busy" is busy with another request: BUSY`),
		line(5, "Info", `VMScraper: scrape "vms/busy" failed retryable next=10s`),
		line(6, "Info", `VMScraper: scraping "vms/rhel9" (reason=poll backoff=0s)`),
		line(6, "Info", `VMScraper: scrape "vms/rhel9" ok outcome=unchanged next=5m0s`),
		line(7, "Info", `VMScraper: scraping "vms/nocentral" (reason=poll backoff=0s)`),
		line(7, "Error", `VMScraper: sending "vms/nocentral" report to Central failed: rpc error: code = Unavailable desc = central not reachable`),
		line(7, "Info", `VMScraper: scrape "vms/nocentral" failed retryable next=10s`),
		line(8, "Info", `VMScraper: scraping "vms/handler" (reason=poll backoff=0s)`),
		line(8, "Warn", `VMScraper: dialing roxagent on "vms/handler" failed: VSOCK dial vms/handler:818: websocket dial: unable to upgrade streaming request: dialing virt-handler: dial tcp 10.128.2.9:8186: connect: connection refused`),
		line(8, "Info", `VMScraper: scrape "vms/handler" failed retryable next=10s`),
		line(9, "Info", `VMScraper: scraping "vms/slow" (reason=poll backoff=0s)`),
		"an unrelated line",
		line(9, "Info", `sensor: something else`),
	}, "\n")
	s, err := Read(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return time.Date(2026, 8, 22, 10, 0, sec, 0, time.UTC) }
	want := []Attempt{
		{VM: "team-a/denied", At: at(4), Status: DialError, Cause: CauseRBAC, Next: 10 * time.Second},
		{VM: "vms/busy", At: at(5), Status: Busy, Detail: "BUSY", Next: 10 * time.Second},
		{VM: "vms/down", At: at(3), Status: AgentDown, Next: 40 * time.Second},
		{VM: "vms/fedora", At: at(2), Status: DialError, Cause: CauseNoVSOCK, Next: 10 * time.Second},
		{VM: "vms/handler", At: at(8), Status: DialError, Cause: CauseHandler, Next: 10 * time.Second},
		{VM: "vms/nocentral", At: at(7), Status: SendError, Detail: "rpc error: code = Unavailable desc = central not reachable", Next: 10 * time.Second},
		{VM: "vms/rhel9", At: at(6), Status: Unchanged, Next: 5 * time.Minute},
		{VM: "vms/slow", At: at(9)},
	}
	if diff := cmp.Diff(want, s.Latest, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Detail" }, cmp.Comparer(func(a, b string) bool {
		return a == "" || b == "" || a == b || strings.Contains(b, a) || strings.Contains(a, b)
	}))); diff != "" {
		t.Errorf("Latest (-want +got):\n%s", diff)
	}
	wantCounts := map[Status]int{Success: 1, Unchanged: 1, DialError: 3, AgentDown: 1, Busy: 1, SendError: 1}
	if diff := cmp.Diff(wantCounts, s.Counts); diff != "" {
		t.Errorf("Counts (-want +got):\n%s", diff)
	}
	if s.Lines != 22 {
		t.Errorf("Lines = %d, want 22", s.Lines)
	}
	if got := s.Latest[6].NextAt(); !got.Equal(at(6).Add(5 * time.Minute)) {
		t.Errorf("NextAt = %v", got)
	}
	if !DialError.Failed() || Success.Failed() || Unchanged.Failed() || Status("").Failed() {
		t.Error("Failed")
	}
}

func TestParseWithoutTimestamp(t *testing.T) {
	l, ok := Parse(`vmscraper: 2026/08/22 10:00:00.000000 scraper.go:364: Info: VMScraper: scraping "a\"b/c" (reason=poll backoff=0s)`)
	if !ok || l.Kind != KindStart || l.VM != `a"b/c` || !l.At.IsZero() {
		t.Errorf("Parse = %+v, %v", l, ok)
	}
	for _, bad := range []string{"", "VMScraper: scraping vms/x", `VMScraper: scrape "vms/x" exploded`, `VMScraper: dialing roxagent on "x" refused`} {
		if l, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) = %+v, want no match", bad, l)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(line(0, "Info", `VMScraper: scraping "vms/rhel9" (reason=poll backoff=0s)`))
	f.Add(line(0, "Warn", `VMScraper: dialing roxagent on "vms/x" failed: boom`))
	f.Add(`VMScraper: scrape "v" ok outcome=forwarded next=1h`)
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := Parse(s)
		if !ok {
			return
		}
		if l.Kind < KindStart || l.Kind > KindEnd {
			t.Fatalf("kind %d", l.Kind)
		}
		if _, err := Read(strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	})
}
