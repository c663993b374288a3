package kaquan_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// codeClock opens engines on a fake clock whose periodic sweeps never run on their own: the tests
// sweep payment codes themselves, at the clock's time.
func codeClock(clk *fakeClock) func(*kaquan.Options) {
	return func(o *kaquan.Options) {
		o.Clock = clk.Now
		o.GiftSweepEvery = kaquan.GiftSweepEveryMax
	}
}

func mustSweepCodes(t *testing.T, e *kaquan.Engine) {
	t.Helper()
	if err := kaquan.SweepPaymentCodes(e); err != nil {
		t.Fatal(err)
	}
}

func wantCodeUnknown(t *testing.T, e *kaquan.Engine, code string) {
	t.Helper()
	if pc, err := e.PaymentCodeInfo(ctxTimeout(t), code); !errors.Is(err, kaquan.ErrCodeUnknown) {
		t.Errorf("payment code %s: got %v, %v; want ErrCodeUnknown", code, pc, err)
	}
}

// TestPaymentCode_Removal: a payment code's record stays through its grace period after it
// expired, then the sweep removes it with its index entry, and the code is still never usable
// twice: not when it is shown again, not when the same code is issued again, not after a restart.
func TestPaymentCode_Removal(t *testing.T) {
	clk := newFakeClock()
	dir := t.TempDir()
	e := mustOpenAt(t, dir, codeClock(clk))
	ctx := ctxTimeout(t)
	w := mustBadWorld(t, e)
	u, other := w.users[0], w.users[1]
	opts := kaquan.DefaultOptions()
	used, unused := w.code(t, e, u, 0), w.code(t, e, u, 0)
	first := mustV(w.pay(e, used, 100, "first"))(t)
	before := readLedgers(t, e, w.accounts)

	t.Run("kept through the grace period", func(t *testing.T) {
		clk.Advance(opts.PaymentCodeTTL + opts.PaymentCodeGrace - time.Nanosecond)
		mustSweepCodes(t, e)
		if pc, err := e.PaymentCodeInfo(ctx, used); err != nil || pc.UsedBy != kaquan.PaymentKey(w.merchant, "first") {
			t.Errorf("used code's record: got %v, %v; want it, used by the first payment", pc, err)
		}
		if _, err := w.pay(e, used, 100, "again"); !errors.Is(err, kaquan.ErrCodeUsed) {
			t.Errorf("pay with the used code: got %v, want ErrCodeUsed", err)
		}
		if _, err := kaquan.IssueCodeAs(e, other, userAccount(other), used); !errors.Is(err, kaquan.ErrExists) {
			t.Errorf("issue the used code again: got %v, want ErrExists", err)
		}
		if r := mustAudit(t, e); r.PaymentCodes != 2 {
			t.Errorf("audit: %d payment code records, want 2", r.PaymentCodes)
		}
	})
	t.Run("removed after it", func(t *testing.T) {
		clk.Advance(time.Nanosecond)
		mustSweepCodes(t, e)
		wantCodeUnknown(t, e, used)
		wantCodeUnknown(t, e, unused)
		if _, err := w.pay(e, used, 100, "after-removal"); !errors.Is(err, kaquan.ErrCodeUnknown) {
			t.Errorf("pay with the removed code: got %v, want ErrCodeUnknown", err)
		}
		if _, err := w.pay(e, unused, 100, "unused-after-removal"); !errors.Is(err, kaquan.ErrCodeUnknown) {
			t.Errorf("pay with the removed unused code: got %v, want ErrCodeUnknown", err)
		}
		unchanged(t, e, before)
		o, err := w.pay(e, used, 100, "first")
		if err != nil || !o.Duplicate || o.Payment.State != kaquan.PaymentCompleted || o.Payment.FinishedAt != first.Payment.FinishedAt {
			t.Errorf("the first payment asked again: got %+v, %v; want its outcome, a duplicate", o, err)
		}
		if r := mustAudit(t, e); r.PaymentCodes != 0 {
			t.Errorf("audit: %d payment code records, want 0", r.PaymentCodes)
		}
	})
	t.Run("the account's code slots", func(t *testing.T) {
		for i := range 16 {
			if _, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u)}); err != nil {
				t.Fatalf("code %d: %v", i+1, err)
			}
		}
		if _, err := e.IssuePaymentCode(ctx, kaquan.IssuePaymentCode{User: u, Account: userAccount(u)}); !errors.Is(err, kaquan.ErrCodeLimit) {
			t.Errorf("a 17th code: got %v, want ErrCodeLimit", err)
		}
	})
	t.Run("the same code issued again", func(t *testing.T) {
		pc := mustV(kaquan.IssueCodeAs(e, other, userAccount(other), used))(t)
		o, err := w.pay(e, used, 100, "first")
		if err != nil || !o.Duplicate || o.Payment.PayerAccount != userAccount(u) {
			t.Errorf("the first payment asked again: got %+v, %v; want its outcome, a duplicate", o, err)
		}
		unchanged(t, e, before)
		o = mustV(w.pay(e, pc.Code, 100, "second-issue"))(t)
		if o.Payment.PayerAccount != userAccount(other) || o.Payment.Charged != 100 {
			t.Errorf("payment with the code issued again: got %v, want 100 charged to account %d", o.Payment, userAccount(other))
		}
		if _, err := w.pay(e, used, 100, "third"); !errors.Is(err, kaquan.ErrCodeUsed) {
			t.Errorf("pay with the second issue again: got %v, want ErrCodeUsed", err)
		}
		mustAudit(t, e)
	})
	t.Run("after a restart", func(t *testing.T) {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e = mustOpenAt(t, dir, codeClock(clk))
		wantCodeUnknown(t, e, unused)
		if p := mustV(e.Payment(ctx, w.merchant, "first"))(t); p.State != kaquan.PaymentCompleted {
			t.Errorf("first payment after a restart: %v", p)
		}
		clk.Advance(opts.PaymentCodeTTL + opts.PaymentCodeGrace)
		mustSweepCodes(t, e)
		if r := mustAudit(t, e); r.PaymentCodes != 0 {
			t.Errorf("audit: %d payment code records, want 0", r.PaymentCodes)
		}
	})
}

