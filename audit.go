package kaquan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kaquan/kaquan/actors/slot"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// auditProblemsMax bounds the problems an audit lists (it still counts them all).
const auditProblemsMax = 100

// AuditReport is what an audit found in one consistent snapshot of the store.
type AuditReport struct {
	Accounts      int            `json:"accounts"`
	LedgerEntries int            `json:"ledger_entries"`
	Templates     int            `json:"templates"`
	Cards         map[string]int `json:"cards"`    // by state
	Payments      map[string]int `json:"payments"` // by state
	Deposits      int64          `json:"deposits"`
	Withdrawals   int64          `json:"withdrawals"`
	Balances      int64          `json:"balances"`
	InFlight      int64          `json:"in_flight"`       // money held by payments under way
	InFlightCount int            `json:"in_flight_count"` // payments under way
	WalletEntries int            `json:"wallet_entries"`  // equals the number of cards: each in exactly one wallet
	Gifts         int            `json:"gifts"`           // entries in cards' gift libraries
	GiftOffers    int            `json:"gift_offers"`     // offers waiting for an answer
	PoolEntries   int            `json:"pool_entries"`    // cards in pools (wallet entries + pool entries = cards)
	Rewards       map[string]int `json:"rewards"`         // by state
	Acceptances   int            `json:"acceptances"`     // merchants' acceptances of other merchants' cards, granted or revoked
	PaymentCodes  int            `json:"payment_codes"`   // code records kept: unexpired, or within their grace period
	// RefusedTransfers counts transfer index values that record a refusal (a fence among them)
	// instead of an entry: the account answered that transfer and holds no entry of it.
	RefusedTransfers int      `json:"refused_transfers"`
	ProblemCount     int      `json:"problem_count"`
	Problems         []string `json:"problems"`
}

// OK reports whether every invariant held.
func (r *AuditReport) OK() bool { return r.ProblemCount == 0 }

func (r *AuditReport) problem(f string, a ...any) {
	r.ProblemCount++
	if len(r.Problems) < auditProblemsMax {
		r.Problems = append(r.Problems, fmt.Sprintf(f, a...))
	}
}

func (r *AuditReport) String() string {
	verdict := "OK"
	if !r.OK() {
		verdict = fmt.Sprintf("FAILED (%d problems)", r.ProblemCount)
	}
	return fmt.Sprintf("audit %s: %s", verdict, r.counts())
}

// counts is the report's text without its verdict.
func (r *AuditReport) counts() string {
	s := fmt.Sprintf("%d accounts, %d ledger entries, %d templates, cards %v, payments %v; "+
		"deposits %d - withdrawals %d = balances %d + in flight %d; %d wallet entries, %d gifts, %d offers, %d pool entries, rewards %v",
		r.Accounts, r.LedgerEntries, r.Templates, r.Cards, r.Payments, r.Deposits, r.Withdrawals, r.Balances, r.InFlight,
		r.WalletEntries, r.Gifts, r.GiftOffers, r.PoolEntries, r.Rewards)
	if r.RefusedTransfers > 0 { // (absent before refusals were recorded: the line stays as it was)
		s += fmt.Sprintf(", %d refused transfers", r.RefusedTransfers)
	}
	return s
}

func newAuditReport() *AuditReport {
	return &AuditReport{Cards: map[string]int{}, Payments: map[string]int{}, Rewards: map[string]int{}}
}

// conservation checks that the money that came in and has not left is in the balances or held
// by payments under way.
func (r *AuditReport) conservation() {
	if r.Deposits-r.Withdrawals != r.Balances+r.InFlight {
		r.problem("conservation: deposits %d - withdrawals %d != balances %d + in flight %d", r.Deposits, r.Withdrawals, r.Balances, r.InFlight)
	}
}

