package kaquan

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kaquan/kaquan/actors"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// PartyKind says whether a party is a user or a merchant.
type PartyKind = messages.PartyKind

// The kinds of party.
const (
	PartyUser     = messages.PartyKind_PARTY_KIND_USER
	PartyMerchant = messages.PartyKind_PARTY_KIND_MERCHANT
)

// CreateParty registers a user or a merchant under a caller-chosen id (an idempotency key too:
// creating the same party again returns it).
type CreateParty struct {
	ID   uint64
	Kind PartyKind
	Name string // 1..128 bytes of UTF-8 without control characters (actors.CheckText)
}

// CreateParty creates a user or merchant.
func (e *Engine) CreateParty(ctx context.Context, req CreateParty) (*messages.Party, error) {
	if err := e.ownsParty(req.ID); err != nil {
		return forwarded[*messages.Party](e.toPartyNode(ctx, err, req.ID, &messages.NodeCall{
			Op: &messages.NodeCall_PartyCreate{PartyCreate: &messages.PartyCreateCall{Id: req.ID, Kind: req.Kind, Name: req.Name}}}))
	}
	switch {
	case req.ID == 0:
		return nil, fmt.Errorf("%w: party id 0", ErrInvalidArgument)
	case req.Kind != PartyUser && req.Kind != PartyMerchant:
		return nil, fmt.Errorf("%w: party kind %s", ErrInvalidArgument, req.Kind)
	case req.Name == "":
		return nil, fmt.Errorf("%w: party %d has no name", ErrInvalidArgument, req.ID)
	case len(req.Name) > actors.NameBytesMax:
		return nil, fmt.Errorf("%w: name longer than %d bytes", ErrInvalidArgument, actors.NameBytesMax)
	}
	if err := actors.CheckText("name", req.Name, ""); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	mu := e.partyLock(req.ID)
	mu.Lock()
	defer mu.Unlock()
	old, err := e.party(ctx, req.ID)
	if err == nil {
		if old.Kind != req.Kind || old.Name != req.Name {
			return nil, fmt.Errorf("%w: party %d", ErrExists, req.ID)
		}
		old.NotifySecret = nil // never handed out
		return old, nil
	}
	if !errors.Is(err, ErrUnknownEntity) {
		return nil, err
	}
	p := &messages.Party{Id: req.ID, Kind: req.Kind, Name: req.Name, CreatedAt: e.now()}
	v, err := proto.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := e.put(persistence.Entry{Key: persistence.PartyKey(p.Id), Value: v}); err != nil {
		return nil, err
	}
	e.kinds.put(p.Id, p.Kind)
	return p, nil
}

// partyLocks stripes the party locks: a lock per party would be unbounded, and one for all made
// every sign-up wait for the one before it to reach the disk (a 100,000-user bench setup took 43 s
// with it, 6.7 s striped).
const partyLocks = 256

// partyLock is the lock of party id's stripe: read-check-write of one party record runs under it.
func (e *Engine) partyLock(id uint64) *sync.Mutex { return &e.parties[id%partyLocks] }

// Party reads a user or merchant.
func (e *Engine) Party(ctx context.Context, id uint64) (*messages.Party, error) {
	if err := e.reachParty(id); err != nil {
		return nil, err
	}
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	p, err := e.party(ctx, id)
	if p != nil {
		p.NotifySecret = nil // never handed out
	}
	return p, err
}

// party reads party id, on the node of its slot.
func (e *Engine) party(ctx context.Context, id uint64) (*messages.Party, error) {
	v, err := e.readRecord(ctx, e.slotOfParty(id), persistence.PartyKey(id))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, fmt.Errorf("%w: party %d", ErrUnknownEntity, id)
	}
	if err != nil {
		return nil, err
	}
	p := &messages.Party{}
	if err := proto.Unmarshal(v, p); err != nil {
		return nil, fmt.Errorf("party %d: %w", id, err)
	}
	return p, nil
}

// partyOfKind reads a party and checks its kind.
func (e *Engine) partyOfKind(ctx context.Context, id uint64, kind messages.PartyKind) (*messages.Party, error) {
	p, err := e.party(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := kindIs(id, p.Kind, kind); err != nil {
		return nil, err
	}
	return p, nil
}

// SetNotifySecret sets the key a merchant's server signs its use notifications with (HMAC-SHA256).
type SetNotifySecret struct {
	Merchant uint64
	Secret   []byte // NotifySecretBytesMin..NotifySecretBytesMax bytes
}

// SetNotifySecret sets a merchant's notification key (see ConfirmUse).
func (e *Engine) SetNotifySecret(ctx context.Context, req SetNotifySecret) error {
	if err := e.ownsParty(req.Merchant); err != nil {
		_, err := e.toPartyNode(ctx, err, req.Merchant, &messages.NodeCall{
			Op: &messages.NodeCall_NotifySecret{NotifySecret: &messages.NotifySecretCall{Merchant: req.Merchant, Secret: req.Secret}}})
		return err
	}
	merchant, secret := req.Merchant, req.Secret
	if len(secret) < actors.NotifySecretBytesMin || len(secret) > actors.NotifySecretBytesMax {
		return fmt.Errorf("%w: secret of %d bytes, want %d..%d", ErrInvalidArgument, len(secret), actors.NotifySecretBytesMin, actors.NotifySecretBytesMax)
	}
	end, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	mu := e.partyLock(merchant)
	mu.Lock()
	defer mu.Unlock()
	p, err := e.partyOfKind(ctx, merchant, PartyMerchant)
	if err != nil {
		return err
	}
	p.NotifySecret = append([]byte(nil), secret...)
	v, err := proto.Marshal(p)
	if err != nil {
		return err
	}
	return e.put(persistence.Entry{Key: persistence.PartyKey(merchant), Value: v})
}
