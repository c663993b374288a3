package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgres is the workload as a typical service writes it: a table per entity, one transaction per
// operation, row locks (SELECT ... FOR UPDATE) and PostgreSQL's default durability (fsync at
// commit, synchronous_commit on).
type postgres struct {
	db       *pgxpool.Pool
	cfg      config
	template int64 // flash sale
	// cards[u] are user u's usable cards, claimed in setup as kaquan bench claims them; each user
	// belongs to one client, so each slot is touched by one goroutine.
	cards [][]pgCard
	txns  atomic.Int64 // transactions committed by the clients
}

// pgCard is a card and the merchant (index) whose template issued it.
type pgCard struct{ id, merchant int64 }

const pgSchema = `
DROP TABLE IF EXISTS claims, ledger, payments, payment_codes, cards, templates, accounts;
CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE templates (id bigint PRIMARY KEY, merchant bigint NOT NULL, reduce bigint NOT NULL, least_cost bigint NOT NULL,
  stock int NOT NULL, issued int NOT NULL DEFAULT 0);
CREATE TABLE cards (id bigserial PRIMARY KEY, template bigint NOT NULL REFERENCES templates, owner bigint NOT NULL,
  state text NOT NULL DEFAULT 'AVAILABLE', payment text);
CREATE TABLE payment_codes (code text PRIMARY KEY, account bigint NOT NULL, card bigint, expires_at timestamptz NOT NULL, used_by text);
CREATE TABLE payments (merchant bigint NOT NULL, key text NOT NULL, payer bigint NOT NULL, card bigint, amount bigint NOT NULL,
  discount bigint NOT NULL, state text NOT NULL, PRIMARY KEY (merchant, key));
CREATE TABLE ledger (id bigserial PRIMARY KEY, account bigint NOT NULL, amount bigint NOT NULL, balance_after bigint NOT NULL, transfer text NOT NULL);
CREATE TABLE claims (template bigint NOT NULL, owner bigint NOT NULL, PRIMARY KEY (template, owner));
`

func newPostgres(ctx context.Context, dsn string) (workload, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 128
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &postgres{db: db}, db.Ping(ctx)
}

func (p *postgres) close() { p.db.Close() }

// Merchants are accounts 1_000_000 + m; users are accounts 1..accounts; merchant m's template is m+1.
func (p *postgres) setup(ctx context.Context, cfg config) error {
	p.cfg = cfg
	if _, err := p.db.Exec(ctx, pgSchema); err != nil {
		return err
	}
	if _, err := p.db.Exec(ctx, `INSERT INTO accounts SELECT g, 1000000000000 FROM generate_series(1, $1) g`, cfg.accounts); err != nil {
		return err
	}
	if _, err := p.db.Exec(ctx, `INSERT INTO accounts SELECT 1000000 + g, 0 FROM generate_series(0, $1 - 1) g`, cfg.merchants); err != nil {
		return err
	}
	if _, err := p.db.Exec(ctx, `INSERT INTO templates (id, merchant, reduce, least_cost, stock) SELECT g + 1, 1000000 + g, 500, 2000, 2000000000 FROM generate_series(0, $1 - 1) g`, cfg.merchants); err != nil {
		return err
	}
	p.template = int64(cfg.merchants) + 1
	if _, err := p.db.Exec(ctx, `INSERT INTO templates (id, merchant, reduce, least_cost, stock) VALUES ($1, 1000000, 500, 2000, $2)`, p.template, cfg.flashStock); err != nil {
		return err
	}
	return p.claimForSetup(ctx)
}

// claimForSetup gives every user cfg.cardsPerUser cards before the clock starts, as kaquan bench
// does: each of a random merchant's template (merchant 0's in the hot-merchant scenario).
func (p *postgres) claimForSetup(ctx context.Context) error {
	p.cards = make([][]pgCard, p.cfg.accounts+1)
	if p.cfg.scenario == "flash-sale" || p.cfg.cardsPerUser == 0 {
		return nil
	}
	hot := p.cfg.scenario == "hot-merchant"
	rows, err := p.db.Query(ctx, `INSERT INTO cards (template, owner)
		SELECT CASE WHEN $3 THEN 1 ELSE 1 + floor(random() * $2)::bigint END, u
		FROM generate_series(1, $1) u, generate_series(1, $4) i
		RETURNING id, owner, template`, p.cfg.accounts, p.cfg.merchants, hot, p.cfg.cardsPerUser)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, owner, template int64
		if err := rows.Scan(&id, &owner, &template); err != nil {
			rows.Close()
			return err
		}
		p.cards[owner] = append(p.cards[owner], pgCard{id: id, merchant: template - 1})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = p.db.Exec(ctx, `UPDATE templates t SET issued = n FROM (SELECT template, count(*) n FROM cards GROUP BY template) c WHERE c.template = t.id`)
	return err
}

func (p *postgres) transactions() int64 { return p.txns.Load() }