// Audit checks, on one consistent snapshot: conservation (deposits - withdrawals = balances + money
// held by payments under way), every balance against its ledger, every transfer's entries against
// its payment, stock never oversold, every card against the payment that used or holds it, and
// ownership: every card in exactly one wallet, its gift library a chain ending with its owner; and
// consent: every card used or held by a payment at a merchant other than its issuer has that
// merchant's acceptance of the issuer on record (granted then, perhaps revoked since). A transfer
// index value that records a refusal (or a fence) instead of an entry is counted, not an error.
func (e *Engine) Audit(ctx context.Context) (*AuditReport, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	var r *AuditReport
	err = e.store.View(func(s *persistence.Snapshot) error {
		var err error
		r, err = auditSnapshot(ctx, s, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	r.conservation()
	return r, nil
}

// auditSnapshot runs every check of one node's records on its snapshot s. On a cluster node, c
// holds every node's snapshot: what a record names elsewhere is read on the node of its slot, and
// every entity is checked to be on the node that owns it (nil: a single node, which owns all).
func auditSnapshot(ctx context.Context, s *persistence.Snapshot, c *clusterView) (*AuditReport, error) {
	r := newAuditReport()
	a := &auditor{r: r, missing: map[string]bool{}, ctx: ctx, cluster: c}
	steps := []func(*persistence.Snapshot) error{a.accounts, a.transferIndexes, a.payments, a.templates, a.cards, a.pools, a.wallets, a.giftIndexes, a.rewards, a.acceptances, a.paymentCodes}
	if c != nil {
		steps = append(steps, a.parties)
	}
	for _, step := range steps {
		if err := step(s); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// auditor holds no more than one record at a time: payments and their entries are matched by
// point reads in the snapshot, so an audit's memory does not grow with the payments stored.
type auditor struct {
	r       *AuditReport
	missing map[string]bool // payments with entries but no record, reported once each (only ever a problem's worth)
	ctx     context.Context // a canceled audit stops (one of 10M cards takes minutes)
	records int
	cluster *clusterView // nil on a single node
}

// scan is the snapshot's Scan, stopping with the context's error once it is canceled.
func (a *auditor) scan(s *persistence.Snapshot, prefix []byte, fn func(k, v []byte) (bool, error)) error {
	return s.Scan(prefix, func(k, v []byte) (bool, error) {
		if a.records++; a.records%1024 == 1 { // the first record, then every 1024th
			if err := a.ctx.Err(); err != nil {
				return false, err
			}
		}
		return fn(k, v)
	})
}

// accounts walks every account's ledger.
func (a *auditor) accounts(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixAccount}, func(k, v []byte) (bool, error) {
		acc := &messages.Account{}
		if err := proto.Unmarshal(v, acc); err != nil {
			return false, fmt.Errorf("account %x: %w", k, err)
		}
		a.r.Accounts++
		a.placed("account", acc.Id, a.slots().OfAccount(acc.Id))
		return true, a.ledger(s, acc.Id)
	})
}

func (a *auditor) ledger(s *persistence.Snapshot, account uint64) error {
	var seq uint64
	var balance int64
	err := a.scan(s, persistence.LedgerPrefix(account), func(k, v []byte) (bool, error) {
		en := &messages.LedgerEntry{}
		if err := proto.Unmarshal(v, en); err != nil {
			return false, fmt.Errorf("ledger %x: %w", k, err)
		}
		a.r.LedgerEntries++
		seq++
		balance += en.Amount
		if en.Seq != seq || en.BalanceAfter != balance || balance < 0 {
			a.r.problem("account %d entry %d: seq/balance %d/%d, ledger says %d/%d", account, en.Seq, en.Seq, en.BalanceAfter, seq, balance)
			seq, balance = en.Seq, en.BalanceAfter
		}
		if err := a.indexed(s, account, en); err != nil {
			return false, err
		}
		return true, a.entry(s, en)
	})
	a.r.Balances += balance
	return err
}

// indexed checks that entry en of account's ledger is what its transfer index names: not another entry (a second post of
// one transfer), nor a refusal.
func (a *auditor) indexed(s *persistence.Snapshot, account uint64, en *messages.LedgerEntry) error {
	v, err := s.Get(persistence.TransferKey(account, en.Transfer))
	if errors.Is(err, persistence.ErrNotFound) {
		a.r.problem("account %d entry %d: transfer %q not indexed", account, en.Seq, en.Transfer)
		return nil
	}
	if err != nil {
		return fmt.Errorf("transfer %q of account %d: %w", en.Transfer, account, err)
	}
	seq, ok := persistence.ParseUint64(v)
	switch {
	case !ok:
		a.r.problem("account %d entry %d: transfer %q is indexed as refused", account, en.Seq, en.Transfer)
	case seq != en.Seq:
		a.r.problem("account %d entry %d: transfer %q indexes entry %d (posted twice?)", account, en.Seq, en.Transfer, seq)
	}
	return nil
}

// transferIndexes counts the transfer index values that record a refusal rather than an entry,
// and checks that the others are as many as the ledger entries: every entry names its own index
// value (indexed), so none is left over that names no entry.
func (a *auditor) transferIndexes(s *persistence.Snapshot) error {
	entries := 0
	err := a.scan(s, []byte{persistence.PrefixTransfer}, func(_, v []byte) (bool, error) {
		if _, ok := persistence.ParseUint64(v); ok {
			entries++
		} else {
			a.r.RefusedTransfers++
		}
		return true, nil
	})
	if err == nil && entries != a.r.LedgerEntries {
		a.r.problem("%d transfer index entries name entries, for %d ledger entries", entries, a.r.LedgerEntries)
	}
	return err
}

func (a *auditor) templates(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixTemplate}, func(k, v []byte) (bool, error) {
		t := &messages.Template{}
		if err := proto.Unmarshal(v, t); err != nil {
			return false, fmt.Errorf("template %x: %w", k, err)
		}
		a.r.Templates++
		a.placed("template", t.Id, a.slots().OfTemplate(t.Id))
		if t.Issued > t.StockTotal {
			a.r.problem("template %d: %d cards issued from a stock of %d", t.Id, t.Issued, t.StockTotal)
		}
		prefix := binary.BigEndian.AppendUint64([]byte{persistence.PrefixCard}, t.Id<<32)[:5]
		n := uint32(0)
		err := a.scan(s, prefix, func(_, _ []byte) (bool, error) { n++; return true, nil })
		if n != t.Issued {
			a.r.problem("template %d: %d cards exist, %d issued", t.Id, n, t.Issued)
		}
		return true, err
	})
}

func (a *auditor) cards(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixCard}, func(k, v []byte) (bool, error) {
		c := &messages.Card{}
		if err := proto.Unmarshal(v, c); err != nil {
			return false, fmt.Errorf("card %x: %w", k, err)
		}
		a.r.Cards[shortState(c.State.String())]++
		a.placed("card", c.Id, a.slots().OfCard(c.Id))
		var p *messages.Payment // the payment that used or holds the card, read only for those states
		if c.Payment != "" && (c.State == messages.CardState_CARD_STATE_USED || c.State == messages.CardState_CARD_STATE_RESERVED) {
			var err error
			if p, err = paymentOf(a.ofPayment(s, c.Payment), c.Payment); err != nil {
				return false, err
			}
		}
		switch c.State {
		case messages.CardState_CARD_STATE_USED:
			if strings.HasPrefix(c.Payment, "ntf:") { // used outside the engine, as its merchant notified
				if c.SharedBy == 0 {
					a.r.problem("card %d used by notification %q but never shared", c.Id, c.Payment)
				}
				break
			}
			if p == nil || p.CardId != c.Id || p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED {
				a.r.problem("card %d USED without its completed payment %q%s", c.Id, c.Payment, a.paymentState(p, c.Payment, c.Id))
			}
		case messages.CardState_CARD_STATE_RESERVED:
			if p != nil && p.State != messages.PaymentState_PAYMENT_STATE_STARTED {
				a.r.problem("card %d RESERVED by payment %q in state %s%s", c.Id, c.Payment, p.State, a.onNode(a.slotOfPayment(c.Payment)))
			}
		}
		if err := a.consent(s, c, p); err != nil {
			return false, err
		}
		return true, a.ownership(s, c)
	})
}

