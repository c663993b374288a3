package bench

import (
	"context"
	"errors"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/messages"
)

// A large population (--dataset-size users, each with --cards-per-user cards), bulk-loaded into an
// embedded engine before the run; the payments then run over it, and the run reports the process's
// peak resident memory and the data folder's size, to show that only active entities are in memory.
const (
	datasetUserBase    = 5_000_000_000
	datasetAccountBase = 6_000_000_000
	datasetTemplate    = 9_000_000 // merchant 0's
)

// importDataset loads the population unless this data folder has it already (fresh reports which).
func importDataset(ctx context.Context, e API, cfg Config) (fresh bool, err error) {
	l, ok := e.(Local)
	if !ok {
		return false, errors.New("--dataset-size needs an embedded engine, not a server")
	}
	loading := newBar(cfg.Bar, int64(cfg.DatasetSize), "importing users")
	defer loading.finish()
	last := int64(0)
	err = l.ImportPopulation(ctx, kaquan.Population{FirstUser: datasetUserBase, AccountBase: datasetAccountBase, Users: cfg.DatasetSize,
		Deposit: depositPerUser, CardsPerUser: cfg.CardsPerUser, Template: &messages.Template{Id: datasetTemplate, MerchantId: merchantBase,
			Title: "bench: dataset", Kind: messages.TemplateKind_TEMPLATE_KIND_CASH, ReduceAmount: 500, LeastCost: 2000,
			StockTotal: 1<<32 - 1, PerUserLimit: uint32(max(1, cfg.CardsPerUser)), ValidDays: 365}},
		func(n int) { loading.Add(int(int64(n) - last)); last = int64(n) })
	if errors.Is(err, kaquan.ErrExists) {
		return false, nil // loaded by an earlier run
	}
	return err == nil, err
}

// datasetUsers gives the clients the imported users. Fresh from the import, their cards are all
// unused and computed, not held; from an earlier run, each user's wallet is read on first use.
func datasetUsers(clients []*client, cfg Config, fresh bool) {
	unused := cfg.CardsPerUser
	if !fresh {
		unused = -1
	}
	for i := range cfg.DatasetSize {
		c := clients[i%len(clients)]
		c.users = append(c.users, benchUser{id: uint64(datasetUserBase + i), account: uint64(datasetAccountBase + i), imported: i, unused: unused})
	}
}

// nextImported moves u's next unused imported card into its hand, if it has one left.
func (c *client) nextImported(ctx context.Context, u *benchUser) error {
	if u.unused < 0 { // the population is an earlier run's: see which cards are left
		cards, err := c.e.WalletCards(ctx, u.id)
		if err != nil {
			return err
		}
		u.unused = 0
		for _, card := range cards {
			if card.TemplateId == datasetTemplate && card.State == messages.CardState_CARD_STATE_AVAILABLE {
				u.cards = append(u.cards, card.Id)
			}
		}
		return nil
	}
	perUser := c.cfg.CardsPerUser
	if u.unused > 0 && len(u.cards) == 0 {
		u.cards = append(u.cards, uint64(datasetTemplate)<<32|uint64(u.imported*perUser+perUser-u.unused+1))
		u.unused--
	}
	return nil
}
