//go:build linux

package kubevirttest

import (
	"fmt"
	"strconv"
	"time"
)

// Sensor's log lines, as RHACS writes them at its default level (Info) in
// its default console encoding (bed4a7b2427 pkg/logging/logging.go: zap's
// console encoder with field order "N:TC:L:" and separator " ", time
// layout "2006/01/02 15:04:05.000000", the caller's file base name and
// line, levels spelt Info, Warn, Error):
//
//	common/virtualmachine/vmscraper: 2026/08/23 10:00:00.123456 scraper.go:364: Info: VMScraper: scraping "vms/rhel9" (reason=poll backoff=0s)
//
// The module is the package path without github.com/stackrox/rox/ and its
// first element (pkg/logging/module.go getCallingModule). Debug lines are
// not written: sensor does not log them by default.

// logLevel is a level as RHACS spells it.
type logLevel string

const (
	levelDebug logLevel = "Debug"
	levelInfo  logLevel = "Info"
	levelWarn  logLevel = "Warn"
	levelError logLevel = "Error"
)

const (
	scraperModule = "common/virtualmachine/vmscraper" // sensor/common/virtualmachine/vmscraper
	indexModule   = "common/virtualmachine/index"     // sensor/common/virtualmachine/index
	timeLayout    = "2006/01/02 15:04:05.000000"
)

// callSite is one log call in the stackrox sources at bed4a7b2427: where
// it is, its level and its format string.
type callSite struct {
	module, file string
	line         int
	level        logLevel
	format       string
}

func scraperSite(line int, level logLevel, format string) callSite {
	return callSite{module: scraperModule, file: "scraper.go", line: line, level: level, format: format}
}

// The scraper's and the index handler's log calls.
var (
	// bed4a7b2427 sensor/common/virtualmachine/vmscraper/scraper.go:44 log.Warnf
	logPollClamped = scraperSite(44, levelWarn, "ROX_VIRTUAL_MACHINES_SCRAPER_POLL_INTERVAL=%v is below the minimum of %v; using %v")
	// bed4a7b2427 scraper.go:364 log.Infof
	logScraping = scraperSite(364, levelInfo, "VMScraper: scraping %q (reason=%s backoff=%s)")
	// bed4a7b2427 scraper.go:389 log.Infof (after a failed dial or read)
	logFailed = scraperSite(389, levelInfo, "VMScraper: scrape %q failed %s next=%s")
	// bed4a7b2427 scraper.go:395 log.Infof
	logUnchanged = scraperSite(395, levelInfo, "VMScraper: scrape %q ok outcome=unchanged next=%s")
	// bed4a7b2427 scraper.go:403 log.Warnf (reportcheck.IsViable's warning)
	logReportWarning = scraperSite(403, levelWarn, "VM report from %q: %s")
	// bed4a7b2427 scraper.go:418 log.Errorf
	logSendFailed = scraperSite(418, levelError, "VMScraper: sending %q report to Central failed: %v")
	// bed4a7b2427 scraper.go:423 log.Infof (after a failed send)
	logSendRetry = scraperSite(423, levelInfo, "VMScraper: scrape %q failed retryable next=%s")
	// bed4a7b2427 scraper.go:431 log.Infof
	logForwarded = scraperSite(431, levelInfo, "VMScraper: scrape %q ok outcome=forwarded next=%s")
	// bed4a7b2427 scraper.go:482 log.Warnf
	logDialTimedOut = scraperSite(482, levelWarn, "VMScraper: dialing roxagent on %q timed out: %v")
	// bed4a7b2427 scraper.go:490 log.Warnf
	logDialFailed = scraperSite(490, levelWarn, "VMScraper: dialing roxagent on %q failed: %v")
	// bed4a7b2427 scraper.go:510 log.Warnf
	logReadTimedOut = scraperSite(510, levelWarn, "VMScraper: reading report from %q timed out: %v")
	// bed4a7b2427 scraper.go:519 log.Debugf (not written at Info)
	logNotReady = scraperSite(519, levelDebug, "VMScraper: roxagent on %q has not yet generated a report")
	// bed4a7b2427 scraper.go:523 log.Warnf
	logUnknownMethod = scraperSite(523, levelWarn, "VMScraper: roxagent on %q does not support the GetReport method")
	// bed4a7b2427 scraper.go:527 log.Warnf
	logAgentInternal = scraperSite(527, levelWarn, "VMScraper: roxagent on %q reported an internal error: %v")
	// bed4a7b2427 scraper.go:531 log.Debugf (not written at Info)
	logConnClosed = scraperSite(531, levelDebug, "VMScraper: roxagent on %q connection closed (agent may be down or restarting): %v")
	// bed4a7b2427 scraper.go:535 log.Infof
	logBusy = scraperSite(535, levelInfo, "VMScraper: roxagent on %q is busy with another request: %v")
	// bed4a7b2427 scraper.go:539 log.Warnf
	logProtocolError = scraperSite(539, levelWarn, "VMScraper: protocol error for %q (possible version mismatch): %v")
	// bed4a7b2427 sensor/common/virtualmachine/index/handler_impl.go:71 log.Warnf
	logCentralUnreachable = callSite{module: indexModule, file: "handler_impl.go", line: 71, level: levelWarn,
		format: "Cannot send index report for virtual machine with vsock_cid=%q to Central because Central is not reachable"}
)

// formatLine renders one console line of site at time at (in UTC, the
// time zone of RHACS's images).
func formatLine(at time.Time, site callSite, args ...any) string {
	return site.module + ": " + at.UTC().Format(timeLayout) + " " + site.file + ":" + strconv.Itoa(site.line) + ": " +
		string(site.level) + ": " + fmt.Sprintf(site.format, args...)
}
