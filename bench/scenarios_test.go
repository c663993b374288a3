package bench

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/persistence"
)

func runScenario(t *testing.T, cfg Config) *Result {
	t.Helper()
	opts := kaquan.DefaultOptions()
	opts.Durability = persistence.DurabilityMemory
	e, err := kaquan.Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res, err := Run(context.Background(), Local{e}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.AuditOK || res.Errors != 0 {
		t.Fatalf("%s: audit %v, errors %v: %s", cfg.Scenario, res.AuditOK, res.ErrorsByKind, res.Audit)
	}
	return res
}

func TestScenario_HotMerchant(t *testing.T) {
	res := runScenario(t, Config{Scenario: "hot-merchant", Duration: 500 * time.Millisecond, Concurrency: 8, Accounts: 40, Merchants: 5, CardsPerUser: 1})
	if res.Ops < 10 || !strings.Contains(res.Audit, "COMPLETED") {
		t.Errorf("hot-merchant: %d ops, %s", res.Ops, res.Audit)
	}
}

// TestScenario_FlashSale: 300 users race for 50 cards: exactly 50 are sold, 250 users are refused,
// and the winners pay.
func TestScenario_FlashSale(t *testing.T) {
	res := runScenario(t, Config{Scenario: "flash-sale", Duration: 5 * time.Second, Concurrency: 16, Accounts: 300, Merchants: 2, FlashStock: 50})
	if res.SaleAttempts != 300 || res.SaleSold != 50 || res.SaleSoldOut != 250 || res.SaleAttemptsPerS <= 0 {
		t.Fatalf("sale: %d attempts, %d sold, %d sold out, %.0f/s", res.SaleAttempts, res.SaleSold, res.SaleSoldOut, res.SaleAttemptsPerS)
	}
	if res.Ops != 100 { // 50 claims and 50 payments
		t.Errorf("ops %d, want 100", res.Ops)
	}
}

// TestReport: runs added to a folder come out in one page with its charts.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	for i, sys := range []string{"kaquan", "postgres"} {
		r := &Result{Scenario: "payments", System: sys, Durability: "sync", Concurrency: 64, OpsPerS: float64(1000 * (i + 1)), TransactionsPerS: float64(3000 * i),
			P50Ms: 1, P99Ms: 2, P999Ms: 3, AuditOK: true, Timeline: []float64{900, 1000, 1100}, Started: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339)}
		if _, err := AddToReport(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	sale := &Result{Scenario: "flash-sale", System: "redis", Durability: "appendfsync-always", Concurrency: 64, OpsPerS: 500,
		SaleAttemptsPerS: 50_000, AuditOK: true, Timeline: []float64{500}, Started: time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC).Format(time.RFC3339)}
	if _, err := AddToReport(dir, sale); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"postgres", "kaquan", "data:image/png;base64,", "<td>2000</td>", "<td>3000</td>", "<td>50000</td>", "Flash sales, side by side"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, name := range []string{"throughput.png", "latency.png", "comparison.png", "comparison-sales.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
	if runs, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(runs) != 3 {
		t.Errorf("stored runs: %v", runs)
	}
}

// TestScenario_Mixed runs a blend of every operation over Zipf-skewed users.
func TestScenario_Mixed(t *testing.T) {
	res := runScenario(t, Config{Scenario: "mixed", Duration: 500 * time.Millisecond, Concurrency: 4, Accounts: 40, Merchants: 3,
		CardsPerUser: 1, Mix: "pay=40,gift=30,claim=20,wallet=10", Skew: 1.5})
	if res.Ops < 20 || !strings.Contains(res.Audit, "COMPLETED") || !strings.Contains(res.Audit, "gifts") {
		t.Errorf("mixed: %d ops, %s", res.Ops, res.Audit)
	}
}

func TestParseMix(t *testing.T) {
	if w, err := parseMix("pay=1,wallet=3"); err != nil || fmt.Sprint(w) != "[1 1 1 4]" {
		t.Errorf("parseMix: %v %v", w, err)
	}
	for _, bad := range []string{"pay", "pay=x", "dance=3", "pay=0", "pay=-1", "pay=1001"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q): no error", bad)
		}
	}
	if err := (Config{Scenario: "mixed", Duration: time.Second, Concurrency: 1, Accounts: 1, Merchants: 1, Skew: 0.5}).Validate(); err == nil {
		t.Error("skew 0.5 accepted")
	}
}

// TestScenario_Dataset runs payments over a bulk-loaded population with a skew, and reports memory.
func TestScenario_Dataset(t *testing.T) {
	res := runScenario(t, Config{Scenario: "payments", Duration: 500 * time.Millisecond, Concurrency: 4, Accounts: 8, Merchants: 2,
		CardsPerUser: 5, DatasetSize: 2000, Skew: 1.3})
	// 2,000 imported users, the 8 set up through the API and the 2 merchants; the payments used
	// imported cards (10,000 were loaded).
	if res.Ops < 20 || res.PeakRSSBytes <= 0 || !strings.Contains(res.Audit, "2010 accounts") || !strings.Contains(res.Audit, "USED:") {
		t.Errorf("dataset: %d ops, rss %d, %s", res.Ops, res.PeakRSSBytes, res.Audit)
	}
	if runtime.GOOS == "linux" && (res.RunPeakRSSBytes <= 0 || res.RunPeakRSSBytes > res.PeakRSSBytes) {
		t.Errorf("peak of the timed run %d, of the process %d: want 0 < run <= process", res.RunPeakRSSBytes, res.PeakRSSBytes)
	}
}

// TestScenario_DatasetRerun: a second run on the same folder reuses the population and pays only
// with the cards the first run left.
func TestScenario_DatasetRerun(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Scenario: "payments", Duration: 700 * time.Millisecond, Concurrency: 4, Accounts: 8, Merchants: 2,
		CardsPerUser: 2, DatasetSize: 40, Skew: 2}
	for run := range 2 {
		e, err := kaquan.Open(dir, kaquan.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), Local{e}, cfg)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !res.AuditOK || res.Errors != 0 || res.Ops < 10 {
			t.Fatalf("run %d: %d ops, errors %v, audit %v", run, res.Ops, res.ErrorsByKind, res.AuditOK)
		}
	}
}
