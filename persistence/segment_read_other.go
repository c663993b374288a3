//go:build !linux

package persistence

import "os"

// readSegment returns the bytes of segment path (see the Linux version for why it reads the disk
// there).
func readSegment(path string) ([]byte, error) { return os.ReadFile(path) }
