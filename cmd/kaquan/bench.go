package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/bench"
	"github.com/kaquan/kaquan/persistence"
)

func (m Main) bench(ctx context.Context, args []string) error {
	fs := m.newFlags("bench")
	data := fs.String("data", "kaquan-data", "data folder (reused if it exists)")
	scenario := fs.String("scenario", "payments", "workload: payments (card-validated payments), hot-merchant (every payment into one merchant), flash-sale (every user races to claim from one template, then the winners pay), gifts (direct gifts with images), pools (contacts claiming from one busy pool, with confirmations and rewards) or mixed (a blend, --mix, over Zipf-skewed users, --skew)")
	flashStock := fs.Int("flash-stock", 10_000, "flash-sale: the template's stock")
	mix := fs.String("mix", bench.DefaultMix, "mixed: the blend of operations, op=weight,... (pay, gift, claim, wallet)")
	dataset := fs.Int("dataset-size", 0, "bulk-load this many users, each with --cards-per-user cards, for the payments to run over (embedded only); reports peak memory and disk size")
	skew := fs.Float64("skew", 0, "mixed: Zipf exponent (> 1) for choosing users, so a few are hot; 0 is uniform")
	report := fs.String("report", "", "add this run's results to DIR and write DIR/report.html and charts (PNG) of every run there")
	noBar := fs.Bool("no-progress-bar", false, "no progress bar on stderr")
	duration := fs.Duration("duration", 10*time.Second, "how long the clients run")
	concurrency := fs.Int("concurrency", 64, "concurrent clients")
	durability := fs.String("durability", "sync", "sync (fsync every group commit), none (benchmarks only: no fsync) or memory (tests only: nothing on disk)")
	accounts := fs.Int("accounts", 10_000, "users, each with a funded account")
	merchants := fs.Int("merchants", 100, "merchants, each with an account")
	cards := fs.Int("cards-per-user", 2, "cards each user claims before the clock starts (pools: the pool's owner claims this many per contact)")
	ackLog := fs.String("ack-log", "", "append each acknowledgement to this file as it arrives (payment keys; gift:, claim: and reward: lines), for audit --expect-acks")
	asJSON := fs.Bool("json", false, "end with one JSON line of results")
	verbose := fs.Bool("v", false, "log engine activity")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	traceFile := fs.String("trace", "", "write an execution trace of the run to this file (go tool trace): where the run stalls and who held the cores")
	memProfile := fs.String("memprofile", "", "write heap profiles to PREFIX.import.pprof, PREFIX.run.pprof and PREFIX.audit.pprof, and report memory at each")
	target := fs.String("target", "", "run against this server (http://host:port) instead of an embedded engine; a cluster: every node's URL, in ordinal order, comma-separated (calls are spread over them; reports cross_node_share and unavailable)")
	slots := fs.Int("slots", kaquan.ClusterSlotsDefault, "with a --target cluster: its slot count (to place the population and count cross_node_share)")
	token := fs.String("token", "", "with --target: an admin token (better from KAQUAN_TOKEN)")
	gc := addGCFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := gc.apply(); err != nil {
		fmt.Fprintln(m.Stderr, err)
		return errUsage
	}
	d, err := persistence.ParseDurability(*durability)
	if err != nil {
		return err
	}
	cfg := bench.Config{Scenario: *scenario, Duration: *duration, Concurrency: *concurrency,
		Accounts: *accounts, Merchants: *merchants, CardsPerUser: *cards, AckLog: *ackLog, FlashStock: *flashStock, Mix: *mix, Skew: *skew, DatasetSize: *dataset,
		Progress: m.Stdout, ProgressEvery: time.Second}
	if !*noBar {
		cfg.Bar = m.Stderr
	}
	if *memProfile != "" {
		cfg.Checkpoint = memCheckpoint(*memProfile, m.Stdout, m.Stderr)
	}
	var api bench.API
	var work bench.PerOp
	where := fmt.Sprintf("durability %s", d)
	if targets := strings.Split(*target, ","); len(targets) > 1 {
		l := slot.Layout{Slots: uint32(*slots), Nodes: uint32(len(targets))}
		if err := l.Validate(); err != nil || *slots < 1 {
			fmt.Fprintf(m.Stderr, "kaquan bench: --target lists %d nodes, --slots %d: %v\n", len(targets), *slots, err)
			return errUsage
		}
		var nodes []bench.API
		for _, t := range targets {
			nodes = append(nodes, bench.NewRemote(strings.TrimSpace(t), *token))
		}
		api, where, cfg.Cluster = bench.NewSpread(nodes...), fmt.Sprintf("cluster of %d nodes %s", len(targets), *target), &l
		cfg.Measure = measure(profiles{cpu: *cpuProfile, trace: *traceFile}, m, nil, &work)
	} else if *target != "" {
		api, where = bench.NewRemote(*target, *token), "server "+*target
		cfg.Measure = measure(profiles{cpu: *cpuProfile, trace: *traceFile}, m, nil, &work)
	} else {
		opts := kaquan.DefaultOptions()
		opts.Durability = d
		opts.Logger = m.logger(*verbose)
		e, err := kaquan.Open(*data, opts)
		if err != nil {
			return err
		}
		defer e.Close()
		api, cfg.Measure = bench.Local{Engine: e}, measure(profiles{cpu: *cpuProfile, trace: *traceFile}, m, e, &work)
	}
	fmt.Fprintf(m.Stdout, "bench %s: %d clients for %s, %s, %d accounts, %d merchants\n",
		*scenario, *concurrency, *duration, where, *accounts, *merchants)
	res, err := bench.Run(ctx, api, cfg)
	if err != nil {
		return err
	}
	res.Durability = string(d)
	res.PerOp = work
	if *target != "" {
		res.Durability, res.Target = "", *target
	}
	fmt.Fprintf(m.Stdout, "setup %.1fs; %d %s in %.1fs: %.0f/s; latency p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms\n",
		res.SetupS, res.Ops, res.Scenario, res.DurationS, res.OpsPerS, res.P50Ms, res.P99Ms, res.P999Ms, res.MaxMs)
	if res.Scenario == "pools" {
		fmt.Fprintf(m.Stdout, "claims lost to another contact: %d; confirmed uses %d, reward latency p50 %.2fms p99 %.2fms\n",
			res.ClaimsLost, res.Confirmations, res.RewardP50Ms, res.RewardP99Ms)
	}
	if res.DiskBytes > 0 {
		fmt.Fprintf(m.Stdout, "dataset: %d users with %d cards each; peak resident memory %.2f GiB (during the timed run %.2f GiB); data folder %.2f GiB\n",
			*dataset, *cards, float64(res.PeakRSSBytes)/(1<<30), float64(res.RunPeakRSSBytes)/(1<<30), float64(res.DiskBytes)/(1<<30))
	}
	if res.SaleAttempts > 0 {
		fmt.Fprintf(m.Stdout, "sale: %d users tried in %.2fs (%.0f claims/s), %d cards sold of %d, %d refused as sold out; winners' claim p50 %.2fms p99 %.2fms\n",
			res.SaleAttempts, res.SaleS, res.SaleAttemptsPerS, res.SaleSold, *flashStock, res.SaleSoldOut, res.SaleClaimP50Ms, res.SaleClaimP99Ms)
	}
	if res.Images > 0 {
		fmt.Fprintf(m.Stdout, "images: %d distinct, %.0f bytes stored per image, data folder grew %.0f bytes per image added\n",
			res.Images, res.ImageBytesPerImage, res.DiskBytesPerImageAdded)
	}
	if res.CrossNodeShare != nil {
		fmt.Fprintf(m.Stdout, "cluster: %.1f%% of payments crossed nodes; %d calls refused while a node was unavailable\n",
			100**res.CrossNodeShare, res.Unavailable)
	}
	fmt.Fprintf(m.Stdout, "errors %d", res.Errors)
	for _, k := range bench.SortedKinds(res.ErrorsByKind) {
		fmt.Fprintf(m.Stdout, " %s=%d", k, res.ErrorsByKind[k])
	}
	fmt.Fprintf(m.Stdout, "\n%s\n", res.Audit)
	if *report != "" {
		page, err := bench.AddToReport(*report, res)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		fmt.Fprintf(m.Stdout, "report: %s\n", page)
	}
	if *asJSON {
		fmt.Fprintln(m.Stdout, res.JSON())
	}
	if !res.AuditOK {
		return fmt.Errorf("%w after the run", errAuditFailed)
	}
	return nil
}

