// Package bench is kaquan's load generator (behind `kaquan bench`) and its Go benchmarks.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
)

// Config is one benchmark run.
type Config struct {
	Scenario     string        // one of Scenarios
	FlashStock   int           // flash-sale: the template's stock
	DatasetSize  int           // users to bulk-load (with CardsPerUser cards each) for the payments to run over
	Mix          string        // mixed: the blend of operations (DefaultMix if empty)
	Skew         float64       // mixed: Zipf exponent (> 1) for choosing users; 0 is uniform
	Duration     time.Duration // how long clients run
	Concurrency  int           // concurrent clients
	Accounts     int           // users, each with one funded account
	Merchants    int           // merchants, each with one account
	CardsPerUser int           // cards claimed per user before the clock starts
	AckLog       string        // append each acknowledged payment key here ("" = none)
	// Cluster, when set, is the layout of the cluster the targets are the nodes of (one target per
	// node, in ordinal order): merchants' accounts and templates are then placed on other nodes
	// than their merchants (see merchantAccount), and the result reports cross_node_share.
	Cluster       *slot.Layout
	Progress      io.Writer // progress lines (nil = none)
	ProgressEvery time.Duration
	Bar           io.Writer // a progress bar while loading and running (nil = none)
	// Measure, if set, wraps the timed part of the run (a CPU profile, say): it is called when the
	// clients start and the function it returns when they stop, with the operations done.
	Measure func() (stop func(ops int64))
	// Checkpoint, if set, is called after the dataset import ("import"), the timed run ("run") and
	// the audit ("audit"): a memory profile at each, say.
	Checkpoint func(phase string)
}

// Scenarios are the workloads.
var Scenarios = []string{"payments", "hot-merchant", "flash-sale", "gifts", "pools", "mixed"}

// Limits of a run.
const (
	ConcurrencyMax = 4096
	AccountsMax    = 10_000_000
	MerchantsMax   = 100_000
	DurationMax    = 24 * time.Hour
)

// Validate checks every bound.
func (c Config) Validate() error {
	switch {
	case !slices.Contains(Scenarios, c.Scenario):
		return fmt.Errorf("scenario %q: want one of %v", c.Scenario, Scenarios)
	case c.DatasetSize < 0 || c.DatasetSize > kaquan.ImportUsersMax || (c.DatasetSize > 0 && c.Scenario != "payments" && c.Scenario != "hot-merchant"):
		return fmt.Errorf("dataset size %d: 0..%d users, for the payments and hot-merchant scenarios", c.DatasetSize, kaquan.ImportUsersMax)
	case c.Skew != 0 && (c.Skew <= 1 || c.Skew > 10):
		return fmt.Errorf("skew %g: 0 (uniform) or a Zipf exponent in (1, 10]", c.Skew)
	case c.Scenario == "flash-sale" && (c.FlashStock < 1 || c.FlashStock > 1<<30):
		return fmt.Errorf("flash-sale: stock %d outside 1..2^30", c.FlashStock)
	case c.Scenario == "pools" && min(c.Accounts, poolContactsMax) < c.Concurrency:
		return fmt.Errorf("pools: each of the %d clients needs a contact among the first %d users", c.Concurrency, poolContactsMax)
	case c.Scenario == "gifts" && c.Accounts < 2*c.Concurrency:
		return fmt.Errorf("gifts: accounts %d below twice the concurrency (each client gifts among its own users)", c.Accounts)
	case c.Duration <= 0 || c.Duration > DurationMax:
		return fmt.Errorf("duration %s outside 0..%s", c.Duration, DurationMax)
	case c.Concurrency < 1 || c.Concurrency > ConcurrencyMax:
		return fmt.Errorf("concurrency %d outside 1..%d", c.Concurrency, ConcurrencyMax)
	case c.Accounts < c.Concurrency || c.Accounts > AccountsMax:
		return fmt.Errorf("accounts %d outside concurrency..%d (each client owns its users)", c.Accounts, AccountsMax)
	case c.Merchants < 1 || c.Merchants > MerchantsMax:
		return fmt.Errorf("merchants %d outside 1..%d", c.Merchants, MerchantsMax)
	case c.CardsPerUser < 0 || c.CardsPerUser > 1000:
		return fmt.Errorf("cards per user %d outside 0..1000", c.CardsPerUser)
	}
	if c.Scenario == "mixed" {
		_, err := parseMix(c.Mix)
		return err
	}
	return nil
}

