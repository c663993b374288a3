package kaquan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/account"
	"github.com/kaquan/kaquan/actors/template"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// Population is a set of users to bulk-load: Users users with ids FirstUser..., each with one
// account (AccountBase + i) funded by Deposit and holding CardsPerUser cards of Template, a new
// template of an existing merchant. User i's cards are Template.Id<<32 | i*CardsPerUser+1 ... in
// order.
type Population struct {
	FirstUser, AccountBase uint64
	Users                  int
	Deposit                int64
	Template               *messages.Template
	CardsPerUser           int
}

// Bounds of one import: users, cards, and users written but not yet durable.
const (
	ImportUsersMax    = 10_000_000
	ImportCardsMax    = 100_000_000
	importInflightMax = 1024
)

// Card indexes within the template are uint32: every import's card count must fit.
const _ = uint32(ImportCardsMax)

// check bounds a population before anything is written. The products and sums that index users,
// accounts and cards are checked without computing them, since they could wrap: 4 users of 2^62
// cards multiply to 0, and user 2^64-1 plus one is party 0.
func (p Population) check() error {
	switch {
	case p.Users < 1 || p.Users > ImportUsersMax:
		return fmt.Errorf("%w: %d users outside 1..%d", ErrInvalidArgument, p.Users, ImportUsersMax)
	case p.CardsPerUser < 0 || p.CardsPerUser > ImportCardsMax/p.Users:
		return fmt.Errorf("%w: %d users of %d cards: more than %d cards", ErrInvalidArgument, p.Users, p.CardsPerUser, ImportCardsMax)
	case p.FirstUser == 0 || p.AccountBase == 0 || p.Template == nil:
		return fmt.Errorf("%w: a population needs user and account ids and a template", ErrInvalidArgument)
	case p.FirstUser > math.MaxUint64-uint64(p.Users)+1 || p.AccountBase > math.MaxUint64-uint64(p.Users)+1:
		return fmt.Errorf("%w: %d users from user %d and account %d pass id 2^64-1", ErrInvalidArgument, p.Users, p.FirstUser, p.AccountBase)
	case p.Deposit < 0 || p.Deposit > actors.AmountMax:
		return fmt.Errorf("%w: deposit %d", ErrInvalidArgument, p.Deposit)
	}
	return nil
}

// ImportPopulation writes a population straight through the group-commit writer, in large
// batches, without the actors: a million users with ten million cards load in minutes rather than
// hours. It is for loading and benchmarks: none of the population may exist or be in use yet (the
// template must be new), and an import cut off by a crash leaves a partial population that the
// audit reports. progress, if not nil, is called with the number of users written so far.
func (e *Engine) ImportPopulation(ctx context.Context, p Population, progress func(users int)) error {
	if err := e.singleNode("bulk import"); err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := e.checkKind(ctx, p.Template.MerchantId, PartyMerchant); err != nil {
		return err
	}
	now := e.now()
	t := proto.Clone(p.Template).(*messages.Template)
	t.StockTotal = max(t.StockTotal, uint32(p.Users*p.CardsPerUser))
	// The template's own rules, as its actor runs them: Decide and Apply each step on one state.
	ts := template.NewState(nil)
	created, err := template.Decide(ts, template.Create{Template: t, Now: now}, now)
	if err != nil {
		return err
	}
	template.Apply(ts, created)
	t = ts.Template
	if ok, err := e.store.Has(persistence.TemplateKey(t.Id)); err != nil || ok {
		return errors.Join(err, fmt.Errorf("%w: template %d", ErrExists, t.Id))
	}
	bulk := persistence.NewBulk(e.writer, importInflightMax) // a bounded number of users in flight
	for i := range p.Users {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := e.importUser(p, ts, i, now)
		if err != nil {
			return err
		}
		if err := bulk.Put(entries); err != nil {
			return err
		}
		if progress != nil && (i+1)%10_000 == 0 {
			progress(i + 1)
		}
	}
	tv, err := proto.Marshal(t)
	if err != nil {
		return err
	}
	if err := bulk.Put([]persistence.Entry{{Key: persistence.TemplateKey(t.Id), Value: tv}}); err != nil { // after every card; refused once one failed
		return err
	}
	if err := bulk.Finish(); err != nil {
		return err
	}
	if progress != nil {
		progress(p.Users)
	}
	return nil
}

// importUser builds the records of user i: party, account, deposit, cards.
func (e *Engine) importUser(p Population, ts *template.State, i int, now int64) ([]persistence.Entry, error) {
	t := ts.Template
	user, acc := p.FirstUser+uint64(i), p.AccountBase+uint64(i)
	var es []persistence.Entry
	add := func(key []byte, m proto.Message) error {
		v, err := proto.Marshal(m)
		es = append(es, persistence.Entry{Key: key, Value: v})
		return err
	}
	if err := add(persistence.PartyKey(user), &messages.Party{Id: user, Kind: PartyUser, Name: "imported", CreatedAt: now}); err != nil {
		return nil, err
	}
	s := &account.State{ID: acc}
	opened, err := account.Decide(s, account.Create{Owner: user, Kind: PartyUser, Now: now}, now)
	if err != nil {
		return nil, err
	}
	account.Apply(s, opened)
	if err := add(persistence.AccountKey(acc), s.Account); err != nil {
		return nil, err
	}
	if p.Deposit > 0 {
		posted, err := account.Decide(s, account.Post{Transfer: "import", Kind: messages.EntryKind_ENTRY_KIND_DEPOSIT, Amount: p.Deposit}, now)
		if err != nil {
			return nil, err
		}
		entry := posted.Entry
		if err := add(persistence.LedgerKey(acc, entry.Seq), entry); err != nil {
			return nil, err
		}
		es = append(es, persistence.Entry{Key: persistence.TransferKey(acc, entry.Transfer), Value: persistence.Uint64(entry.Seq)})
	}
	for range p.CardsPerUser {
		claimed, err := template.Decide(ts, template.Claim{User: user, Code: actors.NewCardCode(), Now: now}, now)
		if err != nil {
			return nil, err
		}
		template.Apply(ts, claimed)
		c := claimed.Card
		if err := add(persistence.CardKey(c.Id), c); err != nil {
			return nil, err
		}
		es = append(es, persistence.Entry{Key: persistence.CardCodeKey(c.Code), Value: persistence.Uint64(c.Id)},
			persistence.Entry{Key: persistence.WalletKey(user, c.Id)})
	}
	if p.CardsPerUser > 0 {
		es = append(es, persistence.Entry{Key: persistence.ClaimCountKey(t.Id, user), Value: binary.BigEndian.AppendUint32(nil, uint32(p.CardsPerUser))})
	}
	delete(ts.Claimed, user) // the count is written: a million users' counts need not stay in memory
	return es, nil
}
