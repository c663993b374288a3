// Command baselines runs kaquan's payment and flash-sale workloads written the usual way, against
// PostgreSQL (one SQL transaction per operation, row locks, default durability) and Redis (a Lua
// script per claim, appendonly), and reports them in the same JSON as `kaquan bench`, so that
// `--report DIR` puts them side by side. run.sh installs, starts and stops the databases.
// It is a module of its own: its drivers stay out of kaquan's dependencies and CI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/kaquan/kaquan/bench"
)

// workload is one system's implementation of the scenarios.
type workload interface {
	setup(ctx context.Context, cfg config) error
	// op runs one operation of client c; errSkip marks a refused claim (sold out), errDone the
	// end of a client's work.
	op(ctx context.Context, c *client) error
	// transactions reports the transactions (or scripts) committed by the clients so far.
	transactions() int64
	close()
}

type config struct {
	system, scenario                 string
	duration                         time.Duration
	concurrency, accounts, merchants int
	flashStock, cardsPerUser         int
}

var (
	errSkip = errors.New("skip")
	errDone = errors.New("done")
)

type client struct {
	id      int
	rng     *rand.Rand
	users   []int64 // the client's users (ids)
	next    int     // flash sale: the next user to try
	winners []int64 // flash sale: users holding a card
	n       int64
	hist    *hdr.Histogram
}

func main() {
	var cfg config
	flag.StringVar(&cfg.system, "system", "postgres", "postgres or redis")
	flag.StringVar(&cfg.scenario, "scenario", "payments", "payments, hot-merchant or flash-sale (redis: flash-sale only)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long the clients run")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "concurrent clients")
	flag.IntVar(&cfg.accounts, "accounts", 5000, "users")
	flag.IntVar(&cfg.merchants, "merchants", 100, "merchants")
	flag.IntVar(&cfg.flashStock, "flash-stock", 10_000, "flash-sale stock")
	flag.IntVar(&cfg.cardsPerUser, "cards-per-user", 8, "cards claimed per user before the clock starts (as kaquan bench --cards-per-user); a user with none left claims one before paying")
	dsn := flag.String("dsn", "postgres:///kaquan_baseline?host=/tmp", "PostgreSQL connection string")
	redisAddr := flag.String("redis", "127.0.0.1:6390", "Redis address")
	label := flag.String("label", "", "a name for this configuration (e.g. appendfsync-always)")
	report := flag.String("report", "", "add the result to this report folder (as kaquan bench --report)")
	flag.Parse()
	ctx := context.Background()
	var w workload
	var err error
	switch cfg.system {
	case "postgres":
		w, err = newPostgres(ctx, *dsn)
	case "redis":
		w, err = newRedis(ctx, *redisAddr)
	default:
		err = fmt.Errorf("system %q", cfg.system)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "baselines:", err)
		os.Exit(1)
	}
	defer w.close()
	start := time.Now()
	if err := w.setup(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "baselines: setup:", err)
		os.Exit(1)
	}
	res := drive(ctx, w, cfg)
	res.SetupS = time.Since(start).Seconds() - res.DurationS
	res.System, res.Durability = cfg.system, *label
	fmt.Printf("%s %s: %d ops in %.1fs: %.0f/s; p50 %.2fms p99 %.2fms; errors %d; %d transactions: %.0f/s\n", cfg.system, cfg.scenario, res.Ops, res.DurationS, res.OpsPerS, res.P50Ms, res.P99Ms, res.Errors, res.Transactions, res.TransactionsPerS)
	if res.SaleAttempts > 0 {
		fmt.Printf("sale: %d users in %.2fs (%.0f claims/s), %d sold\n", res.SaleAttempts, res.SaleS, res.SaleAttemptsPerS, res.SaleSold)
	}
	if *report != "" {
		if _, err := bench.AddToReport(*report, res); err != nil {
			fmt.Fprintln(os.Stderr, "baselines: report:", err)
			os.Exit(1)
		}
	}
	fmt.Println(res.JSON())
}

// drive runs the clients for the duration and measures them as kaquan bench does.
func drive(ctx context.Context, w workload, cfg config) *bench.Result {
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	clients := make([]*client, cfg.concurrency)
	for i := range clients {
		clients[i] = &client{id: i, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), hist: hdr.New(1, 60_000_000, 3)}
	}
	for u := range cfg.accounts {
		clients[u%cfg.concurrency].users = append(clients[u%cfg.concurrency].users, int64(u+1))
	}
	var ops, errs, attempts, sold atomic.Int64
	txns0 := w.transactions()
	var saleEnd atomic.Int64
	var wg sync.WaitGroup
	var timeline []float64
	start := time.Now()
	stopTick := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := int64(0)
		for {
			select {
			case <-stopTick:
				return
			case <-t.C:
				n := ops.Load()
				timeline = append(timeline, float64(n-last))
				last = n
			}
		}
	}()
	for _, c := range clients {
		wg.Go(func() {
			for runCtx.Err() == nil {
				inSale := cfg.scenario == "flash-sale" && c.next < len(c.users)
				err := w.op(runCtx, c)
				if inSale {
					attempts.Add(1)
					saleEnd.Store(max(saleEnd.Load(), int64(time.Since(start))))
					if err == nil {
						sold.Add(1)
					}
				}
				switch {
				case err == nil:
					ops.Add(1)
				case err == errSkip:
				case err == errDone:
					return
				case runCtx.Err() == nil:
					errs.Add(1)
					fmt.Fprintln(os.Stderr, "op:", err)
				}
			}
		})
	}
	wg.Wait()
	close(stopTick)
	elapsed := time.Since(start).Seconds()
	all := hdr.New(1, 60_000_000, 3)
	for _, c := range clients {
		all.Merge(c.hist)
	}
	ms := func(q float64) float64 { return float64(all.ValueAtQuantile(q)) / 1000 }
	res := &bench.Result{Scenario: cfg.scenario, Concurrency: cfg.concurrency, DurationS: elapsed, Ops: ops.Load(),
		OpsPerS: float64(ops.Load()) / elapsed, P50Ms: ms(50), P99Ms: ms(99), P999Ms: ms(99.9), MaxMs: float64(all.Max()) / 1000,
		Errors: errs.Load(), ErrorsByKind: map[string]int{}, AuditOK: true, Audit: "not audited (baseline)", Timeline: timeline}
	res.Transactions = w.transactions() - txns0
	res.TransactionsPerS = float64(res.Transactions) / elapsed
	if a := attempts.Load(); a > 0 {
		res.SaleAttempts, res.SaleSold, res.SaleSoldOut = a, sold.Load(), a-sold.Load()
		res.SaleS = time.Duration(saleEnd.Load()).Seconds()
		res.SaleAttemptsPerS = float64(a) / res.SaleS
	}
	return res
}

// timed records one operation's latency.
func (c *client) timed(f func() error) error {
	start := time.Now()
	err := f()
	if err == nil {
		_ = c.hist.RecordValue(time.Since(start).Microseconds())
	}
	return err
}
