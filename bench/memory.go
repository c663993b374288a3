package bench

import (
	"os"
	"strconv"
	"strings"
)

// Memory is the process's resident memory (Linux; zeros elsewhere), split as the kernel counts it:
// anonymous pages (the Go heap, stacks) and file pages (Badger's mapped tables and logs, which the
// kernel can drop and read again), and the peak of their sum.
type Memory struct {
	RSS, PeakRSS, Anon, File int64 // bytes
}

// ReadMemory reads /proc/self/status.
func ReadMemory() Memory {
	var m Memory
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	fields := map[string]*int64{"VmRSS:": &m.RSS, "VmHWM:": &m.PeakRSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line) // "VmRSS:", "1234", "kB"
		if len(f) == 3 && f[2] == "kB" && fields[f[0]] != nil {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				*fields[f[0]] = kb << 10
			}
		}
	}
	return m
}

// ResetPeakMemory starts the peak (VmHWM) again from the current resident size, so that a later
// ReadMemory gives the peak of what ran since (Linux 4.0 and later: /proc/self/clear_refs).
func ResetPeakMemory() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