// Result is what a run measured. Its JSON form is the last line of `kaquan bench --json`.
type Result struct {
	Scenario    string  `json:"scenario"`
	Durability  string  `json:"durability,omitempty"`
	Target      string  `json:"target,omitempty"` // the server, when run over the network
	System      string  `json:"system,omitempty"` // "kaquan", or a baseline's name
	Started     string  `json:"started,omitempty"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	Ops         int64   `json:"ops"`
	OpsPerS     float64 `json:"ops_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	Errors      int64   `json:"errors"`
	// A cluster: payments whose payer, card and merchant were not all on one node, of all payments;
	// and the calls refused while a node was down (ErrUnavailable), counted among the errors.
	CrossNodeShare *float64       `json:"cross_node_share,omitempty"`
	Unavailable    int64          `json:"unavailable"`
	ErrorsByKind   map[string]int `json:"errors_by_kind"`
	AuditOK        bool           `json:"audit_ok"`
	Audit          string         `json:"audit"`
	SetupS         float64        `json:"setup_s"`
	Timeline       []float64      `json:"timeline,omitempty"`       // operations per second, each second of the run
	PeakRSSBytes   int64          `json:"peak_rss_bytes,omitempty"` // the process's peak resident memory (the engine's too, when embedded)
	// The peak resident memory during the timed run alone (not the setup or import before it).
	RunPeakRSSBytes int64 `json:"run_peak_rss_bytes,omitempty"`
	DiskBytes       int64 `json:"disk_bytes,omitempty"` // --dataset-size: the data folder's size after the run
	PerOp                 // what the timed part cost per operation
	// Baselines: the transactions (SQL transactions, Redis scripts) the clients committed.
	Transactions     int64   `json:"transactions,omitempty"`
	TransactionsPerS float64 `json:"transactions_per_s,omitempty"`
	// gifts: distinct images stored, and the bytes stored for them (image bytes plus their records)
	// and the growth of the data folder, per distinct image added during the run.
	Images                 int64   `json:"images,omitempty"`
	ImageBytesPerImage     float64 `json:"image_bytes_per_image,omitempty"`
	DiskBytesPerImageAdded float64 `json:"disk_bytes_per_image_added,omitempty"`
	// pools: claims lost to another contact (not errors), and confirmed uses with their reward
	// latency (the signed notification until the reward is settled).
	ClaimsLost    int64   `json:"claims_lost,omitempty"`
	Confirmations int64   `json:"confirmations,omitempty"`
	RewardP50Ms   float64 `json:"reward_p50_ms,omitempty"`
	RewardP99Ms   float64 `json:"reward_p99_ms,omitempty"`
	// flash-sale: claim attempts (one per user), cards sold (never above the stock), users refused
	// as sold out, how long the sale took and its attempts per second, and the winners' claim latency.
	SaleAttempts     int64   `json:"sale_attempts,omitempty"`
	SaleSold         int64   `json:"sale_sold,omitempty"`
	SaleSoldOut      int64   `json:"sale_sold_out,omitempty"`
	SaleS            float64 `json:"sale_s,omitempty"`
	SaleAttemptsPerS float64 `json:"sale_attempts_per_s,omitempty"`
	SaleClaimP50Ms   float64 `json:"sale_claim_p50_ms,omitempty"`
	SaleClaimP99Ms   float64 `json:"sale_claim_p99_ms,omitempty"`
}

// PerOp is what the timed part of a run cost per operation: this process's CPU (kaquan bench),
// and for an embedded engine its deliveries to entities, activations, Badger reads, durable
// writes and their entries. Zero where unknown (omitted from the JSON).
type PerOp struct {
	CPUMicrosPerOp   float64 `json:"cpu_us_per_op,omitempty"`
	DeliveriesPerOp  float64 `json:"deliveries_per_op,omitempty"`
	ActivationsPerOp float64 `json:"activations_per_op,omitempty"`
	BadgerReadsPerOp float64 `json:"badger_reads_per_op,omitempty"`
	WritesPerOp      float64 `json:"writes_per_op,omitempty"`
	EntriesPerOp     float64 `json:"entries_per_op,omitempty"`
}