// ownership checks card c against its indexes: in its owner's wallet, its code pointing at it, its
// gift library a chain from its first owner to its owner, and a pending offer indexed.
func (a *auditor) ownership(s *persistence.Snapshot, c *messages.Card) error {
	if c.State == messages.CardState_CARD_STATE_SHARED {
		if ok, err := s.Has(persistence.PoolEntryKey(c.OwnerId, c.SharedAt, c.Id)); err != nil || !ok {
			a.r.problem("card %d is SHARED but not in its owner %d's pool", c.Id, c.OwnerId)
			return err
		}
	} else if ok, err := s.Has(persistence.WalletKey(c.OwnerId, c.Id)); err != nil || !ok {
		a.r.problem("card %d is not in its owner %d's wallet", c.Id, c.OwnerId)
		return err
	}
	v, err := s.Get(persistence.CardCodeKey(c.Code))
	if id, _ := persistence.ParseUint64(v); err != nil || id != c.Id {
		a.r.problem("card %d: its code does not lead to it", c.Id)
	}
	if c.ClaimedBy == 0 && c.GiftCount == 0 {
		return nil // a card from before gifting existed
	}
	holder, seq := c.ClaimedBy, uint32(0)
	err = a.scan(s, persistence.GiftPrefix(c.Id), func(k, v []byte) (bool, error) {
		r := &messages.GiftRecord{}
		if err := proto.Unmarshal(v, r); err != nil {
			return false, fmt.Errorf("gift record %x: %w", k, err)
		}
		seq++
		a.r.Gifts++
		if r.Seq != seq || (r.From != holder && c.SharedBy == 0) || r.CardId != c.Id {
			a.r.problem("card %d: gift %d (seq %d) from %d, want seq %d from %d", c.Id, seq, r.Seq, r.From, seq, holder)
		}
		if r.ImageId != "" {
			if ok, err := s.Has(persistence.ImageKey(r.ImageId)); err != nil || !ok {
				a.r.problem("card %d: gift %d names image %s, which is not stored", c.Id, seq, r.ImageId)
				return false, err
			}
		}
		holder = r.To
		return true, nil
	})
	// A claim from a pool moves a card outside its gift library: then only the library's own order
	// can be checked.
	if seq != c.GiftCount || (holder != c.OwnerId && c.SharedBy == 0) {
		a.r.problem("card %d: library of %d gifts ends with %d, card says %d gifts, owner %d", c.Id, seq, holder, c.GiftCount, c.OwnerId)
	}
	if c.State == messages.CardState_CARD_STATE_GIFTING {
		ok, herr := s.Has(persistence.GiftOfferKey(c.Offer.GetExpiresAt(), c.Id))
		if !ok || c.Offer.GetFrom() != c.OwnerId {
			a.r.problem("card %d GIFTING without its offer indexed (or offered by another than its owner)", c.Id)
		}
		err = errors.Join(err, herr)
	} else if c.Offer != nil {
		a.r.problem("card %d is %s with an offer", c.Id, c.State)
	}
	return err
}