// TestPaymentCode_RetryWithinGrace: the payment that used a code may ask again (a crash cut in
// between the code's use and the payment's first record) through the grace period, not after it.
func TestPaymentCode_RetryWithinGrace(t *testing.T) {
	clk := newFakeClock()
	e := MustOpenEngine(t, codeClock(clk))
	w := mustBadWorld(t, e)
	u := w.users[0]
	opts := kaquan.DefaultOptions()
	stage := func(code, key string) {
		t.Helper()
		rec, err := proto.Marshal(&messages.PaymentCode{Code: code, AccountId: userAccount(u), ExpiresAt: clk.Now().UnixNano(),
			UsedBy: kaquan.PaymentKey(w.merchant, key)})
		if err != nil {
			t.Fatal(err)
		}
		if err := kaquan.Put(e, persistence.Entry{Key: persistence.PaymentCodeKey(code), Value: rec},
			persistence.Entry{Key: persistence.CodeExpiryKey(clk.Now().UnixNano(), code)}); err != nil {
			t.Fatal(err)
		}
	}
	stage("111111111111111111", "early")
	stage("222222222222222222", "late")
	clk.Advance(opts.PaymentCodeGrace)
	if o, err := w.pay(e, "111111111111111111", 300, "early"); err != nil || o.Payment.State != kaquan.PaymentCompleted {
		t.Errorf("the payment that used the code, within the grace period: got %v, %v; want COMPLETED", o.Payment, err)
	}
	before := readLedgers(t, e, w.accounts)
	clk.Advance(time.Nanosecond)
	mustSweepCodes(t, e)
	if _, err := w.pay(e, "222222222222222222", 300, "late"); !errors.Is(err, kaquan.ErrCodeUnknown) {
		t.Errorf("the payment that used the code, after the grace period: got %v, want ErrCodeUnknown", err)
	}
	unchanged(t, e, before)
	mustAudit(t, e)
}