// JSON renders r on one line.
func (r *Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// IDs of the benchmark population; they never collide with each other.
const (
	merchantBase        = 1_000_000_000
	userBase            = 2_000_000_000
	merchantAccountBase = 3_000_000_000
	userAccountBase     = 4_000_000_000
	templateBase        = 4_000_000         // template of merchant m: templateBase + m, accepted by m only
	depositPerUser      = 1_000_000_000_000 // enough for any run
)

// Run sets up (or reuses) the population in e and runs the scenario.
func Run(ctx context.Context, e API, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := setup(ctx, e, cfg); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	var ownerCards chan uint64
	if cfg.Scenario == "pools" {
		cards, err := setupPools(ctx, e, cfg)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		ownerCards = make(chan uint64, len(cards))
		for _, c := range cards {
			ownerCards <- c
		}
	}
	fresh := false
	if cfg.DatasetSize > 0 {
		var err error
		if fresh, err = importDataset(ctx, e, cfg); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		cfg.checkpoint("import")
	}
	clients, err := newClients(ctx, e, cfg, fresh)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	setupS := time.Since(start).Seconds()
	var ack *ackLog
	if cfg.AckLog != "" {
		if ack, err = openAckLog(cfg.AckLog); err != nil {
			return nil, err
		}
		defer ack.Close()
	}
	before, err := e.ImageStats(ctx)
	if err != nil {
		return nil, err
	}
	// The peak until now (an import's included), then the peak of the timed run alone.
	peakBefore := ReadMemory().PeakRSS
	runPeakKnown := ResetPeakMemory() == nil
	res := drive(ctx, e, clients, cfg, ack, ownerCards)
	res.SetupS = setupS
	if st, err := e.ImageStats(ctx); err == nil && cfg.DatasetSize > 0 {
		res.DiskBytes = st.DiskBytes
	}
	runPeak := ReadMemory().PeakRSS
	res.PeakRSSBytes = max(peakBefore, runPeak)
	if runPeakKnown {
		res.RunPeakRSSBytes = runPeak
	}
	cfg.checkpoint("run")
	if cfg.Scenario == "gifts" {
		after, err := e.ImageStats(ctx)
		if err != nil {
			return nil, err
		}
		res.Images = after.Images
		if after.Images > 0 {
			res.ImageBytesPerImage = float64(after.StoredBytes) / float64(after.Images)
		}
		if added := after.Images - before.Images; added > 0 {
			res.DiskBytesPerImageAdded = float64(after.DiskBytes-before.DiskBytes) / float64(added)
		}
	}
	res.AuditOK, res.Audit, err = e.AuditSummary(ctx)
	if err != nil {
		return nil, err
	}
	cfg.checkpoint("audit")
	return res, nil
}

func (c Config) checkpoint(phase string) {
	if c.Checkpoint != nil {
		c.Checkpoint(phase)
	}
}

func setup(ctx context.Context, e API, cfg Config) error {
	for m := range cfg.Merchants {
		id := uint64(merchantBase + m)
		if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: id, Kind: messages.PartyKind_PARTY_KIND_MERCHANT, Name: "bench merchant"}); err != nil {
			return err
		}
		if _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: cfg.merchantAccount(m), Owner: id}); err != nil {
			return err
		}
		_, err := e.CreateTemplate(ctx, &messages.Template{Id: uint64(templateBase+m) + cfg.templateShift(), MerchantId: id, Title: "bench: 5 off 20",
			Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000, StockTotal: 1<<32 - 1,
			PerUserLimit: 1<<32 - 1, ValidDays: 365})
		if err != nil {
			return err
		}
		_, err = e.CreateTemplate(ctx, &messages.Template{Id: uint64(giftTemplateBase + m), MerchantId: id, Title: "bench: a gift card",
			Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000, StockTotal: 1<<32 - 1,
			PerUserLimit: 1<<32 - 1, ValidDays: 365, CanGift: true})
		if err != nil {
			return err
		}
	}
	loading := newBar(cfg.Bar, int64(cfg.Accounts), "loading users")
	defer loading.finish()
	return parallel(ctx, cfg.Accounts, cfg.Concurrency, func(i int) error {
		defer loading.Add(1)
		u := uint64(userBase + i)
		if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: u, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "bench user"}); err != nil {
			return err
		}
		if _, err := e.CreateAccount(ctx, kaquan.CreateAccount{ID: uint64(userAccountBase + i), Owner: u}); err != nil {
			return err
		}
		_, err := e.Deposit(ctx, kaquan.Deposit{Account: uint64(userAccountBase + i), Amount: depositPerUser, Key: "bench-initial"})
		return err
	})
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// client is one simulated merchant terminal serving its own users (so no two clients race on a card).
type client struct {
	e      API
	cfg    Config
	rng    *rand.Rand
	users  []benchUser
	hist   *hdr.Histogram
	errs   map[string]int
	run    string
	n      int
	themes [][]byte // gifts: the theme images
	// flash-sale
	flash     *flashSale
	next      int   // the next user to try the sale
	winners   []int // users holding a card from the sale
	claimHist *hdr.Histogram
	// mixed
	mix  []int // cumulative weights of mixOps
	zipf *rand.Zipf
	// pools
	contacts   []uint64
	page       []*messages.PoolEntry
	lost       int64
	rewardHist *hdr.Histogram
	// a cluster: payments made, and those whose payer, card and merchant were not on one node
	paid, crossed int64
}

