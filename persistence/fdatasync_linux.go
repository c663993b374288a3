package persistence

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and only the metadata needed to read it back (not its times).
func fdatasync(f *os.File) error {
	for {
		if err := syscall.Fdatasync(int(f.Fd())); err != syscall.EINTR {
			return err
		}
	}
}
