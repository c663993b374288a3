package kaquan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Bounds of the sweeps: what one sweep does at most; the rest waits for the next.
const (
	sweepBatchMax          = 1000 // gift offers returned in one sweep
	codeSweepBatchCodesMax = 1000 // payment codes removed in one write (two entries each)
	codeSweepWritesMax     = 16   // such writes in one sweep: 16,000 codes a second at the default cadence
)

// A code's removal is two deletes (its index entry and its record), its indexing one entry; their
// sizes as the writer counts them (key and two meta bytes).
const (
	codeRemovalBytes = 2 + 1 + 8 + actors.PaymentCodeDigits + 2 + 1 + actors.PaymentCodeDigits
	codeIndexBytes   = 2 + 1 + 8 + actors.PaymentCodeDigits
)

// codesPerWrite is how many codes one removal write takes (index: one indexing write) within the
// writer's bounds, which may be set far below the defaults; Options.Validate keeps room for one.
func (e *Engine) codesPerWrite(index bool) int {
	entries, size := 2, codeRemovalBytes
	if index {
		entries, size = 1, codeIndexBytes
	}
	w := e.opts.Writer
	return max(1, min(codeSweepBatchCodesMax, w.BatchEntriesMax/entries, w.BatchBytesMax/size))
}

// codeIndexMarker marks a store whose every payment code record has its expiry index entry (data
// written before the index existed gets them once, at Open).
const codeIndexMarker = "code-expiry-index"

// sweep runs every periodic sweep: gift offers that timed out, then payment codes past their grace.
func (e *Engine) sweep(ctx context.Context) error {
	return errors.Join(e.sweepGiftOffers(ctx), e.sweepPaymentCodes(ctx))
}

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

// sweepPaymentCodes removes the records of payment codes that expired more than PaymentCodeGrace
// ago, and their expiry index entries. Nothing relies on such a record any longer: single use rests
// on the account's codes, a payment keeps its payer account in its own record (recovery asks
// accounts, never the code index), and a code whose record is gone is refused as unknown. The
// index is ordered by expiry, so a sweep reads only what is due, and the next sweep continues
// where a bounded one stopped.
func (e *Engine) sweepPaymentCodes(ctx context.Context) error {
	cutoff := e.now() - int64(e.opts.PaymentCodeGrace)
	for range codeSweepWritesMax {
		removals, more, err := e.dueCodes(cutoff)
		if err != nil || len(removals) == 0 {
			return err
		}
		if err := e.put(removals...); err != nil {
			return fmt.Errorf("remove payment codes: %w", err)
		}
		if !more || ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// dueCodes returns the removals of up to codeSweepBatchCodesMax codes whose expiry is at or before
// cutoff, and whether more are due. An index entry goes in any case; the code record with it only
// if it is the one the entry indexes (the same expiry), so a sweep can never remove another
// issue of the same code.
func (e *Engine) dueCodes(cutoff int64) (removals []persistence.Entry, more bool, err error) {
	codes, most := 0, e.codesPerWrite(false)
	err = e.store.View(func(snap *persistence.Snapshot) error {
		return snap.Scan([]byte{persistence.PrefixCodeExpiry}, func(k, _ []byte) (bool, error) {
			expiresAt, code := persistence.CodeExpiryOf(k)
			if expiresAt > cutoff {
				return false, nil
			}
			if codes == most {
				more = true
				return false, nil
			}
			codes++
			removals = append(removals, persistence.Entry{Key: bytes.Clone(k), Delete: true})
			pc := &messages.PaymentCode{}
			err := snap.GetProto(persistence.PaymentCodeKey(code), pc)
			switch {
			case errors.Is(err, persistence.ErrNotFound):
				return true, nil
			case err != nil:
				return false, fmt.Errorf("payment code record: %w", err)
			case pc.ExpiresAt == expiresAt:
				removals = append(removals, persistence.Entry{Key: persistence.PaymentCodeKey(code), Delete: true})
			}
			return true, nil
		})
	})
	return removals, more, err
}

// indexPaymentCodes gives every payment code record written before the expiry index existed its
// index entry, once per store, so that the sweep removes those records too.
func (e *Engine) indexPaymentCodes() error {
	if _, err := e.store.Get(persistence.MarkerKey(codeIndexMarker)); err == nil {
		return nil
	}
	start, most := []byte{persistence.PrefixPaymentCode}, e.codesPerWrite(true)
	for start != nil { // each round indexes codeSweepBatchCodesMax more records: bounded by the store
		var index []persistence.Entry
		next := start
		start = nil
		err := e.store.View(func(snap *persistence.Snapshot) error {
			return snap.ScanFrom([]byte{persistence.PrefixPaymentCode}, next, func(k, v []byte) (bool, error) {
				if len(index) == most {
					start = bytes.Clone(k)
					return false, nil
				}
				pc := &messages.PaymentCode{}
				if err := proto.Unmarshal(v, pc); err != nil {
					return false, fmt.Errorf("payment code record %q: %w", k[1:], err)
				}
				index = append(index, persistence.Entry{Key: persistence.CodeExpiryKey(pc.ExpiresAt, pc.Code)})
				return true, nil
			})
		})
		if err != nil {
			return err
		}
		if len(index) > 0 {
			if err := e.put(index...); err != nil {
				return err
			}
		}
	}
	return e.put(persistence.Entry{Key: persistence.MarkerKey(codeIndexMarker), Value: []byte{1}})
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
					log.Warn("sweep", "err", err)
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
