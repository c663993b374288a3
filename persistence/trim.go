package persistence

import (
	"log/slog"
	"sync"
	"time"
)

// Badger v4 reads tables only through memory maps (v3 removed the file-I/O loading mode), and
// writes every new table through its map too. Each page the process writes or reads stays in its
// resident memory until the table is deleted, so a store larger than the memory budget shows up,
// nearly whole, as the process's resident size. The trimmer bounds that: when the process's
// file-backed resident memory passes MappedBytesMax, it asks the kernel to reclaim the store's
// table pages (madvise MADV_PAGEOUT). That never loses data (tables are immutable, and synced
// when written); a page used again is read back from the file.
const (
	MappedBytesMax = 512 << 20
	trimEvery      = 250 * time.Millisecond
)

// trimmer runs until stop is closed; done is closed when it has returned.
type trimmer struct {
	dir        string
	logger     *slog.Logger
	stop, done chan struct{}
	closing    sync.Once
}

func startTrimmer(dir string, logger *slog.Logger) *trimmer {
	t := &trimmer{dir: dir, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *trimmer) run() {
	defer close(t.done)
	tick := time.NewTicker(trimEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		before := residentFileBytes()
		if before <= MappedBytesMax {
			continue
		}
		start := time.Now()
		if err := pageOutTables(t.dir); err != nil {
			t.logger.Warn("memory: cannot reclaim mapped table pages; resident memory will grow with the store", "err", err)
			return // an old kernel (before Linux 5.4) or no /proc: nothing to retry
		}
		t.logger.Debug("memory: reclaimed mapped table pages", "resident_file_before", before, "after", residentFileBytes(), "took", time.Since(start))
	}
}

// close stops the trimmer; a second close (a store closed twice) is a no-op.
func (t *trimmer) close() {
	t.closing.Do(func() { close(t.stop) })
	<-t.done
}
