package bench

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// bar is a progress bar (schollz/progressbar), or nothing when w is nil.
type bar struct{ b *progressbar.ProgressBar }

func newBar(w io.Writer, max int64, what string) *bar {
	if w == nil || max <= 0 {
		return &bar{}
	}
	return &bar{b: progressbar.NewOptions64(max, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())}
}

func (b *bar) Set64(n int64) {
	if b.b != nil {
		_ = b.b.Set64(n)
	}
}

func (b *bar) Add(n int) {
	if b.b != nil {
		_ = b.b.Add(n)
	}
}

func (b *bar) finish() {
	if b.b != nil {
		_ = b.b.Finish()
	}
}
