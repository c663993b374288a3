package persistence

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPageOutTables: after a full scan the store's table pages are resident; reclaiming them
// takes them out of the process's memory, and the data still reads back whole.
func TestPageOutTables(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, DurabilityNone)
	const n, size = 80_000, 512 // 40 MB: more than two memtables, so tables are written
	var es []Entry
	for i := range n {
		v := make([]byte, size)
		rand.Read(v)
		es = append(es, Entry{Key: AccountKey(uint64(i)), Value: v})
		if len(es) == 1000 {
			putAll(t, s, es...)
			es = nil
		}
	}
	if err := s.Close(); err != nil { // flushes the memtables into tables
		t.Fatal(err)
	}
	s = openTestStore(t, dir, DurabilityNone)
	scanAll := func() {
		t.Helper()
		count := 0
		err := s.Scan([]byte{PrefixAccount}, false, func(_, v []byte) (bool, error) {
			count++
			return len(v) == size, nil
		})
		if err != nil || count != n {
			t.Fatalf("scan: %d of %d values, %v", count, n, err)
		}
	}
	scanAll()
	before := tableResident(t, dir)
	if before < 20<<20 {
		t.Fatalf("%d bytes of tables resident after a full scan; want most of %d", before, n*size)
	}
	if err := pageOutTables(dir); err != nil {
		t.Skipf("this kernel cannot reclaim mapped pages: %v", err)
	}
	after := tableResident(t, dir)
	t.Logf("table pages resident: %d before, %d after reclaiming", before, after)
	if after > before/4 {
		t.Fatalf("%d bytes of tables still resident, %d before", after, before)
	}
	scanAll()
}

// tableResident sums the resident bytes of dir's table mappings, from /proc/self/smaps.
func tableResident(t *testing.T, dir string) int64 {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	var total int64
	inTable := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"): // a mapping's header
			inTable = len(fields) == 6 && strings.HasSuffix(fields[5], ".sst") && filepath.Dir(fields[5]) == real
		case inTable && len(fields) == 3 && fields[0] == "Rss:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(fmt.Errorf("smaps: %q: %w", sc.Text(), err))
			}
			total += kb << 10
		}
	}
	return total
}
