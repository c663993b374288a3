package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// The flash-sale scenario: every user races to claim one card from a single template whose stock
// is FlashStock (far fewer than the users), then the winners pay with their cards.
const flashTemplateBase = 8_000_000 // a fresh template per run, so a rerun has a new sale

// errDone ends a client whose work is done before the clock runs out.
var errDone = errors.New("done")

// flashSale is the shared state of one sale.
type flashSale struct {
	template       uint64
	attempts, sold atomic.Int64
	soldOut        atomic.Int64
	mu             sync.Mutex
	first, last    time.Time
}

// setupFlash creates the sale's template: merchant 0's, one card per user.
func setupFlash(ctx context.Context, e API, cfg Config) (*flashSale, error) {
	id := uint64(flashTemplateBase + time.Now().UnixNano()/int64(time.Millisecond)%1_000_000)
	_, err := e.CreateTemplate(ctx, &messages.Template{Id: id, MerchantId: merchantBase, Title: "bench: flash sale",
		Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000, StockTotal: uint32(cfg.FlashStock),
		PerUserLimit: 1, ValidDays: 1})
	return &flashSale{template: id}, err
}

// flashOp is one operation of the sale: each of the client's users claims once; then the users
// who won a card pay with it; then the client is done.
func (c *client) flashOp(ctx context.Context, ack *ackLog) error {
	f := c.flash
	if c.next < len(c.users) {
		u := &c.users[c.next]
		c.next++
		start := time.Now()
		card, err := c.e.Claim(ctx, kaquan.Claim{Template: f.template, User: u.id})
		end := time.Now()
		f.note(start, end)
		f.attempts.Add(1)
		if errors.Is(err, kaquan.ErrStockExhausted) {
			f.soldOut.Add(1)
			return errSkip // the sale is over for this user: not an error
		}
		if err != nil {
			return err
		}
		f.sold.Add(1)
		_ = c.claimHist.RecordValue(end.Sub(start).Microseconds())
		u.cards = append(u.cards, card.Id)
		c.winners = append(c.winners, c.next-1)
		return nil
	}
	if len(c.winners) == 0 {
		return errDone
	}
	u := &c.users[c.winners[len(c.winners)-1]]
	c.winners = c.winners[:len(c.winners)-1]
	return c.payWith(ctx, u, ack)
}

// note widens the sale's time span to [start, end].
func (f *flashSale) note(start, end time.Time) {
	f.mu.Lock()
	if f.first.IsZero() || start.Before(f.first) {
		f.first = start
	}
	if end.After(f.last) {
		f.last = end
	}
	f.mu.Unlock()
}
