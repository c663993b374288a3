package persistence_test

import (
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/kaquan/kaquan/persistence"
)

// BenchmarkWriter measures the group-commit writer alone: 64 goroutines each submitting one small
// write and waiting for it to be durable, as actors answering calls do.
func BenchmarkWriter(b *testing.B) {
	for _, d := range []persistence.Durability{persistence.DurabilitySync, persistence.DurabilityNone} {
		b.Run(string(d), func(b *testing.B) {
			store, err := persistence.Open(b.TempDir(), d, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			w, err := persistence.NewWriter(store, persistence.DefaultWriterConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var n atomic.Uint64
			value := make([]byte, 100)
			b.SetParallelism(32) // 64 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				done := make(chan error, 1)
				for pb.Next() {
					key := persistence.CardKey(n.Add(1))
					if err := w.Submit(&persistence.Write{Entries: []persistence.Entry{{Key: key, Value: value}},
						Done: func(err error) { done <- err }}); err != nil {
						b.Error(err)
						return
					}
					if err := <-done; err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := w.Stats()
			b.ReportMetric(float64(st.Writes)/float64(max(st.Batches, 1)), "writes/commit")
		})
	}
}