func (p *postgres) op(ctx context.Context, c *client) error {
	if p.cfg.scenario == "flash-sale" {
		return p.flash(ctx, c)
	}
	// As kaquan bench: a random user of the client pays with their newest card at its merchant,
	// after claiming one from a random merchant when they have none left.
	u := c.users[c.rng.IntN(len(c.users))]
	if len(p.cards[u]) == 0 {
		m := int64(0)
		if p.cfg.scenario != "hot-merchant" {
			m = int64(c.rng.IntN(p.cfg.merchants))
		}
		card, err := p.claim(ctx, m+1, u)
		if err != nil {
			return err
		}
		p.cards[u] = append(p.cards[u], pgCard{id: card, merchant: m})
	}
	card := p.cards[u][len(p.cards[u])-1]
	if err := p.pay(ctx, c, u, card.id, card.merchant); err != nil {
		return err
	}
	p.cards[u] = p.cards[u][:len(p.cards[u])-1]
	return nil
}

// claim issues a card of template t to user u (one transaction).
func (p *postgres) claim(ctx context.Context, t, u int64) (int64, error) {
	var card int64
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE templates SET issued = issued + 1 WHERE id = $1 AND issued < stock`, t)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errSkip // sold out
		}
		return tx.QueryRow(ctx, `INSERT INTO cards (template, owner) VALUES ($1, $2) RETURNING id`, t, u).Scan(&card)
	})
	return card, p.counted(err)
}

// pay is what kaquan's payment operation is: the consumer's payment code (one transaction), then
// the merchant's card-validated payment (one transaction, rows locked in a fixed order).
func (p *postgres) pay(ctx context.Context, c *client, u, card, m int64) error {
	code := fmt.Sprintf("%018d", rand.Int64N(1e18))
	if _, err := p.db.Exec(ctx, `INSERT INTO payment_codes (code, account, card, expires_at) VALUES ($1, $2, $3, now() + interval '60 seconds')`, code, u, card); p.counted(err) != nil {
		return err
	}
	c.n++
	key := fmt.Sprintf("c%d-%d", c.id, c.n)
	amount := 2000 + c.rng.Int64N(8000)
	merchantAccount := 1_000_000 + m
	return c.timed(func() error {
		return p.counted(pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
			var payer, cardID int64
			err := tx.QueryRow(ctx, `UPDATE payment_codes SET used_by = $2 WHERE code = $1 AND used_by IS NULL AND expires_at > now() RETURNING account, card`, code, key).Scan(&payer, &cardID)
			if err != nil {
				return fmt.Errorf("code: %w", err)
			}
			var state string
			var owner, reduce, least int64
			err = tx.QueryRow(ctx, `SELECT c.state, c.owner, t.reduce, t.least_cost FROM cards c JOIN templates t ON t.id = c.template
				WHERE c.id = $1 FOR UPDATE OF c`, cardID).Scan(&state, &owner, &reduce, &least)
			if err != nil {
				return err
			}
			if state != "AVAILABLE" || owner != payer || amount < least {
				return errors.New("card not usable")
			}
			charged := amount - reduce
			// Lock both accounts in id order (users < merchants), as a careful service would.
			if _, err := tx.Exec(ctx, `SELECT id FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`, payer, merchantAccount); err != nil {
				return err
			}
			var after int64
			if err := tx.QueryRow(ctx, `UPDATE accounts SET balance = balance - $2 WHERE id = $1 RETURNING balance`, payer, charged).Scan(&after); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ledger (account, amount, balance_after, transfer) VALUES ($1, $2, $3, $4)`, payer, -charged, after, "pay:"+key); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `UPDATE accounts SET balance = balance + $2 WHERE id = $1 RETURNING balance`, merchantAccount, charged).Scan(&after); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ledger (account, amount, balance_after, transfer) VALUES ($1, $2, $3, $4)`, merchantAccount, charged, after, "pay:"+key); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE cards SET state = 'USED', payment = $2 WHERE id = $1`, cardID, key); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO payments VALUES ($1, $2, $3, $4, $5, $6, 'COMPLETED')`, m, key, payer, cardID, amount, reduce)
			return err
		}))
	})
}

// counted counts a transaction that committed (err nil) and passes err on.
func (p *postgres) counted(err error) error {
	if err == nil {
		p.txns.Add(1)
	}
	return err
}

// flash: every user claims once from the sale's template (stock and one-per-user enforced in the
// transaction); then the winners pay.
func (p *postgres) flash(ctx context.Context, c *client) error {
	if c.next < len(c.users) {
		u := c.users[c.next]
		c.next++
		var card int64
		err := c.timed(func() error {
			return p.counted(pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, `INSERT INTO claims VALUES ($1, $2) ON CONFLICT DO NOTHING`, p.template, u)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return errSkip
				}
				tag, err = tx.Exec(ctx, `UPDATE templates SET issued = issued + 1 WHERE id = $1 AND issued < stock`, p.template)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return errSkip
				}
				return tx.QueryRow(ctx, `INSERT INTO cards (template, owner) VALUES ($1, $2) RETURNING id`, p.template, u).Scan(&card)
			}))
		})
		if err == nil {
			c.winners = append(c.winners, u, card)
		}
		return err
	}
	if len(c.winners) == 0 {
		return errDone
	}
	u, card := c.winners[len(c.winners)-2], c.winners[len(c.winners)-1]
	c.winners = c.winners[:len(c.winners)-2]
	return p.pay(ctx, c, u, card, 0)
}
