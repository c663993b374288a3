package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// The pools scenario: one busy pool. Its owner keeps sharing the cards they hold (one sharer
// goroutine per client, at most 64) while up to poolContactsMax contacts, spread over the clients,
// look at the pool's newest page and claim a card from it; one claim in confirmEvery is then used, reported by the merchant's signed
// notification, and rewards the owner.
const (
	poolOwner          = userBase - 1
	poolContactsMax    = 1000
	poolTemplateBase   = 6_000_000 // shareable template of merchant m
	rewardTemplateBase = 7_000_000 // its reward template
	confirmEvery       = 10
	poolPage           = 100
)

// errSkip marks an operation that was not one: a claim that lost its race, or an empty pool.
var errSkip = errors.New("skip")

func merchantSecret(m uint64) []byte { return fmt.Appendf(nil, "bench-merchant-secret-%d", m) }

// setupPools adds the pool owner, the shareable and reward templates, the merchants' notification
// secrets and the owner's contacts (all idempotent, so a rerun reuses them), and has the owner
// claim the cards they will share: CardsPerUser for each contact (the sharers claim more if the
// run outlasts them).
func setupPools(ctx context.Context, e API, cfg Config) ([]uint64, error) {
	if err := setupPoolWorld(ctx, e, cfg); err != nil {
		return nil, err
	}
	n := min(1_000_000, cfg.CardsPerUser*min(cfg.Accounts, poolContactsMax))
	cards := make([]uint64, n)
	err := parallel(ctx, n, cfg.Concurrency, func(i int) error {
		c, err := e.Claim(ctx, kaquan.Claim{Template: uint64(poolTemplateBase + i%cfg.Merchants), User: poolOwner})
		if err == nil {
			cards[i] = c.Id
		}
		return err
	})
	return cards, err
}

func setupPoolWorld(ctx context.Context, e API, cfg Config) error {
	if _, err := e.CreateParty(ctx, kaquan.CreateParty{ID: poolOwner, Kind: messages.PartyKind_PARTY_KIND_USER, Name: "bench pool owner"}); err != nil {
		return err
	}
	for m := range cfg.Merchants {
		id := uint64(merchantBase + m)
		if err := e.SetNotifySecret(ctx, kaquan.SetNotifySecret{Merchant: id, Secret: merchantSecret(id)}); err != nil {
			return err
		}
		for _, t := range []*messages.Template{
			{Id: uint64(rewardTemplateBase + m), Title: "bench: a reward"},
			{Id: uint64(poolTemplateBase + m), Title: "bench: shareable", CanShare: true, RewardTemplate: uint64(rewardTemplateBase + m)},
		} {
			t.MerchantId, t.Kind, t.ReduceAmount, t.LeastCost = id, messages.TemplateKind_TEMPLATE_KIND_CASH, 500, 2000
			t.StockTotal, t.PerUserLimit, t.ValidDays = 1<<32-1, 1<<32-1, 365
			if _, err := e.CreateTemplate(ctx, t); err != nil {
				return err
			}
		}
	}
	return parallel(ctx, min(cfg.Accounts, poolContactsMax), cfg.Concurrency, func(i int) error {
		return e.AddContact(ctx, kaquan.ContactPair{A: poolOwner, B: uint64(userBase + i)})
	})
}

// share keeps the pool full until ctx ends: it shares the owner's cards (claiming more when they
// run out).
func share(ctx context.Context, e API, cfg Config, cards <-chan uint64, rng *rand.Rand, errs *errorCounts) {
	for ctx.Err() == nil {
		var card uint64
		select {
		case card = <-cards:
		default:
			c, err := e.Claim(ctx, kaquan.Claim{Template: uint64(poolTemplateBase + rng.IntN(cfg.Merchants)), User: poolOwner})
			if err != nil {
				errs.add(ctx, err)
				continue
			}
			card = c.Id
		}
		for ctx.Err() == nil {
			_, err := e.Share(ctx, kaquan.Share{User: poolOwner, Card: card})
			if errors.Is(err, kaquan.ErrPoolFull) {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			errs.add(ctx, err)
			break
		}
	}
}

// errorCounts counts the sharers' errors by kind.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *errorCounts) add(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	c.m["sharer_"+errorKind(err)]++
	c.mu.Unlock()
}

// claimFromPool is one operation of the pools scenario: a contact claims a card from the pool; one
// claim in confirmEvery is then used and confirmed by its merchant, which rewards the owner.
func (c *client) claimFromPool(ctx context.Context, ack *ackLog) error {
	if len(c.contacts) == 0 {
		return fmt.Errorf("%w: a pools client needs contacts (users below %d)", kaquan.ErrInvalidArgument, poolContactsMax)
	}
	u := c.contacts[c.rng.IntN(len(c.contacts))]
	if len(c.page) == 0 {
		p, err := c.e.ContactPools(ctx, u, "", poolPage)
		if err != nil {
			return err
		}
		if len(p.Cards) == 0 {
			time.Sleep(time.Millisecond) // the owner is behind: let the sharers catch up
			return errSkip
		}
		c.page = p.Cards
	}
	// A contact looks at the newest page and claims the card they like; next time they look again.
	pe := c.page[c.rng.IntN(len(c.page))]
	c.page = nil
	start := time.Now()
	card, err := c.e.ClaimShared(ctx, kaquan.ClaimShared{Claimer: u, Sharer: pe.Owner, Card: pe.CardId})
	if errors.Is(err, kaquan.ErrNotInPool) {
		c.lost++
		return errSkip
	}
	if err != nil {
		return err
	}
	_ = c.hist.RecordValue(time.Since(start).Microseconds())
	if ack != nil {
		if err := ack.Append(kaquan.ClaimAck(card.Id, u)); err != nil {
			return err
		}
	}
	c.n++
	if c.n%confirmEvery != 0 {
		return nil
	}
	n := kaquan.UseNotification{ID: fmt.Sprintf("%s-%d", c.run, c.n), CardCode: card.Code, Merchant: card.MerchantId, Time: time.Now().Unix()}
	n.Signature = n.Sign(merchantSecret(card.MerchantId))
	start = time.Now()
	r, err := c.e.ConfirmUse(ctx, n)
	if err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	_ = c.rewardHist.RecordValue(time.Since(start).Microseconds())
	if ack != nil && r != nil {
		return ack.Append(kaquan.RewardAck(r.Sharer, r.UseId))
	}
	return nil
}
