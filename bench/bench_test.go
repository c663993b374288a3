package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/persistence"
)

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

func ExampleConfig_Validate() {
	fmt.Println(Config{Scenario: "payments", Duration: 1, Concurrency: 64, Accounts: 10, Merchants: 1}.Validate())
	// Output: accounts 10 outside concurrency..10000000 (each client owns its users)
}
