package bench

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestReadMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	m := ReadMemory()
	if m.RSS <= 0 || m.PeakRSS < m.RSS || m.Anon <= 0 || m.Anon+m.File > m.RSS+(1<<20) {
		t.Fatalf("memory %+v: want RSS > 0, peak >= RSS, anon > 0, anon + file about RSS", m)
	}
}

// After a reset, the peak is the peak of what followed: a 256 MiB allocation freed before the reset
// no longer counts, one made after it does.
func TestResetPeakMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	touch := func(n int) []byte {
		b := make([]byte, n)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		return b
	}
	const big = 256 << 20
	touch(big) // the peak now holds it, and it is garbage at once
	before := ReadMemory().PeakRSS
	runtime.GC()
	debug.FreeOSMemory()
	if err := ResetPeakMemory(); err != nil {
		t.Skipf("kernel cannot reset the peak: %v", err)
	}
	after := ReadMemory()
	if after.PeakRSS > before-big/2 {
		t.Fatalf("peak after reset %d MiB, before %d MiB: the freed 256 MiB still counts", after.PeakRSS>>20, before>>20)
	}
	c := touch(big)
	if got := ReadMemory().PeakRSS; got < after.PeakRSS+big/2 {
		t.Fatalf("peak %d MiB after touching 256 MiB more than at %d MiB", got>>20, after.PeakRSS>>20)
	}
	runtime.KeepAlive(c)
}