// wallets counts wallet entries: with every card in its owner's wallet, as many entries as cards
// means no card is in two wallets.
func (a *auditor) wallets(s *persistence.Snapshot) error {
	err := a.scan(s, []byte{persistence.PrefixWallet}, func(_, _ []byte) (bool, error) {
		a.r.WalletEntries++
		return true, nil
	})
	cards := 0
	for _, n := range a.r.Cards {
		cards += n
	}
	if a.r.WalletEntries+a.r.PoolEntries != cards {
		a.r.problem("%d wallet entries and %d pool entries for %d cards", a.r.WalletEntries, a.r.PoolEntries, cards)
	}
	return err
}

// pools checks that every pool entry is a SHARED card of the pool's owner.
func (a *auditor) pools(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixPoolEntry}, func(k, v []byte) (bool, error) {
		a.r.PoolEntries++
		pe := &messages.PoolEntry{}
		if err := proto.Unmarshal(v, pe); err != nil {
			return false, fmt.Errorf("pool entry %x: %w", k, err)
		}
		c := &messages.Card{}
		if err := s.GetProto(persistence.CardKey(pe.CardId), c); err != nil {
			a.r.problem("pool of %d names card %d: %v", pe.Owner, pe.CardId, err)
			return true, nil
		}
		if c.State != messages.CardState_CARD_STATE_SHARED || c.OwnerId != pe.Owner || c.SharedAt != pe.SharedAt ||
			!bytes.Equal(k, persistence.PoolEntryKey(pe.Owner, pe.SharedAt, pe.CardId)) {
			a.r.problem("pool of %d names card %d, which is %s of %d", pe.Owner, pe.CardId, c.State, c.OwnerId)
		}
		return true, nil
	})
}