type benchUser struct {
	id, account uint64
	cards       []uint64 // claimed, unused
	imported    int      // --dataset-size: the user's index in the imported population
	unused      int      // --dataset-size: imported cards not used yet
}

func newClients(ctx context.Context, e API, cfg Config, freshDataset bool) ([]*client, error) {
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	base := templateBase
	var imgs [][]byte
	if cfg.Scenario == "mixed" {
		base = giftTemplateBase
	}
	if cfg.Scenario == "gifts" {
		base = giftTemplateBase
		var err error
		if imgs, err = themes(); err != nil {
			return nil, err
		}
	}
	clients := make([]*client, cfg.Concurrency)
	for i := range clients {
		clients[i] = &client{e: e, cfg: cfg, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))),
			hist: hdr.New(1, 60_000_000, 3), errs: map[string]int{}, run: fmt.Sprintf("%s-%d", run, i), themes: imgs,
			rewardHist: hdr.New(1, 60_000_000, 3), claimHist: hdr.New(1, 60_000_000, 3)}
	}
	if cfg.Scenario == "pools" {
		for i := range min(cfg.Accounts, poolContactsMax) {
			c := clients[i%cfg.Concurrency]
			c.contacts = append(c.contacts, uint64(userBase+i))
		}
		return clients, nil // pool scenario users claim from the pool, not from templates
	}
	for i := range cfg.Accounts {
		c := clients[i%cfg.Concurrency]
		c.users = append(c.users, benchUser{id: uint64(userBase + i), account: uint64(userAccountBase + i)})
	}
	if cfg.Scenario == "flash-sale" {
		sale, err := setupFlash(ctx, e, cfg)
		if err != nil {
			return nil, err
		}
		for _, c := range clients {
			c.flash = sale
		}
		return clients, nil // the users claim in the sale, not before
	}
	if cfg.DatasetSize > 0 {
		for _, c := range clients {
			c.users = nil
		}
		datasetUsers(clients, cfg, freshDataset)
	}
	for _, c := range clients {
		if err := c.initMixed(); err != nil { // the blend (mixed) and the skew (every scenario)
			return nil, err
		}
	}
	if cfg.DatasetSize > 0 {
		return clients, nil // the population holds its cards already
	}
	err := parallel(ctx, cfg.Concurrency, cfg.Concurrency, func(i int) error {
		c := clients[i]
		for u := range c.users {
			for range cfg.CardsPerUser {
				if err := c.claimFrom(ctx, &c.users[u], base); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return clients, err
}

// merchantOfTemplate is the bench merchant (0-based) whose template t is: each template belongs to
// one merchant, numbered from a base per kind of template; the flash-sale template is merchant 0's.
func (c Config) merchantOfTemplate(t uint64) int {
	if t >= templateBase+c.templateShift() && t < templateBase+c.templateShift()+MerchantsMax {
		return int(t - templateBase - c.templateShift())
	}
	for _, base := range []uint64{giftTemplateBase, poolTemplateBase, rewardTemplateBase} {
		if t >= base && t < base+MerchantsMax {
			return int(t - base)
		}
	}
	return 0
}

// merchantAccount is merchant m's account. On a cluster its id is shifted by one, and the payment
// template's by two: slot = id mod S and node = slot mod N put a merchant (its payments), its
// account and its cards on three nodes (two, or one, only where the slots wrap), so that almost
// every payment crosses nodes, whoever its payer.
func (c Config) merchantAccount(m int) uint64 {
	if c.Cluster != nil {
		return uint64(merchantAccountBase + m + 1)
	}
	return uint64(merchantAccountBase + m)
}

func (c Config) templateShift() uint64 {
	if c.Cluster != nil {
		return 2
	}
	return 0
}

// crossNode reports whether a payment's payer account, card and merchant are not all on one node.
func (c Config) crossNode(payer, card uint64, merchant int) bool {
	l := c.Cluster
	node := func(s uint32) uint32 { return l.NodeOf(s) }
	p, k, m := node(l.OfAccount(payer)), node(l.OfCard(card)), node(l.OfMerchant(uint64(merchantBase+merchant)))
	return p != k || k != m
}

// claimFrom claims a card for u from a random merchant's template numbered from base (merchant 0's
// in the hot-merchant scenario).
func (c *client) claimFrom(ctx context.Context, u *benchUser, base int) error {
	m := c.rng.IntN(c.cfg.Merchants)
	if c.cfg.Scenario == "hot-merchant" {
		m = 0
	}
	t := uint64(base + m)
	if base == templateBase {
		t += c.cfg.templateShift()
	}
	card, err := c.e.Claim(ctx, kaquan.Claim{Template: t, User: u.id})
	if err != nil {
		return err
	}
	u.cards = append(u.cards, card.Id)
	return nil
}

// pay is one operation: the consumer shows a code for one of their cards, the card's merchant submits it.
func (c *client) pay(ctx context.Context, ack *ackLog) error {
	u := c.pick()
	if err := c.nextImported(ctx, u); err != nil {
		return err
	}
	if len(u.cards) == 0 {
		if err := c.claimFrom(ctx, u, templateBase); err != nil {
			return err
		}
	}
	return c.payWith(ctx, u, ack)
}

// payWith pays with u's newest card at the card's merchant.
func (c *client) payWith(ctx context.Context, u *benchUser, ack *ackLog) error {
	card := u.cards[len(u.cards)-1]
	code, err := c.e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u.id, Account: u.account, Card: card})
	if err != nil {
		return err
	}
	m := c.cfg.merchantOfTemplate(card >> 32)
	c.n++
	key := fmt.Sprintf("b%s-%d", c.run, c.n)
	start := time.Now()
	_, err = c.e.Pay(ctx, kaquan.Pay{Merchant: uint64(merchantBase + m), MerchantAccount: c.cfg.merchantAccount(m),
		Code: code.Code, Amount: 2000 + c.rng.Int64N(8000), Key: key})
	if err != nil {
		return err
	}
	_ = c.hist.RecordValue(time.Since(start).Microseconds())
	if c.cfg.Cluster != nil {
		c.paid++
		if c.cfg.crossNode(u.account, card, m) {
			c.crossed++
		}
	}
	u.cards = u.cards[:len(u.cards)-1]
	if ack != nil {
		return ack.Append(kaquan.PaymentKey(uint64(merchantBase+m), key))
	}
	return nil
}

func drive(ctx context.Context, e API, clients []*client, cfg Config, ack *ackLog, ownerCards <-chan uint64) *Result {
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var ops, errCount atomic.Int64
	if cfg.Measure != nil {
		stopMeasure := cfg.Measure()
		defer func() { stopMeasure(ops.Load()) }()
	}
	var wg sync.WaitGroup
	start := time.Now()
	sharerErrs := &errorCounts{m: map[string]int{}}
	if cfg.Scenario == "pools" {
		for i := range min(cfg.Concurrency, 64) {
			wg.Go(func() { share(runCtx, e, cfg, ownerCards, rand.New(rand.NewPCG(uint64(i), 99)), sharerErrs) })
		}
	}
	for _, c := range clients {
		op := c.pay
		switch cfg.Scenario {
		case "gifts":
			op = c.gift
		case "pools":
			op = c.claimFromPool
		case "flash-sale":
			op = c.flashOp
		case "mixed":
			op = c.mixedOp
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				if err := op(runCtx, ack); err != nil {
					// The clock ran out mid-operation. Over the network the server, holding the
					// same deadline, may say so a moment before the local context does.
					deadline, _ := runCtx.Deadline()
					if runCtx.Err() != nil || (errors.Is(err, context.DeadlineExceeded) && time.Until(deadline) < 100*time.Millisecond) {
						return
					}
					if err == errSkip {
						continue
					}
					if err == errDone {
						return
					}
					c.errs[errorKind(err)]++
					errCount.Add(1)
					continue
				}
				ops.Add(1)
			}
		}()
	}
	stop := progress(cfg, start, &ops, &errCount)
	wg.Wait()
	timeline := stop()
	elapsed := time.Since(start).Seconds()
	all, rewards := hdr.New(1, 60_000_000, 3), hdr.New(1, 60_000_000, 3)
	res := &Result{Scenario: cfg.Scenario, Concurrency: cfg.Concurrency, DurationS: elapsed, ErrorsByKind: map[string]int{}}
	var paid, crossed int64
	for _, c := range clients {
		all.Merge(c.hist)
		rewards.Merge(c.rewardHist)
		res.ClaimsLost += c.lost
		for k, n := range c.errs {
			res.ErrorsByKind[k] += n
		}
		paid, crossed = paid+c.paid, crossed+c.crossed
	}
	if cfg.Cluster != nil {
		share := 0.0
		if paid > 0 {
			share = float64(crossed) / float64(paid)
		}
		res.CrossNodeShare = &share
		res.Unavailable = int64(res.ErrorsByKind[kaquan.Reason(kaquan.ErrUnavailable)])
	}
	for k, n := range sharerErrs.m {
		res.ErrorsByKind[k] += n
		errCount.Add(int64(n))
	}
	if sale := clients[0].flash; sale != nil {
		claims := hdr.New(1, 60_000_000, 3)
		for _, c := range clients {
			claims.Merge(c.claimHist)
		}
		res.SaleAttempts, res.SaleSold, res.SaleSoldOut = sale.attempts.Load(), sale.sold.Load(), sale.soldOut.Load()
		if span := sale.last.Sub(sale.first).Seconds(); span > 0 {
			res.SaleS, res.SaleAttemptsPerS = span, float64(res.SaleAttempts)/span
		}
		res.SaleClaimP50Ms, res.SaleClaimP99Ms = float64(claims.ValueAtQuantile(50))/1000, float64(claims.ValueAtQuantile(99))/1000
	}
	if n := rewards.TotalCount(); n > 0 {
		res.Confirmations = n
		res.RewardP50Ms, res.RewardP99Ms = float64(rewards.ValueAtQuantile(50))/1000, float64(rewards.ValueAtQuantile(99))/1000
	}
	res.Ops, res.Errors, res.Timeline = ops.Load(), errCount.Load(), timeline
	res.OpsPerS = float64(res.Ops) / elapsed
	ms := func(q float64) float64 { return float64(all.ValueAtQuantile(q)) / 1000 }
	res.P50Ms, res.P99Ms, res.P999Ms, res.MaxMs = ms(50), ms(99), ms(99.9), float64(all.Max())/1000
	return res
}

