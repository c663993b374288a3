//go:build !unix

package main

import "time"

// cpuTime is not measured here: the bench's CPU line then reads 0.
func cpuTime() time.Duration { return 0 }
