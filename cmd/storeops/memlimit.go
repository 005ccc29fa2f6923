package main

import (
	"runtime/debug"
	"strconv"
)

// EnvMemoryLimit names the memory limit of storeops' container, in bytes;
// the chart fills it from the container's limits.memory.
const EnvMemoryLimit = "STOREOPS_MEMORY_LIMIT"

// applyMemoryLimit sets the Go runtime's soft memory limit to nine tenths
// of the container's memory limit ($STOREOPS_MEMORY_LIMIT), unless
// $GOMEMLIMIT sets one already. Without it the garbage collector lets the
// heap grow to twice what is in use before it collects, whatever the
// container may hold: at 1000 stores the peak resident memory (606 MiB)
// passed the chart's 512 MiB limit while the heap in use was 201 MB, and
// the kernel would have killed the process. With it, the collector runs
// more often as the heap nears the limit. It returns the limit set.
func applyMemoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(getenv(EnvMemoryLimit), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	limit := n / 10 * 9
	debug.SetMemoryLimit(limit)
	return limit, true
}
