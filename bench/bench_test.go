package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
)

// BenchmarkWriter measures the group-commit writer alone: 64 goroutines each submitting one small
// write and waiting for it to be durable, as actors answering calls do.
func BenchmarkWriter(b *testing.B) {
	for _, d := range []persistence.Durability{persistence.DurabilitySync, persistence.DurabilityNone} {
		b.Run(string(d), func(b *testing.B) {
			store, err := persistence.Open(b.TempDir(), d, discardLogger())
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

// BenchmarkPayment measures card-validated payments through the embedding API: each operation is
// a consumer's payment code plus the merchant's payment, from 64 concurrent clients.
func BenchmarkPayment(b *testing.B) {
	for _, d := range []persistence.Durability{persistence.DurabilitySync, persistence.DurabilityNone} {
		b.Run(string(d), func(b *testing.B) {
			opts := kaquan.DefaultOptions()
			opts.Durability, opts.Logger = d, discardLogger()
			e, err := kaquan.Open(b.TempDir(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			ctx := context.Background()
			cfg := Config{Scenario: "payments", Duration: 1, Concurrency: 64, Accounts: 640, Merchants: 10}
			if err := setup(ctx, Local{e}, cfg); err != nil {
				b.Fatal(err)
			}
			clients, err := newClients(ctx, Local{e}, cfg, false)
			if err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := clients[next.Add(1)-1]
				for pb.Next() {
					if err := c.pay(ctx, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCard_DecideReserve measures the pure card validation.
func BenchmarkCard_DecideReserve(b *testing.B) {
	c := &messages.Card{Id: 1, OwnerId: 7, State: messages.CardState_CARD_STATE_AVAILABLE, ValidUntil: 1 << 62,
		Kind: messages.TemplateKind_TEMPLATE_KIND_DISCOUNT, DiscountBp: 1500, DiscountCap: 900, AcceptedMerchants: []uint64{1, 2, 3}}
	cmd := &messages.ReserveCard{Payment: "1/x", PayerId: 7, MerchantId: 3, Amount: 5000, Now: 1}
	for b.Loop() {
		if _, reason := card.DecideReserve(c, cmd); reason != messages.CardReason_CARD_REASON_UNSPECIFIED {
			b.Fatal(reason)
		}
	}
}

func ExampleConfig_Validate() {
	fmt.Println(Config{Scenario: "payments", Duration: 1, Concurrency: 64, Accounts: 10, Merchants: 1}.Validate())
	// Output: accounts 10 outside concurrency..10000000 (each client owns its users)
}