// progress samples the rate every ProgressEvery (1 s) into the run's timeline, printing a line per
// sample to Progress and moving a bar on Bar; stop returns the timeline (operations per second).
func progress(cfg Config, start time.Time, ops, errs *atomic.Int64) (stop func() []float64) {
	every := cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	bar := newBar(cfg.Bar, int64(cfg.Duration/time.Second), "running")
	done := make(chan struct{})
	var timeline []float64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := ops.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				timeline = append(timeline, rate)
				if cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "%5.1fs  ops %d  rate %.0f/s  errors %d\n", now.Sub(start).Seconds(), n, rate, errs.Load())
				}
				bar.Set64(int64(now.Sub(start) / time.Second))
				last, lastAt = n, now
			}
		}
	})
	return func() []float64 { close(done); wg.Wait(); bar.finish(); return timeline }
}

// errorKind names an error by the typed error it matches.
func errorKind(err error) string { return kaquan.Reason(err) }

// ackLog appends acknowledged payment keys, one per line, each written as soon as it is acknowledged.
type ackLog struct {
	mu sync.Mutex
	f  *os.File
}

func openAckLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ack log: %w", err)
	}
	return &ackLog{f: f}, nil
}

func (a *ackLog) Append(key string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err := a.f.WriteString(key + "\n")
	return err
}

func (a *ackLog) Close() error { return a.f.Close() }

// SortedKinds lists error kinds in a stable order for printing.
func SortedKinds(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