// profiles names the files the timed run is recorded to ("" for none).
type profiles struct{ cpu, trace string }

// measure reports the CPU time the timed part of a run used (and, embedded, the writer's work),
// and profiles or traces it when asked; the figures per operation go to work too.
func measure(p profiles, m Main, e *kaquan.Engine, work *bench.PerOp) func() func(int64) {
	return func() func(int64) {
		stopProfiles := startProfiles(p, m)
		// The engine's counters (zero against a remote engine, whose process is another).
		type counts struct {
			deliveries, activations, reads int64
			w                              persistence.WriterStats
		}
		now := func() counts {
			if e == nil {
				return counts{}
			}
			s := e.Stats()
			return counts{s.Deliveries, s.Activations, s.StoreReads, s.Writer}
		}
		before, c0, t0 := cpuTime(), now(), time.Now()
		return func(ops int64) {
			c1, secs := now(), time.Since(t0).Seconds()
			w0, w1 := c0.w, c1.w
			if e != nil && ops > 0 {
				per := func(a, b int64) float64 { return float64(b-a) / float64(ops) }
				*work = bench.PerOp{DeliveriesPerOp: per(c0.deliveries, c1.deliveries), ActivationsPerOp: per(c0.activations, c1.activations),
					BadgerReadsPerOp: per(c0.reads, c1.reads), WritesPerOp: per(w0.Writes, w1.Writes), EntriesPerOp: per(w0.Entries, w1.Entries)}
				fmt.Fprintf(m.Stdout, "per operation during the run: %.1f deliveries to entities, %.2f activations, %.1f Badger reads, %.1f durable writes of %.1f entries\n",
					work.DeliveriesPerOp, work.ActivationsPerOp, work.BadgerReadsPerOp, work.WritesPerOp, work.EntriesPerOp)
			}
			if n := w1.Batches - w0.Batches; n > 0 {
				fmt.Fprintf(m.Stdout, "writer during the run: %.0f commits/s, %.1f writes and %.1f entries per commit, %.2fms in each commit, busy %.0f%%\n",
					float64(n)/secs, float64(w1.Writes-w0.Writes)/float64(n), float64(w1.Entries-w0.Entries)/float64(n),
					float64(w1.CommitNanos-w0.CommitNanos)/float64(n)/1e6, float64(w1.CommitNanos-w0.CommitNanos)/secs/1e7)
			}
			if n := w1.Applies - w0.Applies; n > 0 {
				fmt.Fprintf(m.Stdout, "applier during the run: %.0f Badger transactions/s, %.2fms in each, busy %.0f%%\n",
					float64(n)/secs, float64(w1.ApplyNanos-w0.ApplyNanos)/float64(n)/1e6, float64(w1.ApplyNanos-w0.ApplyNanos)/secs/1e7)
			}
			stopProfiles()
			cpu := cpuTime() - before
			fmt.Fprintf(m.Stdout, "process CPU during the run (this process): %.1fs", cpu.Seconds())
			if ops > 0 && cpu > 0 {
				work.CPUMicrosPerOp = float64(cpu.Microseconds()) / float64(ops)
				fmt.Fprintf(m.Stdout, ", %.0f µs per operation", work.CPUMicrosPerOp)
			}
			fmt.Fprintln(m.Stdout)
		}
	}
}

// startProfiles starts the CPU profile and the execution trace p asks for; a file that cannot be
// written is reported and skipped (the run goes on). The returned function stops both.
func startProfiles(p profiles, m Main) (stop func()) {
	var stops []func()
	start := func(what, path string, begin func(io.Writer) error, end func()) {
		if path == "" {
			return
		}
		f, err := os.Create(path)
		if err == nil {
			if err = begin(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(m.Stderr, "%s: %v\n", what, err)
			return
		}
		stops = append(stops, func() {
			end()
			if err := f.Close(); err != nil {
				fmt.Fprintf(m.Stderr, "%s: %v\n", what, err)
			}
		})
	}
	start("cpu profile", p.cpu, pprof.StartCPUProfile, pprof.StopCPUProfile)
	start("trace", p.trace, trace.Start, trace.Stop)
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