// rewards checks every reward against the card that earned it and the cards it granted.
func (a *auditor) rewards(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixReward}, func(k, v []byte) (bool, error) {
		r := &messages.Reward{}
		if err := proto.Unmarshal(v, r); err != nil {
			return false, fmt.Errorf("reward %x: %w", k, err)
		}
		a.r.Rewards[shortState(r.State.String())]++
		used := &messages.Card{}
		if err := a.ofCard(s, r.CardId).GetProto(persistence.CardKey(r.CardId), used); err != nil || used.SharedBy != r.Sharer {
			a.r.problem("reward %s of %d: the used card %d did not come from their pool", r.UseId, r.Sharer, r.CardId)
		} else if used.RewardUse != "" && used.RewardUse != r.UseId { // (data before reward_use lacks it)
			a.r.problem("reward %s: card %d earned its reward by use %s", r.UseId, r.CardId, used.RewardUse)
		}
		granted := func(id uint64, who string) {
			c := &messages.Card{}
			if err := a.ofCard(s, id).GetProto(persistence.CardKey(id), c); err != nil || c.TemplateId != r.RewardTemplate {
				a.r.problem("reward %s: the %s's card %d is missing or of another template", r.UseId, who, id)
			}
		}
		switch r.State {
		case messages.RewardState_REWARD_STATE_GRANTED:
			granted(r.SharerCard, "sharer")
			if r.RewardUser && !r.UserOutOfStock {
				granted(r.UserCard, "user")
			}
		case messages.RewardState_REWARD_STATE_PENDING, messages.RewardState_REWARD_STATE_OUT_OF_STOCK:
		default:
			a.r.problem("reward %s in state %s", r.UseId, r.State)
		}
		return true, nil
	})
}

// giftIndexes checks that every indexed offer belongs to a card GIFTING with that time-out.
func (a *auditor) giftIndexes(s *persistence.Snapshot) error {
	return a.scan(s, []byte{persistence.PrefixGiftOffer}, func(k, _ []byte) (bool, error) {
		a.r.GiftOffers++
		c := &messages.Card{}
		expiresAt, id := persistence.GiftOfferOf(k)
		if err := s.GetProto(persistence.CardKey(id), c); err != nil {
			a.r.problem("offer index names card %d: %v", id, err)
			return true, nil
		}
		if c.State != messages.CardState_CARD_STATE_GIFTING || c.Offer.GetExpiresAt() != expiresAt {
			a.r.problem("offer index names card %d, which is %s", id, c.State)
		}
		return true, nil
	})
}

// CheckAcks adds a problem for every listed payment (merchant/key) that is not complete: each
// acknowledged payment must be COMPLETED (or REFUNDED, if refunded since).
func (e *Engine) CheckAcks(ctx context.Context, r *AuditReport, keys []string) error {
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return checkAcks(ctx, r.problem, keys, recordHomes{readers: []recordReader{e.store}})
}

// problemFunc records a problem.
type problemFunc func(f string, a ...any)

// recordReader reads one record: a store, or a snapshot of one.
type recordReader interface {
	GetProto(key []byte, m proto.Message) error
}

// recordHomes reads each record where it lives: on a single node in its one reader; in a cluster
// on the node that owns the record's slot (readers by node ordinal).
type recordHomes struct {
	layout  slot.Layout // of a cluster; unused on a single node
	readers []recordReader
}

func (h recordHomes) at(s uint32) recordReader {
	if len(h.readers) == 1 {
		return h.readers[0]
	}
	return h.readers[h.layout.NodeOf(s)]
}

// ofPayment reads payment key's records; false for a key that names no merchant, in a cluster.
func (h recordHomes) ofPayment(key string) (recordReader, bool) {
	s, ok := h.layout.OfPayment(key)
	if len(h.readers) == 1 {
		return h.readers[0], true
	}
	return h.at(s), ok
}

