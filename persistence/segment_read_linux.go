package persistence

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the alignment O_DIRECT wants of a read's buffer, offset and length: the logical
// block size, 512 or 4096 bytes; 4096 serves both.
const directAlign = 4096

// directChunkBytes bounds one read of a segment.
const directChunkBytes = 1 << 20

// readSegment returns the bytes of segment path as the disk holds them, not as the page cache
// does. After a failed write-back Linux may mark the page clean and keep it cached although the
// disk never got it (and a later fsync reports success), so a buffered read would replay a record
// that is not durable, and writes acknowledged after the replay would depend on it. An O_DIRECT
// read goes to the device; the kernel first writes back whatever is dirty in the range, so a
// record written but not synced (a process killed before its fdatasync) is read as before, now
// on disk. Dropping the cached pages instead (posix_fadvise POSIX_FADV_DONTNEED after an fsync) is
// only advice: pages that are dirty, locked, under write-back or mapped stay, silently. A file
// system that refuses O_DIRECT gets that best effort (readSegmentCached).
func readSegment(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		return readSegmentCached(path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := int(fi.Size())
	buf := alignedBuffer((size + directAlign - 1) / directAlign * directAlign)
	n, err := preadDirect(int(f.Fd()), buf)
	if errors.Is(err, unix.EINVAL) { // an alignment the device does not take
		return readSegmentCached(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n != size {
		return nil, fmt.Errorf("read %s: %d bytes of %d", path, n, size)
	}
	return buf[:n], nil
}

// preadDirect fills buf from offset 0 in aligned chunks until the file ends; it returns the bytes
// read.
func preadDirect(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(fd, buf[n:min(n+directChunkBytes, len(buf))], int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
		if m == 0 || m%directAlign != 0 { // the end of the file
			break
		}
	}
	return n, nil
}

// alignedBuffer is n bytes starting at a multiple of directAlign.
func alignedBuffer(n int) []byte {
	buf := make([]byte, n+directAlign)
	shift := (directAlign - int(uintptr(unsafe.Pointer(&buf[0]))%directAlign)) % directAlign
	return buf[shift : shift+n : shift+n]
}

// readSegmentCached reads path through the page cache after syncing it and asking the kernel to
// drop its clean cached pages.
func readSegmentCached(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := fdatasync(f); err != nil {
		return nil, fmt.Errorf("sync %s: %w", path, err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return nil, fmt.Errorf("drop cached pages of %s: %w", path, err)
	}
	return io.ReadAll(f)
}
