package bench

import (
	"runtime"
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
