package kaquan

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/persistence"
)

// sweepBatchMax bounds the offers returned in one sweep; the rest wait for the next.
const sweepBatchMax = 1000

// sweepGiftOffers returns every gift offer that timed out by now to its giver. The offer index is
// ordered by time-out, so the scan stops at the first offer still running.
func (e *Engine) sweepGiftOffers(ctx context.Context) error {
	now := e.now()
	var cards []uint64
	err := e.store.View(func(snap *persistence.Snapshot) error {
		return snap.Scan([]byte{persistence.PrefixGiftOffer}, func(k, _ []byte) (bool, error) {
			expiresAt, card := persistence.GiftOfferOf(k)
			if expiresAt > now {
				return false, nil
			}
			cards = append(cards, card)
			return len(cards) < sweepBatchMax, nil
		})
	})
	if err != nil {
		return err
	}
	for _, id := range cards {
		if _, err := e.call(ctx, actors.CardID(id), card.OfferTimeout{Now: now}); err != nil {
			return fmt.Errorf("card %d: %w", id, err)
		}
	}
	return nil
}

// sweeper runs a sweep periodically until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func (s *sweeper) start(every time.Duration, sweep func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := sweep(ctx); err != nil && ctx.Err() == nil {
					log.Warn("gift offer sweep", "err", err)
				}
			}
		}
	})
}

func (s *sweeper) stop() {
	if s.cancel != nil {
		s.cancel()
		s.done.Wait()
	}
}
