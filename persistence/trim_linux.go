package persistence

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// residentFileBytes is the process's file-backed resident memory (RssFile), or 0 if unknown.
func residentFileBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "RssFile:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// region is one mapping, [start, end).
type region struct{ start, end uintptr }

// tableMappings lists the mappings of the table files (*.sst) in dir, from /proc/self/maps.
func tableMappings(dir string) ([]region, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs) // the kernel names mapped files by their real path
	}
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 || !bytes.HasSuffix(fields[5], []byte(".sst")) || filepath.Dir(string(fields[5])) != abs {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/self/maps: line %q", sc.Bytes())
		}
		rs = append(rs, region{uintptr(start), uintptr(end)})
	}
	return rs, sc.Err()
}

// pageOutTables asks the kernel to reclaim the resident pages of dir's table mappings.
//
// A table may be unmapped (after a compaction) between reading its range and advising it, and the
// range reused by another mapping: MADV_PAGEOUT is only ever a hint to reclaim, never a loss of
// data, whatever is mapped there (unlike MADV_DONTNEED, which would zero anonymous memory).
func pageOutTables(dir string) error {
	rs, err := tableMappings(dir)
	if err != nil {
		return fmt.Errorf("list table mappings: %w", err)
	}
	for _, r := range rs {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_PAGEOUT)
		if errno != 0 && errno != unix.ENOMEM { // ENOMEM: the range was unmapped meanwhile
			return fmt.Errorf("madvise pageout %#x-%#x: %w", r.start, r.end, errno)
		}
	}
	return nil
}