// checkAcks reports every acknowledgement among keys that does not hold, reading each where h says.
func checkAcks(ctx context.Context, report problemFunc, keys []string, h recordHomes) error {
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(k, giftAckPrefix) {
			if err := checkGiftAck(report, k, h); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(k, claimAckPrefix) || strings.HasPrefix(k, rewardAckPrefix) {
			if err := checkPoolAck(report, k, h); err != nil {
				return err
			}
			continue
		}
		at, ok := h.ofPayment(k)
		if !ok {
			report("acknowledged payment %s names no merchant: no node holds it", k)
			continue
		}
		p := &messages.Payment{}
		err := at.GetProto(persistence.PaymentKey(k), p)
		switch {
		case err == persistence.ErrNotFound:
			report("acknowledged payment %s does not exist", k)
		case err != nil:
			return err
		case p.State != messages.PaymentState_PAYMENT_STATE_COMPLETED && p.State != messages.PaymentState_PAYMENT_STATE_REFUNDED:
			report("acknowledged payment %s is %s", k, p.State)
		}
	}
	return nil
}

// giftAckPrefix starts an acknowledged gift in an ack log: gift:CARD:SEQ:TO.
const giftAckPrefix = "gift:"

// GiftAck is the ack-log line of an acknowledged direct gift.
func GiftAck(card uint64, seq uint32, to uint64) string {
	return fmt.Sprintf("%s%d:%d:%d", giftAckPrefix, card, seq, to)
}

func checkGiftAck(report problemFunc, line string, h recordHomes) error {
	var card, to uint64
	var seq uint32
	if _, err := fmt.Sscanf(line, giftAckPrefix+"%d:%d:%d", &card, &seq, &to); err != nil {
		report("ack %q: %v", line, err)
		return nil
	}
	rec := &messages.GiftRecord{}
	err := h.at(h.layout.OfCard(card)).GetProto(persistence.GiftKey(card, seq), rec)
	switch {
	case err == persistence.ErrNotFound:
		report("acknowledged gift %d of card %d is not in its library", seq, card)
	case err != nil:
		return err
	case rec.To != to:
		report("acknowledged gift %d of card %d went to %d, library says %d", seq, card, to, rec.To)
	}
	return nil
}

// Ack-log lines of the pools scenario: a claim from a pool (claim:CARD:CLAIMER) and a confirmed
// use's reward (reward:SHARER:USEID).
const (
	claimAckPrefix  = "claim:"
	rewardAckPrefix = "reward:"
)

// ClaimAck is the ack-log line of an acknowledged claim from a pool.
func ClaimAck(card, claimer uint64) string {
	return fmt.Sprintf("%s%d:%d", claimAckPrefix, card, claimer)
}

// RewardAck is the ack-log line of an acknowledged confirmation's reward.
func RewardAck(sharer uint64, useID string) string {
	return fmt.Sprintf("%s%d:%s", rewardAckPrefix, sharer, useID)
}

func checkPoolAck(report problemFunc, line string, h recordHomes) error {
	if rest, ok := strings.CutPrefix(line, claimAckPrefix); ok {
		var card, claimer uint64
		if _, err := fmt.Sscanf(rest, "%d:%d", &card, &claimer); err != nil {
			report("ack %q: %v", line, err)
			return nil
		}
		c := &messages.Card{}
		err := h.at(h.layout.OfCard(card)).GetProto(persistence.CardKey(card), c)
		switch {
		case err == persistence.ErrNotFound:
			report("acknowledged claim of card %d: no such card", card)
		case err != nil:
			return err
		case c.SharedBy == 0 || (c.OwnerId != claimer && c.GiftCount == 0):
			report("acknowledged claim of card %d by %d: the card is %d's, shared by %d", card, claimer, c.OwnerId, c.SharedBy)
		}
		return nil
	}
	rest, _ := strings.CutPrefix(line, rewardAckPrefix)
	sharerText, useID, ok := strings.Cut(rest, ":")
	sharer, err := strconv.ParseUint(sharerText, 10, 64)
	if !ok || err != nil {
		report("ack %q: malformed", line)
		return nil
	}
	rw := &messages.Reward{}
	err = h.at(h.layout.OfUser(sharer)).GetProto(persistence.RewardKey(sharer, useID), rw)
	switch {
	case err == persistence.ErrNotFound:
		report("acknowledged reward %s of %d does not exist", useID, sharer)
	case err != nil:
		return err
	case rw.State == messages.RewardState_REWARD_STATE_PENDING:
		report("acknowledged reward %s of %d is still pending", useID, sharer)
	}
	return nil
}

func shortState(s string) string {
	if i := strings.LastIndexByte(s, '_'); i >= 0 {
		return s[i+1:]
	}
	return s
}
