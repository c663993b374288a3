package kaquan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/actors/pool"
	"github.com/kaquan/kaquan/messages"
)

// Share names a card its owner puts into (or, with Unshare, takes back from) their pool.
type Share struct {
	User uint64 // the card's owner, whose pool it is
	Card uint64
}

// Unshare names a card its owner takes back from their pool.
type Unshare = Share

// Share puts a card the user owns into their pool: it leaves their wallet and only their contacts
// see it. The card's template must allow sharing.
func (e *Engine) Share(ctx context.Context, req Share) (*messages.Card, error) {
	if err := e.singleNode("pools"); err != nil {
		return nil, err
	}
	return e.poolCall(ctx, req.User, pool.Share{User: req.User, Card: req.Card, Now: e.now()})
}

// Unshare takes an unclaimed card back from the user's pool into their wallet.
func (e *Engine) Unshare(ctx context.Context, req Unshare) (*messages.Card, error) {
	if err := e.singleNode("pools"); err != nil {
		return nil, err
	}
	return e.poolCall(ctx, req.User, pool.Unshare{User: req.User, Card: req.Card, Now: e.now()})
}

// ClaimShared asks for a card from a sharer's pool for a claimer, a contact of the sharer.
type ClaimShared struct {
	Claimer, Sharer uint64
	Card            uint64
}

// ClaimShared gives a card from the sharer's pool to the claimer: the first claim wins, later ones
// get ErrNotInPool. The card gets a new code and remembers its sharer.
func (e *Engine) ClaimShared(ctx context.Context, req ClaimShared) (*messages.Card, error) {
	if err := e.singleNode("pools"); err != nil {
		return nil, err
	}
	return e.poolCall(ctx, req.Sharer, pool.Claim{Claimer: req.Claimer, Card: req.Card, NewCode: cardCode(), Now: e.now()})
}

func (e *Engine) poolCall(ctx context.Context, owner uint64, msg any) (*messages.Card, error) {
	if owner == 0 {
		return nil, fmt.Errorf("%w: pool of user 0", ErrUnknownEntity)
	}
	return ask[*messages.Card](ctx, e, actors.PoolID(owner), msg)
}

// contactPoolsParallel bounds the pools one listing asks at once.
const contactPoolsParallel = 32

// PoolPage is one page of the cards a user's contacts share, newest first.
type PoolPage struct {
	Cards []*messages.PoolEntry
	Next  string // pass as cursor for the next page; "" when there is none
}

// ContactPools lists the cards shared by viewer's contacts, merged, newest first, limit per page
// (1..actors.PoolPageMax). A user who is nobody's contact sees nothing.
func (e *Engine) ContactPools(ctx context.Context, viewer uint64, cursor string, limit int) (*PoolPage, error) {
	if err := e.singleNode("pools"); err != nil {
		return nil, err
	}
	if limit < 1 || limit > actors.PoolPageMax {
		return nil, fmt.Errorf("%w: page size %d outside 1..%d", ErrInvalidArgument, limit, actors.PoolPageMax)
	}
	after, err := parsePoolCursor(cursor)
	if err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	// The pools answer from memory: a pool's key range churns (shared, claimed, deleted), and a
	// store scan would wade through its deletions.
	contacts, err := e.Contacts(ctx, viewer)
	if err != nil {
		return nil, err
	}
	var all []*messages.PoolEntry
	// The pools answer concurrently (each answer waits for a write barrier).
	pages := make([][]*messages.PoolEntry, len(contacts))
	errs := make([]error, len(contacts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, contactPoolsParallel)
	for i, owner := range contacts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			pages[i], errs[i] = ask[[]*messages.PoolEntry](ctx, e, actors.PoolID(owner), pool.List{Cursor: after, Limit: limit})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, p := range pages {
		all = append(all, p...)
	}
	sort.Slice(all, func(i, j int) bool { return pool.After(all[j], all[i]) })
	page := &PoolPage{Cards: all[:min(limit, len(all))]}
	if len(all) > limit {
		last := page.Cards[limit-1]
		page.Next = fmt.Sprintf("%d.%d.%d", last.SharedAt, last.Owner, last.CardId)
	}
	return page, nil
}

func parsePoolCursor(c string) (*messages.PoolEntry, error) {
	if c == "" {
		return nil, nil
	}
	parts := strings.Split(c, ".")
	bad := fmt.Errorf("%w: pool cursor %q", ErrInvalidArgument, c)
	if len(parts) != 3 || len(c) > 64 {
		return nil, bad
	}
	at, err1 := strconv.ParseInt(parts[0], 10, 64)
	owner, err2 := strconv.ParseUint(parts[1], 10, 64)
	id, err3 := strconv.ParseUint(parts[2], 10, 64)
	if errors.Join(err1, err2, err3) != nil || at < 0 {
		return nil, bad
	}
	return &messages.PoolEntry{SharedAt: at, Owner: owner, CardId: id}, nil
}