// TestPaymentCode_SweepKeepsAnotherIssue: an index entry removes only the record it indexes, never
// a later issue of the same code.
func TestPaymentCode_SweepKeepsAnotherIssue(t *testing.T) {
	clk := newFakeClock()
	e := MustOpenEngine(t, codeClock(clk))
	w := mustBadWorld(t, e)
	code := w.code(t, e, w.users[0], 0)
	if err := kaquan.Put(e, persistence.Entry{Key: persistence.CodeExpiryKey(clk.Now().UnixNano()-1, code)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(kaquan.DefaultOptions().PaymentCodeGrace)
	mustSweepCodes(t, e)
	if _, err := e.PaymentCodeInfo(ctxTimeout(t), code); err != nil {
		t.Errorf("the code's record after a stale index entry's sweep: %v", err)
	}
	if r := mustAudit(t, e); r.PaymentCodes != 1 {
		t.Errorf("audit: %d payment code records, want 1", r.PaymentCodes)
	}
}

// TestPaymentCode_OlderRecordsIndexed: code records written before the expiry index existed get
// their entries at Open, and go like any other.
func TestPaymentCode_OlderRecordsIndexed(t *testing.T) {
	clk := newFakeClock()
	dir := t.TempDir()
	e := mustOpenAt(t, dir, codeClock(clk))
	w := mustBadWorld(t, e)
	const code = "333333333333333333"
	rec, err := proto.Marshal(&messages.PaymentCode{Code: code, AccountId: userAccount(w.users[0]), ExpiresAt: clk.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, dir, persistence.Entry{Key: persistence.PaymentCodeKey(code), Value: rec},
		persistence.Entry{Key: persistence.MarkerKey("code-expiry-index"), Delete: true})
	e = mustOpenAt(t, dir, codeClock(clk))
	if r := mustAudit(t, e); r.PaymentCodes != 1 {
		t.Errorf("audit: %d payment code records, want 1", r.PaymentCodes)
	}
	clk.Advance(kaquan.DefaultOptions().PaymentCodeGrace + time.Nanosecond)
	mustSweepCodes(t, e)
	wantCodeUnknown(t, e, code)
}

// TestPaymentCode_SweepWithinSmallWriterBounds: a writer configured far below its defaults still
// takes the sweep's removals (each write sized to its bounds), so codes still go; a bound below one
// removal is refused at Open.
func TestPaymentCode_SweepWithinSmallWriterBounds(t *testing.T) {
	clk := newFakeClock()
	small := func(o *kaquan.Options) { o.Writer.BatchEntriesMax = 16 } // 8 codes a write
	e := mustOpenAt(t, t.TempDir(), codeClock(clk), small)
	w := mustBadWorld(t, e)
	var codes []string
	for range 12 { // more than one write's worth, within the account's 16 code slots
		codes = append(codes, w.code(t, e, w.users[0], 0))
	}
	opts := kaquan.DefaultOptions()
	clk.Advance(opts.PaymentCodeTTL + opts.PaymentCodeGrace + time.Second)
	mustSweepCodes(t, e)
	for _, c := range codes {
		wantCodeUnknown(t, e, c)
	}
	if r := mustAudit(t, e); r.PaymentCodes != 0 {
		t.Errorf("audit: %d payment code records left, want 0", r.PaymentCodes)
	}
	tiny := kaquan.DefaultOptions()
	tiny.Writer.BatchEntriesMax = 1
	if err := tiny.Validate(); err == nil {
		t.Error("a writer bound below one code removal was accepted")
	}
}

// TestPaymentCode_AuditAfterRetryWithANewCode: a crash between a code's use (durable in its
// account) and the payment's first record leaves the code used by a key that names no payment, and
// no money moved; the merchant's retry under that key with a new code completes. The audit holds
// for that reachable state.
func TestPaymentCode_AuditAfterRetryWithANewCode(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenAt(t, dir)
	w := mustBadWorld(t, e)
	u := w.users[0]
	c1 := w.code(t, e, u, 0)
	// Refused after the code was consumed (insufficient funds): the code is used by "K". Removing
	// the payment's record is what the crash would have left.
	if o, err := w.pay(e, c1, 1_000_000, "K"); err == nil || o.Payment == nil {
		t.Fatalf("want a recorded failure, got %v, %v", o, err)
	}
	e = reopenWith(t, dir, e, persistence.Entry{Key: persistence.PaymentKey(kaquan.PaymentKey(w.merchant, "K")), Delete: true})
	c2 := w.code(t, e, u, 0)
	if o, err := w.pay(e, c2, 100, "K"); err != nil || o.Duplicate {
		t.Fatalf("retry under K with a new code: %v, %v", o, err)
	}
	mustAuditOK(t, e)
}
