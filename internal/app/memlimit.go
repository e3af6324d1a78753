package app

import (
	"log/slog"
	"runtime/debug"
	"strconv"
)

// MemoryLimitEnv is the environment variable through which the DaemonSet
// passes the container's memory limit in bytes (the downward API's
// resourceFieldRef limits.memory; without a limit it gives the node's
// allocatable memory).
const MemoryLimitEnv = "MEMORY_LIMIT"

// memoryLimitPercent of the container's limit becomes the Go runtime's soft
// memory limit: the garbage collector works harder as the heap nears it,
// well before the kernel's OOM killer would act at the limit itself. The
// rest is headroom for what the runtime does not count (the binary's pages,
// thread stacks outside the heap).
const memoryLimitPercent = 90

// memoryLimit is the runtime's soft memory limit and where it came from.
type memoryLimit struct {
	bytes  int64  // from MemoryLimitEnv; 0 with source ""
	source string // "GOMEMLIMIT", MemoryLimitEnv or "" for none
}

// parseMemoryLimit reads the limit from the environment. An explicit
// GOMEMLIMIT wins (the runtime has applied it already); otherwise
// memoryLimitPercent of MemoryLimitEnv, when set.
func parseMemoryLimit(p *problems, getenv func(string) string) memoryLimit {
	if getenv("GOMEMLIMIT") != "" {
		return memoryLimit{source: "GOMEMLIMIT"}
	}
	v := getenv(MemoryLimitEnv)
	if v == "" {
		return memoryLimit{}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		p.add("%s: %q is not a positive number of bytes (the DaemonSet sets it from limits.memory)", MemoryLimitEnv, v)
		return memoryLimit{}
	}
	return memoryLimit{bytes: n / 100 * memoryLimitPercent, source: MemoryLimitEnv}
}

// apply sets the runtime's soft memory limit and logs it once.
func (m memoryLimit) apply(logger *slog.Logger) {
	switch m.source {
	case "GOMEMLIMIT":
		logger.Info("memory limit", "bytes", debug.SetMemoryLimit(-1), "from", "GOMEMLIMIT")
	case MemoryLimitEnv:
		debug.SetMemoryLimit(m.bytes)
		logger.Info("memory limit", "bytes", m.bytes, "from", strconv.Itoa(memoryLimitPercent)+"% of "+MemoryLimitEnv)
	default:
		logger.Info("no memory limit: neither GOMEMLIMIT nor " + MemoryLimitEnv + " is set")
	}
}
